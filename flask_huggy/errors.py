"""The exceptions flask-huggy raises: a short tree rooted in :class:`HuggyError`.

::

    HuggyError
    ├── DeliveryRejected (4xx: Huggy sent something this endpoint refuses)
    │   ├── InvalidBody, InvalidEnvelope, PayloadTooLarge, InvalidEvent
    │   └── TokenRejected (TokenNotConfigured), SourceRejected, StaleDelivery
    ├── Unavailable (503: a store or the broker is down; Huggy retries)
    │   └── DedupUnavailable, DuplicateInFlight, JournalUnavailable, QueueUnavailable
    ├── HandshakeError (the confirmation request after a handshake failed)
    │   └── HuggyUnreachable, HuggyTimeout, ConfirmationRefused
    └── ConfigError (a HUGGY_* setting is unusable)

Catch one thing, or a branch. Those that reject a webhook request know the HTTP
status and the machine-readable ``code`` the blueprint answers with; the
blueprint turns them into JSON in one handler.
"""

from __future__ import annotations

from typing import Any


class HuggyError(Exception):
    """Base class of every error raised by flask-huggy."""

    #: HTTP status the webhook answers with when this error rejects a request.
    status_code: int = 400
    #: Stable, machine-readable error code put in the JSON body as ``"error"``.
    code: str = "huggy_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        #: Extra JSON-safe facts added to the response body (never a token).
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the rejection: ``{"error": code, "message": ...}``."""
        return {"error": self.code, "message": self.message, **self.details}


class ConfigError(HuggyError):
    """A ``HUGGY_*`` setting has a value the library cannot use.

    This is the developer's mistake, not Huggy's: a request that meets it gets a
    500, so Huggy keeps the delivery and retries once the config is fixed.
    """

    status_code = 500
    code = "misconfigured"


class DeliveryRejected(HuggyError):
    """A request the webhook refuses with a 4xx: retrying it unchanged will not help."""

    code = "rejected"


class Unavailable(HuggyError):
    """Something the webhook depends on is down: 503, so that Huggy keeps the delivery and retries."""

    status_code = 503
    code = "unavailable"


class InvalidBody(DeliveryRejected):
    """The body is not a JSON object we can read (bad JSON, bad UTF-8, empty, ...)."""

    code = "invalid_body"


class InvalidEnvelope(DeliveryRejected):
    """The JSON is readable but is not shaped like a Huggy delivery or handshake."""

    code = "invalid_envelope"


class MethodNotAllowed(DeliveryRejected):
    """Any method but POST: Huggy only ever posts."""

    status_code = 405
    code = "method_not_allowed"


class PayloadTooLarge(DeliveryRejected):
    """The body is larger than ``HUGGY_MAX_CONTENT_LENGTH``."""

    status_code = 413
    code = "payload_too_large"


class TokenRejected(DeliveryRejected):
    """The token is missing or matches none of the configured tokens."""

    status_code = 403
    code = "invalid_token"


class TokenNotConfigured(TokenRejected):
    """No ``HUGGY_WEBHOOK_TOKEN`` is set and ``HUGGY_ALLOW_UNAUTHENTICATED`` is off."""

    code = "token_not_configured"


class SourceRejected(DeliveryRejected):
    """The request comes from outside ``HUGGY_ALLOWED_NETWORKS``."""

    status_code = 403
    code = "forbidden_source"


class StaleDelivery(DeliveryRejected):
    """The delivery's ``time`` is outside the ``HUGGY_MAX_AGE`` window (a replay?)."""

    status_code = 403
    code = "stale_delivery"


class InvalidEvent(DeliveryRejected):
    """An event failed validation while ``HUGGY_STRICT`` is on."""

    status_code = 422
    code = "invalid_event"


class DedupUnavailable(Unavailable):
    """The de-duplication store (Redis) cannot be reached: 503, Huggy retries."""

    code = "dedup_unavailable"


class DuplicateInFlight(Unavailable):
    """Another worker is handling the same event right now: 503, Huggy retries."""

    code = "duplicate_in_flight"


class JournalUnavailable(Unavailable):
    """The delivery journal (``HUGGY_JOURNAL``) cannot be written: 503, Huggy retries.

    Raised before any receiver runs, so a delivery is never handled without
    being on disk first.
    """

    code = "journal_unavailable"


class QueueUnavailable(Unavailable):
    """The Celery broker did not take the delivery: 503, so Huggy keeps it and retries.

    With ``HUGGY_DISPATCH = "celery"`` the webhook answers 200 only once the
    delivery is in the broker; anything else would acknowledge a delivery that
    no worker will ever see.
    """

    code = "queue_unavailable"


class HandshakeError(HuggyError):
    """The confirmation request to Huggy did not succeed.

    It never reaches Huggy's handshake, which is answered before the request is
    sent: the outcome is logged, kept in the endpoint's state and passed to
    ``token_validated`` as ``confirmed=False``.
    """

    status_code = 502
    code = "handshake_failed"


class HuggyUnreachable(HandshakeError):
    """Huggy could not be reached to confirm the token."""

    code = "huggy_unreachable"


class HuggyTimeout(HandshakeError):
    """Huggy did not answer the confirmation request in time."""

    status_code = 504
    code = "huggy_timeout"


class ConfirmationRefused(HandshakeError):
    """Huggy answered the confirmation request with a non-2xx status."""

    code = "confirmation_refused"
