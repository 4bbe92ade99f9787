"""The confirmation request that follows Huggy's URL check, sent off the request's thread.

When a URL is saved in Huggy's panel, Huggy posts ``{"token": ..., "validToken":
true}``; the webhook answers with the token itself, which is what validates the
URL. Huggy's current docs add that the receiver must "send a new request to Huggy
containing the explicit token", without saying where: this module sends it to
``HUGGY_CONFIRM_URL`` (never a URL from the payload), after the answer has left.

It runs on one background thread per process, fed by a small bounded queue, so
that a confirmation URL that hangs never holds a worker that deliveries need:
a handshake costs its request no more than putting a job on the queue. While no
token is configured anyone may post handshakes, so an endpoint then sends at
most one confirmation a minute, whatever the token.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ._version import __version__
from .auth import mask_token
from .errors import HandshakeError
from .signals import token_validated

if TYPE_CHECKING:
    import requests

    from .endpoint import Endpoint

logger = logging.getLogger("flask_huggy")

USER_AGENT = f"flask-huggy/{__version__}"
#: Seconds each confirmation attempt may take.
CONFIRM_TIMEOUT = 5.0
#: Retries after a connection error (nothing reached Huggy); a timeout or an answer is not retried.
CONFIRM_RETRIES = 2
#: Pause before retry ``n`` (0-based) after a connection error: 0.2 s, 0.4 s, ...
RETRY_BACKOFF = 0.2
#: Seconds between two confirmations of an endpoint that has no token configured.
CONFIRM_INTERVAL = 60.0
#: Confirmations waiting for the background thread, at most; more are dropped (and logged).
QUEUE_SIZE = 8


def confirm_token(
    token: str, url: str, *, headers: dict[str, str] | None = None, session: requests.Session | None = None
) -> None:
    """Send ``token`` to ``url`` as Huggy's docs ask; raise a :class:`~flask_huggy.HandshakeError` on failure.

    Only connection errors (nothing reached Huggy) are retried: a timeout or an
    answer means Huggy may have seen the request, and a second one would not be
    more convincing.
    """
    import requests  # loaded on the first handshake: ``import flask_huggy`` stays light

    http = session or requests
    attempts = CONFIRM_RETRIES + 1
    for attempt in range(attempts):
        try:
            response = http.post(
                url,
                json={"token": token},
                headers={**(headers or {}), "User-Agent": USER_AGENT},
                timeout=CONFIRM_TIMEOUT,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise HandshakeError(
                f"Huggy did not answer the confirmation request within {CONFIRM_TIMEOUT:g} s.", error="huggy_timeout"
            ) from None
        except requests.ConnectionError:
            if attempt + 1 < attempts:
                time.sleep(RETRY_BACKOFF * 2**attempt)
                continue
            raise HandshakeError(
                f"Huggy could not be reached to confirm the token ({attempts} attempts).", error="huggy_unreachable"
            ) from None
        except requests.RequestException as exc:
            raise HandshakeError(
                f"The confirmation request could not be sent: {type(exc).__name__}.", error="huggy_unreachable"
            ) from None
        if not 200 <= response.status_code < 300:
            raise HandshakeError(
                f"Huggy answered the confirmation request with HTTP {response.status_code}.",
                error="confirmation_refused",
                huggy_status=response.status_code,
            )
        return


class Confirmations:
    """The process's background confirmations: one daemon thread, a queue of :data:`QUEUE_SIZE`."""

    def __init__(self, size: int = QUEUE_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._pid = -1
        self._queue: queue.Queue[tuple[Endpoint, str]] = queue.Queue(size)

    def submit(self, endpoint: Endpoint, token: str) -> bool:
        """Queue the confirmation of ``token`` for ``endpoint``; ``False`` when the queue is full."""
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child: the parent's thread is not here
                self._pid = os.getpid()
                self._queue = queue.Queue(self._size)
                threading.Thread(target=self._work, args=(self._queue,), name="huggy-confirm", daemon=True).start()
            try:
                self._queue.put_nowait((endpoint, token))
            except queue.Full:
                logger.warning(
                    "Did not confirm Huggy's handshake for token %s: %d confirmations are already waiting.",
                    mask_token(token),
                    self._size,
                )
                return False
            return True

    def join(self) -> None:
        """Wait until every confirmation submitted so far has been sent (tests, orderly shutdowns)."""
        self._queue.join()

    @staticmethod
    def _work(jobs: queue.Queue[tuple[Endpoint, str]]) -> None:
        while True:
            endpoint, token = jobs.get()
            try:
                with endpoint.app.app_context():
                    confirmed = _confirm(endpoint, token)
                    token_validated.send(endpoint.app, token=token, confirmed=confirmed)
            except Exception:
                logger.exception("A token_validated receiver raised after Huggy's handshake was answered.")
            finally:
                jobs.task_done()


#: The process's one :class:`Confirmations`.
confirmations = Confirmations()


def _confirm(endpoint: Endpoint, token: str) -> bool | None:
    settings = endpoint.settings
    now = time.monotonic()
    if not settings.tokens:
        last = endpoint.last_confirmation
        if last is not None and now - last < CONFIRM_INTERVAL:
            # Without a configured token anyone may post handshakes: this process
            # must not become a way to flood Huggy with requests.
            logger.info(
                "Answered a handshake for token %s; this endpoint sent a confirmation less than %g s ago "
                "and sends no other until then.",
                mask_token(token),
                CONFIRM_INTERVAL,
            )
            return None
        endpoint.last_confirmation = now
    if settings.confirm_url is None:
        endpoint.confirmed = None
        logger.info(
            "Answered Huggy's handshake for token %s; the confirmation request is switched off (%sCONFIRM_URL).",
            mask_token(token),
            endpoint.config_prefix,
        )
        return None
    try:
        confirm_token(token, settings.confirm_url, headers=dict(settings.confirm_headers), session=endpoint.http)
    except HandshakeError as exc:
        endpoint.confirmed = False
        endpoint.last_handshake_error = exc.to_dict()
        logger.warning(
            "Answered Huggy's handshake for token %s; the confirmation request to %s failed: %s",
            mask_token(token),
            settings.confirm_url,
            exc.message,
        )
        return False
    endpoint.confirmed = True
    endpoint.confirmed_at = datetime.now(timezone.utc)
    endpoint.last_handshake_error = None
    logger.info(
        "Answered Huggy's handshake for token %s and confirmed it to %s.", mask_token(token), settings.confirm_url
    )
    return True


__all__ = ["CONFIRM_INTERVAL", "CONFIRM_TIMEOUT", "Confirmations", "confirm_token", "confirmations"]
