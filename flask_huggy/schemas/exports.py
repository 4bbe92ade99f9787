"""Exports: asyncExportData."""

from __future__ import annotations

from .. import models
from .base import HuggySchema
from .common import CompanySchema
from .fields import LooseNested, Text


class ExportDataSchema(HuggySchema):
    """A report export is ready; ``fileUrl`` is a signed, short-lived download link."""

    model = models.AsyncExportData
    fileUrl = Text()
    company = LooseNested(CompanySchema)
