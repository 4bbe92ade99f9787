"""Receivers as a user writes them, checked by ``mypy --strict`` (tests/test_models.py).

Not collected by pytest (no ``test_`` prefix): it is here to prove that
``event.obj`` narrows with ``isinstance`` and that its attributes have precise
types, so that a typo or a wrong type in a receiver is caught before Huggy calls.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask

from flask_huggy import Delivery, Event, Huggy, HuggyAPI, HuggyAPIError, signals
from flask_huggy.api import Agent, ChatInfo, ChatMessage
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


# Acting on events: the client of Huggy's REST API -----------------------------------

huggy = Huggy(app)
replies: list[int | None] = []


@huggy.on("receivedMessage")
def acknowledge(app: Flask, event: Event, delivery: Delivery, **extra: Any) -> None:
    sent: ChatMessage | None = event.reply("Recebido!", internal=False)
    replies.append(sent.id if sent is not None else None)
    chat_id: int | None = event.chat_id
    if chat_id is None:
        return
    api: HuggyAPI = delivery.endpoint.api
    chat: ChatInfo = api.get_chat(chat_id)
    last: datetime | None = chat.last_message.send_at if chat.last_message else None
    unread: int | None = chat.unread
    contacts: list[Contact] = api.find_contacts("+55 11 99999-0000")
    new: Contact = api.create_contact("Ana", "5511999990000", email="ana@example.com")
    api.run_flow(chat_id, 12, {"origem": "site"})
    try:
        api.close_chat(chat_id, tabulation=7, comment="ok", send_feedback=False)
    except HuggyAPIError as error:
        status: int | None = error.status
        reason: str = error.reason
        del status, reason
    raw: Any = api.request("PUT", f"/chats/{chat_id}/workflow", json={"stepId": 3})
    agent: Agent = huggy.api.agent_profile()
    messages: list[ChatMessage] = [
        m for chat in api.iter_chats(situation="in_chat") for m in api.chat_messages(chat.id or 0)
    ]
    del last, unread, contacts, new, raw, agent, messages


def store_pair(access_token: str, refresh_token: str) -> None:
    del access_token, refresh_token


oauth_client: HuggyAPI = HuggyAPI.from_app("APP-1", "secret", "refresh", on_refresh=store_pair, timeout=5.0)
