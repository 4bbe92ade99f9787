"""Settings read from ``app.config``: the ``HUGGY_*`` keys and their defaults.

Settings are read when a request needs them, never copied at import time, so one
blueprint serves many apps, each with its own config. A second endpoint reads the
same keys under another prefix (``HUGGY_B_WEBHOOK_TOKEN`` for prefix ``HUGGY_B_``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .jsondecoders import resolve_decoder

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Where the confirmation request goes. Huggy's public docs say only that the
#: receiver must "send a new request to Huggy containing the explicit token";
#: they do not print the endpoint, so this default is our best reading of
#: Huggy's API v3 and can be changed with ``HUGGY_CONFIRM_URL``.
DEFAULT_CONFIRM_URL = "https://api.huggy.app/v3/webhook/validate"

#: Key (without prefix) -> default value. README's configuration table lists these.
DEFAULTS: dict[str, Any] = {
    "WEBHOOK_TOKEN": None,
    "TIMEZONE": "America/Sao_Paulo",
    "STRICT": False,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "CONFIRM_URL": DEFAULT_CONFIRM_URL,
    "CONFIRM_TIMEOUT": 5.0,
    "CONFIRM_RETRIES": 2,
    "CONFIRM_HEADERS": None,
    "ALLOW_UNAUTHENTICATED": False,
    "ALLOWED_NETWORKS": None,
    "MAX_AGE": None,
    "DEDUP": False,
    "DEDUP_TTL": 24 * 3600,
    "DEDUP_LEASE": 300,
    "DEDUP_KEY": None,
    "JOURNAL": None,
    "JOURNAL_MAX_BYTES": 10 * 1024 * 1024,
    "JOURNAL_BACKUPS": 10,
    "DISPATCH": "sync",
    "CELERY_MAX_RETRIES": 5,
    "CELERY_RETRY_BACKOFF": 2.0,
    "CELERY_RETRY_BACKOFF_MAX": 300.0,
    "CELERY_ENQUEUE_TIMEOUT": 2.0,
    "JSON_DECODER": "auto",
}

#: The values ``HUGGY_DISPATCH`` takes: run receivers in the request, or on Celery workers.
DISPATCH_MODES = ("sync", "celery")


@dataclass(frozen=True)
class Settings:
    """The settings of one webhook endpoint, as read from one app's config."""

    #: Accepted tokens; empty when none is configured (first setup).
    tokens: tuple[str, ...]
    timezone: ZoneInfo
    strict: bool
    max_content_length: int
    #: Where the token goes after a handshake; ``None`` when the request is switched off.
    confirm_url: str | None
    confirm_timeout: float
    confirm_retries: int
    #: Extra headers of the confirmation request (e.g. an API token of a Huggy app).
    confirm_headers: tuple[tuple[str, str], ...] = ()
    #: Accept deliveries while no token is configured (first setup, local demos only).
    allow_unauthenticated: bool = False
    #: Source networks allowed to post; empty means any.
    allowed_networks: tuple[IPNetwork, ...] = ()
    #: Oldest acceptable delivery ``time``, in seconds before now; ``None`` means any.
    max_age: float | None = None
    #: ``False``, ``"memory"``, a ``redis://`` URL, or a store object.
    dedup: Any = False
    dedup_ttl: float = 24 * 3600
    #: How long a worker may hold an event before another may take it over.
    dedup_lease: float = 300
    #: ``(event, delivery, index) -> str``; ``None`` for the default key.
    dedup_key: Any = None
    #: Directory of the delivery journal; ``None`` when off.
    journal: str | None = None
    journal_max_bytes: int = 10 * 1024 * 1024
    journal_backups: int = 10
    #: ``"sync"`` (receivers run in the request) or ``"celery"`` (the request only enqueues).
    dispatch: str = "sync"
    #: Retries of a delivery whose receiver raised, on the Celery worker, before it is dead-lettered.
    celery_max_retries: int = 5
    #: Seconds before the first retry; each next one waits twice as long, up to the max.
    celery_retry_backoff: float = 2.0
    celery_retry_backoff_max: float = 300.0
    #: Seconds the webhook may spend reaching the broker before it answers 503.
    celery_enqueue_timeout: float = 2.0
    #: ``"jiter"`` or ``"stdlib"``: what reads request bodies (``"auto"`` resolved).
    json_decoder: str = "stdlib"


def read_settings(config: Mapping[str, Any], prefix: str = "HUGGY_") -> Settings:
    """Build :class:`Settings` from a Flask config mapping, filling in defaults."""

    def get(key: str) -> Any:
        return config.get(prefix + key, DEFAULTS[key])

    return Settings(
        tokens=_tokens(get("WEBHOOK_TOKEN"), prefix),
        timezone=_timezone(get("TIMEZONE"), prefix),
        strict=bool(get("STRICT")),
        max_content_length=int(get("MAX_CONTENT_LENGTH")),
        confirm_url=_confirm_url(get("CONFIRM_URL"), prefix),
        confirm_timeout=float(get("CONFIRM_TIMEOUT")),
        confirm_retries=max(0, int(get("CONFIRM_RETRIES"))),
        confirm_headers=_confirm_headers(get("CONFIRM_HEADERS"), prefix),
        allow_unauthenticated=bool(get("ALLOW_UNAUTHENTICATED")),
        allowed_networks=_networks(get("ALLOWED_NETWORKS"), prefix),
        max_age=_max_age(get("MAX_AGE"), prefix),
        dedup=get("DEDUP"),
        dedup_ttl=float(get("DEDUP_TTL")),
        dedup_lease=float(get("DEDUP_LEASE")),
        dedup_key=get("DEDUP_KEY"),
        journal=str(get("JOURNAL")) if get("JOURNAL") else None,
        journal_max_bytes=int(get("JOURNAL_MAX_BYTES")),
        journal_backups=int(get("JOURNAL_BACKUPS")),
        dispatch=_dispatch(get("DISPATCH"), prefix),
        celery_max_retries=int(_non_negative(get("CELERY_MAX_RETRIES"), prefix + "CELERY_MAX_RETRIES")),
        celery_retry_backoff=_non_negative(get("CELERY_RETRY_BACKOFF"), prefix + "CELERY_RETRY_BACKOFF"),
        celery_retry_backoff_max=_non_negative(get("CELERY_RETRY_BACKOFF_MAX"), prefix + "CELERY_RETRY_BACKOFF_MAX"),
        celery_enqueue_timeout=_positive(get("CELERY_ENQUEUE_TIMEOUT"), prefix + "CELERY_ENQUEUE_TIMEOUT"),
        json_decoder=_json_decoder(get("JSON_DECODER"), prefix),
    )


def _confirm_url(value: Any, prefix: str) -> str | None:
    # None, "" and False all mean "send no confirmation request".
    if value is None or value is False or value == "":
        return None
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise ConfigError(
            f"{prefix}CONFIRM_URL must be an http(s) URL, or None to switch the confirmation request off; "
            f"got {value!r}"
        )
    return value


def _confirm_headers(value: Any, prefix: str) -> tuple[tuple[str, str], ...]:
    if not value:
        return ()
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ConfigError(f"{prefix}CONFIRM_HEADERS must be a dict of str header names to str values")
    return tuple(value.items())


def _json_decoder(value: Any, prefix: str) -> str:
    try:
        return resolve_decoder(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{prefix}JSON_DECODER {exc}") from None


def _tokens(value: Any, prefix: str) -> tuple[str, ...]:
    # One string, or a collection of them (rotation: old and new token both valid).
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (bytes, bytearray)):
        raise ConfigError(f"{prefix}WEBHOOK_TOKEN must be a str or a collection of str, not bytes")
    try:
        tokens = tuple(value)
    except TypeError:
        raise ConfigError(f"{prefix}WEBHOOK_TOKEN must be a str or a collection of str") from None
    if not all(isinstance(t, str) and t for t in tokens):
        raise ConfigError(f"every {prefix}WEBHOOK_TOKEN entry must be a non-empty str")
    return tokens


def _timezone(value: Any, prefix: str) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{prefix}TIMEZONE {value!r} is not an IANA time zone name") from None


def _networks(value: Any, prefix: str) -> tuple[IPNetwork, ...]:
    if not value:
        return ()
    entries = tuple(value.replace(",", " ").split()) if isinstance(value, str) else tuple(value)
    return _parse_networks(entries, prefix)


@lru_cache(maxsize=32)
def _parse_networks(entries: tuple[Any, ...], prefix: str) -> tuple[IPNetwork, ...]:
    # Parsed once per distinct setting: ip_network() is too slow for every request.
    try:
        return tuple(ipaddress.ip_network(str(entry).strip(), strict=False) for entry in entries)
    except ValueError as exc:
        raise ConfigError(f"{prefix}ALLOWED_NETWORKS: {exc}") from None


def _max_age(value: Any, prefix: str) -> float | None:
    if value is None or value is False:
        return None
    try:
        seconds = float(value.total_seconds() if hasattr(value, "total_seconds") else value)
    except (TypeError, ValueError):
        raise ConfigError(f"{prefix}MAX_AGE must be a number of seconds or a timedelta") from None
    if not seconds > 0:
        raise ConfigError(f"{prefix}MAX_AGE must be positive")
    return seconds


def _dispatch(value: Any, prefix: str) -> str:
    # A typo ("Celery ", "async") must not silently run receivers in the request.
    if value not in DISPATCH_MODES:
        raise ConfigError(f"{prefix}DISPATCH must be one of {', '.join(map(repr, DISPATCH_MODES))}, not {value!r}")
    return str(value)


def _non_negative(value: Any, key: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number") from None
    if not number >= 0:  # also refuses NaN
        raise ConfigError(f"{key} must be 0 or more")
    return number


def _positive(value: Any, key: str) -> float:
    number = _non_negative(value, key)
    if number == 0:
        raise ConfigError(f"{key} must be more than 0")
    return number


_MISSING = object()
_MISSINGS = (_MISSING,) * len(DEFAULTS)
_SNAPSHOT_TYPES = (list, set, dict, bytearray)


def raw_settings(config: Mapping[str, Any], prefix: str = "HUGGY_") -> tuple[Any, ...]:
    """The raw ``HUGGY_*`` values of ``config``, in :data:`DEFAULTS` order: what a settings cache compares."""
    return tuple(map(config.get, _prefixed_keys(prefix), _MISSINGS))  # map over dict.get: no Python frame per key


def snapshot(raw: tuple[Any, ...]) -> tuple[Any, ...]:
    """``raw`` with its mutable values copied, so that a change made in place is seen."""
    return tuple(value.copy() if isinstance(value, _SNAPSHOT_TYPES) else value for value in raw)


def settings_for(app: Any, prefix: str = "HUGGY_") -> Settings:
    """The settings of ``app``'s endpoint that reads ``prefix`` keys (see :attr:`Endpoint.settings
    <flask_huggy.endpoint.Endpoint.settings>`), rebuilt only when a value changed."""
    from .endpoint import endpoint_by_prefix

    return endpoint_by_prefix(app, prefix).settings


@lru_cache(maxsize=64)
def _prefixed_keys(prefix: str) -> tuple[str, ...]:
    return tuple(prefix + key for key in DEFAULTS)
