"""Sending a delivery's signals, in payload order, to one app's receivers.

This needs an app but no request: a worker that rebuilt a
:class:`~flask_huggy.Delivery` calls :func:`dispatch` and receivers cannot tell
the difference.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .errors import InvalidEvent
from .events import Delivery
from .signals import EVENT_SIGNALS, delivery_received, event_received, invalid_event

logger = logging.getLogger("flask_huggy")


@dataclass(frozen=True)
class DispatchSummary:
    """What a dispatch did, for the webhook's response body."""

    events: int
    invalid: int


def validate_all(delivery: Delivery) -> None:
    """Validate every event now; raise :class:`~flask_huggy.InvalidEvent` on the first bad one.

    This is ``HUGGY_STRICT``: a delivery is either wholly valid or refused
    before anything fires.
    """
    for index, event in enumerate(delivery.events):
        if not event.validate():
            raise InvalidEvent(
                f"Event {event.name} (#{index} of the delivery) failed validation: see 'fields'.",
                event=event.name,
                index=index,
                fields=event.errors,
            )


def dispatch(sender: Any, delivery: Delivery) -> DispatchSummary:
    """Send each event's signals, then :data:`~flask_huggy.signals.delivery_received`.

    For each event, in payload order: its own signal (unless it failed
    validation, then :data:`~flask_huggy.signals.invalid_event`), then
    :data:`~flask_huggy.signals.event_received`. An event is validated only if
    one of those signals has receivers for ``sender``.

    A receiver that raises stops the dispatch: the exception is logged with the
    event's name and re-raised, so that the webhook answers 5xx and Huggy retries.
    """
    invalid = 0
    for event in delivery.events:
        signal = EVENT_SIGNALS.get(event.name)
        listened = signal is not None and signal.has_receivers_for(sender)
        if signal is not None and not (
            listened or event_received.has_receivers_for(sender) or invalid_event.has_receivers_for(sender)
        ):
            continue  # nobody listens: skip validation; Event.data still validates on demand
        if signal is not None and not event.validate():
            invalid += 1
            logger.warning("Huggy event %s failed validation and was passed on raw: %s", event.name, event.errors)
            _send(invalid_event, sender, event.name, event=event, delivery=delivery, errors=event.errors)
        elif listened:
            _send(signal, sender, event.name, event=event, delivery=delivery)
        # A signal with no receivers at all would call nobody: skip building the call.
        if event_received.receivers:
            _send(event_received, sender, event.name, event=event, delivery=delivery)
    if delivery_received.receivers:
        _send(delivery_received, sender, "delivery", delivery=delivery)
    return DispatchSummary(events=len(delivery.events), invalid=invalid)


def _send(signal: Any, sender: Any, what: str, **kwargs: Any) -> None:
    try:
        signal.send(sender, **kwargs)
    except Exception as exc:
        logger.error(
            "A receiver of %s (signal %s) raised %s; the webhook answers 5xx so that Huggy retries.",
            what,
            signal.name,
            type(exc).__name__,
        )
        raise
