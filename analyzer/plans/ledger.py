"""The period's requests in time order, and the window replays every plan shares.

``compare-plans`` replays the user's requests (and typed prompts) through
every plan's windows. Those replays share most of their work: the requests are
read once, in time order (``Ledger``); the fixed windows of one length are the
same for every plan, and so are the running sums of one way of counting (each
request counts 1, or its weighted tokens), so a limit only looks up where each
window's running sum first passes it (``Events``). The weighted sums are worked
out in SQL with the same arithmetic, in the same order, as in Python.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate
from typing import TYPE_CHECKING

from analyzer.pricing.prices import PriceSources, cached_prices
from analyzer.windows.rule import window_starts

if TYPE_CHECKING:
    import sqlite_utils

    from analyzer.plans.catalogue import Limit

# A stored instant as milliseconds since the epoch (julianday is exact to well under a millisecond);
# text that is no time (a row written before validation) reads as year 1, as timeutil.stored_ms has it.
MS = "coalesce(cast(round((julianday(ts) - 2440587.5) * 86400000.0) as integer), -62135596800000)"


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
        """Where each fixed window starts (an index), then the number of events (``rule.window_starts``)."""
        bounds = self._bounds.get(minutes)
        if bounds is None:
            bounds = self._bounds[minutes] = window_starts(self.ms, minutes)
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
                tests = ["model is null"] if None in named else []
                if any(m is not None for m in named):
                    tests.append(f"model in ({', '.join('?' * sum(m is not None for m in named))})")
                    params.extend(m for m in named if m is not None)
                branches.append(f"when {' or '.join(tests)} then {weighted if weights else '0.0'}")
                params.extend(weights or ())
            params.extend(default or ())
            otherwise = weighted if default else "0.0"
            columns.append(f"case {' '.join(branches)} else {otherwise} end" if branches else otherwise)
        if self._events is None:
            columns[:0] = ["ts", MS]
        # ts, then rowid: one order however often the ledger is read.
        rows = self.db.execute(
            f"select {', '.join(columns)} from requests {self.where} order by ts, rowid", [*params, *self.params]
        ).fetchall()
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
        above = [row[i : i + 4] for i in range(0, len(row), 4)]  # tokens of requests over each threshold (0: all)
        bands = [
            (bound, [a - b for a, b in zip(above[i], above[i + 1])] if i + 1 < len(above) else list(above[i]))
            for i, bound in enumerate([None, *thresholds])
        ]
        for model, (price, factor) in chosen.items():
            total = 0.0
            for bound, (inp, read_tokens, write_tokens, out) in bands:
                tier = price.tiers[0]
                for t in price.tiers[1:]:
                    if bound is not None and t.above <= bound:
                        tier = t  # the band's contexts all exceed bound >= the tier's threshold
                write = (
                    tier.cache_write_5m
                    if tier.cache_write_5m is not None
                    else tier.input * (1.25 if price.mode == "anthropic" else 1.0)
                )
                read = tier.cache_read if tier.cache_read is not None else tier.input
                total += (inp * tier.input + read_tokens * read + write_tokens * write + out * tier.output) / 1e6
            self.model_costs[model] = factor * total / self.n


def _weights_key(limit: Limit) -> str:
    return repr(sorted((limit.weights or {}).items(), key=str))
