"""Sending a delivery's signals, in payload order, to one app's receivers.

This needs an app but no request: a worker that rebuilt a
:class:`~flask_huggy.Delivery` calls :func:`dispatch` and receivers cannot tell
the difference.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from .dedup import Claim, Deduplicator
from .errors import DeliveryRejected
from .events import Delivery, Event
from .once import CallScope, remembers_calls, scoped
from .safelog import printable
from .signals import (
    EVENT_SIGNALS,
    delivery_received,
    event_received,
    invalid_event,
    receiver_failed,
)

if TYPE_CHECKING:
    from .endpoint import Endpoint

logger = logging.getLogger("flask_huggy")


@dataclass(frozen=True, init=False)
class DispatchSummary:
    """What a dispatch did, for the webhook's response body."""

    events: int
    invalid: int
    #: Events skipped because they had been handled already (de-duplication).
    duplicates: int = 0

    def __init__(self, events: int, invalid: int, duplicates: int = 0) -> None:
        # One per request: see Delivery.__init__.
        fields = self.__dict__
        fields["events"] = events
        fields["invalid"] = invalid
        fields["duplicates"] = duplicates


class Outcome(str, Enum):
    """How one event of a delivery went. A ``str``, so the journal writes it as its value."""

    #: Its receivers, if any, returned.
    OK = "ok"
    #: A receiver raised.
    FAILED = "failed"
    #: Handled before (de-duplication), skipped.
    DUPLICATE = "duplicate"

    @property
    def done(self) -> bool:
        """Whether the event needs no other run."""
        return self is not Outcome.FAILED

    def __str__(self) -> str:
        return self.value


@dataclass(slots=True)
class EventOutcome:
    """How one event of a delivery went, for the journal and replays.

    Not frozen: one is made per event, and a frozen dataclass costs four times as much to make.
    """

    index: int
    name: str
    status: Outcome
    error: str | None = None


def validate_all(delivery: Delivery) -> None:
    """Validate every event now; refuse the delivery (422 ``"invalid_event"``) at the first bad one.

    This is ``HUGGY_STRICT``: a delivery is either wholly valid or refused
    before anything fires.
    """
    for index, event in enumerate(delivery.events):
        if not event.validate():
            raise DeliveryRejected(
                f"Event {event.name} (#{index} of the delivery) failed validation: see 'fields'.",
                error="invalid_event",
                status=422,
                event=event.name,
                index=index,
                fields=event.errors,
            )


def dispatch(
    sender: Any,
    delivery: Delivery,
    *,
    dedup: Deduplicator | None = None,
    only: Collection[int] | None = None,
    outcomes: list[EventOutcome] | None = None,
    endpoint: Endpoint | None = None,
) -> DispatchSummary:
    """Send each event's signals, then :data:`~flask_huggy.signals.delivery_received`.

    For each event, in payload order: its own signal (unless it failed
    validation, then :data:`~flask_huggy.signals.invalid_event`), then
    :data:`~flask_huggy.signals.event_received`. An event is validated only if
    one of those signals has receivers for ``sender``.

    With ``dedup``, the events are claimed together before any receiver runs
    (:class:`~flask_huggy.Unavailable` (``"duplicate_in_flight"``) then means nothing fired), an event
    handled before is skipped (``event.duplicate``), and one is marked handled
    only once all its receivers returned. ``only`` limits
    the run to those event positions (a replay of the failed ones); ``outcomes``,
    if given, receives one :class:`EventOutcome` per event that was run or skipped.

    A receiver that raises stops the dispatch: the exception is logged with the
    event's name, :data:`~flask_huggy.signals.receiver_failed` is sent, the
    event's lease is released, and the exception is re-raised, so that the
    webhook answers 5xx and Huggy retries.
    """
    invalid = duplicates = 0
    # Who listens, per event, decided once: an event nobody hears is not even
    # validated (Event.data still validates on demand).
    plan: list[tuple[int, Event, Any, bool]] = []
    for index, event in enumerate(delivery.events):
        if only is not None and index not in only:
            continue
        signal = EVENT_SIGNALS.get(event.name)
        listened = signal is not None and signal.has_receivers_for(sender)
        heard = listened or event_received.has_receivers_for(sender)
        if signal is not None and not (heard or invalid_event.has_receivers_for(sender)):
            _record(outcomes, index, event, Outcome.OK)
            continue
        plan.append((index, event, signal, listened))
    # Every lease first, so that a delivery refused as in flight fired nothing.
    claims = dedup.claim_all([(index, event) for index, event, _, _ in plan], delivery) if dedup is not None else {}
    memory = dedup.store if dedup is not None and remembers_calls(dedup.store) else None
    for position, (index, event, signal, listened) in enumerate(plan):
        claim = claims.get(index)
        if dedup is not None and claim is None:
            event.duplicate = True
            duplicates += 1
            _record(outcomes, index, event, Outcome.DUPLICATE)
            continue
        try:
            if endpoint is not None:
                key = claim.key if claim is not None else None
                ttl = dedup.ttl if dedup is not None else 0.0
                with scoped(CallScope(endpoint, key, memory, ttl)):
                    invalid += _send_event(sender, event, delivery, signal, listened)
            else:
                invalid += _send_event(sender, event, delivery, signal, listened)
        except Exception as exc:
            _record(outcomes, index, event, Outcome.FAILED, f"{type(exc).__name__}: {exc}")
            _report_failure(sender, event, delivery, exc)
            if dedup is not None:
                # This event's lease, and those of the events it kept from running.
                for later_index, later_event, _, _ in plan[position:]:
                    later = claims.get(later_index)
                    if later is not None:
                        _release(dedup, later, later_event)
            raise
        if dedup is not None and claim is not None:
            dedup.complete(claim)
        _record(outcomes, index, event, Outcome.OK)
    if delivery_received.receivers:
        try:
            if endpoint is not None:
                with scoped(CallScope(endpoint)):
                    _send(delivery_received, sender, "delivery", delivery=delivery)
            else:
                _send(delivery_received, sender, "delivery", delivery=delivery)
        except Exception as exc:
            _report_failure(sender, None, delivery, exc)
            raise
    return DispatchSummary(events=len(delivery.events), invalid=invalid, duplicates=duplicates)


def _send_event(sender: Any, event: Event, delivery: Delivery, signal: Any, listened: bool) -> int:
    """Send one event's signals; 1 if it failed validation (and went to ``invalid_event``), else 0."""
    invalid = 0
    if signal is not None and not event.validate():
        invalid = 1
        logger.warning(
            "Huggy event %s failed validation and was passed on raw: %s",
            printable(event.name),
            printable(event.errors, 1000),
        )
        _send(invalid_event, sender, event.name, event=event, delivery=delivery, errors=event.errors)
    elif listened:
        _send(signal, sender, event.name, event=event, delivery=delivery)
    # A signal with no receivers at all would call nobody: skip building the call.
    if event_received.receivers:
        _send(event_received, sender, event.name, event=event, delivery=delivery)
    return invalid


def _record(
    outcomes: list[EventOutcome] | None, index: int, event: Event, status: Outcome, error: str | None = None
) -> None:
    if outcomes is not None:
        outcomes.append(EventOutcome(index, event.name, status, error))


def _release(dedup: Deduplicator, claim: Claim, event: Event) -> None:
    # The receiver's exception is what Huggy must hear about (a 500 and a retry);
    # if the store is down too, the lease simply expires (HUGGY_DEDUP_LEASE).
    try:
        dedup.release(claim)
    except Exception as exc:  # noqa: BLE001
        logger.error("Could not release the claim on %s (%s); it expires with its lease.", printable(event.name), exc)


def _report_failure(sender: Any, event: Event | None, delivery: Delivery, exc: Exception) -> None:
    send_alert(receiver_failed, sender, event=event, delivery=delivery, exception=exc)


def send_alert(signal: Any, sender: Any, **kwargs: Any) -> None:
    """Send a signal that reports a failure, never letting its receivers raise.

    An alerting receiver that breaks must not hide the failure it reports.
    """
    if not signal.receivers:
        return
    try:
        signal.send(sender, **kwargs)
    except Exception:
        logger.exception("A receiver of %s raised.", signal.name)


def _send(signal: Any, sender: Any, what: str, **kwargs: Any) -> None:
    try:
        signal.send(sender, **kwargs)
    except Exception as exc:
        logger.error(
            "A receiver of %s (signal %s) raised %s; the delivery fails so that it is retried.",
            printable(what),
            signal.name,
            type(exc).__name__,
        )
        raise
