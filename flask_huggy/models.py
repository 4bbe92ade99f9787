"""Typed, frozen objects for Huggy's events: what :attr:`Event.obj <flask_huggy.Event.obj>` gives.

:attr:`Event.data <flask_huggy.Event.data>` keeps Huggy's own keys (``senderType``,
``chatID``, ``send_at``) in a plain dict; the classes here carry the same values
under snake_case attributes (``sender_type``, ``chat_id``, ``send_at``) so that a
type checker and an editor know what a receiver may read::

    @signals.closed_chat.connect_via(app)
    def on_closed(app, event, delivery, **extra):
        assert isinstance(event.obj, ClosedChat)
        archive(event.obj.id, event.obj.closed_at)

Every attribute may be ``None``: Huggy leaves fields out, sends ``null``, or
``false`` for an object it has not got (a message's ``receiver`` while the chat
waits in the queue). Values are already coerced by the schemas: ids are ``int``,
flags ``bool``, timestamps aware UTC ``datetime``. A field that Huggy sends in two
shapes keeps both in its type (``channel`` is ``"widget"`` in a message but an
object in startedChat). Keys this version does not declare are kept, as sent, in
``extra``, so a field Huggy adds tomorrow is never lost.

These classes are where a field is declared: the schemas
(:mod:`flask_huggy.schemas`) are derived from them, each attribute's type
choosing how its value is read (``int`` is an id, ``bool`` a flag, ``str | Channel``
either shape...). An attribute whose Huggy key is not its own name says so with
:func:`sent_as` (``sender_type`` is sent as ``senderType``). Nothing here imports
marshmallow.

Each event's row (:class:`EventSpec`) sits here too, at the end, in the module of
its class: adding an event is a class and a row in this one file.
:mod:`flask_huggy.catalog` derives every table keyed by event name from the rows.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _no_extra() -> Mapping[str, Any]:
    return {}


def sent_as(key: str | None = None, *, count: bool = False) -> Any:
    """An optional attribute that Huggy sends under ``key`` rather than under its own name.

    ``key`` must be the attribute in Huggy's camelCase (``senderType`` for
    ``sender_type``), since a loaded key finds its attribute by that rule. ``count``
    marks an ``int`` that is a count or a code rather than an id (only its error
    message differs).
    """
    return field(default=None, metadata={"key": key, "count": count})


@dataclass(frozen=True, kw_only=True)
class HuggyObject:
    """Base of every class here: what they all have is ``extra``."""

    #: Keys Huggy sent that this version does not declare, with their values as sent.
    #: Left out of ``hash()`` (a mapping is not hashable), not out of ``==``.
    extra: Mapping[str, Any] = field(default_factory=_no_extra, hash=False)


# Shared parts -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Company(HuggyObject):
    """The Huggy account (``company``) the event belongs to."""

    id: int | None = None


@dataclass(frozen=True, kw_only=True)
class NamedRef(HuggyObject):
    """A thing known by id and name: a department, organization, group, workflow or tabulation."""

    id: int | None = None
    name: str | None = None


@dataclass(frozen=True, kw_only=True)
class Channel(HuggyObject):
    """A channel described as an object (startedChat, leftQueue); messages give a bare string instead."""

    id: int | None = None
    uuid: str | None = None
    name: str | None = None
    type: str | None = None
    #: Seen live in createdCustomer's channel; Huggy does not document it.
    source: str | None = None


@dataclass(frozen=True, kw_only=True)
class File(HuggyObject):
    """An attachment, when Huggy describes it as an object rather than a bare URL."""

    id: int | None = None
    name: str | None = None
    url: str | None = None
    mimetype: str | None = None
    mime_type: str | None = None
    type: str | None = None
    size: int | None = sent_as(count=True)


@dataclass(frozen=True, kw_only=True)
class Contact(HuggyObject):
    """A person, whatever the role: a customer, a message's sender or receiver, an agent.

    Huggy describes all of them with the same keys and fills in different ones:
    agents carry ``isOnline``/``statusID``, customers ``custom_fields``.
    """

    id: int | None = None
    name: str | None = None
    mobile: str | None = None
    phone: str | None = None
    email: str | None = None
    photo: str | None = None
    custom_fields: Mapping[str, Any] | None = field(default=None, hash=False)
    organizations: tuple[NamedRef, ...] | None = None
    groups: tuple[NamedRef, ...] | None = None
    is_active: bool | None = sent_as("isActive")
    is_online: bool | None = sent_as("isOnline")
    is_available: bool | None = sent_as("isAvailable")
    status_id: int | None = sent_as("statusID")
    status_type: int | None = sent_as("statusType", count=True)
    origin: str | None = None
    city: str | None = None
    state: str | None = None
    #: As sent: Huggy does not document its format.
    birth_date: str | None = sent_as("birthDate")


@dataclass(frozen=True, kw_only=True)
class Chat(HuggyObject):
    """The chat a message or a workflow step belongs to."""

    id: int | None = None
    channel: str | None = None
    situation: str | None = None
    department: int | NamedRef | None = None
    customer: Contact | None = None
    workflow_id: int | None = sent_as("workflowID")
    workflow_step_id: int | None = sent_as("workflowStepID")
    #: The business number the customer wrote to (``"5521992138359"``), or ``None``.
    entrypoint: str | None = None


@dataclass(frozen=True, kw_only=True)
class WorkflowStep(HuggyObject):
    """A step of a workflow (a sales or support pipeline)."""

    id: int | None = None
    name: str | None = None
    workflow: NamedRef | None = None


# Events -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Message(HuggyObject):
    """A chat message; the four message events share this shape, each has its subclass."""

    id: int | None = None
    body: str | None = None
    is_internal: bool | None = None
    is_email: bool | None = None
    sender: Contact | None = None
    sender_type: str | None = sent_as("senderType")
    receiver: Contact | None = None
    receiver_type: str | None = sent_as("receiverType")
    file: str | File | None = None
    channel: str | None = None
    customer: Contact | None = None
    chat: Chat | None = None
    send_at: datetime | None = None
    read_at: datetime | None = None
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class ReceivedMessage(Message):
    """receivedMessage: a message received while the chat is queued or automated."""


@dataclass(frozen=True, kw_only=True)
class ReceivedAllMessage(Message):
    """receivedAllMessage: any message of a chat, whoever sent it (bots and IVR included)."""


@dataclass(frozen=True, kw_only=True)
class SendedAllMessage(Message):
    """sendedAllMessage (Huggy's spelling): a message sent by an agent."""


@dataclass(frozen=True, kw_only=True)
class NewInternalMessage(Message):
    """newInternalMessage: an internal note, seen by agents only."""


@dataclass(frozen=True, kw_only=True)
class ChatOpened(HuggyObject):
    """A chat as startedChat, createdChat and leftQueue describe it; each has its subclass."""

    id: int | None = None
    situation: str | None = None
    channel: str | Channel | None = None
    department: int | NamedRef | None = None
    contact: Contact | None = None
    agent: Contact | None = None
    #: Always ``null`` in Huggy's samples: its shape is unknown, so it is kept as sent.
    pipe: Any = field(default=None, hash=False)
    workflow_id: int | None = sent_as("workflowID")
    workflow_step_id: int | None = sent_as("workflowStepID")
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class StartedChat(ChatOpened):
    """startedChat: a chat was opened on a channel."""


@dataclass(frozen=True, kw_only=True)
class CreatedChat(ChatOpened):
    """createdChat: deprecated by Huggy in favour of startedChat."""


@dataclass(frozen=True, kw_only=True)
class LeftQueue(ChatOpened):
    """leftQueue: a chat left the waiting queue."""


@dataclass(frozen=True, kw_only=True)
class AgentEntered(HuggyObject):
    """agentEntered: an agent joined a chat."""

    id: int | None = None
    channel: str | Channel | None = None
    situation: str | None = None
    department: int | NamedRef | None = None
    customer: Contact | None = None
    agent: Contact | None = None
    workflow_id: int | None = sent_as("workflowID")
    workflow_step_id: int | None = sent_as("workflowStepID")
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class ClosedChat(HuggyObject):
    """closedChat: a chat was closed, with its tabulation (``None`` when none was chosen)."""

    id: int | None = None
    channel: str | Channel | None = None
    closed_at: datetime | None = None
    tabulation: str | NamedRef | None = None
    situation: str | None = None
    closed: bool | None = None
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class FormQuestion(HuggyObject):
    """A question of a chat form, as an answeredChatForm answer names it."""

    type: str | None = None
    field_name: str | None = sent_as("fieldName")


@dataclass(frozen=True, kw_only=True)
class FormAnswer(HuggyObject):
    """One answer of an answeredChatForm: the question and what the customer wrote."""

    question: FormQuestion | None = None
    text: str | None = None


@dataclass(frozen=True, kw_only=True)
class AnsweredChatForm(HuggyObject):
    """answeredChatForm: deprecated by Huggy, which no longer documents it."""

    id: int | None = None
    chat: Chat | None = None
    customer: Contact | None = None
    answers: tuple[FormAnswer, ...] | None = None
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class CustomerChanged(Contact):
    """A contact as created or updated in the panel; createdCustomer and updatedCustomer subclass it."""

    channel: str | Channel | None = None
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class CreatedCustomer(CustomerChanged):
    """createdCustomer: a contact was created in the panel."""


@dataclass(frozen=True, kw_only=True)
class UpdatedCustomer(CustomerChanged):
    """updatedCustomer: a contact was updated."""


@dataclass(frozen=True, kw_only=True)
class StartedWidgetAttendance(Contact):
    """startedWidgetAttendance: a customer filled Huggy Chat's form and started a chat."""

    widget: int | None = None
    channel: str | Channel | None = None
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class AutomationFlow(HuggyObject):
    """A flow run on a chat; startedAutomationFlow and finishedAutomationFlow subclass it."""

    chat_id: int | None = sent_as("chatID")
    last_action_id: int | None = sent_as("lastActionID")
    company_id: int | None = sent_as("companyID")
    flow_id: int | None = sent_as("flowID")
    flow_token: str | None = sent_as("flowToken")
    #: The flow's variables, keys and values exactly as sent (``"SYSTEM.CHAT_ID"``, ...).
    context: Mapping[str, Any] | None = field(default=None, hash=False)
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class StartedAutomationFlow(AutomationFlow):
    """startedAutomationFlow: a flow started on a chat."""


@dataclass(frozen=True, kw_only=True)
class FinishedAutomationFlow(AutomationFlow):
    """finishedAutomationFlow: a flow running on a chat finished."""


@dataclass(frozen=True, kw_only=True)
class UpdatedWorkflowStep(HuggyObject):
    """updatedWorkflowStep: a chat moved from one workflow step to another."""

    agent: Contact | None = None
    chat: Chat | None = None
    step: WorkflowStep | None = None
    previous_step: WorkflowStep | None = sent_as("previousStep")
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class AgentChangedStatus(Contact):
    """agentChangedStatus: an agent changed availability (``is_online``, ``is_available``, ``status_id``)."""

    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class AsyncExportData(HuggyObject):
    """asyncExportData: a report export is ready at ``file_url`` (a signed, short-lived link)."""

    file_url: str | None = sent_as("fileUrl")
    company: Company | None = None


# The catalog's rows --------------------------------------------------------------
# Each event's row lives here, in the module of its class, so that an event is
# declared in one file; flask_huggy.catalog derives every table keyed by event name.


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
    """Where an event's shipped sample came from, and where that event keeps its ids.

    A test builder (:mod:`flask_huggy.testing`) gives those ids fresh values while
    keeping one conversation consistent.
    """

    #: Which sample of Huggy's docs ``flask_huggy/samples/<name>.json`` is (provenance only).
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
    model: type[HuggyObject]
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


_ITSELF: tuple[FieldPath, ...] = (("id",),)
_CONTACT: tuple[FieldPath, ...] = (("contact", "id"),)
_FLOW_CHAT: tuple[FieldPath, ...] = (("chatID",), ("context", "SYSTEM.CHAT_ID"))
_FLOW_SAMPLE = "startedAutomationFlow+finishedAutomationFlow-2"

#: Every event, in the order of Huggy's event list.
CATALOG: tuple[EventSpec, ...] = (
    EventSpec(
        "receivedMessage",
        ReceivedMessage,
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
        ReceivedAllMessage,
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
        StartedChat,
        "A chat was created on a channel (by the customer's first message, or by an agent who "
        "opens a chat with a contact).",
        "Quando um chat for criado por um canal",
        Sample("startedChat", chat_id=_ITSELF, customer_id=_CONTACT),
    ),
    EventSpec(
        "createdChat",
        CreatedChat,
        "Replaced by startedChat; still parsed, with startedChat's fields.",
        "Deprecated",
        # Huggy documents no sample: startedChat's, the event Huggy says replaced it.
        Sample("startedChat", chat_id=_ITSELF, customer_id=_CONTACT),
        deprecated=True,
    ),
    EventSpec(
        "agentEntered",
        AgentEntered,
        "An agent joined the conversation.",
        "Quando o agente entra na conversa",
        Sample("agentEntered", chat_id=_ITSELF, customer_id=(("customer", "id"),)),
    ),
    EventSpec(
        "closedChat",
        ClosedChat,
        "A chat was closed.",
        "Quando um chat é finalizado",
        Sample("closedChat", chat_id=_ITSELF),
    ),
    EventSpec(
        "answeredChatForm",
        AnsweredChatForm,
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
        CreatedCustomer,
        "A new contact was created in Huggy's panel.",
        "Quando um novo contato é criado no painel Huggy",
        Sample("createdCustomer", customer_id=_ITSELF),
    ),
    EventSpec(
        "startedWidgetAttendance",
        StartedWidgetAttendance,
        "Sent when Huggy Chat (the website widget) asks visitors for their details: the customer "
        "filled them in and started a conversation.",
        "Iniciado quando a solicitação de dados está ativada no Huggy Chat. Este evento é iniciado "
        "quando o cliente informa os dados e inicializa o atendimento",
        Sample("startedWidgetAttendance", own_id=_ITSELF),
    ),
    EventSpec(
        "startedAutomationFlow",
        StartedAutomationFlow,
        "A chat started on a channel that runs a Flow (Huggy's automation).",
        "Quando um chat é inicializado em um canal que está usando flow",
        Sample(_FLOW_SAMPLE, chat_id=_FLOW_CHAT),
    ),
    EventSpec(
        "finishedAutomationFlow",
        FinishedAutomationFlow,
        "A Flow that was running on a chat finished.",
        "Quando um flow que estava sendo executado em um chat é finalizado",
        Sample(_FLOW_SAMPLE, chat_id=_FLOW_CHAT),
    ),
    EventSpec(
        "sendedAllMessage",
        SendedAllMessage,
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
        UpdatedWorkflowStep,
        "The chat moved to another step of its workflow.",
        "Quando houver mudança da etapa do workflow do chat",
        Sample("updatedWorkflowStep", chat_id=(("chat", "id"),), customer_id=(("chat", "customer", "id"),)),
    ),
    EventSpec(
        "leftQueue",
        LeftQueue,
        "A chat left the waiting queue.",
        "Quando um chat sai da fila de atendimento",
        Sample("leftQueue", chat_id=_ITSELF, customer_id=_CONTACT),
    ),
    EventSpec(
        "agentChangedStatus",
        AgentChangedStatus,
        "An agent changed their status.",
        "Quando um agente atualiza o status",
        Sample("agentChangedStatus", own_id=_ITSELF),
    ),
    EventSpec(
        "updatedCustomer",
        UpdatedCustomer,
        "A contact was updated.",
        "Quando um contato é atualizado",
        Sample("updatedCustomer", customer_id=_ITSELF),
    ),
    EventSpec(
        "newInternalMessage",
        NewInternalMessage,
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
        AsyncExportData,
        "Data exported from the panel is ready to download.",
        "Quando os dados são exportados",
        Sample("asyncExportData"),
    ),
)


__all__ = [
    "CATALOG",
    "AgentChangedStatus",
    "AgentEntered",
    "AnsweredChatForm",
    "AsyncExportData",
    "AutomationFlow",
    "Channel",
    "Chat",
    "ChatOpened",
    "ClosedChat",
    "Company",
    "Contact",
    "CreatedChat",
    "CreatedCustomer",
    "CustomerChanged",
    "EventSpec",
    "FieldPath",
    "File",
    "FinishedAutomationFlow",
    "FormAnswer",
    "FormQuestion",
    "HuggyObject",
    "LeftQueue",
    "Message",
    "NamedRef",
    "NewInternalMessage",
    "ReceivedAllMessage",
    "ReceivedMessage",
    "Sample",
    "SendedAllMessage",
    "StartedAutomationFlow",
    "StartedChat",
    "StartedWidgetAttendance",
    "UpdatedCustomer",
    "UpdatedWorkflowStep",
    "WorkflowStep",
    "sent_as",
    "snake_case",
]
