"""Reading numbers out of OpenCode's JSON, and the digest its record keys are made of."""

from __future__ import annotations

import hashlib

from analyzer.api import token_count

AGENT = "opencode"


def ms(value) -> int | None:
    """An epoch-milliseconds field, or None when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def created_ms(data: dict) -> int | None:
    """``time.created`` (epoch ms) of a message, part or session object."""
    time = data.get("time")
    return ms(time.get("created")) if isinstance(time, dict) else None


def integer(value) -> int:
    """A status code; 0 when absent or not a number."""
    if isinstance(value, bool):
        return 0
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def count(value, name: str = "token count") -> int:
    """A token count (absent: 0). OpenCode may write a negative input (cached tokens
    taken from a count that never held them, ``model.usage_of``), so the sign is
    left to the caller; a value that is no whole number, or beyond any real call,
    raises ``BadValue``."""
    if value is None:
        return 0
    return -token_count(-value, name) if _negative(value) else token_count(value, name)


def _negative(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0


def digest(*fields) -> str:
    """A stable key from the content that identifies a record (see ``model``)."""
    return hashlib.sha1("\x1f".join(str(f) for f in fields).encode()).hexdigest()[:32]
