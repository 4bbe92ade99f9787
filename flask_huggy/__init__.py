"""flask-huggy: receive Huggy's webhooks in any Flask app.

Create the extension, set ``HUGGY_WEBHOOK_TOKEN``, and connect receivers::

    huggy = Huggy(app)

    @huggy.on("closedChat")
    def on_closed(app, event, delivery, **extra): ...

:data:`blueprint` and :func:`make_blueprint` give the same webhook as a plain
blueprint, and the blinker signals in :mod:`flask_huggy.signals` can be
connected directly. ``__all__`` lists what apps use; everything else lives in
its submodule (:mod:`flask_huggy.testing`, :mod:`flask_huggy.celery`, ...).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from . import models, signals
from ._version import __version__
from .blueprint import blueprint, make_blueprint
from .celery import init_celery
from .dedup import Store
from .errors import ConfigError, DeliveryRejected, HandshakeError, HuggyError, Unavailable
from .events import Delivery, Event
from .extension import Huggy

__all__ = [
    "ConfigError",
    "Delivery",
    "DeliveryRejected",
    "Event",
    "HandshakeError",
    "Huggy",
    "HuggyError",
    "Store",
    "Unavailable",
    "__version__",
    "blueprint",
    "init_celery",
    "make_blueprint",
    "models",
    "signals",
]

#: Names earlier versions exported from the package, and the submodule each lives in
#: now. They are still found here (loaded on first use), but are not the front door.
_MOVED = {
    "HuggyCelery": "celery",
    "enqueue_delivery": "celery",
    "mask_token": "auth",
    "token_matches": "auth",
    "EndpointState": "blueprint",
    "endpoint_state": "blueprint",
    "DEFAULTS": "config",
    "Settings": "config",
    "read_settings": "config",
    "Deduplicator": "dedup",
    "MemoryStore": "dedup",
    "RedisStore": "dedup",
    "event_key": "dedup",
    "DispatchSummary": "dispatch",
    "EventOutcome": "dispatch",
    "dispatch": "dispatch",
    "validate_all": "dispatch",
    "decode_json": "envelope",
    "is_handshake": "envelope",
    "parse_delivery": "envelope",
    "confirm_token": "handshake",
    "Journal": "journal",
    "JournaledDelivery": "journal",
    "failed_deliveries": "journal",
    "testing": "",
    **{
        name: "errors"
        for name in (
            "ConfirmationRefused",
            "DedupUnavailable",
            "DuplicateInFlight",
            "HuggyTimeout",
            "HuggyUnreachable",
            "InvalidBody",
            "InvalidEnvelope",
            "InvalidEvent",
            "JournalUnavailable",
            "PayloadTooLarge",
            "QueueUnavailable",
            "SourceRejected",
            "StaleDelivery",
            "TokenRejected",
        )
    },
}


def __getattr__(name: str) -> Any:
    # Loaded on first use, so that ``import flask_huggy`` imports neither Celery's
    # glue nor the test helpers.
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module 'flask_huggy' has no attribute {name!r}")
    if not module:
        return import_module(f"{__name__}.{name}")
    return getattr(import_module(f"{__name__}.{module}"), name)
