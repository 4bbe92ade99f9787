"""marshmallow schemas for Huggy's webhook: one per event, built from shared parts.

:data:`EVENT_SCHEMAS` maps each Huggy event name to the schema that validates and
coerces it. Schemas are instantiated once, here, and shared: loading is
thread-safe and instantiating a schema costs far more than using one.

:func:`build_event_object` turns what a schema loaded into the event's typed object
(:mod:`flask_huggy.models`); the loaded dict itself is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import tzinfo
from typing import Any

from ..aliases import with_aliases
from ..models import EVENT_MODELS, HuggyObject
from .base import HuggySchema
from .chats import (
    AgentEnteredSchema,
    AnsweredChatFormSchema,
    ChatOpenedSchema,
    ClosedChatSchema,
    UpdatedWorkflowStepSchema,
)
from .compiled import compile_loader
from .customers import AgentStatusSchema, CustomerEventSchema, WidgetAttendanceSchema
from .envelope import EnvelopeSchema
from .exports import ExportDataSchema
from .flows import FlowSchema
from .messages import MessageSchema

_message = MessageSchema()
_chat_opened = ChatOpenedSchema()
_customer = CustomerEventSchema()
_flow = FlowSchema()

#: Huggy event name -> the schema instance that loads it; an alias
#: (``sentAllMessage``, see :mod:`flask_huggy.aliases`) shares its event's.
EVENT_SCHEMAS: dict[str, HuggySchema] = with_aliases({
    "receivedMessage": _message,
    "receivedAllMessage": _message,
    "startedChat": _chat_opened,
    "createdChat": _chat_opened,
    "agentEntered": AgentEnteredSchema(),
    "closedChat": ClosedChatSchema(),
    "answeredChatForm": AnsweredChatFormSchema(),
    "createdCustomer": _customer,
    "startedWidgetAttendance": WidgetAttendanceSchema(),
    "startedAutomationFlow": _flow,
    "finishedAutomationFlow": _flow,
    "sendedAllMessage": _message,
    "updatedWorkflowStep": UpdatedWorkflowStepSchema(),
    "leftQueue": _chat_opened,
    "agentChangedStatus": AgentStatusSchema(),
    "updatedCustomer": _customer,
    "newInternalMessage": _message,
    "asyncExportData": ExportDataSchema(),
})

# Schema instance (by id) -> (that instance, its compiled loader). Keyed by the
# instance so that a schema swapped into EVENT_SCHEMAS (a test, a patch) is
# compiled on first use instead of being shadowed by the old loader.
_compiled: dict[int, tuple[HuggySchema, Callable[[Any, tzinfo], dict[str, Any]]]] = {
    id(schema): (schema, compile_loader(schema)) for schema in EVENT_SCHEMAS.values()
}

#: Events Huggy lists as deprecated; they still parse.
DEPRECATED_EVENTS = frozenset({"createdChat", "answeredChatForm"})


def load_event(name: str, raw: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    """Validate and coerce one known event; raises marshmallow's ``ValidationError``.

    The result is always what ``EVENT_SCHEMAS[name].load(raw)`` gives with
    offset-less timestamps read in ``tz``; a loader compiled from the schema
    (:mod:`~flask_huggy.schemas.compiled`) gets it faster when the event has the
    expected shape, and hands anything else to marshmallow.
    """
    schema = EVENT_SCHEMAS[name]
    entry = _compiled.get(id(schema))
    if entry is None or entry[0] is not schema:
        entry = _compiled[id(schema)] = (schema, compile_loader(schema))
    return entry[1](raw, tz)


def build_event_object(name: str, data: Mapping[str, Any]) -> HuggyObject:
    """The typed object of a known event from its loaded ``data``.

    The class comes from :data:`~flask_huggy.models.EVENT_MODELS` rather than
    from the schema, since one schema serves several events (the four messages
    share :class:`MessageSchema`) and each event has its own class.
    """
    return EVENT_SCHEMAS[name].build_object(data, EVENT_MODELS[name])


__all__ = [
    "DEPRECATED_EVENTS",
    "EVENT_SCHEMAS",
    "EnvelopeSchema",
    "HuggySchema",
    "build_event_object",
    "load_event",
]
