"""pytest fixtures for apps built on flask-huggy, loaded through the ``pytest11`` entry point.

Installing flask-huggy makes them available to every test suite; nothing is
autouse, so a suite that does not ask for them is not touched. They compose like
pytest-flask's: ``huggy_app`` (your ``app`` fixture) -> ``huggy_client`` ->
``post_huggy``.

- ``huggy_delivery``: builds deliveries shaped like Huggy's, with your app's token.
- ``huggy_client`` / ``post_huggy``: posts them to your app's webhook.
- ``huggy_signals``: records every flask-huggy signal sent during the test.
- ``huggy_confirm``: answers the handshake's confirmation request in Huggy's place.
- ``huggy_api``: a fake of Huggy's REST API that the app's client (``huggy.api``,
  ``event.reply``) talks to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask

from .api import HuggyAPI
from .endpoint import get_endpoint
from .testing import (
    SAMPLE_TOKEN,
    ConfirmationInterceptor,
    EventLike,
    FakeHuggyAPI,
    HuggyEvent,
    SignalRecorder,
    build_delivery,
    build_event,
    configured_token,
    post_delivery,
    post_handshake,
)

if TYPE_CHECKING:
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

_DEFAULT_TIMEZONE = "America/Sao_Paulo"


class DeliveryBuilder:
    """:func:`~flask_huggy.testing.build_delivery` with the app's token and time zone filled in.

    The app is looked up (``find_app``) when a delivery is built, not before;
    without one, deliveries get :data:`~flask_huggy.testing.SAMPLE_TOKEN` and
    ``America/Sao_Paulo``.
    """

    def __init__(self, find_app: Callable[[], Flask | None] = lambda: None, endpoint: str = "huggy") -> None:
        self._find_app = find_app
        self.endpoint = endpoint

    @property
    def token(self) -> str:
        """The token deliveries get unless given one."""
        app = self._find_app()
        return (configured_token(app, self.endpoint) if app is not None else None) or SAMPLE_TOKEN

    @property
    def timezone(self) -> str | tzinfo:
        """The time zone of the timestamps (the app's ``HUGGY_TIMEZONE``)."""
        app = self._find_app()
        return get_endpoint(app, self.endpoint).settings.timezone if app is not None else _DEFAULT_TIMEZONE

    def __call__(
        self, *events: EventLike, token: str | None = None, time: datetime | float | None = None
    ) -> dict[str, Any]:
        return build_delivery(*events, token=token or self.token, time=time, timezone=self.timezone)

    def event(self, name: str, /, **fields: Any) -> HuggyEvent:
        """:func:`~flask_huggy.testing.build_event` in the app's time zone."""
        fields.setdefault("timezone", self.timezone)
        return build_event(name, **fields)


class HuggyPoster:
    """Posts deliveries (or the handshake) to the app's webhook; see :func:`~flask_huggy.testing.post_delivery`."""

    def __init__(self, client: FlaskClient, endpoint: str = "huggy") -> None:
        self.client = client
        self.endpoint = endpoint

    def __call__(
        self,
        *events: EventLike | Mapping[str, Any],
        token: str | None = None,
        time: datetime | float | None = None,
    ) -> TestResponse:
        return post_delivery(self.client, *events, token=token, time=time, endpoint=self.endpoint)

    def handshake(self, token: str | None = None) -> TestResponse:
        """Post Huggy's URL check; use it with ``huggy_confirm`` so nothing reaches Huggy."""
        return post_handshake(self.client, token, endpoint=self.endpoint)


@pytest.fixture
def huggy_app(request: pytest.FixtureRequest) -> Flask:
    """The app under test: your ``app`` fixture (pytest-flask's convention).

    Override this fixture if your app fixture has another name.
    """
    try:
        app = request.getfixturevalue("app")
    except pytest.FixtureLookupError:
        pytest.fail(
            "flask-huggy's fixtures need the Flask app under test: define an `app` fixture "
            "(as pytest-flask does) or override `huggy_app`.",
            pytrace=False,
        )
    if not isinstance(app, Flask):
        pytest.fail(f"The `app` fixture returned {type(app).__name__}, not a Flask app.", pytrace=False)
    return app


@pytest.fixture
def huggy_client(huggy_app: Flask) -> FlaskClient:
    """A test client of the app under test."""
    return huggy_app.test_client()


@pytest.fixture
def post_huggy(huggy_client: FlaskClient) -> HuggyPoster:
    """Posts a delivery to the app's webhook: ``post_huggy("closedChat")``, ``post_huggy.handshake()``."""
    return HuggyPoster(huggy_client)


@pytest.fixture
def huggy_delivery(request: pytest.FixtureRequest) -> DeliveryBuilder:
    """Builds deliveries: ``huggy_delivery("startedChat", huggy_delivery.event("closedChat", id=5))``.

    The token and time zone come from the ``app`` fixture when there is one; the
    app is only looked up when a delivery is built.
    """
    return DeliveryBuilder(lambda: _app_if_any(request))


@pytest.fixture
def huggy_signals() -> Iterator[SignalRecorder]:
    """Records every flask-huggy signal sent during the test, from any app.

    ``huggy_signals.names()`` lists them in order; ``huggy_signals.events("closed_chat")``
    gives the events one signal got (attribute or Huggy name).
    """
    with SignalRecorder() as recorder:
        yield recorder


@pytest.fixture
def huggy_confirm(huggy_app: Flask) -> Iterator[ConfirmationInterceptor]:
    """Answers the handshake's confirmation request in Huggy's place (HTTP 200 unless told).

    ``huggy_confirm.respond(404)`` or ``huggy_confirm.fail(requests.ReadTimeout)``
    change the answer; ``huggy_confirm.requests`` / ``.tokens`` tell what the app sent.
    The app under test (``huggy_app``) gets a fake Huggy of its own; nothing global
    is patched.
    """
    with ConfirmationInterceptor(app=huggy_app) as interceptor:
        yield interceptor


@pytest.fixture
def huggy_api(huggy_app: Flask) -> Iterator[FakeHuggyAPI]:
    """A :class:`~flask_huggy.testing.FakeHuggyAPI`, started, that the app's client talks to; stopped after the test.

    ``huggy.api``, ``delivery.endpoint.api`` and ``event.reply`` of the app under test
    (``huggy_app``, its ``"huggy"`` endpoint) reach it over real HTTP, with the
    app's ``HUGGY_TIMEZONE``; retries wait 10 ms rather than 0.5 s.
    ``huggy_api.requests`` is what they sent, ``huggy_api.add_chat()`` sets the scene,
    ``huggy_api.fail_next(429, retry_after=0)`` makes Huggy refuse.
    """
    endpoint = get_endpoint(huggy_app)
    previous = endpoint._api
    with FakeHuggyAPI() as fake:
        endpoint.api = HuggyAPI(fake.token, base_url=fake.url, timezone=endpoint.settings.timezone, backoff=0.01)
        try:
            yield fake
        finally:
            endpoint.api = previous


def _app_if_any(request: pytest.FixtureRequest) -> Flask | None:
    """The app under test (``huggy_app``), or ``None`` in a suite that has none."""
    try:
        app: Flask = request.getfixturevalue("huggy_app")
    except (pytest.FixtureLookupError, pytest.fail.Exception):
        return None
    return app
