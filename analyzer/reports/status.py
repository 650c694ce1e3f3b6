"""Where each plan stands now: the current 5-hour and weekly windows per account.

A plan is an account: every agent and machine that spends it fills the same
windows. For every account used in the last week and each window length,
``status`` finds the window instance that contains *now*
(``analyzer.windows``: anchored to a vendor reset when one is known, estimated
otherwise) and says, with the agents' and machines' shares of it:

* what was used in it, in the quantity the plan counts when that is known;
* the limit, from the best source there is, labelled: ``official`` (the
  latest vendor "% used" reading of this very window instance), else
  ``inferred`` (the account's newest row of the ``limit_estimates`` table that
  ``analyzer infer-limit`` writes, read defensively: it may not exist), else
  ``stated`` (the plans catalogue's primary figure for the chosen plan: the
  one asked for, else the one ``accounts.toml`` names for the account, else
  the one its readings name);
* % used, the reset time, the burn rate since the window opened, and when the
  limit will be reached at that pace, or that it will not be before the reset.

Estimated windows are rebuilt from the last 3 days (5 hours) or 3 weeks
(weekly) of requests, which is exact unless use ran without a 5-hour pause for
longer than that. ``status(db)`` is a plain function: the statusline can call it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from analyzer.contract.timeutil import format_utc, now_utc, parse_stored
from analyzer.plans.catalogue import Plan, load_catalogue
from analyzer.reports.usage import Filters, ensure_prices
from analyzer.windows.usage import FIVE_HOURS, WEEK, windows

if TYPE_CHECKING:
    import sqlite_utils

LOOKBACK = {FIVE_HOURS: timedelta(days=3), WEEK: timedelta(days=21)}

CLASSES = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")


def latest_estimate(db: sqlite_utils.Database, account: str | None, minutes: int) -> dict | None:
    """The newest ``limit_estimates`` row for this account and window, or None (table absent or unreadable)."""
    if "limit_estimates" not in db.table_names():
        return None
    try:
        cur = db.execute(
            "select * from limit_estimates where account is ? and window_minutes = ? order by created_at desc limit 1",
            [account, minutes],
        )
        row = cur.fetchone()
    except Exception:  # another helper's table: any shape problem means "no estimate"
        return None
    if row is None:
        return None
    est = dict(zip([d[0] for d in cur.description], row))
    if not isinstance(est.get("limit"), (int, float)) or est["limit"] <= 0:
        return None
    try:
        est["weights"] = json.loads(est["weights"]) if isinstance(est.get("weights"), str) else est.get("weights")
    except ValueError:
        est["weights"] = None
    return est


def pick_plan(
    plans: list[Plan], agents: str | tuple[str, ...], plan_id: str | None, plan_type: str | None
) -> Plan | None:
    """The plan asked for, else the one the vendor's readings name (e.g. Codex ``plus``) among the plans of
    ``agents`` (the agents that logged them), else None."""
    if plan_id:
        return next((p for p in plans if p.id == plan_id), None)
    agents = (agents,) if isinstance(agents, str) else agents
    if plan_type:
        wanted = plan_type.lower().replace(" ", "-")
        for p in plans:
            if set(agents) & set(p.agents) and (p.id.endswith(f"-{wanted}") or p.name.lower() == wanted):
                return p
    return None


def _model_sums(db, account: str | None, start: str, end: str) -> list[tuple]:
    return db.execute(
        "select model, count(*), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens)"
        " from requests where account is ? and ts >= ? and ts < ? group by model",
        [account, start, end],
    ).fetchall()


def _counted(window: dict, by_model: list[tuple], quantity: str, weights, requests_per_unit=None) -> float | None:
    """Usage of the window in a plan's quantity."""
    if quantity == "requests":
        return float(window["requests"])
    if quantity == "prompts":
        return window["requests"] / requests_per_unit if requests_per_unit else float(window["prompts"])
    if quantity == "api_cost":
        return window["cost_usd"]
    if quantity in ("tokens", "credits"):
        total = 0.0
        for model, _n, inp, cr, cw, out in by_model:
            w = weights(model) if callable(weights) else weights
            if not w:
                continue
            total += (
                w.get("input", 0) * inp
                + w.get("cache_read", 0) * cr
                + w.get("cache_write", 0) * cw
                + w.get("output", 0) * out
            )
        return total
    return None


def _official(db, account: str | None, minutes: int, end: datetime, now: datetime) -> dict | None:
    lo, hi = format_utc(end - timedelta(minutes=10)), format_utc(end + timedelta(minutes=10))
    row = db.execute(
        "select observed_at, used_percent, resets_at, plan_type, source from quota_readings"
        " where account is ? and window_minutes = ? and scope is null and resets_at between ? and ?"
        " and observed_at <= ? order by observed_at desc limit 1",
        [account, minutes, lo, hi, format_utc(now)],
    ).fetchone()
    if row is None:
        return None
    return {"observed_at": row[0], "used_percent": row[1], "resets_at": row[2], "plan_type": row[3], "source": row[4]}


def status(
    db: sqlite_utils.Database,
    *,
    now: datetime | None = None,
    agents: tuple[str, ...] = (),
    plan_id: str | None = None,
    accounts: tuple[str, ...] = (),
) -> list[dict]:
    """One entry per (account, window length) in use: usage (per agent and machine too), limit, % used, reset,
    burn rate, projection. ``agents`` picks the accounts those agents used; the windows stay whole."""
    ensure_prices(db)
    now = now or now_utc()
    week_ago = format_utc(now - timedelta(days=7))
    used = db.execute(
        "select account, agent from requests where ts >= ? group by account, agent"
        " union select account, agent from quota_readings where observed_at >= ? group by account, agent",
        [week_ago, week_ago],
    ).fetchall()
    by_account: dict[str | None, set[str]] = {}
    for account, agent in used:
        by_account.setdefault(account, set()).add(agent)
    if agents:
        by_account = {a: seen for a, seen in by_account.items() if seen & set(agents)}
    if accounts:
        by_account = {a: seen for a, seen in by_account.items() if a in accounts}
    plans = load_catalogue()
    out = []
    for account in sorted(by_account, key=lambda a: (a is None, a or "")):
        plan = pick_plan(plans, tuple(sorted(by_account[account])), plan_id or _named_plan(db, account), None)
        if plan is None:
            plan_type, agent = db.execute(
                "select plan_type, agent from quota_readings where account is ? and plan_type is not null"
                " order by observed_at desc limit 1",
                [account],
            ).fetchone() or (None, None)
            plan = pick_plan(plans, agent or (), None, plan_type)
        for minutes in (FIVE_HOURS, WEEK):
            found = windows(
                db, Filters(accounts=(account,), since=format_utc(now - LOOKBACK[minutes])), minutes=minutes, now=now
            )
            current = next(
                (
                    w
                    for w in found
                    if w["account"] == account
                    and parse_stored(w["start"]) <= now < parse_stored(w["end"])
                    and (w["kind"] == "anchored" or w["is_active"])
                ),
                None,
            )
            entry = _entry(db, account, minutes, current, plan, now)
            entry["agent"] = current["agent"] if current else ",".join(sorted(by_account[account]))
            out.append(entry)
    return out


def _named_plan(db, account: str | None) -> str | None:
    """The catalogue plan attribution named for the account (``accounts.toml``, Codex's plan type), if any."""
    row = db.execute(
        "select a.plan from attributions a where a.account is ? and a.plan is not null order by a.id desc limit 1",
        [account],
    ).fetchone()
    return row[0] if row else None


def _entry(db, account: str | None, minutes: int, window: dict | None, plan: Plan | None, now: datetime) -> dict:
    entry = {
        "account": account,
        "agent": None,
        "plan": plan.id if plan else None,
        "window_minutes": minutes,
        "window": None,
        "used": None,
        "limit": None,
        "percent_used": None,
        "percent_source": None,
        "resets_at": None,
        "burn_rate_per_hour": None,
        "limit_reached_at": None,
        "reaches_limit_before_reset": None,
        "message": "no open window: the next request opens one",
        "agents": [],
        "machines": [],
    }
    if window is None:
        return entry
    start, end = parse_stored(window["start"]), parse_stored(window["end"])
    by_model = _model_sums(db, account, window["start"], window["end"])
    entry["window"] = {k: window[k] for k in ("start", "end", "kind", "basis")}
    entry["agents"], entry["machines"] = window["agents"], window["machines"]
    entry["resets_at"] = window["end"]
    used = {k: window[k] for k in ("requests", "prompts", *CLASSES, "total_tokens", "cost_usd")}
    limit = None
    estimate = latest_estimate(db, account, minutes)
    stated = next((lim for lim in (plan.primary() if plan else []) if lim.window_minutes == minutes), None)
    if estimate is not None:
        quantity, weights = estimate.get("quantity") or "tokens", _class_weights(estimate.get("weights"))
        limit = {
            "source": "inferred",
            "quantity": quantity,
            "value": estimate["limit"],
            "low": estimate.get("low"),
            "high": estimate.get("high"),
            "summary": estimate.get("summary"),
        }
        used["counted"] = _counted(window, by_model, quantity, weights)
    elif stated is not None:
        limit = {
            "source": "stated",
            "quantity": stated.unit,
            "value": stated.limit,
            "low": stated.low,
            "high": stated.high,
            "summary": f"{plan.name}: {stated.basis} figure ({stated.source}, {stated.as_of})",
        }
        used["counted"] = _counted(window, by_model, stated.unit, stated.weight_for, stated.requests_per_unit)
    entry["used"], entry["limit"] = used, limit
    elapsed_h = max((now - start).total_seconds() / 3600.0, 1e-9)
    official = _official(db, account, minutes, end, now)
    if official is not None:
        pct, entry["percent_source"] = (
            official["used_percent"],
            f"official ({official['source']}, {official['observed_at']})",
        )
        rate = official["used_percent"] / max(
            (parse_stored(official["observed_at"]) - start).total_seconds() / 3600.0, 1e-9
        )
        entry["burn_rate_per_hour"] = {"percent": round(rate, 3)}
        remaining = (100.0 - pct) / rate if rate > 0 else None
        base = parse_stored(official["observed_at"])
    elif limit is not None and used.get("counted") is not None and limit["value"]:
        pct = 100.0 * used["counted"] / limit["value"]
        entry["percent_source"] = limit["source"]
        rate_q = used["counted"] / elapsed_h
        entry["burn_rate_per_hour"] = {limit["quantity"]: round(rate_q, 3), "percent": round(pct / elapsed_h, 3)}
        remaining = (limit["value"] - used["counted"]) / rate_q if rate_q > 0 else None
        base = now
    else:
        entry["burn_rate_per_hour"] = {
            "tokens": round(window["total_tokens"] / elapsed_h, 1),
            "requests": round(window["requests"] / elapsed_h, 3),
        }
        entry["message"] = "no limit known: add a plan (--plan), run infer-limit, or record a quota reading"
        return entry
    entry["percent_used"] = round(pct, 2)
    if pct >= 100:
        entry["limit_reached_at"], entry["reaches_limit_before_reset"] = format_utc(base), True
        entry["message"] = "limit reached"
    elif remaining is None:
        entry["reaches_limit_before_reset"] = False
        entry["message"] = "no use yet in this window"
    else:
        at = base + timedelta(hours=remaining)
        before = at < end
        entry["reaches_limit_before_reset"] = before
        entry["limit_reached_at"] = format_utc(at) if before else None
        entry["message"] = (
            f"at this pace the limit is reached at {format_utc(at)}"
            if before
            else "at this pace the limit is not reached before the reset"
        )
    return entry


def _class_weights(weights) -> dict | None:
    """infer-limit's weights (input, cache_read, cache_write, output) as a class->weight dict."""
    if not isinstance(weights, dict):
        return None
    try:
        return {k: float(weights.get(k, 0) or 0) for k in ("input", "cache_read", "cache_write", "output")}
    except (TypeError, ValueError):
        return None
