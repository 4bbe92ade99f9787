"""De-duplication: each event is handled once, even when Huggy delivers it again.

Huggy retries a delivery that did not get a 2xx, and sends no delivery id. So
the library derives a key per event (:func:`event_key`) and keeps, in a shared
store, which events are being handled (a *lease*) and which are done (a *done
mark* kept for ``HUGGY_DEDUP_TTL``). An event is marked done only after all its
receivers returned; if one raises, the lease is released so that Huggy's retry
runs the event again, while the events of the same delivery that succeeded are
skipped on that retry.

Two stores: :class:`MemoryStore` (one process: a bounded LRU with TTL) and
:class:`RedisStore` (every worker of every host, with ``SET NX PX``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ConfigError, Unavailable
from .once import remembers_calls

if TYPE_CHECKING:
    from .events import Delivery, Event

#: ``(event, delivery, index) -> key``: how an event is recognised when it comes again.
KeyFunction = Callable[["Event", "Delivery", int], str]

logger = logging.getLogger("flask_huggy")

CLAIMED, DONE, BUSY = "claimed", "done", "busy"
#: A :class:`MemoryStore` entry that holds a value (``set``), not a lease.
_VALUE = "value"


def event_key(event: Event, delivery: Delivery, index: int) -> str:
    """The default key: a hash of the event's name, position, raw object and delivery time.

    A retry of a delivery carries the same ``time`` and the same events in the
    same order, so it gets the same keys. The position tells apart two equal
    events of one delivery (Huggy may legitimately send the same object twice).
    """
    moment = delivery.time.timestamp() if delivery.time is not None else None
    canonical = json.dumps(
        [event.name, index, moment, event.raw], sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


class Store(Protocol):
    """Where leases and done marks live.

    A store may also offer ``claim_all(keys, owner, lease) -> list[str]``: the
    states of :meth:`claim` for every key, taking no lease at all when one of
    them is :data:`BUSY`, in one step. :class:`MemoryStore` and
    :class:`RedisStore` do (Redis in one round trip); for a store without it,
    the keys are claimed one by one and released again on a busy one.

    A store may also offer ``get(key) -> str | None`` and ``set(key, value,
    ttl)``, a small JSON text per key (:class:`~flask_huggy.once.CallMemory`):
    with them, the API calls receivers make are made once per event
    (:mod:`flask_huggy.once`). Both built-in stores do; without them, calls are
    not remembered and a warning says so at startup.
    """

    def claim(self, key: str, owner: str, lease: float) -> str:
        """Take a lease on ``key`` for ``owner``: :data:`CLAIMED`, or :data:`DONE` / :data:`BUSY`."""

    def complete(self, key: str, owner: str, ttl: float) -> None:
        """Turn ``owner``'s lease into a done mark that lasts ``ttl`` seconds."""

    def release(self, key: str, owner: str) -> None:
        """Drop ``owner``'s lease, so that the event can run again."""


class MemoryStore:
    """An in-process store: a thread-safe LRU of at most ``max_entries`` keys.

    It sees only the deliveries of its own process: with several workers, a retry
    that lands on another worker is not recognised. Use Redis there.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[str, str, float]] = OrderedDict()  # key -> (state, owner, expires)
        self._lock = threading.Lock()

    def claim(self, key: str, owner: str, lease: float) -> str:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[2] > now:
                return DONE if entry[0] == DONE else BUSY
            self._entries[key] = ("running", owner, now + lease)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return CLAIMED

    def claim_all(self, keys: Sequence[str], owner: str, lease: float) -> list[str]:
        with self._lock:
            now = time.monotonic()
            states = [self._state(key, now) for key in keys]
            if BUSY not in states:
                for key, state in zip(keys, states):
                    if state == CLAIMED:
                        self._entries[key] = ("running", owner, now + lease)
                        self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            return states

    def _state(self, key: str, now: float) -> str:
        entry = self._entries.get(key)
        if entry is not None and entry[2] > now:
            return DONE if entry[0] == DONE else BUSY
        return CLAIMED

    def complete(self, key: str, owner: str, ttl: float) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[1] == owner:
                self._entries[key] = (DONE, owner, time.monotonic() + ttl)

    def release(self, key: str, owner: str) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[1] == owner and entry[0] != DONE:
                del self._entries[key]

    def get(self, key: str) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
            return entry[1] if entry is not None and entry[0] == _VALUE and entry[2] > time.monotonic() else None

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._lock:
            self._entries[key] = (_VALUE, value, time.monotonic() + ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


# Only the owner of a lease may turn it into a done mark or drop it: a worker
# whose lease expired (it was too slow) must not erase another worker's lease.
_COMPLETE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('set', KEYS[1], 'done', 'PX', ARGV[2]) end"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
# Every lease of a delivery in one step: all the free keys are taken, or, when one
# is busy, none (the leases taken so far are dropped again) and nothing fires.
_CLAIM_ALL = """
local states, taken = {}, {}
for i, key in ipairs(KEYS) do
  if redis.call('set', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    states[i] = 'claimed'
    taken[#taken + 1] = key
  elseif redis.call('get', key) == 'done' then
    states[i] = 'done'
  else
    for _, mine in ipairs(taken) do redis.call('del', mine) end
    for j = 1, #KEYS do states[j] = (j == i) and 'busy' or (states[j] or 'claimed') end
    return states
  end
end
return states
"""


class RedisStore:
    """A store in Redis, shared by every worker: ``SET key owner NX PX lease``."""

    def __init__(self, url: str, prefix: str = "huggy:dedup:", timeout: float = 2.0) -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - depends on the install
            raise ConfigError(
                "HUGGY_DEDUP is a redis:// URL but the redis package is missing: pip install 'flask-huggy[redis]'"
            ) from None
        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.prefix = prefix
        self._complete = self.client.register_script(_COMPLETE)
        self._release = self.client.register_script(_RELEASE)
        self._claim_all = self.client.register_script(_CLAIM_ALL)

    def claim(self, key: str, owner: str, lease: float) -> str:
        name = self.prefix + key
        with self._errors_as_503():
            if self.client.set(name, owner, nx=True, px=max(1, int(lease * 1000))):
                return CLAIMED
            value = self.client.get(name)
        if value is None:  # the lease expired between the two calls: try once more
            return self.claim(key, owner, lease)
        return DONE if value == b"done" else BUSY

    def claim_all(self, keys: Sequence[str], owner: str, lease: float) -> list[str]:
        if not keys:
            return []
        with self._errors_as_503():
            states = self._claim_all(keys=[self.prefix + key for key in keys], args=[owner, max(1, int(lease * 1000))])
        return [state.decode() if isinstance(state, bytes) else str(state) for state in states]

    def complete(self, key: str, owner: str, ttl: float) -> None:
        with self._errors_as_503():
            self._complete(keys=[self.prefix + key], args=[owner, max(1, int(ttl * 1000))])

    def release(self, key: str, owner: str) -> None:
        with self._errors_as_503():
            self._release(keys=[self.prefix + key], args=[owner])

    def get(self, key: str) -> str | None:
        with self._errors_as_503():
            value = self.client.get(self.prefix + key)
        return value.decode("utf-8") if isinstance(value, bytes) else value

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._errors_as_503():
            self.client.set(self.prefix + key, value, px=max(1, int(ttl * 1000)))

    @contextlib.contextmanager
    def _errors_as_503(self) -> Iterator[None]:
        # Redis down must never become a silent 200 (an event lost) nor a 500
        # with a traceback: a 503 makes Huggy retry once Redis is back.
        try:
            yield
        except self._redis_errors as exc:
            raise Unavailable(
                "The de-duplication store (Redis) is unavailable; Huggy will retry the delivery.",
                error="dedup_unavailable",
            ) from exc


@dataclass(frozen=True)
class Claim:
    """A lease this dispatch holds on one event (``key`` is ``None`` if the event cannot be keyed)."""

    key: str | None
    owner: str


class Deduplicator:
    """Decides, per event, whether to run it, skip it (done) or refuse (in flight).

    A done mark that cannot be written (the store went away just after the
    receivers returned) is kept in this process and written as soon as the store
    answers again, before the lease runs out, so that a finished event is never
    run twice. A lease that cannot be given back (a receiver raised while the
    store was away, or the store crashed before answering a claim it took) is
    kept the same way, so that Huggy's retry need not wait for the whole lease
    to run out.
    """

    def __init__(self, store: Store, *, ttl: float = 86_400, lease: float = 300, key: KeyFunction = event_key) -> None:
        self.store = store
        self.ttl = ttl
        self.lease = lease
        self.key = key
        #: Writes still to make: (claim, when its lease runs out on time.monotonic(), done mark or release).
        self._pending: list[tuple[Claim, float, bool]] = []
        self._pending_lock = threading.Lock()

    def claim(self, event: Event, delivery: Delivery, index: int) -> Claim | None:
        """A :class:`Claim` to run the event, or ``None`` if it was handled already.

        Raises :class:`~flask_huggy.Unavailable` (``"duplicate_in_flight"``) when another worker is
        handling the same event right now: the delivery gets a 503, Huggy retries,
        and by then the event is done (skipped) or free again (run).
        """
        return self.claim_all([(index, event)], delivery)[index]

    def claim_all(self, events: Sequence[tuple[int, Event]], delivery: Delivery) -> dict[int, Claim | None]:
        """Claims for every ``(index, event)`` of a delivery at once: a :class:`Claim` to run, ``None`` if done.

        Taken before any receiver runs: if one event is in flight elsewhere,
        :class:`~flask_huggy.Unavailable` (``"duplicate_in_flight"``) is raised holding no lease at all,
        so that "503: nothing fired" stays true.
        """
        self.flush()
        owner = uuid.uuid4().hex
        claims: dict[int, Claim | None] = {}
        keyed: list[tuple[int, Event, str]] = []
        for index, event in events:
            try:
                keyed.append((index, event, self.key(event, delivery, index)))
            except (RecursionError, ValueError, TypeError):
                # An object nested too deeply to serialise: run it, untracked, rather than lose it.
                claims[index] = Claim(None, owner)
        try:
            states = self._claim_keys([key for _, _, key in keyed], owner)
        except Unavailable:
            # The store may have taken the leases and lost only its answer (it crashed
            # in between): give back whatever this owner holds once it answers again,
            # or Huggy's retries would be "in flight" until the leases run out.
            for _, _, key in keyed:
                self._keep(Claim(key, owner), done=False)
            raise
        for (index, event, key), state in zip(keyed, states):
            if state == BUSY:
                raise Unavailable(
                    f"Event {event.name} (#{index}) is being handled by another worker right now.",
                    error="duplicate_in_flight",
                )
            claims[index] = Claim(key, owner) if state == CLAIMED else None
        return claims

    def _claim_keys(self, keys: list[str], owner: str) -> list[str]:
        claim_all = getattr(self.store, "claim_all", None)
        if claim_all is not None:
            states: list[str] = claim_all(keys, owner, self.lease)
            return states
        states = []
        for key in keys:
            states.append(self.store.claim(key, owner, self.lease))
            if states[-1] == BUSY:  # give back what was taken: all or none, as claim_all
                for taken, state in zip(keys, states):
                    if state == CLAIMED:
                        self.store.release(taken, owner)
                break
        return states

    def complete(self, claim: Claim) -> None:
        """Mark the event done; if the store is down, keep the mark and write it when it is back."""
        if claim.key is None:
            return
        try:
            self.store.complete(claim.key, claim.owner, self.ttl)
        except Unavailable:
            self._keep(claim, done=True)
            logger.warning(
                "Could not mark a handled event done (the de-duplication store is down); "
                "the mark is kept and written when the store answers again."
            )

    def release(self, claim: Claim) -> None:
        """Give the lease back (the event failed); if the store is down, give it back when it is back."""
        if claim.key is None:
            return
        try:
            self.store.release(claim.key, claim.owner)
        except Unavailable:
            self._keep(claim, done=False)
            logger.warning(
                "Could not release the lease of a failed event (the de-duplication store is down); "
                "it is released when the store answers again."
            )

    def _keep(self, claim: Claim, *, done: bool) -> None:
        with self._pending_lock:
            self._pending.append((claim, time.monotonic() + self.lease, done))

    def flush(self) -> None:
        """Make the writes the store could not take before; raise Unavailable if it still cannot."""
        if not self._pending:
            return
        with self._pending_lock:
            now = time.monotonic()
            # Past its lease a write would be refused anyway: the key is free, or another's.
            waiting = [write for write in self._pending if write[1] > now]
            while waiting:
                claim, _, done = waiting[0]
                try:
                    if done:
                        self.store.complete(claim.key or "", claim.owner, self.ttl)
                    else:
                        self.store.release(claim.key or "", claim.owner)
                except Unavailable:
                    self._pending = waiting
                    raise
                waiting.pop(0)
            self._pending = []

    @property
    def pending(self) -> int:
        """How many done marks and releases wait for the store."""
        return len(self._pending)


def make_deduplicator(setting: Any, *, ttl: float, lease: float, key: KeyFunction | None) -> Deduplicator:
    """The :class:`Deduplicator` a (true) ``HUGGY_DEDUP`` value asks for."""
    if setting == "memory":
        store: Store = MemoryStore()
    elif isinstance(setting, str) and setting.startswith(("redis://", "rediss://", "unix://")):
        store = RedisStore(setting)
    elif hasattr(setting, "claim") and hasattr(setting, "complete") and hasattr(setting, "release"):
        store = setting  # a Store of the user's own
        if not remembers_calls(store):
            logger.warning(
                "The de-duplication store %s has no get/set: the Huggy API calls receivers make are not "
                "remembered, so a receiver run again for an event makes them again.",
                type(store).__name__,
            )
    else:
        raise ConfigError(f"HUGGY_DEDUP must be False, 'memory', a redis:// URL or a Store, not {setting!r}")
    return Deduplicator(store, ttl=ttl, lease=lease, key=key or event_key)
