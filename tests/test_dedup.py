"""De-duplication: each event handled once, even when Huggy delivers it again."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from flask_huggy import signals
from flask_huggy.dedup import MemoryStore, RedisStore

from .conftest import create_app, load_payload
from .redis_server import running_redis


class Handled:
    """A receiver that records what it handled and can be told to fail."""

    def __init__(self, app: Flask) -> None:
        self.ids: list[Any] = []
        self.fail_on: set[Any] = set()
        self.failures: list[dict[str, Any]] = []
        signals.event_received.connect(self.on_event, sender=app)
        signals.receiver_failed.connect(self.on_failure, sender=app)

    def on_event(self, sender: Flask, event: Any, **extra: Any) -> None:
        key = (event.name, event.raw.get("id"))
        if key in self.fail_on:
            self.fail_on.discard(key)
            raise RuntimeError(f"CRM refused {key}")
        self.ids.append(key)

    def on_failure(self, sender: Flask, **kwargs: Any) -> None:
        self.failures.append(kwargs)


def chain() -> dict[str, Any]:
    body = load_payload("closedChat")
    event = body["messages"]["closedChat"][0]
    body["messages"]["closedChat"] = [{**event, "id": n} for n in (1, 2, 3)]
    return body


@pytest.fixture(params=["memory", "redis"])
def dedup_setting(request) -> Iterator[str]:
    if request.param == "memory":
        yield "memory"
    else:
        with running_redis() as url:
            yield url


def test_without_dedup_a_repeated_delivery_fires_again() -> None:
    app = create_app()
    handled = Handled(app)

    for _ in range(2):
        app.test_client().post("/huggy/webhook", json=chain())

    assert len(handled.ids) == 6


def test_a_repeated_delivery_is_skipped_and_reported_as_duplicates(dedup_setting) -> None:
    app = create_app(HUGGY_DEDUP=dedup_setting)
    handled = Handled(app)
    seen = []
    signals.delivery_received.connect(lambda sender, delivery, **kw: seen.append(delivery), sender=app, weak=False)

    first = app.test_client().post("/huggy/webhook", json=chain())
    second = app.test_client().post("/huggy/webhook", json=chain())

    assert first.get_json()["duplicates"] == 0
    assert second.status_code == 200
    assert second.get_json()["duplicates"] == 3
    assert handled.ids == [("closedChat", 1), ("closedChat", 2), ("closedChat", 3)]
    assert [e.duplicate for e in seen[1].events] == [True, True, True]


def test_equal_events_inside_one_delivery_both_fire(dedup_setting) -> None:
    app = create_app(HUGGY_DEDUP=dedup_setting)
    handled = Handled(app)
    body = load_payload("closedChat")
    body["messages"]["closedChat"] *= 2

    app.test_client().post("/huggy/webhook", json=body)

    assert len(handled.ids) == 2


def test_after_a_receiver_fails_the_retry_runs_only_what_did_not_succeed(dedup_setting) -> None:
    app = create_app(HUGGY_DEDUP=dedup_setting, TESTING=False)
    handled = Handled(app)
    handled.fail_on.add(("closedChat", 2))

    failed = app.test_client().post("/huggy/webhook", json=chain())
    retried = app.test_client().post("/huggy/webhook", json=chain())

    assert failed.status_code == 500
    assert retried.status_code == 200
    assert retried.get_json()["duplicates"] == 1
    assert handled.ids == [("closedChat", 1), ("closedChat", 2), ("closedChat", 3)]
    (failure,) = handled.failures
    assert failure["event"].raw["id"] == 2
    assert isinstance(failure["exception"], RuntimeError)
    assert failure["delivery"].events[1] is failure["event"]


def test_concurrent_duplicates_run_once_and_the_other_gets_a_503(dedup_setting) -> None:
    app = create_app(HUGGY_DEDUP=dedup_setting)
    entered, release = threading.Event(), threading.Event()
    runs = []

    @signals.closed_chat.connect_via(app)
    def slow(sender: Flask, event: Any, **extra: Any) -> None:
        runs.append(event.raw["id"])
        entered.set()
        release.wait(10)

    body = load_payload("closedChat")
    results: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: results.setdefault("first", app.test_client().post("/huggy/webhook", json=body))
    )
    worker.start()
    assert entered.wait(10)
    second = app.test_client().post("/huggy/webhook", json=body)
    release.set()
    worker.join(10)

    assert results["first"].status_code == 200
    assert second.status_code == 503
    assert second.get_json()["error"] == "duplicate_in_flight"
    assert runs == [30608118]
    third = app.test_client().post("/huggy/webhook", json=body)  # Huggy's retry after the 503
    assert third.get_json()["duplicates"] == 1
    assert runs == [30608118]


def test_a_custom_key_function_decides_what_counts_as_the_same_event() -> None:
    app = create_app(
        HUGGY_DEDUP="memory", HUGGY_DEDUP_KEY=lambda event, delivery, index: f"{event.name}:{event.raw.get('id')}"
    )
    handled = Handled(app)
    body = load_payload("closedChat")
    later = load_payload("closedChat") | {"time": body["time"] + 60}  # same chat, another delivery time

    app.test_client().post("/huggy/webhook", json=body)
    response = app.test_client().post("/huggy/webhook", json=later)

    assert response.get_json()["duplicates"] == 1
    assert len(handled.ids) == 1


def test_done_marks_expire_after_the_ttl(monkeypatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("flask_huggy.dedup.time.monotonic", lambda: clock[0])
    app = create_app(HUGGY_DEDUP="memory", HUGGY_DEDUP_TTL=60)
    handled = Handled(app)

    app.test_client().post("/huggy/webhook", json=load_payload("closedChat"))
    clock[0] += 59
    app.test_client().post("/huggy/webhook", json=load_payload("closedChat"))
    clock[0] += 2
    app.test_client().post("/huggy/webhook", json=load_payload("closedChat"))

    assert len(handled.ids) == 2


def test_the_memory_store_is_bounded() -> None:
    store = MemoryStore(max_entries=3)
    for key in "abcde":
        assert store.claim(key, "owner", 60) == "claimed"
        store.complete(key, "owner", 60)

    assert store.claim("a", "other", 60) == "claimed"  # evicted: the oldest go first
    assert store.claim("e", "other", 60) == "done"


def test_a_lease_left_by_a_dead_worker_expires() -> None:
    store = MemoryStore()
    assert store.claim("k", "dead-worker", lease=0.0) == "claimed"

    assert store.claim("k", "live-worker", lease=60) == "claimed"


def test_only_the_lease_owner_can_complete_or_release_it() -> None:
    store = MemoryStore()
    store.claim("k", "owner", 60)

    store.complete("k", "intruder", 60)
    store.release("k", "intruder")

    assert store.claim("k", "other", 60) == "busy"


def test_redis_down_gives_503_and_fires_nothing() -> None:
    with running_redis() as url:
        pass  # started and stopped: nothing listens on that port any more
    app = create_app(HUGGY_DEDUP=url)
    handled = Handled(app)

    response = app.test_client().post("/huggy/webhook", json=load_payload("closedChat"))

    assert response.status_code == 503
    assert response.get_json()["error"] == "dedup_unavailable"
    assert handled.ids == []


def test_two_workers_sharing_redis_handle_a_retry_once() -> None:
    with running_redis() as url:
        workers = [create_app(HUGGY_DEDUP=url), create_app(HUGGY_DEDUP=url)]
        handled = [Handled(app) for app in workers]

        for app in workers:
            app.test_client().post("/huggy/webhook", json=chain())

        assert len(handled[0].ids) == 3 and handled[1].ids == []
        keys = redis.Redis.from_url(url).keys("huggy:dedup:*")
        assert len(keys) == 3
        assert all(0 < redis.Redis.from_url(url).pttl(k) <= 24 * 3600 * 1000 for k in keys)


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_both_stores_keep_a_small_value_for_its_ttl(kind: str) -> None:
    with contextlib.ExitStack() as stack:
        store: Any = MemoryStore() if kind == "memory" else RedisStore(stack.enter_context(running_redis()))
        assert store.get("call:a") is None
        store.set("call:a", '{"answer": null}', 60)
        assert store.get("call:a") == '{"answer": null}'
        store.set("call:b", "{}", 0.05)
        time.sleep(0.1)
        assert store.get("call:b") is None


# --- One delivery's leases, taken together (issue 13, item 5) --------------------------


def hold_elsewhere(app: Flask, body: dict[str, Any], index: int) -> tuple[Any, str]:
    """Take the lease of event ``index`` of ``body`` as another worker would; return (store, key)."""
    from flask_huggy.dedup import event_key
    from flask_huggy.envelope import parse_delivery

    endpoint = app.extensions["huggy"]["huggy"]
    delivery = parse_delivery(body, endpoint.settings.timezone)
    key = event_key(delivery.events[index], delivery, index)
    store = endpoint.dedup.store
    assert store.claim(key, "another-worker", 60) == "claimed"
    return store, key


def test_an_event_in_flight_elsewhere_refuses_the_delivery_before_anything_fires(dedup_setting) -> None:
    app = create_app(HUGGY_DEDUP=dedup_setting)
    handled = Handled(app)
    store, key = hold_elsewhere(app, chain(), index=2)

    refused = app.test_client().post("/huggy/webhook", json=chain())

    assert refused.status_code == 503
    assert refused.get_json()["error"] == "duplicate_in_flight"
    assert handled.ids == []  # "nothing fired" is true: events #0 and #1 did not run either
    store.complete(key, "another-worker", 60)  # the other worker finishes event #2
    retried = app.test_client().post("/huggy/webhook", json=chain())
    assert retried.get_json()["duplicates"] == 1
    assert handled.ids == [("closedChat", 1), ("closedChat", 2)]  # no lease of the refusal was left behind


class ClaimOnlyStore:
    """A user's store with just the three methods of the protocol (no claim_all)."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.released: list[str] = []

    def claim(self, key: str, owner: str, lease: float) -> str:
        return self.inner.claim(key, owner, lease)

    def complete(self, key: str, owner: str, ttl: float) -> None:
        self.inner.complete(key, owner, ttl)

    def release(self, key: str, owner: str) -> None:
        self.released.append(key)
        self.inner.release(key, owner)


def test_a_store_without_claim_all_gets_the_same_all_or_nothing() -> None:
    store = ClaimOnlyStore()
    app = create_app(HUGGY_DEDUP=store)
    handled = Handled(app)
    _, busy_key = hold_elsewhere(app, chain(), index=1)

    assert app.test_client().post("/huggy/webhook", json=chain()).status_code == 503

    assert handled.ids == []
    assert len(store.released) == 1 and store.released[0] != busy_key  # event #0's lease, given back


def test_a_failing_receiver_gives_back_the_leases_of_the_events_it_kept_from_running(dedup_setting) -> None:
    app = create_app(HUGGY_DEDUP=dedup_setting, TESTING=False)
    handled = Handled(app)
    handled.fail_on.add(("closedChat", 1))

    assert app.test_client().post("/huggy/webhook", json=chain()).status_code == 500
    retried = app.test_client().post("/huggy/webhook", json=chain())

    assert retried.status_code == 200  # events #1 and #2 are free again, not "in flight"
    assert handled.ids == [("closedChat", 1), ("closedChat", 2), ("closedChat", 3)]


# --- A done mark the store could not take (issue 13, item 4) ---------------------------


def test_a_redis_blip_after_the_receivers_ran_never_runs_them_twice() -> None:
    from flask_huggy.dedup import RedisStore

    with running_redis() as url:
        store = RedisStore(url, timeout=0.2)  # a short timeout, so the blip below is noticed fast
        app = create_app(HUGGY_DEDUP=store)
        runs: list[int] = []
        admin = redis.Redis.from_url(url)

        @signals.closed_chat.connect_via(app)
        def blip_after_running(sender: Flask, event: Any, **extra: Any) -> None:
            runs.append(event.raw["id"])
            if len(runs) == 1:
                admin.execute_command("CLIENT", "PAUSE", 700, "ALL")  # Redis stops answering for 0.7 s

        first = app.test_client().post("/huggy/webhook", json=load_payload("closedChat"))
        assert first.status_code == 200  # the receivers ran: answering 503 would only invite a rerun
        assert app.extensions["huggy"]["huggy"].dedup.pending == 1
        admin.ping()  # answered once the pause is over: Redis is back, long before the lease (300 s) ends

        retried = app.test_client().post("/huggy/webhook", json=load_payload("closedChat"))

        assert retried.status_code == 200
        assert retried.get_json()["duplicates"] == 1
        assert runs == [30608118]
        assert app.extensions["huggy"]["huggy"].dedup.pending == 0
        assert [admin.get(key) for key in admin.keys("huggy:dedup:*")] == [b"done"]


def test_a_kept_done_mark_waits_while_the_store_is_still_down() -> None:
    from flask_huggy.dedup import Claim, Deduplicator
    from flask_huggy.errors import Unavailable

    class Flaky(MemoryStore):
        down = True

        def complete(self, key: str, owner: str, ttl: float) -> None:
            if self.down:
                raise Unavailable("down", error="dedup_unavailable")
            super().complete(key, owner, ttl)

    store = Flaky()
    dedup = Deduplicator(store, lease=60)
    assert store.claim("k", "me", 60) == "claimed"

    dedup.complete(Claim("k", "me"))
    with pytest.raises(Unavailable):
        dedup.flush()
    assert dedup.pending == 1
    store.down = False
    dedup.flush()

    assert dedup.pending == 0
    assert store.claim("k", "other", 60) == "done"


def test_a_lease_redis_could_not_take_back_is_given_back_when_it_answers_so_the_retry_runs() -> None:
    from flask_huggy.dedup import RedisStore

    with running_redis() as url:
        store = RedisStore(url, timeout=0.2)
        app = create_app(HUGGY_DEDUP=store, TESTING=False)  # lease: 300 s by default
        runs: list[int] = []
        admin = redis.Redis.from_url(url)

        @signals.closed_chat.connect_via(app)
        def fail_during_a_blip(sender: Flask, event: Any, **extra: Any) -> None:
            runs.append(event.raw["id"])
            if len(runs) == 1:
                admin.execute_command("CLIENT", "PAUSE", 700, "ALL")  # Redis stops answering for 0.7 s
                raise RuntimeError("the CRM is down")

        first = app.test_client().post("/huggy/webhook", json=load_payload("closedChat"))
        assert first.status_code == 500
        assert app.extensions["huggy"]["huggy"].dedup.pending == 1
        admin.ping()  # answered once the pause is over

        retried = app.test_client().post("/huggy/webhook", json=load_payload("closedChat"))

        # Not "duplicate_in_flight" for the rest of the lease: the kept release went first.
        assert retried.status_code == 200, retried.get_json()
        assert retried.get_json()["duplicates"] == 0
        assert runs == [30608118, 30608118]
        assert app.extensions["huggy"]["huggy"].dedup.pending == 0
        assert [admin.get(key) for key in admin.keys("huggy:dedup:*")] == [b"done"]


def test_a_claim_whose_answer_the_store_lost_is_given_back_so_the_retry_runs() -> None:
    from collections.abc import Sequence

    from flask_huggy.errors import Unavailable

    class CrashesAfterClaiming(MemoryStore):
        """Takes the leases, then "crashes" before answering, once: the leases are held by nobody who knows."""

        crashed = False

        def claim_all(self, keys: Sequence[str], owner: str, lease: float) -> list[str]:
            states = super().claim_all(keys, owner, lease)
            if not self.crashed:
                self.crashed = True
                raise Unavailable("the connection dropped before the answer came", error="dedup_unavailable")
            return states

    app = create_app(HUGGY_DEDUP=CrashesAfterClaiming(), TESTING=False)  # lease: 300 s by default
    handled = Handled(app)

    first = app.test_client().post("/huggy/webhook", json=load_payload("closedChat"))
    retried = app.test_client().post("/huggy/webhook", json=load_payload("closedChat"))

    assert first.get_json()["error"] == "dedup_unavailable"
    assert retried.status_code == 200, retried.get_json()  # not "duplicate_in_flight" for 300 s
    assert handled.ids == [("closedChat", 30608118)]
