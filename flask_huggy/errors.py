"""The exceptions flask-huggy raises: a short tree rooted in :class:`HuggyError`.

::

    HuggyError
    ├── DeliveryRejected (a werkzeug HTTPException: the webhook refuses a request, 4xx)
    │   └── Unavailable (503: a store or the broker is down; Huggy keeps the delivery and retries)
    ├── HandshakeError (the confirmation request after a handshake failed)
    ├── HuggyAPIError (a call to Huggy's REST API failed: ``status``, ``reason``)
    └── ConfigError (the app's Huggy setup is unusable: raised at startup, never answered)

A refusal is one class with a status (``code``, as Werkzeug names it) and a
machine-readable ``error`` (``"invalid_token"``, ``"too_deep"``, ...): the
blueprint's one error handler writes ``{"error": ..., "message": ...}`` for it
and for Werkzeug's own refusals alike. The ``error`` values are listed in the
docs (responses).
"""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import HTTPException

from .safelog import printable


class HuggyError(Exception):
    """Base class of every error raised by flask-huggy."""


class ConfigError(HuggyError):
    """The app's Huggy setup is unusable: a ``HUGGY_*`` value, a receiver declared too late.

    Raised while the app is being set up, naming what to fix, so that the app
    does not start rather than answering Huggy with errors.
    """


class DeliveryRejected(HuggyError, HTTPException):
    """A request the webhook refuses: ``code`` is the HTTP status, ``error`` says why.

    A subclass of Werkzeug's :class:`~werkzeug.exceptions.HTTPException`, as
    Flask-Limiter's ``RateLimitExceeded`` is: raise it in a view and the
    blueprint answers with its JSON body.
    """

    code = 400

    def __init__(self, message: str, *, error: str, status: int | None = None, **details: Any) -> None:
        super().__init__(message)
        if status is not None:
            self.code = status
        #: Stable, machine-readable reason, the ``"error"`` of the JSON body.
        self.error = error
        #: Extra JSON-safe facts added to the body (never a token).
        self.details = details

    @property
    def message(self) -> str:
        """What is wrong, in words: the ``"message"`` of the JSON body."""
        return self.description or ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the refusal: ``{"error": ..., "message": ..., **details}``."""
        return {"error": self.error, "message": self.message, **self.details}


class Unavailable(DeliveryRejected):
    """Something the webhook depends on is down (503), so that Huggy keeps the delivery and retries."""

    code = 503


class HandshakeError(HuggyError):
    """The confirmation request to Huggy did not succeed.

    It never reaches Huggy's handshake, which is answered before the request is
    sent: the outcome is logged, kept on the endpoint and passed to
    ``token_validated`` as ``confirmed=False``. ``error`` is ``"huggy_unreachable"``,
    ``"huggy_timeout"`` or ``"confirmation_refused"``.
    """

    def __init__(self, message: str, *, error: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.error = error
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """``{"error": ..., "message": ..., **details}``, as the endpoint keeps it."""
        return {"error": self.error, "message": self.message, **self.details}


class HuggyAPIError(HuggyError):
    """A call to Huggy's REST API (:class:`~flask_huggy.HuggyAPI`) failed.

    ``status`` is the HTTP status, or ``None`` when no answer came (the
    connection failed, or timed out); ``reason`` is Huggy's own words, read from
    ``{"reason": ...}`` or from ``{"error", "message", "hint"}`` (its 401s). The
    message names the call and never holds a token.
    """

    def __init__(self, status: int | None, reason: str, *, method: str = "", path: str = "") -> None:
        what = f"{method} {path}".strip() or "the call"
        answer = f"answered {status}" if status is not None else "gave no answer"
        # Huggy's words and the path may carry anything: escaped, so that no log line is forged.
        super().__init__(f"Huggy's API {answer} to {printable(what)}: {printable(reason)}")
        #: The HTTP status; ``None`` when no answer came.
        self.status = status
        #: Why, in Huggy's words when it gave some.
        self.reason = reason
        self.method = method
        self.path = path


__all__ = ["ConfigError", "DeliveryRejected", "HandshakeError", "HuggyAPIError", "HuggyError", "Unavailable"]
