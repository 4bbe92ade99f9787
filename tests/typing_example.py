"""Receivers as a user writes them, checked by ``mypy --strict`` (tests/test_models.py).

Not collected by pytest (no ``test_`` prefix): it is here to prove that
``event.obj`` narrows with ``isinstance`` and that its attributes have precise
types, so that a typo or a wrong type in a receiver is caught before Huggy calls.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask

from flask_huggy import Delivery, Event, signals
from flask_huggy.models import ClosedChat, Contact, Message, NamedRef, ReceivedAllMessage, StartedChat

app = Flask(__name__)
closed: list[tuple[int | None, datetime | None, str | None]] = []
senders: list[str | None] = []


@signals.closed_chat.connect_via(app)
def on_closed(sender: Flask, *, event: Event, delivery: Delivery, **extra: Any) -> None:
    assert isinstance(event.obj, ClosedChat)
    tabulation = event.obj.tabulation
    reason = tabulation.name if isinstance(tabulation, NamedRef) else tabulation
    closed.append((event.obj.id, event.obj.closed_at, reason))


@signals.received_all_message.connect_via(app)
def on_message(sender: Flask, *, event: Event, delivery: Delivery, **extra: Any) -> None:
    obj = event.obj
    assert isinstance(obj, ReceivedAllMessage)
    senders.append(obj.sender.name if obj.sender else None)
    sent_at: datetime | None = obj.send_at
    department: int | NamedRef | None = obj.chat.department if obj.chat else None
    attachment = obj.file.url if obj.file is not None and not isinstance(obj.file, str) else obj.file
    del sent_at, department, attachment


@signals.started_chat.connect
def on_started(sender: Flask, **kwargs: Any) -> None:
    event: Event = kwargs["event"]
    if isinstance(event.obj, StartedChat) and event.obj.contact is not None:
        contact: Contact = event.obj.contact
        phone: str | None = contact.mobile or contact.phone
        fields: Any = contact.custom_fields["profession"] if contact.custom_fields else None
        del phone, fields


@signals.event_received.connect_via(app)
def on_any(sender: Flask, *, event: Event, delivery: Delivery, **extra: Any) -> None:
    if isinstance(event.obj, Message):  # the four message events at once
        body: str | None = event.obj.body
        del body
    elif event.obj is None:
        raw: dict[str, Any] = event.data  # unknown or invalid: Huggy's mapping as sent
        del raw
