"""Huggy inbox: an app that shows, live, what flask-huggy receives from Huggy.

Run it with ``flask --app example_app run`` (it prints its URL and its webhook
URL), paste ``https://<your public host>/huggy/webhook`` into Huggy's panel
(Configurações > Webhook), or press "Try it without Huggy".

It uses flask-huggy as any app would, through its public API only: the
``Huggy`` extension (:mod:`example_app.webhook`), receivers
(:mod:`example_app.receivers`) that store every delivery in a database through
Flask-SQLAlchemy, and reads its settings from ``app.config``,
filled from environment variables named like the config keys
(``HUGGY_WEBHOOK_TOKEN``, ``INBOX_PUBLIC_URL``, ...) plus ``DATABASE_URL`` and
Flask's ``TRUSTED_HOSTS``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.helpers import get_debug_flag
from sqlalchemy.engine import make_url
from werkzeug.serving import is_running_from_reloader

from .access import configured_password, is_loopback
from .demo import register_demo_command
from .models import add_missing_columns, db, share_sqlite_safely
from .receivers import connect_receivers
from .state import EXTENSION, InboxState
from .views import bp as inbox_blueprint
from .views import public_webhook_url, register_template_helpers
from .webhook import huggy, mask_token, webhook_path

logger = logging.getLogger("example_app")

#: The inbox's own settings and their defaults; environment variables of the same names override them.
DEFAULTS: dict[str, Any] = {
    #: Where Huggy reaches this app (a tunnel or your domain), e.g. ``https://inbox.example.com``:
    #: only used to print and show the webhook URL to paste into Huggy.
    "INBOX_PUBLIC_URL": None,
    #: Whether "Try it without Huggy" is offered. Turn it off in production.
    "INBOX_DEMO": True,
    #: Seconds between the demo's deliveries, so that you see them arrive.
    "INBOX_DEMO_PAUSE": 0.7,
    #: How often open pages ask for new events.
    "INBOX_POLL_SECONDS": 1.5,
    #: How long a banner about something that ended (the demo) stays up, unless dismissed.
    "INBOX_BANNER_SECONDS": 60,
    #: The password every page asks for (HTTP Basic auth, any user name); unset, the pages are open.
    #: The webhook never asks for it. See :mod:`example_app.access`.
    "INBOX_PASSWORD": None,
}

#: Settings read from the environment as the text they are, never as JSON: a token or a password
#: of digits, or ``true``, stays a string (a token's JSON list still gives several tokens).
TEXT_SETTINGS = ("HUGGY_WEBHOOK_TOKEN", "INBOX_PASSWORD")

#: The database when ``DATABASE_URL`` is not set: a file in the instance folder.
DEFAULT_DATABASE_FILE = "huggy-inbox.sqlite3"


def config_from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """``HUGGY_*`` and ``INBOX_*`` variables as config values, ``DATABASE_URL`` and ``TRUSTED_HOSTS``.

    Values are parsed as JSON when they parse (``true``, ``["a","b"]``, ``5``),
    else kept as text. A token or a password stays a string even if it is all
    digits; a JSON list gives several tokens. ``DATABASE_URL`` becomes
    ``SQLALCHEMY_DATABASE_URI`` (``postgres://``, as some hosts write it, is
    read as ``postgresql://``). ``TRUSTED_HOSTS``, Flask's own setting, is a
    JSON list or names separated by commas.
    """
    config: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(("HUGGY_", "INBOX_")):
            continue
        if key.endswith(TEXT_SETTINGS) and not (key.endswith("WEBHOOK_TOKEN") and value.lstrip().startswith("[")):
            config[key] = value
        else:
            try:
                config[key] = json.loads(value)
            except ValueError:
                config[key] = value
    database_url = environ.get("DATABASE_URL", "").strip()
    if database_url:
        if database_url.startswith("postgres://"):
            database_url = "postgresql://" + database_url.removeprefix("postgres://")
        config["SQLALCHEMY_DATABASE_URI"] = database_url
    hosts = environ.get("TRUSTED_HOSTS", "").strip()
    if hosts:
        # Flask wants a list: a bare string would be read one character per host.
        config["TRUSTED_HOSTS"] = (
            json.loads(hosts) if hosts.startswith("[") else [name.strip() for name in hosts.split(",") if name.strip()]
        )
    return config


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the inbox. ``config`` wins over environment variables, which win over :data:`DEFAULTS`."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.update(config_from_environment(os.environ))
    app.config.update(config or {})
    if not _configured_tokens(app.config) and "HUGGY_ALLOW_UNAUTHENTICATED" not in app.config:
        # flask-huggy refuses every delivery while no token is set. An inbox started
        # to try things out takes them from anyone, and says so on every page.
        app.config["HUGGY_ALLOW_UNAUTHENTICATED"] = True
    if app.config.get("TRUSTED_HOSTS") and "TRUSTED_HOSTS" not in Flask.default_config:
        # Flask before 3.1 ignores the setting: refuse to start rather than leave the door open.
        raise RuntimeError("TRUSTED_HOSTS needs Flask 3.1 or later: pip install 'flask>=3.1'")
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / DEFAULT_DATABASE_FILE}"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    db.init_app(app)
    app.extensions[EXTENSION] = InboxState()
    huggy.init_app(app)  # POST /huggy/webhook, `flask huggy ...`, and the receivers of @huggy.on
    app.register_blueprint(inbox_blueprint)
    connect_receivers(app)
    register_template_helpers(app)
    register_demo_command(app)
    with app.app_context():
        share_sqlite_safely(db.engine)
        db.create_all()  # an example keeps no migrations: tables are created when missing
        for column in add_missing_columns():  # and columns added since an older inbox made its file
            logger.info("Added column %s to the inbox's database.", column)
        # Under `gunicorn --preload` this runs once, before the workers fork: no
        # connection may cross the fork, so each worker opens its own.
        db.engine.dispose()
    _announce(app)
    return app


def _configured_tokens(config: Mapping[str, Any]) -> bool:
    token = config.get("HUGGY_WEBHOOK_TOKEN")
    return bool(token.strip() if isinstance(token, str) else token)


def _announce(app: Flask) -> None:
    """Say where the inbox is and what to paste into Huggy, when ``flask run`` starts it."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:  # a WSGI server (gunicorn) imported it: one line in its log
        logger.info(
            "Huggy inbox ready; Huggy posts to %s; pages %s",
            public_webhook_url(app) or "<public URL>" + webhook_path(app),
            "ask for INBOX_PASSWORD"
            if configured_password(app)
            else "open to whoever reaches them (INBOX_PASSWORD unset)",
        )
        return
    if ctx.command.name != "run":  # another command (`huggy-demo`, `--help`, ...) says what it does itself
        return
    reload = ctx.params.get("reload")
    if (get_debug_flag() if reload is None else reload) and not is_running_from_reloader():
        return  # the reloader's child process prints it
    host = str(ctx.params.get("host") or "127.0.0.1")
    browse_host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, f"[{host}]" if ":" in host else host)
    scheme = "https" if ctx.params.get("cert") else "http"
    base = f"{scheme}://{browse_host}:{ctx.params.get('port') or 5000}"
    hook = webhook_path(app)
    with app.app_context():
        tokens = huggy.endpoint(app).settings.tokens
        database = db.engine.url.render_as_string(hide_password=True)
    lines = [
        f" * Huggy inbox: {base}/",
        f" * Webhook URL: {base}{hook}",
        " * Paste into Huggy (Configurações > Webhook): "
        + (public_webhook_url(app) or f"https://<your public host>{hook}"),
    ]
    if not app.config.get("INBOX_PUBLIC_URL"):
        lines.append(
            "   Huggy posts from the internet: expose this port with a tunnel and set INBOX_PUBLIC_URL "
            "(example_app/README.rst)."
        )
    lines.append(
        f" * Token: {', '.join(mask_token(t) for t in tokens)} (HUGGY_WEBHOOK_TOKEN)"
        if tokens
        else " * Token: not set, so anyone can post deliveries (HUGGY_ALLOW_UNAUTHENTICATED): "
        "set HUGGY_WEBHOOK_TOKEN to the token in Huggy's panel (Configurações > Webhook)"
    )
    lines.append(f" * Database: {_shown_database(database)}")
    if configured_password(app):
        lines.append(" * Pages: ask for INBOX_PASSWORD (any user name); the webhook does not")
    elif not is_loopback(host):
        lines.append(f" * Pages: PUBLIC, anyone who reaches {host} reads every chat: set INBOX_PASSWORD")
    if app.config["INBOX_DEMO"]:
        # The command posts through the app itself, into the same database: no URL to give.
        lines.append(
            ' * No Huggy yet? Press "Try it without Huggy" on the page, or run: flask --app example_app huggy-demo'
        )
    click.echo("\n".join(lines))
    sys.stdout.flush()


def _shown_database(url: str) -> str:
    parsed = make_url(url)
    return f"{parsed.database} (SQLite)" if parsed.get_backend_name() == "sqlite" and parsed.database else url


__all__ = ["DEFAULTS", "config_from_environment", "create_app", "db"]
