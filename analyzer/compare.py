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

The replay is shared by all plans: the period's requests are read once, in
time order; the fixed windows of one length are the same for every plan, and
so are the running sums of one way of counting (each request counts 1, or
its weighted tokens), so a limit only looks up where each window's running
sum first passes it.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate
from typing import TYPE_CHECKING

from .plans import Limit, Plan
from .pricing import PriceSources, cached_prices, load_sources
from .reports import Filters, ensure_prices
from .timeutil import parse_iso

if TYPE_CHECKING:
    import sqlite_utils

PERIODS = {"5h": 300, "week": 10080, "month": 43200}

HOUR_MS = 3_600_000
# A stored instant as milliseconds since the epoch (julianday is exact to well under a millisecond).
_MS = "cast(round((julianday(ts) - 2440587.5) * 86400000.0) as integer)"


class Events:
    """One series of events in time order (requests, or typed prompts): what every plan's replay shares.

    ``stamps`` are the stored instants (reported when a limit is passed), ``ms``
    the same as milliseconds. Quantities are per event, in the same order;
    ``None`` means every event counts 1.
    """

    def __init__(self, stamps: list[str], ms: list[int]):
        self.stamps, self.ms = stamps, ms
        self._bounds: dict[int, list[int]] = {}
        self._running: dict[tuple, list[float] | None] = {}
        self._crossings: dict[int, dict[int, list[int]]] = {}

    def __len__(self) -> int:
        return len(self.ms)

    def fixed_windows(self, minutes: int) -> list[int]:
        """Where each fixed window starts (an index), then the number of events: a window opens at
        the first event floored to the hour and the next at the first event at or after its end."""
        bounds = self._bounds.get(minutes)
        if bounds is None:
            length, end, bounds = minutes * 60_000, None, []
            for i, t in enumerate(self.ms):
                if end is None or t >= end:
                    end = t - t % HOUR_MS + length
                    bounds.append(i)
            bounds.append(len(self.ms))
            self._bounds[minutes] = bounds
        return bounds

    def fixed_hits(self, minutes: int, limit: float, quantities: list[float] | None = None, key=None) -> list[str]:
        """The instant at which each fixed window's use first went over ``limit``.

        ``key`` names ``quantities`` (the same key, the same list) so that their
        running sums are computed once for all limits.
        """
        bounds = self.fixed_windows(minutes)
        hits = []
        if quantities is None:
            k = math.floor(limit) + 1  # after k events the count is k: over the limit first at the k-th
            for a, b in zip(bounds, bounds[1:]):
                if b - a >= k:
                    hits.append(self.stamps[a + k - 1])
            return hits
        running = self._running_sums(minutes, key, quantities)
        for a, b in zip(bounds, bounds[1:]):
            if running is not None:
                j = bisect_right(running, limit, a, b)  # the sums only grow inside a window
            else:
                used, j = 0.0, b
                for i in range(a, b):
                    used += quantities[i]
                    if used > limit:
                        j = i
                        break
            if j < b:
                hits.append(self.stamps[j])
        return hits

    def _running_sums(self, minutes: int, key, quantities: list[float]) -> list[float] | None:
        """Each event's window sum so far, added up in event order from 0.0 (None when a negative
        quantity would let a sum fall)."""
        if (minutes, key) not in self._running:
            running = None
            if not quantities or min(quantities) >= 0:
                running = []
                bounds = self.fixed_windows(minutes)
                for a, b in zip(bounds, bounds[1:]):
                    sums = accumulate(quantities[a:b], initial=0.0)
                    next(sums)
                    running.extend(sums)
            self._running[(minutes, key)] = running
        return self._running[(minutes, key)]

    def sliding_hits(self, minutes: int, limit: float, quantities: list[float] | None = None) -> list[str]:
        """Each instant the sum over the trailing ``minutes`` rose above ``limit``."""
        if quantities is None:
            crossings = self._count_crossings(minutes)
            return [self.stamps[i] for i in crossings.get(math.floor(limit + 1e-9) + 1, [])]
        times, length = self.ms, minutes * 60_000
        hits, used, lo, over = [], 0.0, 0, False
        for i, q in enumerate(quantities):
            used += q
            while times[lo] <= times[i] - length:
                used -= quantities[lo]
                lo += 1
            if used > limit + 1e-9:
                if not over:
                    hits.append(self.stamps[i])
                over = True
            else:
                over = False
        return hits

    def _count_crossings(self, minutes: int) -> dict[int, list[int]]:
        """``m -> events at which the trailing count rose to m``. The count in (t - length, t] rises by
        at most one per event, so it passes a limit exactly when it steps up to the next whole number."""
        found = self._crossings.get(minutes)
        if found is None:
            times, length, found = self.ms, minutes * 60_000, {}
            counts = [i - bisect_right(times, t - length, 0, i) + 1 for i, t in enumerate(times)]
            before = 0
            for i, count in enumerate(counts):
                if count > before:
                    found.setdefault(count, []).append(i)
                before = count
            self._crossings[minutes] = found
        return found


class Ledger:
    """The period's requests in time order, read on first use: their instants, and how much
    each counts under every weighting the plans use (the sums of weighted tokens are worked out
    in SQL, with the same arithmetic as in Python). ``n`` is the number of requests."""

    def __init__(self, db: sqlite_utils.Database, where: str, params: list, n: int):
        self.db, self.where, self.params, self.n = db, where, params, n
        self._events: Events | None = None
        self._quantities: dict[str, list[float]] = {}
        self.model_costs: dict[str, float | None] = {}

    def __len__(self) -> int:
        return self.n

    @property
    def events(self) -> Events:
        if self._events is None:
            self.load([])
        return self._events  # type: ignore[return-value]

    def load(self, limits: list[Limit]) -> None:
        """Read what ``limits`` need that was not read yet, in one pass in time order."""
        wanted = {}
        for lim in limits:
            key = _weights_key(lim)
            if lim.unit in ("tokens", "credits") and key not in self._quantities:
                wanted[key] = lim
        if self._events is not None and not wanted:
            return
        models = [m for (m,) in self.db.execute("select distinct model from requests")]
        columns, params = [], []
        weighted = "? * input_tokens + ? * cache_read_tokens + ? * cache_write_tokens + ? * output_tokens"
        for lim in wanted.values():
            # Models that share weights share a branch; the most common weights are the default.
            by_weights: dict[tuple | None, list] = {}
            for model in models:
                w = lim.weight_for(model)
                key = (w["input"], w["cache_read"], w["cache_write"], w["output"]) if w is not None else None
                by_weights.setdefault(key, []).append(model)
            default = max(by_weights, key=lambda k: len(by_weights[k]), default=None)
            branches = []
            for weights, named in by_weights.items():
                if weights == default:
                    continue
                tests = (["model is null"] if None in named else [])
                if any(m is not None for m in named):
                    tests.append(f"model in ({', '.join('?' * sum(m is not None for m in named))})")
                    params.extend(m for m in named if m is not None)
                branches.append(f"when {' or '.join(tests)} then {weighted if weights else '0.0'}")
                params.extend(weights or ())
            params.extend(default or ())
            otherwise = weighted if default else "0.0"
            columns.append(f"case {' '.join(branches)} else {otherwise} end" if branches else otherwise)
        if self._events is None:
            columns[:0] = ["ts", _MS]
        # ts, then rowid: one order however often the ledger is read.
        rows = self.db.execute(f"select {', '.join(columns)} from requests {self.where} order by ts, rowid",
                               [*params, *self.params]).fetchall()  # fmt: skip
        read = [list(c) for c in zip(*rows)] if rows else [[] for _ in columns]
        if self._events is None:
            self._events = Events(read.pop(0), read.pop(0))
        for key, values in zip(wanted, read):
            self._quantities[key] = values

    def quantities(self, limit: Limit) -> tuple[str, list[float]]:
        """How much each request counts against a tokens or credits ``limit`` (its weights, by model)."""
        key = _weights_key(limit)
        if key not in self._quantities:
            self.load([limit])
        return key, self._quantities[key]

    def load_model_costs(self, models: list[str], sources: PriceSources, fx: float | None) -> None:
        """The mean request priced at each of ``models``' list prices, as the vendor bills it (cache
        writes at the 5-minute rate): the token sums of the requests whose context (input + cache
        read + cache write) exceeds each tier threshold come from one pass, the prices apply to those."""
        models = [m for m in dict.fromkeys(models) if m not in self.model_costs]
        if not models:
            return
        prices = cached_prices(self.db, models, sources)
        chosen = {}
        for model in models:
            usd, cny = prices[model]["USD"], prices[model]["CNY"]
            price, factor = (usd, 1.0) if usd else (cny, 1.0 / fx if fx else None)
            self.model_costs[model] = None
            if price is not None and factor is not None and self.n:
                chosen[model] = (price, factor)
        if not chosen:
            return
        thresholds = sorted({t.above for price, _ in chosen.values() for t in price.tiers[1:]})
        context = "input_tokens + cache_read_tokens + cache_write_tokens"
        columns = ["input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens"]
        sums = [f"coalesce(sum({c}), 0)" for c in columns]
        sums += [f"coalesce(sum(case when {context} > {t} then {c} end), 0)" for t in thresholds for c in columns]
        row = self.db.execute(f"select {', '.join(sums)} from requests {self.where}", self.params).fetchone()
        above = [row[i:i + 4] for i in range(0, len(row), 4)]  # tokens of requests over each threshold (0: all)
        bands = [(bound, [a - b for a, b in zip(above[i], above[i + 1])] if i + 1 < len(above) else list(above[i]))
                 for i, bound in enumerate([None, *thresholds])]  # fmt: skip
        for model, (price, factor) in chosen.items():
            total = 0.0
            for bound, (inp, read_tokens, write_tokens, out) in bands:
                tier = price.tiers[0]
                for t in price.tiers[1:]:
                    if bound is not None and t.above <= bound:
                        tier = t  # the band's contexts all exceed bound >= the tier's threshold
                write = tier.cache_write_5m if tier.cache_write_5m is not None else tier.input * (1.25 if price.mode == "anthropic" else 1.0)
                read = tier.cache_read if tier.cache_read is not None else tier.input
                total += (inp * tier.input + read_tokens * read + write_tokens * write + out * tier.output) / 1e6
            self.model_costs[model] = factor * total / self.n


def _weights_key(limit: Limit) -> str:
    return repr(sorted((limit.weights or {}).items(), key=str))


def load_usage(db: sqlite_utils.Database, filters: Filters) -> dict:
    """The measured ratios of the period, and its requests (a ``Ledger``) and typed prompts in time order."""
    ensure_prices(db)
    where, params = filters.where()
    n, total, sent, cache_read, unpriced, cost, first, last = db.execute(
        "select count(*), coalesce(sum(total_tokens), 0), coalesce(sum(input_tokens + cache_read_tokens + cache_write_tokens), 0),"
        " coalesce(sum(cache_read_tokens), 0), coalesce(sum(cost_usd is null), 0), coalesce(sum(coalesce(cost_usd, 0)), 0),"
        f" min(ts), max(ts) from priced_requests {where}",
        params,
    ).fetchone()  # fmt: skip
    cond = (where + " and is_sidechain = 0") if where else " where is_sidechain = 0"
    prompts = db.execute(f"select ts, {_MS} from prompts {cond} order by ts", params).fetchall()
    if filters.since and filters.until:
        start, end = parse_iso(filters.since), parse_iso(filters.until)
    elif n:
        start, end = parse_iso(first), parse_iso(last)
    else:
        start = end = None
    days = max((end - start).total_seconds() / 86400.0, 1.0) if start else None
    fx = db.execute("select cast(value as real) from meta where key = 'usd_cny'").fetchone()
    return {
        "ledger": Ledger(db, where, params, n), "prompts": Events([p[0] for p in prompts], [p[1] for p in prompts]),
        "ratios": {
            "requests": n, "prompts": len(prompts), "days": round(days, 3) if days else None,
            "tokens_per_request": (total / n) if n else None,
            "requests_per_prompt": (n / len(prompts)) if prompts else None,
            "cache_ratio": (cache_read / sent) if sent else None,
            "cost_usd_per_request": None if unpriced or not n else cost / n,
            "cost_usd_known": round(cost, 6), "unpriced_requests": unpriced,
            "usage_cost_usd_per_month": None if unpriced or not days else round(cost * 30 / days, 4),
        },
        "usd_cny": fx[0] if fx and fx[0] else None,
    }  # fmt: skip


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
        out.append({"window_minutes": lim.window_minutes, "unit": lim.unit, "limit": lim.limit,
                    "windows_exceeded": len(hits), "first_exceeded_at": hits[0] if hits else None,
                    "exceeded_at": hits[:20]})  # fmt: skip
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

