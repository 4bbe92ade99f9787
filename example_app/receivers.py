"""The inbox's receivers: what it does with the signals flask-huggy sends.

This is the part of the example to copy. Receivers are connected to one app
(``connect_via(app)``), take the app as sender and everything else as keyword
arguments, and accept ``**extra`` so that arguments added later never break them.

Why the delivery is stored from ``delivery_received`` and not event by event:
flask-huggy fires ``delivery_received`` once, after every event of the delivery
went through its own signal and ``event_received``. Writing the whole delivery
there, in one transaction, makes storage atomic:

- a delivery the blueprint refuses (wrong token, bad JSON, ...) fires no signal,
  so nothing is written;
- a receiver that raises on one event (yours, connected next to these) stops
  the dispatch before ``delivery_received``, so nothing of the delivery is
  written either; Huggy gets a 500 and retries;
- a failure while writing rolls the whole delivery back.

A delivery Huggy retries (same ``time`` and ``messages``) is stored once.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

from flask import Flask, Response, request, request_finished

from flask_huggy import Delivery, Event, endpoint_state, signals

from .models import db
from .state import Refusal, inbox_state
from .store import add_delivery, add_handshake, already_stored

logger = logging.getLogger("example_app")


def connect_receivers(app: Flask) -> None:
    """Connect the inbox's receivers to ``app``'s signals."""

    @signals.event_received.connect_via(app)
    def log_event(sender: Flask, event: Event, delivery: Delivery, **extra: Any) -> None:
        logger.info("%s %s", event.name, json.dumps(event.raw, ensure_ascii=False, default=str))

    @signals.delivery_received.connect_via(app)
    def store_delivery(sender: Flask, delivery: Delivery, **extra: Any) -> None:
        if already_stored(delivery):
            logger.info("A delivery already stored came again (a retry by Huggy?): kept once.")
            return
        try:
            add_delivery(delivery)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise  # flask-huggy answers 500, so Huggy retries the delivery

    @signals.token_validated.connect_via(app)
    def remember_handshake(sender: Flask, token: str, confirmed: bool | None = None, **extra: Any) -> None:
        # Sent once the handshake has been answered with the token and the
        # confirmation request to Huggy has been tried: ``confirmed`` says how
        # that went (True, False, or None when HUGGY_CONFIRM_URL switches it off).
        error = endpoint_state(sender).last_handshake_error if confirmed is False else None
        logger.info("Huggy's handshake was answered; confirmation request: %s.",
                    {True: "accepted", False: "failed", None: "switched off"}.get(confirmed, confirmed))
        try:
            add_handshake(token, confirmed=confirmed, error=_describe(error))
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise

    @request_finished.connect_via(app)
    def remember_refusals(sender: Flask, response: Response, **extra: Any) -> None:
        # Kept in memory only: a refused request must not change the database.
        if request.blueprint != "huggy" or response.status_code < 400:
            return
        body = response.get_json(silent=True) if response.is_json else None
        body = body if isinstance(body, dict) else {}
        inbox_state(sender).last_refusal = Refusal(
            at=datetime.now(timezone.utc),
            status=response.status_code,
            error=str(body.get("error", "error")),
            message=str(body.get("message", response.status)),
        )


def _describe(error: dict[str, Any] | None) -> str | None:
    """flask-huggy's ``{"error": ..., "message": ...}`` as one line."""
    if not error:
        return None
    return f"{error.get('error', 'error')}: {error.get('message', '')}".strip()


__all__ = ["connect_receivers"]
