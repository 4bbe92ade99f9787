"""Micro-benchmark of what flask-huggy costs per event, in-process, no HTTP.

For each sample delivery it times, per event (median of ``--repeat`` timeit runs
of ``--number`` calls each):

``marshmallow load``
    ``EVENT_SCHEMAS[name].load(raw)`` inside ``local_timezone``: the schema alone;
``walker load``
    ``load_event(name, raw, tz)``: :mod:`flask_huggy.schemas.walker` walking the
    schema's fields, which hands anything unusual back to marshmallow;
``event + dispatch (marshmallow)`` / ``event + dispatch (walker)``
    the per-delivery path after the envelope: fresh :class:`~flask_huggy.Event`
    objects, a :class:`~flask_huggy.Delivery` and :func:`~flask_huggy.dispatch.dispatch`
    to an app with one receiver per event of the sample that reads one validated
    field, once with ``load_event`` swapped for the plain marshmallow load;
``body -> dispatch (walker)``
    the same, starting from the request bytes: ``decode_json`` and
    ``parse_delivery`` (envelope validation) included.

It prints figures and asserts nothing. Run from the repository root::

    .venv/bin/python bench/per_event.py
    .venv/bin/python bench/per_event.py --number 500 --repeat 9 --payload closedChat

``--payload`` takes what ``webhook_throughput.py`` takes: a path, a file name in
``tests/payloads/``, or an event name (its shipped sample alone in a delivery).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import timeit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# This checkout's flask_huggy, unless PYTHONPATH names another: a script's sys.path starts with
# bench/, not the working directory, and an editable install elsewhere would win.
sys.path.append(str(Path(__file__).resolve().parent.parent))

from flask import Flask
from webhook_throughput import DEFAULT_PAYLOADS, load_payload

from flask_huggy import events as events_module
from flask_huggy import signals
from flask_huggy.dispatch import dispatch
from flask_huggy.envelope import decode_json, parse_delivery
from flask_huggy.events import Delivery, Event
from flask_huggy.schemas import EVENT_SCHEMAS, load_event
from flask_huggy.schemas.fields import local_timezone

TZ = ZoneInfo("America/Sao_Paulo")


def marshmallow_load(name: str, raw: dict[str, Any], tz: Any) -> dict[str, Any]:
    with local_timezone(tz):
        data: dict[str, Any] = EVENT_SCHEMAS[name].load(raw)
    return data


@contextmanager
def events_loaded_with(loader: Callable[[str, dict[str, Any], Any], dict[str, Any]]) -> Iterator[None]:
    """Make :class:`Event` validate with ``loader`` for a while."""
    saved = events_module.load_event
    events_module.load_event = loader  # type: ignore[assignment]
    try:
        yield
    finally:
        events_module.load_event = saved  # type: ignore[assignment]


def median_us(func: Callable[[], Any], number: int, repeat: int, per: int = 1) -> tuple[float, float]:
    """Median and best over ``repeat`` runs of one call's time, divided by ``per``, in microseconds."""
    runs = [run / number / per * 1e6 for run in timeit.repeat(func, number=number, repeat=repeat)]
    return statistics.median(runs), min(runs)


def one_receiver_app(names: list[str]) -> Flask:
    app = Flask("bench_per_event")
    app.config["HUGGY_TIMEZONE"] = "America/Sao_Paulo"

    def read_one_field(sender: Any, event: Event, **extra: Any) -> None:
        event.data.get("id")

    for name in set(names):
        signals.EVENT_SIGNALS[name].connect(read_one_field, sender=app, weak=False)
    return app


def bench_payload(spec: str, number: int, repeat: int) -> list[tuple[str, tuple[float, float]]]:
    body = load_payload(spec).body
    payload = json.loads(body)
    pairs = [(name, raw) for name, items in payload["messages"].items() for raw in items]
    count = len(pairs)
    app = one_receiver_app([name for name, _ in pairs])

    def load_all(loader: Callable[[str, dict[str, Any], Any], dict[str, Any]]) -> Callable[[], None]:
        def run() -> None:
            for name, raw in pairs:
                loader(name, raw, TZ)

        return run

    def event_and_dispatch() -> None:
        delivery = Delivery(time=None, token=None, events=tuple(Event(n, r, TZ) for n, r in pairs), raw=payload)
        dispatch(app, delivery)

    def body_to_dispatch() -> None:
        dispatch(app, parse_delivery(decode_json(body), TZ))

    rows = [
        ("marshmallow load", median_us(load_all(marshmallow_load), number, repeat, count)),
        ("walker load", median_us(load_all(load_event), number, repeat, count)),
    ]
    with events_loaded_with(marshmallow_load):
        rows.append(("event + dispatch (marshmallow)", median_us(event_and_dispatch, number, repeat, count)))
    rows.append(("event + dispatch (walker)", median_us(event_and_dispatch, number, repeat, count)))
    rows.append(("body -> dispatch (walker)", median_us(body_to_dispatch, number, repeat, count)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--payload",
        action="append",
        help="a path, a file name in tests/payloads/, or an event name; repeatable "
        f"(default: {', '.join(DEFAULT_PAYLOADS)})",
    )
    parser.add_argument("--number", type=int, default=2000, help="calls per timeit run (default 2000)")
    parser.add_argument("--repeat", type=int, default=7, help="timeit runs; the median is shown (default 7)")
    args = parser.parse_args(argv)

    print(
        f"Python {platform.python_version()} on {platform.machine()}, {platform.system()}; "
        f"{args.repeat} timeit runs of {args.number} calls, microseconds per event"
    )
    for spec in args.payload or DEFAULT_PAYLOADS:
        rows = bench_payload(spec, args.number, args.repeat)
        base = rows[0][1][0]
        print(f"\n{spec}")
        print(f"  {'path':<34}{'median us':>10}{'best us':>9}{'median vs marshmallow load':>28}")
        for label, (median, best) in rows:
            print(f"  {label:<34}{median:>10.1f}{best:>9.1f}{median / base:>27.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
