"""Contacts and agents: createdCustomer, updatedCustomer, startedWidgetAttendance,
agentChangedStatus."""

from __future__ import annotations

from .. import models
from .common import ChannelSchema, CompanySchema, ContactSchema
from .fields import Either, Id, LooseNested, Text


class CustomerEventSchema(ContactSchema):
    """A contact as created or updated in the panel, with its company."""

    model = models.CustomerChanged
    # Seen live as {name, source}; the docs show no channel here.
    channel = Either(Text(), ChannelSchema)
    company = LooseNested(CompanySchema)


class AgentStatusSchema(ContactSchema):
    """An agent with its new availability (``isOnline``, ``isAvailable``, ``statusID``)."""

    model = models.AgentChangedStatus
    company = LooseNested(CompanySchema)


class WidgetAttendanceSchema(ContactSchema):
    """A customer who filled the Huggy Chat form; ``widget`` is the widget's id."""

    model = models.StartedWidgetAttendance
    widget = Id()
    channel = Either(Text(), ChannelSchema)
    company = LooseNested(CompanySchema)
