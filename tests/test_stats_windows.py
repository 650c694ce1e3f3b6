"""Usage profile, anchored and estimated windows, prompt and limit reports: hand-computed figures."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.contract.timeutil import UTC
from analyzer.reports.stats import nearest_rank, profile
from analyzer.reports.usage import Filters, limit_hits, prompts
from analyzer.windows.usage import WEEK, windows

from .analysis_helpers import add_hit, add_reading, add_request, fanout_dataset

ALL = Filters(tz=UTC)


def db_path(db) -> str:
    return db.conn.execute("pragma database_list").fetchone()[2]


def test_nearest_rank():
    assert nearest_rank([1, 2, 3, 4, 10], 90) == 10
    assert nearest_rank(list(range(1, 11)), 90) == 9
    assert nearest_rank([], 90) is None


def test_profile_shares_ratio_fanout(db):
    fanout_dataset(db)
    # another agent, one request with output only and no prompt: its cache ratio is undefined
    add_request(db, "c1", "2026-11-02T12:00:00.000Z", "gpt-5", out=50, agent="codex")
    result = profile(db, ALL)
    o = result["overall"]
    assert o["requests"] == 21 and o["prompts"] == 5
    assert o["total_tokens"] == 20050
    assert o["input_share"] == pytest.approx(200 / 20050)
    assert o["cache_read_share"] == pytest.approx(18000 / 20050)
    assert o["cache_write_share"] == pytest.approx(1600 / 20050)
    assert o["output_share"] == pytest.approx(250 / 20050)
    assert o["cache_ratio"] == pytest.approx(18000 / 19800)
    # fan-out of the five prompts: 1, 2, 3, 4, 10 (codex ties no request to a prompt)
    assert (o["requests_per_prompt_median"], o["requests_per_prompt_p90"], o["requests_per_prompt_mean"]) == (3, 10, 4)
    assert o["requests_per_prompt_overall"] == pytest.approx(21 / 5)
    assert o["tokens_per_request_mean"] == pytest.approx(20050 / 21)
    assert o["tokens_per_request_median"] == 1000
    claude = next(r for r in result["by_agent"] if r["agent"] == "claude-code")
    assert claude["cache_ratio"] == pytest.approx(900 / 990)
    assert claude["tokens_per_request_mean"] == 1000
    codex = next(r for r in result["by_model"] if r["model"] == "gpt-5")
    assert codex["cache_ratio"] is None
    assert codex["cost_usd"] == pytest.approx(50 * 10 / 1e6)
    # 20 Sonnet requests at 10 x 3 + 900 x 0.3 + 80 x 3.75 + 10 x 15 = 750 per million each
    assert claude["cost_usd"] == pytest.approx(20 * 750 / 1e6)


def test_stats_cli_and_views_agree(db):
    fanout_dataset(db)
    add_request(db, "c1", "2026-11-02T12:00:00.000Z", "gpt-5", out=50, agent="codex")
    result = CliRunner().invoke(cli, ["stats", "--json", "--db", db_path(db)])
    assert result.exit_code == 0, result.output
    cli_rows = {r["agent"]: r for r in json.loads(result.output)["by_agent"]}
    cur = db.execute("select * from usage_by_agent")
    cols = [d[0] for d in cur.description]
    for row in cur.fetchall():
        view = dict(zip(cols, row))
        mine = cli_rows[view["agent"]]
        for name in (
            "requests",
            "input_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "output_tokens",
            "total_tokens",
            "cache_ratio",
            "input_share",
            "output_share",
            "cost_usd",
            "cost_cny",
        ):
            assert mine[name] == pytest.approx(view[name]) if view[name] is not None else mine[name] is None, name


def test_empty_store_stats(db):
    o = profile(db, ALL)["overall"]
    assert o["requests"] == 0 and o["cache_ratio"] is None and o["requests_per_prompt_median"] is None
    result = CliRunner().invoke(cli, ["stats", "--db", db_path(db)])
    assert result.exit_code == 0 and "No usage recorded" in result.output


def test_prompt_report_matches_fanout(db):
    fanout_dataset(db)
    rows = prompts(db, ALL)
    assert [r["requests"] for r in rows] == [1, 2, 3, 4, 10]
    assert rows[4]["total_tokens"] == 10000
    assert rows[4]["cost_usd"] == pytest.approx(10 * 750 / 1e6)
    result = CliRunner().invoke(cli, ["report", "prompts", "--json", "--tz", "UTC", "--db", db_path(db)])
    assert [r["requests"] for r in json.loads(result.output)] == [1, 2, 3, 4, 10]


def anchored_dataset(db):
    # a 5-hour reading: the window resets at 15:00:30, so it runs [10:00:30, 15:00:30)
    add_reading(db, "q1", "2026-11-02T12:00:00.000Z", 300, 40.0, "2026-11-02T15:00:30.000Z")
    add_reading(db, "q2", "2026-11-02T13:00:00.000Z", 300, 55.0, "2026-11-02T15:00:31.000Z")  # jitter: same instance
    add_request(db, "e1", "2026-11-02T09:30:00.000Z", out=1)  # before: estimated [09:00, 10:00:30)
    add_request(db, "e2", "2026-11-02T10:00:10.000Z", out=2)  # same minute as a1, still before the anchor
    add_request(db, "a1", "2026-11-02T10:00:50.000Z", out=4)  # anchored
    add_request(db, "a2", "2026-11-02T15:00:29.000Z", out=8)  # anchored
    add_request(db, "l1", "2026-11-02T15:00:40.000Z", out=16)  # after the reset: estimated [15:00:30, 20:00:30)
    add_request(db, "l2", "2026-11-02T21:10:00.000Z", out=32)  # estimated [21:00, 02:00)


def test_five_hour_windows_anchored_and_estimated(db):
    anchored_dataset(db)
    got = [
        (w["start"], w["end"], w["kind"], w["requests"], w["output_tokens"], w["readings"]) for w in windows(db, ALL)
    ]
    assert got == [
        ("2026-11-02T09:00:00.000Z", "2026-11-02T10:00:30.000Z", "estimated", 2, 3, 0),
        ("2026-11-02T10:00:30.000Z", "2026-11-02T15:00:30.000Z", "anchored", 2, 12, 2),
        ("2026-11-02T15:00:30.000Z", "2026-11-02T20:00:30.000Z", "estimated", 1, 16, 0),
        ("2026-11-02T21:00:00.000Z", "2026-11-03T02:00:00.000Z", "estimated", 1, 32, 0),
    ]
    anchored = windows(db, ALL)[1]
    assert anchored["max_used_percent"] == 55.0


def test_anchored_windows_cli_and_view_agree(db):
    anchored_dataset(db)
    result = CliRunner().invoke(cli, ["report", "blocks", "--json", "--db", db_path(db)])
    assert result.exit_code == 0, result.output
    cli_rows = [r for r in json.loads(result.output) if r["kind"] == "anchored"]
    view = db.execute(
        "select starts_at, resets_at, requests, output_tokens, cost_usd from anchored_window_usage"
        " where window_minutes = 300"
    ).fetchall()
    assert [(r["start"], r["end"], r["requests"], r["output_tokens"], r["cost_usd"]) for r in cli_rows] == [
        (s, e, n, o, pytest.approx(c)) for s, e, n, o, c in view
    ]


def test_weekly_windows_extrapolate_from_a_vendor_reset(db):
    add_reading(db, "w", "2026-07-05T00:00:00.000Z", WEEK, 10.0, "2026-07-10T00:00:00.000Z")
    add_request(db, "old", "2026-06-30T12:00:00.000Z", out=1)
    add_request(db, "in", "2026-07-05T12:00:00.000Z", out=2)
    add_request(db, "new", "2026-07-12T12:00:00.000Z", out=4)
    got = [(w["start"], w["end"], w["kind"], w["output_tokens"]) for w in windows(db, ALL, minutes=WEEK)]
    assert got == [
        ("2026-06-26T00:00:00.000Z", "2026-07-03T00:00:00.000Z", "estimated", 1),
        ("2026-07-03T00:00:00.000Z", "2026-07-10T00:00:00.000Z", "anchored", 2),
        ("2026-07-10T00:00:00.000Z", "2026-07-17T00:00:00.000Z", "estimated", 4),
    ]


def test_weekly_windows_without_anchor(db):
    add_request(db, "a", "2026-07-01T10:30:00.000Z", out=1)
    add_request(db, "b", "2026-07-08T10:00:00.000Z", out=2)  # still inside [07-01 10:00, 07-08 10:00)? no: at the end
    got = [(w["start"], w["end"], w["kind"]) for w in windows(db, ALL, minutes=WEEK)]
    assert got == [
        ("2026-07-01T10:00:00.000Z", "2026-07-08T10:00:00.000Z", "estimated"),
        ("2026-07-08T10:00:00.000Z", "2026-07-15T10:00:00.000Z", "estimated"),
    ]


def test_limit_hits_report_and_anchor(db):
    add_hit(db, "h1", "2026-11-02T12:00:00.000Z", "2026-11-02T14:00:00.000Z")  # no window given: 2 h wait -> 5 h
    add_hit(db, "h2", "2026-11-03T12:00:00.000Z", "2026-11-06T00:00:00.000Z", 10080)
    add_hit(db, "h3", "2026-11-04T12:00:00.000Z", None)
    rows = limit_hits(db, ALL)
    assert [(r["window_minutes"], r["window_basis"], r["minutes_until_reset"]) for r in rows] == [
        (300, "inferred from the wait", 120.0),
        (10080, "logged", 3600.0),
        (None, None, None),
    ]
    anchors = db.execute("select window_minutes, starts_at, resets_at, limit_hits from window_anchors").fetchall()
    assert anchors == [
        (300, "2026-11-02T09:00:00.000Z", "2026-11-02T14:00:00.000Z", 1),
        (10080, "2026-10-30T00:00:00.000Z", "2026-11-06T00:00:00.000Z", 1),
    ]


def test_daily_json_contract_and_view(db):
    fanout_dataset(db)
    result = CliRunner().invoke(cli, ["report", "daily", "--json", "--tz", "UTC", "--db", db_path(db)])
    [row] = json.loads(result.output)
    for name in (
        "date",
        "agent",
        "requests",
        "prompts",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_tokens",
        "reasoning_tokens",
        "total_tokens",
        "cost_usd",
    ):
        assert name in row
    assert (row["date"], row["requests"], row["prompts"], row["total_tokens"]) == ("2026-11-02", 20, 5, 20000)
    view = db.execute("select requests, prompts, total_tokens, cost_usd from usage_daily_utc").fetchone()
    assert view == (20, 5, 20000, pytest.approx(row["cost_usd"]))


def test_monthly_and_calendar_weekly(db):
    add_request(db, "a", "2026-10-31T23:30:00.000Z", out=1)
    add_request(db, "b", "2026-11-01T00:30:00.000Z", out=2)
    result = CliRunner().invoke(cli, ["report", "monthly", "--json", "--tz", "UTC", "--db", db_path(db)])
    assert [(r["month"], r["output_tokens"]) for r in json.loads(result.output)] == [("2026-10", 1), ("2026-11", 2)]
    result = CliRunner().invoke(cli, ["report", "monthly", "--json", "--tz", "Asia/Shanghai", "--db", db_path(db)])
    assert [(r["month"], r["output_tokens"]) for r in json.loads(result.output)] == [("2026-11", 3)]
    result = CliRunner().invoke(cli, ["report", "weekly", "--calendar", "--json", "--tz", "UTC", "--db", db_path(db)])
    assert [(r["week"], r["output_tokens"]) for r in json.loads(result.output)] == [("2026-10-26", 3)]


def test_windows_is_active_uses_now(db):
    add_request(db, "a", "2026-11-02T10:30:00.000Z", out=1)
    [w] = windows(db, ALL, now=datetime(2026, 11, 2, 12, 0, tzinfo=UTC))
    assert w["is_active"] is True
    [w] = windows(db, ALL, now=datetime(2026, 11, 2, 16, 0, tzinfo=UTC))
    assert w["is_active"] is False
