"""Token checks, in one place so that every comparison is constant-time."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from .safelog import printable


def token_matches(candidate: object, tokens: Iterable[str]) -> bool:
    """Whether ``candidate`` equals one of ``tokens``.

    Every configured token is compared, whatever the earlier results, so the
    time taken does not tell an attacker which token (or how much of it) matched.
    Non-string candidates never match.
    """
    if not isinstance(candidate, str):
        return False
    given = candidate.encode("utf-8", "surrogatepass")
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, token.encode("utf-8", "surrogatepass"))
    return matched


def mask_token(token: object) -> str:
    """A token made safe for logs and messages: only its last 4 characters show.

    The hidden part has a fixed width, so neither the length of a real token nor a
    megabyte of attacker-sent "token" reaches the logs. Tokens of 8 characters or
    fewer are hidden completely: their last four would be half the secret.
    """
    if not isinstance(token, str) or not token:
        return "<none>"
    if len(token) <= 8:
        return "****"
    return "****" + printable(token[-4:])


def restore_token(delivery_raw: Mapping[str, Any], tokens: Iterable[str]) -> dict[str, Any]:
    """A journaled delivery with its masked token replaced by the configured token it masks.

    Receivers then get the delivery as Huggy sent it. When no configured token,
    or more than one, masks to it (``****`` hides short tokens whole), the mask
    is left: nothing checks the token of a replayed delivery.
    """
    raw = dict(delivery_raw)
    masked = raw.get("token")
    if isinstance(masked, str):
        matches = {token for token in tokens if mask_token(token) == masked}
        if len(matches) == 1:
            raw["token"] = matches.pop()
    return raw
