"""Event names Huggy sends under more than one spelling.

Huggy's docs call an agent's message ``sendedAllMessage``; receivers running
against the live service (2020 onwards) read ``sentAllMessage``, with the same
fields. An alias is the same event under another name: the same schema, typed
class and signal. Only :attr:`Event.name <flask_huggy.Event.name>` tells them
apart, since it keeps the name the event came under.

Aliases are declared in the event's row of :mod:`flask_huggy.catalog`; every
table keyed by event name (the schemas, the typed classes, the signals, the
samples) holds them, right after their event.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar

from .catalog import CATALOG

_V = TypeVar("_V")

#: Another name Huggy sends an event under -> the event's name in Huggy's docs.
EVENT_ALIASES: Mapping[str, str] = MappingProxyType({alias: spec.name for spec in CATALOG for alias in spec.aliases})


def with_aliases(table: Mapping[str, _V]) -> dict[str, _V]:
    """``table`` (keyed by documented names) with each alias right after its event, sharing its value.

    The value is the very same object, not a copy: ``signals.EVENT_SIGNALS["sentAllMessage"]``
    *is* ``signals.sended_all_message``, so a receiver connected once hears both names.
    """
    aliases: dict[str, list[str]] = {}
    for alias, name in EVENT_ALIASES.items():
        aliases.setdefault(name, []).append(alias)
    combined: dict[str, _V] = {}
    for name, value in table.items():
        combined[name] = value
        for alias in aliases.get(name, ()):
            combined[alias] = value
    return combined


def documented_name(name: str) -> str:
    """The name Huggy's docs give the event ``name`` (``"sentAllMessage"`` -> ``"sendedAllMessage"``)."""
    return EVENT_ALIASES.get(name, name)


__all__ = ["EVENT_ALIASES", "documented_name", "with_aliases"]
