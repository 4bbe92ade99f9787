"""Scale-out: the webhook queues each delivery and Celery workers run the receivers.

Receivers that call CRMs and bots take hundreds of milliseconds and sometimes fail;
run in the request, they keep Huggy waiting and make it retry whole deliveries.
Given a Celery app (``Huggy(app, celery=celery)``), the webhook only
authenticates, parses and validates a delivery, hands it to Celery's broker (one
task per delivery) and answers 200. The task decodes the delivery again in the
worker, with the webhook's limits, inside the Flask app context, and sends the
same signals as the synchronous mode, so receivers do not change.

Delivery is at least once: the task is acknowledged only after it ran
(``acks_late``), a receiver that raised is retried with exponential backoff on the
events that did not succeed, de-duplication (``HUGGY_DEDUP``) keeps a redelivered
task from running an event twice, and a delivery still failing after its last
retry is *dead-lettered*: :data:`~flask_huggy.signals.delivery_dead_lettered`, one
ERROR line, and, with ``HUGGY_JOURNAL``, a journal record that ``flask huggy
replay --failed`` brings back. A delivery the broker lost, or whose retry it could
not take, comes back by itself (:mod:`flask_huggy.recovery`, ``HUGGY_RECOVER_AFTER``).

Celery is an optional dependency (``pip install 'flask-huggy[celery]'``): this
module is imported only by apps that hand the extension a Celery app, and it
imports Celery's own modules only when it publishes or runs a task.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from .auth import mask_token, restore_token
from .config import Settings
from .dispatch import Outcome, send_alert
from .endpoint import Endpoint
from .envelope import MAX_DEPTH, decode_json, parse_delivery
from .errors import DeliveryRejected, Unavailable
from .events import Delivery, Event
from .journal import DEAD_LETTER
from .recovery import Recovery, can_recover
from .runner import Run, run_delivery
from .safelog import printable
from .signals import delivery_dead_lettered

logger = logging.getLogger("flask_huggy")

#: The name of the task of the default endpoint (``"huggy"``).
TASK_NAME = "flask_huggy.dispatch_delivery"
#: Broker URL schemes of kombu's Redis transports, which take socket timeouts.
_REDIS_SCHEMES = ("redis", "rediss", "redis+socket", "sentinel")
#: What the de-duplication store answers when it is not the receivers' fault.
_BUSY = frozenset({"duplicate_in_flight", "dedup_unavailable"})


def task_name(endpoint: str = "huggy") -> str:
    """The task's name for an endpoint: ``flask_huggy.dispatch_delivery``, suffixed for other endpoints."""
    return TASK_NAME if endpoint == "huggy" else f"{TASK_NAME}.{endpoint}"


class CeleryQueue:
    """The Celery side of one endpoint: its task, and the producers the webhook publishes with.

    Built when the endpoint is registered with a Celery app (``Huggy(app,
    celery=celery)``, or ``register_blueprint(..., celery=celery)``), in the app
    factory that both the web process and the worker use, so that the worker
    has the same receivers and settings. The task is acknowledged late (after it
    ran, so a worker that dies mid-task leaves it to another), serialised as
    JSON, and its result is not stored.
    """

    def __init__(self, celery: Any, endpoint: Endpoint) -> None:
        self.celery = celery
        self.endpoint = endpoint
        #: The task that runs the endpoint's receivers; named per endpoint (:func:`task_name`),
        #: so that ``task_routes`` can send two Huggy accounts to two queues.
        self.task = celery.task(
            name=task_name(endpoint.name),
            bind=True,
            shared=False,  # only this Celery app: the task carries this Flask app
            lazy=False,
            acks_late=True,
            reject_on_worker_lost=True,
            serializer="json",
            ignore_result=True,
            max_retries=None,  # bounded by HUGGY_CELERY_MAX_RETRIES
            Request=_shallow_request_class(),
        )(_run_task)
        self.task.huggy_endpoint = endpoint
        self._producers: Any = None
        #: Queues stranded deliveries again (``HUGGY_RECOVER_AFTER``); ``None`` when the settings leave it off.
        self.recovery: Recovery | None = None
        if not celery.conf.task_always_eager and can_recover(endpoint):
            from celery.signals import worker_ready  # type: ignore[import-untyped]  # Celery is loaded already

            self.recovery = Recovery(endpoint, self.requeue)
            # A worker's main process recovers from the start; a web process from its first enqueue.
            worker_ready.connect(self._on_worker_ready)

    def producer_pool(self) -> Any:
        """A pool of producers whose connections give up after ``HUGGY_CELERY_ENQUEUE_TIMEOUT``.

        Celery's own pool retries a refused connection for 4 s and waits forever
        on a broker that accepts but never answers; the webhook must answer 503
        long before Huggy gives up on it. The worker's connections are left as
        configured: only publishing from the web process is bounded here.
        """
        if self._producers is None:
            from kombu import pools

            timeout = self.endpoint.settings.celery_enqueue_timeout
            configured = self.celery.conf.broker_transport_options or {}
            bounds: dict[str, Any] = {"max_retries": 0}
            if str(self.celery.conf.broker_write_url or self.celery.conf.broker_url).split(":", 1)[0] in _REDIS_SCHEMES:
                bounds.update(socket_timeout=timeout, socket_connect_timeout=timeout)
            # Timeouts the user configured for the broker win over ours.
            options = {key: value for key, value in bounds.items() if key not in configured}
            connection = self.celery.connection_for_write(connect_timeout=timeout, transport_options=options)
            self._producers = pools.producers[connection]
        return self._producers

    def enqueue(self, delivery: Delivery, *, record_id: str | None) -> str:
        """Hand a delivery the webhook accepted to Celery's broker; return the task id.

        The delivery travels as one JSON string with its token masked (the broker
        must not hold secrets), never as a nested object: the worker decodes it
        with the webhook's own limits, so no depth of payload can reach the
        pickling between Celery's processes. Raises :class:`~flask_huggy.Unavailable`
        (503 ``queue_unavailable``) if the broker does not take it within
        ``HUGGY_CELERY_ENQUEUE_TIMEOUT``, so that Huggy keeps the delivery and retries.
        """
        body = dict(delivery.raw)
        if "token" in body:
            body["token"] = mask_token(body["token"])
        text = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        args = [text, self.endpoint.name]
        kwargs = {} if record_id is None else {"record_id": record_id}
        if self.celery.conf.task_always_eager:
            # A test suite's eager Celery runs the task here and now, with no broker to reach.
            eager_id: str = self.task.apply_async(args=args, kwargs=kwargs, serializer="json").id
            return eager_id
        if self.recovery is not None:
            self.recovery.ensure_running()
        # What monitoring (events, Flower) shows instead of the delivery's
        # contents: no personal data there, and no repr of a large payload.
        return self._publish_within_timeout(args, kwargs, _describe(delivery, self.endpoint.name))

    def requeue(self, delivery_raw: dict[str, Any], only: list[int], record_id: str) -> str:
        """Queue a journaled delivery again (the recovery), for the events at ``only``, under its record.

        ``delivery_raw`` is as the journal holds it, its token masked, as in a queued task.
        Raises :class:`~flask_huggy.Unavailable` as :meth:`enqueue` does.
        """
        text = json.dumps(delivery_raw, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        shown = f"(<recovered Huggy delivery of {self.endpoint.name}: record {record_id}>, {self.endpoint.name!r})"
        return self._publish_within_timeout([text, self.endpoint.name], {"only": only, "record_id": record_id}, shown)

    def _on_worker_ready(self, sender: Any = None, **extra: Any) -> None:
        if getattr(sender, "app", None) is self.celery and self.recovery is not None:
            self.recovery.ensure_running()

    def _publish_within_timeout(self, args: list[Any], kwargs: dict[str, Any], argsrepr: str) -> str:
        options = {"args": args, "kwargs": kwargs, "serializer": "json", "argsrepr": argsrepr, "kwargsrepr": "{}"}
        # One try, and a second only if the broker failed the first before the timeout ran
        # out: a pooled connection that died while the broker restarted fails at once and is
        # replaced; a broker that hangs has used up the timeout and is not waited on again.
        deadline = time.monotonic() + self.endpoint.settings.celery_enqueue_timeout
        for attempt in (1, 2):
            try:
                return self._publish(deadline, options)
            except _Unpublished as failure:
                if attempt == 1 and failure.broker_failed and time.monotonic() < deadline:
                    continue
                cause = failure.__cause__
                break
        logger.warning(
            "Could not enqueue a Huggy delivery (%s): answering 503 so that Huggy retries.", type(cause).__name__
        )
        raise Unavailable(
            "The task queue (Celery's broker) is unavailable; Huggy will retry the delivery.",
            error="queue_unavailable",
        ) from cause

    def _publish(self, deadline: float, options: dict[str, Any]) -> str:
        """Publish the task once, on a pooled producer; raise :class:`_Unpublished` from what the broker did.

        Without Celery's publish retry (``retry=False``): kombu's retry loop reconnects
        up to twice after a failed publish, each time waiting the whole socket timeout
        on a broker that hangs, so the first publish of a pooled connection took three
        timeouts (6 s with the default 2 s); it also writes its policy into the pooled
        connection's transport options, over the bounds :meth:`producer_pool` set. A
        connection that failed is closed here (``collect()``, as kombu's own retry
        does), so that its next use connects anew.
        """
        from celery.exceptions import CeleryError  # type: ignore[import-untyped]
        from kombu.exceptions import KombuError, OperationalError

        try:
            pool = self.producer_pool()
            with pool.acquire(block=True, timeout=max(deadline - time.monotonic(), 0.0)) as producer:
                connection = producer.connection
                # Celery wraps the transport's errors in kombu's OperationalError, but not all of them.
                lost = (OperationalError, *connection.connection_errors, *connection.channel_errors)
                try:
                    task_id: str = self.task.apply_async(producer=producer, retry=False, **options).id
                except lost as exc:
                    with contextlib.suppress(*lost):
                        connection.collect()
                    raise _Unpublished(broker_failed=True) from exc
        except (KombuError, CeleryError, OSError) as exc:
            raise _Unpublished(broker_failed=False) from exc
        return task_id


class _Unpublished(Exception):
    """One try to publish failed; ``broker_failed``: its connection or channel did, so a new one may not."""

    def __init__(self, broker_failed: bool) -> None:
        super().__init__(broker_failed)
        self.broker_failed = broker_failed


def retry_countdown(settings: Settings, attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first).

    Exponential: ``HUGGY_CELERY_RETRY_BACKOFF`` doubled at each retry, capped at
    ``HUGGY_CELERY_RETRY_BACKOFF_MAX``; then a random point in its upper half, so
    that deliveries that failed together (a CRM outage) do not all come back in
    the same second.
    """
    ceiling = min(settings.celery_retry_backoff_max, settings.celery_retry_backoff * 2.0 ** min(attempt - 1, 64))
    return ceiling / 2 + rand() * ceiling / 2


def _run_task(
    task: Any,
    body: str,
    endpoint_name: str,
    only: list[int] | None = None,
    failures: int = 0,
    busy_since: float | None = None,
    record_id: str | None = None,
) -> dict[str, int]:
    """The task: decode the delivery and run it (:func:`~flask_huggy.runner.run_delivery`), as the webhook would.

    ``body`` is the delivery as the webhook queued it, one JSON string; ``only``
    limits a retry to the events that did not succeed (``None``: all);
    ``failures`` counts the attempts in which something raised; ``busy_since`` is
    when the de-duplication store first answered "busy" or "unavailable";
    ``record_id`` is the delivery's journal record, written by the webhook.
    """
    from celery.exceptions import Reject

    endpoint: Endpoint = task.huggy_endpoint
    app = endpoint.app
    settings = endpoint.settings
    with app.app_context():
        try:
            if not isinstance(body, str):
                raise DeliveryRejected("The task's delivery is not a JSON string.", error="invalid_task")
            # The webhook's own limits: a message no webhook would have queued is
            # refused here, before anything deep is built, and never restored.
            payload = decode_json(body.encode("utf-8", "surrogatepass"), settings.json_decoder, max_depth=MAX_DEPTH)
            # The broker holds the token masked; receivers get it whole, as in the
            # synchronous mode, when it masks exactly one configured token.
            delivery = parse_delivery(
                restore_token(payload, settings.tokens), settings.timezone, endpoint_name=endpoint.name
            )
        except DeliveryRejected as exc:
            _dead_letter(endpoint, body, None, exc, None, task.request.retries + 1, record_id)
            return {"events": 0, "invalid": 0, "duplicates": 0}
        run = Run(delivery)
        try:
            run_delivery(endpoint, delivery, only=only, record_id=record_id, run=run)
        except Exception as exc:
            remaining = run.remaining
            retry: dict[str, Any] = {"only": remaining, "record_id": run.record_id or record_id}
            if isinstance(exc, Unavailable) and exc.error in _BUSY:
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
                    raise task.retry(args=[body, endpoint_name], kwargs=retry, countdown=countdown, exc=exc) from None
                except Reject:
                    # The broker is down: Celery acknowledges the message anyway
                    # (requeue=False), and the delivery must not go with it.
                    queue = endpoint.queue
                    if isinstance(queue, CeleryQueue) and queue.recovery is not None and retry["record_id"]:
                        logger.error(
                            "The retry of a Huggy delivery could not be published (the broker is unreachable); "
                            "it is recovered from the journal (record %s) after %s s.",
                            retry["record_id"],
                            settings.recover_after,
                        )
                    else:
                        logger.error("The retry of a Huggy delivery could not be published (the broker is down).")
                        _dead_letter(endpoint, body, run, exc, remaining, task.request.retries + 1, retry["record_id"])
                    raise
            _dead_letter(endpoint, body, run, exc, remaining, task.request.retries + 1, run.record_id or record_id)
            raise
    assert run.summary is not None  # run_delivery returned
    summary = run.summary
    return {"events": summary.events, "invalid": summary.invalid, "duplicates": summary.duplicates}


def _dead_letter(
    endpoint: Endpoint,
    body: Any,
    run: Run | None,
    exc: BaseException,
    remaining: Sequence[int] | None,
    attempts: int,
    record_id: str | None = None,
) -> None:
    """Give up on a delivery: one ERROR line, then :data:`~flask_huggy.signals.delivery_dead_lettered`.

    ``run`` is ``None`` when the message could not be decoded into a delivery;
    ``remaining`` are the positions not handled (``None``: all). With
    ``HUGGY_JOURNAL`` the journal already holds the delivery, not done, for
    ``flask huggy replay --failed``, and a ``dead_letter`` record under
    ``record_id`` keeps the recovery away from it; the line ends with the delivery
    as JSON for apps without a journal. Every name in the line went through
    :func:`~flask_huggy.safelog.printable`: a payload cannot forge log lines.
    """
    delivery: Delivery | None = None
    events: list[Event] = []
    indexes: list[int] = []
    if run is None:
        culprit, not_handled = f"decoding the message ({printable(exc)})", "all"
    else:
        delivery = run.delivery
        indexes = list(range(len(delivery.events)) if remaining is None else remaining)
        events = [delivery.events[i] for i in indexes]
        not_handled = ", ".join(f"#{i} {printable(delivery.events[i].name, 80)}" for i in indexes) or "none"
        failed = next((o for o in run.outcomes if o.status is Outcome.FAILED), None)
        if failed is not None:
            culprit = f"{printable(failed.name, 80)} #{failed.index}"
        elif isinstance(exc, Unavailable) and exc.error in _BUSY:
            culprit = "the de-duplication store"
        else:
            culprit = "delivery_received"
    # One line of ASCII JSON, without its token (a replay uses the app's): no
    # newline or escape sequence of the payload reaches the log as itself.
    replayable = printable(body, 2000) if isinstance(body, str) else "(not decoded)"
    if delivery is not None:
        replayable = json.dumps({k: v for k, v in delivery.raw.items() if k != "token"}, separators=(",", ":"))
    where = "in the journal for flask huggy replay --failed" if endpoint.journal else "not journaled (HUGGY_JOURNAL)"
    logger.error(
        "Dead-lettered a Huggy delivery after %d attempt(s): %s raised %s; not handled: %s. It is %s; the delivery: %s",
        attempts,
        culprit,
        type(exc).__name__,
        not_handled,
        where,
        replayable,
    )
    if endpoint.journal is not None and record_id is not None:
        with contextlib.suppress(Unavailable):  # logged by the journal; the line above holds the delivery
            endpoint.journal.note(record_id, DEAD_LETTER, error=exc, events=indexes)
    send_alert(delivery_dead_lettered, endpoint.app, delivery=delivery, exception=exc, events=events)


def _shallow_request_class() -> type:
    """Celery's request class, refusing in the worker's main process a message that nests too deep.

    A prefork worker's main process decodes every message and pickles its
    arguments and headers for the pool process before any task code runs: a
    message nesting a few hundred levels (the webhook's old nested delivery,
    published by anyone who can reach the broker) raised RecursionError there
    and killed the worker, which restored the message and died on it again at
    every restart. Such a message is dead-lettered here and rejected: Celery
    acknowledges it and never restores it. Celery's documented hook for this
    is a task's ``Request`` class; it is imported only once a task is built.
    """
    from celery.exceptions import InvalidTaskError
    from celery.worker.request import Request  # type: ignore[import-untyped]

    class ShallowRequest(Request):  # type: ignore[misc]
        def __init__(self, message: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(message, *args, **kwargs)
            if _nests_deeper((self.request_dict, self.body), MAX_DEPTH):
                endpoint: Endpoint = self.task.huggy_endpoint
                exc = DeliveryRejected(
                    f"The task's message nests deeper than {MAX_DEPTH} levels.", error="too_deep", limit=MAX_DEPTH
                )
                with endpoint.app.app_context():
                    _dead_letter(endpoint, None, None, exc, None, 1)
                raise InvalidTaskError(str(exc))

    return ShallowRequest


def _nests_deeper(value: Any, limit: int) -> bool:
    """Whether lists, tuples and dicts in ``value`` nest deeper than ``limit``, found without recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _describe(delivery: Delivery, endpoint: str) -> str:
    counts: dict[str, int] = {}
    for event in delivery.events:
        name = printable(event.name, 80)
        counts[name] = counts.get(name, 0) + 1
    return f"(<Huggy delivery of {endpoint}: {counts}>, {endpoint!r})"


__all__ = ["TASK_NAME", "CeleryQueue", "retry_countdown", "task_name"]
