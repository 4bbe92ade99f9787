"""What one process of the inbox remembers without the database.

Refused requests are kept here, in memory, on purpose: bad input reaching the
webhook must leave the database exactly as it was. So are the outcomes of a chat
page's buttons (a reply sent, Huggy's refusal), for the page the button leads
back to. Each process (each gunicorn worker) remembers its own.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flask import Flask

from flask_huggy import HuggyAPI

EXTENSION = "huggy_inbox"
#: How many outcomes of the buttons are remembered (the oldest go first).
KEPT_OUTCOMES = 200


@dataclass(frozen=True)
class Refusal:
    """A request the webhook answered with an error: refused (``delivery_refused``: 4xx, 503) or failed
    (``receiver_failed``: a receiver raised, 500)."""

    at: datetime
    status: int
    error: str
    message: str


@dataclass
class DemoRun:
    """One run of "Try it without Huggy": what it sent, and how it went."""

    started_at: datetime
    #: Where it posts: the webhook's path, through the app itself.
    target: str
    total: int
    sent: int = 0
    accepted: int = 0
    #: Why the run stopped early, if it did.
    error: str | None = None
    #: The webhook's refusal that stopped it: (HTTP status, error code).
    refused: tuple[int, str] | None = None
    #: When it ended (banners about it go away a while after).
    finished_at: datetime | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def finish(self) -> None:
        self.finished_at = datetime.now(timezone.utc)
        self.done.set()

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (tests and the CLI use this); say whether it did."""
        return self.done.wait(timeout)


@dataclass(frozen=True)
class Outcome:
    """What a chat page says after one of its buttons: done, or why not (Huggy's API's refusal)."""

    chat_id: str
    ok: bool
    message: str
    #: The reply as typed, given back to the text box when it was not sent.
    draft: str = ""
    #: The call is still under way (the same form, submitted twice, finds this).
    pending: bool = False


@dataclass
class InboxState:
    last_refusal: Refusal | None = None
    last_demo: DemoRun | None = None
    #: Ids of the chats the demo posted from this process: their buttons go to the fake API.
    demo_chats: set[str] = field(default_factory=set)
    #: The client for the inbox's own fake Huggy API, once a button used it.
    fake_client: HuggyAPI | None = None
    #: Outcomes by the id of the form that was submitted: a form sent twice acts once.
    outcomes: OrderedDict[str, Outcome] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, form_id: str, chat_id: str) -> bool:
        """Take ``form_id`` for a call about to be made; ``False`` if it was taken already (sent twice)."""
        with self.lock:
            if form_id in self.outcomes:
                return False
            self.outcomes[form_id] = Outcome(chat_id, False, "Still being sent: reload in a moment.", pending=True)
            while len(self.outcomes) > KEPT_OUTCOMES:
                self.outcomes.popitem(last=False)
            return True

    def settle(self, form_id: str, outcome: Outcome) -> None:
        """Record what the call of ``form_id`` came to."""
        with self.lock:
            self.outcomes[form_id] = outcome


def inbox_state(app: Flask) -> InboxState:
    """The inbox's in-memory state for ``app`` (in ``app.extensions``, so each app has its own)."""
    state: InboxState = app.extensions[EXTENSION]
    return state


__all__ = ["DemoRun", "InboxState", "Outcome", "Refusal", "inbox_state"]
