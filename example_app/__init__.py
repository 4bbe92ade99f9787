"""A minimal app that receives Huggy's webhooks and logs every event.

Run it with ``flask --app example_app run`` and paste
``http://<your public host>/huggy/webhook`` into Huggy's panel
(Settings > Integrations > Webhook). Settings come from environment variables
named like the config keys, e.g. ``HUGGY_WEBHOOK_TOKEN``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

import flask_huggy
from flask_huggy import Delivery, Event, signals

logger = logging.getLogger("example_app")


def config_from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """``HUGGY_*`` variables as config values; JSON is parsed (``true``, ``["a","b"]``, ``5``).

    A token stays a string even if it is all digits; a JSON list gives several tokens.
    """
    config: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith("HUGGY_"):
            continue
        if key.endswith("WEBHOOK_TOKEN") and not value.lstrip().startswith("["):
            config[key] = value
        else:
            try:
                config[key] = json.loads(value)
            except ValueError:
                config[key] = value
    return config


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(config_from_environment(os.environ))
    app.config.update(config or {})
    app.register_blueprint(flask_huggy.blueprint)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    @signals.event_received.connect_via(app)
    def log_event(sender: Flask, event: Event, delivery: Delivery, **extra: Any) -> None:
        logger.info("%s %s", event.name, json.dumps(event.raw, ensure_ascii=False, default=str))

    @signals.token_validated.connect_via(app)
    def log_handshake(sender: Flask, **extra: Any) -> None:
        logger.info("Huggy's handshake confirmed: this URL now receives events.")

    @app.get("/")
    def index() -> dict[str, str]:
        return {"webhook": "POST /huggy/webhook", "docs": "see README.rst"}

    logger.info("Paste this app's public URL + /huggy/webhook into Huggy (Settings > Integrations > Webhook).")
    return app
