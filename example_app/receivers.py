"""The inbox's receivers: what it does with the signals flask-huggy sends.

This is the part of the example to copy. Receivers of Huggy's events are
connected to the extension (``@huggy.on("closedChat")``, or ``@huggy.on(None)``
for every event), which connects them strongly to each app it is given; the
library's own signals (``delivery_received``, ``token_validated``,
``delivery_refused``, ...) are connected to one app with ``connect_via(app)``.
Receivers take the app as sender and everything else as keyword arguments, and
accept ``**extra`` so that arguments added later never break them.

Why the delivery is stored from ``delivery_received`` and not event by event:
flask-huggy fires ``delivery_received`` once, after every event of the delivery
went through its own signal and ``event_received``. Writing the whole delivery
there, in one transaction, makes storage atomic:

- a delivery the webhook refuses (wrong token, bad JSON, ...) fires no signal
  but ``delivery_refused``, so nothing is written;
- a receiver that raises on one event (yours, connected next to these) stops
  the dispatch before ``delivery_received``, so nothing of the delivery is
  written either; Huggy gets a 500 and retries;
- a failure while writing rolls the whole delivery back.

A delivery Huggy retries (same ``time`` and ``messages``) is stored once, also
when two copies arrive at the same moment and race to store it.

The log says which event came, for which chat and message, and nothing the
customer wrote or is: names, phones and e-mails stay in the database.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from flask import Flask, g, has_app_context
from sqlalchemy.exc import IntegrityError

from flask_huggy import Delivery, Event, signals

from .models import db
from .state import Refusal, inbox_state
from .store import add_delivery, add_handshake, already_stored
from .summary import summarize
from .webhook import huggy

logger = logging.getLogger("example_app")


@huggy.on(None)  # every event, known to flask-huggy or not
def log_event(sender: Flask, event: Event, delivery: Delivery, **extra: Any) -> None:
    summary = summarize(event)
    logger.info(
        "%s chat=%s message=%s", _loggable(event.name), _loggable(summary.chat_id), _loggable(summary.message_id)
    )


def connect_receivers(app: Flask) -> None:
    """Connect the inbox's receivers of flask-huggy's own signals to ``app``.

    ``connect_via`` holds them strongly, so functions defined here stay
    connected after this returns.
    """

    @signals.delivery_received.connect_via(app)
    def store_delivery(sender: Flask, delivery: Delivery, **extra: Any) -> None:
        if already_stored(delivery):
            logger.info("A delivery already stored came again (a retry by Huggy?): kept once.")
            return
        try:
            add_delivery(delivery)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            if not already_stored(delivery):
                raise  # another conflict (a chat created meanwhile): 500, and Huggy's retry stores it
            # The same delivery, posted twice at once, was stored by the other request
            # between our check and our write: it is stored once, as it should be.
            logger.info("A delivery stored meanwhile by another request came again: kept once.")
        except Exception:
            db.session.rollback()
            raise  # flask-huggy answers 500, so Huggy retries the delivery

    @signals.token_validated.connect_via(app)
    def remember_handshake(sender: Flask, token: str, confirmed: bool | None = None, **extra: Any) -> None:
        # Sent once the handshake has been answered with the token and the
        # confirmation request to Huggy has been tried: ``confirmed`` says how
        # that went (True, False, or None when HUGGY_CONFIRM_URL switches it off).
        error = huggy.endpoint(sender).last_handshake_error if confirmed is False else None
        logger.info(
            "Huggy's handshake was answered; confirmation request: %s.",
            {True: "accepted", False: "failed", None: "switched off"}.get(confirmed, confirmed),
        )
        try:
            add_handshake(token, confirmed=confirmed, error=_describe(error))
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise

    # Refusals and failures are kept in memory only: a refused request must not change the database.

    @signals.delivery_refused.connect_via(app)
    def remember_refusal(sender: Flask, status: int, body: dict[str, Any], **extra: Any) -> None:
        # The JSON body the webhook answered with: its "error" and "message".
        if g.get("inbox_receiver_failed"):
            return  # the 500 that answers a receiver's failure: remember_failure said more
        inbox_state(sender).last_refusal = Refusal(
            at=datetime.now(timezone.utc), status=status, error=body["error"], message=body["message"]
        )

    @signals.receiver_failed.connect_via(app)
    def remember_failure(sender: Flask, event: Event | None, exception: Exception, **extra: Any) -> None:
        # A receiver raised (storing the delivery, say): Flask answers 500 and Huggy retries.
        # The exception's type only: its text may quote what the delivery carried.
        what = f"A receiver of {event.name}" if event is not None else "A receiver of the whole delivery"
        if has_app_context():
            g.inbox_receiver_failed = True
        inbox_state(sender).last_refusal = Refusal(
            at=datetime.now(timezone.utc),
            status=500,
            error="receiver_failed",
            message=f"{what} raised {type(exception).__name__}; Huggy retries the delivery.",
        )


def _loggable(text: str | None) -> str:
    """Text from a delivery as one log line holds it: non-printable characters escaped, at most 100."""
    if text is None:
        return "-"
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text[:100])


def _describe(error: dict[str, Any] | None) -> str | None:
    """flask-huggy's ``{"error": ..., "message": ...}`` as one line."""
    if not error:
        return None
    return f"{error.get('error', 'error')}: {error.get('message', '')}".strip()


__all__ = ["connect_receivers"]
