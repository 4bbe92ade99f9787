"""Every Huggy event this version knows, one row each: the one list the rest derives from.

A row (:class:`EventSpec`) names the event as Huggy does, says what it means (in
Huggy's words and ours), gives its typed class in :mod:`flask_huggy.models`, the
other names live Huggy sends it under, whether Huggy deprecated it, and where its
docs sample keeps its ids. From these rows come:

- the blinker signals (:mod:`flask_huggy.signals`: ``closedChat`` ->
  ``signals.closed_chat``) and :data:`~flask_huggy.signals.EVENT_SIGNALS`;
- the marshmallow schemas (:data:`~flask_huggy.schemas.EVENT_SCHEMAS`), derived
  from the typed classes, so that a field is declared once, in its class;
- :data:`~flask_huggy.models.EVENT_MODELS`, :data:`~flask_huggy.schemas.DEPRECATED_EVENTS`,
  :data:`~flask_huggy.aliases.EVENT_ALIASES` and the sample templates
  (:data:`~flask_huggy.samples.TEMPLATES`);
- ``flask huggy events`` and ``docs/events.rst``.

Adding an event is a row here and its class in :mod:`flask_huggy.models` (plus
its docs sample, ``flask_huggy/samples/<name>.json``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from . import models

if TYPE_CHECKING:
    from blinker import NamedSignal

    from .schemas import HuggySchema

#: A location inside an event object: keys (and list indexes) from the top.
#: A tuple rather than a dotted string because Huggy's keys may hold dots
#: (``context["SYSTEM.CHAT_ID"]``).
FieldPath = tuple[str | int, ...]


@functools.lru_cache(maxsize=256)  # event names and declared keys only: a few dozen
def snake_case(key: str) -> str:
    """Huggy's key as a Python name: ``senderType`` -> ``sender_type``, ``chatID`` -> ``chat_id``.

    The one naming rule between Huggy and Python: event ``closedChat`` has signal
    ``closed_chat``, key ``senderType`` is attribute ``sender_type``.
    """
    key = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", key)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower()


@dataclass(frozen=True)
class Sample:
    """Which docs sample an event's template is, and where that event keeps its ids.

    A test builder (:mod:`flask_huggy.testing`) gives those ids fresh values while
    keeping one conversation consistent.
    """

    #: The docs sample (a file of ``tests/payloads/``) the template comes from.
    source: str
    #: Where the event keeps its own id (a message id, an agent id, ...).
    own_id: tuple[FieldPath, ...] = ()
    #: Where it keeps the id of the chat it belongs to.
    chat_id: tuple[FieldPath, ...] = ()
    #: Where it keeps the id of the customer (the contact) it is about.
    customer_id: tuple[FieldPath, ...] = ()


@dataclass(frozen=True)
class EventSpec:
    """One Huggy event: its name, meaning, typed class and sample."""

    #: Huggy's event name, e.g. ``"closedChat"``; also its signal's name.
    name: str
    #: The class of :attr:`Event.obj <flask_huggy.Event.obj>`; its schema is derived from it.
    model: type[models.HuggyObject]
    #: What Huggy sends it for, in our words (docs/events.rst).
    description: str
    #: Huggy's own description, verbatim from the event table of its docs (Portuguese).
    huggy_description: str
    #: The docs sample the test builders and ``flask huggy simulate`` start from.
    sample: Sample
    #: Whether Huggy lists the event as deprecated (it still parses).
    deprecated: bool = False
    #: Other names live Huggy sends the same event under: same schema, class and signal.
    aliases: tuple[str, ...] = ()

    @property
    def signal_attribute(self) -> str:
        """The signal's attribute in :mod:`flask_huggy.signals`: ``closedChat`` -> ``closed_chat``."""
        return snake_case(self.name)

    @property
    def names(self) -> tuple[str, ...]:
        """The event's name, then its aliases."""
        return (self.name, *self.aliases)

    @property
    def signal(self) -> NamedSignal:
        """The event's blinker signal."""
        from .signals import EVENT_SIGNALS  # signals derives from this module

        return EVENT_SIGNALS[self.name]

    @property
    def schema(self) -> HuggySchema:
        """The schema instance that loads the event, derived from :attr:`model`."""
        from .schemas import EVENT_SCHEMAS  # schemas derives from this module

        return EVENT_SCHEMAS[self.name]


_ITSELF: tuple[FieldPath, ...] = (("id",),)
_CONTACT: tuple[FieldPath, ...] = (("contact", "id"),)
_FLOW_CHAT: tuple[FieldPath, ...] = (("chatID",), ("context", "SYSTEM.CHAT_ID"))
_FLOW_SAMPLE = "startedAutomationFlow+finishedAutomationFlow-2"

#: Every event, in the order of Huggy's event list.
CATALOG: tuple[EventSpec, ...] = (
    EventSpec(
        "receivedMessage",
        models.ReceivedMessage,
        "A message received on the platform, notified only for chats that are queued or automated "
        "(a bot or a Flow is answering); once an agent has the chat, use receivedAllMessage.",
        "Mensagens recebidas na plataforma, o webhook notificará eventos de chats que estão em fila ou automática",
        # senderType "widget": the sender is the customer.
        Sample(
            "receivedMessage",
            own_id=_ITSELF,
            chat_id=(("chat", "id"),),
            customer_id=(("sender", "id"), ("customer", "id")),
        ),
    ),
    EventSpec(
        "receivedAllMessage",
        models.ReceivedAllMessage,
        "Every message received in a contact's chat, whoever sent it: the customer, an agent, "
        "or an automation (bot, IVR).",
        "Obtem todas as mensagens recebidas por um contato do chat",
        Sample(
            "receivedAllMessage",
            own_id=_ITSELF,
            chat_id=(("chat", "id"),),
            customer_id=(("sender", "id"), ("customer", "id"), ("chat", "customer", "id")),
        ),
    ),
    EventSpec(
        "startedChat",
        models.StartedChat,
        "A chat was created on a channel (by the customer's first message, or by an agent who "
        "opens a chat with a contact).",
        "Quando um chat for criado por um canal",
        Sample("startedChat", chat_id=_ITSELF, customer_id=_CONTACT),
    ),
    EventSpec(
        "createdChat",
        models.CreatedChat,
        "Replaced by startedChat; still parsed, with startedChat's fields.",
        "Deprecated",
        # Huggy documents no sample: startedChat's, the event Huggy says replaced it.
        Sample("startedChat", chat_id=_ITSELF, customer_id=_CONTACT),
        deprecated=True,
    ),
    EventSpec(
        "agentEntered",
        models.AgentEntered,
        "An agent joined the conversation.",
        "Quando o agente entra na conversa",
        Sample("agentEntered", chat_id=_ITSELF, customer_id=(("customer", "id"),)),
    ),
    EventSpec(
        "closedChat",
        models.ClosedChat,
        "A chat was closed.",
        "Quando um chat é finalizado",
        Sample("closedChat", chat_id=_ITSELF),
    ),
    EventSpec(
        "answeredChatForm",
        models.AnsweredChatForm,
        "Huggy no longer documents its fields; flask-huggy reads the few below and keeps the rest in ``extra``.",
        "Deprecated",
        # Assembled from the parts its schema reads, taken from other samples.
        Sample(
            "(none: deprecated and undocumented)",
            own_id=_ITSELF,
            chat_id=(("chat", "id"),),
            customer_id=(("customer", "id"), ("chat", "customer", "id")),
        ),
        deprecated=True,
    ),
    EventSpec(
        "createdCustomer",
        models.CreatedCustomer,
        "A new contact was created in Huggy's panel.",
        "Quando um novo contato é criado no painel Huggy",
        Sample("createdCustomer", customer_id=_ITSELF),
    ),
    EventSpec(
        "startedWidgetAttendance",
        models.StartedWidgetAttendance,
        "Sent when Huggy Chat (the website widget) asks visitors for their details: the customer "
        "filled them in and started a conversation.",
        "Iniciado quando a solicitação de dados está ativada no Huggy Chat. Este evento é iniciado "
        "quando o cliente informa os dados e inicializa o atendimento",
        Sample("startedWidgetAttendance", own_id=_ITSELF),
    ),
    EventSpec(
        "startedAutomationFlow",
        models.StartedAutomationFlow,
        "A chat started on a channel that runs a Flow (Huggy's automation).",
        "Quando um chat é inicializado em um canal que está usando flow",
        Sample(_FLOW_SAMPLE, chat_id=_FLOW_CHAT),
    ),
    EventSpec(
        "finishedAutomationFlow",
        models.FinishedAutomationFlow,
        "A Flow that was running on a chat finished.",
        "Quando um flow que estava sendo executado em um chat é finalizado",
        Sample(_FLOW_SAMPLE, chat_id=_FLOW_CHAT),
    ),
    EventSpec(
        "sendedAllMessage",
        models.SendedAllMessage,
        "Every message sent by an agent (the event's name is Huggy's spelling).",
        "Todas as mensagens enviadas por um agente",
        # An agent's message: the receiver is the customer.
        Sample(
            "sendedAllMessage",
            own_id=_ITSELF,
            chat_id=(("chat", "id"),),
            customer_id=(("receiver", "id"), ("customer", "id"), ("chat", "customer", "id")),
        ),
        # Receivers written against the live service (2020 onwards) read this name.
        aliases=("sentAllMessage",),
    ),
    EventSpec(
        "updatedWorkflowStep",
        models.UpdatedWorkflowStep,
        "The chat moved to another step of its workflow.",
        "Quando houver mudança da etapa do workflow do chat",
        Sample("updatedWorkflowStep", chat_id=(("chat", "id"),), customer_id=(("chat", "customer", "id"),)),
    ),
    EventSpec(
        "leftQueue",
        models.LeftQueue,
        "A chat left the waiting queue.",
        "Quando um chat sai da fila de atendimento",
        Sample("leftQueue", chat_id=_ITSELF, customer_id=_CONTACT),
    ),
    EventSpec(
        "agentChangedStatus",
        models.AgentChangedStatus,
        "An agent changed their status.",
        "Quando um agente atualiza o status",
        Sample("agentChangedStatus", own_id=_ITSELF),
    ),
    EventSpec(
        "updatedCustomer",
        models.UpdatedCustomer,
        "A contact was updated.",
        "Quando um contato é atualizado",
        Sample("updatedCustomer", customer_id=_ITSELF),
    ),
    EventSpec(
        "newInternalMessage",
        models.NewInternalMessage,
        "An internal message (a note between agents, not shown to the customer) was sent.",
        "Quando é enviado uma mensagem interna",
        Sample(
            "newInternalMessage",
            own_id=_ITSELF,
            chat_id=(("chat", "id"),),
            customer_id=(("receiver", "id"), ("chat", "customer", "id")),
        ),
    ),
    EventSpec(
        "asyncExportData",
        models.AsyncExportData,
        "Data exported from the panel is ready to download.",
        "Quando os dados são exportados",
        Sample("asyncExportData"),
    ),
)


def by_name() -> Iterator[tuple[str, EventSpec]]:
    """``(name, row)`` for every name an event comes under: each event, then its aliases."""
    for spec in CATALOG:
        for name in spec.names:
            yield name, spec


#: Event name (aliases included) -> its row.
EVENTS: Mapping[str, EventSpec] = MappingProxyType(dict(by_name()))

__all__ = ["CATALOG", "EVENTS", "EventSpec", "FieldPath", "Sample", "by_name", "snake_case"]
