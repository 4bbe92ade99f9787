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
marshmallow; which event has which class is said in :mod:`flask_huggy.catalog`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any


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


if TYPE_CHECKING:
    #: Huggy event name -> the class of its :attr:`Event.obj <flask_huggy.Event.obj>`.
    #: Events that share a schema (the four messages, ...) still get one class each,
    #: so that ``isinstance`` tells them apart; an alias (``sentAllMessage``) gets its
    #: event's class. Built from :mod:`flask_huggy.catalog`, which names these classes.
    EVENT_MODELS: Mapping[str, type[HuggyObject]]
else:

    def __getattr__(name: str) -> Any:
        # EVENT_MODELS comes from the catalog, which imports this module for its
        # classes: it is looked up on first use rather than at import.
        if name == "EVENT_MODELS":
            from .catalog import EVENTS

            globals()[name] = {event: spec.model for event, spec in EVENTS.items()}
            return globals()[name]
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EVENT_MODELS",
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
