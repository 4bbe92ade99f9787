"""Settings read from ``app.config``: the ``HUGGY_*`` keys and their defaults.

Settings are read when a request needs them, never copied at import time, so one
blueprint serves many apps, each with its own config. A second endpoint reads the
same keys under another prefix (``HUGGY_B_WEBHOOK_TOKEN`` for prefix ``HUGGY_B_``).
"""

from __future__ import annotations

from collections.abc import Mapping
import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError

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
    "ALLOWED_NETWORKS": None,
    "MAX_AGE": None,
    "DEDUP": False,
    "DEDUP_TTL": 24 * 3600,
    "DEDUP_LEASE": 300,
    "DEDUP_KEY": None,
    "JOURNAL": None,
    "JOURNAL_MAX_BYTES": 10 * 1024 * 1024,
    "JOURNAL_BACKUPS": 10,
}


@dataclass(frozen=True)
class Settings:
    """The settings of one webhook endpoint, as read from one app's config."""

    #: Accepted tokens; empty when none is configured (first setup).
    tokens: tuple[str, ...]
    timezone: ZoneInfo
    strict: bool
    max_content_length: int
    confirm_url: str
    confirm_timeout: float
    confirm_retries: int
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


def read_settings(config: Mapping[str, Any], prefix: str = "HUGGY_") -> Settings:
    """Build :class:`Settings` from a Flask config mapping, filling in defaults."""

    def get(key: str) -> Any:
        return config.get(prefix + key, DEFAULTS[key])

    return Settings(
        tokens=_tokens(get("WEBHOOK_TOKEN"), prefix),
        timezone=_timezone(get("TIMEZONE"), prefix),
        strict=bool(get("STRICT")),
        max_content_length=int(get("MAX_CONTENT_LENGTH")),
        confirm_url=str(get("CONFIRM_URL")),
        confirm_timeout=float(get("CONFIRM_TIMEOUT")),
        confirm_retries=max(0, int(get("CONFIRM_RETRIES"))),
        allowed_networks=_networks(get("ALLOWED_NETWORKS"), prefix),
        max_age=_max_age(get("MAX_AGE"), prefix),
        dedup=get("DEDUP"),
        dedup_ttl=float(get("DEDUP_TTL")),
        dedup_lease=float(get("DEDUP_LEASE")),
        dedup_key=get("DEDUP_KEY"),
        journal=str(get("JOURNAL")) if get("JOURNAL") else None,
        journal_max_bytes=int(get("JOURNAL_MAX_BYTES")),
        journal_backups=int(get("JOURNAL_BACKUPS")),
    )


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
