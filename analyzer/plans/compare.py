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

The replays are shared by all plans (``analyzer.plans.ledger``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from analyzer.contract.timeutil import parse_stored
from analyzer.plans.catalogue import Limit, Plan
from analyzer.plans.ledger import MS, Events, Ledger
from analyzer.pricing.prices import PriceSources, load_sources
from analyzer.reports.usage import Filters, ensure_prices

if TYPE_CHECKING:
    import sqlite_utils

PERIODS = {"5h": 300, "week": 10080, "month": 43200}


def load_usage(db: sqlite_utils.Database, filters: Filters) -> dict:
    """The measured ratios of the period, and its requests (a ``Ledger``) and typed prompts in time order;
    ``accounts``: the requests of each account among them (``--account`` picks one plan's usage)."""
    ensure_prices(db)
    where, params = filters.where()
    n, total, sent, cache_read, unpriced, cost, first, last = db.execute(
        "select count(*), coalesce(sum(total_tokens), 0), coalesce(sum(input_tokens + cache_read_tokens + cache_write_tokens), 0),"
        " coalesce(sum(cache_read_tokens), 0), coalesce(sum(cost_usd is null), 0), coalesce(sum(coalesce(cost_usd, 0)), 0),"
        f" min(ts), max(ts) from priced_requests {where}",
        params,
    ).fetchone()
    cond = (where + " and is_sidechain = 0") if where else " where is_sidechain = 0"
    prompts = db.execute(f"select ts, {MS} from prompts {cond} order by ts", params).fetchall()
    if filters.since and filters.until:
        start, end = parse_stored(filters.since), parse_stored(filters.until)
    elif n:
        start, end = parse_stored(first), parse_stored(last)
    else:
        start = end = None
    days = max((end - start).total_seconds() / 86400.0, 1.0) if start else None
    fx = db.execute("select cast(value as real) from meta where key = 'usd_cny'").fetchone()
    accounts = [
        {"account": account, "requests": count}
        for account, count in db.execute(
            f"select account, count(*) from priced_requests {where} group by account order by count(*) desc, account",
            params,
        )
    ]
    return {
        "accounts": accounts,
        "ledger": Ledger(db, where, params, n),
        "prompts": Events([p[0] for p in prompts], [p[1] for p in prompts]),
        "ratios": {
            "requests": n,
            "prompts": len(prompts),
            "days": round(days, 3) if days else None,
            "tokens_per_request": (total / n) if n else None,
            "requests_per_prompt": (n / len(prompts)) if prompts else None,
            "cache_ratio": (cache_read / sent) if sent else None,
            "cost_usd_per_request": None if unpriced or not n else cost / n,
            "cost_usd_known": round(cost, 6),
            "unpriced_requests": unpriced,
            "usage_cost_usd_per_month": None if unpriced or not days else round(cost * 30 / days, 4),
        },
        "usd_cny": fx[0] if fx and fx[0] else None,
    }


def _per_request(limit: Limit, usage: dict) -> tuple[Events, object, list[float] | None] | None:
    """The events a limit counts, the key and list of their quantities (None: each counts 1);
    None when the unit is not per request."""
    ledger: Ledger = usage["ledger"]
    if limit.unit == "requests":
        return ledger.events, None, None
    if limit.unit == "prompts":
        if not limit.requests_per_unit:
            return usage["prompts"], None, None
        share = 1.0 / limit.requests_per_unit
        return ledger.events, ("share", share), [share] * len(ledger)
    if limit.unit in ("tokens", "credits"):
        key, quantities = ledger.quantities(limit)
        return ledger.events, key, quantities
    return None


def requests_per_window(limit: Limit, usage: dict) -> float | None:
    """The limit of one window, in the user's requests (None when it cannot be converted)."""
    ratios, ledger = usage["ratios"], usage["ledger"]
    if limit.limit is None:
        return None
    if limit.unit == "requests":
        return float(limit.limit)
    if limit.unit == "prompts":
        if limit.requests_per_unit:
            return limit.limit * limit.requests_per_unit
        rpp = ratios["requests_per_prompt"]
        return limit.limit * rpp if rpp else None
    if limit.unit in ("tokens", "credits") and len(ledger):
        per = sum(ledger.quantities(limit)[1]) / len(ledger)
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
        found = _per_request(lim, usage)
        if found is None:  # not counted per request: nothing to replay
            found = (usage["ledger"].events, ("none",), [0.0] * len(usage["ledger"]))
        events, key, quantities = found
        if lim.window_kind == "sliding":
            hits = events.sliding_hits(lim.window_minutes, lim.limit, quantities)
        else:
            hits = events.fixed_hits(lim.window_minutes, lim.limit, quantities, key)
        out.append(
            {
                "window_minutes": lim.window_minutes,
                "unit": lim.unit,
                "limit": lim.limit,
                "windows_exceeded": len(hits),
                "first_exceeded_at": hits[0] if hits else None,
                "exceeded_at": hits[:20],
            }
        )
    return out


def model_cost_per_request(model: str, usage: dict, sources: PriceSources) -> float | None:
    """The user's mean request priced at ``model``'s list price, in USD (None if unknown): each
    request as the vendor bills it at the tier its context reaches (cache writes at the 5-minute rate)."""
    ledger: Ledger = usage["ledger"]
    ledger.load_model_costs([model], sources, usage["usd_cny"])
    return ledger.model_costs[model]


def compare(plans: list[Plan], usage: dict, sources: PriceSources | None = None) -> list[dict]:
    """One row per plan with a convertible limit: capacity, value, fit."""
    ratios, fx = usage["ratios"], usage["usd_cny"]
    sources = sources or load_sources()
    ledger: Ledger = usage["ledger"]  # everything the plans need, read in one pass each
    ledger.load_model_costs([p.price_model for p in plans if p.price_model], sources, fx)
    ledger.load([lim for p in plans for lim in p.primary()])
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
        value = (
            cap["month"]["requests"] * per_req if cap["month"]["requests"] is not None and per_req is not None else None
        )
        days = ratios["days"]
        monthly = per_req * ratios["requests"] * 30 / days if per_req is not None and days else None
        over = exceeded(plan, usage)
        rows.append(
            {
                "plan": plan.id,
                "name": plan.name,
                "vendor": plan.vendor,
                "price": plan.price,
                "currency": plan.currency,
                "fee_usd": round(fee_usd, 2) if fee_usd is not None else None,
                "limits": [
                    {
                        "window_minutes": lim.window_minutes,
                        "unit": lim.unit,
                        "limit": lim.limit,
                        "basis": lim.basis,
                        "confidence": lim.confidence,
                        "as_of": lim.as_of,
                    }
                    for lim in plan.primary()
                ],
                "per_5h": cap["5h"],
                "per_week": cap["week"],
                "per_month": cap["month"],
                "value_basis": value_basis,
                "api_value_usd_per_month": round(value, 2) if value is not None else None,
                "worth_x_fee": round(value / fee_usd, 1) if value is not None and fee_usd else None,
                "usage_cost_usd_per_month": round(monthly, 4) if monthly is not None else None,
                "usage_x_fee": round(monthly / fee_usd, 2) if monthly is not None and fee_usd else None,
                "exceeded": over,
                "would_exceed": any(o["windows_exceeded"] for o in over),
            }
        )
    rows.sort(key=lambda r: (r["would_exceed"], -(r["worth_x_fee"] or 0)))
    return rows
