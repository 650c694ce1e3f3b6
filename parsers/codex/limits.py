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

A refused call (HTTP 429) is not written to the rollout, but Codex saves the
snapshot the refusal carried: an exhausted window (newer versions also set
``rate_limit_reached_type``) with no call completing. A full window alone is
no refusal, as Codex lets calls through at 100%; a turn that ends after such
a snapshot without a call is one, and becomes a ``LimitHit``.

Codex releases read so far do not persist ``error`` events; a rollout that
has one (another persistence mode, a fork) is read by ``words_refusal``: the
vendor's words (``analyzer.api.read_refusal``) fill a pending refusal's reset and
window, or, for a provider that sends no snapshots (a GLM or Kimi endpoint
configured as ``model_provider``), are the refusal themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from analyzer.api import LimitHit, QuotaReading, format_utc, parse_iso, read_refusal, utc_iso

AGENT = "codex"
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
                Window(
                    slot,
                    float(used),
                    classify_window(rate_limits.get(f"{slot}_window_minutes")),
                    _after(line_ts, after),
                    raw,
                )
            )
    else:
        for slot in ("primary", "secondary"):
            window = rate_limits.get(slot)
            if not isinstance(window, dict) or not _is_number(window.get("used_percent")):
                continue
            if isinstance(window.get("resets_at"), (int, float, str)):
                resets = _absolute(window["resets_at"])
            else:
                resets = _after(line_ts, window.get("resets_in_seconds"))
            windows.append(
                Window(
                    slot, float(window["used_percent"]), classify_window(window.get("window_minutes")), resets, window
                )
            )
    limit_id = rate_limits.get("limit_id")
    reached = rate_limits.get("rate_limit_reached_type")
    return Snapshot(
        limit_id=limit_id if isinstance(limit_id, str) else None,
        plan_type=rate_limits.get("plan_type") if isinstance(rate_limits.get("plan_type"), str) else None,
        reached_type=reached if isinstance(reached, str) and reached else None,
        windows=windows,
    )


def readings(snapshot: Snapshot, sid: str, ts: str) -> Iterator[QuotaReading]:
    """One reading per window; a family without windows (a credit pool) gives none.

    The key is the thread, the line's time and the slot: a copy of the file
    gives the same keys, successive snapshots different ones.
    """
    family = snapshot.limit_id or MAIN_LIMIT_ID
    for w in snapshot.windows:
        yield QuotaReading(
            key=f"{AGENT}:{sid}:{ts}:{family}:{w.slot}",
            agent=AGENT,
            observed_at=ts,
            used_percent=w.used_percent,
            window_minutes=w.window_minutes,
            resets_at=w.resets_at,
            plan_type=snapshot.plan_type,
            scope=snapshot.scope,
            source="log",
            raw=w.raw,
        )


def pending_refusal(snapshot: Snapshot, ts: str) -> dict | None:
    """An exhausted snapshot that came with no completed call, as a possible refusal.

    It is either the refresh at the start of a call that will still go through
    (Codex lets calls through at 100%), or the snapshot Codex saves when a call
    is refused (HTTP 429). Which one, only the rest of the turn tells: the
    parser keeps this (JSON, in its state) until a call completes or the turn
    ends. The window waited for is, of the exhausted ones, the last to reset.
    """
    if not snapshot.windows or not (snapshot.reached_type or snapshot.exhausted()):
        return None
    exhausted = snapshot.exhausted()
    window = max(exhausted, key=lambda w: (w.resets_at or "", w.window_minutes or 0)) if exhausted else None
    return {
        "ts": ts,
        "reset": window.resets_at if window else None,
        "win": window.window_minutes if window else None,
        "type": snapshot.reached_type or "usage_limit_reached",
    }


def words_refusal(
    message: object, ts: str, pending: dict | None, provider: str | None, model: str | None
) -> dict | None:
    """A pending refusal from an ``error`` event's text: ``pending`` completed where it lacks
    a reset or window, or a new one when the text is a plan window's refusal; else None."""
    found = read_refusal(message, at=ts, provider=provider, model=model)
    if found is None or not found.is_plan_window:
        return None
    hit = dict(pending) if pending else {"ts": ts, "reset": None, "win": None, "type": found.limit_type}
    hit["reset"] = hit.get("reset") or found.reset_at
    hit["win"] = hit.get("win") or found.window_minutes
    return hit


def refusal(hit: dict, sid: str | None, model: str | None) -> LimitHit:
    """A pending refusal the end of its turn confirmed."""
    return LimitHit(
        key=f"{AGENT}:hit:{sid}:{hit['ts']}",
        agent=AGENT,
        session_id=sid,
        ts=hit["ts"],
        reset_at=hit.get("reset"),
        window_minutes=hit.get("win"),
        limit_type=hit.get("type"),
        model=model,
    )


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@lru_cache(maxsize=4096)
def _absolute(value) -> str | None:
    """``resets_at``: epoch seconds, or (0.48 pre-release) RFC 3339 text.

    Cached: every snapshot of one window repeats the same reset.
    """
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
