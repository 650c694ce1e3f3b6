"""Estimates as plain dicts: the JSON contract of ``infer-limit --json`` and the rows of ``limit_estimates``.

One dict per (agent or plan, window): the quantity that explains the data
best (``quantity`` is ``tokens`` for any weighted sum of token classes, with
``weights`` per class scaled so that ``limit`` is in units of the weighted
sum), the limit with its interval, how much better it fits than the others,
the evidence, the segments when the limit changed, and one plain sentence.
"""

from __future__ import annotations

import math

from analyzer.contract.timeutil import format_utc, from_epoch
from analyzer.inference.bounds import slope_interval
from analyzer.inference.censored import CensoredFit
from analyzer.inference.evidence import CLASSES, Ledger, Stream
from analyzer.inference.fit import CandidateFit
from analyzer.inference.instances import Obs
from analyzer.inference.stated import stated_limit

WINDOW_NAMES = {300: "5-hour", 1440: "Daily", 10080: "Weekly", 43200: "Monthly"}
UNITS = {"tokens": "tokens", "requests": "requests", "prompts": "prompts", "api_cost": "USD"}
CLEAR_BIC = 6.0  # a BIC lead below this is not strong evidence (Kass and Raftery)
WEIGHT_SE_WIDTH = 3.0  # standard errors: readings' rounding errors are not independent
CLASS_WORDS = {
    "input": "uncached input",
    "cache_read": "cache reads",
    "cache_write": "cache writes",
    "output": "output",
}


def window_name(minutes: int) -> str:
    return WINDOW_NAMES.get(minutes, f"{minutes}-minute")


def iso(t: float | None) -> str | None:
    return None if t is None or math.isinf(t) else format_utc(from_epoch(t))


def amount(value: float | None, quantity: str, digits: int = 3) -> str:
    if value is None or math.isinf(value):
        return "?"
    if quantity == "api_cost":
        return f"${value:,.2f}"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.{digits}g}{unit}"
    return f"{value:,.{max(0, digits - len(str(int(abs(value)))))}f}" if abs(value) < 10**digits else f"{value:,.0f}"


def span_text(low: float | None, high: float | None, quantity: str) -> str:
    """``3.9M-4.1M``, with more digits when three would print the ends alike."""
    for digits in (3, 4, 5):
        a, b = amount(low, quantity, digits), amount(high, quantity, digits)
        if a != b:
            break
    return f"{a}-{b}"


def _base(stream: Stream) -> dict:
    return {
        "agent": stream.agent,
        "plan": stream.plan,
        "account": stream.account,
        "scope": stream.scope,
        "window_minutes": stream.minutes,
        "window": window_name(stream.minutes),
    }


def _days(first: float | None, last: float | None) -> float:
    return round((last - first) / 86400.0, 1) if first is not None and last is not None else 0.0


# --- weights ------------------------------------------------------------------------


def _weights(fit: CandidateFit, ledger: Ledger) -> tuple[dict | None, dict | None, float]:
    """(class weights, model multipliers, quantity per unit of the weighted sum's reference class)."""
    c = fit.candidate
    if c.weights is not None:
        return dict(zip(CLASSES, map(float, c.weights))), None, 1.0
    if c.free is None:
        return None, None, 1.0
    v = fit.class_weights or [0.0] * 4
    unit = v[fit.ref] or max(v) or 1.0
    weights = {name: _tidy(v[i] / unit) for i, name in enumerate(CLASSES)}
    models = None
    if fit.multipliers:
        models = {m: round(mu, 3) for m, mu in zip(ledger.models, fit.multipliers)}
    return weights, models, unit


def _tidy(value: float) -> float:
    return 0.0 if abs(value) < 1e-3 else round(value, 4)


def _counts_phrase(fit_name: str, label: str, weights: dict | None, models: dict | None, ledger: Ledger) -> str:
    if fit_name == "uncached_io":
        return "counts uncached input + output only (cache reads" + (
            " and writes free)" if ledger.has_cache_writes else " free)"
        )
    if fit_name in ("weighted", "weighted_per_model") and weights:
        parts = [f"{CLASS_WORDS[n]} x{w:.3g}" if w else f"{CLASS_WORDS[n]} free" for n, w in weights.items()]
        text = "counts a weighted sum of tokens: " + ", ".join(parts)
        if models:
            main = next(iter(models))
            others = [f"{m} x{w:.3g}" for m, w in models.items() if m != main and w is not None]
            if others:
                text += f"; per model, against {main}: " + ", ".join(others)
        return text
    return "counts " + label


# --- readings -----------------------------------------------------------------------


def _segment_groups(obs: list[Obs], fit: CandidateFit, s: int) -> dict:
    """Each group's points ``(x, percent, idle spells in its chain so far)``."""
    groups: dict = {}
    st = fit.structure
    stretch: dict[int, int] = {}
    for i, o in enumerate(obs):
        stretch[o.chain] = stretch.get(o.chain, 0) + (1 if o.idle_before else 0)
        if st.segs[i] == s:
            groups.setdefault(st.keys[i], []).append((fit.xs[i], o.percent, stretch[o.chain]))
    return groups


def _unexplained(obs: list[Obs], fit: CandidateFit, step: float) -> dict:
    """Usage the ledger does not explain: jumps cut out, and what idle spells hide on average."""
    from analyzer.inference.fit import hidden_usage, residuals

    st = fit.structure
    steps = residuals(obs, [o.percent for o in obs], fit.xs, st)
    big = hidden_usage(obs, [o.percent for o in obs], fit, step)
    quiet = [r for i, r in steps if obs[i].idle_before and i not in st.breaks]
    hidden = 0.0
    if len(quiet) >= 3:
        mean = sum(quiet) / len(quiet)
        var = sum((r - mean) ** 2 for r in quiet) / (len(quiet) - 1)
        hidden = max(0.0, mean + 2 * math.sqrt(var / len(quiet)))
    explained = 0.0
    last: dict[int, int] = {}
    for i, o in enumerate(obs):
        last[o.chain] = i
    for i in last.values():
        explained += (st.fits[st.segs[i]].beta or 0.0) * fit.xs[i]
    excess = sum(big)
    share = excess / (excess + explained) if excess + explained > 0 else 0.0
    return {
        "share": round(share, 3),
        "percent_points": round(excess, 1),
        "jumps": len(big),
        "idle_allowance_pp": round(hidden, 3),
    }


def from_readings(stream: Stream, ledger: Ledger, obs: list[Obs], fits: list[CandidateFit], step: float) -> dict:
    best = fits[0]
    c = best.candidate
    weights, models, unit = _weights(best, ledger)
    st = best.structure

    def to_limit(beta: float) -> float | None:
        return 100.0 * best.scale / (beta * unit) if beta and beta > 0 and not math.isinf(beta) else None

    unexplained = _unexplained(obs, best, step)
    segments = []
    for s, f in enumerate(st.fits):
        rows = [i for i in range(len(obs)) if st.segs[i] == s]
        lo_b, hi_b, slack = slope_interval(
            _segment_groups(obs, best, s), step, f.beta, unexplained["idle_allowance_pp"]
        )
        first, last = obs[rows[0]].t, obs[rows[-1]].t
        limit, low, high = to_limit(f.beta), to_limit(hi_b), to_limit(lo_b)
        if best.rel_se and limit:
            # Free weights: the reference class's own uncertainty widens the interval.
            spread = WEIGHT_SE_WIDTH * best.rel_se
            low = min(low or limit, limit / (1 + spread))
            high = max(high or limit, limit / (1 - spread)) if spread < 1 else None
        seg = {
            "from": iso(first),
            "to": iso(last),
            "limit": limit,
            "low": low,
            "high": high,
            "readings": len(rows),
            "slack_pp": round(slack, 3),
        }
        if s > 0:
            before = max(i for i in range(len(obs)) if st.segs[i] == s - 1)
            seg["changed_between"] = [iso(obs[before].t), iso(first)]
            seg["changed_at"] = iso((obs[before].t + first) / 2)
        segments.append(seg)
    current = segments[-1]
    evidence = {
        "readings": len(stream.readings),
        "readings_used": len(obs),
        "instances": len({o.chain for o in obs}),
        "hits": len(stream.hits),
        "days": _days(obs[0].t, obs[-1].t),
        "first": iso(obs[0].t),
        "last": iso(obs[-1].t),
        "rounding_step_pp": step,
        "rms_pp": round(best.rms, 3),
    }
    alternatives = []
    for f in fits[1:]:
        w, _, u = _weights(f, ledger)
        beta = f.structure.fits[-1].beta
        alternatives.append(
            {
                "candidate": f.candidate.name,
                "quantity": f.candidate.quantity,
                "label": f.candidate.label,
                "weights": w,
                "rms_pp": round(f.rms, 3),
                "delta_bic": round(f.bic - best.bic, 1),
                "limit": 100.0 * f.scale / (beta * u) if beta else None,
            }
        )
    free_unit = c.free is not None and weights is not None
    out = {
        **_base(stream),
        "quantity": c.quantity,
        "candidate": c.name,
        "label": c.label,
        "weights": weights,
        "model_weights": models,
        "unit": f"{_ref_word(weights)}-equivalent tokens" if free_unit else UNITS[c.quantity],
        "limit": current["limit"],
        "low": current["low"],
        "high": current["high"],
        "method": "inferred",
        "evidence": evidence,
        "segments": segments,
        "alternatives": alternatives,
        "unexplained": unexplained,
        "stated": stated_limit(stream.agent, stream.plan, stream.minutes),
        "needs": None,
    }
    phrase = _counts_phrase(c.name, c.label, weights, models, ledger)
    unit_word = "" if c.quantity == "api_cost" else " " + out["unit"]
    text = (
        f"{window_name(stream.minutes)}: {phrase}; about {amount(out['limit'], c.quantity)}{unit_word}, "
        f"{span_text(out['low'], out['high'], c.quantity)}, from {evidence['readings']} readings "
        f"over {_plural_days(evidence['days'])}"
    )
    if len(segments) > 1:
        prev = segments[-2]
        text += (
            f"; the limit changed around {current['changed_at'][:10]} from about "
            f"{amount(prev['limit'], c.quantity)} to {amount(current['limit'], c.quantity)}"
        )
    rivals = [a for a in alternatives if not _same_weights(a.get("weights"), weights)]
    if rivals:
        nxt = rivals[0]
        ratio = nxt["rms_pp"] / best.rms if best.rms > 0 else math.inf
        if nxt["delta_bic"] < CLEAR_BIC:
            text += f" (not yet told apart from {nxt['label']}: more readings needed)"
        else:
            text += f" (next best: {nxt['label']}, " + (f"{ratio:.1f}x the misfit)" if ratio < 100 else "far worse)")
    share = out["unexplained"]["share"]
    if share >= 0.03:
        text += f"; readings rose about {share:.0%} more than this machine's logs explain (other devices?)"
    out["summary"] = text
    return out


def _same_weights(a: dict | None, b: dict | None) -> bool:
    """Whether two weightings count the same thing (a free fit that found a named quantity is no rival)."""
    if not a or not b:
        return False
    top_a, top_b = max(a.values()) or 1.0, max(b.values()) or 1.0
    return all(abs(a[k] / top_a - b[k] / top_b) <= 0.1 for k in CLASSES)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _ref_word(weights: dict) -> str:
    for name in ("input", "output", "cache_write", "cache_read"):
        if weights.get(name) == 1.0:
            return CLASS_WORDS[name].replace("uncached ", "")
    return "token"


def _plural_days(days: float) -> str:
    if days < 1:
        return "less than a day"
    n = round(days)
    return f"{n} day" + ("" if n == 1 else "s")


# --- hits ---------------------------------------------------------------------------


def from_hits(stream: Stream, ledger: Ledger, fits: list[CensoredFit]) -> dict:
    best = fits[0]
    c = best.candidate
    weights = dict(zip(CLASSES, map(float, c.weights))) if c.weights else None
    starts = [i.start for i in best.instances]
    evidence = {
        "readings": 0,
        "hits": best.hits,
        "quiet_windows": best.quiet,
        "days": _days(min(starts), ledger.last),
        "spread_log": round(best.spread, 4),
    }
    out = {
        **_base(stream),
        "quantity": c.quantity,
        "candidate": c.name,
        "label": c.label,
        "weights": weights,
        "model_weights": None,
        "unit": UNITS[c.quantity],
        "limit": best.limit,
        "low": best.low,
        "high": best.high,
        "method": "inferred",
        "evidence": evidence,
        "segments": [],
        "unexplained": None,
        "alternatives": [
            {
                "candidate": f.candidate.name,
                "quantity": f.candidate.quantity,
                "label": f.candidate.label,
                "spread_log": round(f.spread, 4),
                "limit": f.limit,
            }
            for f in fits[1:]
        ],
        "stated": stated_limit(stream.agent, stream.plan, stream.minutes),
        "needs": None,
    }
    unit_word = "" if c.quantity == "api_cost" else " " + UNITS[c.quantity]
    out["summary"] = (
        f"{window_name(stream.minutes)}: {_counts_phrase(c.name, c.label, weights, None, ledger)}; "
        f"about {amount(best.limit, c.quantity)}{unit_word}, "
        f"{span_text(best.low, best.high, c.quantity)}, from {best.hits} limit hits and {best.quiet} windows without "
        "one (no % readings: a rougher estimate)"
    )
    return out


# --- nothing to go on ----------------------------------------------------------------


def insufficient(stream: Stream, why: str) -> dict:
    stated = stated_limit(stream.agent, stream.plan, stream.minutes)
    out = {
        **_base(stream),
        "quantity": None,
        "candidate": None,
        "label": None,
        "weights": None,
        "model_weights": None,
        "unit": None,
        "limit": None,
        "low": None,
        "high": None,
        "method": "none",
        "evidence": {"readings": len(stream.readings), "hits": len(stream.hits)},
        "segments": [],
        "alternatives": [],
        "unexplained": None,
        "stated": stated,
        "needs": why,
    }
    text = (
        f"{window_name(stream.minutes)}: not enough evidence yet ({_count(len(stream.readings), 'reading')}, "
        f"{_count(len(stream.hits), 'limit hit')}); {why}. "
    )
    if stated:
        out.update(method="stated", limit=stated["limit"], unit=stated.get("unit"))
        text += (
            f"The plans catalogue gives {amount(stated['limit'], 'x')} {stated.get('unit') or ''} for {stated['plan']}"
            f" ({stated.get('basis') or 'stated'}, not inferred)."
        )
    else:
        text += "No stated figure is known for this plan."
    out["summary"] = text.strip()
    return out
