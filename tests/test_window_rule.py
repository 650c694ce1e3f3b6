"""The one window rule (``analyzer.windows.rule``), and its second implementation in SQL held to it.

The rule's own cases are computed by hand; then every fixture home (every agent's cases, the
bundled sample) and random stores full of traps are read into a store and the windows of both
lengths are built twice, in Python and by the ``plan_windows`` SQL, and must be the same.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from analyzer.contract.timeutil import stored_ms
from analyzer.reports.filters import Filters
from analyzer.store import database as store
from analyzer.store.views.windows import windows_sql
from analyzer.windows import rule
from analyzer.windows.usage import FIVE_HOURS, WEEK, windows

from .conftest import FIXTURES, ingest_home
from .datasette_data import random_store

H = rule.HOUR
M = rule.MINUTE


def spans(sweep: rule.Sweep) -> list[tuple[int, int, str]]:
    return [(w.start, w.end, w.kind) for w in sweep.windows]


def test_estimated_windows_open_at_the_hour_and_the_next_at_or_after_the_end():
    sweep = rule.Sweep(rule.FIVE_HOURS)
    for t in (10 * H + 20 * M, 14 * H + 59 * M, 15 * H, 15 * H + 1, 23 * H, 40 * H + 5):
        sweep.assign(t)
    # 10:20 opens [10:00, 15:00); 15:00 sharp opens the next; 23:00 and 40:00:05 open theirs
    assert spans(sweep) == [
        (10 * H, 15 * H, "estimated"),
        (15 * H, 20 * H, "estimated"),
        (23 * H, 28 * H, "estimated"),
        (40 * H, 45 * H, "estimated"),
    ]
    assert rule.window_starts([10 * H + 20 * M, 14 * H + 59 * M, 15 * H, 15 * H + 1, 23 * H, 40 * H + 5], 300) == [
        0,
        2,
        4,
        5,
        6,
    ]


def test_estimated_windows_never_overlap_anchored_ones():
    # The vendor says [07:37:30, 12:37:30) and [20:00, 25:00) are windows.
    anchored = [(7 * H + 37 * M + 30_000, 12 * H + 37 * M + 30_000), (20 * H, 25 * H)]
    sweep = rule.Sweep(rule.FIVE_HOURS, anchored)
    got = [sweep.assign(t) for t in (6 * H, 8 * H, 12 * H + 50 * M, 17 * H + 40 * M, 21 * H)]
    assert [w.kind for w in got] == ["estimated", "anchored", "estimated", "estimated", "anchored"]
    assert spans(sweep)[2:] == [
        (6 * H, 7 * H + 37 * M + 30_000, "estimated"),  # cut where the anchored one starts
        (12 * H + 37 * M + 30_000, 17 * H + 37 * M + 30_000, "estimated"),  # starts where the anchored one ended
        (17 * H + 37 * M + 30_000, 20 * H, "estimated"),  # starts where the previous ended; cut at 20:00
    ]


def test_overlapping_anchored_instances_are_cut_and_empty_ones_dropped():
    # In reset order: 10:00, 14:00, 15:00, 17:00; each starts where the one before ended.
    assert rule.cut([(10 * H, 15 * H), (5 * H, 10 * H), (12 * H, 17 * H), (13 * H, 14 * H)]) == [
        (5 * H, 10 * H),
        (13 * H, 14 * H),
        (14 * H, 15 * H),
        (15 * H, 17 * H),
    ]
    assert rule.cut([(5 * H, 10 * H), (6 * H, 10 * H)]) == [(5 * H, 10 * H)]  # the same reset twice: one instance


def test_weekly_estimated_windows_follow_the_vendor_grid():
    week = 7 * 24 * H
    reset = 100 * H  # the vendor's week ends here; so do all others, every 7 days
    sweep = rule.Sweep(rule.WEEK, [(reset - week, reset)])
    later = sweep.assign(reset + 2 * week + 5 * H)
    earlier = sweep.assign(reset - 3 * week + H)  # out of order on purpose: the slot is still on the grid
    assert (later.start, later.end, later.reference) == (reset + 2 * week, reset + 3 * week, reset)
    assert (earlier.start - reset) % week == 0
    # equidistant from two resets: the earlier one is the reference
    two = rule.Sweep(rule.WEEK, [(0, week), (2 * week + H, 3 * week + H)])
    assert two.assign(week + week // 2 + H // 2).reference == week


def test_the_fast_loop_is_the_sweep():
    rnd = random.Random(7)
    for _ in range(200):
        times = sorted(rnd.randrange(0, 60 * H, rnd.choice([1, 1000, 60_000])) for _ in range(rnd.randint(1, 40)))
        minutes = rnd.choice([rule.FIVE_HOURS, rule.WEEK, 60])
        sweep = rule.Sweep(minutes)
        opened = []
        for i, t in enumerate(times):
            before = len(sweep.windows)
            sweep.assign(t)
            if len(sweep.windows) > before:
                opened.append(i)
        assert rule.window_starts(times, minutes) == [*opened, len(times)]


def fixture_homes() -> list[str]:
    homes = sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*/home"))
    return [h for h in homes if not h.startswith("sample/")] + ["sample/home"]


def python_windows(db) -> list[dict]:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    out = []
    for minutes in (FIVE_HOURS, WEEK):
        out.extend(windows(db, Filters(), minutes=minutes, now=now))
    return out


def sql_windows(db) -> list[dict]:
    cur = db.execute(windows_sql((FIVE_HOURS, WEEK)))
    columns = [d[0] for d in cur.description]
    return [dict(zip(columns, row)) for row in cur.fetchall()]


def _key(w: dict) -> tuple:
    return (w["account"] or "", w["window_minutes"], w["start"])


def assert_same_windows(db) -> int:
    mine = python_windows(db)
    theirs = {_key(w): w for w in sql_windows(db)}
    assert sorted(_key(w) for w in mine) == sorted(theirs)
    for w in mine:
        other = theirs[_key(w)]
        for name, want in w.items():
            if name in ("is_active", "agents", "machines"):
                continue  # "now" differs: SQL reads the clock; the breakdowns are the CLI's
            have = other[name]
            if isinstance(want, float) or isinstance(have, float):
                assert (
                    want is not None and have is not None and math.isclose(want, have, rel_tol=1e-9, abs_tol=1.01e-6)
                ), name  # costs are rounded to 6 places
            else:
                assert have == want, (name, w, other)
    return len(mine)


@pytest.mark.parametrize("home", fixture_homes())
def test_python_and_sql_place_the_same_windows_on_every_fixture(tmp_path, home):
    db = store.open_db(tmp_path / "w.db")
    ingest_home(db, FIXTURES / home)
    assert_same_windows(db)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_python_and_sql_place_the_same_windows_on_random_traps(tmp_path, seed):
    db = store.open_db(tmp_path / "w.db")
    random_store(db, seed=seed)
    assert assert_same_windows(db) > 20


def test_the_statusline_walk_is_the_rule(tmp_path):
    """The statusline finds the current window by index seeks from the first request of its
    lookback: wherever that request opened a window, the walk finds the sweep's windows."""
    from bisect import bisect_left

    from analyzer.plugins.claude_code import usage_window as uw

    from analyzer.accounts.store import ensure_accounts

    db = store.open_db(tmp_path / "w.db")
    random_store(db, seed=5)
    ensure_accounts(db)
    account = db.execute("select account from requests group by account order by count(*) desc limit 1").fetchone()[0]
    times = [stored_ms(r[0]) for r in db.execute("select ts from requests where account = ? order by ts", [account])]
    sweep = rule.Sweep(rule.FIVE_HOURS)
    openers = set()
    for t in times:
        before = len(sweep.windows)
        sweep.assign(t)
        if len(sweep.windows) > before:
            openers.add(t)
    checked = 0
    for w in sweep.windows:
        inside = w.start + (w.end - w.start) // 2
        first = times[bisect_left(times, inside - uw.LOOKBACK // timedelta(milliseconds=1))]
        if first > inside or first not in openers:
            continue  # the walk starts inside a run of windows that began before its lookback (said in its docstring)
        found = uw.estimated(db.conn, account, datetime.fromtimestamp(inside / 1000, UTC))
        assert found is not None and (stored_ms(found.start), stored_ms(found.end)) == (w.start, w.end)
        checked += 1
    assert checked > 10
