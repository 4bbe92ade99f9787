"""From request bytes to a :class:`~flask_huggy.Delivery`, with no request needed.

Nothing here touches Flask, so a worker that holds a raw delivery (a Celery
task, a replay from a journal) builds exactly what the webhook built.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import tzinfo
from typing import Any, NoReturn

from marshmallow import ValidationError

from .errors import DeliveryRejected
from .events import Delivery, Event
from .jsondecoders import fast_decoder
from .schemas import EnvelopeSchema, walker

_envelope_schema = EnvelopeSchema()


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


#: One decoder for every request, as json.loads itself keeps one: given options,
#: json.loads would build a decoder and its C scanner on every call.
_decoder = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_reject_constant)


#: How deeply a delivery may nest (``HUGGY_MAX_DEPTH``'s default): Huggy's own nest
#: about 8 levels; far deeper is an attack on whatever walks the delivery next (a
#: pickler, a JSON encoder, a Celery worker).
MAX_DEPTH = 64

#: Signs, found in C by ``bytes.count`` and regular expressions, that a body needs
#: the exact (slower) check of :func:`_check_values`: enough brackets to nest past
#: the limit, a surrogate escape, or a number long enough to overflow a float.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
#: Every digit as ``0`` and ``E`` as ``e``: a float overflows only with a 3-digit
#: exponent or 309 digits in a row, which plain substring searches then find (a
#: regular expression starting at every digit costs a hundred times more).
_NUMBER_SHAPES = bytes.maketrans(b"123456789E", b"000000000e")
_EXPONENT, _SIGNED_EXPONENT, _LONG_MANTISSA = b"0e000", b"0e+000", b"0" * 309


def decode_json(body: bytes, decoder: str = "auto", *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a body as strict JSON (UTF-8, no NaN/Infinity, no repeated keys).

    Also refused, so that nothing downstream meets them: nesting deeper than
    ``max_depth`` (``too_deep``), strings with a lone surrogate, which no text
    encoding can write (``invalid_unicode``), and numbers too large for a float
    (``number_out_of_range``).

    ``decoder`` is a :data:`~flask_huggy.jsondecoders.JSON_DECODERS` name
    (``HUGGY_JSON_DECODER``): jiter, when installed and chosen, reads the body
    first, and the standard library's ``json`` reads whatever jiter refuses, so
    that every answer is the same either way. Raises
    :class:`~flask_huggy.DeliveryRejected` saying what is wrong.
    """
    payload = _decode(body, decoder, max_depth)
    if (
        body.count(b"[") + body.count(b"{") > max_depth
        or _SURROGATE_ESCAPE.search(body) is not None
        or _may_overflow(body)
    ):
        _check_values(payload, max_depth)
    return payload


def _decode(body: bytes, decoder: str, max_depth: int) -> Any:
    fast = fast_decoder(decoder)
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
    except RecursionError:
        raise DeliveryRejected(f"The JSON nests deeper than {max_depth} levels.", error="too_deep", limit=max_depth) from None
    except json.JSONDecodeError as exc:
        raise DeliveryRejected(
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.", error="invalid_json"
        ) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise DeliveryRejected(f"The body is not valid JSON: {exc}", error="invalid_json") from None


def _may_overflow(body: bytes) -> bool:
    shapes = body.translate(_NUMBER_SHAPES)
    return _EXPONENT in shapes or _SIGNED_EXPONENT in shapes or _LONG_MANTISSA in shapes


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
                elif isinstance(item, float) and not math.isfinite(item):
                    raise DeliveryRejected("A number is too large to be read.", error="number_out_of_range")
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


def parse_delivery(payload: Mapping[str, Any], timezone: tzinfo, *, endpoint: str = "huggy") -> Delivery:
    """Check the envelope of a decoded delivery and build its :class:`Delivery`.

    ``endpoint`` names the endpoint it came to (:attr:`Delivery.endpoint`).

    Events are not validated here; :class:`~flask_huggy.Event` does that when
    asked. Raises :class:`~flask_huggy.DeliveryRejected` naming the wrong fields.
    """
    if type(payload) is not dict and not isinstance(payload, Mapping):
        raise DeliveryRejected("The body must be a JSON object.", error="not_an_object")
    try:
        envelope = walker.load(_envelope_schema, payload, timezone)
    except ValidationError as exc:
        raise DeliveryRejected("The body is not a Huggy delivery: see 'fields'.", error="invalid_envelope", fields=exc.messages_dict) from None
    token = envelope.get("token")
    return Delivery(
        envelope.get("time"),
        token if isinstance(token, str) else None,
        tuple([Event(name, raw, timezone) for name, raw in envelope["messages"]]),
        payload,
        endpoint,
    )
