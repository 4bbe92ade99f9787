"""Deliveries shaped like Huggy's, built from its docs' samples, and posted to an app.

Builders return what Huggy sends, as plain JSON-ready dicts, based on the samples
of Huggy's docs (:func:`flask_huggy.catalog.sample_event`), with fresh ids and timestamps
consistent with the delivery's ``time``::

    event = build_event("closedChat", id=5)          # a dict that knows its name
    delivery = build_delivery(event, "receivedMessage", token="...")
    response = post_delivery(client, "startedChat", "receivedMessage")
"""

from __future__ import annotations

import copy
import json
import random
import re
import secrets
from collections.abc import Mapping
from datetime import datetime, tzinfo
from functools import cache
from time import time as _now
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import Flask, url_for
from werkzeug.routing import BuildError

from ..catalog import FieldPath, sample_event, spec_for
from ..endpoint import get_endpoint
from ..handshake import confirmations

if TYPE_CHECKING:
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

#: The token :func:`build_delivery` puts in a delivery when given none: a
#: placeholder shaped like Huggy's (32 hex digits). The posting helpers use the
#: app's configured token instead.
SAMPLE_TOKEN = "5a4d1f0c8e2b47a9b3c6d0e1f2a3b4c5"

#: How Huggy writes its offset-less Brazil-local timestamps (``send_at``, ``closed_at``).
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_DEFAULT_TIMEZONE = "America/Sao_Paulo"  # HUGGY_TIMEZONE's default
_LOCAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


class HuggyEvent(dict[str, Any]):
    """One event object exactly as Huggy sends it, that also knows its name.

    It *is* a dict (``json.dumps`` it, compare it, change it), so
    :func:`build_delivery` needs no ``(name, object)`` pair to file it under
    the right key of ``messages``.
    """

    def __init__(self, name: str, data: Mapping[str, Any], /, *, clock: Mapping[FieldPath, str] | None = None) -> None:
        super().__init__(data)
        #: Huggy's event name, e.g. ``"closedChat"``.
        self.name = name
        # The timestamps the builder wrote, so that build_delivery can move them
        # to the delivery's time unless the caller has changed them since.
        self._clock: dict[FieldPath, str] = dict(clock or {})

    def __repr__(self) -> str:
        return f"HuggyEvent({self.name!r}, {dict.__repr__(self)})"


#: What :func:`build_delivery` accepts as an event: a :class:`HuggyEvent`, an
#: event name (built from its sample), or a ``(name, object)`` pair sent as is.
EventLike = HuggyEvent | str | tuple[str, Mapping[str, Any]]


def build_event(
    name: str,
    /,
    *,
    chat_id: int | None = None,
    customer_id: int | None = None,
    at: datetime | float | None = None,
    timezone: str | tzinfo = _DEFAULT_TIMEZONE,
    **fields: Any,
) -> HuggyEvent:
    """One realistic event ``name``, from the docs' sample, with fresh ids.

    The event's own id, its chat's id and its customer's id are fresh random
    ints (kept as strings where Huggy sends strings); pass ``chat_id`` /
    ``customer_id`` to tie several events to one conversation. Brazil-local
    timestamps (``send_at``, ``closed_at``, ...) say ``at`` (default: now) in
    ``timezone``, as Huggy writes them; :func:`build_delivery` moves them to the
    delivery's ``time``.

    ``fields`` replace fields of the result; a dotted name reaches inside
    (``**{"chat.id": 5}``), see :func:`set_field`::

        build_event("closedChat", id=30608118, tabulation={"id": 1, "name": "Venda"})
    """
    sample = spec_for(name).sample
    data = sample_event(name)
    _fill(data, sample.own_id, fresh_id())
    _fill(data, sample.chat_id, fresh_id() if chat_id is None else chat_id)
    _fill(data, sample.customer_id, fresh_id() if customer_id is None else customer_id)
    stamp = local_time(_epoch(at), timezone)
    clock = {path: stamp for path in _clock_paths(name)}
    for path in clock:
        _set_path(data, path, stamp)
    event = HuggyEvent(name, data, clock=clock)
    for key, value in fields.items():
        set_field(event, key, value)
    return event


def build_delivery(
    *events: EventLike,
    token: str | None = SAMPLE_TOKEN,
    time: datetime | float | None = None,
    timezone: str | tzinfo = _DEFAULT_TIMEZONE,
) -> dict[str, Any]:
    """A delivery as Huggy posts it: ``{"time": ..., "messages": {...}, "token": ...}``.

    Events are filed under their names in ``messages``, in the order given;
    like Huggy, all events of one name share one list, so
    ``build_delivery("receivedMessage", "closedChat", "receivedMessage")``
    fires both messages before the ``closedChat``. Events given by name are
    built together: they share one chat and one customer.

    ``time`` (default: now) is the epoch ``time`` of the delivery; the builder's
    timestamps in :class:`HuggyEvent` objects are set to it, in ``timezone``.
    ``token=None`` leaves the token out (Huggy never does; a test of the refusal
    might). The result is a new plain dict: the events given are not changed.
    """
    if not events:
        raise ValueError("A delivery carries at least one event.")
    epoch = _epoch(time)
    stamp = local_time(epoch, timezone)
    chat_id, customer_id = fresh_id(), fresh_id()
    messages: dict[str, list[dict[str, Any]]] = {}
    for item in events:
        if isinstance(item, str):
            item = build_event(item, chat_id=chat_id, customer_id=customer_id, at=epoch, timezone=timezone)
        if isinstance(item, HuggyEvent):
            name, obj = item.name, copy.deepcopy(dict(item))
            for path, written in item._clock.items():
                if _get_path(obj, path) == written:
                    _set_path(obj, path, stamp)
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], Mapping):
            name, obj = item[0], copy.deepcopy(dict(item[1]))
        else:
            raise TypeError(
                f"An event is a HuggyEvent (from build_event), an event name, or a (name, object) pair; "
                f"got {type(item).__name__}."
            )
        messages.setdefault(name, []).append(obj)
    delivery: dict[str, Any] = {"time": epoch, "messages": messages}
    if token is not None:
        delivery["token"] = token
    return delivery


def build_handshake(token: str) -> dict[str, Any]:
    """Huggy's URL check, sent when a webhook URL is saved in its panel."""
    return {"token": token, "validToken": True}


def set_field(event: dict[str, Any], path: str | FieldPath, value: Any) -> None:
    """Set a field of an event; a dotted ``path`` (``"chat.customer.id"``) reaches inside.

    A dotted path matches Huggy's own dotted keys first, so
    ``"context.SYSTEM.CHAT_ID"`` sets ``context["SYSTEM.CHAT_ID"]``. A number
    indexes a list (``"organizations.0.name"``). Missing objects are created,
    and so are those Huggy sends as ``false``, ``null``, ``""`` or ``[]``
    ("nothing here"): ``"department.id"`` works on a chat without department.
    """
    keys = _resolve(event, path) if isinstance(path, str) else path
    if not keys:
        raise ValueError("An empty path names no field.")
    node: Any = event
    for depth, key in enumerate(keys[:-1]):
        if isinstance(node, dict) and _means_nothing(node.get(key)) and not isinstance(keys[depth + 1], int):
            node[key] = {}
        node = _child(node, key, keys[: depth + 1])
    _assign(node, keys[-1], value, keys)


def fresh_id() -> int:
    """A random id shaped like those of Huggy's samples (eight digits)."""
    return random.randint(10_000_000, 99_999_999)


def local_time(epoch: float, timezone: str | tzinfo = _DEFAULT_TIMEZONE) -> str:
    """``epoch`` as Huggy writes its timestamps: wall-clock time in ``timezone``, no offset."""
    tz = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    return datetime.fromtimestamp(epoch, tz).strftime(LOCAL_TIME_FORMAT)


def configured_token(app: Flask, endpoint: str = "huggy") -> str | None:
    """The (first) token the endpoint ``endpoint`` of ``app`` accepts, or ``None`` when it accepts any."""
    tokens = get_endpoint(app, endpoint).settings.tokens
    return tokens[0] if tokens else None


def webhook_url(app: Flask, endpoint: str = "huggy") -> str:
    """The path of the webhook of ``endpoint`` in ``app``, wherever it was registered."""
    with app.test_request_context():
        try:
            return url_for(f"{endpoint}.webhook")
        except BuildError:
            raise LookupError(
                f"The app has no {endpoint!r} webhook: register flask_huggy.blueprint or use Huggy(app) "
                "(or name the endpoint you registered)."
            ) from None


def post_delivery(
    client: FlaskClient,
    *events: EventLike | Mapping[str, Any],
    token: str | None = None,
    time: datetime | float | None = None,
    endpoint: str = "huggy",
) -> TestResponse:
    """POST a delivery to the app's webhook through a Flask test client.

    Give events (as for :func:`build_delivery`; the token defaults to the one
    the app is configured with), or one ready delivery (a dict with
    ``messages``), posted as it is, with the app's token filled in when it
    has none (``flask huggy simulate --print`` leaves it out). The body is
    serialized here, keeping Huggy's key order (which is the firing order)
    whatever the app's JSON provider does.
    """
    app: Flask = client.application
    state = get_endpoint(app, endpoint)
    if len(events) == 1 and isinstance(events[0], Mapping) and "messages" in events[0]:
        if token is not None or time is not None:
            raise TypeError("A ready delivery is posted unchanged: pass token/time to build_delivery instead.")
        body: Mapping[str, Any] = events[0]
        if "token" not in body:
            body = {**body, "token": configured_token(app, endpoint) or SAMPLE_TOKEN}
    else:
        body = build_delivery(
            *events,  # type: ignore[arg-type]  # a Mapping without "messages" fails clearly in build_delivery
            token=token or configured_token(app, endpoint) or SAMPLE_TOKEN,
            time=time,
            timezone=state.settings.timezone,
        )
    return _post_json(client, webhook_url(app, endpoint), body)


def post_handshake(client: FlaskClient, token: str | None = None, *, endpoint: str = "huggy") -> TestResponse:
    """POST Huggy's handshake to the app's webhook (default token: the app's own).

    The app then sends its confirmation to Huggy: run this inside a
    :class:`ConfirmationInterceptor` (the ``huggy_confirm`` fixture) so that
    nothing leaves the process.
    """
    app: Flask = client.application
    token = token or configured_token(app, endpoint) or secrets.token_hex(16)
    response = _post_json(client, webhook_url(app, endpoint), build_handshake(token))
    confirmations.join()  # the confirmation, sent off the request's thread, has happened too
    return response


def _post_json(client: FlaskClient, url: str, body: Mapping[str, Any]) -> TestResponse:
    response = client.post(url, data=json.dumps(body, ensure_ascii=False), content_type="application/json")
    # As a server does once the answer is sent: runs what the app deferred to
    # then (the handshake's confirmation request). The body stays readable.
    response.close()
    return response


# --- Paths, ids and times -----------------------------------------------------------------


def _fill(data: dict[str, Any], paths: tuple[FieldPath, ...], value: int) -> None:
    for path in paths:
        # Keep the type the docs show: message ids are numeric strings, chat ids ints.
        _set_path(data, path, str(value) if isinstance(_get_path(data, path), str) else value)


def _epoch(at: datetime | float | None) -> int | float:
    if at is None:
        return int(_now())
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("Give an aware datetime (e.g. with tzinfo=timezone.utc): a naive one is ambiguous.")
        return int(at.timestamp()) if at.microsecond == 0 else at.timestamp()
    if isinstance(at, bool) or not isinstance(at, (int, float)):
        raise TypeError(f"A time is an aware datetime or epoch seconds, not {type(at).__name__}.")
    return at


@cache
def _clock_paths(name: str) -> tuple[FieldPath, ...]:
    found: list[FieldPath] = []

    def walk(node: Any, path: FieldPath) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, index))
        elif isinstance(node, str) and _LOCAL_TIME.fullmatch(node):
            found.append(path)

    walk(sample_event(name), ())
    return tuple(found)


def _get_path(data: Any, path: FieldPath) -> Any:
    for key in path:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _set_path(data: Any, path: FieldPath, value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _resolve(data: Any, dotted: str) -> FieldPath:
    # Longest match first, so that Huggy's dotted keys ("SYSTEM.CHAT_ID") win
    # over a split that would create new nested objects.
    parts = dotted.split(".")
    path: list[str | int] = []
    node = data
    i = 0
    while i < len(parts):
        key: str | int = parts[i]
        step = 1
        if isinstance(node, list) and parts[i].lstrip("-").isdigit():
            key = int(parts[i])
        elif isinstance(node, dict):
            for j in range(len(parts), i + 1, -1):
                if ".".join(parts[i:j]) in node:
                    key, step = ".".join(parts[i:j]), j - i
                    break
        path.append(key)
        i += step
        node = _get_path(node, (key,))
    return tuple(path)


def _child(node: Any, key: str | int, where: FieldPath) -> Any:
    if isinstance(node, dict):
        return node.setdefault(key, {})
    if isinstance(node, list) and isinstance(key, int):
        try:
            return node[key]
        except IndexError:
            raise ValueError(f"{_dotted(where)}: index out of range (the list has {len(node)} items).") from None
    raise ValueError(f"{_dotted(where[:-1]) or 'the event'} is {json.dumps(node)}, which has no field {key!r}.")


def _assign(node: Any, key: str | int, value: Any, where: FieldPath) -> None:
    if isinstance(node, dict):
        node[key] = value
    elif isinstance(node, list) and isinstance(key, int):
        if not -len(node) <= key < len(node):
            raise ValueError(f"{_dotted(where)}: index out of range (the list has {len(node)} items).")
        node[key] = value
    else:
        raise ValueError(f"{_dotted(where[:-1]) or 'the event'} is {json.dumps(node)}, which has no field {key!r}.")


def _means_nothing(value: Any) -> bool:
    # How Huggy (PHP) says "no object here": false, null, "" or an empty array.
    return value is None or value is False or (isinstance(value, (str, list, dict)) and not value)


def _dotted(path: FieldPath) -> str:
    return ".".join(str(key) for key in path)


__all__ = [
    "LOCAL_TIME_FORMAT",
    "SAMPLE_TOKEN",
    "EventLike",
    "HuggyEvent",
    "build_delivery",
    "build_event",
    "build_handshake",
    "configured_token",
    "fresh_id",
    "local_time",
    "post_delivery",
    "post_handshake",
    "set_field",
    "webhook_url",
]
