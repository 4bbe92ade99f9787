"""What one app keeps for one webhook endpoint: settings, stores, handshake status.

Flask extensions keep their per-app state in ``app.extensions``; flask-huggy
keeps one :class:`Endpoint` per webhook there, under
``app.extensions["huggy"][<endpoint name>]``. Everything that used to be looked up
by a config prefix (the settings snapshot, the de-duplication store, the journal,
the Celery producer, the handshake's outcome) hangs off that one object, so the
view, a Celery worker and ``flask huggy replay`` all pass the endpoint around
instead of loose strings.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests
from flask import Flask

from .config import Settings, raw_settings, read_settings, snapshot
from .errors import ConfigError

if TYPE_CHECKING:
    from .celery import CeleryState
    from .dedup import Deduplicator
    from .journal import Journal

#: The key of ``app.extensions`` that holds every endpoint of the app, by name.
EXTENSION_KEY = "huggy"
#: Seconds before an endpoint without a configured token confirms the same token again.
CONFIRM_INTERVAL = 60.0
#: Tokens remembered for that, at most: an attacker's stream of new tokens is bounded too.
_MAX_REMEMBERED = 1000


@dataclass(eq=False)
class Endpoint:
    """One webhook endpoint of one app.

    Built when the endpoint's blueprint is registered on the app, and found again
    with :func:`get_endpoint`. Its settings are read from ``app.config`` under
    :attr:`config_prefix` when needed, and rebuilt when a value changes, so one
    blueprint serves many apps and tests may change the config between requests.
    """

    #: The blueprint's name (``"huggy"``): ``url_for(f"{name}.webhook")``.
    name: str
    #: The prefix of its config keys (``"HUGGY_"``).
    config_prefix: str
    app: Flask = field(repr=False)

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

    #: What :func:`~flask_huggy.init_celery` registered for this endpoint.
    celery: CeleryState | None = field(default=None, repr=False)
    #: The ``requests`` session the handshake's confirmation request goes
    #: through; ``None``: plain ``requests``. A seam, not a setting: give it
    #: your own adapters (a proxy, retries), and a test gives it a fake Huggy
    #: (:class:`~flask_huggy.testing.ConfirmationInterceptor` with ``app``)
    #: instead of patching ``requests`` for the whole process.
    http: requests.Session | None = field(default=None, repr=False)

    _settings: tuple[tuple[Any, ...], Settings] | None = field(default=None, repr=False)
    _dedup: tuple[Any, Deduplicator] | None = field(default=None, repr=False)
    _journal: tuple[str, Journal] | None = field(default=None, repr=False)
    #: Digest of a token -> when its confirmation request was last sent (time.monotonic()).
    _confirmations: dict[str, float] = field(default_factory=dict, repr=False)

    def may_confirm(self, token: str) -> bool:
        """Whether a confirmation request may be sent for ``token`` now: once per token per minute.

        Only asked while no token is configured, when anyone can post a handshake.
        """
        now = time.monotonic()
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        last = self._confirmations.get(digest)
        if last is not None and now - last < CONFIRM_INTERVAL:
            return False
        if len(self._confirmations) >= _MAX_REMEMBERED:
            self._confirmations = {k: t for k, t in self._confirmations.items() if now - t < CONFIRM_INTERVAL}
            if len(self._confirmations) >= _MAX_REMEMBERED:
                return False  # a flood of fresh tokens: none is sent until it ebbs
        self._confirmations[digest] = now
        return True

    @property
    def settings(self) -> Settings:
        """The endpoint's :class:`~flask_huggy.config.Settings`, rebuilt only when a value changed.

        Building them (token tuples, zone lookup, network parsing) costs more than
        the rest of a small delivery; comparing the raw values with those of the
        last build costs a few dict lookups. Mutable values are compared with a
        copy taken at build time, so ``config["HUGGY_WEBHOOK_TOKEN"].append(...)``
        is seen too.
        """
        raw = raw_settings(self.app.config, self.config_prefix)
        cached = self._settings
        if cached is not None and cached[0] == raw:
            return cached[1]
        settings = read_settings(self.app.config, self.config_prefix)
        self._settings = (snapshot(raw), settings)
        return settings

    @property
    def dedup(self) -> Deduplicator | None:
        """The de-duplicator ``HUGGY_DEDUP`` asks for, built once (one store, one Redis pool)."""
        return self.dedup_for(self.settings)

    def dedup_for(self, settings: Settings) -> Deduplicator | None:
        """:attr:`dedup` for settings the caller has just read (one config check per request)."""
        if not settings.dedup:
            return None
        setting = settings.dedup
        ident = (
            setting if isinstance(setting, str) else id(setting),
            settings.dedup_ttl,
            settings.dedup_lease,
            settings.dedup_key,
        )
        cached = self._dedup
        if cached is not None and cached[0] == ident:
            return cached[1]
        from .dedup import make_deduplicator

        deduplicator = make_deduplicator(
            setting, ttl=settings.dedup_ttl, lease=settings.dedup_lease, key=settings.dedup_key
        )
        self._dedup = (ident, deduplicator)
        return deduplicator

    @property
    def journal(self) -> Journal | None:
        """The journal of ``HUGGY_JOURNAL``, or ``None`` when it is unset.

        Endpoints and apps of one process that name the same directory share one
        journal (one file), with the size limits of the first.
        """
        return self.journal_for(self.settings)

    def journal_for(self, settings: Settings) -> Journal | None:
        """:attr:`journal` for settings the caller has just read."""
        if not settings.journal:
            return None
        cached = self._journal
        if cached is not None and cached[0] == settings.journal:
            return cached[1]
        from .journal import shared_journal

        journal = shared_journal(settings)
        self._journal = (settings.journal, journal)
        return journal


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


def add_endpoint(app: Flask, name: str, config_prefix: str) -> Endpoint:
    """Create ``app``'s :class:`Endpoint` ``name`` (or return it, registered again)."""
    endpoints: dict[str, Endpoint] = app.extensions.setdefault(EXTENSION_KEY, {})
    endpoint = endpoints.get(name)
    if endpoint is None or endpoint.config_prefix != config_prefix:
        endpoint = endpoints[name] = Endpoint(name, config_prefix, app)
    return endpoint


def endpoint_by_prefix(app: Flask, config_prefix: str) -> Endpoint:
    """The endpoint of ``app`` that reads ``config_prefix`` keys (made if none was registered)."""
    endpoints: dict[str, Endpoint] = app.extensions.setdefault(EXTENSION_KEY, {})
    for endpoint in endpoints.values():
        if endpoint.config_prefix == config_prefix:
            return endpoint
    name = "huggy" if config_prefix == "HUGGY_" else config_prefix.rstrip("_").lower()
    return add_endpoint(app, name, config_prefix)


__all__ = ["EXTENSION_KEY", "Endpoint", "add_endpoint", "endpoint_by_prefix", "get_endpoint"]
