"""Which quantity explains the readings, and what one percentage point of it is worth.

Every candidate quantity is fitted the same way, robustly:

1. Rows: each reading's "% used" against the ledger's sums of the candidate
   since its window opened (``instances``), with a free level per group.
2. Change-points split the period where the slope moved (``changepoints``).
3. Usage the ledger does not show (another device, the web) makes a reading
   rise more than local calls explain. Such jumps break a chain: the readings
   after the jump get a free level, so the jump biases nothing. A jump is
   recognised when a step between two readings exceeds what rounding allows;
   where the person was idle in between, any step larger than rounding
   usually gives (in either direction, so as not to bias the slope) counts.
4. Steps 2-3 repeat until the set of breaks settles (the state with the best
   BIC is kept).
5. Once a jump has been seen (another device does use the plan), the fit is
   redone *cautiously*: every step across idle time breaks its chain, so
   usage hidden there, however small, cannot bias the slope.

Named candidates have one column. The free fits (``free``) find non-negative
weights for the four token classes (and per model) with NNLS, then treat the
weighted sum as one column for steps 2-5. Candidates are ranked by BIC, which
charges each one for its weights, segments and group levels, so a free fit
wins only when no named quantity explains the readings about as well.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass

from analyzer.inference.changepoints import segment
from analyzer.inference.evidence import Ledger
from analyzer.inference.groups import Fit1, fit1
from analyzer.inference.instances import Obs


@dataclass(frozen=True)
class Candidate:
    name: str
    quantity: str  # tokens, requests, prompts, api_cost
    label: str
    weights: tuple[float, float, float, float] | None = None  # input, cache_read, cache_write, output
    column: str | None = None
    free: str | None = None  # "class" or "model"


NAMED = (
    Candidate("all_tokens", "tokens", "all tokens (input, cache reads, cache writes and output)", (1, 1, 1, 1)),
    Candidate("uncached_io", "tokens", "uncached input + output only (cache reads and writes free)", (1, 0, 0, 1)),
    Candidate("fresh_tokens", "tokens", "input + cache writes + output (cache reads free)", (1, 0, 1, 1)),
    Candidate("output", "tokens", "output tokens only", (0, 0, 0, 1)),
    Candidate("requests", "requests", "requests (model calls)", column="requests"),
    Candidate("prompts", "prompts", "prompts (messages typed)", column="prompts"),
    Candidate("api_cost", "api_cost", "cost at API prices (USD)", column="api_cost"),
)
FREE = (
    Candidate("weighted", "tokens", "a weighted sum of token classes", free="class"),
    Candidate("weighted_per_model", "tokens", "a weighted sum of token classes, weighted per model", free="model"),
)
CANDIDATES = {c.name: c for c in NAMED + FREE}
ROUNDS = 5


@dataclass
class Structure:
    """Segments, breaks and the group of every reading."""

    bounds: list[float]
    breaks: set[int]
    piece: list[int]
    eligible: list[bool]
    keys: list[tuple]
    segs: list[int]
    fits: list[Fit1]


@dataclass
class CandidateFit:
    candidate: Candidate
    xs: list[float]  # the candidate's column per reading, scaled to 0..100
    scale: float  # units of the quantity per unit of ``xs``
    structure: Structure
    rss: float
    params: int
    bic: float = 0.0
    # Free fits: the main model's weight per token of each class, each model's multiplier, the class the
    # limit is counted in (the one carrying most of the count), and the relative standard error of the limit.
    class_weights: list[float] | None = None
    multipliers: list[float] | None = None
    ref: int = 0
    rel_se: float = 0.0
    mix_se: float = 0.0  # relative error of usage counted with these weights, for windows that borrow them
    borrowed: int | None = None  # weights taken from the fit of this other window length (minutes)

    @property
    def n(self) -> int:
        return len(self.xs)

    @property
    def rms(self) -> float:
        return math.sqrt(self.rss / max(self.n, 1))


def floor_variance(step: float) -> float:
    return max(step * step / 12.0, 1e-8)


def pieces(obs: list[Obs], breaks: set[int]) -> tuple[list[int], list[bool]]:
    count: dict[int, int] = {}
    piece = []
    for i, o in enumerate(obs):
        if i in breaks:
            count[o.chain] = count.get(o.chain, 0) + 1
        piece.append(count.get(o.chain, 0))
    return piece, [o.anchored and p == 0 for o, p in zip(obs, piece)]


def structure(obs, ys, xs, breaks: set[int], bounds: list[float]) -> Structure:
    piece, eligible = pieces(obs, breaks)
    keys, segs = [], []
    for i, o in enumerate(obs):
        s = bisect_right(bounds, o.t) - 1
        segs.append(s)
        keys.append(("A", s) if eligible[i] and o.start >= bounds[s] else ("F", o.chain, piece[i], s))
    fits = [fit1(ys, xs, keys, [i for i in range(len(obs)) if segs[i] == s]) for s in range(len(bounds))]
    return Structure(bounds, set(breaks), piece, eligible, keys, segs, fits)


def residuals(obs: list[Obs], ys, xs, st: Structure) -> list[tuple[int, float]]:
    """(reading, step residual) for each reading that follows another of its chain, or its anchor."""
    out = []
    prev: dict[int, int] = {}
    for i, o in enumerate(obs):
        f = st.fits[st.segs[i]]
        j = prev.get(o.chain)
        prev[o.chain] = i
        if f.beta is None:
            continue
        if j is not None and st.segs[j] == st.segs[i]:
            out.append((i, (ys[i] - ys[j]) - f.beta * (xs[i] - xs[j])))
        elif j is None and o.anchored and o.start >= st.bounds[st.segs[i]]:
            # Against its anchor (the level of the anchored readings), even when an earlier round cut it loose:
            # breaks are found afresh every round.
            level = f.levels.get(("A", st.segs[i]), 0.0)
            out.append((i, ys[i] - level - f.beta * xs[i]))
    return out


def _misfit(values: list[float], step: float) -> float:
    """Spread of step residuals beyond what rounding explains (robust: median absolute deviation)."""
    if len(values) < 3:
        return 0.0
    values = sorted(values)
    mid = values[len(values) // 2]
    mad = sorted(abs(v - mid) for v in values)[len(values) // 2]
    return math.sqrt(max(0.0, (1.4826 * mad) ** 2 - step * step / 6.0))


def jumps(obs: list[Obs], ys, xs, st: Structure, step: float, *, idle_only: bool = False) -> set[int]:
    """Readings that rose (or fell) more than local usage and rounding explain: each starts a new level."""
    steps = residuals(obs, ys, xs, st)
    by_seg: dict[int, list[float]] = {}
    for i, r in steps:
        by_seg.setdefault(st.segs[i], []).append(r)
    misfit = {s: _misfit(v, step) for s, v in by_seg.items()}
    found = set()
    for i, r in steps:
        m = misfit[st.segs[i]]
        if obs[i].idle_before and abs(r) > 0.7 * step + 3 * m:
            found.add(i)
        elif not idle_only and r > 1.1 * step + 4 * m:
            found.add(i)
    return found


def robust(obs: list[Obs], ys: list[float], xs: list[float], step: float, *, cautious: bool = False) -> Structure:
    """Segments and breaks for one column.

    First, against one slope for the whole period, only steps across idle time
    may break a chain (a new limit changes every step, not just those); then
    segments and breaks are found in turn, each from scratch, and the state
    with the best BIC is kept. ``cautious`` (another device was seen): every
    step across idle time breaks its chain, so usage hidden there, however
    small, cannot bias the slope; only readings within a stretch of local work
    are compared.
    """
    floor = floor_variance(step)
    always = {i for i, o in enumerate(obs) if o.idle_before} if cautious else set()
    st = structure(obs, ys, xs, always, [-math.inf])
    breaks = always | jumps(obs, ys, xs, st, step, idle_only=True)
    best, best_bic, seen = None, math.inf, []
    for _ in range(ROUNDS):
        piece, eligible = pieces(obs, breaks)
        bounds = segment(ys, xs, obs, piece, eligible, floor)
        st = structure(obs, ys, xs, breaks, bounds)
        value = _bic(st, len(obs), 1, step)
        if value < best_bic:
            best, best_bic = st, value
        seen.append(breaks)
        breaks = always | jumps(obs, ys, xs, st, step)
        if breaks in seen:
            break
    return best


def hidden_usage(obs: list[Obs], ys: list[float], fit: CandidateFit, step: float) -> list[float]:
    """Step residuals of the jumps cut out that rose beyond rounding: usage the ledger does not show."""
    st = fit.structure
    return [r for i, r in residuals(obs, ys, fit.xs, st) if i in st.breaks and r > 1.1 * step]


def _scaled(raw: list[float]) -> tuple[list[float], float] | None:
    top = max(raw, default=0.0)
    if top <= 0:
        return None
    scale = top / 100.0
    return [v / scale for v in raw], scale


def _bic(st: Structure, n: int, k: int, step: float) -> float:
    rss = sum(f.rss for f in st.fits)
    params = k + 2 * (len(st.bounds) - 1) + len(set(st.keys))
    n = max(n, 2)
    return n * math.log(max(rss / n, floor_variance(step))) + params * math.log(n)


def score(fit: CandidateFit, step: float) -> CandidateFit:
    st = fit.structure
    fit.rss = sum(f.rss for f in st.fits)
    k = (
        1
        if fit.borrowed
        else len([w for w in (fit.class_weights or [1.0]) if w > 0]) + len(fit.multipliers or [None]) - 1
    )
    fit.params = k + 2 * (len(st.bounds) - 1) + len(set(st.keys))
    fit.bic = _bic(st, fit.n, k, step)
    return fit


def fit_named(
    c: Candidate, obs: list[Obs], ys: list[float], ledger: Ledger, step: float, cautious: bool = False
) -> CandidateFit | None:
    if c.weights is not None:
        w = c.weights
        raw = [sum(wc * o.x[j] for j, wc in enumerate(w)) for o in obs]
    else:
        if c.name == "api_cost" and ledger.unpriced:
            return None  # some calls have no known price: their cost is unknown, not zero
        j = ledger.index(c.column)
        raw = [o.x[j] for o in obs]
    column = fit_column(raw, obs, ys, step, cautious)
    return score(CandidateFit(c, *column, 0.0, 0), step) if column else None


def fit_column(
    raw: list[float], obs: list[Obs], ys: list[float], step: float, cautious: bool
) -> tuple[list[float], float, Structure] | None:
    """Scale one column, find its segments and breaks; None when it cannot explain rising readings."""
    scaled = _scaled(raw)
    if scaled is None:
        return None
    xs, scale = scaled
    st = robust(obs, ys, xs, step, cautious=cautious)
    if any(f.beta is None or f.beta <= 0 for f in st.fits):
        return None
    return xs, scale, st
