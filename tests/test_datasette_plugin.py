"""The Datasette plugin and `analyzer serve`: metadata without -m, every canned query and chart, limits by hand."""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
from urllib.parse import urlencode

import analyzer.plugins.datasette as plugin  # noqa: E402
import pytest
from click.testing import CliRunner

from analyzer.cli import cli  # noqa: E402
from analyzer.commands.serve import build  # noqa: E402
from analyzer.store import database as store  # noqa: E402

from .conftest import FIXTURES, ingest_home  # noqa: E402
from .datasette_data import HAND_ESTIMATES, add_estimates, client_get, db_file, hand_store  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_table_lists(monkeypatch):
    """Re-read each store's tables on every request (the plugin caches them for 2 seconds)."""
    monkeypatch.setattr(plugin, "REFRESH_SECONDS", 0.0)


@pytest.fixture
def hand(tmp_path):
    db = store.open_db(tmp_path / "hand.db")
    hand_store(db)
    return db


def without_estimates(db):
    """The store as it is before infer-limit made its table (or made by an older analyzer)."""
    db.execute("drop table if exists limit_estimates")
    return db


def rows(ds, path: str, **params) -> list[dict]:
    response = client_get(ds, f"{path}.json?" + urlencode({"_shape": "array", **params}))[0]
    assert response.status_code == 200, response.text
    return response.json()


def test_metadata_comes_from_the_plugin_without_m(hand):
    ds = build(db_file(without_estimates(hand)))
    assert ds.databases["hand"].is_mutable  # the live store is never served immutable
    plugins = {p["name"] for p in rows(ds, "/-/plugins")}
    assert "datasette-dashboards" in plugins
    info = client_get(ds, "/hand.json")[0].json()
    hidden = {t["name"] for t in info["tables"] if t["hidden"]}
    assert {"sources", "_sqlite_migrations", "meta", "model_prices"} <= hidden
    assert "requests" not in hidden
    queries = {q["name"] for q in info["queries"]}
    assert {
        "daily_usage",
        "weekly_usage",
        "windows_5h",
        "windows_weekly",
        "readings_vs_fit",
        "cache_ratio_by_day",
        "prompt_fanout",
        "costly_sessions",
        "costly_prompts",
        "limit_hits",
        "quota_readings",
        "plan_comparison",
        "usage_summary",
        "cost_by_model_by_day",
    } <= queries
    assert not {"limit_estimates", "limit_evidence"} & queries  # infer-limit has not made its table here
    page = client_get(ds, "/hand/requests")[0].text
    assert "Requests (model calls)" in page and "Uncached input tokens" in page
    facets = client_get(ds, "/hand/requests.json?_size=0")[0].json()["facet_results"]
    assert {"agent", "model", "trigger"} <= set(facets)


def test_other_databases_are_left_alone(hand, tmp_path):
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("create table requests (x)").connection.commit()
    from datasette.app import Datasette

    ds = Datasette([str(db_file(hand)), str(other)])
    metadata = ds.metadata()
    assert set(metadata["databases"]) == {"hand"}
    assert set(metadata["plugins"]["datasette-dashboards"]) == {"hand"}


def test_windows_with_the_stated_limit_by_hand(hand):
    ds = build(db_file(hand))  # infer-limit's table is there, and empty
    codex = [w for w in rows(ds, "/hand/windows_5h") if w["agent"] == "codex"]
    assert [(w["start"], w["end"], w["kind"], w["requests"]) for w in codex] == [
        ("2026-11-02T09:00:00.000Z", "2026-11-02T14:00:00.000Z", "estimated", 2),
        ("2026-11-02T14:00:00.000Z", "2026-11-02T19:00:00.000Z", "estimated", 1),  # cut where the anchored one starts
        ("2026-11-02T19:30:00.000Z", "2026-11-03T00:30:00.000Z", "anchored", 1),
    ]
    # the readings name plan type "plus": Codex Plus, 490 requests per 5 hours (stated)
    assert {(w["limit_source"], w["plan"], w["limit_quantity"], w["limit"]) for w in codex} == {
        ("stated", "codex-plus", "requests", 490)
    }
    assert [(w["counted"], w["percent_of_limit"]) for w in codex] == [(2, 0.41), (1, 0.2), (1, 0.2)]
    week = [w for w in rows(ds, "/hand/windows_weekly") if w["agent"] == "codex"]
    assert [(w["start"], w["kind"], w["requests"], w["limit"], w["percent_of_limit"]) for w in week] == [
        ("2026-11-02T00:00:00.000Z", "anchored", 4, 3062, 0.13)
    ]  # 4 / 3,062
    readings = rows(ds, "/hand/readings_vs_fit")
    assert [(r["observed_at"], r["used_percent"], r["counted"], r["predicted_percent"]) for r in readings] == [
        ("2026-11-02T21:00:00.000Z", 30.0, 4, 0.13)
    ]
    # Claude Code has no readings, so no plan unless one is asked for; Claude Pro counts credits per
    # model: Sonnet 0.4 x 1,000 + 0.4 x 100 + 2 x 200 = 840; Opus behind a gateway 0.667 x 300 +
    # 3.333 x 30 = 300.09; an unknown model at the "*" weights 0.4 x 10 + 2 x 5 = 14; 1,154.09 in all.
    claude = [w for w in rows(ds, "/hand/windows_5h") if w["agent"] == "claude-code"]
    assert [(w["start"], w["limit"]) for w in claude] == [("2026-11-03T10:00:00.000Z", None)]
    claude = [w for w in rows(ds, "/hand/windows_5h", plan="claude-pro") if w["agent"] == "claude-code"]
    assert claude[0]["limit_quantity"] == "credits" and claude[0]["limit"] == 550000
    assert claude[0]["counted"] == pytest.approx(1154.09)
    assert claude[0]["percent_of_limit"] == 0.21  # 100 x 1,154.09 / 550,000 = 0.2098


def test_windows_with_the_inferred_limit_by_hand(hand):
    add_estimates(hand, HAND_ESTIMATES)
    ds = build(db_file(hand))
    codex = [w for w in rows(ds, "/hand/windows_5h") if w["agent"] == "codex"]
    # the newest estimate wins: uncached input + output, 1,000 per 5 hours
    assert {(w["limit_source"], w["limit_quantity"], w["limit"], w["limit_low"]) for w in codex} == {
        ("inferred", "tokens", 1000, 950)
    }
    # r1 100 + 50, r2 200 + 10 + 40 (cache reads free); r3 and r4 10 + 10 each
    assert [(w["counted"], w["percent_of_limit"]) for w in codex] == [(400, 40.0), (20, 2.0), (20, 2.0)]
    week = [w for w in rows(ds, "/hand/windows_weekly") if w["agent"] == "codex"]
    assert [(w["limit_quantity"], w["counted"], w["percent_of_limit"]) for w in week] == [("requests", 4, 40.0)]
    readings = rows(ds, "/hand/readings_vs_fit")
    assert [(r["limit_source"], r["predicted_percent"]) for r in readings] == [("inferred", 40.0)]
    estimates = rows(ds, "/hand/limit_estimates")
    assert [(e["window_minutes"], e["limit"], e["readings"]) for e in estimates if e["agent"] == "codex"] == [
        (300, 3, None),
        (300, 1000, 12),
        (10080, 10, 5),
    ]
    evidence = rows(ds, "/hand/limit_evidence", agent="codex")
    assert [
        (e["role"], e["candidate"], e["rms_pp"], e["delta_bic"])
        for e in evidence
        if e["window_minutes"] == 300 and e["plan"] == "codex-plus"
    ] == [("chosen", "uncached_io", 0.4, 0.0), ("rejected", "total", 3.5, 40.2)]
    segments = rows(ds, "/hand/limit_segments")
    assert [(s["window_minutes"], s["segment"], s["limit"], s["readings"]) for s in segments] == [(300, 1, 1000, 12)]


def test_every_canned_query_answers(hand):
    add_estimates(hand, HAND_ESTIMATES)
    ds = build(db_file(hand))
    queries = {q["name"]: q for q in client_get(ds, "/hand.json")[0].json()["queries"]}
    assert {"limit_estimates", "limit_evidence", "limit_segments"} <= set(queries)
    expected_rows = {
        "daily_usage": 2,
        "weekly_usage": 2,
        "windows_5h": 4,
        "windows_weekly": 2,
        "readings_vs_fit": 1,
        "cache_ratio_by_day": 2,
        "usage_summary": 1,
        "prompt_fanout": 0,
        "costly_sessions": 2,
        "costly_prompts": 0,
        "cost_by_model_by_day": 4,
        "limit_hits": 0,
        "quota_readings": 2,
        "plan_comparison": 28,
        "limit_estimates": 3,
        "limit_evidence": 4,
        "limit_segments": 1,
    }
    assert set(queries) == set(expected_rows)
    for name in queries:
        found = rows(ds, f"/hand/{name}")
        assert len(found) == expected_rows[name], name
        html = client_get(ds, f"/hand/{name}")[0]
        assert html.status_code == 200 and queries[name]["title"] in html.text


def test_the_dashboard_and_every_chart_query(hand):
    ds = build(db_file(hand))
    page = client_get(ds, "/-/dashboards/hand")[0]
    assert page.status_code == 200
    config = ds.plugin_config("datasette-dashboards")["hand"]
    charts = config["charts"]
    assert set(charts) == {
        "prompts",
        "requests",
        "tokens",
        "cache-ratio",
        "cost",
        "windows",
        "readings",
        "cache",
        "fanout",
        "cost-by-model",
    }
    for slug in charts:
        assert f"renderChart('{slug}'" in page.text
        assert client_get(ds, f"/-/dashboards/hand/{slug}")[0].status_code == 200
    # what dashboards.js fetches for each chart, with the filters as the page passes them
    for filters in ({}, {"since": "2026-11-02", "until": "2026-11-02", "agent": "codex", "plan": "codex-plus"}):
        found = {slug: rows(ds, "/hand", sql=chart["query"], **filters) for slug, chart in charts.items()}
        for slug in ("prompts", "requests", "tokens", "cache-ratio", "cost"):
            assert len(found[slug]) == 1 and "value" in found[slug][0], slug  # a metric needs exactly one row
    assert found["requests"][0]["value"] == 4
    assert found["tokens"][0]["value"] == "1.4K"  # r1 1,150 (1,000 cache read), r2 250, r3 and r4 20 each: 1,440
    assert rows(ds, "/hand/usage_summary", agent="codex")[0]["total_tokens"] == 1440
    assert [(w["start"], w["used"], w["limit"]) for w in found["windows"]] == [
        ("2026-11-02T09:00:00.000Z", 2, 490),
        ("2026-11-02T14:00:00.000Z", 1, 490),
        ("2026-11-02T19:30:00.000Z", 1, 490),
    ]
    assert [(r["series"], r["percent"]) for r in found["readings"]] == [
        ("official reading", 30.0),
        ("predicted by the limit", 0.13),
    ]
    filters = {f["name"] for f in config["filters"].values()}
    assert filters == {"Since (UTC day)", "Until (UTC day)", "Account", "Agent", "Plan"}
    assert "codex" in page.text and "codex-plus" in page.text  # select options filled from the store


def test_charts_draw_on_an_empty_store(tmp_path):
    db = without_estimates(store.open_db(tmp_path / "empty.db"))
    ds = build(db_file(db))
    assert client_get(ds, "/-/dashboards/empty")[0].status_code == 200
    headline = {"prompts": 0, "requests": 0, "tokens": "0", "cache-ratio": "-", "cost": "$0.00"}
    for slug, chart in ds.plugin_config("datasette-dashboards")["empty"]["charts"].items():
        found = rows(ds, "/empty", sql=chart["query"])
        assert found == ([{"value": headline[slug]}] if chart["library"] == "metric" else []), slug


def test_a_table_made_while_serving_appears(hand):
    ds = build(db_file(without_estimates(hand)))
    assert "limit_estimates" not in {q["name"] for q in client_get(ds, "/hand.json")[0].json()["queries"]}
    add_estimates(hand, HAND_ESTIMATES)  # the store is live: infer-limit runs while Datasette serves
    add_requests = [w["requests"] for w in rows(ds, "/hand/windows_5h") if w["agent"] == "codex"]
    assert "limit_estimates" in {q["name"] for q in client_get(ds, "/hand.json")[0].json()["queries"]}
    assert add_requests == [2, 1, 1]


def test_writes_while_serving_are_seen(hand):
    ds = build(db_file(hand))
    assert rows(ds, "/hand/usage_summary")[0]["requests"] == 7
    from .analysis_helpers import add_request

    add_request(hand, "late", "2026-11-03T11:00:00.000Z", "gpt-5", inp=1, out=1, agent="codex")
    assert rows(ds, "/hand/usage_summary")[0]["requests"] == 8


# --- the command --------------------------------------------------------------------


def test_serve_explains_how_to_install_datasette(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasette", None)  # as if a broken installation lacked it
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 1
    assert "reinstall coding-plan-analyzer" in result.output and "datasette-dashboards" in result.output


def test_serve_rejects_bad_settings_and_busy_ports(tmp_path):
    result = CliRunner().invoke(cli, ["serve", "--setting", "no_such_setting", "1"])
    assert result.exit_code == 2 and "not a Datasette setting" in result.output
    result = CliRunner().invoke(cli, ["serve", "--setting", "sql_time_limit_ms", "soon"])
    assert result.exit_code == 2 and "needs a int" in result.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port), "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in result.output
    assert not (tmp_path / "x.db").exists()  # nothing was created before the error


def test_serve_brings_derived_tables_up_to_date(tmp_path):
    from analyzer.commands.serve import refresh_derived

    db = store.open_db(tmp_path / "s.db")
    ingest_home(db, FIXTURES / "claude-code" / "streaming" / "home")
    assert db.execute("select count(*) from plans").fetchone()[0] == 0
    assert refresh_derived(tmp_path / "s.db") == tmp_path / "s.db"
    assert db.execute("select count(*) from plans").fetchone()[0] > 0
    assert db.execute("select count(*) from price_tiers").fetchone()[0] > 0
    assert json.loads(db.execute("select agents from plans where plan_id = 'codex-plus'").fetchone()[0]) == ["codex"]


def test_datasette_run_by_hand_gets_the_same(hand):
    """`datasette "$(analyzer db path)"` with no -m: the plugin arrives through Datasette's entry point."""
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "datasette", str(db_file(hand)), "--get", "/hand.json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    info = json.loads(out)
    assert {"daily_usage", "windows_5h", "plan_comparison"} <= {q["name"] for q in info["queries"]}
    assert "sources" in {t["name"] for t in info["tables"] if t["hidden"]}
