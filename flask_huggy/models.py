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

Each event's row (``EventSpec``) sits here too, at the end, in the module of
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

    #: Id of the Huggy account (company).
    id: int | None = None


@dataclass(frozen=True, kw_only=True)
class NamedRef(HuggyObject):
    """A thing known by id and name: a department, organization, group, workflow or tabulation."""

    #: Its id.
    id: int | None = None
    #: Its name, as shown in the panel.
    name: str | None = None


@dataclass(frozen=True, kw_only=True)
class Channel(HuggyObject):
    """A channel described as an object (startedChat, leftQueue); messages give a bare string instead."""

    #: Channel id.
    id: int | None = None
    #: Channel UUID.
    uuid: str | None = None
    #: Channel name, as set in the panel (``"Huggy Chat"``).
    name: str | None = None
    #: Kind of channel (``"Email"``).
    type: str | None = None
    #: Its source, as sent; Huggy does not document it. Seen in live traffic, not in Huggy's docs.
    source: str | None = None


@dataclass(frozen=True, kw_only=True)
class File(HuggyObject):
    """An attachment, when Huggy describes it as an object rather than a bare URL."""

    #: Attachment id.
    id: int | None = None
    #: File name.
    name: str | None = None
    #: Where to download the file.
    url: str | None = None
    #: MIME type (one of the two spellings flask-huggy accepts).
    mimetype: str | None = None
    #: MIME type (the other spelling).
    mime_type: str | None = None
    #: Kind of attachment.
    type: str | None = None
    #: File size, as Huggy reports it.
    size: int | None = sent_as(count=True)


@dataclass(frozen=True, kw_only=True)
class Contact(HuggyObject):
    """A person, whatever the role: a customer, a message's sender or receiver, an agent.

    Huggy describes all of them with the same keys and fills in different ones:
    agents carry ``isOnline``/``statusID``, customers ``custom_fields``.
    """

    #: Contact id (an agent's id, for an agent).
    id: int | None = None
    #: Name.
    name: str | None = None
    #: Mobile number; a number sent as such becomes its digits.
    mobile: str | None = None
    #: Phone number; a number sent as such becomes its digits.
    phone: str | None = None
    #: E-mail address.
    email: str | None = None
    #: URL of the profile photo.
    photo: str | None = None
    #: The contact's custom fields, keyed by the names set in the panel, values as sent.
    custom_fields: Mapping[str, Any] | None = field(default=None, hash=False)
    #: Organizations the contact belongs to.
    organizations: tuple[NamedRef, ...] | None = None
    #: Groups the contact belongs to.
    groups: tuple[NamedRef, ...] | None = None
    #: Agents only: whether the account is active.
    is_active: bool | None = sent_as("isActive")
    #: Agents only: whether the agent is online.
    is_online: bool | None = sent_as("isOnline")
    #: Agents only: whether the agent is available to take chats.
    is_available: bool | None = sent_as("isAvailable")
    #: Agents only: id of the status the agent chose, if any.
    status_id: int | None = sent_as("statusID")
    #: Agents only: kind of status, a code Huggy does not document.
    status_type: int | None = sent_as("statusType", count=True)
    #: Agents only: what changed the status (``"manually"``).
    origin: str | None = None
    #: City. Seen in live traffic, not in Huggy's docs.
    city: str | None = None
    #: State (a Brazilian *estado*). Seen in live traffic, not in Huggy's docs.
    state: str | None = None
    #: Date of birth, as sent: its format is not documented. Seen in live traffic, not in Huggy's docs.
    birth_date: str | None = sent_as("birthDate")


@dataclass(frozen=True, kw_only=True)
class Chat(HuggyObject):
    """The chat a message or a workflow step belongs to."""

    #: Chat id.
    id: int | None = None
    #: Channel the chat runs on, by name (``"widget"`` is Huggy Chat).
    channel: str | None = None
    #: State of the chat: ``auto`` (automated), ``wait_for_chat`` (queued), ``in_chat``, ``finishing``...
    situation: str | None = None
    #: Department of the chat: its id, or an object with id and name.
    department: int | NamedRef | None = None
    #: The customer.
    customer: Contact | None = None
    #: Workflow the chat is in, if any.
    workflow_id: int | None = sent_as("workflowID")
    #: Current step of the chat in that workflow.
    workflow_step_id: int | None = sent_as("workflowStepID")
    #: The business number the customer wrote to (``"5521992138359"``), or ``None``; a number sent as such becomes
    #: its digits. Seen in live traffic, not in Huggy's docs.
    entrypoint: str | None = None


@dataclass(frozen=True, kw_only=True)
class WorkflowStep(HuggyObject):
    """A step of a workflow (a sales or support pipeline)."""

    #: Step id.
    id: int | None = None
    #: Step name.
    name: str | None = None
    #: The workflow the step belongs to.
    workflow: NamedRef | None = None


# Events -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Message(HuggyObject):
    """A chat message; the four message events share this shape, each has its subclass."""

    #: Message id.
    id: int | None = None
    #: Text of the message.
    body: str | None = None
    #: Whether it is an internal note between agents, hidden from the customer.
    is_internal: bool | None = None
    #: Whether the message came by e-mail.
    is_email: bool | None = None
    #: Who sent it.
    sender: Contact | None = None
    #: Kind of sender: ``widget`` (the customer on Huggy Chat), ``agent``...
    sender_type: str | None = sent_as("senderType")
    #: Who it was sent to; ``None`` while the chat waits in the queue (Huggy sends ``false``).
    receiver: Contact | None = None
    #: Kind of receiver: ``agent``, ``widget``, ``telegram_bot``...
    receiver_type: str | None = sent_as("receiverType")
    #: The attachment, if any: a URL, or an object describing the file.
    file: str | File | None = None
    #: Channel the message went through, by name.
    channel: str | None = None
    #: The customer of the chat.
    customer: Contact | None = None
    #: The chat the message belongs to.
    chat: Chat | None = None
    #: When the message was sent.
    send_at: datetime | None = None
    #: When it was read; ``None`` until then.
    read_at: datetime | None = None
    #: The Huggy account (company) the event belongs to.
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

    #: Chat id.
    id: int | None = None
    #: State of the chat: ``auto`` (automated), ``wait_for_chat`` (queued), ``in_chat``, ``finishing``...
    situation: str | None = None
    #: Channel the chat was opened on: an object here, a name in other events.
    channel: str | Channel | None = None
    #: Department of the chat; ``None`` if it has none.
    department: int | NamedRef | None = None
    #: The customer.
    contact: Contact | None = None
    #: The agent in charge, if any (only its id in the leftQueue sample).
    agent: Contact | None = None
    #: Always ``null`` in Huggy's samples; its shape is unknown, so it is kept as sent.
    pipe: Any = field(default=None, hash=False)
    #: Workflow the chat is in, if any. Seen in live traffic, not in Huggy's docs.
    workflow_id: int | None = sent_as("workflowID")
    #: Step of the chat in that workflow. Seen in live traffic, not in Huggy's docs.
    workflow_step_id: int | None = sent_as("workflowStepID")
    #: The Huggy account (company) the event belongs to.
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

    #: Chat id.
    id: int | None = None
    #: Channel of the chat, by name or as an object.
    channel: str | Channel | None = None
    #: State of the chat: ``auto`` (automated), ``wait_for_chat`` (queued), ``in_chat``, ``finishing``...
    situation: str | None = None
    #: Department of the chat; ``None`` if it has none.
    department: int | NamedRef | None = None
    #: The customer.
    customer: Contact | None = None
    #: The agent who joined.
    agent: Contact | None = None
    #: Workflow the chat is in, if any. Seen in live traffic, not in Huggy's docs.
    workflow_id: int | None = sent_as("workflowID")
    #: Step of the chat in that workflow. Seen in live traffic, not in Huggy's docs.
    workflow_step_id: int | None = sent_as("workflowStepID")
    #: The Huggy account (company) the event belongs to.
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class ClosedChat(HuggyObject):
    """closedChat: a chat was closed, with its tabulation (``None`` when none was chosen)."""

    #: Chat id.
    id: int | None = None
    #: Channel of the chat, by name or as an object.
    channel: str | Channel | None = None
    #: When the chat was closed (Huggy writes Brazil local time, without an offset).
    closed_at: datetime | None = None
    #: The closing reason (tabulation) the agent chose; ``None`` when none was (Huggy sends ``false``).
    tabulation: str | NamedRef | None = None
    #: State of the chat: ``auto`` (automated), ``wait_for_chat`` (queued), ``in_chat``, ``finishing``...
    situation: str | None = None
    #: Whether the chat is closed (Huggy sends ``1``).
    closed: bool | None = None
    #: The Huggy account (company) the event belongs to.
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class FormQuestion(HuggyObject):
    """A question of a chat form, as an answeredChatForm answer names it."""

    #: Kind of question, as Huggy names it.
    type: str | None = None
    #: The question's field, as set in the form.
    field_name: str | None = sent_as("fieldName")


@dataclass(frozen=True, kw_only=True)
class FormAnswer(HuggyObject):
    """One answer of an answeredChatForm: the question and what the customer wrote."""

    #: The question answered.
    question: FormQuestion | None = None
    #: What the customer answered.
    text: str | None = None


@dataclass(frozen=True, kw_only=True)
class AnsweredChatForm(HuggyObject):
    """answeredChatForm: deprecated by Huggy, which no longer documents it."""

    #: Chat id.
    id: int | None = None
    #: The chat.
    chat: Chat | None = None
    #: The customer who answered the form.
    customer: Contact | None = None
    #: The answers, one per question of the form. Seen in live traffic, not in Huggy's docs.
    answers: tuple[FormAnswer, ...] | None = None
    #: The Huggy account (company) the event belongs to.
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class CustomerChanged(Contact):
    """A contact as created or updated in the panel; createdCustomer and updatedCustomer subclass it."""

    #: Channel the contact came from: a name, or an object. Seen in live traffic, not in Huggy's docs.
    channel: str | Channel | None = None
    #: The Huggy account (company) the event belongs to.
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

    #: Id of the Huggy Chat widget the customer used.
    widget: int | None = None
    #: Channel the customer came from: a name, or an object. Seen in live traffic, not in Huggy's docs.
    channel: str | Channel | None = None
    #: The Huggy account (company) the event belongs to.
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class AutomationFlow(HuggyObject):
    """A flow run on a chat; startedAutomationFlow and finishedAutomationFlow subclass it."""

    #: Chat the flow runs on.
    chat_id: int | None = sent_as("chatID")
    #: Last action of the flow that ran (only in the older samples).
    last_action_id: int | None = sent_as("lastActionID")
    #: Id of the Huggy account, again (a string in the samples).
    company_id: int | None = sent_as("companyID")
    #: Flow id.
    flow_id: int | None = sent_as("flowID")
    #: Identifies the run: its startedAutomationFlow and finishedAutomationFlow carry the same.
    flow_token: str | None = sent_as("flowToken")
    #: The flow's variables, Huggy's (``SYSTEM.CHAT_ID``, ``huggy.chat.agent.id``) and the flow author's
    #: (``hash_fluxo.pergunta``), keys and values as sent. Huggy fills them when the event fires: the agent's only
    #: once an agent has the chat.
    context: Mapping[str, Any] | None = field(default=None, hash=False)
    #: The Huggy account (company) the event belongs to.
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

    #: The agent who moved the chat.
    agent: Contact | None = None
    #: The chat, with its new ``workflowStepID``.
    chat: Chat | None = None
    #: The step the chat moved to.
    step: WorkflowStep | None = None
    #: The step the chat left.
    previous_step: WorkflowStep | None = sent_as("previousStep")
    #: The Huggy account (company) the event belongs to.
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class AgentChangedStatus(Contact):
    """agentChangedStatus: an agent changed availability (``is_online``, ``is_available``, ``status_id``)."""

    #: The Huggy account (company) the event belongs to.
    company: Company | None = None


@dataclass(frozen=True, kw_only=True)
class AsyncExportData(HuggyObject):
    """asyncExportData: a report export is ready at ``file_url`` (a signed, short-lived link)."""

    #: Signed link to the exported file (a CSV in the sample); it expires after an hour (``X-Amz-Expires=3600``).
    file_url: str | None = sent_as("fileUrl")
    #: The Huggy account (company) the event belongs to.
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
    "SendedAllMessage",
    "StartedAutomationFlow",
    "StartedChat",
    "StartedWidgetAttendance",
    "UpdatedCustomer",
    "UpdatedWorkflowStep",
    "WorkflowStep",
    "sent_as",
]
