"""Celery soak: deliveries through gunicorn to real Celery workers while the broker and the dedup Redis crash.

``SOAK_BROKER_URL`` set: tests/soak_app.py runs under gunicorn (2 gthread
workers of 4 threads) and enqueues each delivery into a Redis broker; a real
``celery worker`` (prefork, 3 processes, ``tests/soak_worker.py``) runs the
receivers, de-duplicating with a second Redis and journaling every attempt. The
receiver fails 10% of the time, before its side effect, so that retries are always
due; it records what it handled in a third Redis, "the CRM". The broker and the
dedup store keep an append-only file synced on every write, as in production, so
that what they acknowledged survives their crash and whatever goes missing is the
library's doing.

The clients behave as Huggy does (``tests/soak_support.py``). While they post:

- at 30% of the deliveries the broker's Redis is killed (``kill -9``) and started
  again 3.5 s later: the webhook answers 503 ``queue_unavailable`` meanwhile, and
  the workers cannot publish the retries that fall due;
- at 45% the worker process running one chosen event's receiver, which hangs before
  its side effect, is killed (``kill -9``): Celery hands the task out again, and it
  runs once the dead process's lease on the event (``HUGGY_DEDUP_LEASE``, 10 s here)
  has run out;
- at 60% the dedup Redis is killed and started again 1.5 s later;
- at 80% the broker loses one task, as a broker that crashes just as a worker takes it
  does: the test removes from the queue the first attempt of a delivery posted once
  whose events have not run, and it is never recorded as unacknowledged.

Once every delivery has been queued, the test waits, without running any replay,
until the CRM has every event and the broker has drained. Tasks whose acknowledgement
was lost with the broker come back after the broker's visibility timeout (10 s here).
Tasks the broker lost, and retries it could not take, come back by themselves: the
recovery in the web processes and in the worker's main process queues again every
delivery with no news in the journal for ``HUGGY_RECOVER_AFTER`` (15 s here: longer
than the lease, 10 s, plus the longest retry backoff, 2 s). The CRM's records must
then show every event handled exactly once::

    celery soak: deliveries=1500 events=3006 ... lost=0 doubled=0 recovered=2 recovered_events=3 dead_lettered=0 ...

``recovered`` counts the deliveries queued again by themselves (``recovered`` records
in the journal) and ``recovered_events`` their events; ``dead_lettered`` the
deliveries given up on (``dead_letter`` records; none is expected: 8 retries). The
workers must have survived the crashes and drained the broker by themselves. It is
marked ``soak`` and runs in ``.ci/run``'s soak step; from half a minute to two
minutes on two cores, as long as tasks whose acknowledgement the crash lost take to
come back. Scale it with ``SOAK_CELERY_DELIVERIES`` (default 1500).
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from flask_huggy.journal import failed_deliveries

from .redis_server import RedisServer, redis_server
from .soak_app import COUNTERS, HANDLED, STALL, event_key
from .soak_support import (
    ROOT,
    Fault,
    Figures,
    faults_during,
    gunicorn,
    kill_stalled,
    plan,
    run_clients,
    soak_env,
    stop_group,
    tally,
    unexpected_errors,
)

pytestmark = pytest.mark.soak

DELIVERIES = int(os.environ.get("SOAK_CELERY_DELIVERIES", "1500"))
#: Seconds from the first post after which sending stops and the test fails.
BUDGET_SECONDS = float(os.environ.get("SOAK_BUDGET_SECONDS", "90"))
#: Seconds the workers get, after the last delivery was queued, to handle everything.
SETTLE_SECONDS = 180.0
#: Seconds without a task in the broker after which the workers are done: far longer than a task runs.
DRAINED_SECONDS = 3.0
WORKER_PROCESSES = 3
FAILURE_RATE = 0.10
#: Seconds each Redis is away, from its crash to its restart.
BROKER_DOWN_SECONDS = 3.5
DEDUP_DOWN_SECONDS = 1.5
#: The webhook's time to give up on the broker (default 2 s): well under the client's timeout.
ENQUEUE_TIMEOUT = 1.0
#: Seconds without news after which a delivery not done is queued again: more than the lease
#: (10 s) plus the longest retry backoff (2 s), so that no healthy task is run twice.
RECOVER_AFTER = 15


@dataclass
class CelerySoak:
    url: str
    env: dict[str, str]
    broker: RedisServer
    dedup: RedisServer
    crm: str
    journal: Path
    web_log: Path
    worker_log: Path


@pytest.fixture
def celery_soak() -> Iterator[CelerySoak]:
    """Three Redis servers, gunicorn enqueueing into one of them, a prefork Celery worker consuming it."""
    with (
        redis_server(durable=True) as broker,
        redis_server(durable=True) as dedup,
        redis_server() as crm,
        tempfile.TemporaryDirectory(prefix="huggy-celery-soak-") as workdir,
    ):
        journal = Path(workdir) / "journal"
        env = soak_env(
            HUGGY_DEDUP=dedup.url,
            # Longer than any receiver runs (but the one killed); short enough that the lease
            # the killed process held frees up within the test.
            HUGGY_DEDUP_LEASE="10",
            HUGGY_JOURNAL=str(journal),
            HUGGY_CELERY_MAX_RETRIES="8",
            HUGGY_CELERY_RETRY_BACKOFF="0.2",
            HUGGY_CELERY_RETRY_BACKOFF_MAX="2",
            HUGGY_CELERY_ENQUEUE_TIMEOUT=str(ENQUEUE_TIMEOUT),
            HUGGY_RECOVER_AFTER=str(RECOVER_AFTER),
            SOAK_BROKER_URL=broker.url,
            SOAK_VISIBILITY_TIMEOUT="10",
            SOAK_REDIS_URL=crm.url,
            SOAK_FAILURE_RATE=str(FAILURE_RATE),
            SOAK_RECEIVER_DELAY="0.005",
        )
        web_log, worker_log = Path(workdir) / "gunicorn.log", Path(workdir) / "worker.log"
        command = [
            sys.executable, "-m", "celery", "-A", "tests.soak_worker", "worker", "--pool=prefork",
            f"--concurrency={WORKER_PROCESSES}", "--loglevel=INFO", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--hostname", f"huggy-soak-{uuid.uuid4().hex[:8]}@%h",
        ]  # fmt: skip
        with worker_log.open("wb") as output:
            worker = subprocess.Popen(
                command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            wait_for_worker(worker, worker_log)
            with gunicorn("tests.soak_app:create_app()", env, web_log, workers=2, threads=4) as url:
                yield CelerySoak(url, env, broker, dedup, crm.url, journal, web_log, worker_log)
        finally:
            stop_group(worker)


def wait_for_worker(worker: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while "ready." not in log.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the Celery worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)


def wait_until_settled(broker: redis.Redis, crm: redis.Redis, expected: set[str]) -> None:
    """Until the CRM has every event and the broker has held no task for DRAINED_SECONDS, or SETTLE_SECONDS passed.

    A task whose acknowledgement was lost with the broker stays in the broker's
    ``unacked`` hash until a worker gets it again: after the visibility timeout,
    at kombu's next restore pass (every tenth poll cycle, so up to about 100 s).
    Its events already ran; when it comes back, de-duplication skips them. A task
    the broker lost comes back once the recovery has queued it again.
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    drained_since = None
    while time.monotonic() < deadline:
        if broker.llen("celery") or broker.hlen("unacked") or not expected <= set(crm.hkeys(HANDLED)):
            drained_since = None
        elif drained_since is None:
            drained_since = time.monotonic()
        elif time.monotonic() - drained_since > DRAINED_SECONDS:
            return
        time.sleep(0.2)


def lose_a_task(broker_url: str, crm: redis.Redis, candidates: set[frozenset[str]], lost: list[bytes]) -> None:
    """Take one waiting task off the broker's queue and drop it: the broker lost it.

    Only a task that is the one copy of its delivery's work counts: a first attempt
    of a delivery posted once (``candidates``: its event keys) none of whose events
    has run yet. The queue also holds tasks that must not be chosen: a task whose
    acknowledgement the broker's crash lost comes back after the visibility timeout
    although its events ran, and a delivery Huggy posts twice is queued twice.
    Dropping one of those would lose nothing, and the recovery would have nothing to do.
    """
    broker = redis.Redis.from_url(broker_url)
    handled = set(crm.hkeys(HANDLED))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for message in broker.lrange("celery", 0, -1):
            keys = queued_keys(message)
            if keys in candidates and not keys & handled and broker.lrem("celery", 1, message):
                lost.append(message)
                return
        handled = set(crm.hkeys(HANDLED))
        time.sleep(0.005)
    raise RuntimeError("the broker's queue held no first attempt of a delivery posted once for 10 s")


def queued_keys(message: bytes) -> frozenset[str]:
    """The event keys of the delivery a first attempt in the broker carries; empty for a retry."""
    envelope = json.loads(message)
    if envelope["headers"].get("retries"):
        return frozenset()
    args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
    delivery = json.loads(args[0])
    return frozenset(event_key(name, event["id"]) for name, events in delivery["messages"].items() for event in events)


def journal_notes(journal: Path) -> Counter[str]:
    """How many records of each kind the journal holds, and ``recovered_events``: events queued again."""
    kinds: Counter[str] = Counter()
    for path in journal.glob("*.jsonl"):
        for line in path.read_bytes().splitlines():
            record = json.loads(line) if line.strip() else {}
            kinds[record.get("kind", "?")] += 1
            if record.get("kind") == "recovered":
                kinds["recovered_events"] += len(record["events"]) or 1  # []: only delivery_received
    return kinds


def test_broker_and_dedup_crashes_under_celery_lose_nothing_and_run_nothing_twice(celery_soak: CelerySoak) -> None:
    soak = celery_soak
    deliveries = plan(DELIVERIES, random.Random(20261130))
    expected = {key for planned in deliveries for key in planned.keys}
    figures = Figures()

    crm = redis.Redis.from_url(soak.crm, decode_responses=True)
    # The worker process that runs this event's receiver hangs in it, before its side effect, and is killed.
    stalled = deliveries[int(0.45 * DELIVERIES)].keys[0]
    crm.sadd(STALL, stalled)
    dropped: list[bytes] = []
    sent_once = {frozenset(planned.keys) for planned in deliveries if planned.twice is None}
    schedule = [
        Fault(0.3, "broker_crash", lambda: soak.broker.crash(BROKER_DOWN_SECONDS)),
        Fault(0.45, "worker_process_kill", lambda: kill_stalled(crm, stalled)),
        Fault(0.6, "dedup_redis_crash", lambda: soak.dedup.crash(DEDUP_DOWN_SECONDS)),
        Fault(0.8, "broker_loses_a_task", lambda: lose_a_task(soak.broker.url, crm, sent_once, dropped)),
    ]
    started = time.monotonic()
    with faults_during(schedule, figures, DELIVERIES) as faults:
        run_clients(soak.url, deliveries, figures, deadline=started + BUDGET_SECONDS)
    broker = redis.Redis.from_url(soak.broker.url)
    wait_until_settled(broker, crm, expected)
    seconds = time.monotonic() - started

    worker_log = soak.worker_log.read_text(errors="replace")
    web_log = soak.web_log.read_text(errors="replace")
    handled = {key: int(n) for key, n in crm.hgetall(HANDLED).items()}
    receiver = {key: int(n) for key, n in crm.hgetall(COUNTERS).items()}
    notes = journal_notes(soak.journal)
    # What the journal still holds as not done, as `flask huggy replay --failed` would see it: nothing.
    not_done = failed_deliveries(soak.journal, on_problem=lambda where, problem: None)

    # Lost: never handled, with no replay run.
    lost, doubled, unexpected = tally(expected, handled)
    web_errors = unexpected_errors(soak.web_log.read_text(errors="replace"))
    # What the broker still holds: tasks waiting, and tasks handed out but never acknowledged.
    broker_left = f"queued={broker.llen('celery')} unacked={broker.hlen('unacked')}"

    c = figures.counts
    line = "celery soak: " + figures.line(
        lost=len(lost),
        doubled=len(doubled),
        recovered=notes["recovered"],
        recovered_events=notes["recovered_events"],
        dead_lettered=notes["dead_letter"],
        seconds=f"{seconds:.1f}",
    )
    recovered_by = {
        "web": web_log.count("Recovered a stranded Huggy delivery"),
        "worker": worker_log.count("Recovered a stranded Huggy delivery"),
    }
    detail = (
        f"celery soak detail: faults={','.join(faults) or 'none'} {figures.answers()} "
        f"receiver_failures={receiver.get('failures', 0)} "
        f"retries_unpublishable={worker_log.count('could not be published')} not_queued={notes['not_queued']} "
        f"recovered_by_web={recovered_by['web']} recovered_by_worker={recovered_by['worker']} "
        f"journal_not_done={len(not_done)} {broker_left} web_errors={len(web_errors)}"
    )
    print(f"\n{line}\n{detail}")
    report = (
        f"{line}\n{detail}\nproblems: {list(dict.fromkeys(figures.problems))[:5]}\n"
        f"lost: {lost[:5]}\ndoubled: {doubled[:5]}\nunexpected: {unexpected[:5]}\n"
        f"web errors: {web_errors[:10]}\n"
        f"worker log (tail):\n{worker_log[-3000:]}"
    )

    assert not figures.problems, report
    assert sorted(faults) == ["broker_crash", "broker_loses_a_task", "dedup_redis_crash", "worker_process_kill"], report
    assert notes["recovered"] >= len(dropped) == 1, report  # the task the broker lost came back by itself
    assert "WorkerLostError" in worker_log, report  # Celery saw its process die mid-task
    assert (c["deliveries"], c["events"]) == (len(deliveries), len(expected)), report
    assert lost == [] and doubled == [] and unexpected == [], report
    assert not_done == [] and notes["dead_letter"] == 0, report  # the journal agrees: everything done
    assert web_errors == [], report
    assert "Unrecoverable error" not in worker_log, report  # the worker lived through the crashes
    assert broker_left == "queued=0 unacked=0", report  # and ran every task it was given
    assert c["http_503_queue_unavailable"] > 0, report  # the broker crashed while deliveries were coming in
    assert receiver["failures"] > 0, report
