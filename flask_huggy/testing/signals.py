"""Record the flask-huggy signals an app sends, to assert on what its receivers would get."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from blinker import ANY, NamedSignal

from .. import signals as _signals

if TYPE_CHECKING:
    from ..events import Delivery, Event


@dataclass(frozen=True)
class SignalCall:
    """One signal sent: its name, its sender (the app) and its keyword arguments."""

    name: str
    sender: Any
    kwargs: dict[str, Any]


class SignalRecorder:
    """Records every flask-huggy signal sent, in order, while connected.

    Connect it with ``with SignalRecorder() as signals: ...`` (or use the
    ``huggy_signals`` fixture). Signals are named by their signal name
    (``"closedChat"``, ``"huggy.event_received"``) or by their attribute in
    :mod:`flask_huggy.signals` (``"closed_chat"``, ``"event_received"``).

    Recording is listening: while connected, every event is validated, as it
    would be with a receiver on :data:`~flask_huggy.signals.event_received`.
    """

    def __init__(self, sender: Any = ANY) -> None:
        #: Only signals from this sender (an app) are recorded; default: all.
        self.sender = sender
        #: Every signal sent, in order.
        self.calls: list[SignalCall] = []
        self._receivers: list[tuple[NamedSignal, Any]] = []

    def connect(self) -> None:
        for name, signal in _signals.huggy_signals.items():

            def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
                self.calls.append(SignalCall(_name, sender, kwargs))

            signal.connect(receiver, sender=self.sender, weak=False)
            self._receivers.append((signal, receiver))

    def disconnect(self) -> None:
        for signal, receiver in self._receivers:
            signal.disconnect(receiver, sender=self.sender)
        self._receivers.clear()

    def __enter__(self) -> SignalRecorder:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.disconnect()

    def names(self) -> list[str]:
        """The names of the signals sent, in order (``["closedChat", "huggy.event_received", ...]``)."""
        return [call.name for call in self.calls]

    def calls_to(self, signal: str | NamedSignal) -> list[SignalCall]:
        """The calls of one signal, by name, attribute name or signal object."""
        name = signal_name(signal)
        return [call for call in self.calls if call.name == name]

    def events(self, signal: str | NamedSignal = "event_received") -> list[Event]:
        """The :class:`~flask_huggy.Event` objects one signal got (default: every event)."""
        return [call.kwargs["event"] for call in self.calls_to(signal)]

    def deliveries(self) -> list[Delivery]:
        """The deliveries received, one per ``delivery_received``."""
        return [call.kwargs["delivery"] for call in self.calls_to(_signals.delivery_received)]

    def clear(self) -> None:
        """Forget what was recorded so far (e.g. after setting up the test)."""
        self.calls.clear()


def signal_name(signal: str | NamedSignal) -> str:
    """The name of a flask-huggy signal given as its name, its attribute name or itself.

    ``"closed_chat"`` and ``"closedChat"`` both give ``"closedChat"``;
    ``"event_received"`` gives ``"huggy.event_received"``; an alias
    (``"sentAllMessage"``, ``"sent_all_message"``) gives its event's signal
    (``"sendedAllMessage"``). A name that is no flask-huggy signal raises
    :class:`ValueError`, so a typo cannot make a test pass by recording nothing.
    """
    if isinstance(signal, NamedSignal):
        return signal.name
    if signal in _signals.EVENT_SIGNALS:
        return _signals.EVENT_SIGNALS[signal].name
    if signal in _signals.huggy_signals:
        return signal
    attribute = getattr(_signals, signal, None)
    if isinstance(attribute, NamedSignal) and attribute.name in _signals.huggy_signals:
        return attribute.name
    raise ValueError(f"{signal!r} is not a flask-huggy signal; see flask_huggy.signals.")


def signal_attributes() -> dict[str, str]:
    """Signal name -> its attribute in :mod:`flask_huggy.signals` (``"closedChat"`` -> ``"closed_chat"``).

    A signal reachable under two attributes (``sended_all_message`` and its alias
    ``sent_all_message``) gives the first, the one named like Huggy's docs.
    """
    attributes: dict[str, str] = {}
    for attribute, value in vars(_signals).items():
        if isinstance(value, NamedSignal) and value.name in _signals.huggy_signals:
            attributes.setdefault(value.name, attribute)
    return attributes


__all__ = ["SignalCall", "SignalRecorder", "signal_attributes", "signal_name"]
