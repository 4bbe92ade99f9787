"""flask-huggy: receive Huggy's webhooks in any Flask app.

Create the extension, set ``HUGGY_WEBHOOK_TOKEN``, and connect receivers::

    huggy = Huggy(app)

    @huggy.on("closedChat")
    def on_closed(app, event, delivery, **extra): ...

:data:`blueprint` and :func:`make_blueprint` give the same webhook as a plain
blueprint, and the blinker signals in :mod:`flask_huggy.signals` can be
connected directly. :class:`HuggyAPI` acts on events (``event.reply(...)``,
``huggy.api``). ``__all__`` is the public API, with the documented
submodules :mod:`flask_huggy.signals`, :mod:`flask_huggy.models` and
:mod:`flask_huggy.testing`.
"""

from __future__ import annotations

from . import models, signals
from ._version import __version__
from .api import HuggyAPI
from .blueprint import blueprint, make_blueprint
from .dedup import Store
from .errors import ConfigError, DeliveryRejected, HandshakeError, HuggyAPIError, HuggyError, Unavailable
from .events import Delivery, Event
from .extension import Huggy

__all__ = [
    "ConfigError",
    "Delivery",
    "DeliveryRejected",
    "Event",
    "HandshakeError",
    "Huggy",
    "HuggyAPI",
    "HuggyAPIError",
    "HuggyError",
    "Store",
    "Unavailable",
    "__version__",
    "blueprint",
    "make_blueprint",
    "models",
    "signals",
]
