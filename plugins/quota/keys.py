"""Keys of quota readings: one row per (window, percent, reset) an observer saw.

A quota endpoint or a statusline says the same thing over and over; only a
change is news. A reading's key names its agent, source, window, scope, the
reset instant (rounded to the minute: vendors jitter it by milliseconds to
seconds between two answers about the same window) and the percent, so a
repeat upserts onto the first row seen and keeps the first time it was seen.
This module imports nothing heavy: the statusline uses it on its hot path.
"""

from __future__ import annotations


def _minute(resets_at: str | None) -> str:
    """Stored-form instant rounded to the nearest minute, as ``YYYY-MM-DDTHH:MM``."""
    if not resets_at:
        return ""
    from datetime import datetime, timedelta, timezone

    dt = datetime.fromisoformat(resets_at[:23]).replace(tzinfo=timezone.utc)
    dt = (dt + timedelta(seconds=30)).replace(second=0, microsecond=0)
    return dt.strftime("%Y-%m-%dT%H:%M")


def reading_key(
    agent: str, source: str, window_minutes: int | None, scope: str | None, resets_at: str | None, used_percent: float
) -> str:
    """The dedupe key of a reading (``resets_at`` in stored form, or None)."""
    window = "" if window_minutes is None else str(int(window_minutes))
    return f"{agent}:{source}:{window}:{scope or ''}:{_minute(resets_at)}:{float(used_percent):g}"
