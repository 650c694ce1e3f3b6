"""Costs per request in both pricing modes and both currencies, against hand-computed values."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.contract.timeutil import UTC
from analyzer.reports.usage import Filters, daily, ensure_prices

from .analysis_helpers import add_request


def cost(db, key):
    ensure_prices(db)
    cols = "cost_usd, cost_usd_openai, cost_usd_anthropic, cost_cny, cost_cny_openai, cost_cny_anthropic, usd_basis, cny_basis"
    row = db.execute(f"select {cols} from priced_requests where key = ?", [key]).fetchone()
    return dict(zip([c.strip() for c in cols.split(",")], row))


def test_sonnet_both_modes_and_converted_cny(db):
    # 4 input x $3 + 9,000 read x $0.30 + 1,000 write (5 min) x $3.75 + 100 output x $15 = 7,962 per million
    add_request(db, "a", "2026-11-02T10:00:00.000Z", inp=4, cr=9000, cw=1000, out=100)
    c = cost(db, "a")
    assert c["cost_usd"] == pytest.approx(0.007962)
    assert c["cost_usd_anthropic"] == pytest.approx(0.007962)
    # OpenAI-style: the write is plain input: (4 + 1,000) x 3 + 2,700 + 1,500 = 7,212
    assert c["cost_usd_openai"] == pytest.approx(0.007212)
    # no CNY list price for Claude: converted at the bundled 7.1
    assert c["cost_cny"] == pytest.approx(0.007962 * 7.1)
    assert (c["usd_basis"], c["cny_basis"]) == ("list", "converted")


def test_long_context_tier(db):
    # context 1,000 + 249,000 = 250,000 > 200,000: $6 / $0.60 / $22.50
    add_request(db, "big", "2026-11-02T10:00:00.000Z", inp=1000, cr=249000, out=1000)
    assert cost(db, "big")["cost_usd"] == pytest.approx((1000 * 6 + 249000 * 0.6 + 1000 * 22.5) / 1e6)


def test_one_hour_cache_writes(db):
    # Opus 4.5: 1h write $10, 5m write $6.25, input $5
    add_request(db, "w", "2026-11-02T10:00:00.000Z", "claude-opus-4-5-20251101", cw=3000, w1h=1000)
    c = cost(db, "w")
    assert c["cost_usd"] == pytest.approx((2000 * 6.25 + 1000 * 10) / 1e6)
    assert c["cost_usd_openai"] == pytest.approx(3000 * 5 / 1e6)


def test_cny_list_prices_and_tiers(db):
    # GLM-4.7: CNY list 2 / 0.4 / 8 up to 32K context, 4 / 0.8 / 16 above; USD (Z.ai) 0.6 / 0.11 / 2.2
    add_request(db, "small", "2026-11-02T10:00:00.000Z", "glm-4.7", inp=2000, cr=8000, out=1000)
    add_request(db, "large", "2026-11-02T10:01:00.000Z", "glm-4.7", inp=10000, cr=30000, out=1000)
    small, large = cost(db, "small"), cost(db, "large")
    assert small["cost_cny"] == pytest.approx((2000 * 2 + 8000 * 0.4 + 1000 * 8) / 1e6)
    assert large["cost_cny"] == pytest.approx((10000 * 4 + 30000 * 0.8 + 1000 * 16) / 1e6)
    assert small["cost_usd"] == pytest.approx((2000 * 0.6 + 8000 * 0.11 + 1000 * 2.2) / 1e6)
    assert (small["usd_basis"], small["cny_basis"]) == ("list", "list")


def test_mode_defaults_for_unlisted_cache_rates(db):
    # GLM-4.7 lists no cache-write price: as billed (openai mode) a write is input, anthropic-style 1.25x
    add_request(db, "w", "2026-11-02T10:00:00.000Z", "glm-4.7", cw=1000)
    c = cost(db, "w")
    assert c["cost_usd"] == pytest.approx(0.0006)
    assert c["cost_usd_openai"] == pytest.approx(0.0006)
    assert c["cost_usd_anthropic"] == pytest.approx(0.00075)
    # qwen3-coder-plus (bundled table only) lists no cache-read price: input price, or 0.1x anthropic-style
    add_request(db, "r", "2026-11-02T10:01:00.000Z", "qwen3-coder-plus", cr=1000)
    c = cost(db, "r")
    assert (c["cost_usd"], c["cost_usd_openai"]) == (pytest.approx(0.001), pytest.approx(0.001))
    assert c["cost_usd_anthropic"] == pytest.approx(0.0001)


def test_unknown_model_is_unknown_not_zero(db):
    add_request(db, "k", "2026-11-02T10:00:00.000Z", inp=1000, out=1000)
    add_request(db, "u", "2026-11-02T11:00:00.000Z", "mystery-model-1", inp=1000, out=1000)
    assert cost(db, "u")["cost_usd"] is None and cost(db, "u")["cost_cny"] is None
    [row] = daily(db, Filters(tz=UTC))
    assert row["cost_usd"] is None
    assert row["cost_usd_known"] == pytest.approx((1000 * 3 + 1000 * 15) / 1e6)
    assert row["unpriced_requests"] == 1


def write_config(home, name, text):
    folder = home / ".config" / "coding-plan-analyzer"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_user_override_file(db, isolated_home):
    write_config(
        isolated_home,
        "prices.toml",
        """
usd_cny = 7.0
[[price]]
match = "mystery-model"
input = 2.0
output = 8.0
[[price]]
match = "claude-sonnet-4-5"
input = 1.0
output = 1.0
cache_read = 0.0
""",
    )
    add_request(db, "u", "2026-11-02T10:00:00.000Z", "mystery-model-1", inp=1000, out=1000)
    add_request(db, "s", "2026-11-02T10:01:00.000Z", inp=1000, out=1000, cr=5000)
    assert cost(db, "u")["cost_usd"] == pytest.approx(0.01)
    assert cost(db, "u")["cost_cny"] == pytest.approx(0.07)
    assert cost(db, "s")["cost_usd"] == pytest.approx(0.002)


def test_prices_change_when_the_override_file_changes(db, isolated_home):
    add_request(db, "u", "2026-11-02T10:00:00.000Z", "mystery-model-1", inp=1000)
    assert cost(db, "u")["cost_usd"] is None
    write_config(isolated_home, "prices.json", '{"price": [{"match": "mystery-model", "input": 3, "output": 3}]}')
    assert cost(db, "u")["cost_usd"] == pytest.approx(0.003)


def test_bad_override_file_is_a_clear_error(tmp_path, isolated_home):
    path = write_config(isolated_home, "prices.toml", "[[price]]\nmatch = 'x'\ninput = 'cheap'\noutput = 1\n")
    db_path = tmp_path / "s.db"
    from analyzer.store import database as store

    add_request(store.open_db(db_path), "u", "2026-11-02T10:00:00.000Z", "x-1", inp=1)
    result = CliRunner().invoke(cli, ["cost", "--db", str(db_path)])
    assert result.exit_code == 1
    assert str(path) in result.output and "input must be a non-negative number" in result.output


def test_cost_command_json_matches_the_view(db, tmp_path):
    add_request(db, "a", "2026-11-02T10:00:00.000Z", inp=4, cr=9000, cw=1000, out=100)
    add_request(db, "b", "2026-11-02T10:05:00.000Z", "glm-4.7", inp=2000, cr=8000, out=1000)
    path = db.conn.execute("pragma database_list").fetchone()[2]
    result = CliRunner().invoke(cli, ["cost", "--json", "--db", path])
    assert result.exit_code == 0, result.output
    import json

    rows = {r["model"]: r for r in json.loads(result.output)}
    assert rows["glm-4.7"]["cost_cny"] == pytest.approx(0.0152)
    assert rows["claude-sonnet-4-5-20250929"]["cost_usd_openai"] == pytest.approx(0.007212)
