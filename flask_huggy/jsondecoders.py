"""The JSON decoders a webhook body can be read with.

The standard library's ``json`` is always there and always has the last word.
jiter (the ``fast`` extra: ``pip install 'flask-huggy[fast]'``) reads a
delivery in about half the time, because it refuses repeated keys itself where
``json`` needs a Python hook called for every object. jiter only ever reads
bodies it finds well formed; whatever it refuses goes to ``json``, so the
answer to a bad body (its error code, its message) and the result of any body
``json`` accepts are the same whichever decoder is configured
(``HUGGY_JSON_DECODER``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    import jiter
except ImportError:  # the "fast" extra is optional
    jiter = None  # type: ignore[assignment]

#: A decoder that reads a well-formed body, and raises on anything else.
FastDecoder = Callable[[bytes], Any]

#: The names ``HUGGY_JSON_DECODER`` takes; ``"auto"`` is jiter when installed.
JSON_DECODERS = ("auto", "stdlib", "jiter")


def _jiter_decode(body: bytes) -> Any:
    # The stdlib path refuses NaN/Infinity and repeated keys; so must this one.
    # cache_mode="keys": keys repeat across deliveries, message texts do not,
    # and a process-wide cache is no place for customers' messages.
    return jiter.from_json(body, allow_inf_nan=False, catch_duplicate_keys=True, cache_mode="keys")


def jiter_available() -> bool:
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
        return "jiter" if jiter_available() else "stdlib"
    if name == "jiter" and not jiter_available():
        raise ValueError("is 'jiter', which is not installed: pip install 'flask-huggy[fast]'")
    return name


def fast_decoder(name: str) -> FastDecoder | None:
    """The decoder to try before the stdlib's for ``name``; ``None`` means the stdlib's alone.

    Raises :exc:`ValueError` as :func:`resolve_decoder` does.
    """
    try:
        return _FAST_DECODERS[name]
    except KeyError:
        resolve_decoder(name)  # raises, saying why
        raise


#: Looked up on every request, so settled once; a name missing here is refused.
_FAST_DECODERS: dict[str, FastDecoder | None] = {"stdlib": None, "auto": None}
if jiter is not None:
    _FAST_DECODERS["auto"] = _FAST_DECODERS["jiter"] = _jiter_decode


__all__ = ["JSON_DECODERS", "FastDecoder", "fast_decoder", "jiter_available", "resolve_decoder"]
