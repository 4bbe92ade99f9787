"""The webhook: HTTP in, signals out (or a queue), JSON back."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import time
from datetime import datetime, timezone
from functools import partial
from typing import IO, Any

from flask import Blueprint, Flask, Request, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .auth import mask_token, token_matches
from .dispatch import DispatchSummary, send_alert, validate_all
from .endpoint import Endpoint
from .envelope import MAX_DEPTH, decode_json, is_handshake, parse_delivery
from .errors import DeliveryRejected, Unavailable
from .events import Delivery
from .handshake import confirmations
from .journal import NOT_QUEUED
from .runner import run_delivery
from .signals import delivery_refused

logger = logging.getLogger("flask_huggy")

_READ_CHUNK = 64 * 1024
#: The longest token a handshake may carry: Huggy's are 32 hex digits.
MAX_HANDSHAKE_TOKEN = 256
#: The most events one delivery may carry; more get a 413 ``too_many_events`` before anything fires.
MAX_EVENTS = 1000
#: Methods answered with a JSON 405 rather than Flask's HTML one; Huggy only ever posts.
_OTHER_METHODS = ["GET", "PUT", "PATCH", "DELETE"]


def make_blueprint(name: str = "huggy", *, url_prefix: str = "/huggy", config_prefix: str = "HUGGY_") -> Blueprint:
    """Build a webhook blueprint: ``POST {url_prefix}/webhook``, configured by ``{config_prefix}*`` keys.

    :data:`flask_huggy.blueprint` is ``make_blueprint()``. Build another one for a
    second endpoint in the same app, e.g. a second Huggy account whose settings
    are ``HUGGY_B_*``::

        app.register_blueprint(make_blueprint("huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_"))

    Registering it reads and checks the settings, once. ``celery=`` given to
    ``register_blueprint`` makes the webhook queue deliveries for Celery
    workers (``app.register_blueprint(flask_huggy.blueprint, celery=celery)``);
    :class:`~flask_huggy.Huggy` passes its own ``celery`` the same way.
    """
    bp = Blueprint(name, __name__, url_prefix=url_prefix)
    bp.register_error_handler(HTTPException, _error_response)
    bp.record(partial(_on_register, config_prefix=config_prefix))
    return bp


def _on_register(state: BlueprintSetupState, *, config_prefix: str) -> None:
    app: Flask = state.app  # type: ignore[assignment]  # always a Flask app here
    endpoint = Endpoint.create(app, state.name, config_prefix)
    # The view of this app is given its endpoint: no lookup per request.
    view = partial(_webhook, endpoint)
    view.__name__ = "webhook"  # type: ignore[attr-defined]
    state.add_url_rule("/webhook", endpoint="webhook", view_func=view, methods=["POST", *_OTHER_METHODS])
    celery = state.options.get("celery")
    if celery is not None:
        from .celery import CeleryQueue  # Celery's glue is loaded only by apps that use Celery

        endpoint.queue = CeleryQueue(celery, endpoint)
    _exempt_from_csrf(app, state.blueprint)  # type: ignore[arg-type]  # a flask.Blueprint: this module made it


def _exempt_from_csrf(app: Flask, blueprint: Blueprint) -> None:
    # Huggy cannot send a CSRF token, and its help pages tell users of frameworks
    # with CSRF protection to exempt the webhook. Flask-WTF's CSRFProtect checks
    # in an app-wide before_request; exempt the blueprint whether CSRFProtect was
    # set up before this registration or after it.
    csrf = app.extensions.get("csrf")
    if csrf is not None and hasattr(csrf, "exempt"):
        csrf.exempt(blueprint)
        return

    def exempt_once() -> None:
        # CSRFProtect is set up with the app, so by the first request it is there
        # or never will be: exempt if needed, then unhook, so that no later
        # request of the app pays for this check. (A new list, not an in-place
        # removal: Flask is iterating over the current one.)
        late_csrf = app.extensions.get("csrf")
        if late_csrf is not None and hasattr(late_csrf, "exempt"):
            late_csrf.exempt(blueprint)
        app.before_request_funcs[None] = [f for f in app.before_request_funcs[None] if f is not exempt_once]

    # Registered now, it runs before the hook a later CSRFProtect(app) adds.
    app.before_request(exempt_once)


def _webhook(endpoint: Endpoint) -> Response:
    # The request itself rather than the proxy: each attribute read through
    # flask.request costs a context lookup, about a microsecond.
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    if req.method != "POST":
        raise MethodNotAllowed(["POST"], f"Huggy delivers webhooks with POST; {req.method} is not accepted here.")
    app = endpoint.app
    settings = endpoint.settings
    if settings.allowed_networks:
        _check_source(req.remote_addr, endpoint)
    body = _read_body(req.stream, req.content_length, settings.max_content_length)
    payload = _decode(body, settings.json_decoder, req)
    if not isinstance(payload, dict):
        raise DeliveryRejected("The body must be a JSON object.", error="not_an_object")
    if is_handshake(payload):
        return _answer_handshake(app, payload, endpoint)
    _authenticate(payload.get("token"), endpoint)
    _check_event_count(payload.get("messages"))
    delivery = parse_delivery(payload, settings.timezone, endpoint_name=endpoint.name)
    if settings.max_age is not None:
        _check_freshness(delivery, settings.max_age)
    if settings.strict:
        validate_all(delivery)
    if endpoint.queue is not None:
        # On disk before it is queued: a task the broker loses (it crashed as a
        # worker took the task) is still in the journal, for the recovery.
        journal = endpoint.journal
        record_id = None
        if journal is not None:
            record_id = journal.received(delivery, endpoint=endpoint.config_prefix, queued=True)
        try:
            endpoint.queue.enqueue(delivery, record_id=record_id)
        except Unavailable as exc:
            if journal is not None and record_id is not None:
                # Answered 503: Huggy retries it, so the recovery must not.
                with contextlib.suppress(Unavailable):
                    journal.note(record_id, NOT_QUEUED, error=exc.error)
            raise
        return jsonify(status="queued", events=len(delivery.events))
    summary = run_delivery(endpoint, delivery).summary
    assert summary is not None  # run_delivery returned: the dispatch did
    return _accepted(app, summary)


def _decode(body: bytes, decoder: str, req: Request) -> Any:
    try:
        return decode_json(body, decoder, max_depth=MAX_DEPTH)
    except DeliveryRejected as exc:
        mimetype = req.mimetype
        if exc.error != "invalid_json" or not mimetype or mimetype.endswith("json"):
            raise
        # curl -d 'token=...' sends a form: say so, rather than "Expecting value".
        raise DeliveryRejected(
            f"The body is sent as {mimetype}, which is not JSON; Huggy posts JSON (Content-Type: application/json).",
            error="unsupported_media_type",
            status=415,
        ) from None


def _accepted(app: Flask, summary: DispatchSummary) -> Response:
    # The answer to every delivery: formatted directly, it costs a fraction of jsonify.
    body = _ACCEPTED % (summary.duplicates, summary.events, summary.invalid)
    return app.response_class(body, content_type="application/json")


_ACCEPTED = '{"duplicates":%d,"events":%d,"invalid":%d,"status":"accepted"}\n'


def _read_body(stream: IO[bytes], content_length: int | None, limit: int) -> bytes:
    # Never read more than limit + 1 bytes, whatever Content-Length claims (or
    # omits, with chunked encoding): an oversized body costs us nothing.
    if content_length is not None and content_length > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    remaining = limit + 1
    received = 0
    while remaining > 0:
        # Ask for just what is still announced: Werkzeug's stream allocates a
        # buffer of the size asked for, and a 64 KiB one for a 2 KiB delivery
        # costs more than parsing it.
        wanted = _READ_CHUNK if content_length is None else content_length - received
        if wanted <= 0:
            break
        chunk = stream.read(min(remaining, wanted))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
        received += len(chunk)
    if remaining <= 0:
        raise _too_large(limit)
    return b"".join(chunks)


def _too_large(limit: int) -> DeliveryRejected:
    return DeliveryRejected(
        f"The body is larger than the {limit} bytes this endpoint accepts.",
        error="payload_too_large",
        status=413,
        limit=limit,
    )


def _authenticate(token: object, endpoint: Endpoint) -> None:
    tokens = endpoint.settings.tokens
    if not tokens:
        _allow_without_token(endpoint)
        return
    if token is None:
        raise DeliveryRejected("The delivery carries no token.", error="missing_token", status=403)
    if not token_matches(token, tokens):
        logger.warning("Refused a Huggy request with a wrong token (%s).", mask_token(token))
        raise DeliveryRejected("The token does not match the configured token.", error="invalid_token", status=403)


def _allow_without_token(endpoint: Endpoint) -> None:
    # Without a token anyone who finds the URL can post deliveries, so that takes
    # an explicit opt-in; the refusal is a 403 that Huggy retries, so nothing is
    # lost while the token is being set.
    prefix = endpoint.config_prefix
    if not endpoint.settings.allow_unauthenticated:
        logger.error(
            "Refused a Huggy delivery: %sWEBHOOK_TOKEN is not set. Set it to the token shown in Huggy's panel "
            "(Configurações > Webhook), or set %sALLOW_UNAUTHENTICATED = True to accept unsigned deliveries "
            "(local tests only).",
            prefix,
            prefix,
        )
        raise DeliveryRejected(
            f"This endpoint has no token configured ({prefix}WEBHOOK_TOKEN) and refuses deliveries until it has one.",
            error="token_not_configured",
            status=403,
        )
    if not endpoint.warned_no_token:
        endpoint.warned_no_token = True
        logger.warning(
            "%sWEBHOOK_TOKEN is not set and %sALLOW_UNAUTHENTICATED is on: Huggy deliveries are accepted "
            "without checking their token. Set %sWEBHOOK_TOKEN to the token shown in Huggy's panel "
            "(Configurações > Webhook).",
            prefix,
            prefix,
            prefix,
        )


def _check_event_count(messages: Any) -> None:
    # Counted before a single Event is built: 350,000 empty events cost seconds
    # (and, with Redis de-duplication, as many keys) otherwise.
    if isinstance(messages, dict):
        count = sum(len(events) for events in messages.values() if isinstance(events, list))
        if count > MAX_EVENTS:
            raise DeliveryRejected(
                f"The delivery carries {count} events; this endpoint accepts at most {MAX_EVENTS} in one.",
                error="too_many_events",
                status=413,
                limit=MAX_EVENTS,
            )


def _check_source(remote_addr: str | None, endpoint: Endpoint) -> None:
    # remote_addr is the TCP peer, or what Werkzeug's ProxyFix set from the number
    # of proxies the user declared; X-Forwarded-For alone is never trusted.
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        raise DeliveryRejected(
            "The request's source address is unknown.", error="forbidden_source", status=403
        ) from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not any(address in network for network in endpoint.settings.allowed_networks):
        logger.warning("Refused a Huggy request from %s: not in ALLOWED_NETWORKS.", address)
        raise DeliveryRejected(f"Requests from {address} are not accepted here.", error="forbidden_source", status=403)


def _check_freshness(delivery: Delivery, max_age: float) -> None:
    if delivery.time is None:
        raise DeliveryRejected(
            "The delivery carries no time, and this endpoint only accepts recent ones.",
            error="stale_delivery",
            status=403,
        )
    age = time.time() - delivery.time.timestamp()
    # A delivery from the future is as suspect as an old one (beyond clock skew).
    if abs(age) > max_age:
        raise DeliveryRejected(
            f"The delivery was sent {age:.0f} s ago, outside the {max_age:g} s window.",
            error="stale_delivery",
            status=403,
            age=round(age),
        )


def _answer_handshake(app: Flask, payload: dict[str, Any], endpoint: Endpoint) -> Response:
    """Answer Huggy's URL check by printing the token; its confirmation request follows off this thread.

    Huggy accepts the URL when the answer's body is the token (its help pages:
    "imprimir o token"). The confirmation request its current docs mention has
    no published endpoint, so it is queued once the answer has left, and
    whatever becomes of it cannot change or delay what Huggy receives.
    """
    token = payload.get("token")
    if payload.get("validToken") is not True:
        raise DeliveryRejected('A handshake must carry "validToken": true.', error="invalid_handshake")
    if not isinstance(token, str) or not token:
        raise DeliveryRejected("The handshake carries no token.", error="missing_token")
    if len(token) > MAX_HANDSHAKE_TOKEN:
        # Huggy's tokens are 32 hex digits; this answer prints the token back.
        raise DeliveryRejected(
            f"The handshake's token is longer than {MAX_HANDSHAKE_TOKEN} characters.",
            error="token_too_long",
            limit=MAX_HANDSHAKE_TOKEN,
        )
    if endpoint.settings.tokens:
        _authenticate(token, endpoint)
    else:
        prefix = endpoint.config_prefix
        logger.warning(
            "Answered Huggy's handshake for token %s while %sWEBHOOK_TOKEN is unset: set %sWEBHOOK_TOKEN to the "
            "token shown in Huggy's panel (it ends as shown here) so that deliveries are accepted.",
            mask_token(token),
            prefix,
            prefix,
        )
    endpoint.handshake_at = datetime.now(timezone.utc)
    response = app.response_class(token, mimetype="text/plain")
    # The body is text Huggy sent: never let a browser read it as anything else.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.call_on_close(partial(confirmations.submit, endpoint, token))
    return response


def _error_response(error: HTTPException) -> Response:
    """The one handler: every refusal, ours or Werkzeug's (405, an app-wide 413), answers in one JSON shape."""
    if isinstance(error, DeliveryRejected):
        body = error.to_dict()
    else:
        body = {"error": (error.name or "error").lower().replace(" ", "_"), "message": error.description}
    status = error.code or 500
    if status < 500 or isinstance(error, DeliveryRejected):  # a 500 here is a receiver that raised
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        send_alert(delivery_refused, app, error=error, status=status, body=body)
    response = jsonify(body)
    response.status_code = status
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


#: The webhook of the default endpoint: ``POST /huggy/webhook``, ``HUGGY_*`` keys.
blueprint = make_blueprint()
