"""Plan windows estimated from the request ledger: 5-hour blocks.

Without a vendor reset time, a 5-hour window is estimated the way Claude's is
observed to behave: it starts at the first request floored to the hour and
lasts five hours; the next request more than five hours after the start (or
after the previous request) opens the next one. Every block says it is
``estimated``; later work anchors windows to vendor resets where known.

The work is done on per-minute aggregates from SQL, exact because a boundary
can only fall inside a minute that straddles a block's end; such a minute is
re-read request by request.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlite_utils

from .reports import Filters, ensure_prices
from .timeutil import UTC, format_utc, now_utc, parse_iso

BLOCK = timedelta(hours=5)
_SUMS = ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
         "cost_usd", "unpriced_requests")  # fmt: skip


@dataclass
class Block:
    agent: str
    start: datetime
    first: str = ""
    last: str = ""
    sums: dict = field(default_factory=lambda: dict.fromkeys(_SUMS, 0))
    prompts: int = 0

    @property
    def end(self) -> datetime:
        return self.start + BLOCK

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
        last = parse_iso(self.last)
        active = now < self.end and now - last < BLOCK
        known = round(s["cost_usd"], 6)
        return {
            "agent": self.agent,
            "start": format_utc(self.start),
            "end": format_utc(self.end),
            "first_request": self.first,
            "last_request": self.last,
            "kind": "estimated",
            "is_active": active,
            "requests": s["requests"],
            "prompts": self.prompts,
            "input_tokens": s["input_tokens"],
            "cache_read_tokens": s["cache_read_tokens"],
            "cache_write_tokens": s["cache_write_tokens"],
            "output_tokens": s["output_tokens"],
            "reasoning_tokens": s["reasoning_tokens"],
            "total_tokens": total,
            "cost_usd": None if s["unpriced_requests"] else known,
            "cost_usd_known": known,
            "unpriced_requests": s["unpriced_requests"],
        }


def _floor_hour(ts: str) -> datetime:
    dt = parse_iso(ts)
    return dt.replace(minute=0, second=0, microsecond=0)


_VALUES = (
    "count(*), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens),"
    " sum(reasoning_tokens), sum(coalesce(cost_usd, 0)), sum(cost_usd is null)"
)


def blocks(db: sqlite_utils.Database, filters: Filters, *, now: datetime | None = None) -> list[dict]:
    """Estimated 5-hour blocks per agent, oldest first."""
    ensure_prices(db)
    now = now or now_utc()
    where, params = filters.where()
    rows = db.execute(
        f"select agent, substr(ts, 1, 16) as minute, min(ts), max(ts), {_VALUES}"
        f" from priced_requests {where} group by agent, minute order by agent, minute",
        params,
    ).fetchall()
    out: list[Block] = []
    current: Block | None = None
    for agent, minute, first, last, *values in rows:
        if current is not None and current.agent != agent:
            current = None
        if current is not None and (_gap(current.last, first) or parse_iso(first) - current.start > BLOCK):
            current = None
        if current is None:
            current = Block(agent, _floor_hour(first))
            out.append(current)
        if parse_iso(last) - current.start <= BLOCK:
            current.add(first, last, values)
            continue
        # This minute straddles the block's end: split it request by request.
        singles = db.execute(
            f"select ts, {_VALUES} from priced_requests where agent = ? and substr(ts, 1, 16) = ?"
            + (f" and {where[7:]}" if where else "")
            + " group by ts order by ts",
            [agent, minute, *params],
        ).fetchall()
        for ts, *one in singles:
            if current is None or _gap(current.last, ts) or parse_iso(ts) - current.start > BLOCK:
                current = Block(agent, _floor_hour(ts))
                out.append(current)
            current.add(ts, ts, one)
    _count_prompts(db, filters, out)
    return [b.as_dict(now) for b in out]


def _gap(last: str, nxt: str) -> bool:
    return bool(last) and parse_iso(nxt) - parse_iso(last) > BLOCK


def _count_prompts(db: sqlite_utils.Database, filters: Filters, found: list[Block]) -> None:
    """Prompts typed inside each block (stored instants compare as text)."""
    spans: dict[str, tuple[list[str], list[str], list[Block]]] = {}
    for b in found:
        starts, ends, owners = spans.setdefault(b.agent, ([], [], []))
        starts.append(format_utc(b.start))
        ends.append(format_utc(b.end))
        owners.append(b)
    where, params = filters.where()
    cond = (where + " and is_sidechain = 0") if where else " where is_sidechain = 0"
    for agent, ts in db.execute(f"select agent, ts from prompts {cond}", params).fetchall():
        if agent not in spans:
            continue
        starts, ends, owners = spans[agent]
        i = bisect_right(starts, ts) - 1
        if i >= 0 and ts <= ends[i]:
            owners[i].prompts += 1


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)
