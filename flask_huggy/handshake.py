"""The confirmation request that follows Huggy's URL check.

When a URL is saved in Huggy's panel, Huggy posts ``{"token": ..., "validToken":
true}``; the webhook answers with the token itself, which is what validates the
URL. Huggy's current docs add that the receiver must "send a new request to Huggy
containing the explicit token", without saying where: this module sends it,
after the answer has left. The target always comes from config
(``HUGGY_CONFIRM_URL``), never from the payload, and every attempt is bounded by
a timeout.
"""

from __future__ import annotations

import logging
import time

import requests

from ._version import __version__
from .config import Settings
from .errors import ConfirmationRefused, HuggyTimeout, HuggyUnreachable

logger = logging.getLogger("flask_huggy")

USER_AGENT = f"flask-huggy/{__version__}"
#: Pause before retry ``n`` (0-based) after a connection error: 0.2 s, 0.4 s, ...
RETRY_BACKOFF = 0.2


def confirm_token(token: str, settings: Settings, session: requests.Session | None = None) -> None:
    """Send ``token`` back to Huggy; raise a :class:`~flask_huggy.HandshakeError` on failure.

    Only connection errors (nothing reached Huggy) are retried, at most
    ``settings.confirm_retries`` times: a timeout or an answer means Huggy may
    have seen the request, and a second one would not be more convincing.
    """
    if settings.confirm_url is None:
        return
    http = session or requests
    attempts = settings.confirm_retries + 1
    for attempt in range(attempts):
        try:
            response = http.post(
                settings.confirm_url,
                json={"token": token},
                headers={**dict(settings.confirm_headers), "User-Agent": USER_AGENT},
                timeout=settings.confirm_timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise HuggyTimeout(
                f"Huggy did not answer the confirmation request within {settings.confirm_timeout:g} s."
            ) from None
        except requests.ConnectionError:
            if attempt + 1 < attempts:
                time.sleep(RETRY_BACKOFF * 2**attempt)
                continue
            raise HuggyUnreachable(f"Huggy could not be reached to confirm the token ({attempts} attempts).") from None
        except requests.RequestException as exc:
            raise HuggyUnreachable(f"The confirmation request could not be sent: {type(exc).__name__}.") from None
        if not 200 <= response.status_code < 300:
            raise ConfirmationRefused(
                f"Huggy answered the confirmation request with HTTP {response.status_code}.",
                huggy_status=response.status_code,
            )
        return
