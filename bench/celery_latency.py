"""What Huggy waits for, and what gets done: synchronous receivers vs Celery workers.

Receivers that call a CRM take hundreds of milliseconds. This measures, in one
run, a webhook whose receiver sleeps 200 ms (``--receiver-ms``):

``sync``
    ``register_blueprint(flask_huggy.blueprint)`` under gunicorn (gthread,
    ``--web-workers`` x ``--web-threads``): the receiver runs in the request.
``celery cN``
    ``register_blueprint(flask_huggy.blueprint, celery=celery)`` under the same gunicorn, with a real Celery
    worker (prefork, concurrency N, for each N of ``--concurrency``) and a real
    redis-server as the broker: the request only enqueues.

Each mode gets two loads of ``--duration`` seconds each, posting a closedChat
delivery:

paced
    ``--rate`` deliveries per second (default 15, below every mode's capacity), each
    on a new connection, as Huggy sends them; latency counts from the moment a
    delivery was due, so a slow answer also delays those behind it;
back to back
    ``--clients`` threads (default 8), each posting on its keep-alive connection as
    soon as its previous delivery was answered: the most each mode sustains.

The figures: the webhook's latency as Huggy sees it (p50, p99, max), deliveries
acknowledged (answered 200) per second, and deliveries *handled* per second
(receivers that finished during the window, counted in Redis). In celery modes the
queue left at the end (``backlog``) is dropped, not drained. ``other%`` is the share
of the machine's CPU used by processes other than the benchmark's: a phase with 10 or
more was disturbed.

This is a measurement, not a test: nothing asserts on timings. It only talks to
127.0.0.1, and every process it starts is stopped on the way out.

Run from the repository root (gunicorn and celery in the venv: ``pip install -e '.[bench,celery]'``)::

    .venv/bin/python bench/celery_latency.py                       # about 1 min 30 s
    .venv/bin/python bench/celery_latency.py --duration 5 --clients 8 --concurrency 4

This same module is the app that gunicorn and the Celery worker load
(``celery_latency:create_web()``, ``celery -A celery_latency``); their settings come
from ``BENCH_*`` environment variables.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
HOST = "127.0.0.1"
WEBHOOK_PATH = "/huggy/webhook"
TOKEN = "bench-token-0123456789abcdef"

#: Redis keys: the count of handled deliveries, and the worker's "ready" flag.
HANDLED_KEY = "bench:handled"
READY_KEY = "bench:worker-ready"

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0
MAX_DURATION = 60.0
MAX_CLIENTS = 64
MAX_CONCURRENCY = 32
#: Threads that share the paced stream: enough for the requests a slow mode keeps open.
PACED_CLIENTS = 8


# --------------------------------------------------------------------------- the app


def create_web() -> Any:
    """The user's app, as gunicorn and the worker load it: one receiver that sleeps, then counts."""
    import redis
    from celery import Celery  # type: ignore[import-untyped]
    from flask import Flask

    import flask_huggy
    from flask_huggy import signals

    redis_url = os.environ["BENCH_REDIS_URL"]
    pause = float(os.environ.get("BENCH_RECEIVER_SECONDS", "0.2"))
    app = Flask("bench_celery_latency")
    app.config.update(HUGGY_WEBHOOK_TOKEN=TOKEN)
    if os.environ.get("BENCH_DISPATCH", "sync") == "celery":
        celery = Celery("bench_celery_latency", broker=redis_url)
        # Long tasks: take one at a time per process, so that no task waits behind another.
        celery.conf.update(worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True)
        app.register_blueprint(flask_huggy.blueprint, celery=celery)
        app.extensions["celery"] = celery
    else:
        app.register_blueprint(flask_huggy.blueprint)
    counter = redis.Redis.from_url(redis_url)

    @signals.closed_chat.connect_via(app)
    def call_the_crm(sender: Any, event: Any, delivery: Any, **extra: Any) -> None:
        time.sleep(pause)
        counter.incr(HANDLED_KEY)

    app.extensions["bench_receiver"] = call_the_crm  # keep it alive: blinker holds it weakly
    return app


def _worker_ready(**extra: Any) -> None:
    import redis

    redis.Redis.from_url(os.environ["BENCH_REDIS_URL"]).set(READY_KEY, os.getpid())


if os.environ.get("BENCH_CELERY_WORKER"):  # loaded by `celery -A celery_latency worker`
    from celery.signals import worker_ready  # type: ignore[import-untyped]

    worker_ready.connect(_worker_ready, weak=False)
    celery = create_web().extensions["celery"]


# --------------------------------------------------------------------------- processes

#: Process groups this script started (each child leads its own): their CPU is "ours".
STARTED_GROUPS: set[int] = set()


def _ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return 100


def our_cpu_seconds() -> float:
    """CPU used by this script and every process it started (alive ones), via /proc."""
    total = 0
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # fields[0] is "state", fields[2] "pgrp"
        if int(fields[2]) in STARTED_GROUPS or int(entry.parent.name) == os.getpid():
            total += int(fields[11]) + int(fields[12])
    return total / _ticks()


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy (or stolen by the hypervisor), via /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / _ticks()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def process(command: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` in its own process group; stop the whole group on exit (TERM, then KILL)."""
    with log.open("ab") as output:
        proc = subprocess.Popen(
            command,
            cwd=BENCH_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    STARTED_GROUPS.add(proc.pid)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_until(check: Any, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    log = workdir / "redis.log"
    with process(command, log, dict(os.environ)) as proc:
        import redis

        client = redis.Redis(host=HOST, port=port)

        def answers() -> bool:
            with contextlib.suppress(redis.RedisError):
                return bool(client.ping())
            return False

        wait_until(answers, "redis-server", proc, log)
        yield f"redis://{HOST}:{port}/0"


def app_env(redis_url: str, dispatch: str, receiver_seconds: float) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(BENCH_REDIS_URL=redis_url, BENCH_DISPATCH=dispatch, BENCH_RECEIVER_SECONDS=str(receiver_seconds))
    return env


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int, threads: int, log: Path) -> Iterator[int]:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", str(workers), "--threads", str(threads),
        "--keep-alive", "30", "-b", f"{HOST}:{port}", "--graceful-timeout", "5", "--log-level", "warning",
        "celery_latency:create_web()",
    ]  # fmt: skip
    with process(command, log, env) as proc:

        def answers() -> bool:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            try:
                conn.request("GET", WEBHOOK_PATH)
                conn.getresponse().read()
                return True
            except (OSError, http.client.HTTPException):
                return False
            finally:
                conn.close()

        wait_until(answers, "gunicorn", proc, log)
        yield port


@contextlib.contextmanager
def celery_worker(env: dict[str, str], concurrency: int, log: Path) -> Iterator[None]:
    import redis

    client = redis.Redis.from_url(env["BENCH_REDIS_URL"])
    client.delete(READY_KEY)
    command = [
        sys.executable, "-m", "celery", "-A", "celery_latency", "worker", "--pool=prefork",
        f"--concurrency={concurrency}", "--loglevel=WARNING", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "--hostname", f"bench-{os.getpid()}-{concurrency}@%h",
    ]  # fmt: skip
    with process(command, log, {**env, "BENCH_CELERY_WORKER": "1"}) as proc:
        wait_until(lambda: client.get(READY_KEY) is not None, "the Celery worker", proc, log)
        yield


# --------------------------------------------------------------------------- load


@dataclass
class Phase:
    mode: str
    #: Client threads posting; with ``rate``, they keep to that many deliveries per second together.
    clients: int
    rate: float | None = None
    latencies: list[float] = field(default_factory=list)
    non_200: int = 0
    errors: int = 0
    elapsed: float = 0.0
    handled: int = 0
    backlog: int | None = None
    first_problem: str | None = None
    #: Share (%) of the machine's CPU that other processes used meanwhile: high means disturbed.
    other_pct: float = float("nan")

    @property
    def load(self) -> str:
        return f"{self.rate:g}/s paced" if self.rate else f"{self.clients} back to back"

    @property
    def acked_per_second(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    @property
    def handled_per_second(self) -> float:
        return self.handled / self.elapsed if self.elapsed else 0.0

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def delivery_body() -> bytes:
    from flask_huggy.testing import build_delivery

    return json.dumps(build_delivery("closedChat", token=TOKEN)).encode()


def run_phase(phase: Phase, port: int, duration: float, redis_url: str) -> None:
    import redis

    counter = redis.Redis.from_url(redis_url)
    body = delivery_body()
    start = threading.Event()
    lock = threading.Lock()
    stop_at = [0.0]
    began = [0.0]

    def client(number: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
        latencies: list[float] = []
        non_200 = errors = 0
        problem = None
        start.wait()
        sent_count = 0
        while time.monotonic() < stop_at[0] and errors < 50:
            if phase.rate:
                # Paced: this client's share of a steady stream, as Huggy sends it. Latency
                # counts from the planned moment, so a late answer also delays what follows.
                planned = began[0] + (sent_count * phase.clients + number) / phase.rate
                sent_count += 1
                if planned >= stop_at[0]:
                    break
                time.sleep(max(0.0, planned - time.monotonic()))
            else:
                planned = time.monotonic()
            try:
                if phase.rate:  # as Huggy does: a new connection for each delivery
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
                conn.request("POST", WEBHOOK_PATH, body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as exc:
                errors += 1
                problem = problem or f"{type(exc).__name__}: {exc}"
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
                continue
            latencies.append(time.monotonic() - planned)
            if response.status != 200:
                non_200 += 1
                problem = problem or f"HTTP {response.status} {answer[:200]!r}"
        conn.close()
        with lock:
            phase.latencies.extend(latencies)
            phase.non_200 += non_200
            phase.errors += errors
            phase.first_problem = phase.first_problem or problem

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(phase.clients)]
    for thread in threads:
        thread.start()
    before = int(counter.get(HANDLED_KEY) or 0)
    busy_before, ours_before = machine_busy_seconds(), our_cpu_seconds()
    began[0] = time.monotonic()
    stop_at[0] = began[0] + duration
    start.set()
    for thread in threads:
        thread.join(duration + REQUEST_TIMEOUT + 5)
    phase.elapsed = time.monotonic() - began[0]
    phase.handled = int(counter.get(HANDLED_KEY) or 0) - before
    others = (machine_busy_seconds() - busy_before) - (our_cpu_seconds() - ours_before)
    phase.other_pct = max(0.0, 100 * others / (phase.elapsed * (os.cpu_count() or 1)))


def settle(redis_url: str, celery_mode: bool) -> int | None:
    """Between phases: drop the queue (celery) and wait until no receiver is still running."""
    import redis

    client = redis.Redis.from_url(redis_url)
    backlog = None
    if celery_mode:
        backlog = int(client.llen("celery"))
        client.delete("celery")
    last, quiet_since = client.get(HANDLED_KEY), time.monotonic()
    while time.monotonic() - quiet_since < 0.6:
        time.sleep(0.1)
        now = client.get(HANDLED_KEY)
        if now != last:
            last, quiet_since = now, time.monotonic()
    return backlog


# --------------------------------------------------------------------------- report


def report(phases: list[Phase], args: argparse.Namespace) -> None:
    print()
    print(
        f"receiver: sleeps {args.receiver_ms} ms; gunicorn gthread {args.web_workers} workers x "
        f"{args.web_threads} threads; {args.duration:g} s per phase"
    )
    header = (
        f"{'mode':<12}{'load':>18}{'acked/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'handled/s':>11}{'non-200':>9}{'errors':>8}{'backlog':>9}{'other%':>8}"
    )
    print(header)
    print("-" * len(header))
    for p in phases:
        backlog = "-" if p.backlog is None else str(p.backlog)
        print(
            f"{p.mode:<12}{p.load:>18}{p.acked_per_second:>10.1f}{p.quantile(0.5):>9.1f}{p.quantile(0.99):>9.1f}"
            f"{p.quantile(1.0):>9.1f}{p.handled_per_second:>11.1f}{p.non_200:>9}{p.errors:>8}{backlog:>9}"
            f"{p.other_pct:>8.0f}"
        )
    if any(p.other_pct >= 10 for p in phases):
        print("other% of 10 or more: other processes used the CPUs meanwhile; rerun on an idle machine.")
    for p in phases:
        if p.first_problem:
            print(f"problem in {p.mode}, {p.load}: {p.first_problem}")
    print()
    slots = args.web_workers * args.web_threads
    seconds = args.receiver_ms / 1000
    capacities = [f"sync {slots / seconds:.0f}/s"] + [f"celery c{c} {c / seconds:.0f}/s" for c in args.concurrency]
    print(f"Handling capacity expected (slots / receiver time): {', '.join(capacities)}")
    for load in dict.fromkeys(p.load for p in phases):
        sync = next((p for p in phases if p.mode == "sync" and p.load == load), None)
        for p in phases:
            if sync is None or p.mode == "sync" or p.load != load or not p.latencies or not sync.latencies:
                continue
            print(
                f"{load}, {p.mode} vs sync: p50 latency / {sync.quantile(0.5) / p.quantile(0.5):.0f}, "
                f"p99 latency / {sync.quantile(0.99) / p.quantile(0.99):.0f}, "
                f"acked/s x {p.acked_per_second / sync.acked_per_second:.1f}, "
                f"handled/s x {p.handled_per_second / max(sync.handled_per_second, 1e-9):.2f}"
            )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per phase (default 8)")
    parser.add_argument(
        "--rate",
        type=float,
        default=15.0,
        help="deliveries/s of the paced phase, below every mode's capacity (default 15; 0: none)",
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=8,
        help="clients posting back to back in the saturating phase (default 8; 0: none)",
    )
    parser.add_argument(
        "--concurrency", type=_ints, default=[4, 16], help="comma-separated Celery worker concurrencies (default 4,16)"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--web-threads", type=int, default=2, help="threads per gunicorn worker (default 2)")
    parser.add_argument("--receiver-ms", type=int, default=200, help="how long the receiver takes (default 200)")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--duration must be in (0, {MAX_DURATION:g}]")
    if not 0 <= args.clients <= MAX_CLIENTS or not 0 <= args.rate <= 1000 or not (args.clients or args.rate):
        parser.error(f"--clients must be in 0..{MAX_CLIENTS}, --rate in 0..1000, not both 0")
    if not all(0 < c <= MAX_CONCURRENCY for c in args.concurrency):
        parser.error(f"--concurrency must be in 1..{MAX_CONCURRENCY}")
    if not (0 < args.web_workers <= 16 and 0 < args.web_threads <= 32 and 0 <= args.receiver_ms <= 5000):
        parser.error("--web-workers 1..16, --web-threads 1..32, --receiver-ms 0..5000")
    return args


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    seconds = args.receiver_ms / 1000
    phases: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="huggy-bench-") as tmp:
        workdir = Path(tmp)
        with redis_server(workdir) as redis_url:
            modes: list[tuple[str, int | None]] = [("sync", None)] + [(f"celery c{c}", c) for c in args.concurrency]
            for mode, concurrency in modes:
                env = app_env(redis_url, "sync" if concurrency is None else "celery", seconds)
                with contextlib.ExitStack() as stack:
                    port = stack.enter_context(
                        gunicorn(env, args.web_workers, args.web_threads, workdir / f"gunicorn-{mode}.log")
                    )
                    if concurrency is not None:
                        stack.enter_context(celery_worker(env, concurrency, workdir / f"celery-{mode}.log"))
                    loads = ([(PACED_CLIENTS, args.rate)] if args.rate else []) + (
                        [(args.clients, None)] if args.clients else []
                    )
                    for clients, rate in loads:
                        phase = Phase(mode, clients, rate)
                        print(f"{mode}, {phase.load}: {args.duration:g} s ...", flush=True)
                        run_phase(phase, port, args.duration, redis_url)
                        phase.backlog = settle(redis_url, concurrency is not None)
                        phases.append(phase)
    report(phases, args)
    return 1 if any(p.non_200 or p.errors for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
