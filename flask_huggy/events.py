"""The objects receivers get: :class:`Event` and :class:`Delivery`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from flask import current_app
from marshmallow import ValidationError

from .models import AgentEntered, Chat, ChatOpened, ClosedChat, HuggyObject
from .once import current_scope
from .schemas import EVENT_SCHEMAS, build_event_object, load_event

if TYPE_CHECKING:
    from .api import ChatMessage, HuggyAPI
    from .endpoint import Endpoint

_UNSET: Any = object()


class Event:
    """One event of a delivery, as Huggy sent it and as validated.

    Validation runs at most once, and only when needed: the dispatcher asks for it
    when some receiver listens, a receiver asks for it by reading :attr:`data`.
    Events nobody listens to cost nothing beyond the envelope.
    """

    __slots__ = ("_data", "_errors", "_obj", "_timezone", "duplicate", "name", "raw")

    def __init__(self, name: str, raw: dict[str, Any], timezone: tzinfo) -> None:
        #: Huggy's event name, e.g. ``"closedChat"``.
        self.name = name
        #: The object exactly as Huggy sent it. The library never changes it.
        self.raw = raw
        #: True when de-duplication skipped the event: it was handled before.
        self.duplicate = False
        self._timezone = timezone
        self._data: dict[str, Any] = _UNSET
        self._errors: dict[str, Any] | None = None
        self._obj: HuggyObject | None = _UNSET

    @property
    def known(self) -> bool:
        """Whether this version of flask-huggy has a schema for the event."""
        return self.name in EVENT_SCHEMAS

    @property
    def data(self) -> dict[str, Any]:
        """The validated, coerced mapping (ids as ``int``, ``false`` as ``None``,
        timestamps as aware UTC datetimes, unknown fields kept).

        For an event this version does not know, or one that failed validation,
        this is :attr:`raw` itself: nothing Huggy sent is withheld.
        """
        if self._data is _UNSET:
            self.validate()
        return self._data

    @property
    def obj(self) -> HuggyObject | None:
        """The event as a frozen, typed object of :mod:`flask_huggy.models`
        (``closedChat`` gives a :class:`~flask_huggy.models.ClosedChat`), built
        from :attr:`data` on first access and kept.

        ``None`` for an event this version does not know, and for one that failed
        validation: for those :attr:`data` is Huggy's raw mapping, which no class
        can promise to describe. Narrow it with ``isinstance`` before use.
        """
        if self._obj is _UNSET:
            valid = self.validate()
            self._obj = build_event_object(self.name, self._data) if valid and self.known else None
        return self._obj

    @property
    def errors(self) -> dict[str, Any] | None:
        """marshmallow's messages if the event failed validation, else ``None``."""
        if self._data is _UNSET:
            self.validate()
        return self._errors

    @property
    def is_valid(self) -> bool:
        """Whether the event passed validation (unknown events count as valid)."""
        return self.errors is None

    def validate(self) -> bool:
        """Validate now (once) and say whether the event is valid."""
        if self._data is not _UNSET:
            return self._errors is None
        if self.name not in EVENT_SCHEMAS:
            self._data = self.raw
            return True
        try:
            self._data = load_event(self.name, self.raw, self._timezone)
        except ValidationError as exc:
            self._data = self.raw
            self._errors = exc.messages_dict
            return False
        except RecursionError:
            self._data = self.raw
            self._errors = {"_schema": ["Nested too deeply to validate."]}
            return False
        return True

    @property
    def chat_id(self) -> int | None:
        """The id of the chat the event is about, or ``None`` (a contact or an agent event, an invalid event).

        A message's or a form's ``chat``, a flow's ``chatID``, or the event's own
        ``id`` for the chat events (startedChat, closedChat, agentEntered...).
        """
        obj = self.obj
        if isinstance(obj, (ChatOpened, AgentEntered, ClosedChat)):
            return obj.id
        chat = getattr(obj, "chat", None)
        if isinstance(chat, Chat):
            return chat.id
        chat_id = getattr(obj, "chat_id", None)
        return chat_id if isinstance(chat_id, int) else None

    def reply(self, text: str, *, internal: bool = False) -> ChatMessage | None:
        """Send ``text`` into the event's chat (an internal note with ``internal``), from a receiver.

        One line for ``delivery.endpoint.api.send_message(event.chat_id, text)``, and made
        once: run again for the same event (a retry, a replay), the reply is not
        sent twice (docs: "Acting on events"). Raises ``ValueError`` for an event
        without a chat.
        """
        chat_id = self.chat_id
        if chat_id is None:
            raise ValueError(
                f"A {self.name} event names no chat to reply to: reply to message and chat events, or call "
                "delivery.endpoint.api.send_message(chat_id, text) with the chat you mean."
            )
        return receiver_api("event.reply").send_message(chat_id, text, internal=internal)

    def __repr__(self) -> str:
        return f"<Event {self.name}>"


@dataclass(frozen=True, eq=False, init=False)
class Delivery:
    """One POST from Huggy: a chain of events sent together."""

    #: When Huggy sent the delivery (its epoch ``time``), timezone-aware UTC;
    #: ``None`` if the delivery carried no ``time``.
    time: datetime | None
    #: The token the delivery carried (already checked). Kept out of ``repr``.
    token: str | None = field(repr=False)
    #: All events in payload order: ``messages`` keys in order, then list order.
    events: tuple[Event, ...]
    #: The delivery exactly as Huggy sent it. Kept out of ``repr``: it holds the token.
    raw: Mapping[str, Any] = field(repr=False)
    #: The name of the endpoint it came to (``"huggy"``; see :class:`~flask_huggy.Huggy`),
    #: so that receivers of two Huggy accounts can tell their deliveries apart.
    endpoint_name: str = "huggy"

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint the delivery came to, in the current app: its settings, and its ``api``.

        ``delivery.endpoint.api.close_chat(...)`` in a receiver is the endpoint's
        :class:`~flask_huggy.HuggyAPI` (``HUGGY_API_TOKEN``), on a Celery worker and
        in ``flask huggy replay`` too; inside a receiver its writes are made once
        per event. Needs the app's context, which receivers always have.
        """
        endpoints: dict[str, Endpoint] = current_app.extensions["huggy"]  # endpoint.EXTENSION_KEY
        return endpoints[self.endpoint_name]

    def __init__(
        self,
        time: datetime | None,
        token: str | None,
        events: tuple[Event, ...],
        raw: Mapping[str, Any],
        endpoint_name: str = "huggy",
    ) -> None:
        # One is built per request: filling __dict__ directly costs a fifth of
        # the object.__setattr__ calls a frozen dataclass's own __init__ makes.
        fields = self.__dict__
        fields["time"] = time
        fields["token"] = token
        fields["events"] = events
        fields["raw"] = raw
        fields["endpoint_name"] = endpoint_name


def receiver_api(what: str) -> HuggyAPI:
    """The client of the endpoint whose receivers are running, or a ``RuntimeError`` naming ``what``."""
    scope = current_scope()
    if scope is None or scope.endpoint is None:
        raise RuntimeError(
            f"{what} works while a delivery's receivers run; elsewhere use huggy.api (the current app's client)."
        )
    return scope.endpoint.api
