"""Plans catalogue, compare-plans conversions and fit, status: hand-computed figures."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.contract.timeutil import UTC
from analyzer.plans.catalogue import load_catalogue, sync_catalogue
from analyzer.plans.compare import compare, load_usage
from analyzer.reports.status import status
from analyzer.reports.usage import Filters

from .analysis_helpers import add_reading, add_request, fanout_dataset
from .test_pricing import write_config
from .test_stats_windows import db_path

ALL = Filters(tz=UTC)
SECTION_1 = [
    "claude-pro",
    "claude-max-5x",
    "claude-max-20x",
    "codex-plus",
    "codex-pro-5x",
    "codex-pro-20x",
    "kimi-andante",
    "kimi-moderato",
    "kimi-allegretto",
    "kimi-allegro",
    "minimax-starter",
    "minimax-plus",
    "minimax-max",
    "minimax-intl-starter",
    "minimax-intl-plus",
    "minimax-intl-max",
    "glm-lite",
    "glm-pro",
    "glm-max",
    "ark-lite",
    "ark-pro",
    "bailian-lite",
    "bailian-pro",
    "qianfan-lite",
    "qianfan-pro",
]


def test_catalogue_covers_section_1_with_sources_and_dates():
    plans = {p.id: p for p in load_catalogue()}
    assert set(SECTION_1) <= set(plans)
    for plan in plans.values():
        assert plan.price is not None and plan.currency in ("USD", "CNY") and plan.source
        for lim in plan.limits:
            assert lim.source and lim.as_of and lim.basis in ("stated", "community", "blog", "derived"), (plan.id, lim)
    assert plans["ark-lite"].primary()[0].limit == 1200
    assert plans["glm-lite"].multipliers["glm-5"]["peak"] == 3


def test_catalogue_in_the_store_and_user_plans(db, isolated_home):
    write_config(
        isolated_home,
        "plans.toml",
        """
[[plan]]
id = "tiny"
vendor = "Me"
name = "Tiny"
price = 1
currency = "USD"
[[plan.limits]]
window_minutes = 300
unit = "requests"
limit = 3
primary = true
source = "test"
as_of = "2026-11"
[[plan]]
id = "ark-lite"
vendor = "Volcengine"
name = "Ark Lite (my contract)"
price = 30
currency = "CNY"
""",
    )
    plans = sync_catalogue(db)
    assert db.execute("select count(*) from plans").fetchone()[0] == len(plans) == len(SECTION_1) + 3 + 1
    assert db.execute("select name, price, origin from plans where plan_id = 'ark-lite'").fetchone() == (
        "Ark Lite (my contract)",
        30,
        "user",
    )
    assert db.execute("select \"limit\", is_primary from plan_limits where plan_id = 'tiny'").fetchone() == (3, 1)


def test_bad_plans_file_is_a_clear_error(db, isolated_home):
    path = write_config(
        isolated_home,
        "plans.toml",
        "[[plan]]\nid = 'x'\nname = 'X'\n[[plan.limits]]\nwindow_minutes = 300\nunit = 'hours'\n",
    )
    result = CliRunner().invoke(cli, ["plans", "--db", db_path(db)])
    assert result.exit_code == 1 and str(path) in result.output and "unit must be one of" in result.output


def test_compare_conversions(db):
    fanout_dataset(db)  # 20 requests of 1,000 tokens (fresh 100), 5 prompts, $0.00075 a request
    usage = load_usage(db, ALL)
    assert usage["ratios"]["requests_per_prompt"] == 4 and usage["ratios"]["tokens_per_request"] == 1000
    rows = {r["plan"]: r for r in compare(load_catalogue(), usage)}
    ark = rows["ark-lite"]  # 1,200 / 5 h, 9,000 / week, 18,000 / month of requests
    assert ark["per_5h"] == {"requests": 1200, "prompts": 300, "tokens": 1_200_000}
    assert ark["per_week"]["requests"] == 9000
    assert ark["per_month"] == {"requests": 18000, "prompts": 4500, "tokens": 18_000_000}
    assert ark["api_value_usd_per_month"] == pytest.approx(13.5)
    assert ark["fee_usd"] == pytest.approx(40 / 7.1, abs=0.005)
    assert ark["worth_x_fee"] == pytest.approx(round(13.5 / (40 / 7.1), 1))
    kimi = rows["kimi-andante"]  # 10M tokens (all classes) / 5 h; 4M fresh (input + write + output) / week
    assert kimi["per_5h"]["requests"] == 10000
    assert kimi["per_week"]["requests"] == 40000
    assert kimi["per_month"]["requests"] == pytest.approx(round(40000 * 43200 / 10080, 1))
    # valued at Kimi K2.5's list price (0.6 in, 0.1 read, no write price: input, 3 out):
    # 10 x 0.6 + 900 x 0.1 + 80 x 0.6 + 10 x 3 = 174 per million a request
    assert kimi["value_basis"] == "kimi-k2.5 list price"
    assert kimi["api_value_usd_per_month"] == pytest.approx(round(171428.6 * 174 / 1e6, 2))
    assert kimi["usage_cost_usd_per_month"] == pytest.approx(174 / 1e6 * 20 * 30 / 1.0)  # under a day: counted as 1
    minimax = rows["minimax-starter"]  # 40 vendor prompts of 15 calls = 600 requests / 5 h, 6,000 / week
    assert minimax["per_5h"]["requests"] == 600 and minimax["per_week"]["requests"] == 6000
    glm = rows["glm-lite"]  # 80 typed prompts / 5 h x 4 requests a prompt
    assert glm["per_5h"]["requests"] == 320 and glm["per_5h"]["prompts"] == 80
    claude = rows["claude-pro"]  # Sonnet credits: 10 x 0.4 + 80 x 0.4 + 10 x 2 = 56 a request
    assert claude["per_5h"]["requests"] == pytest.approx(round(550000 / 56, 1))
    assert not any(r["would_exceed"] for r in rows.values())


def test_compare_finds_the_window_a_plan_would_have_exceeded(db, isolated_home):
    write_config(
        isolated_home,
        "plans.toml",
        """
[[plan]]
id = "tiny"
name = "Tiny"
price = 1
[[plan.limits]]
window_minutes = 300
unit = "requests"
limit = 3
primary = true
[[plan]]
id = "tiny-sliding"
name = "Tiny sliding"
price = 1
[[plan.limits]]
window_minutes = 300
unit = "requests"
limit = 2
window_kind = "sliding"
primary = true
""",
    )
    for i, ts in enumerate(
        [
            "2026-11-02T10:00:00.000Z",
            "2026-11-02T10:10:00.000Z",
            "2026-11-02T14:50:00.000Z",
            "2026-11-02T15:10:00.000Z",
            "2026-11-02T15:20:00.000Z",
        ]
    ):
        add_request(db, f"r{i}", ts, out=1)
    rows = {r["plan"]: r for r in compare(load_catalogue(), load_usage(db, ALL))}
    # fixed windows [10:00, 15:00) holds 3 (not over 3), [15:00, 20:00) holds 2
    assert rows["tiny"]["exceeded"][0]["windows_exceeded"] == 0
    # sliding 5 h, (t - 5 h, t]: at 14:50 three requests (over 2); at 15:10 both 10:00 and 10:10 have left
    # (10:10 is exactly 5 h back): two, not over; at 15:20 14:50, 15:10, 15:20: over again, a second episode
    s = rows["tiny-sliding"]["exceeded"][0]
    assert (s["windows_exceeded"], s["exceeded_at"]) == (2, ["2026-11-02T14:50:00.000Z", "2026-11-02T15:20:00.000Z"])
    result = CliRunner().invoke(cli, ["compare-plans", "--json", "--plan", "tiny-sliding", "--db", db_path(db)])
    assert json.loads(result.output)["plans"][0]["exceeded"][0]["first_exceeded_at"] == "2026-11-02T14:50:00.000Z"


def test_status_official_reading(db):
    # window [10:00, 15:00) from the vendor; 50 % used at 12:00: 25 %/h, 100 % at 14:00, before the reset
    add_request(db, "a", "2026-11-02T10:30:00.000Z", out=10)
    add_reading(db, "q", "2026-11-02T12:00:00.000Z", 300, 50.0, "2026-11-02T15:00:00.000Z")
    [five, week] = status(db, now=datetime(2026, 11, 2, 12, 30, tzinfo=UTC))
    assert five["window"]["kind"] == "anchored" and five["percent_used"] == 50.0
    assert five["percent_source"].startswith("official")
    assert five["burn_rate_per_hour"]["percent"] == 25.0
    assert (five["reaches_limit_before_reset"], five["limit_reached_at"]) == (True, "2026-11-02T14:00:00.000Z")
    assert week["window"]["kind"] == "estimated" and week["percent_used"] is None


def test_status_inferred_then_stated(db):
    for i in range(20):
        add_request(db, f"r{i}", f"2026-11-02T10:{i:02d}:00.000Z", out=1)
    now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    # stated: Ark Lite, 1,200 requests / 5 h; window [10:00, 15:00), 2 h in: 10 requests/h, 1,180 left: not before reset
    [five, _] = status(db, now=now, plan_id="ark-lite")
    assert five["limit"]["source"] == "stated" and five["limit"]["value"] == 1200
    assert five["percent_used"] == pytest.approx(round(100 * 20 / 1200, 2))
    assert five["reaches_limit_before_reset"] is False and five["limit_reached_at"] is None
    # inferred beats stated: 25 requests, 20 used at 10/h -> the last 5 reached at 12:30
    db.execute("drop table if exists limit_estimates")  # infer-limit's own table: replaced by this shape
    db.execute(
        "create table limit_estimates (agent text, account text, plan text, window_minutes integer, quantity text,"
        ' weights text, "limit" real, low real, high real, method text, summary text, created_at text)'
    )
    db.execute(
        "insert into limit_estimates values ('claude-code', 'anthropic', null, 300, 'requests', '{}', 25, 24, 26,"
        " 'inferred', 'about 25 requests', '2026-11-02T11:00:00.000Z')"
    )
    [five, _] = status(db, now=now, plan_id="ark-lite")
    assert five["limit"]["source"] == "inferred" and five["percent_used"] == 80.0
    assert five["limit_reached_at"] == "2026-11-02T12:30:00.000Z"


def test_status_tolerates_a_strange_estimates_table(db):
    add_request(db, "a", "2026-11-02T10:30:00.000Z", out=10)
    db.execute("drop table if exists limit_estimates")  # infer-limit's own table: replaced by this shape
    db.execute("create table limit_estimates (something text)")
    [five, _] = status(db, now=datetime(2026, 11, 2, 11, 0, tzinfo=UTC))
    assert five["limit"] is None and "no limit known" in five["message"]


def test_status_cli(db):
    add_request(db, "a", "2026-11-02T10:30:00.000Z", out=10)
    result = CliRunner().invoke(cli, ["status", "--db", db_path(db)])
    assert result.exit_code == 0  # nothing in the last week relative to the real clock, or a line per window
    result = CliRunner().invoke(cli, ["status", "--plan", "nope", "--db", db_path(db)])
    assert result.exit_code == 1 and "no plan 'nope'" in result.output


def test_status_and_the_statusline_agree_on_the_current_window(db):
    """`analyzer status` and the statusline compute the 5-hour window apart (the statusline on its fast
    path); on the bundled Claude Code sample they must give the same window and the same usage."""
    from analyzer.plugins.claude_code import usage_window as uw

    from analyzer.contract.timeutil import parse_iso

    from .conftest import FIXTURES, ingest_home

    ingest_home(db, FIXTURES / "sample" / "home")
    last = db.execute("select max(ts) from requests where agent = 'claude-code'").fetchone()[0]
    for now_text, kind in (("2026-11-21T11:30:00Z", "anchored"), (last, "estimated")):
        now = parse_iso(now_text)
        account = uw.account_of(db.conn, "claude-code", None, "claude-sonnet-4-5-20250929", now, {})
        assert account == "anthropic"  # Claude Code's and OpenCode's Claude calls: one account
        entry = next(e for e in status(db, now=now, agents=("claude-code",)) if e["window_minutes"] == 300)
        reading = uw.latest_reading(db.conn, account, 300, now)
        window = uw.anchored(reading[1], 300) if reading else uw.estimated(db.conn, account, now)
        usage = uw.window_usage(db.conn, account, window)
        assert (
            (entry["window"]["start"], entry["window"]["kind"]) == (window.start, kind) == (window.start, window.kind)
        )
        assert entry["used"]["total_tokens"] == (
            usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens + usage.output_tokens
        )
