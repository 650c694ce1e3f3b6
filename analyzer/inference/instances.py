"""Window instances: which readings belong to the same filling of a window, and what it held.

Readings whose ``resets_at`` agree within ``RESET_TOLERANCE`` (Codex jitters
by seconds, at worst about two minutes) describe one instance, which started
one window length before that reset. Each reading becomes an ``Obs``: its
"% used", and the ledger's sums from the instance's start to the reading.

An instance is *anchored* when the ledger covers its whole span: its usage
then starts from zero at the window's start, so every reading of it says how
much the counted quantity is worth on its own. Otherwise (the ledger starts
later, or the reading has no reset time) only differences between readings of
the instance say anything: its level is free.

Readings without a reset time are chained by time: consecutive readings whose
"% used" does not fall belong to one chain with a free level.

For limit hits without readings, instances come from the hits' reset times,
and the windows between them are placed by the one window rule
(``analyzer.windows.rule``): estimated from the ledger's calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.inference.evidence import Ledger, Stream
from analyzer.windows import rule

RESET_TOLERANCE = 180.0  # seconds
IDLE_GAP = 15 * 60.0  # no local call for this long: another device may have been used meanwhile
COVERAGE_SLACK = 3600.0  # a window that opened at most this long before the ledger's first call counts as covered


@dataclass
class Obs:
    """One reading as a regression row."""

    t: float
    percent: float
    start: float  # the instant its features are summed from
    chain: int
    anchored: bool  # the level is zero at ``start``
    idle_before: bool  # no local call for a while since the previous reading of its chain (or the start)
    x: list[float]  # ledger column sums over [start, t]


def cluster_resets(values: list[float], tolerance: float = RESET_TOLERANCE) -> dict[float, float]:
    """Map each reset instant to its cluster's representative (the median of the cluster)."""
    ordered = sorted(set(values))
    out: dict[float, float] = {}
    group: list[float] = []

    def close():
        if group:
            mid = group[len(group) // 2]
            for v in group:
                out[v] = mid

    for v in ordered:
        if group and v - group[-1] > tolerance:
            close()
            group = []
        group.append(v)
    close()
    return out


def observations(stream: Stream, ledger: Ledger) -> list[Obs]:
    """The stream's readings as rows, grouped into chains, in time order."""
    length = stream.minutes * 60.0
    resets = cluster_resets([r.resets for r in stream.readings if r.resets is not None])
    chains: dict[float, int] = {}
    out: list[Obs] = []
    free_chain: int | None = None
    n_free = 0
    free_start = 0.0
    last_free_percent = None
    first = ledger.first
    for r in stream.readings:
        if r.resets is not None:
            end = resets[r.resets]
            start = end - length
            if not (start <= r.t < end):
                continue  # a stale reading: its window had already reset
            chain = chains.setdefault(end, len(chains))
            anchored = first is not None and start >= first - COVERAGE_SLACK
        else:
            # No reset time: a chain with a free level, broken where the reading falls.
            if free_chain is None or (last_free_percent is not None and r.percent < last_free_percent - 1.0):
                n_free += 1
                free_chain = -n_free
                free_start = r.t
            last_free_percent = r.percent
            chain, start, anchored = free_chain, free_start, False
        out.append(Obs(r.t, r.percent, start, chain, anchored, False, ledger.between(start, r.t)))
    out = thin(out)
    _mark_idle(out, ledger)
    return out


def thin(obs: list[Obs]) -> list[Obs]:
    """Drop readings that repeat the value of the readings before and after them in their chain.

    Codex reports with every call, many times per percentage point: the first
    and last reading of a run of one value say where the value changed, which
    is all the run says; the middle ones would only weigh flat runs by length.
    """
    by_chain: dict[int, list[int]] = {}
    for i, o in enumerate(obs):
        by_chain.setdefault(o.chain, []).append(i)
    drop = set()
    for rows in by_chain.values():
        for a, b, c in zip(rows, rows[1:], rows[2:]):
            if obs[a].percent == obs[b].percent == obs[c].percent:
                drop.add(b)
    return [o for i, o in enumerate(obs) if i not in drop]


def _mark_idle(obs: list[Obs], ledger: Ledger) -> None:
    previous: dict[int, float] = {}
    for o in obs:
        since = previous.get(o.chain, o.start)
        o.idle_before = ledger.idle(since, o.t, IDLE_GAP)
        previous[o.chain] = o.t


def resolution(values: list[float]) -> float:
    """The step the readings are rounded to: 1 for whole percents, 0.01 for two decimals, ..."""
    for digits in range(0, 5):
        step = 10.0**-digits
        if all(abs(v / step - round(v / step)) < 1e-6 for v in values):
            return step
    return 1e-4


@dataclass
class Instance:
    """A window instance for censored evidence: its span and the first refusal inside it."""

    start: float
    end: float
    hit: float | None  # first limit hit in the instance
    estimated: bool


def hit_instances(stream: Stream, ledger: Ledger) -> list[Instance]:
    """Instances anchored on hits' reset times, plus the estimated windows (``analyzer.windows.rule``)
    the ledger's calls open outside them."""
    length = stream.minutes * 60.0
    resets = cluster_resets([h.reset for h in stream.hits if h.reset is not None])
    anchored: dict[float, Instance] = {}
    for h in stream.hits:
        if h.reset is None:
            continue
        end = resets[h.reset]
        inst = anchored.setdefault(end, Instance(end - length, end, None, False))
        if inst.start <= h.t < end and (inst.hit is None or h.t < inst.hit):
            inst.hit = h.t
    known = sorted(anchored.values(), key=lambda i: i.start)
    if stream.minutes == rule.WEEK and not known:
        return []  # weekly windows are periodic: without a vendor reset there is no grid to place them on
    sweep = rule.Sweep(stream.minutes, rule.cut((round(i.start * 1000), round(i.end * 1000)) for i in known))
    for t in ledger.secs:
        sweep.assign(round(t * 1000))
    estimated = [Instance(w.start / 1000.0, w.end / 1000.0, None, True) for w in sweep.windows if w.anchor is None]
    return sorted(known + estimated, key=lambda i: i.start)
