"""Codex rate-limit snapshots: from ``token_count.rate_limits`` to plan windows.

Codex copies the ``x-codex-*`` response headers into a snapshot on (nearly)
every ``token_count`` event. Three shapes have been written over time:

* flat (about 0.40): ``primary_used_percent``, ``primary_window_minutes``,
  ``primary_reset_after_seconds`` and the ``secondary_*`` set;
* nested with ``resets_in_seconds`` (0.41-0.47): seconds after the line's own
  timestamp;
* nested with ``resets_at`` (0.48 on): epoch seconds (briefly RFC 3339 text),
  later with ``limit_id``, ``plan_type`` and ``rate_limit_reached_type``.

The slot says nothing about the window: ``primary`` has held the weekly window
with ``secondary: null`` for most of 2026. A window is classified by its length
(within 5%, as Codex itself labels them). A snapshot family without windows
(``limit_id: "premium"`` with null windows, a credit pool) is not a reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from analyzer.timeutil import format_utc, parse_iso, utc_iso

MAIN_LIMIT_ID = "codex"
# Canonical window lengths in minutes: 5 hours, a day, a week, a month, a year.
CANONICAL_WINDOWS = (300, 1440, 10080, 43200, 525600)
WINDOW_TOLERANCE = 0.05


@dataclass(frozen=True)
class Window:
    """One window of one snapshot, normalised."""

    slot: str  # "primary" or "secondary"
    used_percent: float
    window_minutes: int | None
    resets_at: str | None
    raw: dict


@dataclass(frozen=True)
class Snapshot:
    limit_id: str | None
    plan_type: str | None
    reached_type: str | None
    windows: list[Window]

    @property
    def scope(self) -> str | None:
        """The limit family, when it is not the main ``codex`` one."""
        return None if self.limit_id in (None, MAIN_LIMIT_ID) else self.limit_id

    def exhausted(self) -> list[Window]:
        return [w for w in self.windows if w.used_percent >= 100]


def classify_window(minutes) -> int | None:
    """Window length to its canonical value (299 -> 300, 10079 -> 10080, 43800 -> 43200)."""
    if not _is_number(minutes) or minutes <= 0:
        return None
    for canonical in CANONICAL_WINDOWS:
        if abs(minutes - canonical) <= WINDOW_TOLERANCE * canonical:
            return canonical
    return int(round(minutes))


def read_snapshot(rate_limits: dict, line_ts: str) -> Snapshot | None:
    """The windows of one ``rate_limits`` object, in whichever shape it was written."""
    if not isinstance(rate_limits, dict):
        return None
    windows: list[Window] = []
    if any(key in rate_limits for key in ("primary_used_percent", "secondary_used_percent")):
        for slot in ("primary", "secondary"):
            used = rate_limits.get(f"{slot}_used_percent")
            if not _is_number(used):
                continue
            after = rate_limits.get(f"{slot}_reset_after_seconds", rate_limits.get(f"{slot}_resets_in_seconds"))
            raw = {k: v for k, v in rate_limits.items() if k.startswith(slot)}
            windows.append(
                Window(slot, float(used), classify_window(rate_limits.get(f"{slot}_window_minutes")),
                       _after(line_ts, after), raw)
            )  # fmt: skip
    else:
        for slot in ("primary", "secondary"):
            window = rate_limits.get(slot)
            if not isinstance(window, dict) or not _is_number(window.get("used_percent")):
                continue
            if "resets_at" in window and window["resets_at"] is not None:
                resets = _absolute(window["resets_at"])
            else:
                resets = _after(line_ts, window.get("resets_in_seconds"))
            windows.append(
                Window(slot, float(window["used_percent"]), classify_window(window.get("window_minutes")), resets, window)
            )
    limit_id = rate_limits.get("limit_id")
    reached = rate_limits.get("rate_limit_reached_type")
    return Snapshot(
        limit_id=limit_id if isinstance(limit_id, str) else None,
        plan_type=rate_limits.get("plan_type") if isinstance(rate_limits.get("plan_type"), str) else None,
        reached_type=reached if isinstance(reached, str) and reached else None,
        windows=windows,
    )


def binding_window(snapshot: Snapshot) -> Window | None:
    """The window a refused request waits for: of the exhausted ones, the last to reset."""
    exhausted = snapshot.exhausted()
    if not exhausted:
        return None
    return max(exhausted, key=lambda w: (w.resets_at or "", w.window_minutes or 0))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _absolute(value) -> str | None:
    """``resets_at``: epoch seconds, or (0.48 pre-release) RFC 3339 text."""
    try:
        if _is_number(value):
            return utc_iso(value)
        if isinstance(value, str) and value.strip():
            text = value.strip()
            return utc_iso(int(text)) if text.isdigit() else utc_iso(text)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _after(line_ts: str, seconds) -> str | None:
    """A reset given as seconds after the line was written."""
    if not _is_number(seconds) or not line_ts:
        return None
    try:
        return format_utc(parse_iso(line_ts) + timedelta(seconds=float(seconds)))
    except (ValueError, OverflowError):
        return None
