"""Reading numbers out of OpenCode's JSON, and the digest its record keys are made of."""

from __future__ import annotations

import hashlib

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
    """A token count or status code; 0 when absent or not a number."""
    if isinstance(value, bool):
        return 0
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def digest(*fields) -> str:
    """A stable key from the content that identifies a record (see ``model``)."""
    return hashlib.sha1("\x1f".join(str(f) for f in fields).encode()).hexdigest()[:32]
