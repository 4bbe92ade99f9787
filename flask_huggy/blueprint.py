"""The webhook endpoint: HTTP in, signals out, JSON back."""

from __future__ import annotations

import ipaddress
import logging
import time
from datetime import datetime, timezone
from functools import partial
from typing import IO, Any

import click
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from flask.cli import AppGroup
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from .auth import mask_token, token_matches
from .celery import enqueue
from .config import Settings, check_settings
from .dispatch import DispatchSummary, send_alert, validate_all
from .endpoint import CONFIRM_INTERVAL, EXTENSION_KEY, Endpoint, add_endpoint, endpoint_by_prefix
from .envelope import decode_json, is_handshake, parse_delivery
from .errors import (
    DeliveryRejected,
    HandshakeError,
    HuggyError,
    InvalidBody,
    InvalidEnvelope,
    MethodNotAllowed,
    PayloadTooLarge,
    SourceRejected,
    StaleDelivery,
    TokenNotConfigured,
    TokenRejected,
)
from .events import Delivery
from .handshake import confirm_token
from .runner import run_delivery
from .signals import delivery_refused, token_validated

logger = logging.getLogger("flask_huggy")

_READ_CHUNK = 64 * 1024
#: The longest token a handshake may carry: Huggy's are 32 hex digits.
MAX_HANDSHAKE_TOKEN = 256


#: The state of one endpoint in one app: an :class:`~flask_huggy.endpoint.Endpoint`.
EndpointState = Endpoint


def endpoint_state(app: Flask, config_prefix: str = "HUGGY_") -> Endpoint:
    """The :class:`~flask_huggy.endpoint.Endpoint` of ``app`` that reads ``config_prefix`` keys."""
    return endpoint_by_prefix(app, config_prefix)


def make_blueprint(
    name: str = "huggy",
    *,
    url_prefix: str = "/huggy",
    config_prefix: str = "HUGGY_",
    import_name: str = __name__,
) -> Blueprint:
    """Build a webhook blueprint: ``POST {url_prefix}/webhook``.

    :data:`flask_huggy.blueprint` is ``make_blueprint()``. Build another one for a
    second endpoint in the same app, e.g. a second Huggy account whose settings
    are ``HUGGY_B_*``::

        app.register_blueprint(make_blueprint("huggy_b", url_prefix="/huggy-b", config_prefix="HUGGY_B_"))

    Signals are shared; receivers tell endpoints apart by ``delivery`` or by the
    ``endpoint`` of the request.
    """
    bp = Blueprint(name, import_name, url_prefix=url_prefix)

    def webhook() -> Response:
        return _handle_webhook(name)

    bp.add_url_rule("/webhook", endpoint="webhook", view_func=webhook, methods=["POST"])
    bp.add_url_rule(
        "/webhook",
        endpoint="webhook_method_not_allowed",
        view_func=_method_not_allowed,
        methods=["GET", "PUT", "PATCH", "DELETE"],
    )
    bp.register_error_handler(HuggyError, _huggy_error_response)
    bp.register_error_handler(HTTPException, _http_error_response)
    bp.cli = _Commands(name, config_prefix)  # flask <name> ...
    bp.record(partial(_on_register, name=name, config_prefix=config_prefix, blueprint=bp))
    return bp


class _Commands(AppGroup):
    """``flask <name> ...``: the commands of :mod:`flask_huggy.cli`, loaded when the CLI runs.

    A web process never runs them, so it never imports them (nor the test
    builders they use).
    """

    def __init__(self, blueprint: str, config_prefix: str) -> None:
        super().__init__(blueprint, short_help="Simulate, replay and inspect Huggy webhooks.")
        self._blueprint = blueprint
        self._config_prefix = config_prefix
        self._loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            from .cli import register_commands

            register_commands(self, blueprint=self._blueprint, config_prefix=self._config_prefix)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._load()
        super().format_help(ctx, formatter)


def _on_register(state: BlueprintSetupState, *, name: str, config_prefix: str, blueprint: Blueprint) -> None:
    app: Flask = state.app  # type: ignore[assignment]  # always a Flask app here
    check_settings(app.config, config_prefix)  # a broken HUGGY_* value stops the app here, not at Huggy's delivery
    add_endpoint(app, name, config_prefix)
    # Flask adds a blueprint's command group only when it already has commands;
    # these are loaded on first use, so the group is added here.
    if blueprint.cli.name is not None and blueprint.cli.name not in app.cli.commands:
        app.cli.add_command(blueprint.cli)
    _exempt_from_csrf(app, blueprint)


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


def _handle_webhook(name: str) -> Response:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    endpoint: Endpoint = app.extensions[EXTENSION_KEY][name]
    settings = endpoint.settings
    if settings.allowed_networks:
        _check_source(request.remote_addr, settings)
    body = _read_body(request.stream, request.content_length, settings.max_content_length)
    payload = decode_json(body, settings.json_decoder, max_depth=settings.max_depth)
    if not isinstance(payload, dict):
        raise InvalidBody("The body must be a JSON object.", code="not_an_object")
    if is_handshake(payload):
        return _handle_handshake(app, payload, settings, endpoint)
    _authenticate(payload.get("token"), settings, endpoint)
    _check_event_count(payload.get("messages"), settings.max_events)
    delivery = parse_delivery(payload, settings.timezone, endpoint=name)
    if settings.max_age is not None:
        _check_freshness(delivery, settings.max_age)
    if settings.strict:
        validate_all(delivery)
    if settings.dispatch == "celery":
        # On disk before it is queued: a task the broker loses (it crashed as a
        # worker took the task) is still in the journal, for replay --failed.
        journal = endpoint.journal_for(settings)
        record_id = journal.received(delivery, endpoint=endpoint.config_prefix) if journal is not None else None
        enqueue(endpoint, payload, record_id=record_id)
        return jsonify(status="queued", events=len(delivery.events))
    summary = run_delivery(endpoint, delivery, settings=settings).summary
    assert summary is not None  # run_delivery returned: the dispatch did
    return _accepted(app, summary)


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


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The body is larger than the {limit} bytes this endpoint accepts.", limit=limit)


def _authenticate(token: object, settings: Settings, state: Endpoint) -> None:
    if not settings.tokens:
        _allow_without_token(settings, state)
        return
    if token is None:
        raise TokenRejected("The delivery carries no token.", code="missing_token")
    if not token_matches(token, settings.tokens):
        logger.warning("Refused a Huggy request with a wrong token (%s).", mask_token(token))
        raise TokenRejected("The token does not match the configured token.")


def _allow_without_token(settings: Settings, state: Endpoint) -> None:
    # Without a token anyone who finds the URL can post deliveries, so that takes
    # an explicit opt-in; the refusal is a 403 that Huggy retries, so nothing is
    # lost while the token is being set.
    prefix = state.config_prefix
    if not settings.allow_unauthenticated:
        logger.error(
            "Refused a Huggy delivery: %sWEBHOOK_TOKEN is not set. Set it to the token shown in Huggy's panel "
            "(Configurações > Webhook), or set %sALLOW_UNAUTHENTICATED = True to accept unsigned deliveries "
            "(local tests only).",
            prefix,
            prefix,
        )
        raise TokenNotConfigured(
            f"This endpoint has no token configured ({prefix}WEBHOOK_TOKEN) and refuses deliveries until it has one."
        )
    if not state.warned_no_token:
        state.warned_no_token = True
        logger.warning(
            "%sWEBHOOK_TOKEN is not set and %sALLOW_UNAUTHENTICATED is on: Huggy deliveries are accepted "
            "without checking their token. Set %sWEBHOOK_TOKEN to the token shown in Huggy's panel "
            "(Configurações > Webhook).",
            prefix,
            prefix,
            prefix,
        )


def _check_event_count(messages: Any, limit: int) -> None:
    # Counted before a single Event is built: 350,000 empty events cost seconds
    # (and, with Redis de-duplication, as many keys) otherwise.
    if isinstance(messages, dict):
        count = sum(len(events) for events in messages.values() if isinstance(events, list))
        if count > limit:
            raise PayloadTooLarge(
                f"The delivery carries {count} events; this endpoint accepts at most {limit} in one.",
                code="too_many_events",
                limit=limit,
            )


def _check_source(remote_addr: str | None, settings: Settings) -> None:
    # remote_addr is the TCP peer, or what Werkzeug's ProxyFix set from the number
    # of proxies the user declared; X-Forwarded-For alone is never trusted.
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        raise SourceRejected("The request's source address is unknown.") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not any(address in network for network in settings.allowed_networks):
        logger.warning("Refused a Huggy request from %s: not in ALLOWED_NETWORKS.", address)
        raise SourceRejected(f"Requests from {address} are not accepted here.")


def _check_freshness(delivery: Delivery, max_age: float) -> None:
    if delivery.time is None:
        raise StaleDelivery("The delivery carries no time, and this endpoint only accepts recent ones.")
    age = time.time() - delivery.time.timestamp()
    # A delivery from the future is as suspect as an old one (beyond clock skew).
    if abs(age) > max_age:
        raise StaleDelivery(f"The delivery was sent {age:.0f} s ago, outside the {max_age:g} s window.", age=round(age))


def _handle_handshake(app: Flask, payload: dict[str, Any], settings: Settings, state: Endpoint) -> Response:
    """Answer Huggy's URL check by printing the token, then confirm it once the answer has left.

    Huggy accepts the URL when the answer's body is the token (its help pages:
    "imprimir o token"). The confirmation request its current docs mention has
    no published endpoint, so it is sent after the answer, and whatever becomes
    of it cannot change or delay what Huggy receives.
    """
    token = payload.get("token")
    if payload.get("validToken") is not True:
        raise InvalidEnvelope('A handshake must carry "validToken": true.', code="invalid_handshake")
    if not isinstance(token, str) or not token:
        raise InvalidEnvelope("The handshake carries no token.", code="missing_token")
    if len(token) > MAX_HANDSHAKE_TOKEN:
        # Huggy's tokens are 32 hex digits; this answer prints the token back.
        raise InvalidEnvelope(
            f"The handshake's token is longer than {MAX_HANDSHAKE_TOKEN} characters.",
            code="token_too_long",
            limit=MAX_HANDSHAKE_TOKEN,
        )
    prefix = state.config_prefix
    if settings.tokens:
        _authenticate(token, settings, state)
    else:
        logger.warning(
            "Answered Huggy's handshake for token %s while %sWEBHOOK_TOKEN is unset: set %sWEBHOOK_TOKEN to the "
            "token shown in Huggy's panel (it ends as shown here) so that deliveries are accepted.",
            mask_token(token),
            prefix,
            prefix,
        )
    state.handshake_at = datetime.now(timezone.utc)
    response = app.response_class(token, mimetype="text/plain")
    # The body is text Huggy sent: never let a browser read it as anything else.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.call_on_close(partial(_confirm_after_answer, app, token, settings, state))
    return response


def _confirm_after_answer(app: Flask, token: str, settings: Settings, state: Endpoint) -> None:
    # Runs when the server closes the answer (Werkzeug's call_on_close), outside
    # the request: nothing here may raise into the server.
    with app.app_context():
        confirmed = _send_confirmation(token, settings, state)
        try:
            token_validated.send(app, token=token, confirmed=confirmed)
        except Exception:
            logger.exception("A token_validated receiver raised after Huggy's handshake was answered.")


def _send_confirmation(token: str, settings: Settings, state: Endpoint) -> bool | None:
    if not settings.tokens and not state.may_confirm(token):
        # Without a configured token anyone may post handshakes: this process
        # must not become a way to flood Huggy with requests.
        logger.info(
            "Answered a repeated handshake for token %s; its confirmation request was sent less than "
            "%g s ago and is not sent again.",
            mask_token(token),
            CONFIRM_INTERVAL,
        )
        return None
    if settings.confirm_url is None:
        state.confirmed = None
        logger.info(
            "Answered Huggy's handshake for token %s; the confirmation request is switched off (%sCONFIRM_URL).",
            mask_token(token),
            state.config_prefix,
        )
        return None
    try:
        confirm_token(token, settings, session=state.http)
    except HandshakeError as exc:
        state.confirmed = False
        state.last_handshake_error = exc.to_dict()
        logger.warning(
            "Answered Huggy's handshake for token %s; the confirmation request to %s failed: %s",
            mask_token(token),
            settings.confirm_url,
            exc.message,
        )
        return False
    state.confirmed = True
    state.confirmed_at = datetime.now(timezone.utc)
    state.last_handshake_error = None
    logger.info(
        "Answered Huggy's handshake for token %s and confirmed it to %s.", mask_token(token), settings.confirm_url
    )
    return True


def _method_not_allowed() -> Response:
    response, status = _huggy_error_response(
        MethodNotAllowed(f"Huggy delivers webhooks with POST; {request.method} is not accepted here.")
    )
    response.status_code = status
    response.headers["Allow"] = "POST, OPTIONS"
    return response


def _huggy_error_response(error: HuggyError) -> tuple[Response, int]:
    _refused(error)
    return jsonify(error.to_dict()), error.status_code


def _http_error_response(error: HTTPException) -> WerkzeugResponse:
    # Werkzeug's own rejections (a client that hung up, an app-wide
    # MAX_CONTENT_LENGTH) answer in the same JSON shape as ours.
    code = (error.name or "error").lower().replace(" ", "_")
    message = error.description or error.name
    if (error.code or 500) < 500:  # a 500 here is a receiver that raised: receiver_failed told it
        refusal = DeliveryRejected(message, code=code)
        refusal.status_code = error.code or 400
        _refused(refusal)
    response = error.get_response()
    response.data = jsonify(error=code, message=message).get_data()
    response.content_type = "application/json"
    return response


def _refused(error: HuggyError) -> None:
    send_alert(
        delivery_refused,
        current_app._get_current_object(),  # type: ignore[attr-defined]
        error=error,
        status=error.status_code,
    )


blueprint = make_blueprint()
