"""Contacts and agents: createdCustomer, updatedCustomer, startedWidgetAttendance,
agentChangedStatus."""

from __future__ import annotations

from .. import models
from .common import CompanySchema, ContactSchema
from .fields import Id, LooseNested


class CustomerEventSchema(ContactSchema):
    """A contact as created or updated in the panel, with its company."""

    model = models.CustomerChanged
    company = LooseNested(CompanySchema)


class AgentStatusSchema(ContactSchema):
    """An agent with its new availability (``isOnline``, ``isAvailable``, ``statusID``)."""

    model = models.AgentChangedStatus
    company = LooseNested(CompanySchema)


class WidgetAttendanceSchema(ContactSchema):
    """A customer who filled the Huggy Chat form; ``widget`` is the widget's id."""

    model = models.StartedWidgetAttendance
    widget = Id()
    company = LooseNested(CompanySchema)
