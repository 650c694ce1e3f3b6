"""Plan windows (5-hour and weekly) per agent, anchored to vendor resets where known.

A window instance is **anchored** when the vendor told us when it resets: a
quota reading's ``resets_at`` or a limit hit's ``reset_at`` (the
``window_anchors`` view groups them into instances). The window is then
``[resets_at - length, resets_at)``. Two anchored instances that overlap (the
vendor moved a reset) are cut so that the later one starts where the earlier
one ends.

Usage outside every anchored instance falls into **estimated** windows:

* 5 hours: the way Claude's are observed to behave: a window starts at the
  first request floored to the hour and lasts five hours; the next request
  more than five hours after the start (or after the previous request) opens
  the next one.
* weekly: when the agent has any anchored weekly instance, weekly windows are
  periodic (a fixed instant every 7 days, as Claude and Codex report them), so
  the slot is extrapolated from the nearest vendor reset; otherwise a window
  starts at the first request floored to the hour and lasts 7 days.

Estimated windows never overlap anchored ones: they start no earlier than the
previous window ended and end no later than the next anchored one starts.
Every window says which kind it is and on what basis.

The work is done on per-hour aggregates from SQL; an hour that straddles a
window boundary is re-read in parts, each from a request to the end of the
window it falls in, so the split is exact. (Windows never overlap, and a
request inside a window's span never opens another: no two requests of a
5-hour window are more than five hours apart.)
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from analyzer.reports.usage import Filters, ensure_prices, hourly_where
from analyzer.contract.timeutil import UTC, format_utc, now_utc, parse_iso

if TYPE_CHECKING:
    import sqlite_utils

FIVE_HOURS = 300

WEEK = 10080
BLOCK = timedelta(hours=5)
_SUMS = ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
         "cost_usd", "cost_usd_openai", "cost_usd_anthropic", "cost_cny", "unpriced_requests")  # fmt: skip
_AGGREGATES = ("count(*)", "sum(input_tokens)", "sum(cache_read_tokens)", "sum(cache_write_tokens)",
               "sum(output_tokens)", "sum(reasoning_tokens)", "sum(coalesce(cost_usd, 0))",
               "sum(coalesce(cost_usd_openai, 0))", "sum(coalesce(cost_usd_anthropic, 0))", "sum(coalesce(cost_cny, 0))",
               "sum(cost_usd is null)")  # fmt: skip
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
        t = parse_iso(ts)
        return self.start <= t < self.end

    def add(self, first: str, last: str, values: tuple) -> None:
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
            active = bool(self.last) and now < self.end and now - parse_iso(self.last) < timedelta(minutes=self.minutes)
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


def _floor_hour(ts: str) -> datetime:
    return parse_iso(ts).replace(minute=0, second=0, microsecond=0)


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
    found: list[Window] = []
    for start, reset, readings, hits, used in rows:
        begin, end = parse_iso(start), parse_iso(reset)
        if found and begin < found[-1].end:
            begin = found[-1].end  # the vendor moved the reset: the later instance starts where the earlier ended
        if begin >= end:
            continue
        what = " and ".join(p for p in (f"{readings} quota reading{'s' * (readings != 1)}" if readings else "",
                                        f"{hits} limit hit{'s' * (hits != 1)}" if hits else "") if p)  # fmt: skip
        found.append(Window(agent, minutes, begin, end, "anchored", f"vendor reset time from {what}", readings, hits,
                            used))  # fmt: skip
    return found


class _Sweep:
    """Assigns request times, in order, to anchored or estimated windows of one agent."""

    def __init__(self, agent: str, minutes: int, anchored: list[Window]):
        self.agent, self.minutes, self.length = agent, minutes, timedelta(minutes=minutes)
        self.anchored = anchored
        self.starts = [w.start for w in anchored]
        self.windows: list[Window] = list(anchored)
        self.current: Window | None = None  # the open estimated window

    def assign(self, ts: str) -> Window:
        t = parse_iso(ts)
        i = bisect_right(self.starts, t) - 1
        if i >= 0 and t < self.anchored[i].end:
            return self.anchored[i]
        cur = self.current
        if cur is not None and cur.start <= t < cur.end and not (
            self.minutes == FIVE_HOURS and cur.last and t - parse_iso(cur.last) > self.length
        ):
            return cur
        floor = i >= 0 and self.anchored[i].end or None  # an estimated window starts after the last anchored one
        nxt = self.anchored[i + 1].start if i + 1 < len(self.anchored) else None
        if self.minutes == WEEK and self.anchored:
            ref = min(self.anchored, key=lambda w: abs(w.end - t)).end
            periods = (t - ref) // self.length
            start, basis = ref + periods * self.length, f"7-day period extrapolated from the vendor reset {format_utc(ref)}"
        else:
            start, basis = _floor_hour(ts), "first request floored to the hour"
        if cur is not None and start < cur.end:
            start = cur.end if cur.end <= t else start
        if floor is not None and start < floor:
            start = floor
        end = start + self.length
        if nxt is not None and end > nxt:
            end = nxt
        window = Window(self.agent, self.minutes, start, end, "estimated", basis)
        self.windows.append(window)
        self.current = window
        return window


def windows(db: sqlite_utils.Database, filters: Filters, *, minutes: int = FIVE_HOURS,
            now: datetime | None = None) -> list[dict]:  # fmt: skip
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
                lo, hi, *part, first = db.execute(f"select {_PART}, min(ts) filter (where ts >= ?) from priced_requests"
                                                  f" where 1{cond}", [*[part_end] * _PART_ARGS, part_end, agent, first,
                                                                      hour_end, *params]).fetchone()  # fmt: skip
                target.add(lo, hi, part)
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
