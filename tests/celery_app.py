"""The app of the Celery tests: its webhook runs in the test process, its receivers in a real worker.

``tests/test_celery.py`` starts ``celery -A tests.celery_app worker`` with the
broker's URL in ``HUGGY_TEST_BROKER_URL``; the worker imports this module, which
then builds the app the way a user's worker module does (``celery =
create_app().extensions["celery"]``). The test process builds its own instance
with :func:`create_app` and posts to it with Flask's test client: the webhook
enqueues into the same real broker, and the worker runs the receivers. The
worker is prefork: the receivers run in a pool process, the worker's main
process only takes messages from the broker and hands them to the pool.

The receivers run in another process, so they report through Redis (the broker's
server), under keys that start with ``test:``:

``test:handled`` (hash)
    ``"<event>:<id>"`` -> how many times its receivers completed;
``test:attempts`` (hash)
    ``"<event>:<id>"`` -> how many times they were called;
``test:delivered`` (hash)
    ``"<id>"`` -> how many times the ``delivery_received`` receiver completed for the
    delivery whose first event has that id;
``test:pid`` (hash)
    ``"<event>:<id>"`` -> the pid of the worker that last ran them: the process
    that imported this module (a prefork worker's main process, whose pool
    process ran them; in the test process, the test process);
``test:fail:<event>:<id>`` (integer)
    set by a test: the receiver raises that many more times (``test:fail:delivery:<id>``:
    the ``delivery_received`` receiver, for a delivery whose first event has that id);
``test:signals:<id>`` (list)
    every signal the worker sent for the delivery whose first event has that id,
    as :func:`describe` writes it, with the ``pid`` of the process that sent it;
``test:dead:<id>`` (list)
    the ``delivery_dead_lettered`` calls for that delivery (``test:dead:undecodable``:
    for a message the worker could not decode into a delivery);
``test:worker`` (string)
    the worker's pid, once it is ready to take tasks.
"""

from __future__ import annotations

import json
import os
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_ready
from flask import Flask

from flask_huggy import Delivery, Event, Huggy, make_blueprint, signals
from flask_huggy.safelog import printable

#: Where the worker finds the broker's URL (it is a new Redis for every test module).
BROKER_ENV = "HUGGY_TEST_BROKER_URL"
#: Where the worker finds its journal directory: with it, the worker journals and recovers
#: (``HUGGY_RECOVER_AFTER`` = :data:`RECOVER_AFTER`) deliveries of ``HUGGY_*``.
JOURNAL_ENV = "HUGGY_TEST_JOURNAL"
#: Seconds without news after which the worker queues a stranded delivery again: short, for
#: a quick test, yet well over the quiet between a healthy delivery's attempts (its retry
#: backoff and queueing), also on a loaded two-core machine running the suite in parallel.
RECOVER_AFTER = 4.0
#: The token the app accepts (the suite's, as in tests/conftest.py).
TOKEN = "132ce76c7abb1154f01ebc0d508162e4"
#: Short backoffs, so that retries take milliseconds: 0.05 s, 0.1 s, 0.2 s at most.
RETRY_CONFIG = {"CELERY_MAX_RETRIES": 2, "CELERY_RETRY_BACKOFF": 0.05, "CELERY_RETRY_BACKOFF_MAX": 0.2}
#: The process that imported this module: a prefork worker's pool processes are forked from it.
WORKER_PID = os.getpid()


def create_app(broker_url: str, **config: Any) -> Flask:
    """The user's app: endpoints queued on Celery, each with its own task, receivers that report to Redis.

    ``/huggy/webhook`` (``HUGGY_*``, the extension's door) de-duplicates with
    Redis; ``/huggy-b/webhook`` (``HUGGY_B_*``, the blueprint's door) does not,
    to show what retries do without it. ``/account-b/webhook`` is a second
    extension, named ``account_b``, on the same ``HUGGY_B_*`` keys.
    """
    app = Flask("celery_app")
    app.config.update(TESTING=True, HUGGY_DEDUP=broker_url, HUGGY_B_DEDUP=False)
    for prefix in ("HUGGY_", "HUGGY_B_"):
        app.config[prefix + "WEBHOOK_TOKEN"] = TOKEN
        app.config.update({prefix + key: value for key, value in RETRY_CONFIG.items()})
    app.config.update(config)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # Huggy's key order is the firing order

    celery = Celery("tests.celery_app", broker=broker_url)
    celery.conf.update(broker_connection_retry_on_startup=True, worker_prefetch_multiplier=1)
    Huggy(app, celery=celery)
    blueprint_b = make_blueprint("huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_")
    app.register_blueprint(blueprint_b, celery=celery)
    # Issue 20's second account: an endpoint named apart from the one that shares its keys.
    Huggy(app, name="account_b", url_prefix="/account-b", config_prefix="HUGGY_B_", celery=celery)
    app.extensions["celery"] = celery
    Reporter(app, broker_url)
    return app


class Reporter:
    """The receivers: record into Redis what they got, and fail when a test asks them to."""

    def __init__(self, app: Flask, redis_url: str) -> None:
        self.redis = redis.Redis.from_url(redis_url)
        signals.event_received.connect(self.on_event, sender=app, weak=False)
        signals.delivery_received.connect(self.on_delivery, sender=app, weak=False)
        signals.delivery_dead_lettered.connect(self.on_dead_letter, sender=app, weak=False)
        for name, signal in signals.huggy_signals.items():

            def record(sender: Flask, _name: str = name, **kwargs: Any) -> None:
                self.record_signal(_name, kwargs)

            signal.connect(record, sender=app, weak=False)

    def on_event(self, sender: Flask, event: Event, delivery: Delivery, **extra: Any) -> None:
        key = event_key(event)
        self.redis.hincrby("test:attempts", key, 1)
        self.redis.hset("test:pid", key, WORKER_PID)
        self._maybe_fail(key)
        self.redis.hincrby("test:handled", key, 1)

    def on_delivery(self, sender: Flask, delivery: Delivery, **extra: Any) -> None:
        self._maybe_fail(f"delivery:{delivery_id(delivery)}")
        self.redis.hincrby("test:delivered", delivery_id(delivery), 1)

    def on_dead_letter(
        self, sender: Flask, delivery: Delivery | None, exception: BaseException, events: list[Event], **extra: Any
    ) -> None:
        record = {
            "events": [event_key(e) for e in events],
            "exception": type(exception).__name__,
            "error": getattr(exception, "error", None),
            "pid": WORKER_PID,
        }
        where = "undecodable" if delivery is None else delivery_id(delivery)
        self.redis.rpush(f"test:dead:{where}", json.dumps(record))

    def record_signal(self, name: str, kwargs: dict[str, Any]) -> None:
        delivery = kwargs.get("delivery")
        if isinstance(delivery, Delivery) and delivery.events:
            record = {"pid": WORKER_PID, **describe(name, kwargs)}
            self.redis.rpush(f"test:signals:{delivery_id(delivery)}", json.dumps(record))

    def _maybe_fail(self, key: str) -> None:
        if self.redis.decr(f"test:fail:{key}") >= 0:
            raise RuntimeError(f"the CRM refused {printable(key)}")  # tracebacks are logged as they are
        self.redis.delete(f"test:fail:{key}")


def event_key(event: Event) -> str:
    return f"{event.name}:{event.raw.get('id')}"


def delivery_id(delivery: Delivery) -> Any:
    """A delivery's name in Redis: its first event's id (tests give each a fresh one)."""
    return delivery.events[0].raw.get("id")


def describe(signal: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """What a receiver can observe of one signal call, as JSON, to compare the worker with the sync mode."""
    delivery: Delivery = kwargs["delivery"]
    event: Event | None = kwargs.get("event")
    described: dict[str, Any] = {
        "signal": signal,
        "kwargs": sorted(kwargs),
        "delivery": {
            "type": type(delivery).__name__,
            "time": delivery.time.isoformat() if delivery.time else None,
            "token": delivery.token,
            "events": [e.name for e in delivery.events],
            "raw": delivery.raw,
        },
    }
    if event is not None:
        described["event"] = {
            "type": type(event).__name__,
            "name": event.name,
            "known": event.known,
            "duplicate": event.duplicate,
            "raw": event.raw,
            "data": json.loads(json.dumps(event.data, default=repr)),
            "obj": repr(event.obj),
            "errors": event.errors,
        }
    return described


@worker_ready.connect
def _announce(sender: Any = None, **extra: Any) -> None:
    # Only a worker sends worker_ready: the test waits for this key, not for a log line.
    url = os.environ.get(BROKER_ENV)
    if url:
        redis.Redis.from_url(url).set("test:worker", os.getpid())


if BROKER_ENV in os.environ:  # imported by `celery -A tests.celery_app worker`
    _journal = os.environ.get(JOURNAL_ENV)
    _recovery = {"HUGGY_JOURNAL": _journal, "HUGGY_RECOVER_AFTER": RECOVER_AFTER} if _journal else {}
    flask_app = create_app(os.environ[BROKER_ENV], **_recovery)
    celery = flask_app.extensions["celery"]
