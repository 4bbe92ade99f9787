"""Automation flows: startedAutomationFlow, finishedAutomationFlow."""

from __future__ import annotations

from .. import models
from .base import HuggySchema
from .common import CompanySchema
from .fields import Id, LooseMapping, LooseNested, Text


class FlowSchema(HuggySchema):
    """A flow run on a chat, with the flow's context variables.

    ``context`` keys are dotted names (``SYSTEM.CHAT_ID``, ``huggy.chat.agent.id``,
    the user's own ``hash_fluxo.pergunta``); they and their values are kept exactly
    as sent, since a flow author's variables have no schema.
    """

    model = models.AutomationFlow
    chatID = Id()
    lastActionID = Id()
    companyID = Id()
    flowID = Id()
    flowToken = Text()
    context = LooseMapping()
    company = LooseNested(CompanySchema)
