"""Parts shared by several events: people, chats, companies, channels, ..."""

from __future__ import annotations

from marshmallow import fields

from .. import models
from .base import HuggySchema
from .fields import Either, Flag, Id, Integer, LooseMapping, LooseNested, Text


class CompanySchema(HuggySchema):
    """The Huggy account (``company``) the event belongs to."""

    model = models.Company
    id = Id()


class NamedRefSchema(HuggySchema):
    """A thing known by id and name: department, organization, group, workflow, tabulation."""

    model = models.NamedRef
    id = Id()
    name = Text()


class ChannelSchema(HuggySchema):
    """A channel as an object (startedChat, leftQueue); messages name it by a string instead."""

    model = models.Channel
    id = Id()
    uuid = Text()
    name = Text()
    type = Text()
    source = Text()


class FileSchema(HuggySchema):
    """An attachment, when Huggy describes it as an object rather than a bare URL."""

    model = models.File
    id = Id()
    name = Text()
    url = Text()
    mimetype = Text()
    mime_type = Text()
    type = Text()
    size = Integer()


class ContactSchema(HuggySchema):
    """A person: the customer, a sender or receiver, an agent."""

    model = models.Contact
    id = Id()
    name = Text()
    mobile = Text()
    phone = Text()
    email = Text()
    photo = Text()
    custom_fields = LooseMapping()
    organizations = fields.List(LooseNested(NamedRefSchema), allow_none=True)
    groups = fields.List(LooseNested(NamedRefSchema), allow_none=True)
    isActive = Flag()
    isOnline = Flag()
    isAvailable = Flag()
    statusID = Id()
    statusType = Integer()
    origin = Text()
    city = Text()
    state = Text()
    birthDate = Text()


class ChatSchema(HuggySchema):
    """The chat a message or step belongs to."""

    model = models.Chat
    id = Id()
    channel = Text()
    situation = Text()
    department = Either(Id(), NamedRefSchema)
    customer = LooseNested(ContactSchema)
    workflowID = Id()
    workflowStepID = Id()
    # Seen live, not in the docs: the business number as a string (or null).
    entrypoint = Text()


class WorkflowStepSchema(HuggySchema):
    """A step of a workflow (a sales or support pipeline)."""

    model = models.WorkflowStep
    id = Id()
    name = Text()
    workflow = LooseNested(NamedRefSchema)


__all__ = [
    "ChannelSchema",
    "ChatSchema",
    "CompanySchema",
    "ContactSchema",
    "FileSchema",
    "NamedRefSchema",
    "WorkflowStepSchema",
]
