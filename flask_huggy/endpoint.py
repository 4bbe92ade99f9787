"""What one app keeps for one webhook endpoint: settings, stores, the queue, handshake status.

Flask extensions keep their per-app state in ``app.extensions``; flask-huggy
keeps one :class:`Endpoint` per webhook there, under
``app.extensions["huggy"][<endpoint name>]``. It is built once, when the
webhook's blueprint is registered on the app, from the app's config as it is
then: the view, a Celery worker and ``flask huggy replay`` all pass it around.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask

from .api import HuggyAPI
from .config import SETTINGS, Settings, read_settings, unknown_keys
from .dedup import Deduplicator, make_deduplicator
from .errors import ConfigError
from .journal import Journal, shared_journal
from .safelog import printable

if TYPE_CHECKING:
    import requests

    from .events import Delivery

#: The key of ``app.extensions`` that holds every endpoint of the app, by name.
EXTENSION_KEY = "huggy"

logger = logging.getLogger("flask_huggy")
_SETTING_KEYS = tuple("_" + entry.key for entry in SETTINGS)


class Queue(Protocol):
    """Where the webhook hands deliveries that receivers run elsewhere (the Celery glue)."""

    def enqueue(self, delivery: Delivery, *, record_id: str | None) -> str:
        """Queue ``delivery``; return the task's id, or raise :class:`~flask_huggy.Unavailable`."""
        ...


@dataclass(eq=False)
class Endpoint:
    """One webhook endpoint of one app, built by :meth:`create` when its blueprint is registered."""

    #: The blueprint's name as registered (``"huggy"``): ``url_for(f"{name}.webhook")``.
    name: str
    #: The prefix of its config keys (``"HUGGY_"``).
    config_prefix: str
    app: Flask = field(repr=False)
    #: The settings, read once from the app's config: later changes are not seen.
    settings: Settings = field(repr=False)
    #: The de-duplicator ``HUGGY_DEDUP`` asks for (one store, one Redis pool), or ``None``.
    dedup: Deduplicator | None = field(default=None, repr=False)
    #: The journal of ``HUGGY_JOURNAL``, shared by the endpoints of the process that name its directory.
    journal: Journal | None = field(default=None, repr=False)
    #: Where deliveries go when receivers run on Celery workers (``Huggy(app, celery=...)``); ``None``:
    #: they run in the request.
    queue: Queue | None = field(default=None, repr=False)
    #: The ``requests`` session the handshake's confirmation request goes through; ``None``: plain
    #: ``requests``. A seam, not a setting: give it your own adapters (a proxy), and a test gives it a
    #: fake Huggy (:class:`~flask_huggy.testing.ConfirmationInterceptor`).
    http: requests.Session | None = field(default=None, repr=False)

    #: Set once the "no token configured" warning has been logged.
    warned_no_token: bool = False
    #: When a handshake was last answered with its token.
    handshake_at: datetime | None = None
    #: The outcome of the last confirmation request: ``True`` (Huggy took it),
    #: ``False`` (it failed), ``None`` (switched off, or no handshake yet).
    confirmed: bool | None = None
    #: When a confirmation request last succeeded.
    confirmed_at: datetime | None = None
    #: The last confirmation failure, as ``{"error": ..., "message": ...}``.
    last_handshake_error: dict[str, Any] | None = None
    #: When the last confirmation request was started (``time.monotonic()``).
    last_confirmation: float | None = None
    _api: HuggyAPI | None = field(default=None, repr=False)

    @property
    def api(self) -> HuggyAPI:
        """The endpoint's client for Huggy's REST API, built on first use from ``HUGGY_API_*``.

        Raises :class:`~flask_huggy.ConfigError` without ``HUGGY_API_TOKEN``. A
        seam as well: assign another client (the ``huggy_api`` fixture points it
        at a :class:`~flask_huggy.testing.FakeHuggyAPI`), or ``None`` to build it again.
        """
        if self._api is None:
            settings = self.settings
            if settings.api_token is None:
                raise ConfigError(
                    f"{self.config_prefix}API_TOKEN is not set: paste the API token of Huggy's panel there "
                    "to call Huggy's API."
                )
            self._api = HuggyAPI(
                settings.api_token,
                base_url=settings.api_url,
                company_id=settings.api_company,
                timezone=settings.timezone,
            )
        return self._api

    @api.setter
    def api(self, client: HuggyAPI | None) -> None:
        self._api = client

    @classmethod
    def create(cls, app: Flask, name: str, config_prefix: str) -> Endpoint:
        """Read and check the endpoint's settings, build its stores, and keep it in ``app.extensions``.

        Raises :class:`~flask_huggy.ConfigError` naming every unusable key, so that
        a broken value stops the app at startup instead of answering Huggy with 500s.
        """
        endpoints: dict[str, Endpoint] = app.extensions.setdefault(EXTENSION_KEY, {})
        if name in endpoints:
            raise ConfigError(f"The app already has a Huggy endpoint named {name!r}: give the second one another name.")
        settings = read_settings(app.config, config_prefix)
        for key, meant in unknown_keys(app.config, [config_prefix]).items():
            if not key.endswith(_SETTING_KEYS):  # HUGGY_B_WEBHOOK_TOKEN: another endpoint's, maybe not yet registered
                hint = f"did you mean {meant}?" if meant else "flask huggy check lists the settings"
                logger.warning("%s is in app.config but is no setting of flask-huggy (%s).", printable(key), hint)
        dedup = None
        if settings.dedup:
            dedup = make_deduplicator(
                settings.dedup, ttl=settings.dedup_ttl, lease=settings.dedup_lease, key=settings.dedup_key
            )
        journal = shared_journal(settings) if settings.journal else None
        endpoint = endpoints[name] = cls(name, config_prefix, app, settings, dedup, journal)
        return endpoint


def get_endpoint(app: Flask, name: str = "huggy") -> Endpoint:
    """The :class:`Endpoint` named ``name`` in ``app``; :class:`~flask_huggy.ConfigError` if none."""
    endpoints: dict[str, Endpoint] = app.extensions.get(EXTENSION_KEY, {})
    try:
        return endpoints[name]
    except KeyError:
        known = ", ".join(map(repr, endpoints)) or "none"
        raise ConfigError(
            f"The app has no Huggy endpoint named {name!r} (it has {known}): use Huggy(app) or "
            "register flask_huggy.blueprint first."
        ) from None


__all__ = ["EXTENSION_KEY", "Endpoint", "Queue", "get_endpoint"]
