"""Every Huggy event this version knows, and the tables keyed by event name derived from it.

The rows themselves (:data:`CATALOG`, one :class:`EventSpec` per event) sit at the
end of :mod:`flask_huggy.models`, beside the classes they name, so that an event is
declared in one file. This module is the root the rest derives from:

- :data:`EVENTS` (name, aliases included -> row), :data:`EVENT_ALIASES` and
  :data:`EVENT_MODELS`;
- the shipped samples (:func:`sample_event`) the test builders and ``flask huggy
  simulate`` start from;
- the marshmallow schemas (:data:`~flask_huggy.schemas.EVENT_SCHEMAS`), derived
  from the typed classes, so that a field is declared once, in its class;
- ``flask huggy events`` and ``docs/events.rst``.

The blinker signals are written out in :mod:`flask_huggy.signals`, one line each,
as Flask's are; a test holds them to the rows.

An alias is another name live Huggy sends an event under: Huggy's docs call an
agent's message ``sendedAllMessage``, receivers written against the live service
(2020 onwards) read ``sentAllMessage``. It is the same event: the same schema,
typed class and signal. Only :attr:`Event.name <flask_huggy.Event.name>` tells
them apart, since it keeps the name the event came under.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from .models import CATALOG, EventSpec, FieldPath, HuggyObject, Sample, snake_case


def by_name() -> Iterator[tuple[str, EventSpec]]:
    """``(name, row)`` for every name an event comes under: each event, then its aliases."""
    for spec in CATALOG:
        for name in spec.names:
            yield name, spec


#: Event name (aliases included) -> its row.
EVENTS: Mapping[str, EventSpec] = MappingProxyType(dict(by_name()))

#: Another name Huggy sends an event under -> the event's name in Huggy's docs.
EVENT_ALIASES: Mapping[str, str] = MappingProxyType({alias: spec.name for spec in CATALOG for alias in spec.aliases})

#: Huggy event name -> the class of its :attr:`Event.obj <flask_huggy.Event.obj>`.
#: Events that share a schema (the four messages, ...) still get one class each,
#: so that ``isinstance`` tells them apart; an alias gets its event's class.
EVENT_MODELS: Mapping[str, type[HuggyObject]] = MappingProxyType({name: spec.model for name, spec in EVENTS.items()})


def documented_name(name: str) -> str:
    """The name Huggy's docs give the event ``name`` (``"sentAllMessage"`` -> ``"sendedAllMessage"``)."""
    return EVENT_ALIASES.get(name, name)


def spec_for(name: str) -> EventSpec:
    """The row of event ``name``; a :class:`ValueError` that lists the known names otherwise.

    For names a user typed (a builder's argument, the CLI), where a ``KeyError``
    would not say what to type instead.
    """
    try:
        return EVENTS[name]
    except KeyError:
        raise ValueError(f"No sample for event {name!r}; known events: {', '.join(EVENTS)}.") from None


def sample_event(name: str) -> dict[str, Any]:
    """A fresh copy of event ``name``'s shipped sample (``flask_huggy/samples/<name>.json``), safe to change.

    The samples ship inside the package so that the test builders and the CLI work
    from an install, where the repository's ``tests/`` does not exist.
    """
    return copy.deepcopy(_sample(spec_for(name).name))


@cache
def _sample(name: str) -> dict[str, Any]:
    text = resources.files("flask_huggy.samples").joinpath(f"{name}.json").read_text(encoding="utf-8")
    event: dict[str, Any] = json.loads(text)
    return event


__all__ = [
    "CATALOG",
    "EVENTS",
    "EVENT_ALIASES",
    "EVENT_MODELS",
    "EventSpec",
    "FieldPath",
    "Sample",
    "by_name",
    "documented_name",
    "sample_event",
    "snake_case",
    "spec_for",
]
