"""``Huggy(app, celery=celery)``: the webhook enqueues, a real Celery worker runs the receivers.

A module fixture starts a real redis-server (the broker, and the de-duplication
store) and a real prefork ``celery worker`` process on ``tests/celery_app.py``;
nothing runs eagerly but the tests of an eager Celery, at the end. The webhook
is the app's test client in this process; the receivers run in the worker and
report through Redis (see ``tests/celery_app.py``), so the tests poll Redis
until what they expect is there, with a deadline.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from celery.signals import before_task_publish
from flask import Flask

import flask_huggy
import flask_huggy.celery
from flask_huggy import signals
from flask_huggy.auth import mask_token
from flask_huggy.celery import TASK_NAME, CeleryQueue, retry_countdown, task_name
from flask_huggy.cli import cli
from flask_huggy.config import read_settings
from flask_huggy.dedup import event_key
from flask_huggy.endpoint import get_endpoint
from flask_huggy.errors import ConfigError
from flask_huggy.safelog import printable
from flask_huggy.testing import SignalRecorder, build_delivery, build_event, fresh_id

from . import conftest
from .celery_app import BROKER_ENV, JOURNAL_ENV, RECOVER_AFTER, TOKEN, create_app, describe
from .processes import free_port, stop
from .redis_server import redis_server, running_redis

REPO_ROOT = Path(__file__).resolve().parent.parent
#: What precedes the delivery at the end of a dead-letter line.
DELIVERY_MARK = "the delivery: "
#: Seconds the worker may take to start, and a test to see its receivers' effect.
WORKER_START_TIMEOUT = 60.0
DEADLINE = 20.0


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    pid: int
    #: Its journal: it recovers the stranded deliveries of ``HUGGY_*`` journaled there.
    journal: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    with running_redis() as url:
        yield url


@pytest.fixture(scope="module")
def store(broker_url: str) -> redis.Redis:
    """The Redis the worker's receivers report to (the broker's server)."""
    return redis.Redis.from_url(broker_url, decode_responses=True)


@pytest.fixture(scope="module")
def worker(broker_url: str, store: redis.Redis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A real prefork ``celery worker`` on tests/celery_app.py, consuming from ``broker_url``.

    Prefork, as deployed: its main process hands each task to a pool process
    through billiard's pipes, which is where a deep message used to kill it.
    """
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    journal = tmp_path_factory.mktemp("celery-journal")
    env = {**os.environ, BROKER_ENV: broker_url, JOURNAL_ENV: str(journal)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [
        sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker",
        "--pool=prefork", "--concurrency=1", "--loglevel=INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--hostname", f"huggy-test-{uuid.uuid4().hex[:8]}@%h",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while (pid := store.get("test:worker")) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)
        yield Worker(process, log, int(pid), journal)
    finally:
        stop(process)


@pytest.fixture
def web(broker_url: str, worker: Worker) -> Flask:
    """The web side: the same app, in this process, enqueueing into the worker's broker."""
    return create_app(broker_url)


@pytest.fixture
def published() -> Iterator[list[dict[str, Any]]]:
    """Every task message this process publishes during the test (Celery's before_task_publish)."""
    messages: list[dict[str, Any]] = []

    def record(sender: str | None = None, body: Any = None, headers: Any = None, **extra: Any) -> None:
        messages.append({"task": sender, "body": body, "headers": headers})

    before_task_publish.connect(record, weak=False)
    yield messages
    before_task_publish.disconnect(record)


def wait_for(condition: Callable[[], Any], what: str, worker: Worker | None = None) -> Any:
    deadline = time.monotonic() + DEADLINE
    while not (result := condition()):
        if time.monotonic() > deadline:
            tail = f"\nworker log:\n{worker.log_text()[-3000:]}" if worker is not None else ""
            pytest.fail(f"timed out waiting for {what}{tail}")
        time.sleep(0.02)
    return result


def closed_chats(*ids: int) -> dict[str, Any]:
    """A delivery of one closedChat per id (fresh ids keep the tests apart in Redis)."""
    return build_delivery(*(build_event("closedChat", id=i) for i in ids), token=TOKEN)


def post(app: Flask, delivery: Any, url: str = "/huggy/webhook") -> Any:
    body = delivery if isinstance(delivery, (bytes, str)) else json.dumps(delivery)
    return app.test_client().post(url, data=body, content_type="application/json")


def signal_names(store: redis.Redis, delivery_id: int) -> list[str]:
    return [json.loads(item)["signal"] for item in store.lrange(f"test:signals:{delivery_id}", 0, -1)]


# --- Handled by the worker ---------------------------------------------------------------


def test_a_posted_delivery_is_answered_at_once_and_handled_by_the_worker(web, worker, store) -> None:
    chat = fresh_id()

    response = post(web, closed_chats(chat))

    assert response.status_code == 200
    assert response.get_json() == {"status": "queued", "events": 1}
    wait_for(lambda: store.hget("test:handled", f"closedChat:{chat}") == "1", "the worker's receiver", worker)
    assert int(store.hget("test:pid", f"closedChat:{chat}")) == worker.pid != os.getpid()


def test_the_worker_sends_the_same_signals_with_the_same_objects_as_the_sync_mode(web, worker, store) -> None:
    delivery = build_delivery("startedChat", "receivedMessage", "closedChat", token=TOKEN)
    first_id = delivery["messages"]["startedChat"][0]["id"]
    sync_app = conftest.create_app()

    with SignalRecorder(sender=sync_app) as recorded:
        assert post(sync_app, delivery).status_code == 200
    assert post(web, delivery).status_code == 200

    expected = [json.loads(json.dumps(describe(call.name, call.kwargs))) for call in recorded.calls]
    in_worker = wait_for(
        lambda: (items := store.lrange(f"test:signals:{first_id}", 0, -1)) and len(items) >= len(expected) and items,
        "the worker's signals",
        worker,
    )
    calls = [json.loads(item) for item in in_worker]
    assert {call.pop("pid") for call in calls} == {worker.pid}
    assert calls == expected
    assert [call["signal"] for call in expected] == [
        "startedChat", "huggy.event_received", "receivedMessage", "huggy.event_received",
        "closedChat", "huggy.event_received", "huggy.delivery_received",
    ]  # fmt: skip
    assert expected[0]["delivery"]["token"] == TOKEN  # restored in the worker, though the broker held it masked


# --- Retries, duplicates, dead letters ---------------------------------------------------


def test_a_failing_receiver_is_retried_and_succeeds_once(web, worker, store) -> None:
    chat = fresh_id()
    key = f"closedChat:{chat}"
    store.set(f"test:fail:{key}", 2)

    assert post(web, closed_chats(chat)).status_code == 200

    wait_for(lambda: store.hget("test:handled", key) == "1", "the retried receiver to succeed", worker)
    assert store.hget("test:attempts", key) == "3"
    assert signal_names(store, chat).count("huggy.receiver_failed") == 2
    time.sleep(0.3)  # longer than the largest backoff: no further attempt comes
    assert store.hget("test:handled", key) == "1"


def test_without_dedup_a_retry_reruns_only_the_events_that_failed(web, worker, store) -> None:
    first, second, third = fresh_id(), fresh_id(), fresh_id()
    store.set(f"test:fail:closedChat:{second}", 1)

    assert post(web, closed_chats(first, second, third), url="/huggy-b/webhook").status_code == 200

    wait_for(lambda: store.hget("test:handled", f"closedChat:{third}") == "1", "the retry", worker)
    attempts = [store.hget("test:attempts", f"closedChat:{i}") for i in (first, second, third)]
    handled = [store.hget("test:handled", f"closedChat:{i}") for i in (first, second, third)]
    assert attempts == ["1", "2", "1"]
    assert handled == ["1", "1", "1"]


def test_a_failing_delivery_received_receiver_is_retried_without_rerunning_the_events(web, worker, store) -> None:
    chat = fresh_id()
    store.set(f"test:fail:delivery:{chat}", 1)

    assert post(web, closed_chats(chat), url="/huggy-b/webhook").status_code == 200

    wait_for(lambda: store.hget("test:delivered", chat) == "1", "the retried delivery_received", worker)
    assert store.hget("test:attempts", f"closedChat:{chat}") == "1"
    assert signal_names(store, chat).count("huggy.receiver_failed") == 1


def test_a_duplicate_delivery_is_handled_once(web, worker, store) -> None:
    chat = fresh_id()
    delivery = closed_chats(chat)

    assert post(web, delivery).status_code == 200
    assert post(web, delivery).status_code == 200  # Huggy's retry after a timeout on its side

    wait_for(lambda: signal_names(store, chat).count("huggy.delivery_received") == 2, "both tasks", worker)
    assert store.hget("test:handled", f"closedChat:{chat}") == "1"
    assert int(store.hget("test:pid", f"closedChat:{chat}")) == worker.pid
    last = json.loads(store.lindex(f"test:signals:{chat}", -1))
    assert last["signal"] == "huggy.delivery_received"


def test_an_event_another_worker_holds_waits_for_its_lease_without_using_up_retries(web, worker, store) -> None:
    chat = fresh_id()
    delivery = closed_chats(chat)
    parsed = flask_huggy.envelope.parse_delivery(delivery, read_settings({}).timezone)
    # Another worker claimed the event 1 s ago and is still on it: its lease ends in 1 s,
    # longer than the whole retry budget (2 retries of at most 0.2 s).
    store.set("huggy:dedup:" + event_key(parsed.events[0], parsed, 0), "another-worker", px=1000)

    assert post(web, delivery).status_code == 200

    wait_for(lambda: store.hget("test:handled", f"closedChat:{chat}") == "1", "the event after the lease", worker)
    assert store.hget("test:attempts", f"closedChat:{chat}") == "1"
    assert store.llen(f"test:dead:{chat}") == 0


def test_exhausted_retries_dead_letter_the_delivery_and_its_log_line_replays(web, worker, store, tmp_path) -> None:
    chat = fresh_id()
    key = f"closedChat:{chat}"
    store.set(f"test:fail:{key}", 99)

    assert post(web, closed_chats(chat)).status_code == 200

    dead = json.loads(wait_for(lambda: store.lindex(f"test:dead:{chat}", 0), "the dead letter", worker))
    assert dead == {"events": [key], "exception": "RuntimeError", "error": None, "pid": worker.pid}
    assert store.hget("test:attempts", key) == "3"  # the first attempt and HUGGY_CELERY_MAX_RETRIES = 2
    line = wait_for(
        lambda: next(
            (line for line in worker.log_text().splitlines() if "Dead-lettered" in line and str(chat) in line), None
        ),
        "the log line",
        worker,
    )
    assert " ERROR" in line
    assert "after 3 attempt(s): closedChat #0 raised RuntimeError; not handled: #0 closedChat." in line
    assert TOKEN not in line and mask_token(TOKEN) not in line

    # Without a journal, the line ends with the delivery: once the CRM is back, replay it as a JSON line.
    replay_file = tmp_path / "dead.jsonl"
    replay_file.write_text(line[line.index(DELIVERY_MARK) + len(DELIVERY_MARK) :] + "\n", encoding="utf-8")
    store.delete(f"test:fail:{key}")
    result = web.test_cli_runner().invoke(cli, ["replay", str(replay_file)])

    assert result.exit_code == 0, result.output
    assert "Sent 1, accepted 1, refused 0." in result.output
    wait_for(lambda: store.hget("test:handled", key) == "1", "the replayed delivery", worker)


# --- What the webhook refuses is never enqueued ------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (closed_chats(1) | {"token": "not-the-token"}, 403, "invalid_token"),
        ({k: v for k, v in closed_chats(1).items() if k != "token"}, 403, "missing_token"),
        (b"{not json", 400, "invalid_json"),
        ({"time": 1, "messages": ["closedChat"], "token": TOKEN}, 400, "invalid_envelope"),
    ],
    ids=["wrong-token", "no-token", "bad-json", "not-a-delivery"],
)
def test_a_refused_request_enqueues_nothing(web, published, body, status, code) -> None:
    response = post(web, body)

    assert response.status_code == status
    assert response.get_json()["error"] == code
    assert published == []


def test_in_strict_mode_an_invalid_event_is_refused_at_the_webhook_and_not_enqueued(
    broker_url, worker, published
) -> None:
    app = create_app(broker_url, HUGGY_STRICT=True)
    delivery = build_delivery(build_event("closedChat", id="not-a-number"), token=TOKEN)

    response = post(app, delivery)

    assert response.status_code == 422
    assert response.get_json()["error"] == "invalid_event"
    assert published == []


def test_the_broker_gets_one_json_task_per_delivery_with_the_token_masked(web, published) -> None:
    delivery = closed_chats(fresh_id(), fresh_id())

    assert post(web, delivery).status_code == 200

    assert [message["task"] for message in published] == [TASK_NAME]
    args, kwargs, _ = published[0]["body"]
    assert [type(arg) for arg in args] == [str, str]  # one JSON string: nothing nested for the worker to pickle
    assert json.loads(args[0]) == {**delivery, "token": mask_token(TOKEN)}
    assert args[1] == "huggy"
    assert kwargs == {}
    # What Celery's events and Flower show of the task: no contents of the delivery.
    assert published[0]["headers"]["argsrepr"] == "(<Huggy delivery of huggy: {'closedChat': 2}>, 'huggy')"


def test_the_second_endpoint_publishes_its_own_task(web, published) -> None:
    assert post(web, closed_chats(fresh_id()), url="/huggy-b/webhook").status_code == 200

    assert [message["task"] for message in published] == [task_name("huggy_b")]
    assert published[0]["body"][0][1] == "huggy_b"


def test_a_journaled_delivery_is_on_disk_before_it_is_queued_and_a_task_the_broker_loses_is_replayed(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal"
    with running_redis() as url:  # a broker with no worker: the task stays in the queue
        app = create_app(url, HUGGY_JOURNAL=str(journal))
        chat = fresh_id()
        delivery = closed_chats(chat)  # built once: its events carry the time they were built at

        assert post(app, delivery).get_json() == {"status": "queued", "events": 1}

        [written] = [json.loads(line) for path in journal.glob("*.jsonl") for line in path.read_text().splitlines()]
        assert written["kind"] == "received" and written["delivery"]["messages"] == delivery["messages"]
        broker = redis.Redis.from_url(url)
        [message] = broker.lrange("celery", 0, -1)
        _, kwargs, _ = json.loads(base64.b64decode(json.loads(message)["body"]))
        assert kwargs == {"record_id": written["id"]}  # the worker's outcomes go under the webhook's record

        broker.delete("celery")  # the broker crashed as a worker took the task: it is gone
        replay = app.test_cli_runner().invoke(cli, ["replay", "--failed", str(journal)])

        assert "1 event(s) re-run, 1 succeeded" in replay.output, replay.output
        assert broker.hgetall("test:handled") == {f"closedChat:{chat}".encode(): b"1"}


def journal_records(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in directory.glob("*.jsonl") for line in path.read_text().splitlines()]


def test_a_task_the_broker_lost_comes_back_by_itself_and_a_dead_letter_does_not(worker, store, broker_url) -> None:
    # Web processes that journal where the worker does, and leave the recovery to it.
    config = {"HUGGY_JOURNAL": str(worker.journal), "HUGGY_RECOVER_AFTER": None}
    web = create_app(broker_url, **config)
    dead, lost = fresh_id(), fresh_id()
    store.set(f"test:fail:closedChat:{dead}", 99)

    assert post(web, closed_chats(dead)).status_code == 200
    wait_for(lambda: store.llen(f"test:dead:{dead}"), "the dead letter", worker)
    # A web process whose task the broker takes, then loses: parked in a queue no worker reads, then gone.
    losing = create_app(broker_url, **config)
    losing.extensions["celery"].conf.task_routes = {TASK_NAME: {"queue": "parked"}}
    assert post(losing, closed_chats(lost)).get_json() == {"status": "queued", "events": 1}
    broker = redis.Redis.from_url(broker_url)
    assert broker.llen("parked") == 1
    broker.delete("parked")

    wait_for(lambda: store.hget("test:handled", f"closedChat:{lost}"), "the lost delivery to come back", worker)
    [lost_id] = [
        r["id"]
        for r in journal_records(worker.journal)
        if r["kind"] == "received" and str(lost) in json.dumps(r["delivery"])
    ]
    # Written by three processes: the records of one file are in order, the files are not. The
    # receiver marks the event handled before the worker journals its outcome, and the recovery
    # notes "recovered" after it queued the task again, which a worker may run first.
    wait_for(
        lambda: {"outcome", "recovered"} <= {r["kind"] for r in journal_records(worker.journal) if r["id"] == lost_id},
        "the lost delivery's outcome and recovered records",
        worker,
    )
    wait_for(lambda: "Recovered a stranded Huggy delivery" in worker.log_text(), "the recovery's log line", worker)

    records = journal_records(worker.journal)
    [dead_id] = [r["id"] for r in records if r["kind"] == "received" and str(dead) in json.dumps(r["delivery"])]
    # On a loaded machine the task queued again may take longer than RECOVER_AFTER to report, and
    # is then queued once more: de-duplication runs it once all the same (checked below).
    kinds = sorted(r["kind"] for r in records if r["id"] == lost_id)
    assert kinds.count("received") == 1 and set(kinds) == {"outcome", "received", "recovered"}, kinds
    # The dead letter went quiet before the lost task did, for longer than RECOVER_AFTER: it stays dead.
    assert sorted(r["kind"] for r in records if r["id"] == dead_id) == ["dead_letter", *["outcome"] * 3, "received"]
    assert store.hget("test:attempts", f"closedChat:{dead}") == "3"
    assert store.hget("test:handled", f"closedChat:{lost}") == "1"
    assert RECOVER_AFTER < DEADLINE / 4  # the wait above leaves the worker time for several passes


# --- Broker down -------------------------------------------------------------------------


def test_a_broker_that_refuses_connections_gets_a_fast_503_and_nothing_runs() -> None:
    app = create_app(f"redis://127.0.0.1:{free_port()}/0")

    with SignalRecorder(sender=app) as recorded:
        response = post(app, closed_chats(fresh_id()))

    assert response.status_code == 503
    assert response.get_json()["error"] == "queue_unavailable"
    assert recorded.names() == ["huggy.delivery_refused"]  # nothing ran


def test_a_delivery_answered_503_is_journaled_as_not_queued_so_that_only_huggy_retries_it(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    app = create_app(f"redis://127.0.0.1:{free_port()}/0", HUGGY_JOURNAL=str(journal), HUGGY_DEDUP=False)

    assert post(app, closed_chats(fresh_id())).status_code == 503

    received, refused = journal_records(journal)
    assert (received["kind"], received["queued"]) == ("received", True)
    assert (refused["kind"], refused["id"], refused["error"]) == ("not_queued", received["id"], "queue_unavailable")


def test_a_broker_that_never_answers_gets_a_503_within_the_enqueue_timeout() -> None:
    with socket.socket() as silent:  # accepts connections, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        app = create_app(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", HUGGY_CELERY_ENQUEUE_TIMEOUT=0.5)

        response = post(app, closed_chats(fresh_id()))  # without the timeout, it would wait forever

    assert response.status_code == 503
    assert response.get_json()["error"] == "queue_unavailable"


def test_a_broker_that_hangs_under_a_pooled_connection_is_waited_on_once_not_three_times() -> None:
    """The first publish after the broker hung used to wait three timeouts (issue 13: 6 s, not 2 s).

    The web process's pooled connection is healthy, then Redis freezes: the publish
    times out, and kombu's publish retry reconnected twice, each new connection
    waiting a whole timeout for Redis's answer to its handshake. Every connection
    opened to the frozen Redis is one more timeout the request waited, so the test
    counts them, once Redis runs again: none may be opened after a publish that
    used up the timeout. The count is what the fix changes, not a speed; the
    elapsed time is only reported.
    """
    with redis_server() as server:
        app = create_app(server.url, HUGGY_CELERY_ENQUEUE_TIMEOUT=0.5)
        assert post(app, closed_chats(fresh_id())).status_code == 200  # the pool now holds a live connection
        before = server.connections_received()
        with server.hung():
            started = time.monotonic()
            response = post(app, closed_chats(fresh_id()))
            elapsed = time.monotonic() - started
        opened = server.connections_received() - before - 1  # the count's own connection

    assert response.status_code == 503
    assert response.get_json()["error"] == "queue_unavailable"
    assert opened == 0, f"{opened} connection(s) opened to the hung broker; 503 after {elapsed:.2f} s"


def test_the_webhook_enqueues_again_once_the_broker_is_back() -> None:
    with redis_server() as server:
        app = create_app(server.url)
        assert post(app, closed_chats(fresh_id())).status_code == 200
        server.kill()
        assert post(app, closed_chats(fresh_id())).status_code == 503
        server.start()  # empty: it kept nothing
        delivery = closed_chats(fresh_id())
        assert post(app, delivery).status_code == 200  # the pooled connection died with the broker

        message = json.loads(redis.Redis.from_url(server.url).lindex("celery", 0))
    assert message["content-type"] == "application/json"
    assert message["headers"]["task"] == TASK_NAME
    args, _, _ = json.loads(base64.b64decode(message["body"]))
    assert json.loads(args[0])["messages"] == delivery["messages"]
    assert TOKEN not in json.dumps(message)


# --- Deep and forged messages (issue 21, points 1 and 4) ---------------------------------

#: Deeper than any webhook accepts (MAX_DEPTH), and deep enough that pickling it nested
#: between a prefork worker's processes raised RecursionError in the worker's main process.
DEEP = 700
#: An event name that, written raw, clears the terminal and forges a CRITICAL line.
FORGED = "forged\x1b[2J\nCRITICAL celery.worker: the database is gone"


def deep_delivery_text(chat: int, token: str = TOKEN) -> str:
    """A closedChat whose ``deep`` field nests :data:`DEEP` objects, as JSON text (built as text: no recursion)."""
    nested = '{"a":' * DEEP + "1" + "}" * DEEP
    return json.dumps(closed_chats(chat) | {"token": token}).replace(f'"id": {chat}', f'"id": {chat}, "deep": {nested}')


def test_a_deep_delivery_is_refused_at_the_webhook_and_never_queued(web, published) -> None:
    response = post(web, deep_delivery_text(fresh_id()))

    assert response.status_code == 400
    assert response.get_json()["error"] == "too_deep"
    assert published == []


def test_a_deep_message_published_to_the_broker_is_dead_lettered_and_the_worker_runs_the_tasks_behind_it(
    web, worker, store
) -> None:
    """Issue 21, point 1: a deep task killed the prefork worker, and every restart, on the message it restored.

    Published straight to the broker, as an old webhook, another app or anyone
    with the broker's address can: as the task's JSON string (what the webhook
    queues) and as a nested object (what the webhook used to queue). Neither
    may kill the worker or come back: both are dead-lettered and acknowledged,
    and the deliveries queued behind them run.
    """
    celery: Celery = web.extensions["celery"]
    deep_text = deep_delivery_text(fresh_id(), token=mask_token(TOKEN))
    celery.send_task(task_name(), args=[deep_text, "huggy"])
    celery.send_task(task_name(), args=[json.loads(deep_text), "huggy"])  # the old shape: a nested object
    celery.send_task(task_name("huggy_b"), args=[deep_text, "huggy_b"])
    behind = fresh_id(), fresh_id()

    assert post(web, closed_chats(behind[0])).status_code == 200
    assert post(web, closed_chats(behind[1]), url="/huggy-b/webhook").status_code == 200

    for chat in behind:
        wait_for(lambda chat=chat: store.hget("test:handled", f"closedChat:{chat}") == "1", "the tasks behind", worker)
    dead = [json.loads(item) for item in store.lrange("test:dead:undecodable", 0, -1)]
    # The nested object is refused in the worker's main process, before Celery pickles it for the pool.
    assert [d["error"] for d in dead] == ["too_deep", "too_deep", "too_deep"]
    assert {(d["exception"], d["pid"], tuple(d["events"])) for d in dead} == {("DeliveryRejected", worker.pid, ())}
    assert worker.process.poll() is None  # the same worker, alive: it never died
    assert int(store.get("test:worker")) == worker.pid
    assert "Unrecoverable error" not in worker.log_text()
    # Acknowledged, not restored: nothing is left for the next worker to die on.
    wait_for(lambda: store.llen("celery") == 0 and store.hlen("unacked") == 0, "an empty queue", worker)
    log = worker.log_text().splitlines()
    assert len([line for line in log if "Dead-lettered" in line and "decoding the message" in line]) == 3


def test_a_forged_event_name_in_a_dead_letter_is_one_escaped_log_line(web, worker, store) -> None:
    """Issue 21, point 4: the worker's dead-letter line wrote event names raw, so a name forged log lines."""
    chat = fresh_id()
    store.set(f"test:fail:{FORGED}:{chat}", 99)
    delivery = {"time": int(time.time()), "messages": {FORGED: [{"id": chat}]}, "token": TOKEN}

    assert post(web, delivery, url="/huggy-b/webhook").get_json() == {"status": "queued", "events": 1}

    wait_for(lambda: store.llen(f"test:dead:{chat}") == 1, "the dead letter", worker)
    log = wait_for(lambda: "Dead-lettered" in (text := worker.log_text()) and str(chat) in text and text, "the line")
    [line] = [line for line in log.splitlines() if "Dead-lettered" in line and str(chat) in line]
    escaped = printable(FORGED, 80)
    assert f"{escaped} #0 raised RuntimeError; not handled: #0 {escaped}." in line
    assert json.loads(line[line.index(DELIVERY_MARK) + len(DELIVERY_MARK) :])["messages"] == delivery["messages"]
    assert "\x1b" not in log
    assert not [line for line in log.splitlines() if line.startswith("CRITICAL")]


# --- Eager Celery (a user's test suite) --------------------------------------------------


def celery_app_of(celery: Celery, **config: Any) -> Flask:
    """An app with one endpoint given ``celery``, as a user's app factory builds it."""
    app = Flask(__name__)
    app.config.update(TESTING=True, HUGGY_WEBHOOK_TOKEN=TOKEN, HUGGY_CELERY_RETRY_BACKOFF=0, **config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    flask_huggy.Huggy(app, celery=celery)
    return app


def eager_app(**config: Any) -> Flask:
    celery = Celery("eager", broker="memory://")
    celery.conf.update(task_always_eager=True)
    return celery_app_of(celery, **config)


def queue_of(app: Flask, name: str = "huggy") -> CeleryQueue:
    queue = get_endpoint(app, name).queue
    assert isinstance(queue, CeleryQueue)
    return queue


def test_with_an_eager_celery_the_receivers_run_in_the_request_without_a_broker() -> None:
    app = eager_app()
    delivery = closed_chats(fresh_id())

    with SignalRecorder(sender=app) as recorded:
        response = post(app, delivery)

    assert response.get_json() == {"status": "queued", "events": 1}
    assert recorded.names() == ["closedChat", "huggy.event_received", "huggy.delivery_received"]
    assert recorded.deliveries()[0].token == TOKEN


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("{not json", "invalid_json", id="not-json"),
        pytest.param(deep_delivery_text(1, token=mask_token(TOKEN)), "too_deep", id="too-deep"),
        pytest.param(json.loads(deep_delivery_text(1, token=mask_token(TOKEN))), "invalid_task", id="nested-object"),
        pytest.param(json.dumps({"time": 1, "messages": ["closedChat"]}), "invalid_envelope", id="not-a-delivery"),
    ],
)
def test_a_message_the_worker_cannot_decode_is_dead_lettered_at_once_and_acknowledged(caplog, body, error) -> None:
    app = eager_app(HUGGY_CELERY_MAX_RETRIES=5)
    dead: list[dict[str, Any]] = []
    signals.delivery_dead_lettered.connect(lambda sender, **kwargs: dead.append(kwargs), sender=app, weak=False)

    result = queue_of(app).task.apply(args=[body, "huggy"])

    assert result.successful()  # returned: Celery acknowledges the message, and never restores it
    assert result.result == {"events": 0, "invalid": 0, "duplicates": 0}
    assert [(d["delivery"], d["events"], d["exception"].error) for d in dead] == [(None, [], error)]
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Dead-lettered")]
    assert "after 1 attempt(s): decoding the message (" in line  # no retry: it would fail the same way
    assert "; not handled: all." in line
    assert "\n" not in line


def test_on_an_eager_celery_a_forged_event_name_is_escaped_in_the_dead_letter_line(caplog) -> None:
    app = eager_app(HUGGY_CELERY_MAX_RETRIES=0)

    def crm_down(sender: Flask, **extra: Any) -> None:
        raise RuntimeError("the CRM is down")

    signals.event_received.connect(crm_down, sender=app, weak=False)
    delivery = {"time": int(time.time()), "messages": {FORGED: [{"id": fresh_id()}]}, "token": TOKEN}

    post(app, delivery)

    [record] = [r for r in caplog.records if r.getMessage().startswith("Dead-lettered")]
    line = logging.Formatter("%(levelname)s %(name)s %(message)s").format(record)
    escaped = printable(FORGED, 80)
    assert f"{escaped} #0 raised RuntimeError; not handled: #0 {escaped}." in line
    assert "\n" not in line and "\x1b" not in line


def test_the_worker_journals_every_attempt_and_replay_failed_brings_a_dead_letter_back(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    app = eager_app(HUGGY_JOURNAL=str(journal), HUGGY_CELERY_MAX_RETRIES=1)
    crm = {"up": False, "archived": []}

    def archive(sender: Flask, event: flask_huggy.Event, **extra: Any) -> None:
        if not crm["up"]:
            raise RuntimeError("the CRM is down")
        crm["archived"].append(event.data["id"])

    signals.closed_chat.connect(archive, sender=app, weak=False)
    chat = fresh_id()

    assert post(app, closed_chats(chat)).get_json() == {"status": "queued", "events": 1}

    written = [json.loads(line) for path in journal.glob("*.jsonl") for line in path.read_text().splitlines()]
    # One record, two attempts, then given up on: the recovery leaves it to a person.
    assert [r["kind"] for r in written] == ["received", "outcome", "outcome", "dead_letter"]
    assert len({r["id"] for r in written}) == 1
    assert [r["events"][0]["status"] for r in written[1:3]] == ["failed", "failed"]

    crm["up"] = True
    replay = app.test_cli_runner().invoke(cli, ["replay", "--failed", str(journal)])

    assert replay.exit_code == 0, replay.output
    assert "1 event(s) re-run, 1 succeeded, 0 still failing" in replay.output
    assert crm["archived"] == [chat]
    again = app.test_cli_runner().invoke(cli, ["replay", "--failed", str(journal)])
    assert "Nothing to replay" in again.output


def test_a_retry_that_cannot_be_published_is_dead_lettered_not_dropped(tmp_path: Path, caplog) -> None:
    from celery.exceptions import Reject

    journal = tmp_path / "journal"
    celery = Celery("no-broker", broker=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    celery.conf.broker_connection_timeout = 1
    app = celery_app_of(celery, HUGGY_JOURNAL=str(journal))
    task = queue_of(app).task
    dead: list[dict[str, Any]] = []
    signals.delivery_dead_lettered.connect(lambda sender, **kw: dead.append(kw), sender=app, weak=False)

    def crm_down(sender: Flask, **extra: Any) -> None:
        raise RuntimeError("the CRM is down")

    signals.closed_chat.connect(crm_down, sender=app, weak=False)
    delivery = closed_chats(fresh_id())

    # As a worker runs it: not eagerly, so the retry must be published to the (dead) broker.
    task.push_request(id=str(uuid.uuid4()), retries=0, is_eager=False, called_directly=False, delivery_info={})
    try:
        with pytest.raises(Reject):  # Celery acknowledges the message: without a dead letter it is gone
            task.run(json.dumps({**delivery, "token": mask_token(TOKEN)}), "huggy")
    finally:
        task.pop_request()

    assert [type(d["exception"]) for d in dead] == [RuntimeError]
    assert any(r.getMessage().startswith("Dead-lettered a Huggy delivery") for r in caplog.records)
    signals.closed_chat.disconnect(crm_down, sender=app)
    replay = app.test_cli_runner().invoke(cli, ["replay", "--failed", str(journal)])
    assert "1 event(s) re-run, 1 succeeded" in replay.output, replay.output


def test_with_recovery_on_a_retry_that_cannot_be_published_is_left_to_the_recovery_not_dead_lettered(
    tmp_path: Path, caplog
) -> None:
    from celery.exceptions import Reject

    journal = tmp_path / "journal"
    celery = Celery("no-broker", broker=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    celery.conf.broker_connection_timeout = 1
    with running_redis() as dedup:
        app = celery_app_of(celery, HUGGY_JOURNAL=str(journal), HUGGY_DEDUP=dedup, HUGGY_RECOVER_AFTER=60)
        queue = queue_of(app)
        assert queue.recovery is not None
        dead: list[dict[str, Any]] = []
        signals.delivery_dead_lettered.connect(lambda sender, **kw: dead.append(kw), sender=app, weak=False)

        def crm_down(sender: Flask, **extra: Any) -> None:
            raise RuntimeError("the CRM is down")

        signals.closed_chat.connect(crm_down, sender=app, weak=False)
        delivery = closed_chats(fresh_id())
        endpoint = get_endpoint(app)
        assert endpoint.journal is not None
        record_id = endpoint.journal.received(
            flask_huggy.envelope.parse_delivery(delivery, endpoint.settings.timezone), queued=True
        )
        request = {"id": str(uuid.uuid4()), "retries": 0, "is_eager": False, "called_directly": False}
        queue.task.push_request(delivery_info={}, **request)
        try:
            with pytest.raises(Reject):
                queue.task.run(json.dumps({**delivery, "token": mask_token(TOKEN)}), "huggy", record_id=record_id)
        finally:
            queue.task.pop_request()

    assert dead == []
    assert [r["kind"] for r in journal_records(journal)] == ["received", "outcome"]  # stranded, not dead
    [line] = [r.getMessage() for r in caplog.records if "could not be published" in r.getMessage()]
    assert f"it is recovered from the journal (record {record_id}) after 60.0 s" in line


# --- One path in (issue 20, point 1) ----------------------------------------------------


def test_a_second_account_given_celery_is_queued_and_run_by_the_worker(web, worker, store, published) -> None:
    """Issue 20: init_celery(app, celery, config_prefix="HUGGY_B_") then Huggy(app, name="account_b", ...)
    made two endpoints, and every delivery a 500. Now Celery is an argument of the endpoint (tests/celery_app.py)."""
    chat = fresh_id()

    response = post(web, closed_chats(chat), url="/account-b/webhook")

    assert response.status_code == 200
    assert response.get_json() == {"status": "queued", "events": 1}
    assert [m["task"] for m in published] == [task_name("account_b")]
    wait_for(lambda: store.hget("test:handled", f"closedChat:{chat}") == "1", "the worker's receiver", worker)
    assert int(store.hget("test:pid", f"closedChat:{chat}")) == worker.pid


def test_the_app_has_exactly_the_endpoints_created_keyed_by_name(web) -> None:
    endpoints = web.extensions["huggy"]

    assert list(endpoints) == ["huggy", "huggy_b", "account_b"]
    assert [(e.name, e.config_prefix) for e in endpoints.values()] == [
        ("huggy", "HUGGY_"), ("huggy_b", "HUGGY_B_"), ("account_b", "HUGGY_B_"),
    ]  # fmt: skip
    assert [queue_of(web, name).task.name for name in endpoints] == [
        TASK_NAME, f"{TASK_NAME}.huggy_b", f"{TASK_NAME}.account_b",
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="no Huggy endpoint named 'HUGGY_B_'"):
        get_endpoint(web, "HUGGY_B_")  # a lookup creates nothing
    assert list(endpoints) == ["huggy", "huggy_b", "account_b"]


def test_celery_is_given_to_the_endpoint_and_nothing_else_sets_it_up() -> None:
    assert not hasattr(flask_huggy, "init_celery")
    assert not hasattr(flask_huggy, "HuggyCelery")
    assert not hasattr(flask_huggy.celery, "enqueue_delivery")  # type: ignore[attr-defined]


def test_without_celery_the_endpoint_runs_receivers_in_the_request() -> None:
    app = conftest.create_app()

    assert get_endpoint(app).queue is None
    assert app.test_client().post("/huggy/webhook", json=conftest.load_payload("closedChat")).status_code == 200


# --- Configuration -----------------------------------------------------------------------


def test_retries_back_off_exponentially_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    settings = read_settings({"HUGGY_CELERY_RETRY_BACKOFF": 2, "HUGGY_CELERY_RETRY_BACKOFF_MAX": 300})

    highest = [retry_countdown(settings, attempt, rand=lambda: 1.0) for attempt in range(1, 11)]
    lowest = [retry_countdown(settings, attempt, rand=lambda: 0.0) for attempt in range(1, 4)]

    assert highest == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert lowest == [1, 2, 4]


def test_each_endpoint_has_its_own_task_name() -> None:
    assert task_name() == TASK_NAME == "flask_huggy.dispatch_delivery"
    assert task_name("huggy") == TASK_NAME
    assert task_name("huggy_b") == "flask_huggy.dispatch_delivery.huggy_b"


def test_the_dead_letter_signal_is_a_library_signal() -> None:
    assert signals.delivery_dead_lettered.name == "huggy.delivery_dead_lettered"
    assert "huggy.delivery_dead_lettered" not in signals.EVENT_SIGNALS
