"""Claude Code fixtures: every trap of reference/log-formats.md section 1, with exact totals."""

from __future__ import annotations

import shutil

import pytest
from analyzer.parsers.claude_code import ClaudeCodeParser

from analyzer.contract.records import Request

from .conftest import FIXTURES, check_totals, expected_totals, ingest_home

CASES = sorted(p.name for p in (FIXTURES / "claude-code").iterdir() if (p / "expected.json").exists())


@pytest.mark.parametrize("case", CASES)
def test_fixture_totals(db, case):
    case_dir = FIXTURES / "claude-code" / case
    expected = expected_totals(case_dir)
    stats = ingest_home(db, case_dir / "home")
    check_totals(db, expected)
    if "bad_lines" in expected:
        assert stats.bad_lines == expected["bad_lines"]
    else:
        assert stats.bad_total() == 0
    assert stats.ignored_lines == expected.get("ignored_lines", 0)
    if "cache_write_5m_tokens" in expected:
        w5, w1 = db.execute("select sum(cache_write_5m_tokens), sum(cache_write_1h_tokens) from requests").fetchone()
        assert (w5, w1) == (expected["cache_write_5m_tokens"], expected["cache_write_1h_tokens"])
    if "triggers" in expected:
        got = dict(db.execute("select trigger, count(*) from requests group by trigger").fetchall())
        assert got == expected["triggers"]


@pytest.mark.parametrize("case", CASES)
def test_totals_do_not_depend_on_reading_twice_or_file_order(db, tmp_path, case):
    """Ingesting twice, and ingesting files in reverse order into a new store, gives the same rows."""
    case_dir = FIXTURES / "claude-code" / case
    ingest_home(db, case_dir / "home")
    first = db.execute("select * from requests order by key").fetchall()
    ingest_home(db, case_dir / "home")
    assert db.execute("select * from requests order by key").fetchall() == first

    from analyzer.ingest.ingester import Ingester
    from analyzer.store import database as store

    other = store.open_db(tmp_path / "reverse.db")
    ingester = Ingester(other, env={"HOME": str(case_dir / "home")})
    discovery = ingester.discover()
    discovery.found.reverse()
    ingester.run(discovery=discovery)
    cols = "key, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, trigger, prompt_key, is_sidechain, session_id, ts"
    assert (
        other.execute(f"select {cols} from requests order by key").fetchall()
        == db.execute(f"select {cols} from requests order by key").fetchall()
    )


def test_limit_hits_every_shape(db):
    case_dir = FIXTURES / "claude-code" / "limits"
    ingest_home(db, case_dir / "home")
    got = [
        {"ts": ts, "reset_at": reset, "window_minutes": window}
        for ts, reset, window in db.execute("select ts, reset_at, window_minutes from limit_hits order by ts")
    ]
    assert got == expected_totals(case_dir)["hits"]


def test_usage_report_readings(db):
    case_dir = FIXTURES / "claude-code" / "usage-report"
    ingest_home(db, case_dir / "home")
    got = [
        {"observed_at": o, "window_minutes": w, "used_percent": p, "resets_at": r, "scope": s}
        for o, w, p, r, s in db.execute(
            "select observed_at, window_minutes, used_percent, resets_at, scope from quota_readings"
            " order by observed_at, window_minutes, used_percent"
        )
    ]
    assert got == expected_totals(case_dir)["readings"]


def test_subagent_calls_are_marked_and_linked_to_the_prompt(db):
    ingest_home(db, FIXTURES / "claude-code" / "subagents" / "home")
    rows = db.execute("select key, is_sidechain, trigger, prompt_key from requests order by ts").fetchall()
    assert rows == [
        ("claude-code:msg_main_1", 0, "prompt", "claude-code:p-31"),
        ("claude-code:msg_agent_001", 1, "subagent", "claude-code:p-31"),
        ("claude-code:msg_agent_002", 1, "subagent", "claude-code:p-31"),
        ("claude-code:msg_main_2", 0, "tool_result", "claude-code:p-31"),
    ]


def test_streaming_keeps_the_final_output_not_the_placeholder(db):
    ingest_home(db, FIXTURES / "claude-code" / "streaming" / "home")
    assert db.execute("select output_tokens, complete from requests where key = 'claude-code:msg_A'").fetchone() == (
        312,
        1,
    )


def test_prompt_text_is_not_stored_unless_turned_on(db, tmp_path):
    from analyzer.store import database as store

    ingest_home(db, FIXTURES / "claude-code" / "prompts" / "home")
    assert db.execute("select count(*) from prompts where text is not null").fetchone()[0] == 0
    assert db.execute("select count(*) from prompts where text_hash is not null and text_length > 0").fetchone()[0] == 3
    other = store.open_db(tmp_path / "with-text.db")
    store.set_meta(other, "keep_prompt_text", "1")
    ingest_home(other, FIXTURES / "claude-code" / "prompts" / "home")
    texts = sorted(r[0] for r in other.execute("select text from prompts"))
    assert (
        texts[0].startswith("<command-name>/review")
        and "fix the failing test" in texts
        and "thanks, now commit" in texts
    )


def test_parser_is_pure_and_yields_typed_records():
    """The parser alone, fed lines, yields records without any store."""
    from analyzer.contract.parsing import SourceContext

    path = next((FIXTURES / "claude-code" / "no-request-id" / "home").rglob("*.jsonl"))
    lines, pos = [], 0
    for raw in path.read_bytes().split(b"\n")[:-1]:
        lines.append((pos, raw))
        pos += len(raw) + 1
    records = list(ClaudeCodeParser().parse(lines, {}, SourceContext(path)))
    requests = [r for r in records if isinstance(r, Request)]
    assert len(requests) == 5  # every line is yielded; the store keeps one per key
    assert {r.key for r in requests} == {"claude-code:msg_gw_1", "claude-code:msg_gw_2"}


def test_recognise_rejects_other_agents_jsonl():
    parser = ClaudeCodeParser()
    qwen = b'{"uuid":"e3","parentUuid":null,"sessionId":"69f","timestamp":"2026-06-15T14:40:22.832Z","type":"user","message":{"role":"user","parts":[{"text":"hi"}]}}\n'
    codex = b'{"timestamp":"2025-10-29T00:59:38.317Z","type":"session_meta","payload":{"id":"x"}}\n'
    claude = (FIXTURES / "claude-code" / "streaming" / "home").rglob("*.jsonl").__next__().read_bytes()[:4096]
    from pathlib import Path

    assert parser.recognise(Path("x.jsonl"), claude)
    assert not parser.recognise(Path("x.jsonl"), qwen)
    assert not parser.recognise(Path("x.jsonl"), codex)


def test_default_roots_honour_claude_config_dir(tmp_path):
    parser = ClaudeCodeParser()
    home = tmp_path / "h"
    assert parser.roots({"HOME": str(home)}) == [
        home / ".claude" / "projects",
        home / ".config" / "claude" / "projects",
    ]
    assert parser.roots({"HOME": str(home), "CLAUDE_CONFIG_DIR": f"{tmp_path}/a,{tmp_path}/b"}) == [
        tmp_path / "a" / "projects",
        tmp_path / "b" / "projects",
    ]


def test_config_claude_folder_is_read(db, tmp_path):
    home = tmp_path / "h"
    src = FIXTURES / "claude-code" / "streaming" / "home" / ".claude"
    shutil.copytree(src, home / ".config" / "claude")
    ingest_home(db, home)
    assert db.execute("select count(*) from requests").fetchone()[0] == 2


def test_parser_state_holds_no_prompt_text(db, tmp_path):
    """The parser's state is stored in the database: a pending slash command keeps an offset, not text."""
    import json

    from .test_ingest import session_file

    home = tmp_path / "h"
    path = session_file(home)
    command = {
        "type": "user",
        "sessionId": "s",
        "uuid": "c1",
        "timestamp": "2026-08-01T10:00:00.000Z",
        "cwd": "/p",
        "message": {"role": "user", "content": "<command-name>/review</command-name> secret-words"},
    }
    path.write_text(json.dumps(command) + "\n")
    ingest_home(db, home)
    assert "secret-words" not in (db.execute("select state from sources").fetchone()[0] or "")
    answer = {
        "type": "assistant",
        "sessionId": "s",
        "uuid": "a1",
        "timestamp": "2026-08-01T10:00:05.000Z",
        "cwd": "/p",
        "message": {
            "id": "m1",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 1, "output_tokens": 2},
        },
    }
    with path.open("a") as f:
        f.write(json.dumps(answer) + "\n")
    from analyzer.store import database as store

    store.set_meta(db, "keep_prompt_text", "1")
    ingest_home(db, home)
    assert db.execute(
        "select text, trigger from prompts join requests on requests.prompt_key = prompts.key"
    ).fetchone() == (
        "<command-name>/review</command-name> secret-words",
        "prompt",
    )


def test_a_transcript_that_starts_with_an_unknown_metadata_line_is_recognised(db, tmp_path):
    """Claude Code writes metadata lines of new types first (worktree-state before the first prompt)."""
    source = FIXTURES / "claude-code" / "line-types" / "home"
    home = tmp_path / "h"
    shutil.copytree(source, home)
    path = next(home.rglob("*.jsonl"))
    lines = path.read_bytes().splitlines(keepends=True)
    worktree = next(x for x in lines if b'"worktree-state"' in x)
    path.write_bytes(worktree + b"".join(x for x in lines if x is not worktree))
    stats = ingest_home(db, home)
    assert not stats.unrecognised
    assert stats.ignored_lines == 2 and stats.bad_lines == {"unknown_type": 1}
    assert db.execute("select count(*), sum(output_tokens) from requests").fetchone() == (2, 160)
