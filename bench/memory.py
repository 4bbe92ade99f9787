"""Whether a worker's memory grows with deliveries: RSS over 100,000 webhook calls.

One app with the blueprint and one receiver on every event of the sample (it
reads one validated field and the typed object, so validation and the lazy
object both run). Deliveries go through the whole WSGI stack in-process
(``app.wsgi_app`` with an environ built once per call by Werkzeug's
``EnvironBuilder``), no sockets. The process's RSS (``VmRSS`` from
``/proc/self/status``) is printed after a warm-up and every ``--every``
deliveries, with the growth since the warm-up. Nothing is asserted.

Run from the repository root (Linux)::

    .venv/bin/python bench/memory.py                        # 100,000 deliveries, ~2 min
    .venv/bin/python bench/memory.py --deliveries 20000 --every 2000 --payload closedChat

``--payload`` takes what ``webhook_throughput.py`` takes: a path, a file name in
``tests/payloads/``, or an event name (its shipped sample alone in a delivery).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

# This checkout's flask_huggy, unless PYTHONPATH names another: a script's sys.path starts with
# bench/, not the working directory, and an editable install elsewhere would win.
sys.path.append(str(Path(__file__).resolve().parent.parent))

from flask import Flask
from webhook_throughput import DEFAULT_PAYLOADS, load_payload
from werkzeug.test import EnvironBuilder

import flask_huggy
from flask_huggy import Event, signals


def rss_kib() -> int:
    """This process's resident set size, in KiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status (not Linux?)")


def make_app(body: bytes) -> Flask:
    payload = json.loads(body)
    app = Flask("bench_memory")
    app.config.update(HUGGY_WEBHOOK_TOKEN=payload.get("token") or "bench-token")
    app.register_blueprint(flask_huggy.blueprint)
    seen = {"events": 0}

    def read_one_field(sender: Any, event: Event, **extra: Any) -> None:
        event.data.get("id")
        event.obj  # noqa: B018 - build the typed object too
        seen["events"] += 1

    for name in payload["messages"]:
        signals.EVENT_SIGNALS[name].connect(read_one_field, sender=app, weak=False)
    app.extensions["bench_memory_seen"] = seen
    return app


def deliver(app: Flask, body: bytes) -> None:
    environ = EnvironBuilder(
        path="/huggy/webhook", method="POST", data=body, content_type="application/json"
    ).get_environ()
    statuses: list[str] = []
    chunks = app.wsgi_app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    if not statuses or not statuses[0].startswith("200"):
        raise RuntimeError(f"the webhook answered {statuses}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--payload",
        default=DEFAULT_PAYLOADS[0],
        help="a path, a file name in tests/payloads/, or an event name (default: %(default)s)",
    )
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=10_000, help="print RSS every N deliveries")
    parser.add_argument("--warmup", type=int, default=2_000, help="untimed deliveries before the baseline")
    args = parser.parse_args(argv)

    body = load_payload(args.payload).body
    app = make_app(body)
    for _ in range(args.warmup):
        deliver(app, body)
    gc.collect()
    baseline = rss_kib()
    print(f"{args.payload}: {args.deliveries:,} deliveries after {args.warmup:,} warm-up; RSS in KiB")
    print(f"{'deliveries':>10}  {'RSS':>8}  {'growth':>8}  {'us/delivery':>11}")
    print(f"{0:>10,}  {baseline:>8,}  {0:>+8,}  {'':>11}")
    started = time.perf_counter()
    last = started
    for done in range(1, args.deliveries + 1):
        deliver(app, body)
        if done % args.every == 0:
            now = time.perf_counter()
            rss = rss_kib()
            per = (now - last) / args.every * 1e6
            print(f"{done:>10,}  {rss:>8,}  {rss - baseline:>+8,}  {per:>11.0f}", flush=True)
            last = now
    gc.collect()
    final = rss_kib()
    seen = app.extensions["bench_memory_seen"]["events"]
    print(
        f"after gc.collect(): RSS {final:,} KiB, growth {final - baseline:+,} KiB "
        f"over {args.deliveries:,} deliveries ({seen:,} events received, "
        f"{time.perf_counter() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
