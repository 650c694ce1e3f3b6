"""Plan windows (5-hour and weekly) per account, with what was used in each, per agent and machine.

A plan's window is the account's: every agent and machine that spends the
account fills the same window. Where windows lie is ``analyzer.windows.rule``:
anchored to the account's vendor resets (the ``window_anchors`` view groups
readings and hits of every agent into instances), estimated elsewhere from the
account's requests. Every window says which of the two it is, and on what
basis, and lists its usage per agent and per machine (``agents``,
``machines``); ``agent`` names the agents that used it, comma-separated.

Filters choose the requests counted: with ``--agent`` or ``--machine`` the
estimated windows are placed by those requests alone (one agent's part of the
account), while the vendor's resets stay the account's; the accounts shown are
those the agent (or machine) used in the period, or whose resets it logged.

The work is done on per-hour aggregates from SQL (the ``requests_account_hourly``
index holds them in (account, hour, agent, machine) order); an hour that
straddles a window boundary is re-read in parts, each from a request to the
end of the window it falls in, so the split is exact. (Windows never overlap,
and a request inside a window's span never opens another.)
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


_BREAKDOWN = ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")


@dataclass
class Window:
    account: str | None
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
    anchor_agents: str = ""  # the agents whose readings or refusals anchored it
    agents: dict = field(default_factory=dict)  # agent -> sums
    machines: dict = field(default_factory=dict)  # machine id -> sums

    def contains(self, ts: str) -> bool:
        t = parse_stored(ts)
        return self.start <= t < self.end

    def add(self, first: str | None, last: str | None, values: tuple, agent: str, machine: str | None) -> None:
        if first is None or last is None:
            return  # an empty part
        if not self.first or first < self.first:
            self.first = first
        if last > self.last:
            self.last = last
        for name, value in zip(_SUMS, values):
            self.sums[name] += value or 0
        for breakdown, key in ((self.agents, agent), (self.machines, machine)):
            part = breakdown.setdefault(key, {**dict.fromkeys(_BREAKDOWN, 0), "cost_usd": 0.0, "unpriced": 0})
            for name, value in zip(_BREAKDOWN, values):
                part[name] += value or 0
            part["cost_usd"] += values[6] or 0
            part["unpriced"] += values[10] or 0

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
            "account": self.account,
            "agent": ",".join(sorted(self.agents)) if self.agents else self.anchor_agents,
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
            "agents": _breakdown(self.agents, "agent"),
            "machines": _breakdown(self.machines, "machine_id"),
        }


def _breakdown(parts: dict, name: str) -> list[dict]:
    """A window's usage per agent (or machine), most requests first."""
    out = []
    for key, part in sorted(parts.items(), key=lambda kv: (-kv[1]["requests"], kv[0] or "")):
        total = sum(part[c] for c in _BREAKDOWN[1:])
        out.append(
            {
                name: key,
                **{c: part[c] for c in _BREAKDOWN},
                "total_tokens": total,
                "cost_usd": None if part["unpriced"] else round(part["cost_usd"], 6),
            }
        )
    return out


def anchors(db: sqlite_utils.Database, minutes: int, accounts: tuple[str, ...] = ()) -> dict[str | None, list[Window]]:
    """Anchored instances of one window length (whole-plan windows, not model-scoped) per account
    (of ``accounts`` when given)."""
    cond = f" and account in ({', '.join('?' * len(accounts))})" if accounts else ""
    rows = db.execute(
        "select account, starts_at, resets_at, readings, limit_hits, max_used_percent, agents from window_anchors"
        f" where window_minutes = ? and scope is null{cond} order by account, resets_at",
        [minutes, *accounts],
    ).fetchall()
    by_account: dict[str | None, list] = {}
    for row in rows:
        by_account.setdefault(row[0], []).append(row[1:])
    return {account: _instances(account, minutes, found) for account, found in by_account.items()}


def _instances(account: str | None, minutes: int, rows: list) -> list[Window]:
    """Anchored instances from ``window_anchors`` rows (in reset order), cut where they overlap."""
    by_end = {stored_ms(row[1]): row for row in rows}
    spans = rule.cut((stored_ms(row[0]), end) for end, row in by_end.items())
    found: list[Window] = []
    for begin, end in spans:
        _start, _reset, readings, hits, used, agents = by_end[end]
        what = " and ".join(
            p
            for p in (
                f"{readings} quota reading{'s' * (readings != 1)}" if readings else "",
                f"{hits} limit hit{'s' * (hits != 1)}" if hits else "",
            )
            if p
        )
        window = Window(
            account,
            minutes,
            ms_datetime(begin),
            ms_datetime(end),
            "anchored",
            f"vendor reset time from {what}",
            readings,
            hits,
            used,
        )
        window.anchor_agents = ",".join(sorted(set((agents or "").split(",")) - {""}))
        found.append(window)
    return found


class _Sweep:
    """``rule.Sweep`` over stored instants, keeping a ``Window`` (with its sums) for each rule window."""

    def __init__(self, account: str | None, minutes: int, anchored: list[Window]):
        self.account, self.minutes = account, minutes
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
                Window(self.account, self.minutes, ms_datetime(found.start), ms_datetime(found.end), "estimated", basis)
            )
        return self.windows[-1]  # an estimated window is always the one opened last


def _hours(rows: list) -> list[tuple]:
    """Per-(account, hour, agent, machine) rows as (account, hour, first, last, parts) per (account, hour)."""
    out: list[tuple] = []
    for account, hour, agent, machine, first, last, *values in rows:
        if out and out[-1][0] == account and out[-1][1] == hour:
            _, _, lo, hi, parts = out[-1]
            parts.append((agent, machine, first, last, values))
            out[-1] = (account, hour, min(lo, first), max(hi, last), parts)
        else:
            out.append((account, hour, first, last, [(agent, machine, first, last, values)]))
    return out


def windows(
    db: sqlite_utils.Database, filters: Filters, *, minutes: int = FIVE_HOURS, now: datetime | None = None
) -> list[dict]:
    """5-hour (``minutes=300``) or weekly (``10080``) windows per account, oldest first."""
    ensure_prices(db)
    now = now or now_utc()
    where, params = filters.where()
    hourly, hourly_params = hourly_where(filters)
    rows = db.execute(
        f"select account, substr(ts, 1, 13) as hour, agent, machine_id, min(ts), max(ts), {_VALUES}"
        f" from priced_requests {hourly} group by account, hour, agent, machine_id order by account, hour",
        hourly_params,
    ).fetchall()
    anchored_by_account = anchors(db, minutes, filters.accounts)
    by_account: dict[str | None, list] = {}
    for row in _hours(rows):
        by_account.setdefault(row[0], []).append(row)
    accounts = sorted(set(by_account) | set(anchored_by_account), key=lambda a: (a is None, a or ""))
    if filters.agents or filters.machines:
        # One agent's (or machine's) part: the accounts it used, or whose resets it logged.
        asked = set(filters.agents)
        logged = {
            a
            for a, found in anchored_by_account.items()
            if any(asked & set(w.anchor_agents.split(",")) for w in found if _overlaps(w, filters))
        }
        accounts = [a for a in accounts if a in by_account or a in logged]
    cond = " and account is ? and substr(ts, 1, 13) = ? and ts >= ? and ts < ?" + (f" and {where[7:]}" if where else "")
    out: list[Window] = []
    for account in accounts:
        anchored = [w for w in anchored_by_account.get(account, []) if _overlaps(w, filters)]
        sweep = _Sweep(account, minutes, anchored)
        for _account, hour, first, last, parts in by_account.get(account, []):
            target = sweep.assign(first)
            # The whole hour is the first request's window when its last request is inside that
            # window too: windows never overlap, and no later request of the hour opens one.
            if target.contains(last):
                for agent, machine, lo, hi, values in parts:
                    target.add(lo, hi, values, agent, machine)
                continue
            # The hour holds a window boundary: take it in parts, each from a request to the end of
            # the window that request falls in. ts < 'YYYY-MM-DDTHH;' ends the hour (':' < ';').
            hour_end = f"{hour};"
            while first is not None:
                part_end = min(format_utc(target.end), hour_end)
                start = first
                part_sql = (
                    f"select agent, machine_id, min(ts), max(ts), {_VALUES} from priced_requests where 1{cond}"
                    " group by agent, machine_id"
                )
                for agent, machine, lo, hi, *values in db.execute(
                    part_sql, [account, hour, first, part_end, *params]
                ).fetchall():
                    target.add(lo, hi, values, agent, machine)
                first = db.execute(
                    f"select min(ts) from priced_requests where 1{cond}", [account, hour, part_end, hour_end, *params]
                ).fetchone()[0]
                if first is not None and first <= start:
                    # No progress: the window ends at the last instant Python can hold (a row
                    # of year 9999 from a store written before validation): the rest joins it.
                    for agent, machine, lo, hi, *values in db.execute(
                        part_sql, [account, hour, first, hour_end, *params]
                    ).fetchall():
                        target.add(lo, hi, values, agent, machine)
                    break
                if first is not None:
                    target = sweep.assign(first)
        out.extend(sweep.windows)
    out.sort(key=lambda w: (w.account is None, w.account or "", w.start))
    _count_prompts(db, filters, out)
    return [w.as_dict(now) for w in out]


def blocks(db: sqlite_utils.Database, filters: Filters, *, now: datetime | None = None) -> list[dict]:
    """5-hour windows per account, oldest first (anchored where the vendor gave resets)."""
    return windows(db, filters, minutes=FIVE_HOURS, now=now)


def _overlaps(w: Window, filters: Filters) -> bool:
    if filters.since and w.end <= parse_iso(filters.since):
        return False
    if filters.until and w.start >= parse_iso(filters.until):
        return False
    return True


def _count_prompts(db: sqlite_utils.Database, filters: Filters, found: list[Window]) -> None:
    """Prompts typed inside each window (stored instants compare as text)."""
    spans: dict[str | None, tuple[list[str], list[str], list[Window]]] = {}
    for w in found:
        starts, ends, owners = spans.setdefault(w.account, ([], [], []))
        starts.append(format_utc(w.start))
        ends.append(format_utc(w.end))
        owners.append(w)
    where, params = filters.where()
    cond = (where + " and is_sidechain = 0") if where else " where is_sidechain = 0"
    for account, ts in db.execute(f"select account, ts from prompts {cond}", params).fetchall():
        if account not in spans:
            continue
        starts, ends, owners = spans[account]
        i = bisect_right(starts, ts) - 1
        if i >= 0 and ts < ends[i]:
            owners[i].prompts += 1


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)
