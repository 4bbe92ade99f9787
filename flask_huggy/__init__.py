"""flask-huggy: receive Huggy's webhooks in any Flask app.

Register :data:`blueprint`, set ``HUGGY_WEBHOOK_TOKEN``, and connect receivers
to the blinker signals in :mod:`flask_huggy.signals`::

    app.register_blueprint(flask_huggy.blueprint)

    @signals.closed_chat.connect_via(app)
    def on_closed(app, event, delivery, **extra): ...
"""

from __future__ import annotations

from . import models, signals, testing
from ._version import __version__
from .auth import mask_token, token_matches
from .blueprint import EndpointState, blueprint, endpoint_state, make_blueprint
from .celery import HuggyCelery, enqueue_delivery, init_celery
from .config import DEFAULTS, Settings, read_settings
from .dedup import Deduplicator, MemoryStore, RedisStore, deduplicator_for, event_key
from .dispatch import DispatchSummary, EventOutcome, dispatch, validate_all
from .envelope import decode_json, is_handshake, parse_delivery
from .errors import (
    ConfigError,
    ConfirmationRefused,
    DedupUnavailable,
    DuplicateInFlight,
    HandshakeError,
    HuggyError,
    HuggyTimeout,
    HuggyUnreachable,
    InvalidBody,
    InvalidEnvelope,
    InvalidEvent,
    JournalUnavailable,
    PayloadTooLarge,
    QueueUnavailable,
    SourceRejected,
    StaleDelivery,
    TokenRejected,
)
from .events import Delivery, Event
from .handshake import confirm_token
from .journal import (
    Journal,
    JournaledDelivery,
    failed_deliveries,
    journal_for,
    journaled_dispatch,
)

__all__ = [
    "DEFAULTS",
    "ConfigError",
    "ConfirmationRefused",
    "DedupUnavailable",
    "Deduplicator",
    "Delivery",
    "DispatchSummary",
    "DuplicateInFlight",
    "EndpointState",
    "Event",
    "EventOutcome",
    "HandshakeError",
    "HuggyCelery",
    "HuggyError",
    "HuggyTimeout",
    "HuggyUnreachable",
    "InvalidBody",
    "InvalidEnvelope",
    "InvalidEvent",
    "Journal",
    "JournalUnavailable",
    "JournaledDelivery",
    "MemoryStore",
    "PayloadTooLarge",
    "QueueUnavailable",
    "RedisStore",
    "Settings",
    "SourceRejected",
    "StaleDelivery",
    "TokenRejected",
    "__version__",
    "blueprint",
    "confirm_token",
    "decode_json",
    "deduplicator_for",
    "dispatch",
    "endpoint_state",
    "enqueue_delivery",
    "event_key",
    "failed_deliveries",
    "init_celery",
    "is_handshake",
    "journal_for",
    "journaled_dispatch",
    "make_blueprint",
    "mask_token",
    "models",
    "parse_delivery",
    "read_settings",
    "signals",
    "testing",
    "token_matches",
    "validate_all",
]
