"""The delivery envelope: ``{"time": ..., "messages": {...}, "token": ...}``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from marshmallow import ValidationError, fields

from .base import HuggySchema
from .fields import AnyField, HuggyField, epoch_to_utc


class EpochTime(HuggyField):
    """The delivery's ``time``: seconds since the epoch, as an aware UTC datetime."""

    default_error_messages = {"invalid": "Not a valid epoch time in seconds."}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> datetime:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise self.make_error("invalid") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise self.make_error("invalid")
        moment = epoch_to_utc(value)
        if moment is None:
            raise self.make_error("invalid")
        return moment


class Messages(AnyField):
    """``messages``: event name -> list of event objects, flattened in payload order.

    The events themselves are not copied or validated here: each is kept as the
    very object Huggy sent, to be validated only if someone listens to it.
    """

    default_error_messages = {"invalid": "Must be an object mapping each event name to a list of events."}

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> list[tuple[str, dict[str, Any]]]:
        if isinstance(value, list) and not value:
            return []  # PHP's empty array: a delivery with no events
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        events: list[tuple[str, dict[str, Any]]] = []
        errors: dict[str, Any] = {}
        for name, items in value.items():
            if not isinstance(items, list):
                errors[name] = ["Must be a list of event objects."]
                continue
            wrong = {index: ["Must be an object."] for index, item in enumerate(items) if not isinstance(item, dict)}
            if wrong:
                errors[name] = wrong
                continue
            events.extend((name, item) for item in items)
        if errors:
            raise ValidationError(errors)
        return events


class EnvelopeSchema(HuggySchema):
    """What every delivery carries around its events."""

    time = EpochTime()
    token = fields.Raw(allow_none=True)
    messages = Messages(required=True)
