"""Recovery: a queued delivery that went quiet before its events were done is queued again, by itself.

In Celery mode the webhook journals a delivery (a ``received`` record marked
``queued``), queues it and answers 200: from then on only the broker holds it.
A broker that crashes as a worker takes the task, or a retry the worker cannot
publish, strands it, and nothing would run it again but a person's ``flask huggy
replay --failed``. Its journal record then gets no news. :class:`Recovery` reads
the endpoint's journal as it grows and queues again, with its record id and
only the events not done, every delivery that has had no news for
``HUGGY_RECOVER_AFTER`` seconds. It logs a WARNING and sends
:data:`~flask_huggy.signals.delivery_recovered`.

A task waiting in a long queue is silent too. A queue hands out tasks in order, so
a silent delivery is queued again only when a delivery queued after its last news
has run, or when it is first in line (no delivery queued before it is waiting).

What it leaves alone:

- a dead letter (retries used up, a message that could not be decoded): it
  waits for a person;
- a delivery the webhook answered 503: Huggy retries it;
- anything journaled by the synchronous mode: there, the request ran the
  receivers and Huggy retries whatever got no 200, so nothing was acknowledged
  and not done.

Where it runs: a daemon thread per process, started in a Celery worker's main
process when the worker is ready and in a web process at its first enqueue. It
notes its pid, so a forked child starts its own. Several processes read the same
journal. For each stranded delivery they race for a claim in the
de-duplication store, and only the winner queues it again. So recovery needs a
store that every process shares (``HUGGY_DEDUP`` set to Redis). It is off
with the in-memory store or without one, and without a journal.

What a pass costs: every ``HUGGY_RECOVER_AFTER / 4`` seconds (at least 0.5 s,
at most 60 s), it reads only the bytes appended since the last pass (an offset
per file). It skips files not written to for ``HUGGY_DEDUP_TTL``, and forgets
finished deliveries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .auth import restore_token
from .dedup import CLAIMED, MemoryStore
from .dispatch import send_alert
from .envelope import parse_delivery
from .errors import DeliveryRejected, Unavailable
from .journal import (
    DEAD_LETTER,
    DONE_STATUSES,
    NOT_QUEUED,
    OUTCOME,
    RECEIVED,
    RECOVERED,
    fingerprint,
    journal_files,
    parse_line,
)
from .safelog import printable
from .signals import delivery_recovered

if TYPE_CHECKING:
    from .endpoint import Endpoint

logger = logging.getLogger("flask_huggy")

#: ``(delivery as journaled, positions to run, record id)``: queue a delivery again; raises
#: :class:`~flask_huggy.Unavailable` if the broker does not take it.
Requeue = Callable[[dict[str, Any], list[int], str], object]

#: Times one delivery is queued again; then it is left to a person (an ERROR line says so). More
#: means the journal never sees it done: its outcomes go to a directory this process does not read.
MAX_RECOVERIES = 3
#: Passes after which an outcome whose ``received`` record was never read is dropped: that
#: record is in a file too old to read, or its delivery was finished and forgotten.
_ORPHAN_PASSES = 5
#: Bytes of a file's start kept to notice that a file under a known inode is another one.
_HEAD = 64


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Watched:
    """What the journal said so far of one delivery (every attempt with the same content)."""

    ids: list[str] = field(default_factory=list)
    done: set[int] = field(default_factory=set)
    dead: bool = False
    #: Queued attempts the webhook did not refuse: record id -> its ``received`` record.
    queued: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The time of the newest record (ISO 8601, UTC: ordered as text).
    last_at: str = ""
    #: When the newest ``received`` record of it was written.
    received_at: str = ""
    #: A worker has run it (an ``outcome`` record).
    run: bool = False
    recoveries: int = 0
    #: Queued again :data:`MAX_RECOVERIES` times and still quiet: left to a person.
    given_up: bool = False


@dataclass(frozen=True)
class Stranded:
    """A queued delivery with events not done and no news for the grace period."""

    record_id: str
    #: The delivery as journaled (its token masked).
    delivery_raw: dict[str, Any] = field(repr=False)
    #: Positions of the events not done (empty: only ``delivery_received`` is).
    indexes: tuple[int, ...]
    #: How many times it was queued again already.
    recoveries: int
    quiet_since: datetime


class JournalWatch:
    """What a journal directory says of one endpoint's queued deliveries, read as the files grow.

    ``horizon`` (seconds): files last written to before it are not read, and
    deliveries with no news within it are forgotten.
    """

    def __init__(self, directory: str | os.PathLike[str], endpoint: str, *, horizon: float) -> None:
        self.directory = Path(directory)
        self.endpoint = endpoint
        self.horizon = horizon
        self._offsets: dict[tuple[int, int], tuple[int, bytes]] = {}
        self._watched: dict[str, _Watched] = {}
        self._keys: dict[str, str] = {}
        self._orphans: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._passes = 0
        #: When the newest delivery that a worker has run was received.
        self._newest_run = ""

    def read(self, now: datetime) -> None:
        """Read what the files gained since the last call."""
        self._passes += 1
        cutoff = now.timestamp() - self.horizon
        seen = set()
        files = journal_files(self.directory) if self.directory.is_dir() else []
        for file in files:
            try:
                stat = file.stat()
            except OSError:  # rotated away or pruned meanwhile
                continue
            identity = (stat.st_dev, stat.st_ino)
            seen.add(identity)
            if stat.st_mtime >= cutoff:  # an older file holds nothing the recovery may run again
                self._read_file(file, identity, stat.st_size)
        self._offsets = {identity: kept for identity, kept in self._offsets.items() if identity in seen}
        self._orphans = {
            record_id: kept for record_id, kept in self._orphans.items() if kept[0][0] > self._passes - _ORPHAN_PASSES
        }
        oldest = datetime.fromtimestamp(cutoff, timezone.utc).isoformat(timespec="microseconds")
        for key in [key for key, watched in self._watched.items() if watched.last_at < oldest]:
            self._forget(key)

    def stranded(self, now: datetime, quiet: float) -> list[Stranded]:
        """The deliveries to queue again: queued, not done, not dead, with no news for ``quiet`` seconds."""
        found = []
        # A queue hands out tasks in order: a delivery nobody ran is either lost or waiting behind
        # the oldest one nobody ran yet; once a delivery queued after it has run, it is not waiting.
        waiting = [w.received_at for w in self._watched.values() if w.queued and not (w.dead or w.run or w.given_up)]
        first_in_line = min(waiting, default=None)
        for watched in self._watched.values():
            if watched.dead or not watched.queued or not watched.last_at:
                continue
            since = datetime.fromisoformat(watched.last_at)
            if (now - since).total_seconds() < quiet:
                continue
            behind = first_in_line is not None and watched.received_at > first_in_line
            if behind and self._newest_run <= watched.last_at:
                continue  # it may be waiting in a backlog: nothing queued after its last news ran
            record_id, record = next(reversed(watched.queued.items()))
            if watched.recoveries >= MAX_RECOVERIES:
                if not watched.given_up:
                    watched.given_up = True
                    logger.error(
                        "A Huggy delivery (journal record %s) is still not done after it was queued again %d "
                        "times: it is left to flask huggy replay --failed. Do the workers write their outcomes "
                        "to a journal directory this process reads?",
                        record_id,
                        watched.recoveries,
                    )
                continue
            positions = range(len(record["events"]))
            indexes = tuple(i for i in positions if i not in watched.done)
            found.append(Stranded(record_id, record["delivery"], indexes, watched.recoveries, since))
        return found

    def _read_file(self, file: Path, identity: tuple[int, int], size: int) -> None:
        offset, head = self._offsets.get(identity, (0, b""))
        if offset == size:
            return
        try:
            with file.open("rb") as stream:
                if offset > size or (head and stream.read(len(head)) != head):
                    offset, head = 0, b""  # not the file read before under this inode
                stream.seek(offset)
                data = stream.read(size - offset)
        except OSError:
            return
        end = data.rfind(b"\n") + 1  # whole lines only: the last one may still be being written
        if not head:
            head = data[: min(_HEAD, end)]
        for line in data[:end].split(b"\n"):
            record = parse_line(line, str(file), _ignore)
            if record is not None:
                self._add(record)
        self._offsets[identity] = (offset + end, head)

    def _add(self, record: dict[str, Any]) -> None:
        record_id = record["id"]
        if record["kind"] == RECEIVED:
            if record["endpoint"] != self.endpoint:
                return
            key = self._keys[record_id] = fingerprint(record["delivery"])
            watched = self._watched.setdefault(key, _Watched())
            watched.ids.append(record_id)
            received_at = str(record.get("received_at", ""))
            if record.get("queued"):
                watched.queued[record_id] = record
            watched.last_at = max(watched.last_at, received_at)
            watched.received_at = max(watched.received_at, received_at)
            for _, orphan in self._orphans.pop(record_id, ()):
                self._apply(key, orphan)
        elif record_id in self._keys:
            self._apply(self._keys[record_id], record)
        else:  # its received record is in a file not read yet
            self._orphans.setdefault(record_id, []).append((self._passes, record))

    def _apply(self, key: str, record: dict[str, Any]) -> None:
        watched = self._watched.get(key)
        if watched is None:  # finished by an earlier record of the same read
            return
        watched.last_at = max(watched.last_at, str(record.get("at", "")))
        kind = record["kind"]
        if kind == OUTCOME:
            self._newest_run = max(self._newest_run, watched.received_at)
            watched.run = True
            watched.done.update(e["index"] for e in record["events"] if e["status"] in DONE_STATUSES)
            if record.get("error") is None:
                self._forget(key)  # done: nothing more to know
        elif kind == DEAD_LETTER:
            watched.dead = True
        elif kind == NOT_QUEUED:
            watched.queued.pop(record["id"], None)
        elif kind == RECOVERED:
            watched.recoveries += 1

    def _forget(self, key: str) -> None:
        watched = self._watched.pop(key)
        for record_id in watched.ids:
            self._keys.pop(record_id, None)


class Recovery:
    """Queues again, from a daemon thread, the stranded deliveries of one endpoint (see the module's docs).

    Built by the Celery glue when :func:`can_recover` allows it; ``requeue``
    publishes a delivery again. ``clock`` gives the time (UTC) compared to the
    journal's timestamps.
    """

    def __init__(self, endpoint: Endpoint, requeue: Requeue, *, clock: Callable[[], datetime] = _utcnow) -> None:
        settings = endpoint.settings
        assert settings.recover_after and endpoint.journal is not None and endpoint.dedup is not None
        self.endpoint = endpoint
        self.requeue = requeue
        self.clock = clock
        #: Seconds without news after which a delivery not done is queued again.
        self.after = settings.recover_after
        #: Seconds between two passes.
        self.interval = min(60.0, max(0.5, self.after / 4))
        self.watch = JournalWatch(endpoint.journal.directory, endpoint.config_prefix, horizon=settings.dedup_ttl)
        self._pid: int | None = None
        self._stopped = threading.Event()

    def ensure_running(self) -> None:
        """Start this process's thread, unless it runs already (cheap: a pid compared)."""
        if self._pid == os.getpid():
            return
        with _start_lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stopped = threading.Event()
            name = f"huggy-recovery-{self.endpoint.name}"
            threading.Thread(target=self._loop, args=(self._stopped,), name=name, daemon=True).start()

    def stop(self) -> None:
        """Stop this process's thread after its current pass."""
        self._stopped.set()
        self._pid = None

    def _loop(self, stopped: threading.Event) -> None:
        while not stopped.wait(self.interval):
            try:
                self.scan()
            except Exception:  # the thread must live to try again
                logger.exception("The recovery of stranded Huggy deliveries failed; it tries again.")

    def scan(self) -> list[str]:
        """One pass: read the journal's news, queue the stranded deliveries again; return their record ids."""
        now = self.clock()
        self.watch.read(now)
        recovered = []
        with self.endpoint.app.app_context():
            for stranded in self.watch.stranded(now, self.after):
                try:
                    if self._recover(stranded):
                        recovered.append(stranded.record_id)
                except Unavailable as exc:  # the store or the broker is away: the next pass tries again
                    logger.warning("Could not recover stranded Huggy deliveries now: %s", exc.description)
                    break
        return recovered

    def _recover(self, stranded: Stranded) -> bool:
        endpoint, settings = self.endpoint, self.endpoint.settings
        assert endpoint.dedup is not None and endpoint.journal is not None
        store = endpoint.dedup.store
        # One claim per recovery of a record: every process that sees it stranded races for the
        # same key, and the winner's "recovered" record tells them all it was queued again.
        key, owner = f"recover:{stranded.record_id}:{stranded.recoveries}", uuid.uuid4().hex
        if store.claim(key, owner, self.after) != CLAIMED:
            return False
        try:
            payload = restore_token(stranded.delivery_raw, settings.tokens)
            delivery = parse_delivery(payload, settings.timezone, endpoint_name=endpoint.name)
        except DeliveryRejected as exc:  # not written by this version's webhook: for a person to look at
            logger.error("A stranded Huggy delivery (journal record %s) cannot be read: %s", stranded.record_id, exc)
            return False
        try:
            self.requeue(stranded.delivery_raw, list(stranded.indexes), stranded.record_id)
        except Unavailable:
            with contextlib.suppress(Unavailable):
                store.release(key, owner)
            raise
        with contextlib.suppress(Unavailable):  # logged by the journal; at worst it is queued once more
            endpoint.journal.note(stranded.record_id, RECOVERED, events=stranded.indexes)
        events = [delivery.events[i] for i in stranded.indexes]
        logger.warning(
            "Recovered a stranded Huggy delivery (journal record %s): no news for %.0f s with %s not done; "
            "queued again.",
            stranded.record_id,
            (self.clock() - stranded.quiet_since).total_seconds(),
            _describe(events, stranded.indexes),
        )
        send_alert(delivery_recovered, endpoint.app, delivery=delivery, events=events, record_id=stranded.record_id)
        return True


def can_recover(endpoint: Endpoint) -> bool:
    """Whether the endpoint's settings allow recovery: ``RECOVER_AFTER``, a journal and a shared store.

    Logs, once, why not when only the store is missing.
    """
    settings = endpoint.settings
    if not settings.recover_after or endpoint.journal is None:
        return False
    if endpoint.dedup is None or isinstance(endpoint.dedup.store, MemoryStore):
        logger.info(
            "%sRECOVER_AFTER is set, but stranded deliveries are not recovered: that needs %sDEDUP set to a "
            "Redis URL, a store all processes share.",
            endpoint.config_prefix,
            endpoint.config_prefix,
        )
        return False
    return True


def _describe(events: Sequence[Any], indexes: Sequence[int]) -> str:
    if not indexes:
        return "delivery_received"
    return ", ".join(f"#{i} {printable(event.name, 80)}" for i, event in zip(indexes, events))


def _ignore(where: str, problem: str) -> None:
    pass  # a half line: replay --failed reports it to a person


_start_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _start_lock
    _start_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


__all__ = ["JournalWatch", "Recovery", "Stranded", "can_recover"]
