"""Scale-out: the webhook enqueues each delivery and Celery workers run the receivers.

Receivers that call CRMs and bots take hundreds of milliseconds and sometimes fail;
run in the request, they keep Huggy waiting and make it retry whole deliveries.
With ``HUGGY_DISPATCH = "celery"`` the webhook only authenticates, parses and
validates a delivery, hands it to Celery's broker as JSON (one task per delivery)
and answers 200. The task rebuilds the :class:`~flask_huggy.Delivery` in the
worker, inside the Flask app context, and sends the same signals as the
synchronous mode, so receivers do not change.

Delivery is at least once: the task is acknowledged only after it ran
(``acks_late``), a receiver that raised is retried with exponential backoff on the
events that did not succeed, de-duplication (``HUGGY_DEDUP``) keeps a redelivered
task from running an event twice, and a delivery still failing after its last
retry is *dead-lettered*: :data:`~flask_huggy.signals.delivery_dead_lettered` and
one ERROR line holding the delivery as JSON, for ``flask huggy replay``.

Celery is an optional dependency (``pip install 'flask-huggy[celery]'``): this
module imports it only when a Celery app is handed to it or a delivery is
enqueued, so the blueprint can import :func:`enqueue_delivery` without it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from .auth import mask_token, restore_token
from .config import Settings, check_settings, read_settings
from .dispatch import Outcome, send_alert
from .endpoint import Endpoint, endpoint_by_prefix
from .envelope import parse_delivery
from .errors import ConfigError, DedupUnavailable, DuplicateInFlight, QueueUnavailable
from .events import Delivery, Event
from .runner import Run, run_delivery
from .signals import delivery_dead_lettered

logger = logging.getLogger("flask_huggy")

#: The name of the task for the default endpoint (``HUGGY_*`` keys).
TASK_NAME = "flask_huggy.dispatch_delivery"

#: The settings a task needs to retry, read on their own when the rest of the config is broken.
_RETRY_KEYS = ("CELERY_MAX_RETRIES", "CELERY_RETRY_BACKOFF", "CELERY_RETRY_BACKOFF_MAX")
#: Broker URL schemes of kombu's Redis transports, which take socket timeouts.
_REDIS_SCHEMES = ("redis", "rediss", "redis+socket", "sentinel")


def task_name(config_prefix: str = "HUGGY_") -> str:
    """The task's name for an endpoint: ``flask_huggy.dispatch_delivery``, suffixed for other prefixes.

    One name per endpoint lets ``task_routes`` send two Huggy accounts to two queues.
    """
    if config_prefix == "HUGGY_":
        return TASK_NAME
    return f"{TASK_NAME}.{config_prefix.strip('_').lower()}"


@dataclass
class CeleryState:
    """What the webhook of one endpoint needs to enqueue (its :attr:`Endpoint.celery
    <flask_huggy.endpoint.Endpoint.celery>`)."""

    celery: Any
    task: Any
    #: Producer pools bounded by the enqueue timeout, one per timeout value.
    producer_pools: dict[float, Any] = field(default_factory=dict)

    def producer_pool(self, timeout: float) -> Any:
        """A pool of producers whose connections give up after ``timeout`` seconds.

        Celery's own pool retries a refused connection for 4 s and waits forever
        on a broker that accepts but never answers; the webhook must answer 503
        long before Huggy gives up on it. The worker's connections are left as
        configured: only publishing from the web process is bounded here.
        """
        pool = self.producer_pools.get(timeout)
        if pool is None:
            from kombu import pools

            configured = self.celery.conf.broker_transport_options or {}
            bounds: dict[str, Any] = {"max_retries": 0}
            if str(self.celery.conf.broker_write_url or self.celery.conf.broker_url).split(":", 1)[0] in _REDIS_SCHEMES:
                bounds.update(socket_timeout=timeout, socket_connect_timeout=timeout)
            # Timeouts the user configured for the broker win over ours.
            options = {key: value for key, value in bounds.items() if key not in configured}
            connection = self.celery.connection_for_write(connect_timeout=timeout, transport_options=options)
            pool = self.producer_pools[timeout] = pools.producers[connection]
        return pool


def init_celery(app: Flask, celery: Any, *, config_prefix: str = "HUGGY_") -> Any:
    """Register the task that runs an endpoint's receivers on ``celery``'s workers; return it.

    Call it in the app factory that both the web process and the worker use, so
    that the worker has the same receivers and config as the web process::

        def create_app():
            app = Flask(__name__)
            app.config.from_prefixed_env()
            app.register_blueprint(flask_huggy.blueprint)
            celery = Celery(app.name, broker=app.config["CELERY_BROKER_URL"])
            flask_huggy.init_celery(app, celery)
            app.extensions["celery"] = celery
            return app

    and point the worker at a module that builds the app (``celery -A
    myapp.worker worker``, with ``celery = create_app().extensions["celery"]`` in
    it). Then ``HUGGY_DISPATCH = "celery"`` makes the webhook enqueue.

    The task is acknowledged late (after it ran, so a worker that dies mid-task
    leaves it to another), serialised as JSON, and its result is not stored. One
    Celery app serves one Flask app per ``config_prefix``: calling this again with
    another Flask app makes the task run that app's receivers.
    """
    check_settings(app.config, config_prefix)  # the worker must not start with a config it cannot use
    task = celery.task(
        name=task_name(config_prefix),
        bind=True,
        shared=False,  # only this Celery app: the task carries this Flask app
        lazy=False,
        acks_late=True,
        reject_on_worker_lost=True,
        serializer="json",
        ignore_result=True,
        max_retries=None,  # bounded by HUGGY_CELERY_MAX_RETRIES, read when the task runs
    )(_dispatch_delivery)
    task.huggy_app = app
    endpoint = endpoint_by_prefix(app, config_prefix)
    endpoint.celery = CeleryState(celery, task)
    return task


class HuggyCelery:
    """:func:`init_celery` as a Flask extension object, for app factories.

    ::

        huggy_celery = HuggyCelery(celery=celery)      # at import time

        def create_app():
            app = Flask(__name__)
            huggy_celery.init_app(app)

    Per-app state lives in the app's :class:`~flask_huggy.endpoint.Endpoint`, never on this object.
    """

    def __init__(self, app: Flask | None = None, celery: Any = None, *, config_prefix: str = "HUGGY_") -> None:
        self.celery = celery
        self.config_prefix = config_prefix
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, celery: Any = None) -> Any:
        """Register the task for ``app`` on ``celery`` (default: the one given to the constructor)."""
        target = celery if celery is not None else self.celery
        if target is None:
            raise ConfigError("HuggyCelery needs a Celery app: HuggyCelery(celery=...) or init_app(app, celery)")
        return init_celery(app, target, config_prefix=self.config_prefix)


def celery_state(app: Flask, config_prefix: str = "HUGGY_") -> CeleryState:
    """The :class:`CeleryState` :func:`init_celery` left for an endpoint, or a ConfigError."""
    return _celery_of(endpoint_by_prefix(app, config_prefix))


def _celery_of(endpoint: Endpoint) -> CeleryState:
    if endpoint.celery is None:
        raise ConfigError(
            f"{endpoint.config_prefix}DISPATCH is 'celery' but no Celery app was given: call "
            f"flask_huggy.init_celery(app, celery{_prefix_argument(endpoint.config_prefix)}) in the app factory."
        )
    return endpoint.celery


def enqueue_delivery(app: Flask, payload: Mapping[str, Any], config_prefix: str = "HUGGY_") -> str:
    """Hand a delivery the webhook accepted to Celery's broker; return the task id.

    ``payload`` is the decoded delivery, already authenticated and validated. It
    travels as JSON with its token masked: the webhook has checked the token, and
    the broker must not hold secrets. Raises :class:`~flask_huggy.QueueUnavailable`
    (503) if the broker does not take it within ``HUGGY_CELERY_ENQUEUE_TIMEOUT``,
    so that Huggy keeps the delivery and retries.
    """
    return enqueue(endpoint_by_prefix(app, config_prefix), payload)


def enqueue(endpoint: Endpoint, payload: Mapping[str, Any], *, record_id: str | None = None) -> str:
    """:func:`enqueue_delivery` for an endpoint the caller holds (the webhook).

    ``record_id`` is the delivery's journal record, written by the webhook: the
    worker writes its outcomes under it instead of journaling the delivery again.
    """
    state = _celery_of(endpoint)
    config_prefix = endpoint.config_prefix
    timeout = endpoint.settings.celery_enqueue_timeout
    body = dict(payload)
    if "token" in body:
        body["token"] = mask_token(body["token"])
    kwargs = {} if record_id is None else {"record_id": record_id}
    if state.celery.conf.task_always_eager:
        # A test suite's eager Celery runs the task here and now, with no broker to reach.
        eager_id: str = state.task.apply_async(args=[body, config_prefix], kwargs=kwargs, serializer="json").id
        return eager_id
    options = {
        "args": [body, config_prefix],
        "kwargs": kwargs,
        "serializer": "json",
        # What monitoring (events, Flower) shows instead of the delivery's
        # contents: no personal data there, and no repr of a large payload.
        "argsrepr": _describe(body, config_prefix),
        "kwargsrepr": "{}",
    }
    # One try, and a second only if the broker failed the first before the timeout ran
    # out: a pooled connection that died while the broker restarted fails at once and is
    # replaced; a broker that hangs has used up the timeout and is not waited on again.
    deadline = time.monotonic() + timeout
    for attempt in (1, 2):
        try:
            return _publish(state, timeout, deadline, options)
        except _Unpublished as failure:
            if attempt == 1 and failure.broker_failed and time.monotonic() < deadline:
                continue
            cause = failure.__cause__
            break
    logger.warning(
        "Could not enqueue a Huggy delivery (%s): answering 503 so that Huggy retries.", type(cause).__name__
    )
    raise QueueUnavailable("The task queue (Celery's broker) is unavailable; Huggy will retry the delivery.") from cause


class _Unpublished(Exception):
    """One try to publish failed; ``broker_failed``: its connection or channel did, so a new one may not."""

    def __init__(self, broker_failed: bool) -> None:
        super().__init__(broker_failed)
        self.broker_failed = broker_failed


def _publish(state: CeleryState, timeout: float, deadline: float, options: dict[str, Any]) -> str:
    """Publish the task once, on a pooled producer; raise :class:`_Unpublished` from what the broker did.

    Without Celery's publish retry (``retry=False``): kombu's retry loop reconnects
    up to twice after a failed publish, each time waiting the whole socket timeout
    on a broker that hangs, so the first publish of a pooled connection took three
    timeouts (6 s with the default 2 s); it also writes its policy into the pooled
    connection's transport options, over the bounds :meth:`CeleryState.producer_pool`
    set. A connection that failed is closed here (``collect()``, as kombu's own retry
    does), so that its next use connects anew.
    """
    from celery.exceptions import CeleryError  # type: ignore[import-untyped]
    from kombu.exceptions import KombuError, OperationalError

    try:
        pool = state.producer_pool(timeout)
        with pool.acquire(block=True, timeout=max(deadline - time.monotonic(), 0.0)) as producer:
            connection = producer.connection
            # Celery wraps the transport's errors in kombu's OperationalError, but not all of them.
            lost = (OperationalError, *connection.connection_errors, *connection.channel_errors)
            try:
                task_id: str = state.task.apply_async(producer=producer, retry=False, **options).id
            except lost as exc:
                with contextlib.suppress(*lost):
                    connection.collect()
                raise _Unpublished(broker_failed=True) from exc
    except (KombuError, CeleryError, OSError) as exc:
        raise _Unpublished(broker_failed=False) from exc
    return task_id


def retry_countdown(settings: Settings, attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first).

    Exponential: ``HUGGY_CELERY_RETRY_BACKOFF`` doubled at each retry, capped at
    ``HUGGY_CELERY_RETRY_BACKOFF_MAX``; then a random point in its upper half, so
    that deliveries that failed together (a CRM outage) do not all come back in
    the same second.
    """
    ceiling = min(settings.celery_retry_backoff_max, settings.celery_retry_backoff * 2.0 ** min(attempt - 1, 64))
    return ceiling / 2 + rand() * ceiling / 2


def _dispatch_delivery(
    task: Any,
    payload: dict[str, Any],
    config_prefix: str,
    only: list[int] | None = None,
    failures: int = 0,
    busy_since: float | None = None,
    record_id: str | None = None,
) -> dict[str, int]:
    """The task: rebuild the delivery and run it (:func:`~flask_huggy.runner.run_delivery`), as the webhook would.

    ``only`` limits a retry to the events that did not succeed (``None``: all);
    ``failures`` counts the attempts in which something raised; ``busy_since`` is
    when the de-duplication store first answered "busy" or "unavailable";
    ``record_id`` is the delivery's journal record, written by the webhook (or the first attempt).
    """
    from celery.exceptions import Reject

    app: Flask = task.huggy_app
    with app.app_context():
        endpoint = endpoint_by_prefix(app, config_prefix)
        settings, config_error = _settings(app, config_prefix)
        run: Run | None = None
        try:
            if config_error is not None:
                raise config_error
            # The broker holds the token masked; receivers get it whole, as in the
            # synchronous mode, when it masks exactly one configured token.
            delivery = parse_delivery(
                restore_token(payload, settings.tokens), settings.timezone, endpoint=endpoint.name
            )
            run = Run(delivery)
            run_delivery(endpoint, delivery, only=only, record_id=record_id, run=run)
        except Exception as exc:
            remaining = run.remaining if run is not None else only
            retry: dict[str, Any] = {"only": remaining, "record_id": run.record_id if run else record_id}
            if isinstance(exc, (DuplicateInFlight, DedupUnavailable)):
                # Not the receivers' fault: another worker holds the event's lease, or
                # Redis is down. Keep waiting, without using up retries, until any
                # lease would have expired.
                since = time.time() if busy_since is None else busy_since
                may_retry = time.time() - since < settings.dedup_lease + settings.celery_retry_backoff_max
                retry.update(failures=failures, busy_since=since)
                countdown = retry_countdown(settings, task.request.retries - failures + 1)
            else:
                may_retry = failures < settings.celery_max_retries
                retry.update(failures=failures + 1)
                countdown = retry_countdown(settings, failures + 1)
            if may_retry:
                try:
                    raise task.retry(
                        args=[payload, config_prefix], kwargs=retry, countdown=countdown, exc=exc
                    ) from None
                except Reject:
                    # The broker is down: Celery acknowledges the message anyway
                    # (requeue=False), and the delivery must not go with it.
                    logger.error("The retry of a Huggy delivery could not be published (the broker is unreachable).")
                    _dead_letter(app, payload, run, exc, remaining, task.request.retries + 1)
                    raise
            _dead_letter(app, payload, run, exc, remaining, task.request.retries + 1)
            raise
    assert run is not None and run.summary is not None  # run_delivery returned
    summary = run.summary
    return {"events": summary.events, "invalid": summary.invalid, "duplicates": summary.duplicates}


def _settings(app: Flask, config_prefix: str) -> tuple[Settings, ConfigError | None]:
    """The endpoint's settings; if the config is unusable, its retry policy (or the defaults) and the error.

    A worker whose config is broken must not drop the delivery: the task is retried
    and dead-lettered like any failure, so that it can be replayed once the config
    is fixed.
    """
    try:
        return read_settings(app.config, config_prefix), None
    except ConfigError as exc:
        error = exc
    retry_policy = {
        config_prefix + key: app.config[config_prefix + key] for key in _RETRY_KEYS if config_prefix + key in app.config
    }
    try:
        return read_settings(retry_policy, config_prefix), error  # unless the policy is what is broken
    except ConfigError:
        return read_settings({}, config_prefix), error


def _dead_letter(
    app: Flask,
    payload: Mapping[str, Any],
    run: Run | None,
    exc: BaseException,
    remaining: Sequence[int] | None,
    attempts: int,
) -> None:
    """Give up on a delivery: one replayable ERROR line, then :data:`~flask_huggy.signals.delivery_dead_lettered`.

    ``run`` is ``None`` when the delivery could not even be rebuilt (the worker's
    config is unusable); ``remaining`` are the positions not handled (``None``: all).
    """
    delivery: Delivery | None = None
    if run is None:
        events: list[Event] = []
        culprit, not_handled = "rebuilding the delivery", "all"
    else:
        delivery = run.delivery
        positions = range(len(delivery.events)) if remaining is None else remaining
        events = [delivery.events[i] for i in positions]
        not_handled = ", ".join(f"#{i} {delivery.events[i].name}" for i in positions) or "none"
        failed = next((o for o in run.outcomes if o.status is Outcome.FAILED), None)
        if failed is not None:
            culprit = f"{failed.name} #{failed.index}"
        elif isinstance(exc, (DuplicateInFlight, DedupUnavailable)):
            culprit = "the de-duplication store"
        else:
            culprit = "delivery_received"
    token = payload.get("token")
    shown = token if isinstance(token, str) and token.startswith("****") else mask_token(token)
    # The line ends with the delivery as one line of ASCII JSON, without its token
    # (a replay then uses the app's), and nothing before it holds a brace: strip
    # everything up to the first "{" and flask huggy replay reads the rest.
    replayable = json.dumps({k: v for k, v in payload.items() if k != "token"}, separators=(",", ":"))
    logger.error(
        "Dead-lettered a Huggy delivery after %d attempt(s): %s raised %s; not handled: %s; token %s. "
        "To replay it, pass the JSON that ends this line to flask huggy replay: %s",
        attempts,
        culprit,
        type(exc).__name__,
        not_handled,
        shown,
        replayable,
    )
    send_alert(delivery_dead_lettered, app, delivery=delivery, exception=exc, events=events)


def _describe(payload: Mapping[str, Any], config_prefix: str) -> str:
    messages = payload.get("messages")
    counts = (
        {name: len(events) for name, events in messages.items() if isinstance(events, list)}
        if isinstance(messages, dict)
        else {}
    )
    return f"(<Huggy delivery of {config_prefix}: {counts}>, {config_prefix!r})"


def _prefix_argument(config_prefix: str) -> str:
    return "" if config_prefix == "HUGGY_" else f", config_prefix={config_prefix!r}"


__all__ = [
    "TASK_NAME",
    "CeleryState",
    "HuggyCelery",
    "celery_state",
    "enqueue_delivery",
    "init_celery",
    "retry_countdown",
    "task_name",
]
