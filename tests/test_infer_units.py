"""infer-limit's parts on small inputs whose answers are computed by hand."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest

from analyzer.contract.records import LimitHit, QuotaReading, Request
from analyzer.contract.timeutil import utc_iso
from analyzer.inference import infer
from analyzer.inference import stated as stated_module
from analyzer.inference.bounds import slope_interval
from analyzer.inference.evidence import snap_window
from analyzer.inference.groups import Running, fit1, nnls, rss_of, solve
from analyzer.inference.instances import cluster_resets, resolution
from analyzer.store import database as store
from analyzer.store.writer import RecordWriter

T0 = 1793581200.0  # 2026-11-02T01:00:00Z


def _write(db, records) -> None:
    writer = RecordWriter(db, source_id=None, machine=store.machine_id(db), keep_text=False)
    writer.extend(records)
    with store.transaction(db):
        writer.flush()


def _call(i: int, t: float, inp: int, read: int, write: int, out: int, model: str = "claude-sonnet-4-5") -> Request:
    return Request(
        key=f"k{i}",
        agent="claude-code",
        session_id="s",
        ts=utc_iso(t),
        model=model,
        input_tokens=inp,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=out,
    )


def _reading(i: int, t: float, percent: float, resets: float, minutes: int = 10080, plan: str = "handplan"):
    return QuotaReading(
        key=f"q{i}",
        agent="claude-code",
        observed_at=utc_iso(t),
        used_percent=percent,
        window_minutes=minutes,
        resets_at=utc_iso(resets),
        plan_type=plan,
        source="manual",
    )


# A weekly window from 01:00 on 2026-11-02 that counts uncached input + output, limit 200,000: every call's
# input + output is a multiple of 2,000 tokens (1%), cache reads and writes vary and must not matter.
CALLS = [  # (input, cache read, cache write, output)
    (1500, 10000, 3000, 500),  # 2,000 -> 1%
    (1000, 90000, 0, 3000),  # 4,000 -> 3%
    (200, 20000, 3000, 1800),  # 2,000 -> 4%
    (5000, 70000, 0, 1000),  # 6,000 -> 7%
    (1000, 15000, 3000, 1000),  # 2,000 -> 8%
    (2500, 60000, 0, 1500),  # 4,000 -> 10%
    (100, 30000, 3000, 1900),  # 2,000 -> 11%
    (3000, 80000, 0, 3000),  # 6,000 -> 14%
]
PERCENTS = [1, 3, 4, 7, 8, 10, 11, 14]


def _hand_store(db):
    resets = T0 + 7 * 86400
    records = []
    for i, ((inp, read, write, out), pct) in enumerate(zip(CALLS, PERCENTS)):
        t = T0 + 600 * i
        records.append(_call(i, t, inp, read, write, out))
        records.append(_reading(i, t + 30, pct, resets))
    _write(db, records)


def test_hand_computed_weekly_limit(db):
    _hand_store(db)
    [e] = infer(db)
    assert (e["agent"], e["plan"], e["window_minutes"], e["method"]) == ("claude-code", "handplan", 10080, "inferred")
    assert e["candidate"] == "uncached_io" and e["quantity"] == "tokens"
    assert e["weights"] == {"input": 1.0, "cache_read": 0.0, "cache_write": 0.0, "output": 1.0}
    assert e["limit"] == pytest.approx(200_000, rel=1e-9)
    assert e["low"] <= 200_000 <= e["high"]
    # Whole-percent readings over a 14-point span: each end of the interval is at most about 2/14 away.
    assert e["high"] / e["low"] < 1.35
    assert e["evidence"]["readings"] == 8 and e["evidence"]["rounding_step_pp"] == 1.0
    assert e["evidence"]["rms_pp"] == pytest.approx(0.0, abs=1e-9)
    named = [a for a in e["alternatives"] if a["candidate"] not in ("weighted", "weighted_per_model")]
    assert all(a["rms_pp"] > 0.3 for a in named)  # no other named quantity explains the readings
    assert e["summary"].startswith("Weekly: counts uncached input + output only")


def test_estimates_do_not_depend_on_the_order_rows_were_written(db, tmp_path):
    _hand_store(db)
    other = store.open_db(tmp_path / "reversed.db")
    rows = list(reversed(db.execute("select * from requests").fetchall()))
    cols = [c[1] for c in db.execute("pragma table_info(requests)").fetchall()]
    other.conn.executemany(f"insert into requests ({', '.join(cols)}) values ({', '.join('?' * len(cols))})", rows)
    rows = list(reversed(db.execute("select * from quota_readings").fetchall()))
    cols = [c[1] for c in db.execute("pragma table_info(quota_readings)").fetchall()]
    other.conn.executemany(
        f"insert into quota_readings ({', '.join(cols)}) values ({', '.join('?' * len(cols))})", rows
    )
    assert infer(other) == infer(db)


def test_too_little_evidence_says_what_it_needs(db):
    _write(
        db,
        [
            _call(0, T0, 100, 0, 0, 100),
            _reading(0, T0 + 30, 1, T0 + 7 * 86400),
            _reading(1, T0 + 60, 2, T0 + 7 * 86400),
        ],
    )
    [e] = infer(db)
    assert e["method"] == "none" and e["limit"] is None
    assert "needs at least 6 readings" in e["needs"]
    assert "No stated figure is known" in e["summary"]


def test_catalogue_figure_is_shown_labelled_as_stated(db):
    """Too few readings of a Codex Plus weekly window: the bundled catalogue's figure, labelled, not inferred."""
    from analyzer.plans.catalogue import find, load_catalogue

    weekly = [lim for lim in find(load_catalogue(), "codex-plus").limits if lim.window_minutes == 10080]
    resets = T0 + 7 * 86400
    _write(
        db,
        [
            Request(key="c0", agent="codex", session_id="s", ts=utc_iso(T0), input_tokens=100, output_tokens=10),
            QuotaReading(
                key="c1",
                agent="codex",
                observed_at=utc_iso(T0 + 30),
                used_percent=1.0,
                window_minutes=10080,
                resets_at=utc_iso(resets),
                plan_type="plus",
                source="log",
            ),
        ],
    )
    [e] = infer(db)
    assert e["method"] == "stated" and e["plan"] == "plus"
    assert e["limit"] in {lim.limit for lim in weekly} and e["stated"]["plan"] == "codex-plus"
    assert "not inferred" in e["summary"] and "codex-plus" in e["summary"]


def test_unknown_catalogue_means_no_stated_figure(db, monkeypatch):
    monkeypatch.setattr(stated_module, "_catalogue", lambda: [])
    _write(db, [_call(0, T0, 100, 0, 0, 100), _reading(0, T0 + 30, 1, T0 + 7 * 86400)])
    [e] = infer(db)
    assert e["method"] == "none" and e["stated"] is None


def test_no_ledger_means_no_inference(db):
    _write(db, [_reading(i, T0 + 60 * i, i * 3, T0 + 7 * 86400) for i in range(8)])
    [e] = infer(db)
    assert e["method"] == "none" and "analyzer ingest" in e["needs"]


def test_hits_without_reset_or_window_are_skipped_and_spend_limits_ignored(db):
    _write(
        db,
        [
            _call(0, T0, 100, 0, 0, 100),
            LimitHit(key="h1", agent="claude-code", session_id="s", ts=utc_iso(T0 + 10)),
            LimitHit(
                key="h2",
                agent="claude-code",
                session_id="s",
                ts=utc_iso(T0 + 20),
                limit_type="spend",
                reset_at=utc_iso(T0 + 3600),
            ),
        ],
    )
    assert infer(db) == []


def test_readings_of_two_sources_count_once(db):
    resets = T0 + 7 * 86400
    a = _reading(0, T0 + 30, 5, resets)
    b = replace(a, key="other-source", source="statusline")
    _write(db, [_call(0, T0, 100, 0, 0, 100), a, b])
    [e] = infer(db)
    assert e["evidence"]["readings"] == 1


# --- parts ----------------------------------------------------------------------------


def test_window_lengths_snap_to_standard_ones():
    assert [snap_window(m) for m in (299, 300, 10079, 1440, 45, None)] == [300, 300, 10080, 1440, 45, None]


def test_reset_times_within_tolerance_are_one_instance():
    base = 1_800_000_000.0
    got = cluster_resets([base, base + 1, base - 117, base + 5 * 3600, base + 5 * 3600 + 2])
    assert got[base] == got[base + 1] == got[base - 117]
    assert got[base + 5 * 3600] == got[base + 5 * 3600 + 2] != got[base]


def test_rounding_step():
    assert resolution([1.0, 5.0, 99.0]) == 1.0
    assert resolution([1.5, 2.25]) == 0.01
    assert resolution([33.333333333]) == 1e-4


def test_nnls_matches_brute_force_over_active_sets():
    x = [[1, 0, 2], [0, 1, 1], [1, 1, 0], [2, 1, 1], [0, 3, 1]]
    y = [1.0, -2.0, 0.5, 2.0, -1.0]
    g = [[sum(r[a] * r[b] for r in x) for b in range(3)] for a in range(3)]
    h = [sum(r[a] * t for r, t in zip(x, y)) for a in range(3)]
    yy = sum(t * t for t in y)
    w = nnls(g, h)
    assert all(v >= 0 for v in w)
    best = math.inf
    for mask in itertools.product([0, 1], repeat=3):  # exhaustive: least squares on each subset, keep feasible
        cols = [a for a in range(3) if mask[a]]
        if not cols:
            best = min(best, yy)
            continue
        sub = solve([[g[a][b] for b in cols] for a in cols], [h[a] for a in cols])
        if all(v >= 0 for v in sub):
            full = [0.0] * 3
            for a, v in zip(cols, sub):
                full[a] = v
            best = min(best, rss_of(g, h, yy, full))
    assert rss_of(g, h, yy, w) == pytest.approx(best, rel=1e-9, abs=1e-12)


def test_running_sums_survive_removal():
    xs = [1.0, 2.0, 4.0, 3.0, 5.0, 7.0]
    ys = [2.1, 3.9, 8.2, 1.0, 2.9, 7.1]
    keys = ["a", "a", "a", "b", "b", "b"]
    run = Running()
    for k, x, y in zip(keys, xs, ys):
        run.add(k, x, y)
    run.add("c", 9.0, 9.0)
    run.remove("c", 9.0, 9.0)
    direct = fit1(ys, xs, keys, range(6))
    assert run.beta() == pytest.approx(direct.beta)
    assert run.rss() == pytest.approx(direct.rss)
    assert run.groups == 2


def test_slope_interval_holds_the_truth_for_rounded_readings():
    beta = 0.37
    xs = [3.0, 11.0, 19.5, 40.0, 55.0, 80.0, 120.0]
    anchored = {("A", 0): [(x, float(round(beta * x)), 0) for x in xs]}
    lo, hi, slack = slope_interval(anchored, 1.0, beta)
    assert lo <= beta <= hi and slack == 0.0
    assert hi - lo < 0.05  # a long span pins the slope down
    free = {("F", 1, 0, 0): [(x, float(round(beta * x + 6.3)), 0) for x in xs]}
    lo2, hi2, _ = slope_interval(free, 1.0, beta)
    assert lo2 <= beta <= hi2 and hi2 - lo2 >= hi - lo  # a free level knows less
