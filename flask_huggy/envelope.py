"""From request bytes to a :class:`~flask_huggy.Delivery`, with no request needed.

Nothing here touches Flask, so a worker that holds a raw delivery (a Celery
task, a replay from a journal) builds exactly what the webhook built.

Decoding is the first step. The standard library's ``json`` is always there and
always has the last word. jiter (the ``fast`` extra: ``pip install
'flask-huggy[fast]'``) reads a delivery faster, because it refuses repeated keys
itself where ``json`` needs a Python hook called for every object. jiter only
ever answers for bodies it reads without a doubt; whatever it refuses, or reads
to a value ``json`` would refuse, goes to ``json``, so the answer to a bad body
(its error code, its message) and the result of any body ``json`` accepts are
the same whichever decoder is configured (``HUGGY_JSON_DECODER``).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any, NoReturn

from marshmallow import ValidationError

from .errors import DeliveryRejected
from .events import Delivery, Event
from .schemas.fields import epoch_to_utc

try:
    import jiter
except ImportError:  # the "fast" extra is optional
    jiter = None  # type: ignore[assignment]

#: The names ``HUGGY_JSON_DECODER`` takes; ``"auto"`` is jiter when installed.
JSON_DECODERS = ("auto", "stdlib", "jiter")

#: jiter refuses integers of more digits than this whatever Python's own limit
#: (``sys.get_int_max_str_digits()``); ``tests/test_json_decoders.py`` checks it.
_JITER_MAX_INT_DIGITS = 4300


def _jiter_available() -> bool:
    """Whether the ``fast`` extra (jiter) is installed."""
    return jiter is not None


def resolve_decoder(name: str) -> str:
    """``"stdlib"`` or ``"jiter"`` for a ``HUGGY_JSON_DECODER`` value.

    Raises :exc:`ValueError` for a name that is not one of :data:`JSON_DECODERS`,
    or ``"jiter"`` when jiter is not installed.
    """
    if name not in JSON_DECODERS:
        raise ValueError(f"must be one of {', '.join(map(repr, JSON_DECODERS))}, not {name!r}")
    if name == "auto":
        return "jiter" if _jiter_available() else "stdlib"
    if name == "jiter" and not _jiter_available():
        raise ValueError("is 'jiter', which is not installed: pip install 'flask-huggy[fast]'")
    return name


class _NotSure(ValueError):
    """jiter's answer is not one to give: the stdlib decoder reads the body and says why."""


def _jiter_decode(body: bytes) -> Any:
    limit = sys.get_int_max_str_digits()
    if 0 < limit < _JITER_MAX_INT_DIGITS:
        # Python was told to read shorter integers than jiter reads: only json refuses them.
        raise _NotSure
    # The stdlib path refuses NaN/Infinity and repeated keys; so must this one.
    # cache_mode="keys": keys repeat across deliveries, message texts do not,
    # and a process-wide cache is no place for customers' messages.
    payload = jiter.from_json(body, allow_inf_nan=False, catch_duplicate_keys=True, cache_mode="keys")
    # jiter reads a number too large for a float as inf, and has no option to refuse it.
    if isinstance(payload, (float, dict, list)) and _holds_non_finite(payload):
        raise _NotSure
    return payload


def _holds_non_finite(value: float | dict[str, Any] | list[Any]) -> bool:
    # Decided on the values, not on the text: about as costly as the text search
    # it replaces (2.5 us on a 1 KB delivery), and no spelling of a number escapes it.
    if type(value) is float:
        return not math.isfinite(value)
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        for item in node.values() if type(node) is dict else node:
            kind = type(item)
            if kind is float:
                if not math.isfinite(item):
                    return True
            elif kind is dict or kind is list:
                stack.append(item)
    return False


#: A decoder that reads a body it is sure of, and raises on anything else.
_FastDecoder = Callable[[bytes], Any]

#: Looked up on every request, so settled once; a name missing here is refused.
_FAST_DECODERS: dict[str, _FastDecoder | None] = {"stdlib": None, "auto": None}
if jiter is not None:
    _FAST_DECODERS["auto"] = _FAST_DECODERS["jiter"] = _jiter_decode


def _fast_decoder(name: str) -> _FastDecoder | None:
    try:
        return _FAST_DECODERS[name]
    except KeyError:
        resolve_decoder(name)  # raises, saying why
        raise


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys and drops the first without a word;
    # a delivery with "closedChat" twice would lose events, so refuse it instead.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _reject_constant(name: str) -> NoReturn:
    raise DeliveryRejected(f"{name} is not valid JSON.", error="invalid_json")


class _NotFinite(ValueError):
    pass


def _finite_float(text: str) -> float:
    # json reads 1e400, and 1 followed by 300 zeros and e9, as inf: a value that
    # no JSON writer (the journal, a Celery message) can write back. json calls
    # this for floats only, so integers, most of a delivery, pay nothing.
    value = float(text)
    if math.isfinite(value):
        return value
    raise _NotFinite(text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)")


#: One decoder for every request, as json.loads itself keeps one: given options,
#: json.loads would build a decoder and its C scanner on every call.
_decoder = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_reject_constant, parse_float=_finite_float)


#: How deeply a delivery may nest, on the webhook and on a Celery worker alike: the
#: docs' samples nest 7 levels at most in their delivery; far deeper is an attack on whatever walks the
#: delivery next (a pickler, a JSON encoder, a Celery worker). A constant, not a setting:
#: no Huggy delivery needs more, and a higher limit would reopen what it closes.
MAX_DEPTH = 64

#: Signs, found in C by ``bytes.count`` and a regular expression, that a body needs
#: the exact (slower) check of :func:`_check_values`: enough brackets to nest past
#: the limit, or a surrogate escape.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def decode_json(body: bytes, decoder: str = "auto", *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a body as strict JSON (UTF-8, no NaN/Infinity, no repeated keys).

    Also refused, so that nothing downstream meets them: nesting deeper than
    ``max_depth`` (``too_deep``), strings with a lone surrogate, which no text
    encoding can write (``invalid_unicode``), and numbers out of range
    (``number_out_of_range``): a float that reads as infinite, however it is
    spelled (``1e400``, or 1 followed by 300 zeros and ``e9``), which no JSON
    writer could write back, and an integer of more digits than Python reads
    (``sys.get_int_max_str_digits()``: 4,300 unless the process changed it),
    rather than an ``invalid_json`` that blames valid JSON. jiter, whose own
    limit is 4,300 digits, leaves a process with a lower limit to ``json``, so
    both decoders refuse the same integers.

    ``decoder`` is a :data:`JSON_DECODERS` name (``HUGGY_JSON_DECODER``): jiter,
    when installed and chosen, reads the body first, and the standard library's
    ``json`` reads whatever jiter refuses or reads to an infinite float, so that
    every answer is the same either way. Raises :class:`~flask_huggy.DeliveryRejected`
    saying what is wrong.
    """
    payload = _decode(body, decoder, max_depth)
    if body.count(b"[") + body.count(b"{") > max_depth or _SURROGATE_ESCAPE.search(body) is not None:
        _check_values(payload, max_depth)
    return payload


def _decode(body: bytes, decoder: str, max_depth: int) -> Any:
    fast = _fast_decoder(decoder)
    if fast is not None:
        try:
            return fast(body)
        except Exception:  # noqa: BLE001, S110 - refused: the stdlib path below finds and names the fault
            pass
    if not body or body.isspace():  # isspace() stops at the first other byte; strip() would copy
        raise DeliveryRejected("The request body is empty; Huggy sends a JSON object.", error="empty_body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DeliveryRejected(f"The body is not valid UTF-8 (byte {exc.start}).", error="invalid_utf8") from None
    try:
        return _decoder.decode(text)
    except _DuplicateKey as exc:
        raise DeliveryRejected(
            f"The key {str(exc)[:100]!r} appears twice in one object; one of them would be lost.",
            error="duplicate_key",
        ) from None
    except _NotFinite as exc:
        raise DeliveryRejected(f"The number {exc} is too large for a float.", error="number_out_of_range") from None
    except RecursionError:
        raise DeliveryRejected(
            f"The JSON nests deeper than {max_depth} levels.", error="too_deep", limit=max_depth
        ) from None
    except json.JSONDecodeError as exc:
        raise DeliveryRejected(
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.", error="invalid_json"
        ) from None
    except ValueError:
        # The one other ValueError json raises: int() refusing more digits than
        # sys.get_int_max_str_digits(), a limit against quadratic-time conversion.
        raise DeliveryRejected(
            f"An integer has more than {sys.get_int_max_str_digits()} digits, more than Python reads.",
            error="number_out_of_range",
        ) from None


def _check_values(payload: Any, max_depth: int) -> None:
    # Iterative, so that the check itself cannot overflow the stack.
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.items()
        elif isinstance(node, list):
            children = ((None, item) for item in node)
        else:
            continue
        if depth > max_depth:
            raise DeliveryRejected(f"The JSON nests deeper than {max_depth} levels.", error="too_deep", limit=max_depth)
        for key, value in children:
            for item in (key, value):
                if isinstance(item, str):
                    _check_text(item)
            if isinstance(value, (dict, list)):
                stack.append((value, depth + 1))


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise DeliveryRejected(
            "A string holds a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not text.",
            error="invalid_unicode",
        ) from None


def is_handshake(payload: Mapping[str, Any]) -> bool:
    """Whether a payload is Huggy's URL check ``{"token": ..., "validToken": true}``."""
    return "validToken" in payload and "messages" not in payload


def parse_delivery(payload: Mapping[str, Any], timezone: tzinfo, *, endpoint_name: str = "huggy") -> Delivery:
    """Check the envelope of a decoded delivery and build its :class:`Delivery`.

    ``endpoint_name`` names the endpoint it came to (:attr:`Delivery.endpoint_name`).

    The envelope is three keys read by plain code rather than a schema: ``time``
    (epoch seconds, or ``null``), ``token`` (kept if it is a string) and
    ``messages`` (required: event name -> list of objects, or PHP's ``[]`` for
    none). Other keys stay in :attr:`Delivery.raw`. Events are not validated
    here; :class:`~flask_huggy.Event` does that when asked. Raises
    :class:`~flask_huggy.DeliveryRejected` (``invalid_envelope``) naming the wrong
    fields as marshmallow would: ``{"time": ["Not a valid epoch time in seconds."]}``.
    """
    if type(payload) is not dict and not isinstance(payload, Mapping):
        raise DeliveryRejected("The body must be a JSON object.", error="not_an_object")
    problems: dict[str, Any] = {}
    try:
        moment = delivery_time(payload.get("time"))
    except ValidationError as exc:
        moment = None
        problems["time"] = exc.messages
    if "messages" in payload:
        events, wrong = _events(payload["messages"], timezone)
    else:
        events, wrong = (), ["Missing data for required field."]
    if wrong:
        problems["messages"] = wrong
    if problems:
        raise DeliveryRejected(
            "The body is not a Huggy delivery: see 'fields'.", error="invalid_envelope", fields=problems
        )
    token = payload.get("token")
    return Delivery(moment, token if isinstance(token, str) else None, events, payload, endpoint_name)


def delivery_time(value: Any) -> datetime | None:
    """A delivery's ``time`` (epoch seconds, as a number or a numeric string) as aware UTC; ``None`` for ``null``.

    Raises marshmallow's ``ValidationError`` for anything else: ``true``, an object,
    ``NaN``, a moment no ``datetime`` holds.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            value = None
    moment = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = epoch_to_utc(value)
    if moment is None:
        raise ValidationError("Not a valid epoch time in seconds.")
    return moment


def _events(messages: Any, timezone: tzinfo) -> tuple[tuple[Event, ...], Any]:
    """The events of ``messages`` in payload order, and what is wrong with it (nothing: ``None``).

    Each event keeps the very object Huggy sent, to be validated only if someone
    listens to it.
    """
    if isinstance(messages, list) and not messages:
        return (), None  # PHP's empty array: a delivery with no events
    if messages is None:
        return (), ["Field may not be null."]
    if not isinstance(messages, dict):
        return (), ["Must be an object mapping each event name to a list of events."]
    events: list[Event] = []
    wrong: dict[str, Any] = {}
    for name, items in messages.items():
        if not isinstance(items, list):
            wrong[name] = ["Must be a list of event objects."]
            continue
        objects = [Event(name, item, timezone) for item in items if isinstance(item, dict)]
        if len(objects) != len(items):
            wrong[name] = {
                index: ["Must be an object."] for index, item in enumerate(items) if not isinstance(item, dict)
            }
        events.extend(objects)
    return tuple(events), wrong or None
