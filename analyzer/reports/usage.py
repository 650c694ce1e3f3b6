"""Reports: usage per local day/week/month, per session, per prompt; limit hits.

SQLite knows no time zones, so day reports aggregate in SQL by UTC hour (in
the order of an index, without sorting) and Python adds the hours up per local
date; an hour in which the local date changes (a zone 30 or 45 minutes off the
hour) is split into its quarters (every zone's offset is a multiple of 15
minutes). Prompts are counted per 15-minute bucket. That keeps the work in SQL
proportional to the number of requests and the work in Python proportional to
active hours.

Every report takes a ``Filters``: agents, and a ``[since, until)`` range of
stored instants. Costs come from the ``priced_requests`` view: a group holding
a request whose model has no price has ``cost_usd = None`` (unknown), with the
known part and the count of unpriced requests alongside.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from analyzer.contract.timeutil import UTC, format_utc, in_zone, parse_stored
from analyzer.reports.filters import Filters  # noqa: F401  (re-exported: reports take Filters)

if TYPE_CHECKING:
    import sqlite_utils

TOKEN_FIELDS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")


_BUCKET = "substr(ts, 1, 14) || printf('%02d', (cast(substr(ts, 15, 2) as integer) / 15) * 15)"


def _bucket_start(bucket: str) -> datetime:
    try:
        return datetime.fromisoformat(bucket).replace(tzinfo=UTC)
    except (ValueError, TypeError):
        return parse_stored(bucket or "")  # a row whose time is no time (written before validation)


def _labeller(tz: tzinfo, period: str):
    """``bucket -> period label``, remembering each bucket's (agents share buckets)."""
    seen: dict[str, str] = {}

    def label(bucket: str) -> str:
        found = seen.get(bucket)
        if found is None:
            found = seen[bucket] = period_label(_bucket_start(bucket), tz, period)
        return found

    return label


def _empty_row() -> dict:
    return {
        "requests": 0,
        "prompts": 0,
        **{f: 0 for f in TOKEN_FIELDS},
        "total_tokens": 0,
        "cost_usd": 0.0,
        "unpriced_requests": 0,
    }


def _finish_cost(row: dict) -> dict:
    known = round(row["cost_usd"], 6)
    row["cost_usd_known"] = known
    row["cost_usd"] = None if row["unpriced_requests"] else known
    return row


def ensure_prices(db: sqlite_utils.Database) -> None:
    """Resolve prices for models seen since the last time and store every new
    request's costs (``analyzer.pricing.costs``), and attribute every row not
    attributed to an account yet, or all of them when ``accounts.toml`` changed
    (``analyzer.accounts.store``); both cheap when nothing is new.

    A bad price override file raises ``PriceFileError``, a bad ``accounts.toml``
    ``AccountsFileError`` (commands turn them into a clear message); a store
    locked by a writer is not an error: the costs not stored yet are then
    computed as they are read, the accounts caught up on the next run.
    """
    from analyzer.accounts.store import ensure_accounts
    from analyzer.pricing.costs import ensure_costs

    ensure_costs(db)
    ensure_accounts(db)


_SUMS = (
    "count(*), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens),"
    " sum(reasoning_tokens), sum(coalesce(cost_usd, 0)), sum(cost_usd is null)"
)
_QUARTERS = ("00", "15", "30", "45", ";")  # bounds of an hour's quarters as text (':' < ';' ends the hour)


def hourly_where(filters: Filters) -> tuple[str, list]:
    """``filters.where()`` and the same time range on the UTC hour: the covering index
    ``requests_hourly`` is in (agent, hour) order, so only that range of it is read."""
    where, params = filters.where()
    for op, bound in ((">=", filters.since), ("<=", filters.until)):
        if bound:
            where += f" and substr(ts, 1, 13) {op} ?"
            params.append(bound[:13])
    return where, params


def daily(db: sqlite_utils.Database, filters: Filters, *, period: str = "day") -> list[dict]:
    """One row per (local date, agent); ``period`` may be ``week`` or ``month`` too."""
    ensure_prices(db)
    where, params = hourly_where(filters)
    groups: dict[tuple[str, str], dict] = defaultdict(_empty_row)
    label_of = _labeller(filters.tz, period)
    # Requests per UTC hour (an index holds them in that order), split into quarters
    # only where the local date changes inside the hour (zones 30 or 45 minutes off).
    hours = db.execute(
        f"select agent, substr(ts, 1, 13) as hour, {_SUMS} from priced_requests {where} group by agent, hour", params
    ).fetchall()
    for agent, hour, *values in hours:
        # The date can change once within an hour at most: the same date at its first and last
        # quarter is the date of the whole hour.
        first = label_of(f"{hour}:00")
        if label_of(f"{hour}:45") == first:
            _add_usage(groups[(first, agent)], values)
            continue
        labels = [label_of(f"{hour}:{q}") for q in _QUARTERS[:4]]
        cond = (where + " and agent = ? and ts >= ? and ts < ?") if where else " where agent = ? and ts >= ? and ts < ?"
        for label, lo, hi in zip(labels, _QUARTERS, _QUARTERS[1:]):
            part = db.execute(
                f"select {_SUMS} from priced_requests {cond}",
                [*params, agent, f"{hour}:{lo}", f"{hour}:{hi}" if hi != ";" else f"{hour};"],
            ).fetchone()
            if part[0]:
                _add_usage(groups[(label, agent)], part)
    pwhere, pparams = filters.where()
    for agent, bucket, n in db.execute(
        f"select agent, {_BUCKET} as bucket, count(*) from prompts {pwhere} and is_sidechain = 0 group by agent, bucket"
        if pwhere
        else f"select agent, {_BUCKET} as bucket, count(*) from prompts where is_sidechain = 0 group by agent, bucket",
        pparams,
    ).fetchall():
        groups[(label_of(bucket), agent)]["prompts"] += n
    key_name = {"day": "date", "week": "week", "month": "month"}[period]
    out = []
    for (label, agent), row in sorted(groups.items()):
        row["total_tokens"] = (
            row["input_tokens"] + row["cache_read_tokens"] + row["cache_write_tokens"] + row["output_tokens"]
        )
        out.append({key_name: label, "agent": agent, **_finish_cost(row)})
    return out


def _add_usage(row: dict, values) -> None:
    n, inp, cr, cw, out, rea, cost, unpriced = values
    row["requests"] += n
    row["input_tokens"] += inp
    row["cache_read_tokens"] += cr
    row["cache_write_tokens"] += cw
    row["output_tokens"] += out
    row["reasoning_tokens"] += rea
    row["cost_usd"] += cost
    row["unpriced_requests"] += unpriced


def period_label(instant: datetime, tz: tzinfo, period: str) -> str:
    local = in_zone(instant, tz).date()
    if period == "day":
        return local.isoformat()
    if period == "week":
        return (local - timedelta(days=min(local.weekday(), local.toordinal() - 1))).isoformat()  # weeks: Monday
    if period == "month":
        return local.strftime("%Y-%m")
    raise ValueError(period)


def sessions(db: sqlite_utils.Database, filters: Filters, *, session_id: str | None = None) -> list[dict]:
    """One row per (agent, session) with activity in the range, latest first."""
    ensure_prices(db)
    where, params = filters.where("r.ts", "r.agent")
    if session_id:
        where += (" and " if where else " where ") + "r.session_id = ?"
        params.append(session_id)
    sql = f"""
        select r.agent, r.session_id, min(r.ts), max(r.ts), count(*), sum(r.is_sidechain),
          sum(r.input_tokens), sum(r.cache_read_tokens), sum(r.cache_write_tokens), sum(r.output_tokens),
          sum(r.reasoning_tokens), sum(coalesce(r.cost_usd, 0)), sum(r.cost_usd is null),
          group_concat(distinct r.model), s.project, s.parent_session_id
        from priced_requests r
        left join sessions s on s.agent = r.agent and s.session_id = r.session_id
        {where}
        group by r.agent, r.session_id
        order by max(r.ts) desc
    """
    prompt_counts = {
        (a, s): n
        for a, s, n in db.execute(
            "select agent, session_id, count(*) from prompts where is_sidechain = 0 group by agent, session_id"
        ).fetchall()
    }
    out = []
    for agent, sid, first, last, n, side, inp, cr, cw, o, rea, cost, unpriced, models, project, parent in db.execute(
        sql, params
    ).fetchall():
        row = {
            "agent": agent,
            "session_id": sid,
            "project": project,
            "parent_session_id": parent,
            "first_ts": first,
            "last_ts": last,
            "requests": n,
            "sidechain_requests": side,
            "prompts": prompt_counts.get((agent, sid), 0),
            "input_tokens": inp,
            "cache_read_tokens": cr,
            "cache_write_tokens": cw,
            "output_tokens": o,
            "reasoning_tokens": rea,
            "total_tokens": inp + cr + cw + o,
            "models": sorted(models.split(",")) if models else [],
            "cost_usd": cost,
            "unpriced_requests": unpriced,
        }
        out.append(_finish_cost(row))
    return out


def to_local(instant: str | None, tz: tzinfo) -> str | None:
    """A stored instant as local ISO text with offset, seconds precision."""
    if not instant:
        return None
    return in_zone(parse_stored(instant), tz).isoformat(timespec="seconds")


def utc_text(dt: datetime) -> str:
    return format_utc(dt)


def prompts(db: sqlite_utils.Database, filters: Filters) -> list[dict]:
    """One row per typed prompt: the model calls it started (fan-out), their tokens and cost."""
    ensure_prices(db)
    where, params = filters.where()
    rows = db.execute(f"select * from prompt_fanout {where} order by ts", params)
    cols = [d[0] for d in rows.description]
    return [dict(zip(cols, r)) for r in rows.fetchall()]


def limit_hits(db: sqlite_utils.Database, filters: Filters) -> list[dict]:
    """Every refusal the logs recorded: when, which window, and how long until it reset."""
    where, params = filters.where()
    out = []
    ensure_prices(db)
    for _key, agent, account, session, ts, reset, minutes, kind, message, model in db.execute(
        "select key, agent, account, session_id, ts, reset_at, window_minutes, limit_type, message, model"
        f" from limit_hits {where} order by ts",
        params,
    ).fetchall():
        wait = None
        if reset and reset > ts:
            wait = round((parse_stored(reset) - parse_stored(ts)).total_seconds() / 60.0, 1)
        window, window_basis = minutes, "logged" if minutes else None
        if window is None and wait is not None:
            window, window_basis = (300 if wait <= 300 else 10080), "inferred from the wait"
        out.append(
            {
                "ts": ts,
                "agent": agent,
                "account": account,
                "session_id": session,
                "window_minutes": window,
                "window_basis": window_basis,
                "limit_type": kind,
                "reset_at": reset,
                "minutes_until_reset": wait,
                "model": model,
                "message": message,
            }
        )
    return out
