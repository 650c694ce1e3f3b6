"""The pieces of a refused call an agent kept, and the reset instants they name.

``gather`` walks whatever was logged (text with JSON inside, a decoded body,
an SDK error object with ``data``/``cause``/``responseBody``) and collects its
texts, its codes (``code``, ``type``, ``name``, ``[1308]``), the HTTP status,
and a reset stated outright (``resets_at``, ``resets_in_seconds``,
``retryDelay``). The stamp readers turn "reset at 2026-10-04 03:00:00",
"resets at 2026-10-04T15:00:00+08:00" or "try again in 5 days 22 hours" into
stored UTC instants; a stamp without a zone is read in the zone given, never
guessed. ``analyzer.contract.refusals`` decides what the pieces mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

import orjson

from .timeutil import format_utc, parse_iso, utc_iso


@dataclass
class Facts:
    """What the agent kept of one refusal."""

    texts: list[str]
    codes: list[str]
    status: int | None = None
    resets_at: object = None
    resets_in: float | None = None
    plan_type: str | None = None


_STATUS_TEXT = re.compile(
    r"(?:API Error|HTTP|status(?: code)?|Error code)\s*:?\s*\(?(\d{3})\b|\((\d{3})\)|^\s*\[?(?:[\w.]+\]\s*)?(\d{3})\b(?=\s*[:{A-Za-z\[])",
    re.I,
)
_BRACKET_CODE = re.compile(r"\[(\d{4})\]\s*\[")
_CODE_KEYS = ("code", "type", "error_code", "errorCode", "name", "reason", "status")
_MAX_DEPTH = 8


def gather(error: object, facts: Facts, depth: int = 0) -> None:
    if depth > _MAX_DEPTH or error is None:
        return
    if isinstance(error, (bytes, bytearray)):
        error = bytes(error).decode("utf-8", "replace")
    if isinstance(error, str):
        _gather_text(error, facts, depth)
    elif isinstance(error, dict):
        _gather_dict(error, facts, depth)
    elif isinstance(error, (list, tuple)):
        for item in error[:20]:
            gather(item, facts, depth + 1)


def _gather_text(text: str, facts: Facts, depth: int) -> None:
    text = text.strip()
    if not text:
        return
    facts.texts.append(text[:2000])
    if facts.status is None:
        m = _STATUS_TEXT.search(text[:200])
        if m:
            facts.status = int(next(g for g in m.groups() if g))
    for code in _BRACKET_CODE.findall(text):
        facts.codes.append(code)
    start = text.find("{")
    if start != -1:
        end = text.rfind("}")
        if end > start:
            try:
                gather(orjson.loads(text[start : end + 1]), facts, depth + 1)
            except orjson.JSONDecodeError:
                pass


def _gather_dict(obj: dict, facts: Facts, depth: int) -> None:
    for key in _CODE_KEYS:
        value = obj.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            facts.codes.append(str(value).strip())
    for key in ("statusCode", "status_code", "status", "httpStatus"):
        value = obj.get(key)
        if facts.status is None and isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 600:
            facts.status = value
    for key in (
        "message",
        "status_msg",
        "msg",
        "error_message",
        "errorMessage",
        "detail",
        "details",
        "text",
        "responseBody",
        "body",
        "error",
        "data",
        "cause",
        "base_resp",
        "metadata",
    ):
        value = obj.get(key)
        if value is not None and value is not obj:
            gather(value, facts, depth + 1)
    for key in ("resets_at", "resetsAt", "quotaResetTimeStamp", "reset_at"):
        if facts.resets_at is None and obj.get(key) not in (None, ""):
            facts.resets_at = obj[key]
    for key in ("resets_in_seconds", "retry_after", "retryAfter"):
        seconds = _number(obj.get(key))
        if facts.resets_in is None and seconds is not None:
            facts.resets_in = seconds
    for key in ("retryDelay", "quotaResetDelay"):
        if facts.resets_in is None and isinstance(obj.get(key), str):
            facts.resets_in = duration(obj[key])
    if facts.plan_type is None and isinstance(obj.get("plan_type"), str):
        facts.plan_type = obj["plan_type"]


def _number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# --- durations and stamps ----------------------------------------------------------------

_UNITS = r"(?:milliseconds?|ms|minutes?|mins?|m|seconds?|secs?|s|hours?|hrs?|h|days?|d)(?![a-z])"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(" + _UNITS + ")", re.I)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float | None:
    """``"19h14m47s"``, ``"581981.3s"``, ``"5 days 22 hours 11 minutes"``, ``"~7670 min"`` to seconds."""
    parts = _DURATION_PART.findall(text)
    if not parts:
        return None
    total = 0.0
    for value, unit in parts:
        unit = unit.lower()
        key = "ms" if unit.startswith("ms") or unit.startswith("milli") else unit[0]
        total += float(value) * _UNIT_SECONDS[key]
    return total


DELAY = re.compile(
    r"(?:reset after|retry in|retry after|try again in|resets in|reset in|please wait)\s+~?\s*"
    r"((?:\d+(?:\.\d+)?\s*" + _UNITS + r"[\s,]*(?:and\s+)?)+)",
    re.I,
)
_STAMP = re.compile(
    r"(?:(\d{4})[-/])?(\d{1,2})[-/](\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"(\s*(?:Z\b|UTC\b|GMT\b|[+-]\d{2}:?\d{2}\b))?"
)


def after(at: str | None, seconds: float | None) -> str | None:
    if at is None or seconds is None or seconds < 0:
        return None
    return format_utc(parse_iso(at) + timedelta(seconds=seconds))


def _offset(text: str | None) -> tzinfo | None:
    if not text:
        return None
    text = text.strip()
    if text.upper() in ("Z", "UTC", "GMT"):
        return timezone.utc
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if not m:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    return timezone(timedelta(minutes=minutes if m.group(1) == "+" else -minutes))


def stamp_reset(text: str, at: str | None, zone: tzinfo | None, vendor: str | None, notes: list[str]) -> str | None:
    """The first reset stamp near a reset phrase (``… reset at 2026-10-04 03:00:00``); a stamp
    without a zone is read in ``zone`` (the vendor's, noted in ``notes``), or not at all."""
    anchor = re.search(r"reset|重置|刷新|恢复", text, re.I)
    if not anchor:
        return None
    window = text[max(0, anchor.start() - 60) : anchor.end() + 80]
    m = _STAMP.search(window)
    if not m:
        return None
    year, month, day, hour, minute, second, zone_text = m.groups()
    tz = _offset(zone_text)
    if tz is None:
        tz = zone
        if tz is None:
            return None  # a zone-less stamp from a vendor whose zone is not known: no instant
        notes.append(f"reset stamp without a zone read as {tz} ({vendor}'s own zone)")
    seen = parse_iso(at) if at else None
    if year:
        candidates = [int(year)]
    elif seen is not None:
        local = seen.astimezone(tz)
        candidates = [local.year, local.year + 1]
    else:
        return None
    for y in candidates:
        try:
            instant = datetime(y, int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=tz)
        except ValueError:
            return None
        if year or seen is None or instant > seen:
            return format_utc(instant)
    return None


def next_local(at: str | None, tz: tzinfo, *, weekday: int | None = None) -> str | None:
    """The next local midnight after ``at`` (on ``weekday``, 0 = Monday, when given)."""
    if at is None:
        return None
    local = parse_iso(at).astimezone(tz)
    day = datetime(local.year, local.month, local.day, tzinfo=tz) + timedelta(days=1)
    while weekday is not None and day.weekday() != weekday:
        day += timedelta(days=1)
    return format_utc(day)


def explicit_reset(facts: Facts, at: str | None) -> str | None:
    """A reset the body states as an instant or a delay (Codex, Gemini, Anthropic's epoch)."""
    if facts.resets_at is not None:
        value = facts.resets_at
        try:
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value.strip())
            instant = utc_iso(value)
        except (ValueError, OverflowError, OSError):
            instant = None
        if instant:
            return instant
    return after(at, facts.resets_in)
