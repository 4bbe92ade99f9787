"""Settings read from ``app.config``: the ``HUGGY_*`` keys, their defaults and their parsers.

Each setting is declared once, in :data:`SETTINGS`: its key, its default, and the
parser that turns a config value into what :class:`Settings` holds or raises a
:class:`~flask_huggy.ConfigError` naming the key, the value and the fix.
:data:`DEFAULTS` is derived from it.

Settings are read when a request needs them, never copied at import time, so one
blueprint serves many apps, each with its own config. A second endpoint reads the
same keys under another prefix (``HUGGY_B_WEBHOOK_TOKEN`` for prefix ``HUGGY_B_``).
Registering the blueprint (and :func:`~flask_huggy.init_celery`) reads them once
with :func:`check_settings`, so that a broken value stops the app at startup
instead of answering Huggy's first delivery with a 500.

Values often come from environment variables, as strings: booleans read
``"true"``/``"false"``, ``"1"``/``"0"`` and ``"yes"``/``"no"`` (any case), numbers
read numeric strings, and anything else is refused rather than guessed
(``bool("false")`` is true).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .auth import mask_token
from .envelope import JSON_DECODERS, resolve_decoder
from .errors import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: ``(value, prefixed key) -> parsed value``; raises :class:`ConfigError` naming the key.
Parser = Callable[[Any, str], Any]

#: Where the confirmation request goes. Huggy's public docs say only that the
#: receiver must "send a new request to Huggy containing the explicit token";
#: they do not print the endpoint, so this default is our best reading of
#: Huggy's API v3 and can be changed with ``HUGGY_CONFIRM_URL``.
DEFAULT_CONFIRM_URL = "https://api.huggy.app/v3/webhook/validate"

#: The values ``HUGGY_DISPATCH`` takes: run receivers in the request, or on Celery workers.
DISPATCH_MODES = ("sync", "celery")


@dataclass(frozen=True)
class Settings:
    """The settings of one webhook endpoint, as read from one app's config.

    Built by :func:`read_settings`; each attribute is what the parser of its
    setting in :data:`SETTINGS` returned.
    """

    #: Accepted tokens; empty when none is configured (first setup).
    tokens: tuple[str, ...]
    timezone: ZoneInfo
    strict: bool
    max_content_length: int
    #: How deeply a body may nest; deeper is a 400 ``too_deep``.
    max_depth: int
    #: How many events one delivery may carry; more is a 413 ``too_many_events``.
    max_events: int
    #: Where the token goes after a handshake; ``None`` when the request is switched off.
    confirm_url: str | None
    confirm_timeout: float
    confirm_retries: int
    #: Extra headers of the confirmation request (e.g. an API token of a Huggy app).
    confirm_headers: tuple[tuple[str, str], ...]
    #: Accept deliveries while no token is configured (first setup, local demos only).
    allow_unauthenticated: bool
    #: Source networks allowed to post; empty means any.
    allowed_networks: tuple[IPNetwork, ...]
    #: Oldest acceptable delivery ``time``, in seconds before now; ``None`` means any.
    max_age: float | None
    #: ``False``, ``"memory"``, a ``redis://`` URL, or a store object.
    dedup: Any
    dedup_ttl: float
    #: How long a worker may hold an event before another may take it over.
    dedup_lease: float
    #: ``(event, delivery, index) -> str``; ``None`` for the default key.
    dedup_key: Any
    #: Directory of the delivery journal; ``None`` when off.
    journal: str | None
    journal_max_bytes: int
    journal_backups: int
    #: ``"sync"`` (receivers run in the request) or ``"celery"`` (the request only enqueues).
    dispatch: str
    #: Retries of a delivery whose receiver raised, on the Celery worker, before it is dead-lettered.
    celery_max_retries: int
    #: Seconds before the first retry; each next one waits twice as long, up to the max.
    celery_retry_backoff: float
    celery_retry_backoff_max: float
    #: Seconds the webhook waits for a broker that does not answer before it answers 503 (twice this at most).
    celery_enqueue_timeout: float
    #: ``"jiter"`` or ``"stdlib"``: what reads request bodies (``"auto"`` resolved).
    json_decoder: str


# --- Showing values in messages ----------------------------------------------------------------


def show_value(value: Any) -> str:
    """``repr(value)`` for a message, shortened, with a URL's password hidden."""
    if isinstance(value, str) and "://" in value:
        try:
            parts = urlsplit(value)
            if parts.password:
                value = value.replace(f":{parts.password}@", ":****@", 1)
        except ValueError:
            pass
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def show_tokens(value: Any) -> str:
    """A ``HUGGY_WEBHOOK_TOKEN`` value with each token masked (:func:`~flask_huggy.mask_token`)."""
    if isinstance(value, str):
        return repr(mask_token(value)) if value else "''"
    if value is None:
        return "None"
    try:
        entries = list(value)
    except TypeError:
        return f"<{type(value).__name__}>"
    shown = (
        repr(mask_token(t)) if isinstance(t, str) and t else "''" if t == "" else f"<{type(t).__name__}>"
        for t in entries
    )
    return f"[{', '.join(shown)}]"


def show_headers(value: Any) -> str:
    """A ``HUGGY_CONFIRM_HEADERS`` value with each header value masked: they hold API tokens."""
    if not isinstance(value, Mapping):
        return "None" if value is None else f"<{type(value).__name__}>"
    return "{" + ", ".join(f"{name!r}: {mask_token(text)!r}" for name, text in value.items()) + "}"


def _invalid(key: str, value: Any, problem: str, fix: str, shown: str | None = None) -> ConfigError:
    """The error of a setting: ``KEY = value: what is wrong; how to fix it``."""
    return ConfigError(f"{key} = {show_value(value) if shown is None else shown}: {problem}; {fix}")


# --- Parsers ------------------------------------------------------------------------------------

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _boolean(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise _invalid(key, value, "not a boolean", "use True or False (in the environment: true/false, 1/0 or yes/no)")


def _finite(value: Any) -> float | None:
    """A number, from a number or a numeric string (``"2.5"``); ``None`` for anything else."""
    if isinstance(value, bool):  # True is 1 to Python, never a count or a duration to a user
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _seconds(*, positive: bool, example: str) -> Parser:
    """A duration in seconds: more than 0 when ``positive``, else 0 or more."""
    bound = "more than 0" if positive else "0 or more"

    def parse(value: Any, key: str) -> float:
        number = _finite(value)
        if number is None or number < 0 or (positive and number == 0):
            raise _invalid(key, value, f"not a number of seconds {bound}", f"use a number such as {example}")
        return number

    return parse


def _whole(*, minimum: int, unit: str, example: str) -> Parser:
    """A count (bytes, retries, files) of at least ``minimum``; ``"1MB"`` is not one."""

    def parse(value: Any, key: str) -> int:
        number = _finite(value)
        if number is None or not number.is_integer() or number < minimum:
            raise _invalid(
                key, value, f"not a whole number of {unit}, {minimum} or more", f"write the number, e.g. {example}"
            )
        return value if isinstance(value, int) else int(number)

    return parse


def _tokens(value: Any, key: str) -> tuple[str, ...]:
    # One string, or a collection of them (rotation: old and new token both valid).
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    fix = "use the token shown in Huggy's panel as a str, or a list of str to accept several"
    if isinstance(value, (bytes, bytearray)):
        raise _invalid(key, value, "bytes, not a str", fix, shown=f"<{type(value).__name__}>")
    try:
        tokens = tuple(value)
    except TypeError:
        raise _invalid(key, value, "neither a str nor a collection of str", fix, shown=show_tokens(value)) from None
    if not all(isinstance(t, str) and t for t in tokens):
        raise _invalid(key, value, "every entry must be a non-empty str", fix, shown=show_tokens(value))
    return tokens


def _timezone(value: Any, key: str) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if isinstance(value, (str, tzinfo)):  # str(datetime.timezone.utc) is "UTC"
        try:
            return ZoneInfo(str(value).strip())
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise _invalid(
        key, value, "not an IANA time zone name", "use one such as 'America/Sao_Paulo' (Huggy writes Brazil local time)"
    )


def _confirm_url(value: Any, key: str) -> str | None:
    # None, "" and False all mean "send no confirmation request".
    if value is None or value is False or value == "":
        return None
    if isinstance(value, str) and value.startswith(("https://", "http://")) and urlsplit(value).netloc:
        return value
    raise _invalid(
        key,
        value,
        "not an http(s) URL",
        f"use an https:// URL (default {DEFAULT_CONFIRM_URL!r}), or None to switch the confirmation request off",
    )


_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


def _confirm_headers(value: Any, key: str) -> tuple[tuple[str, str], ...]:
    if not value:
        return ()
    fix = "use a dict of header names to str values, e.g. {'Authorization': 'Bearer <API token>'}"
    if not isinstance(value, Mapping):
        raise _invalid(key, value, "not a dict", fix, shown=show_headers(value))
    for name, text in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise _invalid(key, value, f"{name!r} is not a header name", fix, shown=show_headers(value))
        if not isinstance(text, str) or any(c in text for c in "\r\n\0"):
            raise _invalid(key, value, f"the value of {name!r} is not a one-line str", fix, shown=show_headers(value))
    return tuple(value.items())


def _networks(value: Any, key: str) -> tuple[IPNetwork, ...]:
    if value is None or value is False or value == "":
        return ()
    fix = "list addresses or CIDR networks, e.g. ['10.0.0.0/8', '2001:db8::/32'] or '10.0.0.0/8, 192.0.2.7'"
    try:
        return _parse_networks(tuple(value.replace(",", " ").split()) if isinstance(value, str) else tuple(value))
    except TypeError:  # not iterable, or an entry not hashable
        raise _invalid(key, value, "not a list of networks", fix) from None
    except ValueError as exc:
        raise _invalid(key, value, str(exc), fix) from None


@lru_cache(maxsize=32)
def _parse_networks(entries: tuple[Any, ...]) -> tuple[IPNetwork, ...]:
    # Parsed once per distinct setting: ip_network() is too slow for every request.
    return tuple(ipaddress.ip_network(str(entry).strip(), strict=False) for entry in entries)


def _max_age(value: Any, key: str) -> float | None:
    if value is None or value is False:
        return None
    seconds = _finite(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds is None or seconds <= 0:
        raise _invalid(
            key,
            value,
            "not a number of seconds more than 0",
            "use e.g. 300 or timedelta(minutes=5), or None to accept deliveries of any age",
        )
    return seconds


_REDIS_URL_SCHEMES = ("redis://", "rediss://", "unix://")


def _dedup(value: Any, key: str) -> Any:
    if value is None or value is False or value == 0:
        return False
    fix = (
        "use False (off), 'memory' (one process), a redis://, rediss:// or unix:// URL, or a store object "
        "with claim, complete and release"
    )
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _FALSE or not text:
            return False
        if text.lower() == "memory":
            return "memory"
        if not text.startswith(_REDIS_URL_SCHEMES):
            raise _invalid(key, value, "neither 'memory' nor a Redis URL", fix)
        if not _redis_installed():
            raise _invalid(
                key, value, "a Redis URL, but the redis package is missing", "pip install 'flask-huggy[redis]'"
            )
        return text
    if all(hasattr(value, method) for method in ("claim", "complete", "release")):
        return value
    raise _invalid(key, value, "not a de-duplication store", fix)


@lru_cache(maxsize=1)
def _redis_installed() -> bool:
    return importlib.util.find_spec("redis") is not None


def _dedup_key(value: Any, key: str) -> Any:
    if value is None or callable(value):
        return value
    raise _invalid(
        key, value, "not callable", "use a function (event, delivery, index) -> str, or None for the default key"
    )


def _journal(value: Any, key: str) -> str | None:
    if value is None or value is False or value == "":
        return None
    if isinstance(value, (str, os.PathLike)):
        return str(os.fspath(value))
    raise _invalid(
        key,
        value,
        "not a directory",
        "use a directory path such as '/var/lib/myapp/huggy-journal', or None to keep no journal",
    )


def _dispatch(value: Any, key: str) -> str:
    # A typo ("Celery ", "async") must not silently run receivers in the request.
    if value not in DISPATCH_MODES:
        raise _invalid(key, value, "not a dispatch mode", f"use one of {', '.join(map(repr, DISPATCH_MODES))}")
    return str(value)


def _json_decoder(value: Any, key: str) -> str:
    if value not in JSON_DECODERS:
        raise _invalid(key, value, "not a JSON decoder", f"use one of {', '.join(map(repr, JSON_DECODERS))}")
    try:
        return resolve_decoder(value)
    except ValueError:
        raise _invalid(key, value, "jiter is not installed", "pip install 'flask-huggy[fast]', or use 'auto'") from None


# --- The settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One setting: its key (without the prefix), its default, and how a value is read."""

    key: str
    default: Any
    #: Turns a config value into the :class:`Settings` attribute, or raises :class:`ConfigError`.
    parse: Parser
    #: The :class:`Settings` attribute; the key in lower case unless given.
    attr: str = ""
    #: How a value is shown (``flask huggy check``, error messages): secrets are masked.
    show: Callable[[Any], str] = show_value
    #: Its type and meaning, in reStructuredText: the configuration docs are generated from it.
    doc: str = ""
    #: The default as the docs show it, when ``repr(default)`` would not say enough.
    shown_default: str = ""

    def __post_init__(self) -> None:
        if not self.attr:
            object.__setattr__(self, "attr", self.key.lower())


#: Every setting, in the order ``flask huggy check`` lists them.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "WEBHOOK_TOKEN",
        None,
        _tokens,
        attr="tokens",
        show=show_tokens,
        doc=(
            "str, or a list of str to accept several (rotation, several accounts): the token shown in"
            " Huggy's panel (Configurações > Webhook). Unset: deliveries get 403 "
            "``token_not_configured``."
        ),
    ),
    Setting(
        "TIMEZONE",
        "America/Sao_Paulo",
        _timezone,
        doc="IANA zone name (or a ``ZoneInfo``) in which Huggy's offset-less timestamps are read.",
    ),
    Setting(
        "STRICT",
        False,
        _boolean,
        doc="bool: refuse (422) a delivery with an invalid event instead of passing the event on raw.",
    ),
    Setting(
        "MAX_CONTENT_LENGTH",
        1024 * 1024,
        _whole(minimum=1, unit="bytes", example="1048576 for 1 MiB"),
        doc="bytes, 1 or more: larger bodies get a 413; never more than this is read.",
        shown_default="``1048576`` (1 MiB)",
    ),
    Setting(
        "MAX_DEPTH",
        64,
        _whole(minimum=8, unit="levels", example="64"),
        doc=(
            "whole number, 8 or more: how deeply a body may nest (Huggy's own nest about 8 levels); "
            "deeper bodies get a 400 ``too_deep`` before anything fires or is queued."
        ),
    ),
    Setting(
        "MAX_EVENTS",
        1000,
        _whole(minimum=1, unit="events", example="1000"),
        doc=(
            "whole number, 1 or more: the most events one delivery may carry; more get a 413 "
            "``too_many_events`` before anything fires or is queued."
        ),
    ),
    Setting(
        "CONFIRM_URL",
        DEFAULT_CONFIRM_URL,
        _confirm_url,
        doc=(
            "http(s) URL where the confirmation request is sent after a handshake (unverified "
            'default); ``None``, ``""`` or ``False`` switch it off.'
        ),
    ),
    Setting(
        "CONFIRM_TIMEOUT",
        5.0,
        _seconds(positive=True, example="5"),
        doc="seconds, more than 0, each confirmation attempt may take.",
    ),
    Setting(
        "CONFIRM_RETRIES",
        2,
        _whole(minimum=0, unit="retries", example="2"),
        doc="whole number, 0 or more: retries of the confirmation after a connection error.",
    ),
    Setting(
        "CONFIRM_HEADERS",
        None,
        _confirm_headers,
        show=show_headers,
        doc="dict of header name to str, added to the confirmation request (e.g. an API token); shown masked.",
    ),
    Setting(
        "ALLOW_UNAUTHENTICATED",
        False,
        _boolean,
        doc="bool: accept deliveries while no token is set (local tests only); a warning is logged once.",
    ),
    Setting(
        "ALLOWED_NETWORKS",
        None,
        _networks,
        doc=("list of addresses or CIDRs, or one string of them separated by commas or spaces; other sources get 403."),
        shown_default="``None`` (any source)",
    ),
    Setting(
        "MAX_AGE",
        None,
        _max_age,
        doc="seconds (more than 0) or a ``timedelta``: deliveries whose ``time`` is further from now get 403.",
        shown_default="``None`` (off)",
    ),
    Setting(
        "DEDUP",
        False,
        _dedup,
        doc=(
            '``"memory"``, a ``redis://``, ``rediss://`` or ``unix://`` URL, or a store object, to '
            "handle each event once."
        ),
    ),
    Setting(
        "DEDUP_TTL",
        24 * 3600,
        _seconds(positive=True, example="86400 (a day)"),
        doc="seconds, more than 0, a handled event is remembered.",
        shown_default="``86400`` (a day)",
    ),
    Setting(
        "DEDUP_LEASE",
        300,
        _seconds(positive=True, example="300"),
        doc="seconds, more than 0, a worker may hold an event before another may take it over.",
    ),
    Setting(
        "DEDUP_KEY",
        None,
        _dedup_key,
        doc="callable ``(event, delivery, index) -> str`` to recognise events.",
        shown_default="``None`` (built-in)",
    ),
    Setting(
        "JOURNAL",
        None,
        _journal,
        doc="directory (str or path) of the delivery journal.",
        shown_default="``None`` (off)",
    ),
    Setting(
        "JOURNAL_MAX_BYTES",
        10 * 1024 * 1024,
        _whole(minimum=1, unit="bytes", example="10485760 for 10 MiB"),
        doc="bytes, 1 or more: a journal file is rotated past this size.",
        shown_default="``10485760`` (10 MiB)",
    ),
    Setting(
        "JOURNAL_BACKUPS",
        10,
        _whole(minimum=0, unit="files", example="10"),
        doc="whole number, 0 or more: rotated journal files kept per process.",
    ),
    Setting(
        "DISPATCH",
        "sync",
        _dispatch,
        doc=(
            '``"sync"`` (receivers run in the request) or ``"celery"`` (the webhook queues deliveries'
            " for Celery workers)."
        ),
    ),
    Setting(
        "CELERY_MAX_RETRIES",
        5,
        _whole(minimum=0, unit="retries", example="5"),
        doc="whole number, 0 or more: retries after a receiver raised, before the delivery is dead-lettered.",
    ),
    Setting(
        "CELERY_RETRY_BACKOFF",
        2.0,
        _seconds(positive=False, example="2"),
        doc="seconds, 0 or more, before the first retry; doubled at each retry.",
    ),
    Setting(
        "CELERY_RETRY_BACKOFF_MAX",
        300.0,
        _seconds(positive=False, example="300"),
        doc="seconds, 0 or more: the longest wait between two retries.",
    ),
    Setting(
        "CELERY_ENQUEUE_TIMEOUT",
        2.0,
        _seconds(positive=True, example="2"),
        doc=(
            "seconds, more than 0, the webhook waits for a broker that does not answer before it answers 503"
            " (twice this at most: a second try starts only within it)."
        ),
    ),
    Setting(
        "JSON_DECODER",
        "auto",
        _json_decoder,
        doc=(
            'What reads request bodies: ``"jiter"`` (the ``fast`` extra), ``"stdlib"``, or '
            '``"auto"``: jiter when installed. Either way a body jiter refuses is read again by '
            "``json``, which names the fault, so every answer is the same."
        ),
    ),
)

#: Key (without prefix) -> default value, derived from :data:`SETTINGS`.
DEFAULTS: dict[str, Any] = {setting.key: setting.default for setting in SETTINGS}


def read_settings(config: Mapping[str, Any], prefix: str = "HUGGY_") -> Settings:
    """Build :class:`Settings` from a Flask config mapping, filling in defaults.

    Raises :class:`ConfigError` for the first unusable value; :func:`check_settings`
    names them all.
    """
    return Settings(
        **{
            setting.attr: setting.parse(config.get(key, setting.default), key)
            for setting, key in zip(SETTINGS, _prefixed_keys(prefix))
        }
    )


def setting_problems(config: Mapping[str, Any], prefix: str = "HUGGY_") -> dict[str, ConfigError]:
    """Prefixed key -> the :class:`ConfigError` its value raises, for every unusable setting."""
    problems: dict[str, ConfigError] = {}
    for setting, key in zip(SETTINGS, _prefixed_keys(prefix)):
        try:
            setting.parse(config.get(key, setting.default), key)
        except ConfigError as exc:
            problems[key] = exc
    return problems


def check_settings(config: Mapping[str, Any], prefix: str = "HUGGY_") -> Settings:
    """:func:`read_settings` for startup: the :class:`ConfigError` names every unusable key, not only the first.

    The blueprint calls it when it is registered on an app, and
    :func:`~flask_huggy.init_celery` when it runs, so that a typo stops the app
    at startup rather than answering Huggy with 500s.
    """
    problems = setting_problems(config, prefix)
    if len(problems) == 1:
        raise next(iter(problems.values()))
    if problems:
        lines = "".join(f"\n  {error.message}" for error in problems.values())
        raise ConfigError(f"{len(problems)} {prefix}* settings are unusable:{lines}")
    return read_settings(config, prefix)


_MISSING = object()
_MISSINGS = (_MISSING,) * len(SETTINGS)
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
    return tuple(prefix + setting.key for setting in SETTINGS)
