"""Who may see the inbox's pages: everyone by default, or whoever knows ``INBOX_PASSWORD``.

The pages show customers' names, phones and messages, so once the app is
reachable from elsewhere they belong behind a password. HTTP Basic auth needs
no login page, no session and no cookie, and every browser asks for it by
itself. The password guards every route of the inbox's blueprint (pages,
``/updates``, the demo button) and never the webhook, which Huggy must reach
without it (its own token guards it); static files stay public, they hold
nothing of the inbox's data.

The user name is not checked: one shared password is the whole secret, and a
fixed name printed in the README would only be a second thing to type, not a
second secret.
"""

from __future__ import annotations

import hmac
from ipaddress import ip_address

from flask import Flask, Request, current_app, jsonify, request
from werkzeug.wrappers import Response

#: The realm browsers show in their password prompt.
REALM = "Huggy inbox"


def configured_password(app: Flask) -> str | None:
    """``INBOX_PASSWORD``, or ``None`` when it is unset or empty."""
    password = app.config.get("INBOX_PASSWORD")
    return str(password) if password not in (None, "") else None


def password_matches(given: str, expected: str) -> bool:
    """Compare in constant time, as bytes (``compare_digest`` refuses non-ASCII ``str``)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def ask_for_password() -> Response | None:
    """``before_request`` of the inbox's blueprint: a 401 unless the request carries the password."""
    expected = configured_password(current_app)
    if expected is None:
        return None
    auth = request.authorization
    if auth is not None and auth.type == "basic" and password_matches(auth.password or "", expected):
        return None
    response = jsonify(error="password_required", message="The Huggy inbox's pages ask for INBOX_PASSWORD.")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
    return response


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a name or an address, with or without a port) means this machine only."""
    name = (host or "").strip()
    if name.startswith("["):  # [::1]:5000
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:  # 127.0.0.1:5000, localhost:5000
        name = name.partition(":")[0]
    if name.lower() in ("localhost", "localhost."):
        return True
    try:
        return ip_address(name).is_loopback
    except ValueError:
        return False


def reached_from_elsewhere(req: Request) -> bool:
    """Whether this request shows the app is reachable from beyond this machine.

    Any of: the ``Host`` the browser asked for is not a loopback name (a tunnel,
    a proxy, a LAN address), the server listens on a non-loopback address
    (``flask run --host 0.0.0.0`` puts it in ``SERVER_NAME``), or the client's
    address is not loopback. A tunnel that rewrites ``Host`` to ``localhost``
    in front of a server bound to 127.0.0.1 looks local from here: the README
    says to set the password before exposing anything.
    """
    server = req.environ.get("SERVER_NAME") or None
    remote = req.remote_addr or ""
    try:
        remote_elsewhere = not ip_address(remote).is_loopback
    except ValueError:  # a unix socket has no client address: no evidence either way
        remote_elsewhere = False
    return not is_loopback(req.host) or (server is not None and not is_loopback(server)) or remote_elsewhere


def pages_are_public(app: Flask, req: Request) -> bool:
    """What the banner warns about: no ``INBOX_PASSWORD``, and the pages are reachable from elsewhere."""
    return configured_password(app) is None and reached_from_elsewhere(req)


__all__ = [
    "REALM",
    "ask_for_password",
    "configured_password",
    "is_loopback",
    "pages_are_public",
    "password_matches",
    "reached_from_elsewhere",
]
