"""What one Huggy event means for an inbox: which chat, who, what was said, what changed.

Pure functions over flask-huggy's ``Event`` (no database, no request), built on
``event.obj``, the typed object flask-huggy gives each known event: ``match``
on its class and a type checker knows every field. Unknown and invalid events
have no ``obj``; the inbox still keeps them (raw) in the events log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_huggy import Event
from flask_huggy.models import (
    AgentChangedStatus,
    AgentEntered,
    AnsweredChatForm,
    AsyncExportData,
    Channel,
    ChatOpened,
    ClosedChat,
    Contact,
    CustomerChanged,
    FinishedAutomationFlow,
    LeftQueue,
    Message,
    NamedRef,
    NewInternalMessage,
    StartedAutomationFlow,
    StartedWidgetAttendance,
    UpdatedWorkflowStep,
    WorkflowStep,
)

#: Huggy's ``senderType`` is the channel a contact wrote from (``widget``,
#: ``whatsapp``, ``telegram_bot``, ...) or ``agent``.
AGENT = "agent"


@dataclass(frozen=True)
class EventSummary:
    """The parts of an event the inbox stores and shows."""

    #: ``"message"``, ``"note"`` (an internal message), ``"system"`` (something happened
    #: to a chat) or ``"other"`` (not about a chat, or not understood).
    kind: str
    #: One line saying what happened.
    text: str
    chat_id: str | None = None
    message_id: str | None = None
    contact_id: str | None = None
    contact_name: str | None = None
    channel: str | None = None
    situation: str | None = None
    sender_type: str | None = None
    sender_name: str | None = None
    body: str | None = None
    agent_name: str | None = None
    #: Huggy's own time for the event, when it says one.
    happened_at: datetime | None = None
    #: ``True`` when the event closes its chat, ``False`` when it (re)opens it.
    closes_chat: bool | None = None
    tabulation: str | None = None


def summarize(event: Event) -> EventSummary:
    """Read one event; never raises for an event flask-huggy accepted."""
    match event.obj:
        case NewInternalMessage() as note:
            return _message(note, kind="note", verb="Internal note")
        case Message() as message:
            return _message(message, kind="message", verb="Message")
        case ChatOpened() as opened:
            return _chat_opened(event.name, opened)
        case AgentEntered(id=chat_id, agent=agent, customer=customer, channel=channel, situation=situation):
            name = _name(agent) or "An agent"
            return EventSummary(
                "system",
                f"{name} entered the chat",
                chat_id=_id(chat_id),
                contact_id=_id(customer and customer.id),
                contact_name=_name(customer),
                channel=_channel(channel),
                situation=situation,
                agent_name=_name(agent),
                closes_chat=False,
            )
        case ClosedChat(id=chat_id, closed_at=closed_at, tabulation=tabulation, channel=channel, situation=situation):
            label = _label(tabulation)
            text = f"Chat closed, tabulation: {label}" if label else "Chat closed without tabulation"
            return EventSummary(
                "system",
                text,
                chat_id=_id(chat_id),
                channel=_channel(channel),
                situation=situation,
                happened_at=closed_at,
                closes_chat=True,
                tabulation=label,
            )
        case StartedAutomationFlow(chat_id=chat_id, flow_id=flow_id):
            return EventSummary("system", _flow(flow_id, "started"), chat_id=_id(chat_id))
        case FinishedAutomationFlow(chat_id=chat_id, flow_id=flow_id):
            return EventSummary("system", _flow(flow_id, "finished"), chat_id=_id(chat_id))
        case UpdatedWorkflowStep(chat=chat, step=step, previous_step=previous, agent=agent):
            workflow = _label(step.workflow) if step and step.workflow else None
            moved = f"Moved from step {_label(previous) or '?'} to {_label(step) or '?'}"
            return EventSummary(
                "system",
                f"{moved} ({workflow})" if workflow else moved,
                chat_id=_id(chat and chat.id),
                contact_id=_id(chat and chat.customer and chat.customer.id),
                contact_name=_name(chat.customer if chat else None),
                channel=chat.channel if chat else None,
                situation=chat.situation if chat else None,
                agent_name=_name(agent),
            )
        case AnsweredChatForm(chat=chat, customer=customer):
            return EventSummary(
                "system",
                "The contact answered the chat form",
                chat_id=_id(chat and chat.id),
                contact_id=_id(customer and customer.id),
                contact_name=_name(customer),
            )
        case AgentChangedStatus() as agent:
            state = "online" if agent.is_online else "offline"
            available = ", available" if agent.is_available else ", unavailable" if agent.is_available is False else ""
            return EventSummary("other", f"Agent {agent.name or agent.id} is now {state}{available}")
        case StartedWidgetAttendance() as visitor:
            return EventSummary(
                "other", f"{visitor.name or 'A visitor'} filled the Huggy Chat form", contact_name=visitor.name
            )
        case CustomerChanged() as customer:
            verb = "created" if event.name == "createdCustomer" else "updated"
            return EventSummary(
                "other",
                f"Contact {customer.name or customer.id} {verb}",
                contact_id=_id(customer.id),
                contact_name=customer.name,
            )
        case AsyncExportData():
            return EventSummary("other", "A data export is ready for download")
        case None if not event.known:
            return EventSummary("other", f"{event.name}: an event this version of flask-huggy does not know")
        case None:
            return EventSummary("other", f"{event.name} failed validation and was kept as sent")
        case _:
            return EventSummary("other", event.name)


def _message(message: Message, *, kind: str, verb: str) -> EventSummary:
    chat = message.chat
    customer = message.customer or (chat.customer if chat else None)
    if customer is None and message.sender_type != AGENT:
        customer = message.sender
    body = message.body or (_attachment(message) if message.file else None) or ""
    author = _name(message.sender) or message.sender_type or "someone"
    return EventSummary(
        kind,
        f"{verb} from {author}: {_shorten(body)}",
        chat_id=_id(chat.id if chat else None),
        message_id=_id(message.id),
        contact_id=_id(customer.id if customer else None),
        contact_name=_name(customer),
        channel=(chat.channel if chat else None) or message.channel,
        situation=chat.situation if chat else None,
        sender_type=message.sender_type,
        sender_name=_name(message.sender),
        body=body,
        agent_name=_name(message.sender) if message.sender_type == AGENT and kind == "message" else None,
        happened_at=message.send_at,
    )


def _chat_opened(name: str, opened: ChatOpened) -> EventSummary:
    channel = _channel(opened.channel)
    if isinstance(opened, LeftQueue):
        text = "Left the queue"
    else:
        contact = _name(opened.contact) or "a contact"
        text = f"Chat started by {contact}" + (f" on {_channel_name(opened.channel)}" if opened.channel else "")
    return EventSummary(
        "system",
        text,
        chat_id=_id(opened.id),
        contact_id=_id(opened.contact and opened.contact.id),
        contact_name=_name(opened.contact),
        channel=channel,
        situation=opened.situation,
        agent_name=_name(opened.agent),
        closes_chat=False,
    )


def _flow(flow_id: int | None, verb: str) -> str:
    return f"Automation flow {flow_id} {verb}" if flow_id is not None else f"Automation flow {verb}"


def _id(value: object) -> str | None:
    return None if value is None or value is False else str(value)


def _name(person: Contact | None) -> str | None:
    return person.name or None if person else None


def _label(ref: NamedRef | WorkflowStep | str | None) -> str | None:
    if isinstance(ref, (NamedRef, WorkflowStep)):
        return ref.name or (str(ref.id) if ref.id is not None else None)
    return ref or None


def _channel(channel: str | Channel | None) -> str | None:
    # Chat events say "whatsapp"; startedChat sends the channel object, whose
    # ``type`` is that same word (and whose ``name`` is the account's own label).
    if isinstance(channel, Channel):
        return (channel.type or channel.name or "").lower() or None
    return channel or None


def _channel_name(channel: str | Channel | None) -> str:
    if isinstance(channel, Channel) and channel.name:
        return channel.name
    return _channel(channel) or "?"


def _attachment(message: Message) -> str:
    file = message.file
    name = file if isinstance(file, str) else (file.name or file.url or "a file") if file else "a file"
    return f"[attachment: {name}]"


def _shorten(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["AGENT", "EventSummary", "summarize"]
