"""Time helpers: one text format for stored instants, and time-zone resolution.

Stored instants are ISO-8601 UTC with milliseconds and ``Z``, so that text order
is time order in SQLite. Reports group in a time zone given by IANA name
(``--tz``), defaulting to the local zone.

The helpers that read stored instants back (``stored_ms``, ``ms_datetime``,
``parse_stored``) never fail on what a store may hold: records are validated
when written (``analyzer.contract.validation``), but a store written before may
hold a year 1 or 9999, or text that is no time at all. Instants computed from
such rows (a window's end after 9999, its start before year 1) are clamped to
the range Python's ``datetime`` can hold, and text that is no time reads as the
earliest instant, so every report still runs.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone, tzinfo

UTC = timezone.utc


def utc_iso(value: object) -> str | None:
    """Normalise an instant (ISO text, epoch seconds or ms, datetime) to stored form."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        # Fast path: already '2026-07-03T10:00:00.572Z'.
        if len(value) == 24 and value[10] == "T" and value[23] == "Z" and value[19] == ".":
            return value
        dt = parse_iso(value)
    elif isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        dt = from_epoch(value)
    else:
        raise ValueError(f"not a time: {value!r}")
    return format_utc(dt)


def format_utc(dt: datetime) -> str:
    """The stored form of an instant (four-digit years everywhere: strftime's ``%Y`` is not)."""
    dt = dt.astimezone(UTC)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
        f".{dt.microsecond // 1000:03d}Z"
    )


def from_epoch(value: float) -> datetime:
    """Epoch seconds, or milliseconds when the number is too large to be seconds."""
    seconds = float(value)
    if seconds > 1e11:  # later than year 5138 in seconds: it is milliseconds
        seconds /= 1000.0
    return datetime.fromtimestamp(seconds, UTC)


def parse_iso(text: str) -> datetime:
    """Parse ISO-8601 text (``Z`` or offset, any fraction); naive means UTC."""
    if len(text) == 24 and text[23] == "Z" and text[19] == "." and text[10] == "T":
        return datetime.fromisoformat(text)  # the stored form: Python 3.11 reads it as is
    s = text.strip()
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    # Python 3.11 handles most forms; trim fractions longer than microseconds.
    if "." in s:
        head, _, rest = s.partition(".")
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        s = head + "." + (digits[:6] or "0") + rest[i:]
    dt = datetime.fromisoformat(s)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def parse_stored(text: str) -> datetime:
    """A stored instant as an aware datetime; never raises (clamped as ``stored_ms`` does)."""
    return ms_datetime(stored_ms(text))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
# What instants read from a store clamp to: the range Python's datetime holds.
_MIN_MS = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _MS
_MAX_MS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MS


def stored_ms(text: str) -> int:
    """A stored instant as epoch milliseconds (exact: stored instants have millisecond precision).

    Never raises: an instant outside Python's range is clamped, text that is no
    time reads as the earliest instant (see the module's docstring)."""
    try:
        ms = (parse_iso(text) - _EPOCH) // _MS
    except (ValueError, TypeError, OverflowError, AttributeError):
        return _MAX_MS if isinstance(text, str) and text[:1].isdigit() and text[:5] > "9999-" else _MIN_MS
    return min(max(ms, _MIN_MS), _MAX_MS)


def datetime_ms(dt: datetime) -> int:
    """An aware datetime as epoch milliseconds (sub-millisecond parts dropped)."""
    return (dt - _EPOCH) // _MS


def ms_datetime(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (exact, within the range a store's instants are read to)."""
    return _EPOCH + min(max(ms, _MIN_MS), _MAX_MS) * _MS


def in_zone(dt: datetime, tz: tzinfo) -> datetime:
    """``dt`` in ``tz``; at the ends of the calendar (year 1, year 9999), where the
    zone's offset would leave Python's range, ``dt`` as it is."""
    try:
        return dt.astimezone(tz)
    except (OverflowError, ValueError):
        return dt


def ms_stored(ms: int) -> str:
    """Epoch milliseconds in the stored form."""
    return format_utc(ms_datetime(ms))


def resolve_tz(name: str | None) -> tzinfo:
    """The zone for ``--tz``: an IANA name, else ``TZ``, else the system's local zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # here: the statusline's hot path never needs it

    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin or UTC") from exc
    env = os.environ.get("TZ")
    if env:
        try:
            return ZoneInfo(env.lstrip(":"))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    local = datetime.now().astimezone().tzinfo
    return local or UTC


def local_date_bounds(day: date, tz: tzinfo) -> tuple[str, str]:
    """The stored-form UTC instants where a local calendar day starts and the next starts."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = start + timedelta(days=1)
    end = datetime(end.year, end.month, end.day, tzinfo=tz)
    return format_utc(start), format_utc(end)


def parse_day_or_instant(text: str, tz: tzinfo, *, end: bool = False) -> str:
    """``--since/--until`` value to a stored instant.

    ``YYYY-MM-DD`` or ``YYYYMMDD`` is a local calendar day (``--until`` includes
    the whole day); anything else is read as an ISO instant, naive meaning ``tz``.
    """
    t = text.strip()
    day = None
    if len(t) == 8 and t.isdigit():
        day = date(int(t[:4]), int(t[4:6]), int(t[6:]))
    elif len(t) == 10 and t[4] == "-" and t[7] == "-":
        day = date.fromisoformat(t)
    if day is not None:
        start, next_start = local_date_bounds(day, tz)
        return next_start if end else start
    s = t[:-1] + "+00:00" if t.endswith("Z") else t
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return format_utc(dt)


def now_utc() -> datetime:
    return datetime.now(UTC)
