"""``Huggy(app)``: the webhook as a Flask extension, with receivers that cannot vanish or pile up."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from blinker import NamedSignal
from flask import Blueprint, Flask, current_app

from .api import HuggyAPI
from .blueprint import make_blueprint
from .endpoint import Endpoint, get_endpoint
from .errors import ConfigError
from .signals import EVENT_SIGNALS, event_received

Receiver = TypeVar("Receiver", bound=Callable[..., Any])


class Huggy:
    """One Huggy webhook endpoint: ``POST {url_prefix}/webhook``, configured by ``{config_prefix}*`` keys.

    Works both ways Flask extensions do::

        huggy = Huggy(app)                  # receivers declared after it fire for this app

        huggy = Huggy()                     # at import time, receivers declared at import time too
        @huggy.on("closedChat")
        def archive(app, event, delivery, **extra): ...

        def create_app():
            app = Flask(__name__)
            huggy.init_app(app)             # connects them for this app

    ``celery`` (a Celery app) makes the webhook queue deliveries for Celery
    workers instead of running receivers in the request. A second Huggy
    account is a second instance with its own name, URL and config keys::

        account_b = Huggy(app, name="huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_")

    :meth:`init_app` registers the endpoint's blueprint, which reads the
    settings once. Per-app state lives in the app's
    :class:`~flask_huggy.endpoint.Endpoint` (``app.extensions["huggy"][name]``).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        name: str = "huggy",
        url_prefix: str = "/huggy",
        config_prefix: str = "HUGGY_",
        celery: Any = None,
    ) -> None:
        self.name = name
        self.url_prefix = url_prefix
        self.config_prefix = config_prefix
        #: The Celery app the webhook queues deliveries on; ``None``: receivers run in the request.
        self.celery = celery
        #: The endpoint's blueprint; :meth:`init_app` registers it.
        self.blueprint: Blueprint = make_blueprint(name, url_prefix=url_prefix, config_prefix=config_prefix)
        self._receivers: list[tuple[NamedSignal, Callable[..., Any]]] = []
        self._bound: weakref.ref[Flask] | None = None
        self._initialised = False
        if app is not None:
            self.init_app(app)
            self._bound = weakref.ref(app)

    def init_app(self, app: Flask) -> None:
        """Register the webhook on ``app`` (reading its settings) and connect the receivers declared so far."""
        if self._bound is not None:
            raise ConfigError(
                f"This Huggy was created with an app (Huggy(app)); for several apps create it without one "
                f"(huggy = Huggy()) and call huggy.init_app(app) in the factory: {app.name!r} was not set up."
            )
        app.register_blueprint(self.blueprint, celery=self.celery)
        self._initialised = True
        for signal, receiver in self._receivers:
            signal.connect(receiver, sender=app, weak=False)

    def on(self, event: str | None) -> Callable[[Receiver], Receiver]:
        """Connect the decorated function to an event's signal, for the apps of this extension.

        ``event`` is Huggy's event name (``"closedChat"``), or ``None`` for every
        event (:data:`~flask_huggy.signals.event_received`). The receiver gets the
        app as sender, then ``event`` and ``delivery`` as keyword arguments::

            @huggy.on("closedChat")
            def archive(app, event, delivery, **extra): ...

        A function that cannot take those arguments is refused here, not at
        Huggy's first delivery. The connection is strong: a function defined in
        an app factory stays connected after the factory returns.

        With ``Huggy(app)`` the receiver fires for that app. With ``Huggy()``
        it fires for every app :meth:`init_app` sets up, so it must be declared
        before the first :meth:`init_app` (as Flask refuses setup calls on a
        blueprint already registered): declared later, inside a factory, it would
        pile up, one more for every app the factory builds.
        """
        signal = self._signal(event)

        def decorator(receiver: Receiver) -> Receiver:
            _check_signature(receiver, event)
            app = self._bound() if self._bound is not None else None
            if app is not None:
                signal.connect(receiver, sender=app, weak=False)
            elif self._initialised:
                raise ConfigError(
                    f"huggy.on({event!r}) was called for {_name_of(receiver)} after huggy.init_app(): it would "
                    "fire for every app set up so far and pile up with each new one. Declare receivers before "
                    "init_app (at import time), or create the extension inside the factory with "
                    "huggy = Huggy(app) and declare them on it."
                )
            else:
                self._receivers.append((signal, receiver))
            return receiver

        return decorator

    @property
    def api(self) -> HuggyAPI:
        """The client of Huggy's REST API of the current app (``flask.current_app``; the bound app for ``Huggy(app)``).

        Built on first use from ``HUGGY_API_TOKEN`` (and ``HUGGY_API_URL``,
        ``HUGGY_API_COMPANY``): ``huggy.api.send_message(chat_id, "Olá!")``. Inside
        receivers, ``delivery.endpoint.api`` and ``event.reply`` make their writes once.
        """
        app = self._bound() if self._bound is not None else None
        return self.endpoint(app if app is not None else current_app._get_current_object()).api  # type: ignore[attr-defined]

    def endpoint(self, app: Flask) -> Endpoint:
        """This endpoint's state in ``app``: settings, stores, the handshake's outcome."""
        return get_endpoint(app, self.name)

    @staticmethod
    def _signal(event: str | None) -> NamedSignal:
        if event is None:
            return event_received
        try:
            return EVENT_SIGNALS[event]
        except KeyError:
            raise ValueError(
                f"{event!r} is no Huggy event this version knows ({', '.join(sorted(EVENT_SIGNALS))}); "
                "use huggy.on(None) to receive every event, known or not."
            ) from None

    def __repr__(self) -> str:
        return f"<Huggy {self.name!r} {self.url_prefix}/webhook {self.config_prefix}*>"


def _check_signature(receiver: Callable[..., Any], event: str | None) -> None:
    # A receiver that cannot be called as receivers are called would fail every
    # delivery with a 500, and Huggy would retry it forever.
    try:
        signature = inspect.signature(receiver)
    except (TypeError, ValueError):  # a builtin or a C callable: nothing to check
        return
    try:
        signature.bind(object(), event=None, delivery=None)
    except TypeError as exc:
        raise TypeError(
            f"The receiver {_name_of(receiver)} of huggy.on({event!r}) cannot be called as "
            f"receiver(app, event=..., delivery=...): {exc}. Declare it as "
            f"def {getattr(receiver, '__name__', 'receiver')}(app, event, delivery, **extra)."
        ) from None


def _name_of(receiver: Callable[..., Any]) -> str:
    return f"{getattr(receiver, '__module__', '?')}.{getattr(receiver, '__qualname__', repr(receiver))}"


__all__ = ["Huggy"]
