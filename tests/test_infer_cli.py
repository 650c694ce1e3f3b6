"""``analyzer infer-limit``: options, output, the limit_estimates table, and bad input."""

from __future__ import annotations

import json

import orjson
import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.commands.infer import parse_window
from analyzer.store import database as store

from .test_infer_units import _hand_store

CONTRACT = {
    "agent",
    "plan",
    "window_minutes",
    "quantity",
    "weights",
    "limit",
    "low",
    "high",
    "method",
    "evidence",
    "segments",
    "summary",
}


@pytest.fixture
def hand_db(tmp_path):
    path = tmp_path / "hand.db"
    _hand_store(store.open_db(path))
    return path


def _run(*args):
    return CliRunner().invoke(cli, ["infer-limit", *args], catch_exceptions=False)


def test_json_contract_and_table_row(hand_db):
    result = _run("--db", str(hand_db), "--json")
    assert result.exit_code == 0, result.output
    [e] = json.loads(result.output)
    assert CONTRACT <= set(e)
    assert (e["agent"], e["plan"], e["window_minutes"], e["quantity"], e["method"]) == (
        "claude-code",
        "handplan",
        10080,
        "tokens",
        "inferred",
    )
    assert set(e["weights"]) == {"input", "cache_read", "cache_write", "output"}
    assert {"readings", "hits", "days"} <= set(e["evidence"])
    db = store.open_db(hand_db)
    row = db.execute(
        'select agent, plan, window_minutes, quantity, weights, "limit", low, high, method, evidence,'
        " segments, summary, created_at from limit_estimates"
    ).fetchall()
    assert len(row) == 1
    agent, plan, minutes, quantity, weights, limit, low, high, method, evidence, segments, summary, created = row[0]
    assert (agent, plan, minutes, quantity, method) == ("claude-code", "handplan", 10080, "tokens", "inferred")
    assert orjson.loads(weights) == e["weights"] and orjson.loads(evidence) == e["evidence"]
    assert (limit, low, high, summary) == (e["limit"], e["low"], e["high"], e["summary"])
    assert orjson.loads(segments) == e["segments"] and created.endswith("Z")


def test_rerun_replaces_the_row_and_no_save_writes_nothing(hand_db, tmp_path):
    _run("--db", str(hand_db))
    _run("--db", str(hand_db))
    assert store.open_db(hand_db).execute("select count(*) from limit_estimates").fetchone()[0] == 1
    other = tmp_path / "other.db"
    _hand_store(store.open_db(other))
    assert _run("--db", str(other), "--no-save").exit_code == 0
    assert store.open_db(other).execute("select count(*) from limit_estimates").fetchone()[0] == 0


def test_table_output_names_the_plan_window_and_limit(hand_db):
    result = _run("--db", str(hand_db))
    assert result.exit_code == 0
    assert "anthropic (claude-code) · plan handplan · Weekly window" in result.output
    assert "Limit:" in result.output and "inferred" in result.output


def test_filters(hand_db):
    assert json.loads(_run("--db", str(hand_db), "--json", "--window", "5h").output) == []
    assert len(json.loads(_run("--db", str(hand_db), "--json", "--window", "7d").output)) == 1
    assert json.loads(_run("--db", str(hand_db), "--json", "--plan", "other").output) == []
    assert json.loads(_run("--db", str(hand_db), "--json", "--agent", "codex").output) == []


def test_empty_store_says_where_readings_come_from(tmp_path):
    result = _run("--db", str(tmp_path / "empty.db"))
    assert result.exit_code == 0
    assert "No quota readings or limit hits" in result.output
    assert _run("--db", str(tmp_path / "empty.db"), "--json").output.strip() == "[]"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--window", "5x"], "not a window length"),
        (["--window", "0h"], "not a window length"),
        (["--agent", "nobody"], "unknown agent"),
    ],
)
def test_bad_flag_values_are_clear_errors(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["infer-limit", "--db", str(tmp_path / "x.db"), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_unopenable_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"this is not sqlite" * 100)
    result = CliRunner().invoke(cli, ["infer-limit", "--db", str(bad)])
    assert result.exit_code == 1
    assert "is damaged (file is not a database)" in result.output


def test_window_lengths():
    assert [parse_window(w) for w in ("5h", "7d", "1w", "300", "90m", "24h")] == [300, 10080, 10080, 300, 90, 1440]
    with pytest.raises(ValueError):
        parse_window("week")


def test_the_command_does_not_import_the_inference_at_start_up():
    import subprocess
    import sys

    code = "import sys; import analyzer.cli; print('analyzer.inference' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_status_and_statusline_read_the_saved_estimate(hand_db):
    """The other readers of limit_estimates find the exact quantity and the inferred limit."""
    import sqlite3

    from analyzer.plugins.claude_code.usage_window import limit_estimate

    from analyzer.reports.status import latest_estimate

    _run("--db", str(hand_db))
    conn = sqlite3.connect(hand_db)
    quantity, limit = limit_estimate(conn, "anthropic", 10080)
    assert quantity == "uncached_io" and limit == pytest.approx(200_000)
    est = latest_estimate(store.open_db(hand_db), "anthropic", 10080)
    assert est["weights"] == {"input": 1.0, "cache_read": 0.0, "cache_write": 0.0, "output": 1.0}


def test_an_unchanged_store_answers_from_the_last_fit_until_evidence_changes(hand_db, monkeypatch):
    import analyzer.inference as inference

    first = _run("--db", str(hand_db), "--json")
    calls = []
    real = inference.infer
    monkeypatch.setattr(inference, "infer", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = _run("--db", str(hand_db), "--json")
    assert again.output == first.output and calls == []  # answered from the kept fit
    assert _run("--db", str(hand_db), "--json", "--window", "7d").exit_code == 0 and calls == [1]  # other filters
    _run("--db", str(hand_db), "--json", "--fresh")
    assert calls == [1, 1]
    db = store.open_db(hand_db)
    db.execute(
        "update quota_readings set used_percent = used_percent + 1 where rowid = (select max(rowid) from quota_readings)"
    )
    _run("--db", str(hand_db), "--json")
    assert calls == [1, 1, 1]  # a changed reading is new evidence
    db.execute("update requests set output_tokens = output_tokens + 5 where rowid = 1")
    _run("--db", str(hand_db), "--json")
    assert calls == [1, 1, 1, 1]  # so is a request replaced by a better copy
