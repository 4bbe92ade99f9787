"""API calls made while an event's receivers run, remembered so that running them again does not repeat them.

Huggy retries a delivery, Celery retries a task, ``flask huggy replay --failed``
runs one again: each time the event's receivers run again, and a reply they
sent the first time would reach the customer twice. So :func:`dispatch
<flask_huggy.dispatch.dispatch>` handles each event inside a :class:`CallScope`
(a context variable) that names the event's de-duplication key, and
:class:`~flask_huggy.HuggyAPI` asks the scope for a key for each write:

    key = sha256(event key, method, URL, query, canonical body, n)

where ``n`` counts the identical calls made earlier in this run of the event's
receivers (two identical replies in one run are two replies). A write whose key
the de-duplication store remembers is not sent: the remembered answer is
returned. A write that succeeds is remembered for ``HUGGY_DEDUP_TTL``; one that
fails is not, so it is sent again next time.

The scope is the event rather than each receiver: an event whose receivers all
returned is done and never runs again, so every rerun runs all of them, and a
call keyed by its content and its rank among identical calls is recognised
whichever receiver makes it.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

if TYPE_CHECKING:
    from .endpoint import Endpoint

logger = logging.getLogger("flask_huggy")

#: Prefix of the remembered calls' keys in the de-duplication store, apart from the events' keys.
CALL_PREFIX = "call:"


class CallMemory(Protocol):
    """What a de-duplication store offers to remember calls: a small JSON text per key, for ``ttl`` seconds.

    :class:`~flask_huggy.dedup.MemoryStore` and :class:`~flask_huggy.dedup.RedisStore`
    have it; a store of your own without it still de-duplicates events, but
    calls are then not remembered (a warning says so at startup).
    """

    def get(self, key: str) -> str | None:
        """The text stored under ``key``, or ``None``."""
        ...

    def set(self, key: str, value: str, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds."""
        ...


def remembers_calls(store: object) -> TypeGuard[CallMemory]:
    """Whether ``store`` can remember calls (has ``get`` and ``set``)."""
    return callable(getattr(store, "get", None)) and callable(getattr(store, "set", None))


@dataclass
class CallScope:
    """The event whose receivers are running, and the calls they made so far in this run.

    ``event_key`` is ``None`` (calls are sent as they come) outside an event
    (``delivery_received``), without ``HUGGY_DEDUP``, or with a store that
    cannot remember calls.
    """

    #: The endpoint the delivery came to: its ``api`` is the client receivers use.
    endpoint: Endpoint | None
    event_key: str | None = None
    memory: CallMemory | None = None
    #: Seconds a successful call is remembered (``HUGGY_DEDUP_TTL``).
    ttl: float = 86_400
    #: How many times each call was made so far in this run (a plain dict: a scope is made per event).
    _seen: dict[str, int] = field(default_factory=dict, repr=False)

    def key_for(self, method: str, url: str, params: Any, body: Any) -> str | None:
        """The once-only key of this call, counting it; ``None`` when calls are not remembered."""
        if self.event_key is None or self.memory is None:
            return None
        call = _canonical([method.upper(), url, params, body])
        rank = self._seen.get(call, 0)
        self._seen[call] = rank + 1
        return hashlib.sha256(_canonical([self.event_key, call, rank]).encode()).hexdigest()

    def recall(self, key: str) -> tuple[bool, Any]:
        """``(True, answer)`` when the call with ``key`` succeeded before, else ``(False, None)``."""
        assert self.memory is not None
        text = self.memory.get(CALL_PREFIX + key)
        if text is None:
            return False, None
        return True, json.loads(text)["answer"]

    def remember(self, key: str, answer: Any) -> None:
        """Keep the answer of a call that succeeded; a store that fails here only costs a repeat later."""
        assert self.memory is not None
        try:
            self.memory.set(CALL_PREFIX + key, _canonical({"answer": answer}), self.ttl)
        except Exception as exc:  # noqa: BLE001 - the call itself succeeded: its receiver goes on
            logger.error("Could not remember a Huggy API call (%s); a rerun of its event would send it again.", exc)


_current: contextvars.ContextVar[CallScope | None] = contextvars.ContextVar("flask_huggy_call_scope", default=None)


def current_scope() -> CallScope | None:
    """The scope of the event whose receivers are running in this context, if any."""
    return _current.get()


class scoped:  # lower case, as contextlib's context managers
    """Run the receivers of one event (or of a delivery) inside ``scope``: ``with scoped(scope):``."""

    __slots__ = ("_token", "scope")

    def __init__(self, scope: CallScope) -> None:
        self.scope = scope

    def __enter__(self) -> CallScope:
        self._token = _current.set(self.scope)
        return self.scope

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self._token)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


__all__ = ["CALL_PREFIX", "CallMemory", "CallScope", "current_scope", "remembers_calls", "scoped"]
