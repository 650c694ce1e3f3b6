"""Limits from refusals alone: censored observations.

A limit hit says the window held at least the limit when the call was refused
(usage before the hit >= limit); it held less just before the last call that
went through, if the plan refuses as soon as the limit is crossed. A window
that ended without a hit held less than the limit, give or take its last call.
So each hit brackets the limit by the usage before it, and quiet windows bound
it from below.

For the right quantity the usage before each hit is nearly the same number
every time; for a wrong one it wanders with the person's mix of work. The
quantity whose hit usages agree best (smallest robust spread of their
logarithms), and which the quiet windows contradict least, is chosen. Usage on
other devices lowers some hits' usage: medians keep a few of those from
moving the estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median

from analyzer.inference.evidence import Ledger, Stream
from analyzer.inference.fit import NAMED, Candidate
from analyzer.inference.instances import Instance, hit_instances

MIN_HITS = 3


@dataclass
class CensoredFit:
    candidate: Candidate
    limit: float
    low: float
    high: float
    spread: float  # robust spread of log usage at hits
    contradicted: float  # share of quiet windows that held more than the estimate
    hits: int
    quiet: int
    instances: list[Instance]


def _mad(values: list[float]) -> float:
    m = median(values)
    return 1.4826 * median(abs(v - m) for v in values)


def _amount(c: Candidate, ledger: Ledger, sums: list[float]) -> float:
    if c.weights is not None:
        return sum(w * sums[j] for j, w in enumerate(c.weights))
    return sums[ledger.index(c.column)]


def fit_hits(stream: Stream, ledger: Ledger) -> list[CensoredFit]:
    """Named candidates fitted to hits and quiet windows, best first (empty with too few hits)."""
    instances = hit_instances(stream, ledger)
    with_hit = [i for i in instances if i.hit is not None]
    if len(with_hit) < MIN_HITS or ledger.last is None:
        return []
    quiet = [i for i in instances if i.hit is None and i.end <= ledger.last]
    out = []
    for c in NAMED:
        if c.name == "api_cost" and ledger.unpriced:
            continue
        upper, lower_at_hit = [], []
        for inst in with_hit:
            before = _amount(c, ledger, ledger.between(inst.start, inst.hit - 1e-3))
            last = ledger.last_call(inst.start, inst.hit)
            upper.append(before)
            lower_at_hit.append(before - (_amount(c, ledger, last) if last else 0.0))
        if min(upper) <= 0:
            continue
        below = []
        for inst in quiet:
            total = _amount(c, ledger, ledger.between(inst.start, inst.end - 1e-3))
            last = ledger.last_call(inst.start, inst.end)
            below.append(total - (_amount(c, ledger, last) if last else 0.0))
        limit = median((up + low) / 2 for up, low in zip(upper, lower_at_hit))
        spread = _mad([math.log(u) for u in upper])
        contradicted = sum(1 for b in below if b > limit) / len(below) if below else 0.0
        lo = median(lower_at_hit) - _mad(lower_at_hit)
        hi = median(upper) + _mad(upper)
        clean_below = sorted(b for b in below if b <= limit)
        if clean_below:
            lo = max(lo, clean_below[-1])
        out.append(
            CensoredFit(
                c, limit, min(lo, limit), max(hi, limit), spread, contradicted, len(with_hit), len(below), instances
            )
        )
    return sorted(out, key=lambda f: (f.spread + f.contradicted, [c.name for c in NAMED].index(f.candidate.name)))
