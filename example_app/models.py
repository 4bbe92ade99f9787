"""What the inbox keeps: deliveries, their events, a view of each chat, and handshakes.

Tables are prefixed ``inbox_`` so that the app can share a Postgres database with
others. Huggy's ids are stored as text: flask-huggy accepts ids of up to 30
digits, more than a 64-bit integer column holds, and the inbox never does
arithmetic on them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    DateTime,
    Engine,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    registry,
    relationship,
)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC ``datetime`` on every database.

    SQLite forgets time zones; storing naive UTC and putting the zone back on
    the way out keeps SQLite and Postgres alike.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("Store aware datetimes: a naive one is ambiguous.")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        result: datetime = value
        return result.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    registry = registry(type_annotation_map={datetime: UTCDateTime})


db = SQLAlchemy(model_class=Base)

HUGGY_ID = String(40)


class DeliveryRecord(db.Model):  # type: ignore[name-defined, misc]
    """One POST from Huggy, stored once: a retry of the same delivery is recognised by its fingerprint."""

    __tablename__ = "inbox_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 of the delivery's ``time`` and ``messages`` (never its token).
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    #: The delivery's own ``time``: when Huggy sent it.
    sent_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    event_count: Mapped[int]

    events: Mapped[list[EventRecord]] = relationship(back_populates="delivery", order_by="EventRecord.position")


class EventRecord(db.Model):  # type: ignore[name-defined, misc]
    """One event of a delivery: what the pages show, plus the raw JSON as Huggy sent it."""

    __tablename__ = "inbox_events"
    __table_args__ = (Index("ix_inbox_events_chat", "chat_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("inbox_deliveries.id"))
    #: Its place in the delivery (the order signals fired in).
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(64), index=True)
    #: ``"message"``, ``"note"`` (internal), ``"system"`` (a chat changed) or ``"other"`` (not about a chat).
    kind: Mapped[str] = mapped_column(String(16))
    #: One line saying what happened, for the events log and the timeline.
    summary: Mapped[str] = mapped_column(String(500))
    chat_id: Mapped[str | None] = mapped_column(HUGGY_ID)
    message_id: Mapped[str | None] = mapped_column(HUGGY_ID)
    contact_id: Mapped[str | None] = mapped_column(HUGGY_ID)
    contact_name: Mapped[str | None] = mapped_column(String(255))
    sender_type: Mapped[str | None] = mapped_column(String(64))
    sender_name: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[str | None] = mapped_column(Text)
    #: Huggy's time for the event (``send_at``, ``closed_at``), else the delivery's.
    happened_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(index=True)
    valid: Mapped[bool]
    #: marshmallow's messages, as JSON, when the event failed validation.
    errors: Mapped[str | None] = mapped_column(Text)
    #: The event object exactly as Huggy sent it, as JSON.
    raw: Mapped[str] = mapped_column(Text)

    delivery: Mapped[DeliveryRecord] = relationship(back_populates="events")

    @property
    def huggy_time(self) -> datetime:
        """Where the event sits in Huggy's own timeline: its time, to the second.

        Huggy writes its timestamps to the second; the delivery's ``time`` (the
        fallback of events that carry none) may be finer. Cutting both to the
        second lets arrival order decide between events of the same second, as
        Huggy sends them in order.
        """
        when = self.happened_at or self.received_at
        return when.replace(microsecond=0)

    @property
    def order_key(self) -> tuple[datetime, int]:
        """Sort key of a chat's timeline: Huggy's time, then arrival."""
        return self.huggy_time, self.id


class Chat(db.Model):  # type: ignore[name-defined, misc]
    """A chat as its events so far describe it: kept up to date as events arrive."""

    __tablename__ = "inbox_chats"

    id: Mapped[str] = mapped_column(HUGGY_ID, primary_key=True)
    contact_id: Mapped[str | None] = mapped_column(HUGGY_ID)
    contact_name: Mapped[str | None] = mapped_column(String(255))
    channel: Mapped[str | None] = mapped_column(String(64))
    #: Huggy's situation: ``auto``, ``wait_for_chat``, ``in_chat``, ``finishing``.
    situation: Mapped[str | None] = mapped_column(String(32))
    closed: Mapped[bool] = mapped_column(default=False)
    closed_at: Mapped[datetime | None]
    tabulation: Mapped[str | None] = mapped_column(String(255))
    agent_name: Mapped[str | None] = mapped_column(String(255))
    last_message: Mapped[str | None] = mapped_column(Text)
    last_sender_type: Mapped[str | None] = mapped_column(String(64))
    last_message_at: Mapped[datetime | None]
    #: Huggy's time of the newest event in Huggy's order (the chat's "last activity"):
    #: the chat's state is what that event says, whatever arrived after it.
    latest_at: Mapped[datetime | None]
    #: Huggy's time of the event that last opened or closed the chat.
    status_at: Mapped[datetime | None]
    first_received_at: Mapped[datetime]
    last_received_at: Mapped[datetime] = mapped_column(index=True)
    #: The id of the last :class:`EventRecord` to arrive about this chat (pages highlight what is new).
    last_event_id: Mapped[int | None]
    event_count: Mapped[int] = mapped_column(default=0)

    @property
    def status(self) -> str:
        return "closed" if self.closed else "open"


class Handshake(db.Model):  # type: ignore[name-defined, misc]
    """A handshake flask-huggy accepted (``token_validated``): it answered Huggy with the token."""

    __tablename__ = "inbox_handshakes"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: When the handshake was answered (the column keeps its first name, so older databases still open).
    answered_at: Mapped[datetime] = mapped_column("confirmed_at")
    #: The token's last four characters, as flask-huggy logs it (``****d354``).
    token_hint: Mapped[str] = mapped_column(String(16))
    #: How the confirmation request to Huggy went: ``True`` accepted, ``False`` failed,
    #: ``None`` switched off (``HUGGY_CONFIRM_URL`` empty).
    confirmed: Mapped[bool | None]
    #: Why the confirmation request failed, as flask-huggy reported it.
    confirm_error: Mapped[str | None] = mapped_column(String(500))

    @property
    def confirmation(self) -> str:
        """``"accepted"``, ``"failed"`` or ``"switched off"``: what the status page says."""
        if self.confirmed is None:
            return "switched off"
        return "accepted" if self.confirmed else "failed"


#: How long a connection waits for SQLite's write lock before giving up (``database is locked``).
#: Longer than the slowest write: a delivery of the most events flask-huggy takes (1,000) is stored in
#: about 5 s on a slow machine, exactly the driver's own default wait; and shorter than gunicorn's
#: 30 s worker timeout.
SQLITE_BUSY_TIMEOUT_MS = 20_000


def share_sqlite_safely(engine: Engine) -> None:
    """Make every SQLite connection of ``engine`` share the file: WAL and a busy timeout.

    In SQLite's default journal mode a writer that commits (or spills a big
    delivery to disk) locks readers out, and every other request waits for it;
    past the driver's 5 s they fail with ``database is locked``. In WAL mode
    readers (the pages, the check for a stored delivery) never wait for a
    writer, and writers wait their turn for :data:`SQLITE_BUSY_TIMEOUT_MS`.
    Other databases are left alone.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")  # kept in the file; an in-memory database says "memory"
        finally:
            cursor.close()


def add_missing_columns() -> list[str]:
    """Add the columns this version's models have and an older inbox database lacks.

    An example keeps no migrations, but a user who ran an older inbox keeps its
    SQLite file: new columns are all nullable, so adding them is enough. Returns
    ``table.column`` for each column added.
    """
    inspector = inspect(db.engine)
    added: list[str] = []
    with db.engine.begin() as connection:
        for table in db.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present or not column.nullable:
                    continue
                kind = column.type.compile(dialect=connection.dialect)
                connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
                added.append(f"{table.name}.{column.name}")
    return added


__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "Chat",
    "DeliveryRecord",
    "EventRecord",
    "Handshake",
    "UTCDateTime",
    "add_missing_columns",
    "db",
    "share_sqlite_safely",
]
