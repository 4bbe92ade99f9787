"""The inbox's pages: chats, one chat's timeline and its buttons, the events log, the status page.

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
import logging
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from sqlalchemy import func
from werkzeug.wrappers import Response as WerkzeugResponse

from . import acting
from .access import ask_for_password, pages_are_public
from .demo import start_demo
from .models import Chat, DeliveryRecord, EventRecord, Handshake, db
from .state import DemoRun, Outcome, Refusal, inbox_state
from .stats import (
    chat_phases,
    color_of,
    day_buckets,
    duration,
    hour_buckets,
    stacked_chart,
)
from .summary import AGENT
from .webhook import huggy, mask_token, webhook_path

logger = logging.getLogger("example_app")

bp = Blueprint("inbox", __name__)
# Every route of this blueprint (pages, /updates, the demo button) asks for INBOX_PASSWORD when
# it is set; the webhook is flask-huggy's blueprint, so it never does.
bp.before_request(ask_for_password)

#: The cookie in which ``live.js`` tells the server the viewer's time zone.
ZONE_COOKIE = "inbox_tz"
#: Rows per page of the events log.
PAGE_SIZE = 50
#: The range of a database id (a signed 64-bit integer): ids asked for are clamped into it.
ID_RANGE = (-(2**63), 2**63 - 1)
#: What a form id looks like (``secrets.token_urlsafe``): anything else is not used as a key.
FORM_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
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
    "whatsapp-enterprise": "WhatsApp",
}
#: Huggy's ``situation`` of a chat in words; Huggy's docs: "em atendimento, em fila, finalizado etc.".
SITUATIONS = {
    "auto": "automatic (bot)",
    "wait_for_chat": "in the queue",
    "in_chat": "with an agent",
    "finishing": "finished",
}


# --- pages --------------------------------------------------------------------------------


@bp.get("/")
def chats() -> str:
    status = request.args.get("status", "all")
    # Newest activity first, by Huggy's clock (the time shown), arrival breaking ties.
    query = (
        db.select(Chat).order_by(Chat.latest_at.desc().nulls_last(), Chat.last_received_at.desc(), Chat.id).limit(200)
    )
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
    events = db.session.scalars(db.select(EventRecord).where(EventRecord.chat_id == chat_id)).all()
    entries = timeline(events)
    phases = chat_phases([(e.event.name, e.event.huggy_time, e.from_agent) for e in entries], closed=found.closed)
    outcome = inbox_state(current_app).outcomes.get(request.args.get("done", ""))
    return render_template(
        "chat.html",
        chat=found,
        entries=entries,
        phases=phases,
        outcome=outcome if outcome is not None and outcome.chat_id == found.id else None,
        fake_reason=acting.fake_reason(current_app, found.id),
        # One id per form and per page: a form sent twice (a double click, Back and
        # send again) acts once.
        reply_form=secrets.token_urlsafe(16),
        close_form=secrets.token_urlsafe(16),
    )


@bp.get("/events")
def events() -> str:
    name = request.args.get("name") or None
    chat_id = request.args.get("chat") or None
    before = id_arg("before")
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
    endpoint = huggy.endpoint(app)
    settings = endpoint.settings
    per_type = db.session.execute(
        db.select(EventRecord.name, func.count(), func.max(EventRecord.received_at))
        .group_by(EventRecord.name)
        .order_by(func.count().desc(), EventRecord.name)
    ).all()
    now = datetime.now(timezone.utc)
    zone = viewer_zone()
    days = day_buckets(now, zone)
    recent: list[tuple[str, datetime]] = [
        (name, received_at)
        for name, received_at in db.session.execute(
            db.select(EventRecord.name, EventRecord.received_at).where(EventRecord.received_at >= days[0].start)
        )
    ]
    return render_template(
        "status.html",
        tokens=[mask_token(token) for token in settings.tokens],
        settings=settings,
        handshake=db.session.scalar(db.select(Handshake).order_by(Handshake.id.desc()).limit(1)),
        handshake_at=endpoint.handshake_at,
        handshake_error=endpoint.last_handshake_error,
        per_type=[(name, count, _utc(last), color_of(name)) for name, count, last in per_type],
        deliveries=db.session.scalar(db.select(func.count()).select_from(DeliveryRecord)),
        last_delivery=_utc(db.session.scalar(db.select(func.max(DeliveryRecord.received_at)))),
        errors=last_errors(app),
        chart=stacked_chart(recent, hour_buckets(now, zone)),
        week=stacked_chart(recent, days, width=400),
        database=db.engine.url.render_as_string(hide_password=True),
    )


@bp.get("/updates")
def updates() -> Response:
    """What the pages poll: the newest event id, and how many events are newer than ``after``."""
    after = id_arg("after") or 0
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
    start_demo(app)  # through the app itself: no address is chosen, whatever the request says
    back = request.form.get("next", "")
    return redirect(back if _is_local_path(back) else url_for("inbox.chats"), code=303)


@bp.post("/chats/<chat_id>/reply")
def reply(chat_id: str) -> WerkzeugResponse:
    """The reply box: a message, or an internal note, sent through Huggy's API as typed."""
    text, internal = request.form.get("text", ""), request.form.get("internal") == "on"
    return _act(chat_id, lambda app, chat: acting.reply(app, chat, text, internal=internal))


@bp.post("/chats/<chat_id>/close")
def close(chat_id: str) -> WerkzeugResponse:
    """The close button: closes the chat through Huggy's API, with the tabulation typed."""
    tabulation = request.form.get("tabulation", "")
    return _act(chat_id, lambda app, chat: acting.close(app, chat, tabulation))


def _act(chat_id: str, action: Callable[[Flask, Chat], Outcome]) -> WerkzeugResponse:
    """Run a chat page's button once per form, then send the browser back to the chat to read the outcome.

    Post/Redirect/Get: reloading the page that says "sent" sends nothing again.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if not _same_origin():
        abort(403, "Replies and closing start from the inbox's own pages.")
    found = db.session.get(Chat, chat_id) or abort(404)
    form_id = request.form.get("form_id", "")
    if not FORM_ID.fullmatch(form_id):  # a client without the page's form: act, once
        form_id = secrets.token_urlsafe(16)
    state = inbox_state(app)
    if state.claim(form_id, found.id):
        try:
            outcome = action(app, found)
        except Exception:  # Huggy's refusals are outcomes already: this is the inbox's own failure
            logger.exception("A button of chat %s failed.", found.id)
            outcome = Outcome(found.id, False, "Not done: the inbox failed (its log says why).")
        state.settle(form_id, outcome)
    return redirect(url_for("inbox.chat", chat_id=found.id, done=form_id, _anchor="actions"), code=303)


# --- what the pages show ------------------------------------------------------------------


@dataclass
class Entry:
    """One line of a chat's timeline: a message, a note, or something that happened."""

    event: EventRecord
    #: Other events that reported the same message (Huggy sends receivedMessage
    #: and receivedAllMessage for one message of a queued chat).
    also: list[str] = field(default_factory=list)
    #: It arrived after events that come later in Huggy's timeline.
    arrived_late: bool = False

    @property
    def from_agent(self) -> bool:
        return self.event.sender_type == AGENT


def timeline(events: Sequence[EventRecord]) -> list[Entry]:
    """A chat's events as the chat reads, oldest first by Huggy's own time, each message once.

    Huggy's time is the event's own (``send_at``, ``closed_at``), else its
    delivery's ``time``; events of one second keep the order they arrived in.
    An event that arrived after some of those it precedes is marked, so that
    the page can say when it came.
    """
    entries: list[Entry] = []
    by_message: dict[str, Entry] = {}
    for event in sorted(events, key=lambda e: e.order_key):
        if event.kind in ("message", "note") and event.message_id:
            seen = by_message.get(event.message_id)
            if seen is not None:
                seen.also.append(event.name)
                continue
        entry = Entry(event)
        if event.message_id:
            by_message[event.message_id] = entry
        entries.append(entry)
    first_arrival_after = None
    for entry in reversed(entries):
        if first_arrival_after is not None and entry.event.id > first_arrival_after:
            entry.arrived_late = True
        first_arrival_after = min(entry.event.id, first_arrival_after or entry.event.id)
    return entries


@dataclass(frozen=True)
class Problem:
    at: datetime | None
    what: str
    detail: str
    link: str | None = None


def last_errors(app: Flask) -> list[Problem]:
    """The latest problem of each kind, newest first: refused request, handshake, invalid event, demo.

    One failure, one line: a refusal that is the answer to a failure listed on
    its own line (the handshake's, the demo's) is not listed again.
    """
    problems: list[Problem] = []
    state = inbox_state(app)
    endpoint = huggy.endpoint(app)
    handshake_error = endpoint.last_handshake_error
    demo = state.last_demo
    refusal = state.last_refusal
    if refusal and not _explained(refusal, handshake_error, demo):
        what = "refused a request" if refusal.status < 500 else "could not take a request"
        problems.append(
            Problem(refusal.at, f"Webhook {what} (HTTP {refusal.status})", f"{refusal.error}: {refusal.message}")
        )
    if handshake_error:
        problems.append(
            Problem(
                endpoint.handshake_at,
                "Confirmation request to Huggy failed",
                f"{handshake_error.get('error')}: {handshake_error.get('message')}",
            )
        )
    invalid = db.session.scalar(
        db.select(EventRecord).where(EventRecord.valid.is_(False)).order_by(EventRecord.id.desc()).limit(1)
    )
    if invalid is not None:
        problems.append(
            Problem(
                invalid.received_at,
                f"Invalid {invalid.name} event (kept raw)",
                invalid.errors or "",
                url_for("inbox.events", name=invalid.name) + f"#event-{invalid.id}",
            )
        )
    if demo is not None and demo.error:
        problems.append(Problem(demo.started_at, "Demo stopped", demo.error))
    return sorted(problems, key=lambda p: p.at or datetime.max.replace(tzinfo=timezone.utc), reverse=True)


def _explained(refusal: Refusal, handshake_error: dict[str, Any] | None, demo: DemoRun | None) -> bool:
    """Whether ``refusal`` is how the webhook answered a failure that has its own line."""
    if handshake_error and (refusal.error, refusal.message) == (
        handshake_error.get("error"),
        handshake_error.get("message"),
    ):
        return True
    return bool(
        demo and demo.error and demo.refused == (refusal.status, refusal.error) and refusal.at >= demo.started_at
    )


def public_webhook_url(app: Flask) -> str | None:
    """The URL to paste into Huggy, when ``INBOX_PUBLIC_URL`` says where the app is reachable."""
    public = app.config.get("INBOX_PUBLIC_URL")
    return str(public).rstrip("/") + webhook_path(app) if public else None


# --- template helpers ---------------------------------------------------------------------


def viewer_zone() -> tzinfo:
    """The viewer's time zone, as their browser told it (``live.js`` sets a cookie), else ``HUGGY_TIMEZONE``.

    The pages show one clock: the viewer's own, with the date, and the UTC
    instant on hover. The script also rewrites each time in the browser, so
    a first visit, before the cookie exists, reads right too.
    """
    zone: tzinfo | None = g.get("inbox_viewer_zone")
    if zone is None:
        name = request.cookies.get(ZONE_COOKIE, "")
        zone = ZoneInfo(name) if name in _known_zones() else huggy.endpoint(current_app).settings.timezone
        g.inbox_viewer_zone = zone  # once per request: a page shows many times
    return zone


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    # Only names of the system's zone database reach ZoneInfo: never a path a client made up.
    return frozenset(available_timezones())


def clock(value: datetime | None, style: str = "seconds") -> Markup:
    """A ``<time>`` the page shows in the viewer's zone, with the date; the UTC instant on hover.

    ``style``: ``"seconds"`` (5 Mar 2020, 17:21:10) or ``"minutes"`` (5 Mar 2020, 17:21).
    ``live.js`` formats the same way in the browser.
    """
    if value is None:
        return Markup("—")
    utc = value.astimezone(timezone.utc)
    local = value.astimezone(viewer_zone())
    shown = f"{local.day} {local:%b %Y}, {local:%H:%M}" + (f":{local:%S}" if style == "seconds" else "")
    return Markup('<time datetime="{}" title="{}" data-style="{}">{}</time>').format(
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"), utc.strftime("%Y-%m-%d %H:%M:%S UTC"), style, shown
    )


def register_template_helpers(app: Flask) -> None:
    app.add_template_filter(clock)
    app.add_template_filter(duration)

    @app.template_filter("channel")
    def channel(value: str | None) -> str:
        return CHANNELS.get((value or "").lower(), value or "—")

    @app.template_filter("situation")
    def situation(value: str | None) -> str:
        return SITUATIONS.get(value or "", value or "—")

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
        banner_seconds = float(current_app.config["INBOX_BANNER_SECONDS"])
        demo = state.last_demo
        ended = demo.finished_at if demo is not None else None
        return {
            "demo_enabled": bool(current_app.config["INBOX_DEMO"]),
            "demo_run": demo,
            # A finished demo's banner goes away after a while: the status page keeps the record.
            "demo_banner": demo is not None
            and (ended is None or datetime.now(timezone.utc) - ended < timedelta(seconds=banner_seconds)),
            "banner_ms": int(banner_seconds * 1000),
            "open_to_anyone": accepts_unauthenticated(current_app),
            "pages_public": pages_are_public(app, request),
            "poll_ms": int(float(current_app.config["INBOX_POLL_SECONDS"]) * 1000),
            "last_event_id": db.session.scalar(db.select(func.max(EventRecord.id))) or 0,
            "webhook_path": url_for(f"{huggy.name}.webhook"),
            "public_webhook": public_webhook_url(app),
            "zone": str(viewer_zone()),
            "zone_cookie": ZONE_COOKIE,
        }


def accepts_unauthenticated(app: Flask) -> bool:
    """Whether the webhook takes deliveries from anyone: no token, and ``HUGGY_ALLOW_UNAUTHENTICATED`` on."""
    settings = huggy.endpoint(app).settings
    return not settings.tokens and settings.allow_unauthenticated


# --- small helpers ------------------------------------------------------------------------


def id_arg(name: str) -> int | None:
    """An id from the query string, clamped into :data:`ID_RANGE`; ``None`` when absent or not a number.

    Any id past the range means the same as its end (``before=10**20``: before
    every event), and a database driver never sees a number it cannot bind.
    """
    value = request.args.get(name, type=int)
    return None if value is None else min(max(value, ID_RANGE[0]), ID_RANGE[1])


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


__all__ = [
    "CHANNELS",
    "SITUATIONS",
    "Entry",
    "accepts_unauthenticated",
    "bp",
    "clock",
    "last_errors",
    "public_webhook_url",
    "register_template_helpers",
    "timeline",
    "viewer_zone",
]
