"""What one process of the inbox remembers without the database.

Refused requests are kept here, in memory, on purpose: bad input reaching the
webhook must leave the database exactly as it was. Each process (each gunicorn
worker) remembers its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flask import Flask

EXTENSION = "huggy_inbox"


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


@dataclass
class InboxState:
    last_refusal: Refusal | None = None
    last_demo: DemoRun | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def inbox_state(app: Flask) -> InboxState:
    """The inbox's in-memory state for ``app`` (in ``app.extensions``, so each app has its own)."""
    state: InboxState = app.extensions[EXTENSION]
    return state


__all__ = ["DemoRun", "InboxState", "Refusal", "inbox_state"]
