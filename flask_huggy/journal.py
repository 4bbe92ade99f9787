"""The delivery journal: every delivery on disk before its receivers run, so that none is lost.

Huggy retries a delivery that failed, but not forever. With ``HUGGY_JOURNAL`` set
to a directory, the webhook appends a ``received`` record (the delivery, its token
masked) before any receiver runs, and an ``outcome`` record (how each event went)
once they are done. ``flask huggy replay --failed`` reads both back and re-runs
exactly the events that never succeeded, whenever that is. In Celery mode the
journal also says what became of a queued delivery besides its outcomes: given
up on (``dead_letter``), refused with a 503 (``not_queued``), or queued again by
the recovery (``recovered``, see :mod:`flask_huggy.recovery`).

Records are JSON lines. Each process writes its own file,
``huggy-<host>-<pid>.jsonl``, so several workers never share a file and need no
lock between them; the file is rotated by size. Readers merge every file of the
directory, rotated ones included.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .auth import mask_token
from .dispatch import EventOutcome, Outcome
from .errors import Unavailable

if TYPE_CHECKING:
    from .config import Settings
    from .events import Delivery

logger = logging.getLogger("flask_huggy")

PathLike = str | os.PathLike[str]

#: The ``kind`` of the record written before the receivers run.
RECEIVED = "received"
#: The ``kind`` of the record written after they ran (or raised).
OUTCOME = "outcome"
#: The ``kind`` of the record of a delivery given up on (Celery: retries used up, or a message that
#: cannot be decoded): it waits for a person's ``replay --failed``, never for the recovery.
DEAD_LETTER = "dead_letter"
#: The ``kind`` of the record of a delivery the webhook could not queue (it answered 503): Huggy retries it.
NOT_QUEUED = "not_queued"
#: The ``kind`` of the record of a stranded delivery queued again by the recovery (:mod:`flask_huggy.recovery`).
RECOVERED = "recovered"
#: Kinds that say something of a delivery but no event's outcome.
_NOTES = frozenset({DEAD_LETTER, NOT_QUEUED, RECOVERED})
#: Every kind of record the journal writes.
KINDS = frozenset({RECEIVED, OUTCOME, *_NOTES})
#: Event statuses that mean "handled": never re-run by a replay.
DONE_STATUSES = frozenset(outcome.value for outcome in Outcome if outcome.done)

#: Longer error texts are cut: a receiver's exception must not bloat the journal.
MAX_ERROR_LENGTH = 2000


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"


class Journal:
    """Appends journal records to this process's file in ``directory``.

    Thread-safe. Each line goes to the file in one ``write`` as soon as it is
    built (no buffer to lose in a crash); ``fsync`` is left to the OS, so a power
    cut may lose the last records, a crash of the process does not. When the file
    would grow past ``max_bytes`` it is renamed with a UTC timestamp
    (``huggy-web1-4242.20240501T120000.000000Z.jsonl``) and a new one is started;
    only the newest ``backups`` renamed files of the process are kept.

    After a fork (gunicorn loads the app, then forks its workers) the child
    writes to a file named with its own pid.
    """

    def __init__(self, directory: PathLike, *, max_bytes: int = 10 * 1024 * 1024, backups: int = 10) -> None:
        self._fd: int | None = None
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._identity: tuple[int, int] = (0, 0)
        #: A write failed part-way: the file may end in half a line.
        self._broken_line = False
        _all_journals.add(self)

    @property
    def path(self) -> Path:
        """The file this process appends to (it may not exist yet)."""
        return self.directory / f"huggy-{_host()}-{os.getpid()}.jsonl"

    def received(self, delivery: Delivery, *, endpoint: str = "HUGGY_", queued: bool = False) -> str:
        """Record a delivery before its receivers run; return the record's id.

        ``queued``: the webhook hands it to Celery's workers and answers 200 once
        it is queued (the recovery watches such records).

        The delivery is kept as Huggy sent it, except its top-level token, masked
        (``****d354``): the journal may be read by more people than the app's
        config. Raises :class:`~flask_huggy.Unavailable` (``"journal_unavailable"``) if it cannot be
        written, so that the caller refuses the delivery (503, Huggy retries)
        rather than run receivers for a delivery that is on no disk.
        """
        record_id = uuid.uuid4().hex
        raw = dict(delivery.raw)
        if "token" in raw:
            raw["token"] = mask_token(raw["token"])
        record: dict[str, Any] = {
            "id": record_id,
            "kind": RECEIVED,
            "received_at": _now(),
            "endpoint": endpoint,
            "events": [event.name for event in delivery.events],
            "delivery": raw,
        }
        if queued:
            record["queued"] = True
        self.write(record)
        return record_id

    def note(
        self, record_id: str, kind: str, *, error: BaseException | str | None = None, events: Sequence[int] = ()
    ) -> None:
        """Record what became of delivery ``record_id`` besides its events' outcomes.

        ``kind`` is :data:`DEAD_LETTER`, :data:`NOT_QUEUED` or :data:`RECOVERED`;
        ``events``: the positions concerned (those queued again, for :data:`RECOVERED`).
        """
        assert kind in _NOTES
        if isinstance(error, BaseException):
            error = f"{type(error).__name__}: {error}"
        record: dict[str, Any] = {"id": record_id, "kind": kind, "at": _now(), "events": list(events)}
        if error is not None:
            record["error"] = _clean(error, None)
        self.write(record)

    def outcome(
        self,
        record_id: str,
        outcomes: Sequence[EventOutcome],
        error: BaseException | str | None = None,
        *,
        token: str | None = None,
        replay: bool = False,
    ) -> None:
        """Record how the events of delivery ``record_id`` went.

        ``outcomes`` are those :func:`~flask_huggy.dispatch` reported; an event
        that has none was not reached (an earlier receiver raised) and counts as
        not done. ``error`` is what stopped the dispatch, if anything. ``token``
        is masked wherever it appears in error texts.
        """
        if isinstance(error, BaseException):
            error = f"{type(error).__name__}: {error}"
        record: dict[str, Any] = {
            "id": record_id,
            "kind": OUTCOME,
            "at": _now(),
            "events": [
                {"index": o.index, "name": o.name, "status": o.status, "error": _clean(o.error, token)}
                for o in outcomes
            ],
            "error": _clean(error, token),
        }
        if replay:
            record["replay"] = True
        self.write(record)

    def write(self, record: Mapping[str, Any]) -> None:
        """Append one record as one JSON line; raise :class:`~flask_huggy.Unavailable` if the disk refuses it."""
        data = _encode(record)
        pid = os.getpid()
        with self._lock:
            try:
                if self._fd is None or self._pid != pid or not self._file_is_there():
                    self._open(pid)
                if self._size and self._size + len(data) > self.max_bytes:
                    self._rotate(pid)
                if self._broken_line:
                    data = b"\n" + data  # end the half line, so that readers lose only it
                self._write_all(data)
                self._broken_line = False
            except OSError as exc:
                self._broken_line = True
                self._close()  # open again on the next record: the directory may be back
                logger.error("The delivery journal cannot be written (%s): %s", self.directory, exc)
                raise Unavailable(
                    "The delivery journal cannot be written; Huggy will retry the delivery.",
                    error="journal_unavailable",
                ) from exc

    def close(self) -> None:
        """Close the file; the next record opens it again."""
        with self._lock:
            self._close()

    def _open(self, pid: int) -> None:
        self._close()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / f"huggy-{_host()}-{pid}.jsonl"
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        # Deliveries hold customers' messages: readable by the app's user only.
        fd = os.open(path, flags, 0o600)
        self._fd, self._pid, self._path = fd, pid, path
        stat = os.fstat(fd)
        self._size, self._identity = stat.st_size, (stat.st_dev, stat.st_ino)

    def _file_is_there(self) -> bool:
        # As logging's WatchedFileHandler does: a file deleted or moved away (an
        # rm -rf of the journal, a logrotate) is opened again, else every later
        # record would go to a file nobody can read.
        assert self._path is not None
        try:
            stat = os.stat(self._path)
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino) == self._identity

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _write_all(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._size += len(data)

    def _rotate(self, pid: int) -> None:
        assert self._path is not None
        current = self._path
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        target = current.with_name(f"{current.stem}.{stamp}.jsonl")
        clash = 0
        while target.exists():  # two rotations within a microsecond: never overwrite one
            clash += 1
            target = current.with_name(f"{current.stem}.{stamp}-{clash}.jsonl")
        self._close()
        try:
            os.rename(current, target)
        except OSError as exc:
            # Keep writing to the full file: a journal too big beats a delivery lost.
            logger.warning("The delivery journal %s could not be rotated: %s", current, exc)
        self._open(pid)
        self._prune(current)

    def _prune(self, current: Path) -> None:
        pattern = re.compile(re.escape(current.stem) + r"\.(\d{8}T\d{6}\.\d{6}Z)(?:-(\d+))?\.jsonl")
        try:
            rotated = [(m[1], int(m[2] or 0), p) for p in current.parent.iterdir() if (m := pattern.fullmatch(p.name))]
        except OSError as exc:
            logger.warning("The delivery journal's old files could not be listed: %s", exc)
            return
        rotated.sort()
        for _, _, old in rotated[: max(0, len(rotated) - self.backups)]:
            try:
                old.unlink()
            except OSError as exc:
                logger.warning("The delivery journal's old file %s could not be removed: %s", old, exc)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit, os may be gone already
            self._close()

    def _forget_parent_file(self) -> None:
        # In a forked child: the parent's lock may be held by a thread that does
        # not exist here, and the parent's file is the parent's.
        self._lock = threading.Lock()
        self._close()
        self._pid = None


_all_journals: weakref.WeakSet[Journal] = weakref.WeakSet()
# Journals are per process (one file per pid), so a process-wide registry: two
# Journal objects on one file would rotate and prune it under each other.
_journals_by_directory: weakref.WeakValueDictionary[str, Journal] = weakref.WeakValueDictionary()
_registry_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    for journal in list(_all_journals):
        journal._forget_parent_file()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _encode(record: Mapping[str, Any]) -> bytes:
    # allow_nan=False: json would write inf as Infinity, which is not JSON, and a
    # replay would then refuse the line. The webhook refuses such numbers; a
    # record that holds one anyway (a caller's own delivery) is refused here, loudly.
    try:
        try:
            text = json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            return (text + "\n").encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, from a "\ud800" escape in the body
            return (json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n").encode("ascii")
    except (TypeError, ValueError, RecursionError) as exc:
        logger.error("A delivery journal record cannot be written as JSON: %s", exc)
        raise Unavailable("The delivery cannot be written to the journal.", error="journal_unavailable") from exc


def _clean(text: str | None, token: str | None) -> str | None:
    if text is None:
        return None
    if token and token in text:
        text = text.replace(token, mask_token(token))
    if len(text) > MAX_ERROR_LENGTH:
        text = text[:MAX_ERROR_LENGTH] + "..."
    return text


def shared_journal(settings: Settings) -> Journal:
    """The process's :class:`Journal` for ``settings.journal``: one per directory, so one file per process.

    Endpoints and apps of one process that name the same directory share it,
    with the size limits of the first.
    """
    assert settings.journal is not None
    key = os.path.realpath(settings.journal)
    with _registry_lock:
        journal = _journals_by_directory.get(key)
        if journal is None:
            journal = _journals_by_directory[key] = Journal(
                settings.journal, max_bytes=settings.journal_max_bytes, backups=settings.journal_backups
            )
    return journal


# --- Reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournaledDelivery:
    """A journaled delivery that is not done: what a replay must run again."""

    #: The id of its ``received`` record (a replay writes its outcome under it).
    id: str
    #: The config prefix of the endpoint that received it (``"HUGGY_"``).
    endpoint: str
    received_at: str
    #: The delivery as Huggy sent it, its token masked.
    delivery_raw: dict[str, Any] = field(repr=False)
    #: Event names, in payload order.
    event_names: tuple[str, ...]
    #: Positions of the events never handled: failed, or never reached. Empty when
    #: every event was handled but ``delivery_received`` never completed.
    indexes_to_rerun: tuple[int, ...]
    #: ``file:line`` of its ``received`` record.
    where: str


#: ``(where, problem)``: told about each line that is not a journal record.
ProblemHandler = Callable[[str, str], None]


@dataclass
class _Tracked:
    """Every attempt at one delivery: Huggy's retries and replays share its content."""

    #: The first ``received`` record found in the files being replayed; dropped once done.
    record: dict[str, Any] | None = None
    where: str = ""
    done: set[int] = field(default_factory=set)
    #: Some attempt returned without error: every event and delivery_received ran.
    finished: bool = False


def failed_deliveries(
    *paths: PathLike,
    history: Iterable[PathLike] = (),
    on_problem: ProblemHandler | None = None,
) -> list[JournaledDelivery]:
    """The deliveries in journal files or directories ``paths`` that are not done, oldest file first.

    Records are matched by the delivery they hold, not only by id: Huggy sends
    no delivery id and its retry of a failed delivery is a new request, so an
    event counts as done if any attempt at the same delivery (same endpoint,
    same content but the token) recorded it ``ok`` or ``duplicate``. Files in
    ``history`` count as past attempts (outcomes written by a replay elsewhere)
    but their own deliveries are not returned. Lines of ``paths`` that are no
    journal record (a half line left by a full disk) go to ``on_problem``
    (default: a warning logged) and are skipped.
    """
    report = on_problem or _log_problem
    tracked: dict[tuple[str, str], _Tracked] = {}
    keys: dict[str, tuple[str, str]] = {}
    orphans: dict[str, list[dict[str, Any]]] = {}
    seen: set[Path] = set()
    sources = [(file, True) for path in paths for file in journal_files(path)]
    sources += [(file, False) for path in history if Path(path).exists() for file in journal_files(path)]
    for file, replayable in sources:
        real = file.resolve()
        if real in seen:
            continue
        seen.add(real)
        # A bad line among past attempts costs at most a re-run: not worth a report.
        for where, record in _records(file, report if replayable else _ignore_problem):
            if record["kind"] == RECEIVED:
                key = (record["endpoint"], fingerprint(record["delivery"]))
                keys[record["id"]] = key
                delivery = tracked.setdefault(key, _Tracked())
                if replayable and delivery.record is None and not delivery.finished:
                    delivery.record, delivery.where = record, where
                for outcome in orphans.pop(record["id"], ()):
                    _apply(delivery, outcome)
            elif record["id"] in keys:
                _apply(tracked[keys[record["id"]]], record)
            else:  # its received record is in a file not read yet
                orphans.setdefault(record["id"], []).append(record)
    pending = []
    for delivery in tracked.values():
        first = delivery.record
        if first is None or delivery.finished:
            continue
        names = tuple(first["events"])
        pending.append(
            JournaledDelivery(
                id=first["id"],
                endpoint=first["endpoint"],
                received_at=str(first.get("received_at", "")),
                delivery_raw=first["delivery"],
                event_names=names,
                indexes_to_rerun=tuple(i for i in range(len(names)) if i not in delivery.done),
                where=delivery.where,
            )
        )
    return pending


def journal_files(path: PathLike) -> list[Path]:
    """``path`` if it is a file, else its ``*.jsonl`` files, oldest first (rotated before current)."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    files = [p for p in path.glob("*.jsonl") if p.is_file()]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def _apply(delivery: _Tracked, outcome: dict[str, Any]) -> None:
    if outcome["kind"] != OUTCOME:
        return  # a dead letter or a recovery changes nothing for a person's replay: not done is not done
    delivery.done.update(e["index"] for e in outcome["events"] if e["status"] in DONE_STATUSES)
    if outcome.get("error") is None:
        delivery.finished = True
        delivery.record = None  # done: no need to keep it in memory


def fingerprint(delivery: Mapping[str, Any]) -> str:
    """What tells attempts at one delivery apart from other deliveries: its content but the token."""
    # Key order is kept: it is the event order, so it is part of the delivery.
    content = {key: value for key, value in delivery.items() if key != "token"}
    return hashlib.sha256(json.dumps(content, separators=(",", ":")).encode("ascii")).hexdigest()


def _records(file: Path, report: ProblemHandler) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        stream = file.open("rb")
    except OSError as exc:
        report(str(file), f"cannot be read ({exc})")
        return
    with stream:
        for number, line in enumerate(stream, 1):
            record = parse_line(line, f"{file}:{number}", report)
            if record is not None:
                yield f"{file}:{number}", record


def parse_line(line: bytes, where: str, report: ProblemHandler) -> dict[str, Any] | None:
    """The journal record of one line, or ``None`` (blank, or a problem told to ``report``)."""
    if not line.strip():
        return None
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        report(where, "not a JSON line")
        return None
    problem = _problem(record)
    if problem:
        report(where, problem)
        return None
    return record  # type: ignore[no-any-return]


def _problem(record: Any) -> str | None:
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        return "not a journal record"
    kind = record.get("kind")
    if kind == RECEIVED:
        events = record.get("events")
        if not isinstance(record.get("delivery"), dict) or not isinstance(record.get("endpoint"), str):
            return "a received record without its delivery or endpoint"
        if not isinstance(events, list) or not all(isinstance(name, str) for name in events):
            return "a received record without its event names"
        return None
    if kind == OUTCOME:
        events = record.get("events")
        if not isinstance(events, list) or not all(
            isinstance(e, dict) and isinstance(e.get("index"), int) and isinstance(e.get("status"), str) for e in events
        ):
            return "an outcome record without its events"
        if record.get("error") is not None and not isinstance(record["error"], str):
            return "an outcome record with an error that is not text"
        return None
    if kind in _NOTES:
        events = record.get("events", [])
        if not isinstance(events, list) or not all(isinstance(i, int) for i in events):
            return f"a {kind} record without its event positions"
        return None
    return f"a record of unknown kind {kind!r}"


def _ignore_problem(where: str, problem: str) -> None:
    pass


def _log_problem(where: str, problem: str) -> None:
    logger.warning("Skipped %s in the delivery journal: %s", where, problem)


__all__ = [
    "DEAD_LETTER",
    "DONE_STATUSES",
    "KINDS",
    "NOT_QUEUED",
    "RECOVERED",
    "Journal",
    "JournaledDelivery",
    "failed_deliveries",
    "fingerprint",
    "journal_files",
    "parse_line",
    "shared_journal",
]
