"""Text from a request, made safe to write into a log line.

A payload chooses its event names, its keys and the last characters of a wrong
token; written raw, a newline or an escape sequence in them forges log lines or
rewrites a terminal. Everything a request chose goes through :func:`printable`
before it reaches a logger.
"""

from __future__ import annotations

#: Longest text kept from a request in one log line.
MAX_LENGTH = 200


def printable(text: object, limit: int = MAX_LENGTH) -> str:
    """``text`` with every non-printable character escaped (``\\n``, ``\\x1b``), cut at ``limit``.

    Printable non-ASCII text (Portuguese names) is kept as it is.
    """
    value = text if isinstance(text, str) else str(text)
    if len(value) > limit:
        value = value[:limit] + "..."
    if value.isprintable():
        return value
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in value)


__all__ = ["MAX_LENGTH", "printable"]
