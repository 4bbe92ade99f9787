"""How much throughput does flask-huggy cost over a bare JSON endpoint?

Two Flask apps from ``bench/apps.py`` run under the same gunicorn setup (2 sync
workers, as in the performance issue, or ``--worker-class gthread`` with
keep-alive): ``bare`` only parses the JSON body, ``huggy`` is the blueprint with
one cheap receiver. Client processes post a sample delivery from Huggy's docs
for a fixed time (a connection per request with sync workers, one keep-alive
connection per client with gthread); rounds alternate
which app goes first (bare, huggy | huggy, bare | bare, huggy ...) so that drift
on the machine (thermal, noisy neighbours, a VM's CPU steal) hits both apps
alike and favours neither, and the figures to read are the medians of the
per-round huggy/bare ratios: of req/s, and of the server's CPU time per
request, which other load on the machine disturbs much less.

This is a measurement, not a test: nothing here asserts on timings. It only
ever talks to 127.0.0.1, and every server and client it starts is bounded in
time and stopped on the way out, even on errors, Ctrl-C or SIGTERM.

Run from the repository root::

    .venv/bin/python bench/webhook_throughput.py [--duration S] [--rounds N] ...
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import json
import math
import multiprocessing
import os
import platform
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from types import TracebackType
from typing import Any, final

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PAYLOAD_DIR = REPO_ROOT / "tests" / "payloads"
#: Full deliveries from Huggy's docs (the shipped samples in flask_huggy/samples/ are single events).
DEFAULT_PAYLOADS = ("receivedAllMessage-2.json", "startedAutomationFlow+finishedAutomationFlow.json")
#: The token and time of a delivery built around a shipped sample (``--payload closedChat``).
SAMPLE_TOKEN = "bench-token-0123456789abcdef"
SAMPLE_TIME = 1700000000

#: The only host this script connects to.
HOST = "127.0.0.1"
#: Benchmarked apps, in the order each round runs them.
APPS = ("bare", "huggy")
# Mirrors of bench/apps.py's constants. Not imported: that module needs
# flask_huggy on sys.path, which only the gunicorn processes are given.
WEBHOOK_PATH = "/huggy/webhook"
TOKENS_ENV = "BENCH_HUGGY_TOKENS"
DECODER_ENV = "BENCH_HUGGY_JSON_DECODER"
NO_EXTRAS_ENV = "BENCH_HUGGY_NO_EXTRAS"
WORKER_HEADER = "X-Bench-Worker"

#: gunicorn worker classes: ``sync`` (the issue's setup: a connection per
#: request) or ``gthread`` (threads, keep-alive connections).
WORKER_CLASSES = ("sync", "gthread")
#: The gthread setup: keep-alive needs a threaded worker class.
GUNICORN_THREADS = 4
GUNICORN_KEEPALIVE = 30

REQUEST_HEADERS = {"Content-Type": "application/json"}
#: Seconds: a server must answer within this after start.
SERVER_START_TIMEOUT = 30.0
#: Seconds: a server gets this long to stop on SIGTERM before it is killed.
SERVER_STOP_TIMEOUT = 10.0
#: Seconds: one request (the socket timeout of every client connection).
REQUEST_TIMEOUT = 10.0
#: Seconds: clients get this long to connect before a round starts, and to
#: report after its duration, before the round is abandoned.
CLIENT_GRACE = 30.0
#: Reconnections a client may make to land on the gunicorn worker it was given.
MAX_PIN_ATTEMPTS = 40
#: A client stops early after this many failed requests (e.g. a dead server).
MAX_CLIENT_ERRORS = 50

#: A round is "quiet" when other processes used less than this share (%) of
#: the machine's CPU during it; see RoundResult.other_pct.
QUIET_OTHER_PCT = 10.0

# Upper bounds of the CLI values: the run must stay short and local.
MAX_DURATION = 120.0
MAX_ROUNDS = 100
MAX_CLIENTS = 16
MAX_WORKERS = 16


# --------------------------------------------------------------------------- payloads


@dataclass(frozen=True)
class Payload:
    """One delivery sample, sent verbatim (bytes exactly as in the file)."""

    name: str
    body: bytes
    token: str | None
    events: int


def load_payload(spec: str, package_root: Path = REPO_ROOT) -> Payload:
    """Read a payload: a path, a file name in tests/payloads/ (``.json`` optional), or an event name.

    An event name (``closedChat``) is the event's shipped sample
    (``flask_huggy/samples/<name>.json`` of ``package_root``) alone in a delivery,
    with :data:`SAMPLE_TOKEN`. Files are sent byte for byte, with their own token.
    """
    candidates = [Path(spec), PAYLOAD_DIR / spec, PAYLOAD_DIR / f"{spec}.json"]
    path = next((p for p in candidates if p.is_file()), None)
    sample = package_root / "flask_huggy" / "samples" / f"{spec}.json"
    if path is None and sample.is_file():
        event = json.loads(sample.read_bytes())
        delivery = {"time": SAMPLE_TIME, "messages": {spec: [event]}, "token": SAMPLE_TOKEN}
        return Payload(f"{spec} (shipped sample)", json.dumps(delivery).encode(), SAMPLE_TOKEN, 1)
    if path is None:
        raise ValueError(f"no payload {spec!r} (looked for a path, in {PAYLOAD_DIR}, then for a shipped sample)")
    body = path.read_bytes()
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise TypeError(f"{path} is not a JSON object")
    messages = data.get("messages")
    events = sum(len(v) for v in messages.values() if isinstance(v, list)) if isinstance(messages, dict) else 0
    token = data.get("token")
    return Payload(path.name, body, token if isinstance(token, str) and token else None, events)


# --------------------------------------------------------------------------- server


def free_port() -> int:
    """A port nothing listens on now, from the kernel (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def child_pids(parent: int) -> list[int]:
    """The pids whose parent is ``parent`` (gunicorn's workers), via /proc; [] elsewhere."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:
            continue  # the process ended meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1] == str(parent):
            pids.append(int(entry.parent.name))
    return sorted(pids)


def _clock_ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 100


def process_cpu_seconds(pids: Sequence[int]) -> float | None:
    """User + system CPU seconds the processes ``pids`` have used, via /proc (None elsewhere)."""
    ticks = 0
    try:
        for pid in pids:
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rfind(")") + 2 :].split()  # fields[0] is field 3, "state"
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return None
    return ticks / _clock_ticks()


def machine_busy_seconds() -> float | None:
    """CPU seconds all CPUs spent busy or stolen by the hypervisor, via /proc/stat (None elsewhere)."""
    try:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(values) < 8:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / _clock_ticks()


@final
class Server:
    """One gunicorn process serving ``bench/apps.py:<app>`` on a free local port.

    A context manager: entering starts it and waits until it answers, leaving
    always stops it (SIGTERM, then SIGKILL after :data:`SERVER_STOP_TIMEOUT`).
    """

    def __init__(
        self,
        app: str,
        *,
        worker_class: str,
        workers: int,
        tokens: Sequence[str],
        json_decoder: str,
        no_extras: bool,
        package_root: Path,
        log_dir: Path,
    ) -> None:
        self.app = app
        self.worker_class = worker_class
        self.workers = workers
        self.tokens = tuple(tokens)
        self.json_decoder = json_decoder
        self.no_extras = no_extras
        self.package_root = package_root
        self.log_path = log_dir / f"gunicorn-{app}.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The gunicorn command line: the same for every app but the app itself."""
        threads = ["--threads", str(GUNICORN_THREADS), "--keep-alive", str(GUNICORN_KEEPALIVE)]
        return [
            sys.executable, "-m", "gunicorn",
            "-k", self.worker_class,
            *(threads if self.worker_class == "gthread" else []),
            "-w", str(self.workers),
            "-b", f"{HOST}:{self.port}",
            "--chdir", str(BENCH_DIR),
            "--graceful-timeout", "5",
            "--log-level", "warning",
            f"apps:{self.app}",
        ]  # fmt: skip

    def __enter__(self) -> Server:
        self.port = free_port()
        env = dict(os.environ)
        # flask_huggy is imported from this checkout (or --package), installed or not.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.package_root), env.get("PYTHONPATH")]))
        env[TOKENS_ENV] = ",".join(self.tokens)
        env[DECODER_ENV] = self.json_decoder
        env[NO_EXTRAS_ENV] = "1" if self.no_extras else ""
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                self.command(), cwd=BENCH_DIR, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self._proc is not None, "server not started"
        return self._proc.pid

    def worker_pids(self) -> list[int]:
        """The live gunicorn workers' pids ([] where /proc cannot tell)."""
        return child_pids(self.pid)

    def _wait_ready(self) -> None:
        # The port accepts as soon as gunicorn's arbiter binds it, before any
        # worker has imported the app: only an HTTP answer (any status; a GET
        # gets 405 from both apps) shows that the app loaded. Then wait for all
        # workers to be forked, where /proc lets us count them.
        assert self._proc is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"gunicorn ({self.app}) exited with {self._proc.returncode}:\n{self.log_tail()}")
            if self._answers() and (not Path("/proc").is_dir() or len(self.worker_pids()) >= self.workers):
                return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn ({self.app}) did not answer on port {self.port}:\n{self.log_tail()}")

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=2.0)
        try:
            conn.request("GET", WEBHOOK_PATH)
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()
        return True

    def stop(self) -> None:
        """Stop gunicorn (idempotent): SIGTERM, then SIGKILL if it lingers.

        gunicorn stops its workers itself; any it left behind (it was killed,
        or was halting already) are found by their command line, which holds
        this server's unique port, and killed.
        """
        proc = self._proc
        if proc is None:
            return
        workers = self.worker_pids() if proc.poll() is None else []
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=SERVER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in workers:
            with contextlib.suppress(OSError):
                if f"{HOST}:{self.port}".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)

    def log_tail(self, lines: int = 20) -> str:
        """The end of gunicorn's log (its errors, and tracebacks of 5xx answers)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


# --------------------------------------------------------------------------- clients


@dataclass(frozen=True)
class ClientJob:
    """What one client process does: where to post what, for how long."""

    port: int
    body: bytes
    duration: float
    #: The gunicorn worker this client's connection should land on (None: any).
    worker: int | None


@dataclass
class ClientResult:
    """What one client process measured."""

    #: Requests answered (any status) within the timed window.
    requests: int = 0
    non_200: int = 0
    #: Requests that got no answer (connection reset, timeout, bad response).
    errors: int = 0
    #: Seconds from the start signal to the last answer.
    elapsed: float = 0.0
    #: CPU seconds this client used meanwhile.
    cpu: float = 0.0
    #: Seconds per answered request.
    latencies: array[float] = field(default_factory=lambda: array("d"))
    #: Worker pids that answered during the timed window.
    workers: set[int] = field(default_factory=set)
    #: Whether the connection landed on the worker it was given.
    pinned: bool = True
    #: The first answer and the last one of the timed window (status, body), for sanity checks.
    first_answer: tuple[int, bytes] | None = None
    last_answer: tuple[int, bytes] | None = None
    #: The first non-200 or error, for the report.
    first_failure: str | None = None


def _post(conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes, int | None]:
    """One request on a keep-alive connection: status, body, answering worker."""
    conn.request("POST", WEBHOOK_PATH, body, REQUEST_HEADERS)
    response = conn.getresponse()
    data = response.read()
    worker = response.getheader(WORKER_HEADER)
    return response.status, data, int(worker) if worker and worker.isdigit() else None


def _connect(port: int) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    conn.connect()
    # http.client writes headers and body in two send() calls: without
    # TCP_NODELAY, Nagle and delayed ACKs would add ~40 ms to large bodies.
    assert conn.sock is not None
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _pinned_connection(job: ClientJob, result: ClientResult) -> http.client.HTTPConnection:
    """A keep-alive connection answered by ``job.worker`` if possible.

    Which gunicorn worker accepts a connection is up to the kernel; with 2
    clients and 2 workers, half the time both land on one worker and the round
    measures one CPU instead of two. Reconnecting until each client holds its own
    worker makes rounds comparable. These requests double as warm-up. (Sync
    workers close every connection after one answer: nothing to pin there, and
    ``job.worker`` is ``None``.)
    """
    for _ in range(MAX_PIN_ATTEMPTS):
        conn = _connect(job.port)
        status, data, worker = _post(conn, job.body)
        if result.first_answer is None:
            result.first_answer = (status, data[:500])
        if job.worker is None or worker == job.worker:
            return conn
        conn.close()
    result.pinned = False
    return conn


def client_main(
    job: ClientJob, ready: multiprocessing.Queue[bool], start: EventType, results: multiprocessing.Queue[ClientResult]
) -> None:
    """One load-generating process: connect, wait for the start signal, post until the time is up.

    It always puts exactly one :class:`ClientResult` on ``results`` (and one
    flag on ``ready``) so that the parent never waits on a failed client.
    """
    # Ctrl-C reaches the whole process group: the parent handles it and stops
    # its clients, which would otherwise each print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    result = ClientResult()
    conn: http.client.HTTPConnection | None = None
    announced = False
    try:
        try:
            conn = _pinned_connection(job, result)
        except (OSError, http.client.HTTPException) as exc:
            result.first_failure = f"connecting: {exc!r}"
            result.errors += 1
        ready.put(conn is not None)
        announced = True
        if conn is None or not start.wait(CLIENT_GRACE):
            return
        latencies = result.latencies
        answer: tuple[int, bytes] | None = None
        clock = time.perf_counter
        cpu_started = time.process_time()
        started = clock()
        deadline = started + job.duration
        while clock() < deadline and result.errors < MAX_CLIENT_ERRORS:
            t0 = clock()
            try:
                if conn is None:  # after a failure: reconnecting is not part of a request
                    conn = _connect(job.port)
                    t0 = clock()
                elif conn.sock is None:  # closed by the server after its answer (sync workers): it is
                    conn = _connect(job.port)
                status, data, worker = _post(conn, job.body)
            except (OSError, http.client.HTTPException) as exc:
                result.errors += 1
                result.first_failure = result.first_failure or f"request failed: {exc!r}"
                if conn is not None:
                    conn.close()
                conn = None
                continue
            latencies.append(clock() - t0)
            result.requests += 1
            answer = (status, data)
            if worker is not None:
                result.workers.add(worker)
            if status != 200:
                result.non_200 += 1
                result.first_failure = result.first_failure or f"HTTP {status}: {data[:300]!r}"
        result.elapsed = clock() - started
        result.cpu = time.process_time() - cpu_started
        if answer is not None:
            result.last_answer = (answer[0], answer[1][:500])
    except Exception as exc:  # noqa: BLE001 - whatever it is, report it rather than hang the parent
        result.errors += 1
        result.first_failure = result.first_failure or f"client crashed: {exc!r}"
        if not announced:
            ready.put(False)
    finally:
        if conn is not None:
            conn.close()
        results.put(result)


# --------------------------------------------------------------------------- rounds


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (nan if none)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class CpuUsage:
    """CPU seconds used during a timed round (nan where /proc is missing).

    With clients and server on the same few CPUs, req/s also moves with
    whatever else runs; the server's CPU time per request moves much less, and
    the machine-wide figure shows how much else ran.
    """

    wall: float
    server: float
    machine: float


class _CpuMeter:
    """Differences of :func:`process_cpu_seconds` and :func:`machine_busy_seconds` over a round."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)
        self._start = self._read()

    def _read(self) -> tuple[float, float, float]:
        server = process_cpu_seconds(self.pids) if self.pids else None
        machine = machine_busy_seconds()
        return (
            time.monotonic(),
            math.nan if server is None else server,
            math.nan if machine is None else machine,
        )

    def stop(self) -> CpuUsage:
        end = self._read()
        wall, server, machine = (b - a for a, b in zip(self._start, end))
        return CpuUsage(wall=wall, server=server, machine=machine)


@dataclass(frozen=True)
class RoundResult:
    """One app's figures over one timed round, all clients together."""

    app: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_200: int
    errors: int
    workers_hit: int
    pinned: bool
    #: Server (all workers) CPU microseconds per answered request; nan without /proc.
    server_cpu_us: float
    #: Share of the machine's CPU time used by other processes than this round's
    #: server and clients (other apps, the hypervisor); nan without /proc.
    other_pct: float
    first_answer: tuple[int, bytes] | None
    last_answer: tuple[int, bytes] | None
    first_failure: str | None

    @classmethod
    def merge(cls, app: str, results: Sequence[ClientResult], usage: CpuUsage) -> RoundResult:
        # Each client's rate over its own window, summed: clients start together
        # but do not stop at the very same instant.
        latencies = sorted(x for r in results for x in r.latencies)
        requests = sum(r.requests for r in results)
        capacity = usage.wall * (os.cpu_count() or 1)
        other = usage.machine - usage.server - sum(r.cpu for r in results)
        return cls(
            app=app,
            rps=sum(r.requests / r.elapsed for r in results if r.elapsed > 0),
            p50_ms=percentile(latencies, 50) * 1000,
            p99_ms=percentile(latencies, 99) * 1000,
            requests=requests,
            non_200=sum(r.non_200 for r in results),
            errors=sum(r.errors for r in results),
            workers_hit=len(set().union(*(r.workers for r in results))),
            pinned=all(r.pinned for r in results),
            server_cpu_us=usage.server / requests * 1e6 if requests else math.nan,
            other_pct=max(0.0, other) / capacity * 100 if capacity > 0 else math.nan,
            first_answer=next((r.first_answer for r in results if r.first_answer), None),
            last_answer=next((r.last_answer for r in results if r.last_answer), None),
            first_failure=next((r.first_failure for r in results if r.first_failure), None),
        )


def _get(source: multiprocessing.Queue[Any], procs: Sequence[BaseProcess], timeout: float) -> Any:
    """The next item of ``source``, failing fast if a client died without reporting.

    A client that ran :func:`client_main` to its end exits with 0 after putting
    its items; any other exit code means it crashed before (e.g. could not start).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return source.get(timeout=min(0.2, max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            crashed = [p for p in procs if p.exitcode not in (None, 0)]
            if crashed:
                raise RuntimeError(f"client {crashed[0].name} died with exit code {crashed[0].exitcode}") from None
            if time.monotonic() >= deadline:
                raise


def _pin(workers: Sequence[int], client: int, worker_class: str) -> int | None:
    """The worker client number ``client`` should hold a keep-alive connection to, if any."""
    return workers[client % len(workers)] if workers and worker_class == "gthread" else None


def run_round(server: Server, payload: Payload, *, duration: float, clients: int) -> RoundResult:
    """Post ``payload`` to ``server`` from ``clients`` processes for ``duration`` seconds.

    Clients are separate processes (spawned, so no state leaks from this one)
    because a single Python process could not load even one gunicorn worker.
    They connect and warm up first, then start together on one event.
    """
    ctx = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue[bool] = ctx.Queue()
    results: multiprocessing.Queue[ClientResult] = ctx.Queue()
    start = ctx.Event()
    workers = server.worker_pids()
    procs = [
        ctx.Process(
            target=client_main,
            args=(
                ClientJob(server.port, payload.body, duration, _pin(workers, i, server.worker_class)),
                ready,
                start,
                results,
            ),
            name=f"bench-client-{i}",
            daemon=True,
        )
        for i in range(clients)
    ]
    collected: list[ClientResult] = []
    try:
        for proc in procs:
            proc.start()
        for _ in procs:
            _get(ready, procs, CLIENT_GRACE)
        meter = _CpuMeter(workers)
        start.set()
        # Drain the queue before joining: a child blocks on exit until its
        # queued result has been read.
        for _ in procs:
            collected.append(_get(results, procs, duration + CLIENT_GRACE))
        usage = meter.stop()
    except queue.Empty:
        raise RuntimeError(f"clients of {server.app} did not report in time") from None
    finally:
        start.set()
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
    return RoundResult.merge(server.app, collected, usage)


# --------------------------------------------------------------------------- report


def _row(round_no: str, r: RoundResult) -> str:
    flags = "" if r.pinned else "  (workers not balanced)"
    return (
        f"  {round_no:>5}  {r.app:<5}  {r.rps:9.1f}  {r.p50_ms:7.2f}  {r.p99_ms:7.2f}"
        f"  {r.requests:8d}  {r.non_200:7d}  {r.errors:6d}  {r.workers_hit:7d}"
        f"  {r.server_cpu_us:10.0f}  {r.other_pct:6.1f}{flags}"
    )


def _check_huggy_answer(payload: Payload, answer: tuple[int, bytes] | None) -> str | None:
    """A problem with huggy's answer body (events counted, none invalid or skipped as duplicate), if any."""
    if answer is None:
        return "no answer"
    status, body = answer
    try:
        data: Any = json.loads(body)
    except ValueError:
        return f"HTTP {status}, body is not JSON: {body[:200]!r}"
    expected = {"status": "accepted", "events": payload.events, "invalid": 0}
    if isinstance(data, dict) and "duplicates" in data:
        expected["duplicates"] = 0  # every post repeats the delivery: none may be skipped
    if status != 200 or not isinstance(data, dict) or any(data.get(k) != v for k, v in expected.items()):
        return f"HTTP {status} {data!r}, expected 200 {expected!r}"
    return None


def bench_payload(servers: dict[str, Server], payload: Payload, args: argparse.Namespace) -> list[str]:
    """Warm up, run the interleaved rounds for one payload, print them; return the problems seen."""
    problems: list[str] = []
    print(f"\n== {payload.name}  ({payload.events} event(s), {len(payload.body)} bytes)")

    for app, server in servers.items():
        warm = run_round(server, payload, duration=args.warmup, clients=args.clients)
        if app == "huggy":
            issue = _check_huggy_answer(payload, warm.first_answer)
            answer = warm.first_answer[1].decode(errors="replace").strip() if warm.first_answer else "-"
            print(f"  huggy answers: {answer}" + ("   <-- BUG, see problems below" if issue else ""))
            if issue:
                problems.append(f"{payload.name}: huggy's answer: {issue}")
        if warm.non_200 or warm.errors:
            problems.append(f"{payload.name}: {app} warm-up: {warm.non_200} non-200, {warm.errors} errors")

    print(
        f"  {'round':>5}  {'app':<5}  {'req/s':>9}  {'p50 ms':>7}  {'p99 ms':>7}"
        f"  {'requests':>8}  {'non-200':>7}  {'errors':>6}  {'workers':>7}  {'srv cpu us':>10}  {'other%':>6}"
    )
    by_app: dict[str, list[RoundResult]] = {app: [] for app in servers}
    for round_no in range(1, args.rounds + 1):
        # Even rounds run huggy first: a machine slowing down (or speeding up)
        # over the run then costs each app the same on the whole.
        order = list(servers.items()) if round_no % 2 else list(reversed(servers.items()))
        for app, server in order:
            result = run_round(server, payload, duration=args.duration, clients=args.clients)
            by_app[app].append(result)
            print(_row(str(round_no), result), flush=True)
            issue = _check_huggy_answer(payload, result.last_answer) if app == "huggy" else None
            if issue:
                problems.append(f"{payload.name}: round {round_no}: BUG: huggy's last answer: {issue}")
            if result.non_200 or result.errors:
                what = "BUG: huggy answered non-200" if app == "huggy" and result.non_200 else f"{app} failures"
                problems.append(
                    f"{payload.name}: round {round_no}: {what}: {result.non_200} non-200, "
                    f"{result.errors} errors; first: {result.first_failure}\n    gunicorn log tail:\n"
                    + "\n".join("      " + line for line in server.log_tail(10).splitlines())
                )

    print(f"  {'':<28}  {'min':>9}  {'median':>9}  {'max':>9}")
    for app, results in by_app.items():
        _print_spread(f"req/s {app}", [r.rps for r in results], ".1f")
    for app, results in by_app.items():
        _print_spread(f"server CPU us/request {app}", [r.server_cpu_us for r in results], ".0f")
    pairs = list(zip(by_app["bare"], by_app["huggy"]))
    _print_ratio_lines("", pairs)
    # On a shared machine, a round pair where something else ran says more
    # about that something than about flask-huggy: show the quiet pairs apart.
    if all(math.isnan(r.other_pct) for pair in pairs for r in pair):
        return problems
    quiet = [(b, h) for b, h in pairs if b.other_pct < QUIET_OTHER_PCT and h.other_pct < QUIET_OTHER_PCT]
    if quiet and len(quiet) < len(pairs):
        _print_ratio_lines(f", rounds with other% < {QUIET_OTHER_PCT:g}", quiet)
    elif not quiet:
        print(f"  (no round pair had other% < {QUIET_OTHER_PCT:g} on both apps: the machine was busy)")
    return problems


def _print_ratio_lines(qualifier: str, pairs: Sequence[tuple[RoundResult, RoundResult]]) -> None:
    """The huggy/bare ratios of req/s and of server CPU per request, per (bare, huggy) round pair."""
    _print_ratios(f"req/s huggy/bare{qualifier}", [h.rps / b.rps if b.rps else math.nan for b, h in pairs])
    _print_ratios(f"server CPU/request huggy/bare{qualifier}", [h.server_cpu_us / b.server_cpu_us for b, h in pairs])


def _print_spread(label: str, values: Sequence[float], fmt: str) -> None:
    print(f"  {label:<28}  {min(values):9{fmt}}  {statistics.median(values):9{fmt}}  {max(values):9{fmt}}")


def _print_ratios(label: str, ratios: Sequence[float]) -> None:
    per_round = "  ".join(f"{r:.3f}" for r in ratios)
    print(f"  {label}, per round: {per_round}   median {statistics.median(ratios):.3f}")


# --------------------------------------------------------------------------- CLI


def _bounded(kind: type[int | float], low: float, high: float) -> Any:
    """An argparse ``type`` accepting ``kind`` values in [low, high]."""

    def parse(text: str) -> int | float:
        value = kind(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}")
        return value

    parse.__name__ = kind.__name__  # argparse's "invalid int value" messages
    return parse


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Throughput of flask-huggy's webhook vs a bare Flask JSON endpoint, both under "
        f"gunicorn (sync workers, or gthread with keep-alive) on {HOST}.",
        epilog="Read the median huggy/bare ratio; see bench/README.rst.",
    )
    parser.add_argument(
        "--duration",
        type=_bounded(float, 0.5, MAX_DURATION),
        default=3.0,
        help="seconds per timed round (default: %(default)s)",
    )
    parser.add_argument(
        "--rounds",
        type=_bounded(int, 1, MAX_ROUNDS),
        default=8,
        help="rounds per app and payload, interleaved, alternating which app goes first (default: %(default)s)",
    )
    parser.add_argument(
        "--worker-class",
        choices=WORKER_CLASSES,
        default="sync",
        help="gunicorn worker class: 'sync' (the issue's setup; a connection per request) or 'gthread' "
        f"({GUNICORN_THREADS} threads, keep-alive) (default: %(default)s)",
    )
    parser.add_argument(
        "--json-decoder",
        choices=("auto", "stdlib", "jiter"),
        default="auto",
        help="HUGGY_JSON_DECODER of the huggy app: 'auto' is jiter when installed (the 'fast' extra) "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--no-extras",
        action="store_true",
        help="run huggy as the default install does (no extras): jiter cannot be imported in its "
        "processes, so 'auto' reads bodies with the standard library's json",
    )
    parser.add_argument(
        "--package",
        type=Path,
        default=REPO_ROOT,
        metavar="DIR",
        help="import flask_huggy from DIR/flask_huggy, e.g. a checkout of an older commit for a before/after "
        "comparison with this same script (default: this checkout, %(default)s)",
    )
    parser.add_argument(
        "--clients",
        type=_bounded(int, 1, MAX_CLIENTS),
        default=2,
        help="client processes, one keep-alive connection each (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=_bounded(int, 1, MAX_WORKERS),
        default=2,
        help="gunicorn worker processes per app (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=_bounded(float, 0.0, MAX_DURATION),
        default=1.0,
        help="untimed seconds per app and payload before the rounds (default: %(default)s)",
    )
    parser.add_argument(
        "--payload",
        action="append",
        metavar="FILE",
        help="a delivery to post: a path, a file name in tests/payloads/, or an event name (its shipped "
        "sample in a delivery); repeatable "
        f"(default: {', '.join(DEFAULT_PAYLOADS)})",
    )
    args = parser.parse_args(argv)
    args.package = args.package.resolve()
    if not (args.package / "flask_huggy" / "__init__.py").is_file():
        parser.error(f"--package {args.package}: no flask_huggy/__init__.py there")
    if args.no_extras and args.json_decoder == "jiter":
        parser.error("--no-extras hides jiter: use --json-decoder auto or stdlib")
    try:
        args.payloads = [load_payload(spec, args.package) for spec in (args.payload or DEFAULT_PAYLOADS)]
    except (OSError, ValueError, TypeError) as exc:
        parser.error(str(exc))
    return args


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _commit(root: Path) -> str:
    """`` at <short commit>[+changes]`` of a git checkout, or nothing."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "flask_huggy"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f" at {head}{'+changes' if dirty else ''}"


@contextlib.contextmanager
def _servers(args: argparse.Namespace, tokens: Sequence[str]) -> Iterator[dict[str, Server]]:
    """Both apps' servers, up for the whole run and always stopped after it.

    Both run at once so that rounds can alternate without restarts; the idle
    one only sleeps in its poll loop.
    """
    with tempfile.TemporaryDirectory(prefix="flask-huggy-bench-") as logs, contextlib.ExitStack() as stack:
        yield {
            app: stack.enter_context(
                Server(
                    app,
                    worker_class=args.worker_class,
                    workers=args.workers,
                    tokens=tokens,
                    json_decoder=args.json_decoder,
                    no_extras=args.no_extras,
                    package_root=args.package,
                    log_dir=Path(logs),
                )
            )
            for app in APPS
        }


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM handler: unwind like Ctrl-C, so that servers and clients get stopped."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    payloads: list[Payload] = args.payloads
    tokens = sorted({p.token for p in payloads if p.token})
    cpus = os.cpu_count() or 0
    print(
        f"flask-huggy webhook throughput: Python {platform.python_version()}, gunicorn {_version('gunicorn')}, "
        f"{cpus} CPU(s), {platform.system()} {platform.machine()}"
    )
    threads = (
        f" --threads {GUNICORN_THREADS} --keep-alive {GUNICORN_KEEPALIVE}" if args.worker_class == "gthread" else ""
    )
    connections = "1 keep-alive connection each" if args.worker_class == "gthread" else "a new connection per request"
    print(f"server: gunicorn -k {args.worker_class}{threads} -w {args.workers} on {HOST} (one per app)")
    jiter = "hidden: --no-extras, as the default install" if args.no_extras else _version("jiter")
    print(
        f"huggy: flask_huggy from {args.package}{_commit(args.package)}, HUGGY_JSON_DECODER={args.json_decoder!r} "
        f"(jiter {jiter}); bare: Flask's request.get_json()"
    )
    print(
        f"load: {args.clients} client process(es), {connections}; "
        f"{args.rounds} round(s) x {args.duration:g}s per app and payload, after {args.warmup:g}s warm-up"
    )
    print(
        f"note: clients and servers share the same {cpus} CPU(s), so absolute req/s understate the server:\n"
        "      compare ratios. 'srv cpu us' = server CPU per request (all workers), steadier than req/s;\n"
        "      'other%' = machine CPU used by anything else (kernel, this script, other jobs) during the round."
    )

    problems: list[str] = []
    try:
        with _servers(args, tokens) as servers:
            for payload in payloads:
                problems += bench_payload(servers, payload, args)
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"\nbenchmark aborted: {exc}", file=sys.stderr)
        return 1

    print(
        "\nproblems:" if problems else "\nno problems: every response was HTTP 200, huggy counted every event as valid"
    )
    for problem in problems:
        print(f"  - {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
