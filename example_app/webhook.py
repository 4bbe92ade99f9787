"""The inbox's webhook: one flask-huggy ``Huggy`` endpoint, and the little the pages need of it.

``huggy`` is made at import time and given to each app by ``huggy.init_app(app)``
(:func:`example_app.create_app`), the Flask extension pattern: receivers are
connected to it with ``@huggy.on(...)`` (:mod:`example_app.receivers`), and the
endpoint's settings and handshake status are read from ``huggy.endpoint(app)``.
"""

from __future__ import annotations

from flask import Flask, url_for

from flask_huggy import Huggy

#: ``POST /huggy/webhook``, configured by ``HUGGY_*`` keys.
huggy = Huggy()


def own_host(app: Flask) -> str:
    """A ``Host`` that ``app`` answers to, for requests it makes to itself: ``localhost``, or the
    first of ``TRUSTED_HOSTS`` (without the leading dot that lets in its subdomains)."""
    trusted = app.config.get("TRUSTED_HOSTS")
    return str(trusted[0]).lstrip(".") if trusted else "localhost"


def webhook_path(app: Flask) -> str:
    """Where ``app`` serves the webhook (``/huggy/webhook``), wherever the endpoint was mounted."""
    with app.test_request_context(environ_overrides={"HTTP_HOST": own_host(app)}):
        return url_for(f"{huggy.name}.webhook")


def mask_token(token: str) -> str:
    """A token as the pages and the console show it: its last four characters, or nothing of a short one."""
    return "****" + token[-4:] if len(token) > 8 else "****"


__all__ = ["huggy", "mask_token", "own_host", "webhook_path"]
