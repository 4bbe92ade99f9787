"""One template per Huggy event, taken from the samples in Huggy's webhook docs.

The templates ship inside the package (``<event name>.json`` next to this module)
so that the builders of :mod:`flask_huggy.testing` and the ``flask huggy`` CLI work
from an install, where the repository's ``tests/payloads/`` does not exist.

Each template is the event object of one docs sample, byte for byte, except:

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

#: A location inside an event object: keys (and list indexes) from the top.
#: A tuple rather than a dotted string because Huggy's keys may hold dots
#: (``context["SYSTEM.CHAT_ID"]``).
FieldPath = tuple[str | int, ...]


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


_ITSELF: tuple[FieldPath, ...] = (("id",),)
_CONTACT: tuple[FieldPath, ...] = (("contact", "id"),)
_FLOW_CHAT: tuple[FieldPath, ...] = (("chatID",), ("context", "SYSTEM.CHAT_ID"))

_TEMPLATES = (
    # senderType "widget": the sender is the customer.
    Template("receivedMessage", "receivedMessage", own_id=(("id",),), chat_id=(("chat", "id"),),
             customer_id=(("sender", "id"), ("customer", "id"))),
    Template("receivedAllMessage", "receivedAllMessage", own_id=(("id",),), chat_id=(("chat", "id"),),
             customer_id=(("sender", "id"), ("customer", "id"), ("chat", "customer", "id"))),
    Template("startedChat", "startedChat", chat_id=_ITSELF, customer_id=_CONTACT),
    Template("createdChat", "startedChat", deprecated=True, chat_id=_ITSELF, customer_id=_CONTACT),
    Template("agentEntered", "agentEntered", chat_id=(("id",),), customer_id=(("customer", "id"),)),
    Template("closedChat", "closedChat", chat_id=(("id",),)),
    Template("answeredChatForm", "(none: deprecated and undocumented)", deprecated=True, own_id=(("id",),),
             chat_id=(("chat", "id"),), customer_id=(("customer", "id"), ("chat", "customer", "id"))),
    Template("createdCustomer", "createdCustomer", customer_id=(("id",),)),
    Template("startedWidgetAttendance", "startedWidgetAttendance", own_id=(("id",),)),
    Template("startedAutomationFlow", "startedAutomationFlow+finishedAutomationFlow-2", chat_id=_FLOW_CHAT),
    Template("finishedAutomationFlow", "startedAutomationFlow+finishedAutomationFlow-2", chat_id=_FLOW_CHAT),
    # An agent's message: the receiver is the customer.
    Template("sendedAllMessage", "sendedAllMessage", own_id=(("id",),), chat_id=(("chat", "id"),),
             customer_id=(("receiver", "id"), ("customer", "id"), ("chat", "customer", "id"))),
    Template("updatedWorkflowStep", "updatedWorkflowStep", chat_id=(("chat", "id"),),
             customer_id=(("chat", "customer", "id"),)),
    Template("leftQueue", "leftQueue", chat_id=_ITSELF, customer_id=_CONTACT),
    Template("agentChangedStatus", "agentChangedStatus", own_id=(("id",),)),
    Template("updatedCustomer", "updatedCustomer", customer_id=(("id",),)),
    Template("newInternalMessage", "newInternalMessage", own_id=(("id",),), chat_id=(("chat", "id"),),
             customer_id=(("receiver", "id"), ("chat", "customer", "id"))),
    Template("asyncExportData", "asyncExportData"),
)

#: Huggy event name -> its :class:`Template`, in the order of Huggy's event list. An
#: alias (``sentAllMessage``) has its event's template, whose ``name`` is the documented one.
TEMPLATES: dict[str, Template] = with_aliases({t.name: t for t in _TEMPLATES})


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
