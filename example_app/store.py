"""Writing what Huggy sent into the database: one delivery at a time, never half of one.

These functions add to ``db.session`` and never commit: the receiver that calls
them (:mod:`example_app.receivers`) owns the transaction, so that a delivery is
stored whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from flask_huggy import Delivery, Event

from .models import Chat, DeliveryRecord, EventRecord, Handshake, db
from .summary import EventSummary, summarize
from .webhook import mask_token


def fingerprint(delivery: Delivery) -> str:
    """What identifies a delivery across Huggy's retries: its ``time`` and ``messages``.

    A retry keeps its original ``time``, so the same delivery posted again has
    the same fingerprint. The token is left out: it is a secret, and rotating it
    does not make a delivery new.
    """
    identity = {"time": delivery.raw.get("time"), "messages": delivery.raw.get("messages")}
    text = json.dumps(identity, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def already_stored(delivery: Delivery) -> bool:
    return db.session.scalar(db.select(DeliveryRecord.id).filter_by(fingerprint=fingerprint(delivery))) is not None


def add_delivery(delivery: Delivery, *, now: datetime | None = None) -> DeliveryRecord:
    """Add a delivery, its events, and what they change in their chats, to the session."""
    received_at = now or datetime.now(timezone.utc)
    record = DeliveryRecord(
        fingerprint=fingerprint(delivery),
        sent_at=delivery.time,
        received_at=received_at,
        event_count=len(delivery.events),
    )
    db.session.add(record)
    for position, event in enumerate(delivery.events):
        summary = summarize(event)
        stored = _event_record(event, summary, position, delivery, received_at)
        record.events.append(stored)
        if summary.chat_id is not None:
            db.session.flush()  # gives ``stored`` its id, which the chat points at
            _update_chat(summary, stored)
    return record


def add_handshake(
    token: str, *, confirmed: bool | None, error: str | None = None, now: datetime | None = None
) -> Handshake:
    """Record an accepted handshake and how the confirmation request to Huggy went (``confirmed``)."""
    handshake = Handshake(
        answered_at=now or datetime.now(timezone.utc),
        token_hint=mask_token(token),
        confirmed=confirmed,
        confirm_error=_cut(error, 500) if confirmed is False else None,
    )
    db.session.add(handshake)
    return handshake


def _event_record(
    event: Event, summary: EventSummary, position: int, delivery: Delivery, received_at: datetime
) -> EventRecord:
    return EventRecord(
        position=position,
        name=event.name[:64],
        kind=summary.kind,
        summary=summary.text[:500],
        chat_id=summary.chat_id,
        message_id=summary.message_id,
        contact_id=summary.contact_id,
        contact_name=_cut(summary.contact_name),
        sender_type=_cut(summary.sender_type, 64),
        sender_name=_cut(summary.sender_name),
        body=summary.body,
        happened_at=summary.happened_at or delivery.time or received_at,
        received_at=received_at,
        valid=event.errors is None,
        errors=json.dumps(event.errors, ensure_ascii=False) if event.errors is not None else None,
        raw=json.dumps(event.raw, ensure_ascii=False),
    )


def _update_chat(summary: EventSummary, stored: EventRecord) -> None:
    """Fold one event into its chat: the newest event in Huggy's order says what the chat is now.

    Deliveries can arrive out of Huggy's order (a retry, a slow queue, the docs'
    samples posted by hand): an event older than what the chat already knows
    only fills in what is still unknown, and never reopens, closes or moves it back.
    """
    assert summary.chat_id is not None
    chat = db.session.get(Chat, summary.chat_id)
    if chat is None:
        chat = Chat(id=summary.chat_id, first_received_at=stored.received_at, closed=False, event_count=0)
        db.session.add(chat)
    chat.last_received_at = stored.received_at
    chat.last_event_id = stored.id
    chat.event_count = (chat.event_count or 0) + 1
    at = stored.huggy_time
    newest = _not_before(at, chat.latest_at)
    if newest:
        chat.latest_at = at
    # An event that does not say something (a closedChat names no contact)
    # never erases what another one said.
    chat.contact_id = _prefer(summary.contact_id, chat.contact_id, newest)
    chat.contact_name = _prefer(_cut(summary.contact_name), chat.contact_name, newest)
    chat.channel = _prefer(_cut(summary.channel, 64), chat.channel, newest)
    chat.situation = _prefer(_cut(summary.situation, 32), chat.situation, newest)
    chat.agent_name = _prefer(_cut(summary.agent_name), chat.agent_name, newest)
    if summary.kind == "message" and _not_before(
        at, chat.last_message_at and chat.last_message_at.replace(microsecond=0)
    ):
        chat.last_message = summary.body
        chat.last_sender_type = _cut(summary.sender_type, 64)
        chat.last_message_at = stored.happened_at
    if summary.closes_chat is not None and _not_before(at, chat.status_at):
        chat.status_at = at
        chat.closed = summary.closes_chat
        chat.closed_at = stored.happened_at if summary.closes_chat else None
        chat.tabulation = _cut(summary.tabulation) if summary.closes_chat else None


def _not_before(when: datetime, than: datetime | None) -> bool:
    """Whether an event at ``when`` is at least as new as ``than`` (ties: the later arrival wins)."""
    return than is None or when >= than


def _prefer(new: str | None, known: str | None, newest: bool) -> str | None:
    return (new or known) if newest else (known or new)


def _cut(text: str | None, limit: int = 255) -> str | None:
    return text[:limit] if text else None


__all__ = ["add_delivery", "add_handshake", "already_stored", "fingerprint"]
