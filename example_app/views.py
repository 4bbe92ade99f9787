"""The inbox's pages: chats, one chat's timeline, the events log, the status page.

Server-rendered Jinja with one stylesheet and one small script (``live.js``).
Live updates are polling, on purpose: every page carries the id of the newest
event it shows, and the script asks ``/updates?after=<id>`` every
``INBOX_POLL_SECONDS``. When something newer exists it fetches the same page
again and swaps its live part in place. One cheap query per poll, no
long-lived connection to hold a server thread (Server-Sent Events would keep
one busy per open tab under Flask's dev server or a sync gunicorn worker), and
the HTML is rendered by the same templates as on first load.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import func
from werkzeug.wrappers import Response as WerkzeugResponse

from flask_huggy import endpoint_state, mask_token, read_settings
from flask_huggy.testing import webhook_url

from .demo import DemoUnavailable, own_base_url, start_demo
from .models import Chat, DeliveryRecord, EventRecord, Handshake, db
from .state import DemoRun, inbox_state
from .stats import color_of, hourly_chart
from .summary import AGENT

bp = Blueprint("inbox", __name__)

#: Rows per page of the events log.
PAGE_SIZE = 50
#: Human names of Huggy's channels (``senderType`` and ``chat.channel`` values).
CHANNELS = {
    "whatsapp": "WhatsApp",
    "widget": "Huggy Chat",
    "email": "E-mail",
    "telegram_bot": "Telegram",
    "telegram": "Telegram",
    "messenger": "Messenger",
    "facebook": "Messenger",
    "instagram": "Instagram",
    "sms": "SMS",
    "api": "API",
}


# --- pages --------------------------------------------------------------------------------


@bp.get("/")
def chats() -> str:
    status = request.args.get("status", "all")
    query = db.select(Chat).order_by(Chat.last_received_at.desc(), Chat.id).limit(200)
    if status in ("open", "closed"):
        query = query.where(Chat.closed.is_(status == "closed"))
    counts = dict(db.session.execute(db.select(Chat.closed, func.count()).group_by(Chat.closed)).all())
    return render_template(
        "chats.html",
        chats=db.session.scalars(query).all(),
        status=status,
        open_count=counts.get(False, 0),
        closed_count=counts.get(True, 0),
    )


@bp.get("/chats/<chat_id>")
def chat(chat_id: str) -> str:
    found = db.session.get(Chat, chat_id) or abort(404)
    # In the order Huggy sent them (deliveries as they arrived, events in payload
    # order), not by their timestamps: a startedChat carries no time of its own
    # and the docs' sample stamps its first message two seconds before the
    # delivery that starts the chat.
    events = db.session.scalars(
        db.select(EventRecord).where(EventRecord.chat_id == chat_id).order_by(EventRecord.id)
    ).all()
    return render_template("chat.html", chat=found, entries=timeline(events))


@bp.get("/events")
def events() -> str:
    name = request.args.get("name") or None
    chat_id = request.args.get("chat") or None
    before = request.args.get("before", type=int)
    query = db.select(EventRecord).order_by(EventRecord.id.desc()).limit(PAGE_SIZE + 1)
    if name:
        query = query.where(EventRecord.name == name)
    if chat_id:
        query = query.where(EventRecord.chat_id == chat_id)
    if before:
        query = query.where(EventRecord.id < before)
    rows = list(db.session.scalars(query))
    older = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    names = db.session.execute(
        db.select(EventRecord.name, func.count()).group_by(EventRecord.name).order_by(EventRecord.name)
    ).all()
    return render_template(
        "events.html", events=rows[:PAGE_SIZE], names=names, name=name, chat_id=chat_id, before=before, older=older
    )


@bp.get("/status")
def status() -> str:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    settings = read_settings(app.config)
    per_type = db.session.execute(
        db.select(EventRecord.name, func.count(), func.max(EventRecord.received_at))
        .group_by(EventRecord.name)
        .order_by(func.count().desc(), EventRecord.name)
    ).all()
    now = datetime.now(timezone.utc)
    recent = [
        (name, received_at)
        for name, received_at in db.session.execute(
            db.select(EventRecord.name, EventRecord.received_at).where(EventRecord.received_at >= now - timedelta(hours=25))
        )
    ]
    return render_template(
        "status.html",
        tokens=[mask_token(token) for token in settings.tokens],
        settings=settings,
        handshake=db.session.scalar(db.select(Handshake).order_by(Handshake.id.desc()).limit(1)),
        handshake_error=endpoint_state(app).last_handshake_error,
        per_type=[(name, count, _utc(last), color_of(name)) for name, count, last in per_type],
        deliveries=db.session.scalar(db.select(func.count()).select_from(DeliveryRecord)),
        last_delivery=db.session.scalar(db.select(func.max(DeliveryRecord.received_at))),
        errors=last_errors(app),
        chart=hourly_chart(recent, now=now, tz=settings.timezone),
        database=db.engine.url.render_as_string(hide_password=True),
    )


@bp.get("/updates")
def updates() -> Response:
    """What the pages poll: the newest event id, and how many events are newer than ``after``."""
    after = request.args.get("after", default=0, type=int)
    last = db.session.scalar(db.select(func.max(EventRecord.id))) or 0
    newer = db.session.scalar(db.select(func.count()).where(EventRecord.id > after)) if last > after else 0
    demo = inbox_state(current_app).last_demo
    response = jsonify(
        last_event_id=last,
        new_events=newer,
        demo_running=bool(demo and demo.running),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/demo")
def demo() -> WerkzeugResponse:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config["INBOX_DEMO"]:
        abort(404)
    if not _same_origin():
        abort(403, "The demo starts from the inbox's own pages.")
    state = inbox_state(app)
    try:
        start_demo(app, own_base_url(request.environ))
    except DemoUnavailable as exc:
        state.last_demo = DemoRun(started_at=datetime.now(timezone.utc), target="", total=0, error=str(exc))
        state.last_demo.done.set()
    back = request.form.get("next", "")
    return redirect(back if _is_local_path(back) else url_for("inbox.chats"), code=303)


# --- what the pages show ------------------------------------------------------------------


@dataclass
class Entry:
    """One line of a chat's timeline: a message, a note, or something that happened."""

    event: EventRecord
    #: Other events that reported the same message (Huggy sends receivedMessage
    #: and receivedAllMessage for one message of a queued chat).
    also: list[str] = field(default_factory=list)

    @property
    def from_agent(self) -> bool:
        return self.event.sender_type == AGENT


def timeline(events: Sequence[EventRecord]) -> list[Entry]:
    """A chat's events in order, each message once."""
    entries: list[Entry] = []
    by_message: dict[str, Entry] = {}
    for event in events:
        if event.kind in ("message", "note") and event.message_id:
            seen = by_message.get(event.message_id)
            if seen is not None:
                seen.also.append(event.name)
                continue
        entry = Entry(event)
        if event.message_id:
            by_message[event.message_id] = entry
        entries.append(entry)
    return entries


@dataclass(frozen=True)
class Problem:
    at: datetime | None
    what: str
    detail: str
    link: str | None = None


def last_errors(app: Flask) -> list[Problem]:
    """The latest problem of each kind, newest first: refused request, handshake, invalid event, demo."""
    problems: list[Problem] = []
    refusal = inbox_state(app).last_refusal
    if refusal:
        problems.append(Problem(refusal.at, f"Webhook refused a request (HTTP {refusal.status})",
                                f"{refusal.error}: {refusal.message}"))
    handshake_error = endpoint_state(app).last_handshake_error
    if handshake_error:
        problems.append(Problem(None, "Handshake not confirmed",
                                f"{handshake_error.get('error')}: {handshake_error.get('message')}"))
    invalid = db.session.scalar(
        db.select(EventRecord).where(EventRecord.valid.is_(False)).order_by(EventRecord.id.desc()).limit(1)
    )
    if invalid is not None:
        problems.append(Problem(invalid.received_at, f"Invalid {invalid.name} event (kept raw)",
                                invalid.errors or "", url_for("inbox.events", name=invalid.name) + f"#event-{invalid.id}"))
    demo = inbox_state(app).last_demo
    if demo is not None and demo.error:
        problems.append(Problem(demo.started_at, "Demo stopped", demo.error))
    return sorted(problems, key=lambda p: p.at or datetime.max.replace(tzinfo=timezone.utc), reverse=True)


def public_webhook_url(app: Flask) -> str | None:
    """The URL to paste into Huggy, when ``INBOX_PUBLIC_URL`` says where the app is reachable."""
    public = app.config.get("INBOX_PUBLIC_URL")
    return str(public).rstrip("/") + webhook_url(app) if public else None


# --- template helpers ---------------------------------------------------------------------


def register_template_helpers(app: Flask) -> None:
    def timezone_of() -> tzinfo:
        return read_settings(current_app.config).timezone

    @app.template_filter("when")
    def when(value: datetime | None, style: str = "short") -> str:
        """Huggy's time in Huggy's zone (``HUGGY_TIMEZONE``): today's as 14:03, older ones with their date."""
        if value is None:
            return "—"
        local = value.astimezone(timezone_of())
        if style == "full":
            return local.strftime("%Y-%m-%d %H:%M:%S %Z")
        if local.date() == datetime.now(local.tzinfo).date():
            return local.strftime("%H:%M:%S" if style == "seconds" else "%H:%M")
        return local.strftime("%d/%m/%Y %H:%M")

    @app.template_filter("channel")
    def channel(value: str | None) -> str:
        return CHANNELS.get((value or "").lower(), value or "—")

    @app.template_filter("pretty_json")
    def pretty_json(text: str | None) -> str:
        if not text:
            return ""
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return text

    @app.template_filter("color")
    def color(name: str) -> str:
        return color_of(name)

    @app.context_processor
    def inbox_context() -> dict[str, Any]:
        state = inbox_state(app)
        return {
            "demo_enabled": bool(current_app.config["INBOX_DEMO"]),
            "demo_run": state.last_demo,
            "poll_ms": int(float(current_app.config["INBOX_POLL_SECONDS"]) * 1000),
            "last_event_id": db.session.scalar(db.select(func.max(EventRecord.id))) or 0,
            "webhook_path": webhook_url(app),
            "public_webhook": public_webhook_url(app),
            "zone": str(timezone_of()),
        }


# --- small helpers ------------------------------------------------------------------------


def _same_origin() -> bool:
    """Whether a POST comes from the inbox's own pages (a cross-site form must not start the demo).

    Browsers send ``Sec-Fetch-Site`` or ``Origin`` with every POST; a request
    with neither comes from a non-browser client, which CSRF is not about.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    return origin is None or origin == request.host_url.rstrip("/")


def _is_local_path(target: str) -> bool:
    # Browsers read "/\host" as "//host", so a backslash anywhere is refused.
    parts = urlsplit(target)
    return target.startswith("/") and not target.startswith("//") and "\\" not in target and not parts.netloc


def _utc(value: datetime | None) -> datetime | None:
    # Aggregates (max()) bypass the column type on SQLite and come back naive.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


__all__ = ["CHANNELS", "Entry", "bp", "last_errors", "public_webhook_url", "register_template_helpers", "timeline"]
