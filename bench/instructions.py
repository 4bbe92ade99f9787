"""Instructions per request, bare Flask route vs flask-huggy, counted by valgrind.

Timings on a shared or virtual machine move by 10 to 30% between runs;
instruction counts do not. This runs each app of ``bench/apps.py`` in-process
(``app.wsgi_app``, no server, no sockets) under ``valgrind --tool=cachegrind``
twice, once posting the delivery ``--requests`` times after a warm-up and once
with the warm-up alone, and prints the difference divided by ``--requests``:
the instructions one request costs, everything included (Flask, Werkzeug, the
view, the JSON, flask-huggy). Use it to compare two versions of the code; read
``webhook_throughput.py`` for what a server actually sustains.

Needs valgrind (Debian: ``apt-get install valgrind``). Run from the repository root::

    .venv/bin/python bench/instructions.py [--requests N] [--no-extras] [--payload FILE]

Each app and payload takes about half a minute: valgrind runs Python some 50
times slower than usual.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from webhook_throughput import DEFAULT_PAYLOADS, REPO_ROOT, Payload, load_payload

BENCH_DIR = Path(__file__).resolve().parent
#: Requests before counting starts in both runs: imports, first-request setup, learned shapes.
WARMUP = 50
#: Seconds one valgrind run may take before it is abandoned.
RUN_TIMEOUT = 900
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def child(app_name: str, payload: Path, requests: int, package_root: Path) -> None:
    """Post ``payload`` to ``app_name`` in-process, ``WARMUP`` + ``requests`` times."""
    body = payload.read_bytes()
    sys.path[:0] = [str(package_root), str(BENCH_DIR)]
    import apps  # only in the child, after the token is in the environment

    app = getattr(apps, app_name)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": apps.WEBHOOK_PATH,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        # As gunicorn (webhook_throughput.py's server) says of its input: Werkzeug
        # then reads it as it is, without wrapping it in a LimitedStream.
        "wsgi.input_terminated": True,
    }
    statuses: list[str] = []

    def start_response(status: str, headers: object, exc_info: object = None) -> None:
        statuses.append(status)

    for _ in range(WARMUP + requests):
        answer = app.wsgi_app({**environ, "wsgi.input": io.BytesIO(body)}, start_response)
        b"".join(answer)
        if not statuses[-1].startswith("200"):
            sys.exit(f"{app_name} answered {statuses[-1]}")


def count(app_name: str, payload: Payload, requests: int, decoder: str, no_extras: bool, package_root: Path) -> int:
    """Total instructions of one child run under cachegrind."""
    env = dict(
        os.environ,
        PYTHONHASHSEED="0",
        BENCH_HUGGY_TOKENS=payload.token or "",
        BENCH_HUGGY_JSON_DECODER=decoder,
        BENCH_HUGGY_NO_EXTRAS="1" if no_extras else "",
    )
    with tempfile.NamedTemporaryFile(prefix="flask-huggy-bench-", suffix=".json") as body:
        body.write(payload.body)
        body.flush()
        command = [
            "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
            sys.executable, __file__, "--child", app_name, body.name, str(requests), str(package_root),
        ]  # fmt: skip
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    found = _REFS.search(run.stderr)
    if run.returncode != 0 or found is None:
        sys.exit(f"valgrind run failed ({run.returncode}):\n{run.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def per_request(args: argparse.Namespace, app_name: str, payload: Payload) -> int:
    def run(requests: int) -> int:
        return count(app_name, payload, requests, args.json_decoder, args.no_extras, args.package)

    return (run(args.requests) - run(0)) // args.requests


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Instructions per request, bare vs huggy, under valgrind.")
    parser.add_argument("--requests", type=int, default=1000, help="counted requests per run (default: %(default)s)")
    parser.add_argument(
        "--json-decoder",
        choices=("auto", "stdlib", "jiter"),
        default="auto",
        help="HUGGY_JSON_DECODER of the huggy app (default: %(default)s)",
    )
    parser.add_argument(
        "--no-extras",
        action="store_true",
        help="hide jiter from the apps, as in the default install ('auto' then reads with json)",
    )
    parser.add_argument(
        "--package",
        type=Path,
        default=REPO_ROOT,
        metavar="DIR",
        help="import flask_huggy from DIR/flask_huggy, e.g. an older checkout (default: this checkout)",
    )
    parser.add_argument(
        "--payload",
        action="append",
        help="a path, a file name in tests/payloads/, or an event name (its shipped sample); repeatable "
        f"(default: {', '.join(DEFAULT_PAYLOADS)})",
    )
    args = parser.parse_args(argv)
    args.package = args.package.resolve()
    if not (args.package / "flask_huggy" / "__init__.py").is_file():
        parser.error(f"--package {args.package}: no flask_huggy/__init__.py there")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))
        return 0
    args = parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    payloads = [load_payload(spec) for spec in (args.payload or DEFAULT_PAYLOADS)]
    print(
        f"flask_huggy from {args.package}; instructions per request through app.wsgi_app, "
        f"{args.requests} requests after {WARMUP} warm-up; "
        f"huggy's HUGGY_JSON_DECODER={args.json_decoder!r}{' (jiter hidden: no extras)' if args.no_extras else ''}"
    )
    print(f"  {'payload':<52}  {'bare':>10}  {'huggy':>10}  {'huggy/bare':>10}")
    for payload in payloads:
        bare = per_request(args, "bare", payload)
        huggy = per_request(args, "huggy", payload)
        print(f"  {payload.name:<52}  {bare:>10,}  {huggy:>10,}  {huggy / bare:>10.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
