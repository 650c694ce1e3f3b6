"""compare-plans: every plan's limits in the user's own units, value and fit.

With the user's measured ratios over a period (tokens per request, requests per
prompt, the mix of token classes per model, API cost per request), each plan's
*primary* limits (the ones the catalogue marks convertible) become requests,
prompts and tokens per window:

* ``requests`` limits are requests;
* ``prompts`` limits are prompts, times the user's requests per prompt (all
  requests / typed prompts) in requests; unless the vendor defines its
  "prompt" as a bundle of ``requests_per_unit`` model calls (MiniMax), then
  it is that many requests;
* ``tokens`` and ``credits`` limits are weighted sums of the token classes:
  the limit divided by the user's mean weighted sum per request is requests.

Requests become prompts (divide by requests per prompt) and tokens (times
tokens per request). Per period (5 hours, a week, 30 days) a plan allows the
smallest of its windows' limits, each window repeated back to back as often as
it fits in the period (``limit x period / window`` when the window is shorter).

Value: the plan's monthly maximum in requests times the mean API cost of one
of the user's requests (their token mix, as billed: a cache write at the
5-minute rate) at the list price of the plan's own model (``price_model`` in
the catalogue; the user's own models when the plan names none with a known
price) is what that use would cost at API prices; divided by the fee it says
"worth N times its fee". The user's actual usage, scaled to 30 days, is
priced the same way ("your use").

Fit: the user's recorded requests are replayed through every primary window
of the plan (fixed windows from the first request floored to the hour, or a
5-hour sliding sum where the vendor says so), and each window whose counted
use passed the limit is reported with the time it passed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from .plans import Limit, Plan
from .pricing import PriceSources, Tier, load_sources, resolve_all
from .reports import Filters, ensure_prices
from .timeutil import parse_iso

if TYPE_CHECKING:
    import sqlite_utils

PERIODS = {"5h": 300, "week": 10080, "month": 43200}


def load_usage(db: sqlite_utils.Database, filters: Filters) -> dict:
    """The requests (time order) and typed prompts of the period, and the measured ratios."""
    ensure_prices(db)
    where, params = filters.where()
    requests = db.execute(
        "select ts, model, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, cost_usd"
        f" from priced_requests {where} order by ts",
        params,
    ).fetchall()
    cond = (where + " and is_sidechain = 0") if where else " where is_sidechain = 0"
    prompts = [r[0] for r in db.execute(f"select ts from prompts {cond} order by ts", params)]
    n = len(requests)
    total = sum(r[2] + r[3] + r[4] + r[5] for r in requests)
    sent = sum(r[2] + r[3] + r[4] for r in requests)
    unpriced = sum(1 for r in requests if r[6] is None)
    cost = sum(r[6] or 0 for r in requests)
    if filters.since and filters.until:
        start, end = parse_iso(filters.since), parse_iso(filters.until)
    elif requests:
        start, end = parse_iso(requests[0][0]), parse_iso(requests[-1][0])
    else:
        start = end = None
    days = max((end - start).total_seconds() / 86400.0, 1.0) if start else None
    fx = db.execute("select cast(value as real) from meta where key = 'usd_cny'").fetchone()
    return {
        "requests": requests, "prompt_times": prompts,
        "ratios": {
            "requests": n, "prompts": len(prompts), "days": round(days, 3) if days else None,
            "tokens_per_request": (total / n) if n else None,
            "requests_per_prompt": (n / len(prompts)) if prompts else None,
            "cache_ratio": (sum(r[3] for r in requests) / sent) if sent else None,
            "cost_usd_per_request": None if unpriced or not n else cost / n,
            "cost_usd_known": round(cost, 6), "unpriced_requests": unpriced,
            "usage_cost_usd_per_month": None if unpriced or not days else round(cost * 30 / days, 4),
        },
        "usd_cny": fx[0] if fx and fx[0] else None,
    }  # fmt: skip


def quantity(limit: Limit, request: tuple) -> float | None:
    """How much one request counts against ``limit`` (None: this unit is not per request)."""
    if limit.unit == "requests":
        return 1.0
    if limit.unit == "prompts":
        return (1.0 / limit.requests_per_unit) if limit.requests_per_unit else None
    if limit.unit in ("tokens", "credits"):
        w = limit.weight_for(request[1])
        if w is None:
            return 0.0
        return w["input"] * request[2] + w["cache_read"] * request[3] + w["cache_write"] * request[4] + w["output"] * request[5]
    return None


def requests_per_window(limit: Limit, usage: dict) -> float | None:
    """The limit of one window, in the user's requests (None when it cannot be converted)."""
    ratios, reqs = usage["ratios"], usage["requests"]
    if limit.limit is None:
        return None
    if limit.unit == "requests":
        return float(limit.limit)
    if limit.unit == "prompts":
        if limit.requests_per_unit:
            return limit.limit * limit.requests_per_unit
        rpp = ratios["requests_per_prompt"]
        return limit.limit * rpp if rpp else None
    if limit.unit in ("tokens", "credits") and reqs:
        per = sum(quantity(limit, r) or 0 for r in reqs) / len(reqs)
        return (limit.limit / per) if per > 0 else None
    return None


def capacity(plan: Plan, usage: dict) -> dict:
    """Requests, prompts and tokens the plan allows per 5 hours, week and 30 days."""
    ratios = usage["ratios"]
    per_window = [(lim.window_minutes, requests_per_window(lim, usage)) for lim in plan.primary()]
    out = {}
    for name, minutes in PERIODS.items():
        bounds = [r * max(1.0, minutes / w) for w, r in per_window if r is not None]
        convertible = bool(per_window) and len(bounds) == len(per_window)
        req = min(bounds) if convertible else None
        rpp, tpr = ratios["requests_per_prompt"], ratios["tokens_per_request"]
        out[name] = {
            "requests": round(req, 1) if req is not None else None,
            "prompts": round(req / rpp, 1) if req is not None and rpp else None,
            "tokens": round(req * tpr) if req is not None and tpr else None,
        }
    return out


def exceeded(plan: Plan, usage: dict) -> list[dict]:
    """Windows of the recorded usage in which this plan's primary limits would have been passed."""
    out = []
    for lim in plan.primary():
        if lim.unit == "prompts" and not lim.requests_per_unit:
            events = [(t, 1.0) for t in usage["prompt_times"]]
        else:
            events = [(r[0], quantity(lim, r) or 0.0) for r in usage["requests"]]
        if lim.window_kind == "sliding":
            hits = _sliding(events, lim.window_minutes, lim.limit)
        else:
            hits = _fixed(events, lim.window_minutes, lim.limit)
        out.append({"window_minutes": lim.window_minutes, "unit": lim.unit, "limit": lim.limit,
                    "windows_exceeded": len(hits), "first_exceeded_at": hits[0] if hits else None,
                    "exceeded_at": hits[:20]})  # fmt: skip
    return out


def _fixed(events: list[tuple[str, float]], minutes: int, limit: float) -> list[str]:
    """Fixed windows from the first event floored to the hour; the time each window passed the limit."""
    length = timedelta(minutes=minutes)
    hits, end, used, passed = [], None, 0.0, False
    for ts, q in events:
        t = parse_iso(ts)
        if end is None or t >= end:
            start = t.replace(minute=0, second=0, microsecond=0)
            end, used, passed = start + length, 0.0, False
        used += q
        if used > limit and not passed:
            passed = True
            hits.append(ts)
    return hits


def _sliding(events: list[tuple[str, float]], minutes: int, limit: float) -> list[str]:
    """A sum over the trailing window at every event; each time it rises past the limit."""
    times = [parse_iso(ts) for ts, _ in events]
    length = timedelta(minutes=minutes)
    hits, used, lo, over = [], 0.0, 0, False
    for i, (ts, q) in enumerate(events):
        used += q
        while times[lo] <= times[i] - length:
            used -= events[lo][1]
            lo += 1
        if used > limit + 1e-9:
            if not over:
                hits.append(ts)
            over = True
        else:
            over = False
    return hits


def _billed(tier: Tier, mode: str, r: tuple) -> float:
    """One request's cost at ``tier`` as the vendor bills it (writes at the 5-minute rate)."""
    write = tier.cache_write_5m if tier.cache_write_5m is not None else tier.input * (1.25 if mode == "anthropic" else 1.0)
    read = tier.cache_read if tier.cache_read is not None else tier.input
    return (r[2] * tier.input + r[3] * read + r[4] * write + r[5] * tier.output) / 1e6


def model_cost_per_request(model: str, usage: dict, sources: PriceSources) -> float | None:
    """The user's mean request priced at ``model``'s list price, in USD (None if unknown)."""
    reqs, fx = usage["requests"], usage["usd_cny"]
    prices = resolve_all(model, sources)
    price, factor = (prices["USD"], 1.0) if prices["USD"] else (prices["CNY"], 1.0 / fx if fx else None)
    if price is None or factor is None or not reqs:
        return None
    return factor * sum(_billed(price.tier_for(r[2] + r[3] + r[4]), price.mode, r) for r in reqs) / len(reqs)


def compare(plans: list[Plan], usage: dict, sources: PriceSources | None = None) -> list[dict]:
    """One row per plan with a convertible limit: capacity, value, fit."""
    ratios, fx = usage["ratios"], usage["usd_cny"]
    sources = sources or load_sources()
    rows = []
    for plan in plans:
        if not plan.primary():
            continue
        cap = capacity(plan, usage)
        fee_usd = plan.price if plan.currency == "USD" else (plan.price / fx if fx and plan.price is not None else None)
        per_req = model_cost_per_request(plan.price_model, usage, sources) if plan.price_model else None
        value_basis = f"{plan.price_model} list price"
        if per_req is None:
            per_req, value_basis = ratios["cost_usd_per_request"], "your models' list prices"
        value = cap["month"]["requests"] * per_req if cap["month"]["requests"] is not None and per_req is not None else None
        days = ratios["days"]
        monthly = per_req * ratios["requests"] * 30 / days if per_req is not None and days else None
        over = exceeded(plan, usage)
        rows.append({
            "plan": plan.id, "name": plan.name, "vendor": plan.vendor, "price": plan.price, "currency": plan.currency,
            "fee_usd": round(fee_usd, 2) if fee_usd is not None else None,
            "limits": [{"window_minutes": lim.window_minutes, "unit": lim.unit, "limit": lim.limit, "basis": lim.basis,
                        "confidence": lim.confidence, "as_of": lim.as_of} for lim in plan.primary()],
            "per_5h": cap["5h"], "per_week": cap["week"], "per_month": cap["month"],
            "value_basis": value_basis,
            "api_value_usd_per_month": round(value, 2) if value is not None else None,
            "worth_x_fee": round(value / fee_usd, 1) if value is not None and fee_usd else None,
            "usage_cost_usd_per_month": round(monthly, 4) if monthly is not None else None,
            "usage_x_fee": round(monthly / fee_usd, 2) if monthly is not None and fee_usd else None,
            "exceeded": over,
            "would_exceed": any(o["windows_exceeded"] for o in over),
        })  # fmt: skip
    rows.sort(key=lambda r: (r["would_exceed"], -(r["worth_x_fee"] or 0)))
    return rows

