"""The inbox acts: a chat page's reply, internal note and close, through Huggy's REST API client.

With ``HUGGY_API_TOKEN`` the buttons go to Huggy through the endpoint's client
(``huggy.api``). Without it, they go to a :class:`~flask_huggy.testing.FakeHuggyAPI`
the inbox starts on the first click: one per process (each gunicorn worker has its
own), on 127.0.0.1 only, stopped when the process exits. The endpoint's client then
points at it, so ``huggy.api`` reaches the fake everywhere in the app. The chats
the demo posted in this process go to the fake too, even with a token: their ids
are made up, and one could be a real customer's chat in your account.

The fake knows only the chats it is told about: each action adds the chat to it
first, as the inbox shows it. What it answers is what Huggy's public callers show
(a stored message, an empty close); it sends no webhook back, so a reply does not
appear in the timeline as Huggy's would.
"""

from __future__ import annotations

import atexit
import logging
import threading
from zoneinfo import ZoneInfo

from flask import Flask

from flask_huggy import HuggyAPI, HuggyAPIError
from flask_huggy.testing import FakeHuggyAPI

from .models import Chat
from .state import Outcome, inbox_state
from .webhook import huggy

logger = logging.getLogger("example_app")

#: Huggy's ``situation`` of a closed chat, as the fake describes it.
FINISHED = "finished"

_fake: FakeHuggyAPI | None = None
_fake_lock = threading.Lock()


def inbox_fake(zone: ZoneInfo) -> FakeHuggyAPI:
    """The process's fake Huggy API, started on first use and stopped at exit; Huggy's dates in ``zone``."""
    global _fake
    with _fake_lock:
        if _fake is None:
            _fake = FakeHuggyAPI(timezone=zone.key).start()  # binds 127.0.0.1 only
            atexit.register(_fake.stop)
            logger.info("Started a fake Huggy API for the inbox's buttons at %s.", _fake.url)
        return _fake


def running_fake() -> FakeHuggyAPI | None:
    """The process's fake Huggy API if it was started, else ``None``; starts nothing."""
    return _fake


def fake_reason(app: Flask, chat_id: str) -> str | None:
    """Why a chat's buttons go to the fake, or ``None`` when they go to Huggy.

    ``"no_token"``: ``HUGGY_API_TOKEN`` is not set; ``"demo"``: the demo posted this chat.
    """
    if huggy.endpoint(app).settings.api_token is None:
        return "no_token"
    if chat_id in inbox_state(app).demo_chats:
        return "demo"
    return None


def client_for(app: Flask, chat: Chat) -> HuggyAPI:
    """The client a chat's buttons use: the endpoint's (``huggy.api``), or one for the inbox's fake.

    A chat that goes to the fake is added to it first, so that the fake answers
    as Huggy would for a chat it knows, not 404.
    """
    endpoint = huggy.endpoint(app)
    reason = fake_reason(app, chat.id)
    if reason is None:
        return endpoint.api
    fake = inbox_fake(endpoint.settings.timezone)
    if chat.id not in fake.chats:
        fake.add_chat(
            id=chat.id,
            situation=FINISHED if chat.closed else (chat.situation or "in_chat"),
            channel=chat.channel or "whatsapp",
        )
    state = inbox_state(app)
    with state.lock:
        if state.fake_client is None:
            state.fake_client = HuggyAPI(fake.token, base_url=fake.url, timezone=endpoint.settings.timezone)
            if reason == "no_token":
                endpoint.api = state.fake_client  # huggy.api reaches the fake too, not a ConfigError
        return state.fake_client


def reply(app: Flask, chat: Chat, text: str, *, internal: bool) -> Outcome:
    """Send ``text`` as is into the chat, as a message or an internal note."""
    what = "Internal note" if internal else "Reply"
    if not text.strip():
        return Outcome(chat.id, False, f"{what} not sent: it is empty.")
    try:
        message = client_for(app, chat).send_message(chat.id, text, internal=internal)
    except HuggyAPIError as exc:
        logger.info("Replying to chat %s failed: HTTP %s.", chat.id, exc.status)
        return Outcome(chat.id, False, f"{what} not sent: {_refusal(exc)}", draft=text)
    logger.info("Replied to chat %s (internal: %s).", chat.id, internal)
    number = f" (message {message.id})" if message is not None else ""
    return Outcome(chat.id, True, f"{what} sent{number}. It shows here when Huggy's webhook reports it.")


def close(app: Flask, chat: Chat, tabulation: str) -> Outcome:
    """Close the chat with the tabulation typed (an id: digits are sent as a number), or none."""
    typed = tabulation.strip()
    given: int | str | None = int(typed) if typed.isascii() and typed.isdigit() else (typed or None)
    try:
        client_for(app, chat).close_chat(chat.id, tabulation=given)
    except HuggyAPIError as exc:
        logger.info("Closing chat %s failed: HTTP %s.", chat.id, exc.status)
        return Outcome(chat.id, False, f"Chat not closed: {_refusal(exc)}")
    logger.info("Closed chat %s.", chat.id)
    with_tabulation = f"with tabulation {typed}" if typed else "without tabulation"
    return Outcome(chat.id, True, f"Chat closed {with_tabulation}. Huggy's webhook reports it as closedChat.")


def _refusal(exc: HuggyAPIError) -> str:
    if exc.status is None:
        return f"Huggy's API gave no answer ({exc.reason})."
    return f"Huggy's API answered HTTP {exc.status}: {exc.reason}"


__all__ = ["client_for", "close", "fake_reason", "inbox_fake", "reply", "running_fake"]
