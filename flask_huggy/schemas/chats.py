"""Chat life cycle: startedChat, createdChat, leftQueue, agentEntered, closedChat,
answeredChatForm, updatedWorkflowStep."""

from __future__ import annotations

from marshmallow import fields

from .. import models
from .base import HuggySchema
from .common import (
    ChannelSchema,
    ChatSchema,
    CompanySchema,
    ContactSchema,
    NamedRefSchema,
    WorkflowStepSchema,
)
from .fields import Either, Flag, HuggyDateTime, Id, LooseNested, Text


class ChatOpenedSchema(HuggySchema):
    """A chat as startedChat, createdChat and leftQueue describe it."""

    model = models.ChatOpened
    id = Id()
    situation = Text()
    channel = Either(Text(), ChannelSchema)
    department = Either(Id(), NamedRefSchema)
    contact = LooseNested(ContactSchema)
    agent = LooseNested(ContactSchema)
    # Always ``null`` in the docs' samples; its shape is unknown, so it is kept as sent.
    pipe = fields.Raw(allow_none=True)
    # Seen live at the top level of createdChat (and agentEntered); the docs show none.
    workflowID = Id()
    workflowStepID = Id()
    company = LooseNested(CompanySchema)


class AgentEnteredSchema(HuggySchema):
    """An agent joined a chat."""

    model = models.AgentEntered
    id = Id()
    channel = Either(Text(), ChannelSchema)
    situation = Text()
    department = Either(Id(), NamedRefSchema)
    customer = LooseNested(ContactSchema)
    agent = LooseNested(ContactSchema)
    workflowID = Id()
    workflowStepID = Id()
    company = LooseNested(CompanySchema)


class ClosedChatSchema(HuggySchema):
    """A chat was closed, with its tabulation (``false`` when none was chosen)."""

    model = models.ClosedChat
    id = Id()
    channel = Either(Text(), ChannelSchema)
    closed_at = HuggyDateTime()
    tabulation = Either(Text(), NamedRefSchema)
    situation = Text()
    closed = Flag()
    company = LooseNested(CompanySchema)


class FormQuestionSchema(HuggySchema):
    """A question of a chat form, as an answeredChatForm answer names it."""

    model = models.FormQuestion
    type = Text()
    fieldName = Text()


class FormAnswerSchema(HuggySchema):
    """One answer of an answeredChatForm."""

    model = models.FormAnswer
    question = LooseNested(FormQuestionSchema)
    text = Text()


class AnsweredChatFormSchema(HuggySchema):
    """Deprecated by Huggy, which no longer documents its fields; kept loose.

    ``answers`` is what receivers written against the live service read
    (``answers[].question.type``, ``.question.fieldName``, ``.text``).
    """

    model = models.AnsweredChatForm
    id = Id()
    chat = LooseNested(ChatSchema)
    customer = LooseNested(ContactSchema)
    answers = fields.List(LooseNested(FormAnswerSchema), allow_none=True)
    company = LooseNested(CompanySchema)


class UpdatedWorkflowStepSchema(HuggySchema):
    """A chat moved from one workflow step to another."""

    model = models.UpdatedWorkflowStep
    agent = LooseNested(ContactSchema)
    chat = LooseNested(ChatSchema)
    step = LooseNested(WorkflowStepSchema)
    previousStep = LooseNested(WorkflowStepSchema)
    company = LooseNested(CompanySchema)
