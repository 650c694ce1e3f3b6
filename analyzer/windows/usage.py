"""Plan windows (5-hour and weekly) per agent, with what was used in each.

Where windows lie is ``analyzer.windows.rule``: anchored to vendor resets (the
``window_anchors`` view groups readings and hits into instances), estimated
elsewhere. Every window says which of the two it is, and on what basis.

The work is done on per-hour aggregates from SQL; an hour that straddles a
window boundary is re-read in parts, each from a request to the end of the
window it falls in, so the split is exact. (Windows never overlap, and a
request inside a window's span never opens another.)
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from analyzer.contract.timeutil import (
    UTC,
    datetime_ms,
    format_utc,
    ms_datetime,
    ms_stored,
    now_utc,
    parse_iso,
    parse_stored,
    stored_ms,
)
from analyzer.reports.usage import Filters, ensure_prices, hourly_where
from analyzer.windows import rule

if TYPE_CHECKING:
    import sqlite_utils

FIVE_HOURS, WEEK = rule.FIVE_HOURS, rule.WEEK
_SUMS = (
    "requests",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cost_usd_openai",
    "cost_usd_anthropic",
    "cost_cny",
    "unpriced_requests",
)
_AGGREGATES = (
    "count(*)",
    "sum(input_tokens)",
    "sum(cache_read_tokens)",
    "sum(cache_write_tokens)",
    "sum(output_tokens)",
    "sum(reasoning_tokens)",
    "sum(coalesce(cost_usd, 0))",
    "sum(coalesce(cost_usd_openai, 0))",
    "sum(coalesce(cost_usd_anthropic, 0))",
    "sum(coalesce(cost_cny, 0))",
    "sum(cost_usd is null)",
)
_VALUES = ", ".join(_AGGREGATES)


# The same sums over the requests before an instant (the first part of a range).
_PART = ", ".join(f"{a} filter (where ts < ?)" for a in ("min(ts)", "max(ts)", *_AGGREGATES))
_PART_ARGS = _PART.count("?")


@dataclass
class Window:
    agent: str
    minutes: int
    start: datetime
    end: datetime
    kind: str  # anchored or estimated
    basis: str
    readings: int = 0
    limit_hits: int = 0
    max_used_percent: float | None = None
    first: str = ""
    last: str = ""
    sums: dict = field(default_factory=lambda: dict.fromkeys(_SUMS, 0))
    prompts: int = 0

    def contains(self, ts: str) -> bool:
        t = parse_stored(ts)
        return self.start <= t < self.end

    def add(self, first: str | None, last: str | None, values: tuple) -> None:
        if first is None or last is None:
            return  # an empty part
        if not self.first or first < self.first:
            self.first = first
        if last > self.last:
            self.last = last
        for name, value in zip(_SUMS, values):
            self.sums[name] += value or 0

    def as_dict(self, now: datetime) -> dict:
        s = self.sums
        total = s["input_tokens"] + s["cache_read_tokens"] + s["cache_write_tokens"] + s["output_tokens"]
        denominator = s["input_tokens"] + s["cache_read_tokens"] + s["cache_write_tokens"]
        if self.kind == "anchored":
            active = self.start <= now < self.end
        else:
            active = (
                bool(self.last) and now < self.end and now - parse_stored(self.last) < timedelta(minutes=self.minutes)
            )
        unknown = bool(s["unpriced_requests"])
        return {
            "agent": self.agent,
            "window_minutes": self.minutes,
            "start": format_utc(self.start),
            "end": format_utc(self.end),
            "kind": self.kind,
            "basis": self.basis,
            "is_active": active,
            "first_request": self.first or None,
            "last_request": self.last or None,
            "readings": self.readings,
            "limit_hits": self.limit_hits,
            "max_used_percent": self.max_used_percent,
            "requests": s["requests"],
            "prompts": self.prompts,
            "input_tokens": s["input_tokens"],
            "cache_read_tokens": s["cache_read_tokens"],
            "cache_write_tokens": s["cache_write_tokens"],
            "output_tokens": s["output_tokens"],
            "reasoning_tokens": s["reasoning_tokens"],
            "total_tokens": total,
            "cache_ratio": (s["cache_read_tokens"] / denominator) if denominator else None,
            "cost_usd": None if unknown else round(s["cost_usd"], 6),
            "cost_usd_known": round(s["cost_usd"], 6),
            "cost_usd_openai": None if unknown else round(s["cost_usd_openai"], 6),
            "cost_usd_anthropic": None if unknown else round(s["cost_usd_anthropic"], 6),
            "cost_cny": None if unknown else round(s["cost_cny"], 6),
            "unpriced_requests": s["unpriced_requests"],
        }


def anchors(db: sqlite_utils.Database, minutes: int, agents: tuple[str, ...] = ()) -> dict[str, list[Window]]:
    """Anchored instances of one window length (whole-plan windows, not model-scoped) per agent
    (of ``agents`` when given)."""
    cond = f" and agent in ({', '.join('?' * len(agents))})" if agents else ""
    rows = db.execute(
        "select agent, starts_at, resets_at, readings, limit_hits, max_used_percent from window_anchors"
        f" where window_minutes = ? and scope is null{cond} order by agent, resets_at",
        [minutes, *agents],
    ).fetchall()
    by_agent: dict[str, list] = {}
    for row in rows:
        by_agent.setdefault(row[0], []).append(row[1:])
    return {agent: _instances(agent, minutes, found) for agent, found in by_agent.items()}


def _instances(agent: str, minutes: int, rows: list) -> list[Window]:
    """Anchored instances from ``window_anchors`` rows (in reset order), cut where they overlap."""
    by_end = {stored_ms(row[1]): row for row in rows}
    spans = rule.cut((stored_ms(row[0]), end) for end, row in by_end.items())
    found: list[Window] = []
    for begin, end in spans:
        _start, _reset, readings, hits, used = by_end[end]
        what = " and ".join(
            p
            for p in (
                f"{readings} quota reading{'s' * (readings != 1)}" if readings else "",
                f"{hits} limit hit{'s' * (hits != 1)}" if hits else "",
            )
            if p
        )
        found.append(
            Window(
                agent,
                minutes,
                ms_datetime(begin),
                ms_datetime(end),
                "anchored",
                f"vendor reset time from {what}",
                readings,
                hits,
                used,
            )
        )
    return found


class _Sweep:
    """``rule.Sweep`` over stored instants, keeping a ``Window`` (with its sums) for each rule window."""

    def __init__(self, agent: str, minutes: int, anchored: list[Window]):
        self.agent, self.minutes = agent, minutes
        self.rule = rule.Sweep(minutes, [(datetime_ms(w.start), datetime_ms(w.end)) for w in anchored])
        self.windows: list[Window] = list(anchored)

    def assign(self, ts: str) -> Window:
        found = self.rule.assign(stored_ms(ts))
        if found.anchor is not None:
            return self.windows[found.anchor]
        if len(self.windows) < len(self.rule.windows):  # it opened a window
            if found.reference is None:
                basis = "first request floored to the hour"
            else:
                basis = f"7-day period extrapolated from the vendor reset {ms_stored(found.reference)}"
            self.windows.append(
                Window(self.agent, self.minutes, ms_datetime(found.start), ms_datetime(found.end), "estimated", basis)
            )
        return self.windows[-1]  # an estimated window is always the one opened last


def windows(
    db: sqlite_utils.Database, filters: Filters, *, minutes: int = FIVE_HOURS, now: datetime | None = None
) -> list[dict]:
    """5-hour (``minutes=300``) or weekly (``10080``) windows per agent, oldest first."""
    ensure_prices(db)
    now = now or now_utc()
    where, params = filters.where()
    hourly, hourly_params = hourly_where(filters)
    rows = db.execute(
        f"select agent, substr(ts, 1, 13) as hour, min(ts), max(ts), {_VALUES}"
        f" from priced_requests {hourly} group by agent, hour order by agent, hour",
        hourly_params,
    ).fetchall()
    anchored_by_agent = anchors(db, minutes, filters.agents)
    agents = sorted({r[0] for r in rows} | set(anchored_by_agent))
    by_agent: dict[str, list] = {a: [] for a in agents}
    for row in rows:
        by_agent[row[0]].append(row)
    out: list[Window] = []
    for agent in agents:
        anchored = [w for w in anchored_by_agent.get(agent, []) if _overlaps(w, filters)]
        sweep = _Sweep(agent, minutes, anchored)
        for _agent, hour, first, last, *values in by_agent[agent]:
            target = sweep.assign(first)
            # The whole hour is the first request's window when its last request is inside that
            # window too: windows never overlap, and no later request of the hour opens one.
            if target.contains(last):
                target.add(first, last, values)
                continue
            # The hour holds a window boundary: take it in parts, each from a request to the end of
            # the window that request falls in. ts < 'YYYY-MM-DDTHH;' ends the hour (':' < ';').
            # One query a part: its sums, and the first request after it.
            cond = " and agent = ? and ts >= ? and ts < ?" + (f" and {where[7:]}" if where else "")
            hour_end = f"{hour};"
            while first is not None:
                part_end = min(format_utc(target.end), hour_end)
                start, (lo, hi, *part, first) = (
                    first,
                    db.execute(
                        f"select {_PART}, min(ts) filter (where ts >= ?) from priced_requests where 1{cond}",
                        [*[part_end] * _PART_ARGS, part_end, agent, first, hour_end, *params],
                    ).fetchone(),
                )
                target.add(lo, hi, part)
                if first is not None and first <= start:
                    # No progress: the window ends at the last instant Python can hold (a row
                    # of year 9999 from a store written before validation): the rest joins it.
                    lo, hi, *part, _ = db.execute(
                        f"select {_PART}, null from priced_requests where 1{cond}",
                        [*[hour_end] * _PART_ARGS, agent, first, hour_end, *params],
                    ).fetchone()
                    target.add(lo, hi, part)
                    break
                if first is not None:
                    target = sweep.assign(first)
        out.extend(sweep.windows)
    out.sort(key=lambda w: (w.agent, w.start))
    _count_prompts(db, filters, out)
    return [w.as_dict(now) for w in out]


def blocks(db: sqlite_utils.Database, filters: Filters, *, now: datetime | None = None) -> list[dict]:
    """5-hour windows per agent, oldest first (anchored where the vendor gave resets)."""
    return windows(db, filters, minutes=FIVE_HOURS, now=now)


def _overlaps(w: Window, filters: Filters) -> bool:
    if filters.since and w.end <= parse_iso(filters.since):
        return False
    if filters.until and w.start >= parse_iso(filters.until):
        return False
    return True


def _count_prompts(db: sqlite_utils.Database, filters: Filters, found: list[Window]) -> None:
    """Prompts typed inside each window (stored instants compare as text)."""
    spans: dict[str, tuple[list[str], list[str], list[Window]]] = {}
    for w in found:
        starts, ends, owners = spans.setdefault(w.agent, ([], [], []))
        starts.append(format_utc(w.start))
        ends.append(format_utc(w.end))
        owners.append(w)
    where, params = filters.where()
    cond = (where + " and is_sidechain = 0") if where else " where is_sidechain = 0"
    for agent, ts in db.execute(f"select agent, ts from prompts {cond}", params).fetchall():
        if agent not in spans:
            continue
        starts, ends, owners = spans[agent]
        i = bisect_right(starts, ts) - 1
        if i >= 0 and ts < ends[i]:
            owners[i].prompts += 1


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)
