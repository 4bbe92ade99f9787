"""``Huggy(app)``: the webhook as a Flask extension, with receivers that cannot vanish."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from blinker import NamedSignal
from flask import Blueprint, Flask

from .blueprint import make_blueprint
from .endpoint import Endpoint, get_endpoint
from .signals import EVENT_SIGNALS, event_received

Receiver = TypeVar("Receiver", bound=Callable[..., Any])


class Huggy:
    """One Huggy webhook endpoint: ``POST {url_prefix}/webhook``, configured by ``{config_prefix}*`` keys.

    Works both ways Flask extensions do::

        huggy = Huggy(app)

        huggy = Huggy()                     # at import time
        def create_app():
            app = Flask(__name__)
            huggy.init_app(app)

    :meth:`init_app` registers the endpoint's blueprint (and with it the ``flask
    <name>`` commands) and connects the receivers given to :meth:`on`. A second
    Huggy account is a second instance with its own name, URL and config keys::

        account_b = Huggy(app, name="huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_")

    Per-app state (settings, stores, handshake status) lives in the app's
    :class:`~flask_huggy.endpoint.Endpoint` (``app.extensions["huggy"][name]``),
    never on this object, so one instance serves any number of apps.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        name: str = "huggy",
        url_prefix: str = "/huggy",
        config_prefix: str = "HUGGY_",
    ) -> None:
        self.name = name
        self.url_prefix = url_prefix
        self.config_prefix = config_prefix
        #: The endpoint's blueprint; :meth:`init_app` registers it.
        self.blueprint: Blueprint = make_blueprint(name, url_prefix=url_prefix, config_prefix=config_prefix)
        self._receivers: list[tuple[NamedSignal, Callable[..., Any]]] = []
        self._apps: weakref.WeakSet[Flask] = weakref.WeakSet()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register the webhook on ``app`` and connect the receivers given to :meth:`on`."""
        app.register_blueprint(self.blueprint)
        self._apps.add(app)
        for signal, receiver in self._receivers:
            signal.connect(receiver, sender=app, weak=False)

    def on(self, event: str | None) -> Callable[[Receiver], Receiver]:
        """Connect the decorated function to an event's signal, for the apps of this extension.

        ``event`` is Huggy's event name (``"closedChat"``), or ``None`` for every
        event (:data:`~flask_huggy.signals.event_received`). The receiver gets the
        app as sender, then ``event`` and ``delivery`` as keyword arguments::

            @huggy.on("closedChat")
            def archive(app, event, delivery, **extra): ...

        Unlike blinker's default, the connection is strong: a function defined
        inside an app factory stays connected after the factory returns, instead
        of being garbage-collected while Huggy is told "accepted".
        """
        if event is None:
            signal = event_received
        else:
            try:
                signal = EVENT_SIGNALS[event]
            except KeyError:
                raise ValueError(
                    f"{event!r} is no Huggy event this version knows ({', '.join(sorted(EVENT_SIGNALS))}); "
                    "use huggy.on(None) to receive every event, known or not."
                ) from None

        def decorator(receiver: Receiver) -> Receiver:
            self._receivers.append((signal, receiver))
            for app in self._apps:
                signal.connect(receiver, sender=app, weak=False)
            return receiver

        return decorator

    def endpoint(self, app: Flask) -> Endpoint:
        """This endpoint's state in ``app``: settings, stores, the handshake's outcome."""
        return get_endpoint(app, self.name)

    def __repr__(self) -> str:
        return f"<Huggy {self.name!r} {self.url_prefix}/webhook {self.config_prefix}*>"


__all__ = ["Huggy"]
