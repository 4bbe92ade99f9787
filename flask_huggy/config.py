"""The ``HUGGY_*`` settings: each declared once, as a field of :class:`Settings`.

A field carries its key, default and parser (:func:`setting`) under the ``#:``
comment that documents it, so nothing repeats them: :data:`SETTINGS`, ``flask
huggy check``, autodoc and the configuration docs' table
(``docs/generate_settings.py`` reads the comments) all come from :class:`Settings`.

Settings are read once, when the webhook is registered on an app (``Huggy(app)``
or ``app.register_blueprint``), as Flask-SQLAlchemy reads its keys in
``init_app``: later changes to ``app.config`` are not seen. A second endpoint
reads the same keys under another prefix (``HUGGY_B_WEBHOOK_TOKEN`` for prefix
``HUGGY_B_``).

Values often come from environment variables, as strings
(``app.config.from_prefixed_env()``): booleans read ``"true"``/``"false"``,
``"1"``/``"0"`` and ``"yes"``/``"no"`` (any case), numbers read numeric strings,
and anything else is refused rather than guessed (``bool("false")`` is true).
"""

from __future__ import annotations

import difflib
import importlib.util
import ipaddress
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta, tzinfo
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
#: Huggy's REST API v3 (``HUGGY_API_URL``), as every public client calls it.
DEFAULT_API_URL = "https://api.huggy.app/v3"


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
    """A ``HUGGY_WEBHOOK_TOKEN`` value with each token masked (:func:`~flask_huggy.auth.mask_token`)."""
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
        return int(number)

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
    entries = value.replace(",", " ").split() if isinstance(value, str) else value
    try:
        return tuple(ipaddress.ip_network(str(entry).strip(), strict=False) for entry in entries)
    except TypeError:  # not iterable
        raise _invalid(key, value, "not a list of networks", fix) from None
    except ValueError as exc:
        raise _invalid(key, value, str(exc), fix) from None


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


def _recover_after(value: Any, key: str) -> float | None:
    if value is None or value is False or value == "":
        return None
    seconds = _finite(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds is None or seconds < 0:
        raise _invalid(
            key, value, "not a number of seconds, 0 or more", "use e.g. 900 or timedelta(minutes=15), or None (off)"
        )
    return seconds or None


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
        if importlib.util.find_spec("redis") is None:
            raise _invalid(
                key, value, "a Redis URL, but the redis package is missing", "pip install 'flask-huggy[redis]'"
            )
        return text
    if all(hasattr(value, method) for method in ("claim", "complete", "release")):
        return value
    raise _invalid(key, value, "not a de-duplication store", fix)


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


def _json_decoder(value: Any, key: str) -> str:
    if value not in JSON_DECODERS:
        raise _invalid(key, value, "not a JSON decoder", f"use one of {', '.join(map(repr, JSON_DECODERS))}")
    try:
        return resolve_decoder(value)
    except ValueError:
        raise _invalid(key, value, "jiter is not installed", "pip install 'flask-huggy[fast]', or use 'auto'") from None


def _api_token(value: Any, key: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip() == value and all(c.isprintable() for c in value):
        return value
    raise _invalid(
        key, value, "not a one-line str", "paste the API token of Huggy's panel as a str", shown=show_tokens(value)
    )


def _api_url(value: Any, key: str) -> str:
    if isinstance(value, str) and value.startswith(("https://", "http://")) and urlsplit(value).netloc:
        return value.rstrip("/")
    raise _invalid(key, value, "not an http(s) URL", f"use an https:// URL (default {DEFAULT_API_URL!r})")


def _api_company(value: Any, key: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,30}", value.strip()):
        return value.strip()
    raise _invalid(key, value, "not a company id", "use the number of the company in Huggy's panel, or None")


# --- The settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """How one field of :class:`Settings` is configured: key (without the prefix), default, parser."""

    key: str
    default: Any
    #: Turns a config value into the field's value, or raises :class:`ConfigError`.
    parse: Parser
    #: How a value is shown (``flask huggy check``, error messages): secrets are masked.
    show: Callable[[Any], str] = show_value
    #: The default as the docs show it, when ``repr(default)`` would not say enough.
    shown_default: str = ""
    #: The :class:`Settings` attribute; filled in from the field's name.
    attr: str = ""


def setting(
    key: str, default: Any, parse: Parser, *, show: Callable[[Any], str] = show_value, shown_default: str = ""
) -> Any:
    """Declare a field of :class:`Settings` with its key, default and parser; its ``#:`` comment is its doc."""
    return field(metadata={"setting": Setting(key, default, parse, show, shown_default)})


@dataclass(frozen=True)
class Settings:
    """The settings of one webhook endpoint, read once from its app's config by :func:`read_settings`."""

    #: str, or a list of str to accept several: the token shown in Huggy's panel (Configurações > Webhook). Unset:
    #: deliveries get 403 ``token_not_configured``. Everyone sets it; a list lets you rotate the token or take
    #: several Huggy accounts on one URL.
    tokens: tuple[str, ...] = setting("WEBHOOK_TOKEN", None, _tokens, show=show_tokens)

    #: IANA zone name (or a ``ZoneInfo``) in which Huggy's offset-less timestamps are read. Change it only if your
    #: Huggy account writes another zone's local time.
    timezone: ZoneInfo = setting("TIMEZONE", "America/Sao_Paulo", _timezone)

    #: bool: refuse (422) a delivery with an invalid event instead of passing the event on raw. For receivers that
    #: would rather Huggy retried than see a malformed event.
    strict: bool = setting("STRICT", False, _boolean)

    #: bytes, 1 or more: larger bodies get a 413; never more than this is read. Raise it if your deliveries carry
    #: long chains of events.
    max_content_length: int = setting(
        "MAX_CONTENT_LENGTH",
        1024 * 1024,
        _whole(minimum=1, unit="bytes", example="1048576 for 1 MiB"),
        shown_default="``1048576`` (1 MiB)",
    )

    #: http(s) URL where the confirmation request is sent after a handshake (unverified default); ``None``, ``""`` or
    #: ``False`` switch it off. Change it when Huggy publishes the endpoint.
    confirm_url: str | None = setting("CONFIRM_URL", DEFAULT_CONFIRM_URL, _confirm_url)

    #: dict of header name to str, added to the confirmation request; shown masked. For accounts whose confirmation
    #: needs an API token.
    confirm_headers: tuple[tuple[str, str], ...] = setting("CONFIRM_HEADERS", None, _confirm_headers, show=show_headers)

    #: bool: accept deliveries while no token is set; a warning is logged once. Local demos only.
    allow_unauthenticated: bool = setting("ALLOW_UNAUTHENTICATED", False, _boolean)

    #: list of addresses or CIDRs, or one string of them separated by commas or spaces; other sources get 403. For
    #: operators who know the addresses Huggy posts from.
    allowed_networks: tuple[IPNetwork, ...] = setting(
        "ALLOWED_NETWORKS", None, _networks, shown_default="``None`` (any source)"
    )

    #: seconds (more than 0) or a ``timedelta``: deliveries whose ``time`` is further from now get 403. Against
    #: replayed captures; leave it off if Huggy retries for long.
    max_age: float | None = setting("MAX_AGE", None, _max_age, shown_default="``None`` (off)")

    #: ``"memory"``, a ``redis://``, ``rediss://`` or ``unix://`` URL, or a store object, to handle each event once.
    #: Set it when receivers must not run twice for Huggy's retries; Redis when several processes serve the webhook.
    dedup: Any = setting("DEDUP", False, _dedup)

    #: seconds, more than 0, a handled event is remembered. Longer if Huggy may retry later than that.
    dedup_ttl: float = setting(
        "DEDUP_TTL", 24 * 3600, _seconds(positive=True, example="86400 (a day)"), shown_default="``86400`` (a day)"
    )

    #: seconds, more than 0, a worker may hold an event before another may take it over. Longer than your slowest
    #: receiver.
    dedup_lease: float = setting("DEDUP_LEASE", 300, _seconds(positive=True, example="300"))

    #: callable ``(event, delivery, index) -> str`` to recognise events, for apps whose idea of 'the same event'
    #: differs from the built-in one.
    dedup_key: Any = setting("DEDUP_KEY", None, _dedup_key, shown_default="``None`` (built-in)")

    #: directory (str or path) of the delivery journal, for replays (``flask huggy replay --failed``).
    journal: str | None = setting("JOURNAL", None, _journal, shown_default="``None`` (off)")

    #: bytes, 1 or more: a journal file is rotated past this size. For operators sizing the disk.
    journal_max_bytes: int = setting(
        "JOURNAL_MAX_BYTES",
        10 * 1024 * 1024,
        _whole(minimum=1, unit="bytes", example="10485760 for 10 MiB"),
        shown_default="``10485760`` (10 MiB)",
    )

    #: whole number, 0 or more: rotated journal files kept per process. For operators sizing the disk.
    journal_backups: int = setting("JOURNAL_BACKUPS", 10, _whole(minimum=0, unit="files", example="10"))

    #: whole number, 0 or more: retries after a receiver raised, before the delivery is dead-lettered. More if your
    #: CRM has long outages.
    celery_max_retries: int = setting("CELERY_MAX_RETRIES", 5, _whole(minimum=0, unit="retries", example="5"))

    #: seconds, 0 or more, before the first retry; doubled at each retry. With ``CELERY_MAX_RETRIES``, how long a
    #: failing delivery is tried.
    celery_retry_backoff: float = setting("CELERY_RETRY_BACKOFF", 2.0, _seconds(positive=False, example="2"))

    #: seconds, 0 or more: the longest wait between two retries. Raise it with ``CELERY_MAX_RETRIES`` when a
    #: CRM's outages last longer than the retries do.
    celery_retry_backoff_max: float = setting(
        "CELERY_RETRY_BACKOFF_MAX", 300.0, _seconds(positive=False, example="300")
    )

    #: seconds, more than 0, the webhook waits for a broker that does not answer before it answers 503 (twice this at
    #: most). Shorter than your server's worker timeout.
    celery_enqueue_timeout: float = setting("CELERY_ENQUEUE_TIMEOUT", 2.0, _seconds(positive=True, example="2"))

    #: str: the API token of Huggy's panel (its quick token), for ``huggy.api`` and the calls receivers make
    #: (``event.reply``); shown masked. Set it when receivers act on events; unset, ``huggy.api`` raises.
    api_token: str | None = setting("API_TOKEN", None, _api_token, show=show_tokens)

    #: http(s) URL of Huggy's REST API. Change it only to point the client at a proxy or a fake Huggy.
    api_url: str = setting("API_URL", DEFAULT_API_URL, _api_url)

    #: company id, or ``None``: puts ``/companies/{id}`` before every API path. Accounts with several companies
    #: must set it.
    api_company: str | None = setting("API_COMPANY", None, _api_company, shown_default="``None`` (the token's)")

    #: ``"jiter"`` (the ``fast`` extra), ``"stdlib"``, or ``"auto"``: jiter when installed. Answers are the same
    #: either way; ``"stdlib"`` is for a platform without a jiter build, or to rule jiter out of a bug report.
    json_decoder: str = setting("JSON_DECODER", "auto", _json_decoder)

    #: seconds (or a ``timedelta``) a delivery queued for Celery may go without news in the journal before it is
    #: queued again: a task the broker lost, or a retry it could not take. ``None`` or ``0``: off. Needs
    #: ``JOURNAL`` and a Redis ``DEDUP``. Must be longer than a healthy delivery's longest silence (``DEDUP_LEASE``
    #: + ``CELERY_RETRY_BACKOFF_MAX`` + your worst queue backlog); shorten it if lost events must come back sooner.
    recover_after: float | None = setting("RECOVER_AFTER", 900, _recover_after, shown_default="``900`` (15 minutes)")


#: Every setting, in the order of :class:`Settings`' fields (``flask huggy check``, the docs).
SETTINGS: tuple[Setting, ...] = tuple(
    Setting(**{**vars(f.metadata["setting"]), "attr": f.name}) for f in fields(Settings)
)


def read_settings(config: Mapping[str, Any], prefix: str = "HUGGY_") -> Settings:
    """Build :class:`Settings` from a Flask config mapping, filling in defaults.

    The :class:`ConfigError` names every unusable key, not only the first, so that
    a typo stops the app at startup with everything to fix.
    """
    values: dict[str, Any] = {}
    problems: list[ConfigError] = []
    for entry in SETTINGS:
        key = prefix + entry.key
        try:
            values[entry.attr] = entry.parse(config.get(key, entry.default), key)
        except ConfigError as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        lines = "".join(f"\n  {error}" for error in problems)
        raise ConfigError(f"{len(problems)} {prefix}* settings are unusable:{lines}")
    return Settings(**values)


def unknown_keys(config: Iterable[str], prefixes: Iterable[str]) -> dict[str, str | None]:
    """Keys that start with one of ``prefixes`` but are no setting of it -> the setting meant, if one is close.

    A key that is a setting under another of the prefixes (``HUGGY_B_WEBHOOK_TOKEN``
    with ``HUGGY_`` and ``HUGGY_B_``) is known.
    """
    prefixes = tuple(prefixes)
    names = [entry.key for entry in SETTINGS]
    known = {prefix + name for prefix in prefixes for name in names}
    unknown: dict[str, str | None] = {}
    for key in config:
        if isinstance(key, str) and key.startswith(prefixes) and key not in known:
            # Compared without the prefix, which all share: with it, HUGGY_MAX_DEPTH looked
            # close enough to HUGGY_MAX_AGE to be offered as a typo of it.
            prefix = max((p for p in prefixes if key.startswith(p)), key=len)
            close = difflib.get_close_matches(key[len(prefix) :], names, n=1, cutoff=0.75)
            unknown[key] = prefix + close[0] if close else None
    return unknown


__all__ = ["DEFAULT_API_URL", "DEFAULT_CONFIRM_URL", "SETTINGS", "Setting", "Settings", "read_settings", "unknown_keys"]
