"""What the soak tests share: Huggy-like clients, gunicorn, and faults injected on a schedule.

The clients behave as Huggy does: a delivery that gets a 5xx, times out or loses
its connection is posted again, same body, after a short backoff, until it gets a
2xx; some deliveries are sent twice, after their first success or by two clients
at once. Every event carries an id no other event has, so that the receiver's
records show whether each ran exactly once.
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
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from flask_huggy.testing import build_delivery, build_event

from .conftest import TOKEN
from .processes import free_port
from .soak_app import STALLED, event_key

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_PATH = "/huggy/webhook"
CLIENTS = 8

#: How the receiver's failures end their traceback in a server's log.
INJECTED_FAILURE = "RuntimeError: The CRM refused "

#: Seconds the client waits to connect and for an answer, like Huggy's own timeout.
CLIENT_TIMEOUT = 2.0
#: Posts of one delivery before the client gives up on it (a test failure).
MAX_ATTEMPTS = 40
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

    def line(self, **more: Any) -> str:
        """The figures every soak prints, and ``more``."""
        c = self.counts
        shown = {
            "deliveries": c["deliveries"],
            "events": c["events"],
            "attempts": c["attempts"],
            "retries": c["retries"],
            **more,
        }
        return " ".join(f"{name}={value}" for name, value in shown.items())

    def answers(self) -> str:
        """Every kind of 5xx the clients got, the timeouts and lost connections."""
        c = self.counts
        seen = " ".join(f"{name}={n}" for name, n in sorted(c.items()) if name.startswith("http_"))
        return f"{seen} timeouts={c['timeouts']} connection_errors={c['connection_errors']}"


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
) -> dict[str, Any]:
    """Post ``planned`` as Huggy does, again after each 5xx, timeout or lost connection; the 200's answer.

    The answer must be the webhook's: ``accepted`` (its receivers ran, with how many
    events were duplicates) or ``queued`` (Celery mode), for all of its events.
    """
    events = len(planned.keys)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if attempt > 1:
            figures.add("retries")
            time.sleep(min(0.05 * 2 ** (attempt - 2), 0.5) * random.uniform(0.5, 1.0))
        if time.monotonic() > deadline:
            raise SoakFailure("the time budget ran out before every delivery was accepted")
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
            if answer == {"status": "queued", "events": events}:
                return dict(answer)
            duplicates = answer.get("duplicates") if isinstance(answer, dict) else None
            expected = {"status": "accepted", "events": events, "invalid": 0, "duplicates": duplicates}
            if answer != expected or not isinstance(duplicates, int) or not 0 <= duplicates <= events:
                raise SoakFailure(f"HTTP 200 with {answer!r} for a delivery of {events} event(s)")
            figures.add("duplicates_suppressed", duplicates)
            return dict(answer)
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
            answers: list[dict[str, Any]] = []

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
            if all(a["status"] == "accepted" for a in answers) and sum(a["duplicates"] for a in answers) < events:
                raise SoakFailure(f"two concurrent posts of {events} event(s) reported {answers}")
        else:
            post_until_accepted(session, url, planned, figures, deadline)
            if planned.twice == "after":
                again = post_until_accepted(session, url, planned, figures, deadline)
                if again["status"] == "accepted" and again["duplicates"] != events:
                    raise SoakFailure(f"a repeat of an accepted delivery of {events} event(s) reported {again}")
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


@dataclass(frozen=True)
class Fault:
    """Something to break once ``at`` (a share, 0 to 1) of the deliveries have been accepted."""

    at: float
    name: str
    action: Callable[[], None]


@contextmanager
def faults_during(schedule: list[Fault], figures: Figures, deliveries: int) -> Iterator[list[str]]:
    """Run each fault of ``schedule`` in a thread of its own as the clients get that far; yield what ran.

    Each fault runs while the clients keep posting. On exit the faults still
    running are waited for (a broker restart), and a fault that raised fails the test.
    """
    done: list[str] = []

    def inject(fault: Fault) -> None:
        while figures.counts["deliveries"] < fault.at * deliveries:
            if figures.stop.is_set():
                return
            time.sleep(0.01)
        try:
            fault.action()
        except Exception as exc:  # noqa: BLE001 - reported as the test's failure
            figures.fail(f"fault {fault.name} raised {type(exc).__name__}: {exc}")
        else:
            done.append(fault.name)

    threads = [threading.Thread(target=inject, args=(fault,), name=f"fault-{fault.name}") for fault in schedule]
    for thread in threads:
        thread.start()
    try:
        yield done
    finally:
        figures.stop.set()  # faults not reached yet give up
        for thread in threads:
            thread.join(60)


def kill_stalled(crm: redis.Redis, key: str, timeout: float = 60) -> int:
    """Wait until a process stalls on event ``key`` (tests/soak_app.py), kill it (SIGKILL); its pid."""
    deadline = time.monotonic() + timeout
    while (pid := crm.hget(STALLED, key)) is None:
        if time.monotonic() > deadline:
            raise SoakFailure(f"no process stalled on {key} within {timeout:g} s")
        time.sleep(0.05)
    os.kill(int(pid), signal.SIGKILL)
    return int(pid)


def soak_env(**settings: str) -> dict[str, str]:
    """This process's environment without any HUGGY_/SOAK_/FLASK_/GUNICORN_ keys, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUGGY_", "SOAK_", "FLASK_", "GUNICORN_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(PYTHONUNBUFFERED="1", HUGGY_WEBHOOK_TOKEN=TOKEN, **settings)
    return env


@contextmanager
def gunicorn(app: str, env: Mapping[str, str], log: Path, *, workers: int, threads: int) -> Iterator[str]:
    """gunicorn serving ``app`` (``module:callable()``) on a free 127.0.0.1 port; yield the webhook's URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread", "--threads", str(threads),
        "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5", *no_control_socket(), app,
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    with log.open("ab") as output:
        # A session of its own, so that the workers can be killed with the master if it hangs.
        process = subprocess.Popen(
            command, cwd=ROOT, env=dict(env), stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until_serving(url, process, log)
        yield url
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started in a session of its own, and kill its whole group if it does not stop."""
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
    """Lines of a server's log that tell of an error other than the receiver's injected failures."""
    return [
        line
        for line in log.splitlines()
        if re.search(r"\[(ERROR|CRITICAL)\]|WORKER TIMEOUT", line)
        or (re.match(r"[\w.]*(Error|Exception|Exit|Interrupt)\b", line) and not line.startswith(INJECTED_FAILURE))
    ]


def tally(expected: set[str], handled: Mapping[str, int]) -> tuple[list[str], list[str], list[str]]:
    """The events never handled, those handled more than once, and those handled but never sent."""
    lost = sorted(key for key in expected if handled.get(key, 0) == 0)
    doubled = sorted(key for key, n in handled.items() if n > 1)
    unexpected = sorted(set(handled) - expected)
    return lost, doubled, unexpected


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the webhook answers (a GET: 405), or fail with the server's output."""
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
