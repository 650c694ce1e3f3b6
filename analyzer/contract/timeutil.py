"""Time helpers: one text format for stored instants, and time-zone resolution.

Stored instants are ISO-8601 UTC with milliseconds and ``Z``, so that text order
is time order in SQLite. Reports group in a time zone given by IANA name
(``--tz``), defaulting to the local zone.
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
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


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
    return parse_iso(text)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def stored_ms(text: str) -> int:
    """A stored instant as epoch milliseconds (exact: stored instants have millisecond precision)."""
    return datetime_ms(parse_iso(text))


def datetime_ms(dt: datetime) -> int:
    """An aware datetime as epoch milliseconds (sub-millisecond parts dropped)."""
    return (dt - _EPOCH) // _MS


def ms_datetime(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (exact)."""
    return _EPOCH + ms * _MS


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
