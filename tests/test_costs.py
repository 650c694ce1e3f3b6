"""Stored per-request costs: always what the prices and the tokens give now, hand-computed."""

from __future__ import annotations

import sqlite3

import pytest

from analyzer.contract.records import Request
from analyzer.contract.timeutil import UTC
from analyzer.pricing.costs import ensure_costs, has_unpriced
from analyzer.reports.usage import Filters, daily, ensure_prices
from analyzer.store import database as store
from analyzer.store.schema import COST_COLUMN_NAMES as COST_COLUMNS
from analyzer.store.writer import RecordWriter

from .analysis_helpers import add_request
from .claude_lines import assistant_line, transcript_path, user_line
from .conftest import FIXTURES, ingest_home
from .test_pricing import write_config

ALL = Filters(tz=UTC)
COLUMNS = ", ".join(COST_COLUMNS)
# Sonnet 4.5 per million: input 3, cache read 0.30, 5-minute write 3.75, output 15.
SONNET = {"input": 3.0, "read": 0.3, "write": 3.75, "output": 15.0}


def stored(db, key):
    return db.execute(f"select priced, {COLUMNS} from requests where key = ?", [key]).fetchone()


def viewed(db, key):
    return db.execute(f"select {COLUMNS} from priced_requests where key = ?", [key]).fetchone()


def live(db, key):
    return db.execute(f"select {COLUMNS} from live_request_costs where key = ?", [key]).fetchone()


def sonnet(inp=0, read=0, write=0, out=0) -> float:
    return (inp * SONNET["input"] + read * SONNET["read"] + write * SONNET["write"] + out * SONNET["output"]) / 1e6


@pytest.mark.parametrize("case", sorted(p for p in FIXTURES.glob("*/*") if (p / "home").is_dir()), ids=str)
def test_stored_costs_equal_the_pricing_rule_on_every_fixture(db, case):
    # Every column the view shows, for every request of every fixture, exactly as the rule gives it.
    ingest_home(db, case / "home")
    ensure_prices(db)
    assert not has_unpriced(db)
    rule = dict((r[0], r[1:]) for r in db.execute(f"select key, {COLUMNS} from live_request_costs"))
    kept = dict((r[0], r[1:]) for r in db.execute(f"select key, {COLUMNS} from requests"))
    assert kept == rule
    assert dict((r[0], r[1:]) for r in db.execute(f"select key, {COLUMNS} from priced_requests")) == rule


def test_ingest_stores_costs_and_reports_read_them(db, tmp_path):
    home = tmp_path / "h"
    path = transcript_path(home)
    path.parent.mkdir(parents=True)
    path.write_bytes(
        user_line("u1", 0, "hi")
        + assistant_line("m1", 1, input_tokens=4, output_tokens=100, cache_read=9000, cache_write=1000)
    )
    ingest_home(db, home)
    # priced by the ingest pass itself: 4 x 3 + 9,000 x 0.30 + 1,000 x 3.75 + 100 x 15 = 7,962 per million
    priced, price_key, mode, usd, cny, *_ = stored(db, "claude-code:m1")
    assert priced == 1 and price_key == "claude-sonnet-4-5" and mode == "anthropic"
    assert usd == pytest.approx(sonnet(4, 9000, 1000, 100)) == pytest.approx(0.007962)
    assert cny == pytest.approx(0.007962 * 7.1)  # converted at the bundled rate
    assert viewed(db, "claude-code:m1") == stored(db, "claude-code:m1")[1:]


def test_a_better_copy_of_a_request_is_priced_again(db, tmp_path):
    # A streamed response read while still partial, then complete in a later pass: the row is
    # replaced by the better copy, and its cost follows the new tokens.
    home = tmp_path / "h"
    path = transcript_path(home)
    path.parent.mkdir(parents=True)
    path.write_bytes(
        user_line("u1", 0, "hi")
        + assistant_line("m1", 1, input_tokens=4, output_tokens=1, cache_read=9000, final=False)
    )
    ingest_home(db, home)
    assert stored(db, "claude-code:m1")[2 + 1] == pytest.approx(sonnet(4, 9000, 0, 1))
    with path.open("ab") as f:
        f.write(assistant_line("m1", 2, input_tokens=4, output_tokens=500, cache_read=9000))
    ingest_home(db, home)
    priced, *costs = stored(db, "claude-code:m1")
    assert priced == 1
    assert costs[2] == pytest.approx(sonnet(4, 9000, 0, 500)) == pytest.approx(0.010212)  # 12 + 2,700 + 7,500


def test_a_row_replaced_between_passes_is_priced_on_the_fly_until_stored(db):
    add_request(db, "a", "2026-11-02T10:00:00.000Z", inp=4, cr=9000, cw=1000, out=100)
    ensure_prices(db)
    assert stored(db, "a")[0] == 1
    # a better copy of the same model call (more output) arrives through the record writer
    writer = RecordWriter(db, source_id=None, machine="m", keep_text=False)
    writer.add(
        Request(
            "a",
            "claude-code",
            "s1",
            "2026-11-02T10:00:00.000Z",
            "claude-sonnet-4-5-20250929",
            input_tokens=4,
            cache_read_tokens=9000,
            cache_write_tokens=1000,
            output_tokens=200,
        )
    )
    with store.transaction(db):
        writer.flush()
    assert stored(db, "a")[0] == 0  # the upsert withdrew the stored costs
    # still right through the view (the rule, on the fly), before any report stores them again
    assert (
        viewed(db, "a")[2] == pytest.approx(sonnet(4, 9000, 1000, 200)) == pytest.approx(0.009462)
    )  # 12 + 2,700 + 3,750 + 3,000
    assert viewed(db, "a") == live(db, "a")
    ensure_prices(db)
    assert stored(db, "a")[0] == 1 and stored(db, "a")[3] == pytest.approx(0.009462)  # 12 + 2,700 + 3,750 + 3,000


def test_a_price_override_reprices_every_request(db, isolated_home):
    add_request(db, "s", "2026-11-02T10:00:00.000Z", inp=1000, out=1000, cr=5000)
    add_request(db, "u", "2026-11-02T10:01:00.000Z", "mystery-model-1", inp=1000, out=1000)
    ensure_prices(db)
    assert stored(db, "s")[3] == pytest.approx(sonnet(1000, 5000, 0, 1000))
    assert stored(db, "u")[3] is None  # no price: unknown, never 0
    write_config(
        isolated_home,
        "prices.toml",
        """
usd_cny = 6.5
[[price]]
match = "claude-sonnet-4-5"
input = 2.0
output = 4.0
cache_read = 0.5
[[price]]
match = "mystery-model"
input = 5.0
output = 5.0
""",
    )
    ensure_prices(db)
    # 1,000 x 2 + 5,000 x 0.5 + 1,000 x 4 = 8,500 per million; CNY converted at 6.5
    assert stored(db, "s")[:5] == (1, "claude-sonnet-4-5", "openai", pytest.approx(0.0085), pytest.approx(0.05525))
    assert stored(db, "u")[3:5] == (pytest.approx(0.01), pytest.approx(0.065))  # 1,000 x 5 + 1,000 x 5
    # and back: without the file, the library's and bundled prices again
    (isolated_home / ".config" / "coding-plan-analyzer" / "prices.toml").unlink()
    ensure_prices(db)
    assert stored(db, "s")[3] == pytest.approx(sonnet(1000, 5000, 0, 1000))
    assert stored(db, "u")[3] is None


def test_an_exchange_rate_change_reprices_converted_costs(db, isolated_home):
    add_request(db, "s", "2026-11-02T10:00:00.000Z", inp=1000, out=1000)
    ensure_prices(db)
    assert stored(db, "s")[4] == pytest.approx(0.018 * 7.1)
    write_config(isolated_home, "prices.toml", "usd_cny = 8.0\n")
    ensure_prices(db)
    assert stored(db, "s")[4] == pytest.approx(0.018 * 8.0)
    assert [r["cost_usd"] for r in daily(db, ALL)] == [pytest.approx(0.018)]


def test_changed_prices_in_the_store_withdraw_the_stored_costs(db):
    add_request(db, "s", "2026-11-02T10:00:00.000Z", inp=1000, out=1000)
    add_request(db, "g", "2026-11-02T10:01:00.000Z", "gpt-5", inp=1000)
    ensure_prices(db)
    # whoever edits price_tiers (Datasette, a script): that model's rows only
    db.execute("delete from price_tiers where model = 'claude-sonnet-4-5-20250929'")
    assert (stored(db, "s")[0], stored(db, "g")[0]) == (0, 1)
    assert viewed(db, "s")[2] is None  # no tier left: unknown, on the fly
    db.execute("update meta set value = '7.5' where key = 'usd_cny'")
    assert stored(db, "g")[0] == 0


def test_new_requests_are_found_cheaply_and_priced_once(db):
    add_request(db, "a", "2026-11-02T10:00:00.000Z", inp=10, out=10)
    assert has_unpriced(db)
    ensure_prices(db)
    assert not has_unpriced(db)
    plan = " ".join(
        r[3]
        for r in db.execute(
            "explain query plan select exists(select 1 from requests indexed by requests_unpriced where priced = 0)"
        )
    )
    assert "requests_unpriced" in plan
    add_request(db, "b", "2026-11-02T10:05:00.000Z", inp=10, out=10)
    assert [k for (k,) in db.execute("select key from requests where priced = 0")] == ["b"]


def test_a_locked_store_still_reports_right_costs(tmp_path):
    path = tmp_path / "s.db"
    db = store.open_db(path)
    add_request(db, "a", "2026-11-02T10:00:00.000Z", inp=4, cr=9000, cw=1000, out=100)
    ensure_prices(db)
    add_request(db, "b", "2026-11-02T10:05:00.000Z", inp=4, cr=9000, cw=1000, out=100)
    writer = sqlite3.connect(str(path), isolation_level=None)
    writer.execute("begin immediate")  # another process holds the write lock
    try:
        reader = store.open_db(path, timeout=0.05)
        ensure_costs(reader)  # cannot store: not an error
        assert stored(reader, "b")[0] == 0
        [row] = daily(reader, ALL)
        assert row["requests"] == 2 and row["unpriced_requests"] == 0
        assert row["cost_usd"] == pytest.approx(2 * 0.007962)
    finally:
        writer.execute("rollback")
        writer.close()


def test_a_store_from_before_stored_costs_is_priced_by_the_next_report(db):
    # The migration adds the columns to an old store's rows at priced = 0 (and no costs).
    add_request(db, "a", "2026-11-02T10:00:00.000Z", inp=4, cr=9000, cw=1000, out=100)
    ensure_prices(db)  # the old store's prices, resolved before
    db.execute(f"update requests set priced = 0, {', '.join(f'{c} = null' for c in COST_COLUMNS)}")
    assert viewed(db, "a")[2] == pytest.approx(0.007962)
    [row] = daily(db, ALL)
    assert row["cost_usd"] == pytest.approx(0.007962)
    assert stored(db, "a")[0] == 1 and stored(db, "a")[3] == pytest.approx(0.007962)
