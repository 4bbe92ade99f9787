"""Soak test: thousands of Huggy-like deliveries to gunicorn, its Redis crashing midway; every event handled once.

``tests/soak_app.py`` runs under gunicorn (4 gthread workers of 4 threads) on a free
127.0.0.1 port, de-duplicating with a real redis-server that keeps an append-only
file synced on every write, as a production Redis does. Its one receiver fails 10%
of the time, before its side effect, and is now and then slower than the client's
timeout; it records what it handled in a second Redis, "the CRM". Client threads
post deliveries built from the docs' samples, each event with an id of its own, and
behave as Huggy does (``tests/soak_support.py``): a delivery that gets a 5xx, times
out or loses its connection is posted again, same body, after a short backoff, until
it gets a 2xx; some deliveries are sent twice, after their first success or by two
clients at once. Halfway through, the de-duplication Redis is killed (``kill -9``)
and started again 1.5 s later. At the end the CRM's records must show every event
handled exactly once. The figures are printed::

    soak: deliveries=3000 events=5993 attempts=4307 retries=998 duplicates_suppressed=1045 lost=0 doubled=0 seconds=25.0

It is left out of the default run (``-m "not soak"`` in setup.cfg); ``.ci/run`` runs it
as a step of its own, with the Celery soak (``tests/test_soak_celery.py``). It takes
about half a minute on two cores, and fails if sending takes longer than its time
budget. Run it, with its figures::

    .venv/bin/python -m pytest -m soak -s tests/test_soak.py

Scale it with ``SOAK_DELIVERIES`` (default 3000); a bigger run may need a bigger
time budget, ``SOAK_BUDGET_SECONDS`` (default 90, after which the test fails)::

    SOAK_DELIVERIES=20000 SOAK_BUDGET_SECONDS=600 .venv/bin/python -m pytest -m soak -s tests/test_soak.py
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from .redis_server import RedisServer, redis_server
from .soak_app import COUNTERS, HANDLED
from .soak_support import (
    INJECTED_FAILURE,
    Fault,
    Figures,
    faults_during,
    gunicorn,
    plan,
    run_clients,
    soak_env,
    tally,
    unexpected_errors,
)

pytestmark = pytest.mark.soak

DELIVERIES = int(os.environ.get("SOAK_DELIVERIES", "3000"))
#: Seconds from the first post after which sending stops and the test fails.
BUDGET_SECONDS = float(os.environ.get("SOAK_BUDGET_SECONDS", "90"))
GUNICORN_WORKERS = 4
GUNICORN_THREADS = 4

#: What the receiver does (tests/soak_app.py reads these from the environment).
FAILURE_RATE = 0.10
RECEIVER_DELAY = 0.01
SLOW_RATE = 0.003
#: Longer than the client's timeout: the client gives up and retries while the first attempt still runs.
SLOW_SECONDS = 2.5
#: Seconds the de-duplication Redis is away, from its crash to its restart.
BLIP_SECONDS = 1.5


@dataclass
class SoakServer:
    url: str
    dedup: RedisServer
    crm: str
    log: Path


@pytest.fixture
def soak_server() -> Iterator[SoakServer]:
    """gunicorn serving tests/soak_app.py, de-duplicating with a durable Redis, recording in another."""
    with (
        redis_server(durable=True) as dedup,
        redis_server() as crm,
        tempfile.TemporaryDirectory(prefix="huggy-soak-") as workdir,
    ):
        env = soak_env(
            HUGGY_DEDUP=dedup.url,
            SOAK_REDIS_URL=crm.url,
            SOAK_FAILURE_RATE=str(FAILURE_RATE),
            SOAK_RECEIVER_DELAY=str(RECEIVER_DELAY),
            SOAK_SLOW_RATE=str(SLOW_RATE),
            SOAK_SLOW_SECONDS=str(SLOW_SECONDS),
        )
        log = Path(workdir) / "gunicorn.log"
        with gunicorn(
            "tests.soak_app:create_app()", env, log, workers=GUNICORN_WORKERS, threads=GUNICORN_THREADS
        ) as url:
            yield SoakServer(url, dedup, crm.url, log)


def test_thousands_of_retried_and_repeated_deliveries_run_every_event_exactly_once(soak_server: SoakServer) -> None:
    deliveries = plan(DELIVERIES, random.Random(20240601))
    expected = {key for planned in deliveries for key in planned.keys}
    figures = Figures()

    crash = Fault(0.5, "dedup_redis_crash", lambda: soak_server.dedup.crash(BLIP_SECONDS))
    started = time.monotonic()
    with faults_during([crash], figures, DELIVERIES) as faults:
        run_clients(soak_server.url, deliveries, figures, deadline=started + BUDGET_SECONDS)
    seconds = time.monotonic() - started

    crm = redis.Redis.from_url(soak_server.crm, decode_responses=True)
    handled = {key: int(n) for key, n in crm.hgetall(HANDLED).items()}
    receiver = {key: int(n) for key, n in crm.hgetall(COUNTERS).items()}
    store = redis.Redis.from_url(soak_server.dedup.url, decode_responses=True)
    dedup_keys = list(store.scan_iter("huggy:dedup:*", count=1000))
    marks = store.mget(dedup_keys) if dedup_keys else []
    lost, doubled, unexpected = tally(expected, handled)
    leases_left = sum(mark != "done" for mark in marks)
    server_log = soak_server.log.read_text(errors="replace")
    server_errors = unexpected_errors(server_log)
    kept_marks = server_log.count("Could not mark a handled event done")

    c = figures.counts
    line = "soak: " + figures.line(
        duplicates_suppressed=c["duplicates_suppressed"],
        lost=len(lost),
        doubled=len(doubled),
        seconds=f"{seconds:.1f}",
    )
    detail = (
        f"soak detail: faults={','.join(faults) or 'none'} sent_twice_after={c['sent_twice_after']} "
        f"sent_twice_concurrent={c['sent_twice_concurrent']} {figures.answers()} "
        f"receiver_failures={receiver.get('failures', 0)} slow_calls={receiver.get('slow', 0)} "
        f"done_marks_kept_for_later={kept_marks} done_marks={len(marks)} leases_left={leases_left} "
        f"server_errors={len(server_errors)}"
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
    assert faults == ["dedup_redis_crash"], report
    assert (c["deliveries"], c["events"]) == (len(deliveries), len(expected)), report
    assert lost == [] and doubled == [] and unexpected == [], report
    assert c["attempts"] == c["deliveries"] + c["sent_twice_after"] + c["sent_twice_concurrent"] + c["retries"], report
    assert len(marks) == len(expected) and leases_left == 0, report
    # Every 5xx came from an injected failure, a duplicate in flight or the crash, not from the library or gunicorn.
    assert server_errors == [], report
    assert server_log.count(INJECTED_FAILURE) == receiver.get("failures", 0), report
    assert c["http_503_dedup_unavailable"] > 0, report  # the crash happened while deliveries were coming in
    if DELIVERIES >= 2000:  # a small run may, by chance, never fail, time out or collide
        assert receiver["failures"] > 0 and c["timeouts"] > 0 and c["http_503_duplicate_in_flight"] > 0, report
