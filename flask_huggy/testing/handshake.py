"""Huggy's side of the handshake: answer the app's confirmation request in Huggy's place.

After answering Huggy's URL check, the app sends the token back to Huggy
(:func:`flask_huggy.handshake.confirm_token`). A test must see that request and
choose Huggy's answer without anything leaving the process:
:class:`ConfirmationInterceptor` does both.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, Any

import requests
from requests import PreparedRequest, Response
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from ..endpoint import EXTENSION_KEY
from ..handshake import confirmations

if TYPE_CHECKING:
    from flask import Flask

    from ..endpoint import Endpoint


@dataclass(frozen=True)
class ConfirmationRequest:
    """One confirmation request the app sent to Huggy (and that never left the process)."""

    method: str
    url: str
    headers: dict[str, str]
    #: The JSON body, ``{"token": ...}`` when the library sent it.
    json: Any
    #: The timeout the app gave ``requests``.
    timeout: Any

    @property
    def token(self) -> Any:
        return self.json.get("token") if isinstance(self.json, dict) else None


class ConfirmationInterceptor:
    """Answers, in place of Huggy, the confirmation request the handshake sends.

    While active (``with ConfirmationInterceptor(app=app) as huggy: ...``, or
    the ``huggy_confirm`` fixture), the app's confirmation requests never leave
    the process: they are recorded in :attr:`requests` and answered with the
    status chosen by :meth:`respond` (200 by default), or fail with the error
    given to :meth:`fail`.

    The interceptor gives each Huggy endpoint of ``app`` a ``requests`` session
    of its own (:attr:`Endpoint.http <flask_huggy.endpoint.Endpoint.http>`),
    whose transport answers in Huggy's place, and puts the endpoints' sessions
    back when it stops. Nothing global changes: other requests, other apps and
    ``responses`` are untouched. The library's own confirmation code runs
    unchanged: its URL, body, headers, timeout, retries and refusal of
    redirects included. Confirmations are sent off the request's thread;
    :attr:`requests` waits for those already queued.
    """

    def __init__(self, status: int = 200, json: Any = None, *, app: Flask) -> None:
        self._requests: list[ConfirmationRequest] = []
        #: The app whose endpoints get the session.
        self.app = app
        self._status = status
        self._json = json
        self._headers: dict[str, str] = {}
        self._error: BaseException | None = None
        self._active = False
        # The session installed, and each endpoint's session before it.
        self._session: requests.Session | None = None
        self._replaced: list[tuple[Endpoint, requests.Session | None]] = []

    @property
    def requests(self) -> list[ConfirmationRequest]:
        """Every confirmation request intercepted, in order (retries included), once those queued are sent."""
        confirmations.join()
        return self._requests

    def respond(self, status: int = 200, json: Any = None, *, headers: Mapping[str, str] | None = None) -> None:
        """Answer the next confirmations with HTTP ``status`` (and a JSON body, and headers)."""
        self._status, self._json, self._headers, self._error = status, json, dict(headers or {}), None

    def fail(self, error: BaseException | type[BaseException]) -> None:
        """Make the next confirmations fail, e.g. with ``requests.ReadTimeout`` or ``requests.ConnectionError``."""
        self._error = error() if isinstance(error, type) else error

    @property
    def tokens(self) -> list[Any]:
        """The tokens the app sent to Huggy, in order."""
        return [r.token for r in self.requests]

    def start(self) -> None:
        if self._active:
            raise RuntimeError("This interceptor is already active.")
        self._install_session(self.app)
        self._active = True

    def stop(self) -> None:
        if not self._active:
            return
        self._active = False
        for endpoint, previous in reversed(self._replaced):
            endpoint.http = previous
        self._replaced.clear()
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> ConfirmationInterceptor:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _install_session(self, app: Flask) -> None:
        endpoints: dict[str, Endpoint] = app.extensions.get(EXTENSION_KEY, {})
        if not endpoints:
            raise LookupError(
                f"The app {app.name!r} has no Huggy endpoint to intercept: register flask_huggy.blueprint "
                "(or use Huggy(app)) before starting the interceptor."
            )
        session = self._session = requests.Session()
        adapter = _HuggyAdapter(self)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        for endpoint in endpoints.values():
            self._replaced.append((endpoint, endpoint.http))
            endpoint.http = session

    def _answer(self, adapter: BaseAdapter, request: PreparedRequest, timeout: Any) -> Response:
        body = request.body.decode("utf-8") if isinstance(request.body, bytes) else request.body
        sent: Any = body
        if isinstance(body, str):
            try:
                sent = json.loads(body) if body else None
            except ValueError:
                pass
        headers = {
            key: value if isinstance(value, str) else value.decode("latin-1") for key, value in request.headers.items()
        }
        self._requests.append(ConfirmationRequest(str(request.method), str(request.url), headers, sent, timeout))
        if self._error is not None:
            raise self._error
        content = b"" if self._json is None else json.dumps(self._json).encode("utf-8")
        response = Response()
        response.status_code = self._status
        response.reason = _reason(self._status)
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"} if content else {})
        response.headers.update(self._headers)
        response._content = content
        response.raw = io.BytesIO(content)
        response.encoding = "utf-8"
        response.url = str(request.url)
        response.request = request
        response.connection = adapter  # type: ignore[assignment]  # requests types it HTTPAdapter; any adapter does
        return response


class _HuggyAdapter(BaseAdapter):
    """A ``requests`` transport that opens no connection: the interceptor answers in Huggy's place."""

    def __init__(self, interceptor: ConfirmationInterceptor) -> None:
        super().__init__()
        self._interceptor = interceptor

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> Response:
        return self._interceptor._answer(self, request, timeout)

    def close(self) -> None:
        pass


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


__all__ = ["ConfirmationInterceptor", "ConfirmationRequest"]
