"""iFlow CLI fixtures: every trap of parsers/iflow_cli.py's docstring, with exact totals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from analyzer.parsers.claude_code import ClaudeCodeParser
from analyzer.parsers.iflow_cli import IflowCliParser, iflow_dirs

from analyzer.api import SourceContext

from .conftest import FIXTURES, ingest_home
from .fixture_checks import cases, check_case, check_order_independence, jsonl_lines

AGENT = "iflow-cli"
CASES = cases(AGENT)


@pytest.mark.parametrize("case", CASES)
def test_fixture_totals(db, case):
    check_case(db, AGENT, case)


@pytest.mark.parametrize("case", CASES)
def test_totals_do_not_depend_on_reading_twice_or_file_order(db, tmp_path, case):
    check_order_independence(db, tmp_path, AGENT, case)


def test_interactive_calls_are_runs_of_zero_usage_lines(db):
    ingest_home(db, FIXTURES / AGENT / "interactive" / "home")
    rows = db.execute("select ts, trigger, complete, provider, model from requests order by ts").fetchall()
    assert rows == [
        ("2026-02-27T09:10:04.100Z", "prompt", 0, "iflow", "glm-4.7"),
        ("2026-02-27T09:10:12.000Z", "tool_result", 0, "iflow", "glm-4.7"),
        ("2026-02-27T09:12:09.000Z", "prompt", 0, "iflow", "glm-4.7"),
        ("2026-02-27T09:13:03.000Z", "prompt", 0, "iflow", "glm-4.7"),
        ("2026-02-27T09:13:14.000Z", "tool_result", 0, "iflow", "glm-4.7"),
        ("2026-02-27T09:21:06.000Z", "prompt", 0, "iflow", "glm-4.7"),
    ]
    prompts = db.execute("select ts, text_length from prompts order by ts").fetchall()
    assert [p[0] for p in prompts] == [
        "2026-02-27T09:10:00.000Z",
        "2026-02-27T09:12:00.000Z",
        "2026-02-27T09:13:00.000Z",
        "2026-02-27T09:21:00.000Z",
    ]
    assert prompts[1][1] == len("/review src")  # the slash command's own text, read back from its line
    sessions = db.execute("select session_id, cwd from sessions").fetchall()
    assert sessions == [("session-1f100000-0000-4000-8000-000000000001", "/Users/u/my app")]


def test_print_mode_calls_carry_usage_and_are_complete(db):
    ingest_home(db, FIXTURES / AGENT / "print-mode" / "home")
    rows = db.execute(
        "select key, input_tokens, output_tokens, complete, provider from requests order by ts"
    ).fetchall()
    assert rows == [
        ("iflow-cli:msg-1f100000-aaaa-4000-8000-000000000001", 16472, 224, 1, "iflow"),
        ("iflow-cli:msg-1f100000-aaaa-4000-8000-000000000002", 17010, 150, 1, "iflow"),
    ]


def test_appending_a_tool_line_to_an_open_run_adds_no_request(db, tmp_path):
    """The second tool-call line of a stream may arrive in a later pass: it is the same call."""
    home = tmp_path / "iflow-home"
    shutil.copytree(FIXTURES / AGENT / "interactive" / "home", home)
    path = next(home.rglob("*.jsonl"))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]))
    ingest_home(db, home)
    assert db.execute("select count(*) from requests").fetchone()[0] == 1
    path.write_bytes(b"".join(lines[:3]))
    ingest_home(db, home)
    assert db.execute("select count(*) from requests").fetchone()[0] == 1
    path.write_bytes(b"".join(lines))
    ingest_home(db, home)
    assert db.execute("select count(*) from requests").fetchone()[0] == 6


def test_roots_follow_iflow_home(tmp_path):
    assert iflow_dirs({"HOME": str(tmp_path)}) == [tmp_path / ".iflow"]
    assert iflow_dirs({"HOME": str(tmp_path), "IFLOW_HOME": str(tmp_path / "x")}) == [tmp_path / "x"]
    assert IflowCliParser().roots({"USERPROFILE": str(tmp_path)}) == [tmp_path / ".iflow" / "projects"]


def test_an_iflow_file_given_by_path_is_not_taken_for_claude_code():
    path = next((FIXTURES / AGENT / "interactive").rglob("*.jsonl"))
    head = path.read_bytes()[:65536]
    assert IflowCliParser().recognise(path, head)
    assert not ClaudeCodeParser().recognise(path, head)
    claude = next((FIXTURES / "claude-code" / "streaming").rglob("*.jsonl"))
    assert not IflowCliParser().recognise(claude, claude.read_bytes()[:65536])


def test_bad_input_becomes_bad_lines_and_never_raises(tmp_path):
    path = tmp_path / "session-x.jsonl"
    path.write_bytes(
        b'{"uuid":"1","sessionId":"session-x","type":"user","message":"hi","timestamp":"2026-01-01T00:00:00Z"}\n'
        b'{"uuid":"2","sessionId":"session-x","type":"user","message":{"role":"user","content":"hi"}}\n'
        b'{"uuid":"3","sessionId":"session-x","type":"assistant","message":{"role":"assistant","content":[],"usage":{"input_tokens":"x"}}}\n'
        b'{"sessionId":"session-x","type":"assistant","message":{"content":[]}}\n'
        b'"just a string"\n'
    )
    records = list(IflowCliParser().parse(jsonl_lines(path), {}, SourceContext(path)))
    kinds = [r.kind for r in records if type(r).__name__ == "BadLine"]
    assert kinds == ["bad_shape"] * 5
    assert not [r for r in records if type(r).__name__ == "Request"]


def test_recognise_a_first_line_longer_than_the_head():
    head = (
        b'{"uuid":"61c24f2a","parentUuid":null,"sessionId":"session-041101e6","timestamp":"2026-02-27T09:11:31.532Z","type":"user","message":{"content":"'
        + b"x" * 70000
    )
    assert IflowCliParser().recognise(Path("session-041101e6.jsonl"), head[:65536])
    assert not IflowCliParser().recognise(Path("other.jsonl"), head[:65536])


def test_the_placeholder_version_is_not_a_client_version(db):
    ingest_home(db, FIXTURES / AGENT / "interactive" / "home")
    assert db.execute("select client_version from sessions").fetchall() == [(None,)]
