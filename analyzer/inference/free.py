"""Free weights: a plan that counts ``multiplier[model] * sum(weight[class] * tokens[class])``.

Credit plans weigh output several times input and price models differently.
The weights are found with non-negative least squares on the within-group
design, the multipliers likewise with the weights held fixed, alternating
until both settle (the product is bilinear, each half is linear). Classes
whose weight does not earn its keep under BIC are then set to zero, so a class
the plan does not count reads as exactly free rather than as noise.

The limit is stated in tokens of the class that carries most of the count
(for a credit plan usually output), whose weight the readings pin down best;
its relative standard error, from the final regression, widens the interval.
"""

from __future__ import annotations

import math

from analyzer.inference.evidence import CLASSES, Ledger
from analyzer.inference.fit import (
    Candidate,
    CandidateFit,
    _scaled,
    fit_column,
    floor_variance,
    robust,
    score,
    structure,
)
from analyzer.inference.groups import gram, nnls, rss_of, solve
from analyzer.inference.instances import Obs

ALTERNATIONS = 8


def _design(rows_x, lam, segs, mu, active):
    """Rows of the class columns: each class summed over models with their multipliers."""
    return [[lam[segs[i]] * sum(m * block[c] for m, block in zip(mu, x)) for c in active] for i, x in enumerate(rows_x)]


def _weighted(rows_x, mu, active, w) -> list[float]:
    return [sum(wc * m * block[c] for wc, c in zip(w, active) for m, block in zip(mu, x)) for x in rows_x]


def _model_design(rows_x, lam, segs, w, active):
    return [
        [lam[segs[i]] * sum(wc * block[c] for wc, c in zip(w, active)) for block in x] for i, x in enumerate(rows_x)
    ]


def _alternate(ys, rows_x, st, lam, mu, active):
    rows = list(range(len(ys)))
    w = [0.0] * len(active)
    for _ in range(ALTERNATIONS):
        g, h, _ = gram(ys, _design(rows_x, lam, st.segs, mu, active), st.keys, rows)
        w = nnls(g, h)
        if len(mu) == 1 or not any(w):
            break
        g, h, _ = gram(ys, _model_design(rows_x, lam, st.segs, w, active), st.keys, rows)
        v = nnls(g, h)
        if v[0] <= 0:
            break
        new = [x / v[0] for x in v]
        done = max(abs(a - b) for a, b in zip(new, mu)) < 1e-4
        mu = new
        if done:
            break
    return w, mu


def _prune(ys, rows_x, st, lam, mu, active, w, step):
    """Drop classes while the BIC says the fit does not need them."""
    rows = list(range(len(ys)))
    g, h, yy = gram(ys, _design(rows_x, lam, st.segs, mu, active), st.keys, rows)
    n = max(len(ys), 2)
    floor = floor_variance(step)

    def bic(subset):
        sub_g = [[g[a][b] for b in subset] for a in subset]
        sub_h = [h[a] for a in subset]
        ws = nnls(sub_g, sub_h)
        return n * math.log(max(rss_of(sub_g, sub_h, yy, ws) / n, floor)) + len(subset) * math.log(n), ws

    current = [a for a in range(len(active)) if w[a] > 0]
    if not current:
        return active, w
    best, ws = bic(current)
    while len(current) > 1:
        trials = [(bic([a for a in current if a != drop]), drop) for drop in current]
        (value, wt), drop = min(trials, key=lambda t: t[0][0])
        if value >= best:
            break
        best, ws = value, wt
        current = [a for a in current if a != drop]
    return [active[a] for a in current], ws


def fit_free(
    c: Candidate, obs: list[Obs], ys: list[float], ledger: Ledger, step: float, cautious: bool = False
) -> CandidateFit | None:
    if c.free == "model":
        if len(ledger.models) < 2:
            return None  # one model: nothing to weigh apart
        blocks = [[ledger.index(f"{name}@{m}") for name in CLASSES] for m in ledger.models]
    else:
        blocks = [[ledger.index(name) for name in CLASSES]]
    colscale = [max((sum(o.x[b[k]] for b in blocks) for o in obs), default=0.0) or 1.0 for k in range(4)]
    rows_x = [[[o.x[b[k]] / colscale[k] for k in range(4)] for b in blocks] for o in obs]
    mu = [1.0] * len(blocks)
    active = [0, 1, 2, 3]
    st = structure(obs, ys, [0.0] * len(obs), set(), [-math.inf])
    lam = [1.0]
    w: list[float] = []
    for _ in range(2):
        w, mu = _alternate(ys, rows_x, st, lam, mu, active)
        if not any(w):
            return None
        active, w = _prune(ys, rows_x, st, lam, mu, active, w, step)
        scaled = _scaled(_weighted(rows_x, mu, active, w))
        if scaled is None:
            return None
        xs, scale = scaled
        st = robust(obs, ys, xs, step, cautious=cautious)
        last = st.fits[-1].beta
        if not last or any(f.beta is None or f.beta <= 0 for f in st.fits):
            return None
        lam = [f.beta / last for f in st.fits]
    scaled = _scaled(_weighted(rows_x, mu, active, w))
    if scaled is None:
        return None
    xs, scale = scaled
    st = structure(obs, ys, xs, st.breaks, st.bounds)
    if any(f.beta is None or f.beta <= 0 for f in st.fits):
        return None
    per_token = [0.0] * 4
    for wc, k in zip(w, active):
        per_token[k] = wc / colscale[k]
    totals = ledger.cum[-1]
    share = [per_token[k] * sum(m * totals[b[k]] for m, b in zip(mu, blocks)) for k in range(4)]
    ref = max(range(4), key=lambda k: share[k])
    mix = [sum(m * totals[b[k]] for m, b in zip(mu, blocks)) / colscale[k] for k in range(4)]
    own, borrowed = _uncertainty(ys, rows_x, st, lam, mu, active, w, ref, step, mix)
    fit = CandidateFit(
        c,
        xs,
        scale,
        st,
        0.0,
        0,
        class_weights=per_token,
        multipliers=mu if len(mu) > 1 else None,
        ref=ref,
        rel_se=own,
        mix_se=borrowed,
    )
    return score(fit, step)


def _uncertainty(ys, rows_x, st, lam, mu, active, w, ref, step, mix) -> tuple[float, float]:
    """Relative standard errors from the final regression (delta method): of the reference class's weight
    (what this window's limit rests on), and of the person's usage measured in reference-class tokens
    (what another window borrowing these weights inherits). ``mix``: the usage per class, in design units."""
    if ref not in active:
        return 0.0, 0.0
    rows = list(range(len(ys)))
    g, h, yy = gram(ys, _design(rows_x, lam, st.segs, mu, active), st.keys, rows)
    dof = max(1, len(ys) - len(set(st.keys)) - len(active))
    sigma2 = max(rss_of(g, h, yy, w) / dof, step * step / 12.0)
    # Readings that repeat the previous value of their chain share its rounding error: count what is new.
    fresh = sum(1 for i in rows if i == 0 or st.keys[i] != st.keys[i - 1] or ys[i] != ys[i - 1])
    sigma2 *= len(ys) / max(fresh, 1)
    k = len(active)
    inverse = [solve(g, [1.0 if b == a else 0.0 for b in range(k)]) for a in range(k)]
    r = active.index(ref)
    own = math.sqrt(max(0.0, sigma2 * inverse[r][r])) / w[r] if w[r] > 0 else 0.0
    total = sum(w[a] * mix[c] for a, c in enumerate(active))
    if total <= 0 or w[r] <= 0:
        return own, 0.0
    grad = [mix[c] / total - (1.0 / w[r] if a == r else 0.0) for a, c in enumerate(active)]
    var = sigma2 * sum(grad[a] * inverse[a][b] * grad[b] for a in range(k) for b in range(k))
    return own, math.sqrt(max(0.0, var))


def fit_borrowed(
    source: CandidateFit,
    minutes: int,
    label: str,
    obs: list[Obs],
    ys: list[float],
    ledger: Ledger,
    step: float,
    cautious: bool = False,
) -> CandidateFit | None:
    """The weights another window of the same plan found, held fixed: one slope to fit, not a dozen."""
    v = source.class_weights or [0.0] * 4
    if source.multipliers:
        blocks = [[ledger.index(f"{name}@{m}") for name in CLASSES] for m in ledger.models]
        mu = source.multipliers
    else:
        blocks, mu = [[ledger.index(name) for name in CLASSES]], [1.0]
    raw = [sum(m * v[k] * o.x[b[k]] for m, b in zip(mu, blocks) for k in range(4)) for o in obs]
    column = fit_column(raw, obs, ys, step, cautious)
    if column is None:
        return None
    xs, scale, st = column
    c = Candidate(
        source.candidate.name,
        "tokens",
        f"{source.candidate.label} (weights of the {label} window)",
        free=source.candidate.free,
    )
    fit = CandidateFit(
        c,
        xs,
        scale,
        st,
        0.0,
        0,
        class_weights=list(v),
        multipliers=source.multipliers,
        ref=source.ref,
        rel_se=source.mix_se,
        borrowed=minutes,
    )
    return score(fit, step)
