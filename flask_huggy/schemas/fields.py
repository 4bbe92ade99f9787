"""Fields that read Huggy's values the way Huggy means them.

Huggy's payloads come from PHP and show it: ids arrive as ``123`` or ``"123"``,
an absent object arrives as ``false``, an empty mapping as ``[]``, flags as
``1`` or ``"1"``, and timestamps carry no offset although they are Brazil local
time. Each field here absorbs one of those habits, so that event schemas are a
plain list of fields.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from marshmallow import fields

if TYPE_CHECKING:
    AnyField = fields.Field[Any]
else:
    AnyField = fields.Field  # marshmallow 3's Field is not generic: subscripting it fails at run time

# Longer ids are not ids: Python refuses to convert 4300+ digit strings anyway.
_INTEGER = re.compile(r"-?[0-9]{1,30}")
_local_timezone: contextvars.ContextVar[tzinfo] = contextvars.ContextVar(
    "flask_huggy_local_timezone",
    default=ZoneInfo("America/Sao_Paulo"),  # noqa: B039 - a ZoneInfo is immutable
)


class local_timezone:  # lower case, as contextlib's context managers: it reads as a function
    """Read offset-less timestamps as local time in ``tz`` while loading: ``with local_timezone(tz):``.

    A context variable, so each thread (and task) reads in its own zone. A class
    rather than a generator: it runs for every event, and costs a quarter as much.
    """

    __slots__ = ("_token", "tz")

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz

    def __enter__(self) -> None:
        # Most loads ask for the zone already in force (the default's ZoneInfo is the
        # very object settings hold): nothing to set, nothing to reset.
        self._token = None if _local_timezone.get() is self.tz else _local_timezone.set(self.tz)

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _local_timezone.reset(self._token)


def is_absent(value: Any) -> bool:
    """Whether Huggy means "nothing here": ``null``, ``false``, ``""`` or ``[]``."""
    return value is None or value is False or value == "" or (isinstance(value, list) and not value)


class HuggyField(AnyField):
    """Base of the fields below: every Huggy value may be ``null``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)


class Id(HuggyField):
    """An integer id, sent as a number or a numeric string; ``""`` means no id."""

    default_error_messages = {"invalid": "Not a valid id: expected an integer or a numeric string."}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int | None:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            if value == "":
                return None
            if _INTEGER.fullmatch(value):
                return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise self.make_error("invalid")


class Integer(Id):
    """A count or code: same rules as :class:`Id`."""

    default_error_messages = {"invalid": "Not a valid integer."}


class Flag(HuggyField):
    """A yes/no value, sent as ``true``/``false``, ``1``/``0`` or ``"1"``/``"0"``."""

    default_error_messages = {"invalid": 'Not a valid flag: expected true/false, 1/0 or "1"/"0".'}
    _TRUE = frozenset({"1", "true"})
    _FALSE = frozenset({"0", "false", ""})

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in self._TRUE:
                return True
            if lowered in self._FALSE:
                return False
        raise self.make_error("invalid")


class Text(HuggyField):
    """A string; numbers (a phone sent as ``5575999999999``) become their digits."""

    default_error_messages = {"invalid": "Not a valid string."}

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return str(value)
            except ValueError:  # an int past Python's 4300-digit conversion limit
                raise self.make_error("invalid") from None
        raise self.make_error("invalid")


class HuggyDateTime(HuggyField):
    """A moment, as an aware UTC datetime.

    Huggy writes ``"2020-03-05 17:21:10"`` in Brazil local time (the docs'
    closedChat sample is stamped 17:21:10 in a delivery whose epoch ``time`` is
    20:21:11 UTC), so offset-less strings are read in the configured local time
    zone. Strings with an offset and epoch numbers (seconds, or milliseconds when
    too large for seconds) are exact already. ``false`` and ``""`` mean "not yet".
    """

    default_error_messages = {"invalid": "Not a valid timestamp."}

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> datetime | None:
        if value is False or value == "":
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            moment = epoch_to_utc(value)
            if moment is None:
                raise self.make_error("invalid")
            return moment
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                raise self.make_error("invalid") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=_local_timezone.get())
            try:
                return moment.astimezone(timezone.utc)
            except (OverflowError, ValueError):
                raise self.make_error("invalid") from None
        raise self.make_error("invalid")


def epoch_to_utc(value: float) -> datetime | None:
    """Seconds (or milliseconds, past the year 5138) since the epoch, as UTC; None if no datetime holds it.

    None rather than an error of the caller's: building a ``ValidationError`` for
    every timestamp, in case, would cost more than the conversion.
    """
    try:
        seconds = value / 1000 if abs(value) >= 1e11 else value
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


class LooseNested(fields.Nested):
    """A nested object that Huggy may replace by ``false``, ``null``, ``""`` or ``[]``."""

    def __init__(self, nested: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", True)
        super().__init__(nested, **kwargs)

    def _deserialize(
        self,
        value: Any,
        attr: str | None,
        data: Mapping[str, Any] | None,
        partial: bool | Sequence[str] | AbstractSet[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        if is_absent(value):
            return None
        return self.load_object(value, attr, data, partial=partial, **kwargs)

    def load_object(
        self,
        value: Any,
        attr: str | None,
        data: Mapping[str, Any] | None,
        partial: bool | Sequence[str] | AbstractSet[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Load a value that is not "nothing here": the nested schema's load.

        Apart so that the walker's copy of the field can load by walking
        (:mod:`~flask_huggy.schemas.walker`) and keep every other rule of the field.
        """
        return super()._deserialize(value, attr, data, partial=partial, **kwargs)


class LooseMapping(HuggyField):
    """A free-form mapping kept key for key; PHP's empty ``[]`` becomes ``{}``.

    Used for ``custom_fields`` and the flow ``context``, whose keys are the
    user's own (``"SYSTEM.CHAT_ID"``, ``"huggy.chat.agent.id"``, ``"hash_fluxo.pergunta"``)
    and whose values are kept exactly as sent.
    """

    default_error_messages = {"invalid": "Not a valid mapping."}

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> dict[str, Any]:
        if isinstance(value, dict):
            return dict(value)
        if isinstance(value, list) and not value:
            return {}
        raise self.make_error("invalid")


class Either(HuggyField):
    """A value Huggy sends in two shapes: a scalar or an object.

    ``channel`` is ``"widget"`` in a message but ``{"id": ..., "uuid": ...}`` in
    startedChat; ``department`` is ``11445`` in one sample and an object in the
    panel; ``file`` is ``null``, a URL or an object. The scalar is read by
    ``scalar`` and kept as it is; the object is loaded by ``nested``.
    """

    def __init__(self, scalar: AnyField, nested: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scalar = scalar
        self.nested = LooseNested(nested)

    def _bind_to_schema(self, field_name: str, parent: Any) -> None:
        super()._bind_to_schema(field_name, parent)
        self.scalar._bind_to_schema(field_name, parent)
        self.nested._bind_to_schema(field_name, parent)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        if is_absent(value):
            return None
        if isinstance(value, dict):
            return self.nested.deserialize(value, attr, data, **kwargs)
        return self.scalar.deserialize(value, attr, data, **kwargs)
