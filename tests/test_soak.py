"""Soak test: thousands of Huggy-like deliveries to gunicorn with Redis de-duplication; every event handled once.

``tests/soak_app.py`` runs under gunicorn (4 gthread workers of 4 threads) on a free
127.0.0.1 port, de-duplicating with a real redis-server (``running_redis()``). Its one
receiver fails 10% of the time, before its side effect, and is now and then slower
than the client's timeout. Client threads post deliveries built from the docs'
samples, each event with an id of its own, and behave as Huggy does: a delivery that
gets a 5xx, times out or loses its connection is posted again, same body, after a
short backoff, until it gets a 2xx; some deliveries are sent twice, after their first
success or by two clients at once. At the end the receiver's records in Redis must
show every event handled exactly once. The figures are printed::

    soak: deliveries=3000 events=5993 attempts=4219 retries=910 duplicates_suppressed=1036 lost=0 doubled=0 seconds=22.8

It is left out of the default run (``-m "not soak"`` in setup.cfg); ``.ci/run`` runs it
as a step of its own. It takes about half a minute on two cores, and fails if sending
takes longer than its time budget. Run it, with its figures::

    .venv/bin/python -m pytest -m soak -s

Scale it with ``SOAK_DELIVERIES`` (default 3000); a bigger run may need a bigger
time budget, ``SOAK_BUDGET_SECONDS`` (default 90, after which the test fails)::

    SOAK_DELIVERIES=20000 SOAK_BUDGET_SECONDS=600 .venv/bin/python -m pytest -m soak -s
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests

from flask_huggy.testing import build_delivery, build_event

from .conftest import TOKEN
from .redis_server import free_port, running_redis
from .soak_app import COUNTERS, HANDLED, event_key

pytestmark = pytest.mark.soak

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_PATH = "/huggy/webhook"

DELIVERIES = int(os.environ.get("SOAK_DELIVERIES", "3000"))
#: Seconds from the first post after which sending stops and the test fails.
BUDGET_SECONDS = float(os.environ.get("SOAK_BUDGET_SECONDS", "90"))
CLIENTS = 8
GUNICORN_WORKERS = 4
GUNICORN_THREADS = 4

#: What the receiver does (tests/soak_app.py reads these from the environment).
FAILURE_RATE = 0.10
RECEIVER_DELAY = 0.01
SLOW_RATE = 0.003
#: Longer than CLIENT_TIMEOUT: the client gives up and retries while the first attempt still runs.
SLOW_SECONDS = 2.5

#: How the receiver's failures end their traceback in the server's log.
INJECTED_FAILURE = "RuntimeError: The CRM refused "

#: Seconds the client waits to connect and for an answer, like Huggy's own timeout.
CLIENT_TIMEOUT = 2.0
#: Posts of one delivery before the client gives up on it (a test failure).
MAX_ATTEMPTS = 30
#: Share of the deliveries sent twice; half of them after their first success, half by two clients at once.
TWICE_RATE = 0.10

#: Events whose docs' sample has an ``id`` of its own, so that each event can carry a unique one.
EVENT_NAMES = (
    "receivedMessage",
    "receivedAllMessage",
    "sendedAllMessage",
    "newInternalMessage",
    "startedChat",
    "agentEntered",
    "leftQueue",
    "closedChat",
    "createdCustomer",
    "updatedCustomer",
    "startedWidgetAttendance",
    "agentChangedStatus",
)


@dataclass(frozen=True)
class Planned:
    """One delivery to make: its body (the same bytes on every post) and the keys of its events."""

    body: bytes
    keys: tuple[str, ...]
    #: ``None`` (sent once), ``"after"`` (again after its first success) or ``"concurrent"`` (two clients at once).
    twice: str | None


@dataclass
class Figures:
    """What the clients did and saw, shared by the client threads."""

    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counts[name] += n

    def fail(self, problem: str) -> None:
        with self.lock:
            self.problems.append(problem)
        self.stop.set()


class SoakFailure(Exception):
    """A delivery went wrong in a way Huggy's retries cannot fix; the test fails."""


def plan(count: int, rng: random.Random) -> list[Planned]:
    """``count`` deliveries of 1 to 3 events of one conversation, every event with an id no other has."""
    id_types = {name: type(build_event(name)["id"]) for name in EVENT_NAMES}  # str where Huggy sends strings
    deliveries = []
    next_id = 10_000_000
    for _ in range(count):
        chat_id, customer_id = rng.randrange(10**7, 10**8), rng.randrange(10**7, 10**8)
        events = []
        for name in rng.choices(EVENT_NAMES, k=rng.randint(1, 3)):
            next_id += 1
            events.append(build_event(name, chat_id=chat_id, customer_id=customer_id, id=id_types[name](next_id)))
        draw = rng.random()
        twice = None if draw >= TWICE_RATE else "after" if draw < TWICE_RATE / 2 else "concurrent"
        body = json.dumps(build_delivery(*events, token=TOKEN)).encode("utf-8")
        deliveries.append(Planned(body, tuple(event_key(e.name, e["id"]) for e in events), twice))
    return deliveries


def post_until_accepted(
    session: requests.Session, url: str, planned: Planned, figures: Figures, deadline: float
) -> int:
    """Post ``planned`` as Huggy does, again after each 5xx, timeout or lost connection; its ``duplicates``."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if attempt > 1:
            figures.add("retries")
            time.sleep(min(0.05 * 2 ** (attempt - 2), 0.5) * random.uniform(0.5, 1.0))
        if time.monotonic() > deadline:
            raise SoakFailure(f"the time budget ({BUDGET_SECONDS:g} s) ran out before every delivery was accepted")
        if figures.stop.is_set():
            raise SoakFailure("stopped: another client failed")
        figures.add("attempts")
        try:
            response = session.post(
                url, data=planned.body, headers={"Content-Type": "application/json"}, timeout=CLIENT_TIMEOUT
            )
        except requests.Timeout:
            figures.add("timeouts")
            continue
        except requests.ConnectionError:
            figures.add("connection_errors")
            continue
        try:
            answer = response.json()
        except ValueError:
            raise SoakFailure(f"HTTP {response.status_code} with a non-JSON body: {response.text[:200]!r}") from None
        if not response.headers.get("Content-Type", "").startswith("application/json"):
            raise SoakFailure(f"HTTP {response.status_code} answered as {response.headers.get('Content-Type')!r}")
        if response.status_code == 200:
            events = len(planned.keys)
            duplicates = answer.get("duplicates") if isinstance(answer, dict) else None
            expected = {"status": "accepted", "events": events, "invalid": 0, "duplicates": duplicates}
            if answer != expected or not isinstance(duplicates, int) or not 0 <= duplicates <= events:
                raise SoakFailure(f"HTTP 200 with {answer!r} for a delivery of {events} event(s)")
            figures.add("duplicates_suppressed", duplicates)
            return duplicates
        if 500 <= response.status_code < 600 and isinstance(answer, dict) and isinstance(answer.get("error"), str):
            figures.add(f"http_{response.status_code}_{answer['error']}")
            continue
        raise SoakFailure(f"HTTP {response.status_code} {answer!r}")
    raise SoakFailure(f"a delivery was not accepted after {MAX_ATTEMPTS} attempts")


def run_clients(url: str, deliveries: list[Planned], figures: Figures, deadline: float) -> None:
    """Send every delivery from CLIENTS threads, each with its own keep-alive session."""
    todo: queue.SimpleQueue[Planned] = queue.SimpleQueue()
    for planned in deliveries:
        todo.put(planned)

    def deliver(planned: Planned, session: requests.Session) -> None:
        events = len(planned.keys)
        if planned.twice == "concurrent":
            start = threading.Barrier(2, timeout=10)
            answers: list[int] = []

            def twin() -> None:
                with requests.Session() as twin_session:
                    try:
                        start.wait()
                        answers.append(post_until_accepted(twin_session, url, planned, figures, deadline))
                    except Exception as exc:  # noqa: BLE001 - reported as the client's failure
                        figures.fail(f"{type(exc).__name__}: {exc}")

            helper = threading.Thread(target=twin)
            helper.start()
            try:
                start.wait()
                answers.append(post_until_accepted(session, url, planned, figures, deadline))
            finally:
                helper.join()
            if len(answers) != 2:
                raise SoakFailure("the second of two concurrent posts was not accepted")
            # Each event ran in one of the two (or in an earlier failed attempt): the other skipped it.
            if sum(answers) < events:
                raise SoakFailure(f"two concurrent posts of {events} event(s) reported {answers} duplicates")
        else:
            post_until_accepted(session, url, planned, figures, deadline)
            if planned.twice == "after":
                again = post_until_accepted(session, url, planned, figures, deadline)
                if again != events:
                    raise SoakFailure(
                        f"a repeat of an accepted delivery of {events} event(s) reported {again} duplicates"
                    )
        figures.add("deliveries")
        figures.add("events", events)
        if planned.twice is not None:
            figures.add(f"sent_twice_{planned.twice}")

    def client() -> None:
        with requests.Session() as session:
            while not figures.stop.is_set():
                try:
                    planned = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    deliver(planned, session)
                except Exception as exc:  # noqa: BLE001 - any failure of a client fails the test
                    figures.fail(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, name=f"huggy-client-{n}") for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        # Past the deadline each client stops after the post in progress (at most CLIENT_TIMEOUT).
        thread.join(max(0.0, deadline - time.monotonic()) + 15)
    if any(thread.is_alive() for thread in threads):
        figures.fail("client threads still running after the time budget")


@pytest.fixture
def soak_server() -> Iterator[tuple[str, str, Path]]:
    """gunicorn serving tests/soak_app.py with Redis de-duplication: (webhook URL, Redis URL, server log)."""
    with running_redis() as redis_url, tempfile.TemporaryDirectory(prefix="huggy-soak-") as workdir:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUGGY_", "SOAK_", "FLASK_", "GUNICORN_"))}
        env.update(
            PYTHONUNBUFFERED="1",
            HUGGY_WEBHOOK_TOKEN=TOKEN,
            HUGGY_DEDUP=redis_url,
            SOAK_REDIS_URL=redis_url,
            SOAK_FAILURE_RATE=str(FAILURE_RATE),
            SOAK_RECEIVER_DELAY=str(RECEIVER_DELAY),
            SOAK_SLOW_RATE=str(SLOW_RATE),
            SOAK_SLOW_SECONDS=str(SLOW_SECONDS),
        )
        log = Path(workdir) / "gunicorn.log"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(GUNICORN_WORKERS),
            "-k",
            "gthread",
            "--threads",
            str(GUNICORN_THREADS),
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "5",
            *no_control_socket(),
            "tests.soak_app:create_app()",
        ]
        with log.open("wb") as output:
            # A session of its own, so that the workers can be killed with the master if it hangs.
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_until_serving(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", process, log)
            yield f"http://127.0.0.1:{port}{WEBHOOK_PATH}", redis_url, log
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def no_control_socket() -> list[str]:
    """gunicorn 25.1+ opens a control socket in ~/.gunicorn, shared by every gunicorn of the user: not ours."""
    from gunicorn.config import KNOWN_SETTINGS  # type: ignore[import-untyped]

    return ["--no-control-socket"] if any("--no-control-socket" in (s.cli or ()) for s in KNOWN_SETTINGS) else []


def unexpected_errors(log: str) -> list[str]:
    """Lines of the server's log that tell of an error other than the receiver's injected failures."""
    return [
        line
        for line in log.splitlines()
        if re.search(r"\[(ERROR|CRITICAL)\]|WORKER TIMEOUT", line)
        or (re.match(r"[\w.]*(Error|Exception|Exit|Interrupt)\b", line) and not line.startswith(INJECTED_FAILURE))
    ]


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the webhook answers (a GET: 405), or fail with gunicorn's output."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(url, timeout=1).status_code == 405:
                return
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"gunicorn did not start serving {url}:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)


def test_thousands_of_retried_and_repeated_deliveries_run_every_event_exactly_once(
    soak_server: tuple[str, str, Path],
) -> None:
    url, redis_url, log = soak_server
    deliveries = plan(DELIVERIES, random.Random(20240601))
    expected = {key for planned in deliveries for key in planned.keys}
    figures = Figures()

    started = time.monotonic()
    run_clients(url, deliveries, figures, deadline=started + BUDGET_SECONDS)
    seconds = time.monotonic() - started

    store = redis.Redis.from_url(redis_url, decode_responses=True)
    handled = {key: int(n) for key, n in store.hgetall(HANDLED).items()}
    receiver = {key: int(n) for key, n in store.hgetall(COUNTERS).items()}
    dedup_keys = list(store.scan_iter("huggy:dedup:*", count=1000))
    marks = store.mget(dedup_keys) if dedup_keys else []
    lost = sorted(key for key in expected if handled.get(key, 0) == 0)
    doubled = sorted(key for key, n in handled.items() if n > 1)
    unexpected = sorted(set(handled) - expected)
    leases_left = sum(mark != "done" for mark in marks)
    server_log = log.read_text(errors="replace")
    server_errors = unexpected_errors(server_log)

    c = figures.counts
    line = (
        f"soak: deliveries={c['deliveries']} events={c['events']} attempts={c['attempts']} retries={c['retries']} "
        f"duplicates_suppressed={c['duplicates_suppressed']} lost={len(lost)} doubled={len(doubled)} "
        f"seconds={seconds:.1f}"
    )
    responses_5xx = " ".join(f"{name}={n}" for name, n in sorted(c.items()) if name.startswith("http_"))
    detail = (
        f"soak detail: sent_twice_after={c['sent_twice_after']} sent_twice_concurrent={c['sent_twice_concurrent']} "
        f"{responses_5xx} timeouts={c['timeouts']} connection_errors={c['connection_errors']} "
        f"receiver_failures={receiver.get('failures', 0)} slow_calls={receiver.get('slow', 0)} "
        f"done_marks={len(marks)} leases_left={leases_left} server_errors={len(server_errors)}"
    )
    print(f"\n{line}\n{detail}")
    report = (
        f"{line}\n{detail}\nproblems: {list(dict.fromkeys(figures.problems))[:5]}\n"
        f"lost: {lost[:5]}\ndoubled: {doubled[:5]}\n"
        f"unexpected: {unexpected[:5]}\nserver errors: {server_errors[:10]}"
    )
    if figures.problems:
        report += f"\ngunicorn log (tail):\n{server_log[-3000:]}"

    assert not figures.problems, report
    assert (c["deliveries"], c["events"]) == (len(deliveries), len(expected)), report
    assert lost == [] and doubled == [] and unexpected == [], report
    assert c["attempts"] == c["deliveries"] + c["sent_twice_after"] + c["sent_twice_concurrent"] + c["retries"], report
    assert len(marks) == len(expected) and leases_left == 0, report
    # Every 5xx came from an injected failure or a duplicate in flight, not from the library or gunicorn.
    assert server_errors == [], report
    assert server_log.count(INJECTED_FAILURE) == receiver.get("failures", 0), report
    if DELIVERIES >= 2000:  # a small run may, by chance, never fail, time out or collide
        assert receiver["failures"] > 0 and c["timeouts"] > 0 and c["http_503_duplicate_in_flight"] > 0, report
