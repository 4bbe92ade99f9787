"""marshmallow schemas for Huggy's webhook: one per event, derived from its typed class.

:data:`EVENT_SCHEMAS` maps each Huggy event name to the schema that validates and
coerces it. Schemas are instantiated once, here, and shared: loading is
thread-safe and instantiating a schema costs far more than using one.

:func:`build_event_object` turns what a schema loaded into the event's typed object
(:mod:`flask_huggy.models`); the loaded dict itself is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from ..catalog import CATALOG, EVENT_MODELS, EVENTS
from ..models import HuggyObject
from .base import HuggySchema
from .derived import schema_for
from .walker import load

#: Huggy event name -> the schema instance that loads it, derived from the event's
#: class (:mod:`flask_huggy.schemas.derived`). Events whose classes only rename a
#: shared one (the four messages) share its schema; an alias (``sentAllMessage``)
#: shares its event's.
EVENT_SCHEMAS: dict[str, HuggySchema] = {name: schema_for(spec.model) for name, spec in EVENTS.items()}

#: Events Huggy lists as deprecated; they still parse.
DEPRECATED_EVENTS = frozenset(spec.name for spec in CATALOG if spec.deprecated)


def load_event(name: str, raw: dict[str, Any], tz: tzinfo) -> dict[str, Any]:
    """Validate and coerce one known event; raises marshmallow's ``ValidationError``.

    The result is always what ``EVENT_SCHEMAS[name].load(raw)`` gives with
    offset-less timestamps read in ``tz``; :mod:`~flask_huggy.schemas.walker`
    gets it by walking the schema's fields when the event has the expected shape,
    and leaves anything else to marshmallow.
    """
    data: dict[str, Any] = load(EVENT_SCHEMAS[name], raw, tz)
    return data


def build_event_object(name: str, data: Mapping[str, Any]) -> HuggyObject:
    """The typed object of a known event from its loaded ``data``.

    The class comes from :data:`~flask_huggy.catalog.EVENT_MODELS` rather than
    from the schema, since one schema serves several events (the four messages
    share :class:`MessageSchema`) and each event has its own class.
    """
    return EVENT_SCHEMAS[name].build_object(data, EVENT_MODELS[name])


__all__ = [
    "DEPRECATED_EVENTS",
    "EVENT_SCHEMAS",
    "HuggySchema",
    "build_event_object",
    "load_event",
]
