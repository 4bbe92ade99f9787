"""The recovery (flask_huggy/recovery.py): what it reads in the journal, what it claims, what it queues again.

A real redis-server holds the claims, as in production; the journal is a real
directory. The clock is a fake one, moved by the tests, so that nothing waits
for the grace period. Queueing again is a list the tests read: the real
broker and worker are in tests/test_celery.py.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

import flask_huggy
from flask_huggy import signals
from flask_huggy.dispatch import EventOutcome, Outcome
from flask_huggy.endpoint import Endpoint, get_endpoint
from flask_huggy.envelope import parse_delivery
from flask_huggy.errors import Unavailable
from flask_huggy.journal import DEAD_LETTER, NOT_QUEUED, RECOVERED
from flask_huggy.recovery import Recovery, can_recover
from flask_huggy.testing import build_delivery, build_event, fresh_id

from .conftest import TOKEN
from .redis_server import running_redis

AFTER = 60.0


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with running_redis() as url:
        yield url


class Clock:
    """A UTC clock that moves only when told: the journal's timestamps and the recovery's now."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Requeued(list[tuple[dict[str, Any], list[int], str]]):
    """What a recovery queued again; ``broker_down`` makes it refuse, as the Celery glue does."""

    broker_down = False

    def __call__(self, delivery_raw: dict[str, Any], only: list[int], record_id: str) -> str:
        if self.broker_down:
            raise Unavailable("The broker is down.", error="queue_unavailable")
        self.append((delivery_raw, only, record_id))
        return "task-id"


def make_app(journal: Path, redis_url: str, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        HUGGY_WEBHOOK_TOKEN=TOKEN,
        HUGGY_JOURNAL=str(journal),
        HUGGY_DEDUP=redis_url,
        HUGGY_RECOVER_AFTER=AFTER,
        **config,
    )
    flask_huggy.Huggy(app)
    return app


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(flask_huggy.journal, "_now", lambda: fake.now.isoformat(timespec="microseconds"))
    return fake


@pytest.fixture
def endpoint(tmp_path: Path, redis_url: str) -> Endpoint:
    return get_endpoint(make_app(tmp_path / "journal", redis_url))


def recovery_of(endpoint: Endpoint, clock: Clock) -> tuple[Recovery, Requeued]:
    requeued = Requeued()
    return Recovery(endpoint, requeued, clock=clock), requeued


def queued(endpoint: Endpoint, events: int = 1) -> tuple[str, Any]:
    """A delivery as the Celery-mode webhook journals it; its record id and the delivery."""
    payload = build_delivery(*(build_event("closedChat", id=fresh_id()) for _ in range(events)), token=TOKEN)
    delivery = parse_delivery(payload, endpoint.settings.timezone)
    assert endpoint.journal is not None
    return endpoint.journal.received(delivery, endpoint=endpoint.config_prefix, queued=True), delivery


def outcome(endpoint: Endpoint, record_id: str, statuses: list[Outcome], error: str | None) -> None:
    assert endpoint.journal is not None
    outcomes = [EventOutcome(i, "closedChat", status) for i, status in enumerate(statuses)]
    endpoint.journal.outcome(record_id, outcomes, error)


def kinds(endpoint: Endpoint, record_id: str) -> list[str]:
    import json

    assert endpoint.journal is not None
    lines = [json.loads(line) for path in endpoint.journal.directory.glob("*.jsonl") for line in path.open()]
    return [record["kind"] for record in lines if record["id"] == record_id]


def test_a_queued_delivery_with_no_news_is_queued_again_after_the_grace_period_and_not_before(clock, endpoint) -> None:
    record_id, delivery = queued(endpoint, events=2)
    recovery, requeued = recovery_of(endpoint, clock)

    clock.advance(AFTER - 1)
    assert recovery.scan() == []
    clock.advance(2)
    assert recovery.scan() == [record_id]

    [(raw, only, requeued_id)] = requeued
    assert (only, requeued_id) == ([0, 1], record_id)
    assert raw["messages"] == delivery.raw["messages"] and raw["token"] != TOKEN  # as journaled: masked
    assert kinds(endpoint, record_id) == ["received", RECOVERED]


def test_only_the_events_not_done_are_queued_again(clock, endpoint) -> None:
    record_id, _ = queued(endpoint, events=3)
    outcome(endpoint, record_id, [Outcome.OK, Outcome.FAILED], "RuntimeError: the CRM is down")
    recovery, requeued = recovery_of(endpoint, clock)

    clock.advance(AFTER + 1)
    recovery.scan()

    assert [only for _, only, _ in requeued] == [[1, 2]]


def test_a_delivery_that_may_be_waiting_in_a_backlog_is_left_until_the_queue_has_moved_past_it(clock, endpoint) -> None:
    head, _ = queued(endpoint)
    clock.advance(1)
    waiting, _ = queued(endpoint)
    clock.advance(1)
    behind, _ = queued(endpoint)
    recovery, _requeued = recovery_of(endpoint, clock)
    clock.advance(AFTER + 1)

    # Nothing ran: a backlog (or no worker). Only the head of the line may have been lost.
    assert recovery.scan() == [head]
    outcome(endpoint, head, [Outcome.OK], None)
    clock.advance(1)
    assert recovery.scan() == [waiting]  # now first in line
    outcome(endpoint, behind, [Outcome.OK], None)
    clock.advance(AFTER + 1)
    assert recovery.scan() == [waiting]  # lost again, and one queued after it has run


def test_news_in_the_journal_restarts_the_grace_period(clock, endpoint) -> None:
    record_id, _ = queued(endpoint)
    recovery, _requeued = recovery_of(endpoint, clock)
    clock.advance(AFTER - 1)
    recovery.scan()

    outcome(endpoint, record_id, [Outcome.FAILED], "RuntimeError: the CRM is down")  # news: a retry failed
    clock.advance(AFTER - 1)
    assert recovery.scan() == []
    clock.advance(2)
    assert recovery.scan() == [record_id]


@pytest.mark.parametrize(
    "end",
    [
        pytest.param("finished", id="finished"),
        pytest.param(DEAD_LETTER, id="dead-lettered"),
        pytest.param(NOT_QUEUED, id="answered-503"),
    ],
)
def test_finished_dead_lettered_and_refused_deliveries_are_left_alone(clock, endpoint, end) -> None:
    record_id, _ = queued(endpoint, events=2)
    assert endpoint.journal is not None
    if end == "finished":
        outcome(endpoint, record_id, [Outcome.OK, Outcome.DUPLICATE], None)
    else:
        outcome(endpoint, record_id, [Outcome.FAILED], "RuntimeError: the CRM is down")
        endpoint.journal.note(record_id, end, error="RuntimeError: the CRM is down")
    recovery, requeued = recovery_of(endpoint, clock)

    for _ in range(3):
        clock.advance(AFTER * 10)
        recovery.scan()

    assert requeued == []


def test_a_delivery_journaled_by_the_synchronous_mode_is_never_queued_again(clock, endpoint) -> None:
    payload = build_delivery(build_event("closedChat", id=fresh_id()), token=TOKEN)
    assert endpoint.journal is not None
    endpoint.journal.received(parse_delivery(payload, endpoint.settings.timezone), endpoint="HUGGY_")
    recovery, requeued = recovery_of(endpoint, clock)

    clock.advance(AFTER * 10)
    recovery.scan()

    assert requeued == []


def test_of_two_processes_that_see_a_delivery_stranded_only_one_queues_it_again(
    clock, endpoint, tmp_path, redis_url
) -> None:
    record_id, _ = queued(endpoint)
    other = get_endpoint(make_app(tmp_path / "journal", redis_url))  # another process: its own stores
    first, first_queued = recovery_of(endpoint, clock)
    second, second_queued = recovery_of(other, clock)
    clock.advance(AFTER + 1)

    # Both read the journal before either wrote its "recovered" record: the claim decides.
    first.watch.read(clock())
    assert second.scan() == [record_id]
    read = first.watch.read
    first.watch.read = lambda now: None  # type: ignore[method-assign]
    assert first.scan() == []
    first.watch.read = read  # type: ignore[method-assign]
    clock.advance(AFTER / 2)
    assert first.scan() == second.scan() == []  # both read the "recovered" record: news

    assert (len(first_queued), len(second_queued)) == (0, 1)


def test_a_delivery_lost_again_comes_back_again_after_another_grace_period(clock, endpoint) -> None:
    record_id, _ = queued(endpoint)
    recovery, _requeued = recovery_of(endpoint, clock)
    clock.advance(AFTER + 1)
    assert recovery.scan() == [record_id]

    clock.advance(AFTER - 1)
    assert recovery.scan() == []
    clock.advance(2)
    assert recovery.scan() == [record_id]
    assert kinds(endpoint, record_id) == ["received", RECOVERED, RECOVERED]


def test_a_delivery_queued_again_three_times_with_no_news_is_left_to_a_person(clock, endpoint, caplog) -> None:
    record_id, _ = queued(endpoint)
    recovery, requeued = recovery_of(endpoint, clock)

    for _ in range(5):
        clock.advance(AFTER + 1)
        recovery.scan()

    assert len(requeued) == 3
    [line] = [r.getMessage() for r in caplog.records if "still not done" in r.getMessage()]
    assert record_id in line


def test_a_broker_that_refuses_the_requeue_gives_the_claim_back_for_the_next_pass(clock, endpoint) -> None:
    record_id, _ = queued(endpoint)
    recovery, requeued = recovery_of(endpoint, clock)
    clock.advance(AFTER + 1)

    requeued.broker_down = True
    assert recovery.scan() == []
    requeued.broker_down = False
    assert recovery.scan() == [record_id]
    assert kinds(endpoint, record_id) == ["received", RECOVERED]


def test_a_store_that_is_down_postpones_the_recovery(clock, endpoint, tmp_path) -> None:
    record_id, _ = queued(endpoint)
    recovery, _requeued = recovery_of(endpoint, clock)
    clock.advance(AFTER + 1)
    assert endpoint.dedup is not None
    store = endpoint.dedup.store
    working = store.client
    store.client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        assert recovery.scan() == []
    finally:
        store.client = working

    assert recovery.scan() == [record_id]


def test_each_pass_reads_only_what_the_files_gained_and_waits_for_a_whole_line(clock, endpoint) -> None:
    record_id, _ = queued(endpoint)
    recovery, requeued = recovery_of(endpoint, clock)
    recovery.scan()
    assert endpoint.journal is not None
    path = endpoint.journal.path
    size = path.stat().st_size

    # The worker's outcome, its first half written when a pass reads the file.
    outcome(endpoint, record_id, [Outcome.OK], None)
    whole = path.read_bytes()
    path.write_bytes(whole[: size + 20])
    recovery.scan()
    path.write_bytes(whole)
    clock.advance(AFTER * 10)

    assert recovery.scan() == []  # the outcome was read whole: the delivery is done
    assert requeued == []


def test_files_not_written_to_within_the_dedup_ttl_are_not_read(clock, endpoint) -> None:
    queued(endpoint)
    assert endpoint.journal is not None
    path = endpoint.journal.path
    ttl = endpoint.settings.dedup_ttl
    old = clock.now.timestamp() - ttl - 60  # beyond the done marks: running it again could run it twice
    os.utime(path, (old, old))
    recovery, requeued = recovery_of(endpoint, clock)

    clock.advance(AFTER + 1)
    recovery.scan()

    assert requeued == []


def test_a_recovery_is_logged_and_signalled(clock, endpoint, caplog) -> None:
    record_id, delivery = queued(endpoint, events=2)
    outcome(endpoint, record_id, [Outcome.OK, Outcome.FAILED], "RuntimeError: the CRM is down")
    recovery, _ = recovery_of(endpoint, clock)
    sent: list[dict[str, Any]] = []
    signals.delivery_recovered.connect(lambda sender, **kwargs: sent.append(kwargs), sender=endpoint.app, weak=False)
    clock.advance(AFTER + 1)

    with caplog.at_level(logging.WARNING, logger="flask_huggy"):
        recovery.scan()

    [kwargs] = sent
    assert sorted(kwargs) == ["delivery", "events", "record_id"]
    assert kwargs["record_id"] == record_id
    assert [e.raw for e in kwargs["events"]] == [delivery.events[1].raw]
    assert kwargs["delivery"].token == TOKEN  # receivers get it whole, as in every other signal
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Recovered a stranded")]
    assert record_id in line and "#1 closedChat not done" in line


@pytest.mark.parametrize(
    ("config", "allowed"),
    [
        pytest.param({}, True, id="redis-and-journal"),
        pytest.param({"HUGGY_DEDUP": "memory"}, False, id="memory-store"),
        pytest.param({"HUGGY_DEDUP": False}, False, id="no-store"),
        pytest.param({"HUGGY_JOURNAL": None}, False, id="no-journal"),
        pytest.param({"HUGGY_RECOVER_AFTER": 0}, False, id="switched-off"),
    ],
)
def test_recovery_needs_a_journal_and_a_store_every_process_shares(tmp_path, redis_url, config, allowed) -> None:
    app = make_app(tmp_path / "journal", redis_url)
    app2 = Flask("other")
    app2.config.update({**app.config, **config})
    flask_huggy.Huggy(app2)

    assert can_recover(get_endpoint(app2)) is allowed
