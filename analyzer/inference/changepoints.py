"""Change-points: when the worth of a percentage point changed (the vendor moved the limit).

Binary segmentation on the within-group regression: for every split between
two reading times, fit the slope on each side apart and keep the split that
lowers the Bayesian information criterion most (each side pays for its slope,
its group levels and the split itself). A split inside a window instance is
allowed: readings after it whose window opened before it lose their anchor
(their level includes usage counted at the old rate) and keep a free level.

One pass from the left and one from the right give every split's cost in
linear time; readings that regain their anchor as the split moves earlier are
moved between groups as the pass goes.
"""

from __future__ import annotations

import heapq
import math

from analyzer.inference.groups import Running
from analyzer.inference.instances import Obs

MIN_SIDE = 8  # readings on each side of a split
MAX_SEGMENTS = 3
MIN_CHANGE = 0.15  # |log(beta ratio)|: smaller moves are misfit, not a new limit
MAX_CHANGE = math.log(20)  # larger ones are a model that does not fit, not a vendor's decision
MIN_SIDE_SPAN = 10.0  # percentage points the readings on each side of a split must move, over all chains
ANCHOR = ("A",)


def bic(rss: float, n: int, params: int, floor: float) -> float:
    return n * math.log(max(rss / max(n, 1), floor)) + params * math.log(max(n, 2))


def _key(o: Obs, piece: int, eligible: bool, since: float):
    return ANCHOR if eligible and o.start >= since else ("F", o.chain, piece)


def best_split(
    ys, xs, obs: list[Obs], piece: list[int], eligible: list[bool], rows: list[int], since: float, floor: float
) -> tuple[float, int] | None:
    """(BIC gain, position in ``rows`` where the right side starts) of the best split, if any helps."""
    n = len(rows)
    if n < 2 * MIN_SIDE:
        return None
    run = Running()
    left = [(0.0, 0, 0.0, None)] * (n + 1)
    for k, i in enumerate(rows):
        run.add(_key(obs[i], piece[i], eligible[i], since), xs[i], ys[i])
        left[k + 1] = (run.rss(), run.groups, run.sxx, run.beta())
    run = Running()
    right = [(0.0, 0, 0.0, None)] * (n + 1)
    pending: list[tuple[float, int]] = []
    for k in range(n - 1, -1, -1):
        i = rows[k]
        tau = obs[i].t
        key = _key(obs[i], piece[i], eligible[i], tau)
        run.add(key, xs[i], ys[i])
        if key is not ANCHOR and eligible[i]:
            heapq.heappush(pending, (-obs[i].start, i))
        while pending and -pending[0][0] >= tau:
            _, j = heapq.heappop(pending)
            run.remove(("F", obs[j].chain, piece[j]), xs[j], ys[j])
            run.add(ANCHOR, xs[j], ys[j])
        right[k] = (run.rss(), run.groups, run.sxx, run.beta())
    spans_left, spans_right = _spans(obs, rows)
    rss0, groups0, _, _ = left[n]
    base = bic(rss0, n, 1 + groups0, floor)
    best = None
    for k in range(MIN_SIDE, n - MIN_SIDE + 1):
        if obs[rows[k - 1]].t >= obs[rows[k]].t:
            continue
        lr, lg, lsxx, lb = left[k]
        rr, rg, rsxx, rb = right[k]
        if not lb or not rb or lb <= 0 or rb <= 0 or not MIN_CHANGE <= abs(math.log(lb / rb)) <= MAX_CHANGE:
            continue
        if spans_left[k] < MIN_SIDE_SPAN or spans_right[k] < MIN_SIDE_SPAN:
            continue
        gain = base - bic(lr + rr, n, 3 + lg + rg, floor)
        if gain > 0 and (best is None or gain > best[0]):
            best = (gain, k)
    return best


def _spans(obs: list[Obs], rows: list[int]) -> tuple[list[float], list[float]]:
    """For each split position, how many percentage points the readings left of it (and right of it) moved,
    summed over chains: the evidence each side would stand on."""

    def sweep(order):
        out, lo, hi, total = [], {}, {}, 0.0
        for i in order:
            c, y = obs[i].chain, obs[i].percent
            before = hi[c] - lo[c] if c in lo else 0.0
            lo[c], hi[c] = min(lo.get(c, y), y), max(hi.get(c, y), y)
            total += hi[c] - lo[c] - before
            out.append(total)
        return out

    left = [0.0] + sweep(rows)
    right = list(reversed(sweep(list(reversed(rows))))) + [0.0]
    return left, right


def segment(ys, xs, obs: list[Obs], piece: list[int], eligible: list[bool], floor: float) -> list[float]:
    """Segment start times (the first is -inf), found by binary segmentation."""
    parts = [(list(range(len(obs))), -math.inf)]
    while len(parts) < MAX_SEGMENTS:
        found = []
        for idx, (rows, since) in enumerate(parts):
            split = best_split(ys, xs, obs, piece, eligible, rows, since, floor)
            if split:
                found.append((split[0], idx, split[1]))
        if not found:
            break
        _, idx, k = max(found)
        rows, since = parts[idx]
        parts[idx : idx + 1] = [(rows[:k], since), (rows[k:], obs[rows[k]].t)]
    return [since for _, since in parts]
