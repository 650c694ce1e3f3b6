"""Every canned query returns the numbers of the matching CLI report, through Datasette's own client."""

from __future__ import annotations

import json
import math
import statistics
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from analyzer.cli import cli  # noqa: E402
from analyzer.commands.serve import build  # noqa: E402
from analyzer.reports.stats import nearest_rank  # noqa: E402

from .conftest import FIXTURES, ingest_home  # noqa: E402
from .datasette_data import client_get, random_store  # noqa: E402

COSTS = {"cost_usd", "cost_usd_known", "cost_usd_openai", "cost_usd_anthropic", "cost_cny"}


def cli_json(*args) -> list | dict:
    result = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def canned(ds, db: str, query: str, **params) -> list[dict]:
    response = client_get(ds, f"/{db}/{query}.json?" + urlencode({"_shape": "array", **params}))[0]
    assert response.status_code == 200, response.text
    return response.json()


def assert_same(cli_rows: list[dict], sql_rows: list[dict], key: tuple[str, ...], *, skip: tuple[str, ...] = ()):
    """Same rows (matched on ``key``), same value in every column the CLI prints."""
    assert sorted(tuple(r[k] for k in key) for r in cli_rows) == sorted(tuple(r[k] for k in key) for r in sql_rows)
    by_key = {tuple(r[k] for k in key): r for r in sql_rows}
    for row in cli_rows:
        got = by_key[tuple(row[k] for k in key)]
        for name, want in row.items():
            if name in skip:
                continue
            assert name in got, f"{name} missing from the query"
            have = got[name]
            if isinstance(want, float) or isinstance(have, float):
                tolerance = 1.01e-6 if name in COSTS else 1e-9 * max(1.0, abs(want or 0))
                assert want is not None and have is not None, f"{name} at {row}: CLI {want}, query {have}"
                assert math.isclose(want, have, abs_tol=tolerance), f"{name} at {row}: CLI {want}, query {have}"
            else:
                assert have == want, f"{name} at {row}: CLI {want!r}, query {have!r}"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The bundled sample logs (Claude Code, a week, a limit hit and four readings) plus a random store's traps."""
    from analyzer.store import database as store

    path = tmp_path_factory.mktemp("ds") / "usage.db"
    db = store.open_db(path)
    ingest_home(db, FIXTURES / "sample" / "home")
    ingest_home(db, FIXTURES / "claude-code" / "limits" / "home")
    random_store(db, seed=3)
    db.conn.close()
    return path, build(path)


BREAKDOWNS = ("agents", "machines")  # a window's usage per agent and machine: the CLI's alone
PERIODS = [
    {},
    {"since": "2026-10-09", "until": "2026-11-19"},
    {"agent": "codex", "since": "2026-10-06T07:00:00Z", "until": "2026-10-16"},
]


def cli_period(params: dict) -> list[str]:
    args = []
    for name in ("since", "until", "agent"):
        if params.get(name):
            args += [f"--{name}", params[name]]
    return args


@pytest.mark.parametrize("params", PERIODS)
def test_daily_and_weekly_match_the_reports(sample, params):
    path, ds = sample
    for tz, offset in (("UTC", ""), ("Asia/Shanghai", "8"), ("America/Caracas", "-4")):
        cli_rows = cli_json("report", "daily", "--db", str(path), "--tz", tz, *cli_period(params))
        sql_rows = canned(ds, "usage", "daily_usage", utc_offset=offset, **params)
        assert cli_rows, "the store has usage in this period"
        assert_same(cli_rows, sql_rows, ("date", "agent"))
        cli_rows = cli_json("report", "weekly", "--calendar", "--db", str(path), "--tz", tz, *cli_period(params))
        assert_same(cli_rows, canned(ds, "usage", "weekly_usage", utc_offset=offset, **params), ("week", "agent"))


@pytest.mark.parametrize("params", PERIODS)
def test_windows_match_blocks_and_plan_weeks(sample, params):
    path, ds = sample
    blocks = cli_json("report", "blocks", "--db", str(path), "--tz", "UTC", *cli_period(params))
    assert {w["kind"] for w in blocks} == {"anchored", "estimated"}
    assert_same(blocks, canned(ds, "usage", "windows_5h", **params), ("account", "start"), skip=BREAKDOWNS)
    weeks = cli_json("report", "weekly", "--db", str(path), "--tz", "UTC", *cli_period(params))
    assert_same(weeks, canned(ds, "usage", "windows_weekly", **params), ("account", "start"), skip=BREAKDOWNS)


def test_the_plan_windows_view_matches_blocks(sample):
    path, ds = sample
    blocks = cli_json("report", "blocks", "--db", str(path), "--tz", "UTC")
    rows = canned(ds, "usage", "plan_windows", _where="window_minutes = 300", _size="max")
    assert_same(blocks, rows, ("account", "start"), skip=BREAKDOWNS)


@pytest.mark.parametrize("params", PERIODS[:2])
def test_sessions_limit_hits_and_prompts_match(sample, params):
    path, ds = sample
    sessions = cli_json("report", "session", "--db", str(path), *cli_period(params))
    rows = canned(ds, "usage", "costly_sessions", **params)
    for row in rows:
        row["models"] = sorted(row["models"].split(","))
    assert_same(sessions, rows, ("agent", "session_id"))
    assert [r["cost_usd_known"] for r in rows] == sorted((r["cost_usd_known"] for r in rows), reverse=True)
    hits = cli_json("report", "limits", "--db", str(path), *cli_period(params))
    assert hits
    assert_same(hits, canned(ds, "usage", "limit_hits", **params), ("ts", "agent", "session_id"))
    prompts = cli_json("report", "prompts", "--db", str(path), *cli_period(params))
    costly = canned(ds, "usage", "costly_prompts", **params)
    chosen = {p["prompt_key"] for p in costly}
    assert_same([p for p in prompts if p["prompt_key"] in chosen], costly, ("prompt_key",))
    assert len(costly) == min(200, len(prompts))
    assert min(p["cost_usd_known"] for p in costly) >= max(
        (p["cost_usd_known"] for p in prompts if p["prompt_key"] not in chosen), default=0
    )


@pytest.mark.parametrize("params", PERIODS[:2])
def test_summary_cache_ratio_and_fanout_match_stats(sample, params):
    path, ds = sample
    overall = cli_json("stats", "--db", str(path), *cli_period(params))["overall"]
    summary = canned(ds, "usage", "usage_summary", **params)[0]
    for name in (
        "requests",
        "prompts",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_tokens",
        "total_tokens",
        "cache_ratio",
        "input_share",
        "cache_read_share",
        "cache_write_share",
        "output_share",
        "cost_usd",
        "cost_usd_known",
        "cost_cny",
    ):
        assert summary[name] == pytest.approx(overall[name], abs=1.01e-6), name
    # the distribution of requests per prompt gives stats' median, nearest-rank 90th percentile and mean
    fanout = canned(ds, "usage", "prompt_fanout", **params)
    counts = [row["requests_per_prompt"] for row in fanout for _ in range(row["prompts"])]
    assert statistics.median(counts) == overall["requests_per_prompt_median"]
    assert nearest_rank(counts, 90) == overall["requests_per_prompt_p90"]
    assert sum(counts) / len(counts) == pytest.approx(overall["requests_per_prompt_mean"])
    # cache ratio per day and agent: the daily report's own columns
    daily = {
        (r["date"], r["agent"]): r
        for r in cli_json("report", "daily", "--db", str(path), "--tz", "UTC", *cli_period(params))
    }
    by_day = canned(ds, "usage", "cache_ratio_by_day", **params)
    assert len(by_day) == sum(1 for r in daily.values() if r["requests"])
    for row in by_day:
        d = daily[(row["date"], row["agent"])]
        sent = d["input_tokens"] + d["cache_read_tokens"] + d["cache_write_tokens"]
        assert row["cache_ratio"] == (pytest.approx(d["cache_read_tokens"] / sent) if sent else None)


def test_quota_readings_match_the_table_and_quota_list(sample):
    path, ds = sample
    rows = canned(ds, "usage", "quota_readings")
    from analyzer.store import database as store

    db = store.open_db(path)
    stored = db.execute(
        "select observed_at, agent, used_percent, resets_at, key from quota_readings order by observed_at, key"
    ).fetchall()
    assert [(r["observed_at"], r["agent"], r["used_percent"], r["resets_at"], r["key"]) for r in rows] == stored
    assert len(canned(ds, "usage", "quota_readings", agent="codex")) == sum(1 for s in stored if s[1] == "codex")
    if "quota" not in cli.commands:
        pytest.skip("`analyzer quota list` is not on this branch (the integration branch adds it)")
    listed = cli_json("quota", "list", "--db", str(path), "--limit", "100000")
    assert_same(listed, rows, ("key",), skip=("raw",))


@pytest.mark.parametrize("params", PERIODS[:2])
def test_plan_comparison_matches_compare_plans(sample, params):
    path, ds = sample
    result = cli_json("compare-plans", "--db", str(path), *cli_period(params))
    rows = {r["plan"]: r for r in canned(ds, "usage", "plan_comparison", **params)}
    ratios = result["ratios"]
    some = next(iter(rows.values()))
    for name in ("requests", "prompts", "days", "tokens_per_request", "requests_per_prompt", "cache_ratio"):
        assert some[f"your_{name}"] == pytest.approx(ratios[name]), name
    assert some["your_cost_usd_per_month"] == pytest.approx(ratios["usage_cost_usd_per_month"], abs=1e-4)
    assert set(rows) == {p["plan"] for p in result["plans"]}
    units = set()
    for plan in result["plans"]:
        row = rows[plan["plan"]]
        assert row["fee_usd"] == pytest.approx(plan["fee_usd"])
        units |= {lim["unit"] for lim in plan["limits"]}
        for period in ("5h", "week", "month"):
            for what in ("requests", "prompts", "tokens"):
                want, have = plan[f"per_{period}"][what], row[f"{what}_per_{period}"]
                assert (have is None) == (want is None), (plan["plan"], period, what)
                if want is not None:
                    assert have == pytest.approx(want, rel=1e-9, abs=1 if what == "tokens" else 0.05)
    assert {"requests", "prompts", "tokens", "credits"} <= units


def test_cost_by_model_by_day_adds_up_to_cost(sample):
    path, ds = sample
    rows = canned(ds, "usage", "cost_by_model_by_day")
    for by, key in (("day", "date"), ("model", "model")):
        for want in cli_json("cost", "--by", by, "--db", str(path)):
            group = [r for r in rows if r[key] == (want[by] if want[by] is not None else "(unknown)")]
            assert sum(r["requests"] for r in group) == want["requests"], want
            assert sum(r["total_tokens"] for r in group) == want["total_tokens"], want
            assert sum(r["cost_usd_known"] for r in group) == pytest.approx(want["cost_usd_known"], abs=1e-5)
            assert (want["cost_usd"] is None) == any(r["cost_usd"] is None for r in group)
