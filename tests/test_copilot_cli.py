"""GitHub Copilot CLI: the session event log, with totals computed by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from analyzer.parsers.copilot_cli import CopilotCliParser, _even

from analyzer.ingest.ingester import Ingester
from analyzer.store import database as store

from .conftest import FIXTURES, check_totals, expected_totals, ingest_home, totals
from .fixture_checks import cases, check_case, check_limit_hits, check_order_independence

AGENT = "copilot-cli"
CASES = cases(AGENT)
TWO_RUNS = FIXTURES / AGENT / "two-runs"
EVENTS = ".copilot/session-state/3f9a2c1e-7b4d-4e8f-9a0b-1c2d3e4f5a6b/events.jsonl"


@pytest.mark.parametrize("case", CASES)
def test_case_totals(db, case):
    check_case(db, AGENT, case)


@pytest.mark.parametrize("case", CASES)
def test_case_order_independent(db, tmp_path, case):
    check_order_independence(db, tmp_path, AGENT, case)


def test_limit_hits(db):
    check_limit_hits(db, AGENT, "two-runs")


def test_per_call_rows(db):
    """Chunks of one call are one row; run totals are spread over the run's calls of each model."""
    ingest_home(db, TWO_RUNS / "home")
    rows = db.execute(
        "select key, model, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,"
        " is_sidechain, complete, provider from requests order by ts"
    ).fetchall()
    assert rows == [
        ("copilot-cli:call:chatcmpl-1", "claude-sonnet-4.5", 500, 15000, 5000, 120, 10, 0, 1, "github-copilot"),
        ("copilot-cli:call:chatcmpl-2", "claude-haiku-4.5", 5000, 0, 0, 30, 0, 1, 1, "github-copilot"),
        ("copilot-cli:call:chatcmpl-3", "claude-sonnet-4.5", 500, 15000, 5000, 80, 10, 0, 1, "github-copilot"),
        ("copilot-cli:call:resp_1", "gpt-5.2", 2000, 10000, 0, 300, 100, 0, 1, "github-copilot"),
        (
            "copilot-cli:3f9a2c1e-7b4d-4e8f-9a0b-1c2d3e4f5a6b:compaction:e017",
            "gpt-5.2",
            5000,
            15000,
            0,
            500,
            0,
            0,
            1,
            "github-copilot",
        ),
    ]


def test_log_read_in_pieces_gives_the_same_rows(tmp_path):
    """The log is appended to while the CLI runs: reading it at every line gives the final rows."""
    lines = (TWO_RUNS / "home" / EVENTS).read_bytes().splitlines(keepends=True)
    home = tmp_path / "case"
    path = home / EVENTS
    path.parent.mkdir(parents=True)
    db = store.open_db(tmp_path / "t.db")
    for n in range(1, len(lines) + 1):
        path.write_bytes(b"".join(lines[:n]))
        ingest_home(db, home)
        if n == 11:  # run 1 before its shutdown: calls with their exact output only
            assert db.execute(
                "select sum(input_tokens), sum(output_tokens), min(complete) from requests"
            ).fetchone() == (0, 230, 0)
    check_totals(db, expected_totals(TWO_RUNS))
    assert db.execute("select count(*) from requests where complete = 0").fetchone() == (0,)


def test_forked_copy_of_a_log_counts_once(db, tmp_path):
    home = tmp_path / "case"
    shutil.copytree(TWO_RUNS / "home", home)
    src = home / EVENTS
    fork = src.parent.parent / "8e8e8e8e-0000-4000-8000-000000000000" / "events.jsonl"
    fork.parent.mkdir()
    events = [json.loads(line) for line in src.read_text().splitlines()][:13]  # the first run, copied
    events[0]["data"]["sessionId"] = fork.parent.name
    fork.write_text("".join(json.dumps(e) + "\n" for e in events))
    ingest_home(db, home)
    got = totals(db)
    expected = expected_totals(TWO_RUNS)
    assert (got["input_tokens"], got["cache_read_tokens"], got["output_tokens"]) == (
        expected["input_tokens"],
        expected["cache_read_tokens"],
        expected["output_tokens"],
    )


def test_run_without_shutdown_keeps_exact_output(db, tmp_path):
    home = tmp_path / "case"
    path = home / ".copilot" / "session-state" / "s1.jsonl"  # the older flat layout
    path.parent.mkdir(parents=True)
    path.write_text(
        "".join(
            json.dumps(e) + "\n"
            for e in [
                {
                    "type": "session.start",
                    "data": {"sessionId": "s1", "copilotVersion": "0.0.330", "selectedModel": "gpt-5"},
                    "id": "1",
                    "timestamp": "2026-01-01T00:00:00Z",
                },
                {"type": "user.message", "data": {"content": "hi"}, "id": "2", "timestamp": "2026-01-01T00:00:01Z"},
                {
                    "type": "assistant.message",
                    "data": {"messageId": "m1", "content": "hello", "outputTokens": 9},
                    "id": "3",
                    "timestamp": "2026-01-01T00:00:02Z",
                },
                {
                    "type": "session.error",
                    "data": {"errorType": "authentication", "message": "not logged in"},
                    "id": "4",
                    "timestamp": "2026-01-01T00:00:03Z",
                },
            ]
        )
    )
    ingest_home(db, home)
    assert db.execute("select model, input_tokens, output_tokens, complete from requests").fetchall() == [
        ("gpt-5", 0, 9, 0)
    ]
    assert totals(db)["prompts"] == 1 and totals(db)["limit_hits"] == 0


def test_copilot_home_variable(tmp_path):
    other = tmp_path / "elsewhere"
    shutil.copytree(TWO_RUNS / "home" / ".copilot", other)
    db = store.open_db(tmp_path / "t.db")
    Ingester(db, env={"HOME": str(tmp_path / "nobody"), "COPILOT_HOME": str(other)}).run()
    assert totals(db)["requests"] == expected_totals(TWO_RUNS)["requests"]
    parser = CopilotCliParser()
    assert parser.candidate(Path("/h/.copilot/history-session-state/x.jsonl"))
    assert not parser.candidate(Path("/h/.copilot/session-state/x/workspace.yaml"))


def test_bad_lines_do_not_stop_the_log(db, tmp_path):
    home = tmp_path / "case"
    path = home / EVENTS
    path.parent.mkdir(parents=True)
    good = (TWO_RUNS / "home" / EVENTS).read_text().splitlines()
    path.write_text("\n".join(good[:3] + ["{not json", '["a list"]'] + good[3:]) + "\n")
    stats = ingest_home(db, home)
    assert sum(stats.bad_lines.values()) == 2
    check_totals(db, expected_totals(TWO_RUNS))


def test_even_split():
    assert _even(10, 3) == [4, 3, 3] and sum(_even(7, 7)) == 7 and _even(0, 2) == [0, 0]
