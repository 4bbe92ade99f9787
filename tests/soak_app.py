"""The app the soak tests run under gunicorn (and Celery): the blueprint, Redis de-duplication, one unreliable receiver.

Run by gunicorn as ``tests.soak_app:create_app()`` from the repository root, and
by ``celery -A tests.soak_worker worker``; every setting comes from the
environment, so that all processes share one configuration:

``HUGGY_*``
    The library's settings, as the environment gives them: at least
    ``HUGGY_WEBHOOK_TOKEN`` and ``HUGGY_DEDUP`` (a ``redis://`` URL).
``SOAK_REDIS_URL``
    Where the receiver records what it handled: "the CRM" (default: ``HUGGY_DEDUP``).
    The soaks that crash the de-duplication store keep the CRM on a Redis of its own.
``SOAK_BROKER_URL``
    Set, the webhook enqueues into this Redis broker: the blueprint is registered
    with a Celery app (``register_blueprint(blueprint, celery=celery)``). Unset,
    the receivers run in the request.
``SOAK_VISIBILITY_TIMEOUT``
    Seconds after which the Redis broker hands a task it got no acknowledgement for
    to a worker again (default ``30``; Celery's own is an hour).
``SOAK_FAILURE_RATE``
    The probability that a receiver call fails (default ``0.1``).
``SOAK_SLOW_RATE`` / ``SOAK_SLOW_SECONDS``
    The probability that a receiver call is slow, and how slow (default ``0`` / ``0``):
    slower than Huggy's timeout, so that Huggy retries while the first attempt still runs.
``SOAK_RECEIVER_DELAY``
    At most this many seconds of ordinary work per call (default ``0``), so that
    concurrent duplicates overlap.

The first call for an event whose key the test put in the CRM's ``soak:stall`` set
hangs, before any side effect, with its pid in ``soak:stalled``: the test kills that
process (``kill -9``), as a worker dies in the middle of a task.

The receiver stands for a CRM call: it fails *before* its side effect, as a refused
API call does. A receiver that recorded and then raised would have had its effect
while the library, seeing the exception, lets Huggy's retry run the event again:
that event would be recorded twice, and no de-duplication can tell. Exactly once
holds only for receivers that either succeed or fail without a trace.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

import redis
from flask import Flask

import flask_huggy
from flask_huggy import Event, signals

#: The Redis hash of handled events: ``event_key(event)`` -> times the receiver recorded it.
HANDLED = "soak:handled"
#: The Redis hash of the receiver's counters (``failures``, ``slow``).
COUNTERS = "soak:counters"
#: The Redis set of event keys whose first call stalls, for the test to kill the process running it.
STALL = "soak:stall"
#: The Redis hash of the stalled calls: event key -> the pid of the process stalled in it.
STALLED = "soak:stalled"
#: Seconds a stalled call waits for its process to be killed.
STALL_SECONDS = 60


def event_key(name: str, event_id: Any) -> str:
    """How the receiver and the test name an event: Huggy's event name and the event's id."""
    return f"{name}:{event_id}"


def create_app() -> Flask:
    """The webhook app, configured from the environment (see the module docstring)."""
    app = Flask(__name__)
    app.config.update({key: value for key, value in os.environ.items() if key.startswith("HUGGY_")})
    broker_url = os.environ.get("SOAK_BROKER_URL")
    if broker_url:
        from celery import Celery

        celery = Celery("soak", broker=broker_url)
        celery.conf.update(
            broker_connection_retry_on_startup=True,
            worker_prefetch_multiplier=1,
            broker_transport_options={"visibility_timeout": float(os.environ.get("SOAK_VISIBILITY_TIMEOUT", "30"))},
        )
        app.register_blueprint(flask_huggy.blueprint, celery=celery)
        app.extensions["celery"] = celery
    else:
        app.register_blueprint(flask_huggy.blueprint)
    store = redis.Redis.from_url(os.environ.get("SOAK_REDIS_URL") or os.environ["HUGGY_DEDUP"])
    failure_rate = float(os.environ.get("SOAK_FAILURE_RATE", "0.1"))
    slow_rate = float(os.environ.get("SOAK_SLOW_RATE", "0"))
    slow_seconds = float(os.environ.get("SOAK_SLOW_SECONDS", "0"))
    delay = float(os.environ.get("SOAK_RECEIVER_DELAY", "0"))

    @signals.event_received.connect_via(app)
    def record_in_crm(sender: Flask, event: Event, **extra: Any) -> None:
        key = event_key(event.name, event.raw.get("id"))
        if store.sismember(STALL, key) and store.hsetnx(STALLED, key, os.getpid()):
            time.sleep(STALL_SECONDS)  # a CRM call that hangs: the test kills this process meanwhile
        if random.random() < slow_rate:
            store.hincrby(COUNTERS, "slow", 1)
            time.sleep(slow_seconds)
        elif delay:
            time.sleep(random.uniform(0, delay))
        if random.random() < failure_rate:
            store.hincrby(COUNTERS, "failures", 1)
            raise RuntimeError(f"The CRM refused {event.name} {event.raw.get('id')}")
        store.hincrby(HANDLED, key, 1)

    return app
