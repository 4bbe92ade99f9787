"""One template per Huggy event, taken from the samples in Huggy's webhook docs.

The templates ship inside the package (``<event name>.json`` next to this module)
so that the builders of :mod:`flask_huggy.testing` and the ``flask huggy`` CLI work
from an install, where the repository's ``tests/payloads/`` does not exist.

Which sample each event uses, and where it keeps its ids, is said in the event's
row of :mod:`flask_huggy.catalog`. Each template is the event object of one docs
sample, byte for byte, except:

- ``createdChat`` (deprecated by Huggy, which documents no sample) is
  ``startedChat``'s sample, the event Huggy says replaced it;
- ``answeredChatForm`` (deprecated, undocumented) is assembled from the parts
  its schema reads (``id``, ``chat``, ``customer``, ``company``), taken from the
  agentEntered and message samples;
- the flow events use the richer 2024 sample (with ``flowToken`` and the
  ``huggy.chat.*`` context keys) rather than the 2018 one.

:class:`Template` also says where each template keeps its own id, its chat's id
and its customer's id, so that a builder can give them fresh values while
keeping one conversation consistent.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from ..aliases import with_aliases
from ..catalog import CATALOG, FieldPath


@dataclass(frozen=True)
class Template:
    """How to build one event from the docs: its sample and where its ids live."""

    #: Huggy's event name, e.g. ``"closedChat"``.
    name: str
    #: The docs sample (a file of ``tests/payloads/``) the template comes from.
    source: str
    #: Whether Huggy lists the event as deprecated.
    deprecated: bool = False
    #: Where the event keeps its own id (a message id, an agent id, ...).
    own_id: tuple[FieldPath, ...] = ()
    #: Where it keeps the id of the chat it belongs to.
    chat_id: tuple[FieldPath, ...] = ()
    #: Where it keeps the id of the customer (the contact) it is about.
    customer_id: tuple[FieldPath, ...] = ()

    def event(self) -> dict[str, Any]:
        """A fresh copy of the docs' event object, safe to change."""
        return copy.deepcopy(_load(self.name))


#: Huggy event name -> its :class:`Template`, in the order of Huggy's event list. An
#: alias (``sentAllMessage``) has its event's template, whose ``name`` is the documented one.
TEMPLATES: dict[str, Template] = with_aliases(
    {
        spec.name: Template(
            spec.name,
            spec.sample.source,
            spec.deprecated,
            spec.sample.own_id,
            spec.sample.chat_id,
            spec.sample.customer_id,
        )
        for spec in CATALOG
    }
)


def template(name: str) -> Template:
    """The template of event ``name``; a :class:`ValueError` lists the known names otherwise."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ValueError(f"No sample for event {name!r}; known events: {', '.join(TEMPLATES)}.") from None


@cache
def _load(name: str) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    event: dict[str, Any] = json.loads(text)
    return event


__all__ = ["TEMPLATES", "FieldPath", "Template", "template"]
