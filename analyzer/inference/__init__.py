"""Inferring what a plan counts, and how much of it fits in each window.

The evidence (``evidence``): the request ledger, the plan's "% used" readings
and its refusals (limit hits), grouped per account (every agent and machine
that spends it: one fit per account and window), plan, scope and window length.

With readings (``instances``, ``fit``, ``changepoints``, ``bounds``): for a
window that fills and resets, the reading at time t is the counted usage since
the window opened divided by the limit. Each candidate quantity (all tokens,
input + cache writes + output, uncached input + output, output, requests,
prompts, API cost, and free non-negative weights per token class and per
model) is regressed on the readings with a free level per group of readings
whose start the ledger cannot vouch for. The candidate with the best BIC is
the quantity; 100 over its slope is the limit; the interval holds every slope
the rounded readings allow. Jumps the ledger cannot explain (another device)
are cut out, and change-points split the period where the limit moved.

With limit hits only (``censored``): usage before each refusal brackets the
limit, quiet windows bound it from below; the quantity whose hit usages agree
best wins.

With neither: the plans catalogue's stated figure, labelled as stated
(``stated``), or a plain statement of what evidence is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlite_utils

from analyzer.inference.censored import MIN_HITS, fit_hits
from analyzer.inference.evidence import Ledger, Stream, load_ledger, load_streams
from analyzer.inference.fit import CANDIDATES, FREE, NAMED, fit_named, hidden_usage
from analyzer.inference.free import fit_borrowed, fit_free
from analyzer.inference.instances import observations, resolution
from analyzer.inference.report import from_hits, from_readings, insufficient, window_name

MIN_READINGS = 6
MIN_SPAN = 10.0  # percentage points of movement across all instances


def fit_all(obs, ledger, step: float, cautious: bool = False) -> list:
    """Every candidate that can be fitted, best (lowest BIC) first; duplicates of a better one dropped."""
    ys = [o.percent for o in obs]
    fits = []
    for c in NAMED:
        f = fit_named(c, obs, ys, ledger, step, cautious)
        if f is None:
            continue
        if any(max(abs(a - b) for a, b in zip(f.xs, g.xs)) < 1e-6 for g in fits):
            continue  # the same column as an earlier candidate in this ledger (e.g. no cache writes at all)
        fits.append(f)
    for c in FREE:
        f = fit_free(c, obs, ys, ledger, step, cautious)
        if f is not None:
            fits.append(f)
    order = {name: i for i, name in enumerate(CANDIDATES)}
    return sorted(fits, key=lambda f: (round(f.bic, 6), order[f.candidate.name]))


def span(obs) -> float:
    """Percentage points the readings moved by, summed over instances (anchored ones from zero)."""
    by_chain: dict[int, list] = {}
    for o in obs:
        by_chain.setdefault(o.chain, []).append(o)
    total = 0.0
    for rows in by_chain.values():
        values = [o.percent for o in rows]
        total += max(values) - (0.0 if rows[0].anchored else min(values))
    return total


@dataclass
class Prepared:
    """A stream with its ledger, and its readings' fits when there are enough readings."""

    stream: Stream
    ledger: Ledger
    obs: list = field(default_factory=list)
    step: float = 1.0
    fits: list = field(default_factory=list)
    cautious: bool = False


def prepare(db: sqlite_utils.Database, stream: Stream, ledgers: dict) -> Prepared:
    key = (stream.owner, stream.scope)
    if key not in ledgers:
        ledgers[key] = load_ledger(db, stream.owner, stream.scope)
    p = Prepared(stream, ledgers[key])
    if p.ledger.secs and stream.readings:
        obs = observations(stream, p.ledger)
        if len(obs) >= MIN_READINGS and span(obs) >= MIN_SPAN:
            p.obs, p.step = obs, resolution([o.percent for o in obs])
            p.fits = fit_all(obs, p.ledger, p.step)
            if p.fits and hidden_usage(obs, [o.percent for o in obs], p.fits[0], p.step):
                # Another device uses this plan too: compare only readings within stretches of local work.
                p.cautious = True
                p.fits = fit_all(obs, p.ledger, p.step, cautious=True) or p.fits
    return p


def borrow(prepared: list[Prepared]) -> None:
    """Offer each window the free weights another window of the same plan found.

    Plans usually count the same thing in every window; a window with fewer
    instances (the weekly one) pins the weights down less well than one seen
    filling more often (the 5-hour one), and held fixed they cost it no
    parameters. They compete under BIC like any other candidate.
    """
    for p in prepared:
        if not p.fits:
            continue
        added = []
        for q in prepared:
            if q is p or not q.fits or q.ledger is not p.ledger or q.stream.plan != p.stream.plan:
                continue
            if len({o.chain for o in q.obs}) <= len({o.chain for o in p.obs}):
                continue  # only from a window seen filling more often
            source = q.fits[0]
            if source.candidate.free is None or source.borrowed:
                continue
            f = fit_borrowed(
                source,
                q.stream.minutes,
                window_name(q.stream.minutes),
                p.obs,
                [o.percent for o in p.obs],
                p.ledger,
                p.step,
                p.cautious,
            )
            if f is not None:
                added.append(f)
        if added:
            p.fits = sorted(p.fits + added, key=lambda f: round(f.bic, 6))


def estimate(p: Prepared) -> dict:
    """One estimate for one stream."""
    stream, ledger = p.stream, p.ledger
    if not ledger.secs:
        return insufficient(stream, "no requests of this account are in the store: run `analyzer ingest`")
    if p.fits:
        return from_readings(stream, ledger, p.obs, p.fits, p.step)
    if len(stream.hits) >= MIN_HITS:
        fits = fit_hits(stream, ledger)
        if fits:
            return from_hits(stream, ledger, fits)
    return insufficient(
        stream,
        f"needs at least {MIN_READINGS} readings that move {MIN_SPAN:.0f}+ percentage points in all, "
        f"or {MIN_HITS} limit hits with reset times",
    )


def infer(
    db: sqlite_utils.Database,
    *,
    agents: tuple[str, ...] = (),
    plan: str | None = None,
    windows: tuple[int, ...] = (),
    accounts: tuple[str, ...] = (),
) -> list[dict]:
    """Estimates for every stream that matches the filters (``agents``: the accounts they used, whole)."""
    ledgers: dict = {}
    prepared = []
    for stream in load_streams(db, agents, accounts):
        if plan and stream.plan and stream.plan.lower() != plan.lower():
            continue
        if plan and not stream.plan:
            stream.plan = plan  # the user says which plan these signals belong to
        prepared.append(prepare(db, stream, ledgers))
    borrow(prepared)  # every window of the plan takes part, even those not asked for
    return [
        {**estimate(p), "account": p.stream.account, "agents": p.stream.agents}
        for p in prepared
        if not windows or p.stream.minutes in windows
    ]
