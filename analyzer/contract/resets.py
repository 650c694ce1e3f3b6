"""Reset times written as words: "resets 6pm (Europe/Helsinki)", "resets Sep 3", "resets Tuesday".

Agents print the time a plan window resets in the user's zone, often without a
date. The instant is the first matching moment after the message itself. When
the message names no zone the instant is unknown (``None``): guessing a zone
would make a number look surer than it is.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from analyzer.contract.timeutil import UTC, format_utc, parse_iso

_MONTHS = {
    m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)
}
_WEEKDAYS = {d: i for i, d in enumerate(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])}

_ZONE = re.compile(r"\(([A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)*|UTC|GMT)\)")
_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*(am|pm)\b|\b(\d{1,2}):(\d{2})\b", re.I)
_MONTH_DAY = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})\b", re.I)
_WEEKDAY = re.compile(r"\b(mon|tue|wed|thu|fri|sat|sun)[a-z]*\b", re.I)


def zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    if name.upper() in ("UTC", "GMT"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def reset_after(phrase: str, observed_at: str) -> str | None:
    """The instant a worded reset time means, seen at ``observed_at`` (stored form).

    ``phrase`` is the text after "resets" (it may hold the zone in brackets).
    """
    tz = None
    m = _ZONE.search(phrase)
    if m:
        tz = zone(m.group(1))
    if tz is None:
        return None
    seen = parse_iso(observed_at).astimezone(tz)
    hour, minute, has_clock = 0, 0, False
    cm = _CLOCK.search(phrase)
    if cm:
        has_clock = True
        if cm.group(3):
            hour = int(cm.group(1)) % 12 + (12 if cm.group(3).lower() == "pm" else 0)
            minute = int(cm.group(2) or 0)
        else:
            hour, minute = int(cm.group(4)), int(cm.group(5))
        if hour > 23 or minute > 59:
            return None
    md = _MONTH_DAY.search(phrase)
    if md:
        month, day = _MONTHS[md.group(1).lower()[:3]], int(md.group(2))
        for year in (seen.year, seen.year + 1):
            try:
                candidate = datetime(year, month, day, hour, minute, tzinfo=tz)
            except ValueError:
                return None
            if candidate > seen:
                return format_utc(candidate)
        return None
    wd = _WEEKDAY.search(phrase)
    if wd:
        target = _WEEKDAYS[wd.group(1).lower()[:3]]
        days = (target - seen.weekday()) % 7
        candidate = datetime(seen.year, seen.month, seen.day, hour, minute, tzinfo=tz) + timedelta(days=days)
        if candidate <= seen:
            candidate += timedelta(days=7)
        return format_utc(candidate)
    if not has_clock:
        return None
    candidate = datetime(seen.year, seen.month, seen.day, hour, minute, tzinfo=tz)
    if candidate <= seen:
        candidate = datetime(seen.year, seen.month, seen.day, tzinfo=tz) + timedelta(days=1)
        candidate = candidate.replace(hour=hour, minute=minute)
    return format_utc(candidate)
