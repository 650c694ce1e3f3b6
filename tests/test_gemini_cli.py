"""Gemini CLI fixtures: every trap of reference/log-formats.md section 4, with exact totals."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from analyzer.parsers._genai_usage import split_usage
from analyzer.parsers.claude_code import ClaudeCodeParser
from analyzer.parsers.gemini_cli import GeminiCliParser, GeminiSessionJsonParser
from analyzer.parsers.qwen_code import QwenCodeParser

from analyzer.contract.parsing import SourceContext
from analyzer.contract.records import Prompt, Request
from analyzer.store import database as store

from .conftest import FIXTURES, ingest_home
from .fixture_checks import (
    cases,
    check_case,
    check_limit_hits,
    check_order_independence,
    copy_case,
    jsonl_lines,
    regenerate_sample,
)

AGENT = "gemini-cli"
CASES = cases(AGENT)


@pytest.mark.parametrize("case", CASES)
def test_fixture_totals(db, case):
    check_case(db, AGENT, case)


@pytest.mark.parametrize("case", CASES)
def test_totals_do_not_depend_on_reading_twice_or_file_order(db, tmp_path, case):
    check_order_independence(db, tmp_path, AGENT, case)


def test_limit_hits(db):
    check_limit_hits(db, AGENT, "limits")


def test_re_appended_message_keeps_its_first_attribution(db):
    """g1 is written three times; it is one request, triggered by the prompt before it."""
    ingest_home(db, FIXTURES / AGENT / "basic" / "home")
    rows = db.execute("select key, trigger, prompt_key, model, project from requests order by ts").fetchall()
    sid = "8f0c2b7e-1d2c-4c1a-9a51-6f3b2a8d9e10"
    p = f"{AGENT}:{sid}"
    assert rows == [
        (f"{p}:g1", "prompt", f"{p}:u1", "gemini-2.5-pro", "/home/u/webapp"),
        (f"{p}:g2", "tool_result", f"{p}:u1", "gemini-2.5-pro", "/home/u/webapp"),
        (f"{p}:g3", "prompt", f"{p}:u2", "gemini-2.5-pro", "/home/u/webapp"),
        (f"{p}:g4", "prompt", f"{p}:u3", "gemini-2.5-flash", "/home/u/webapp"),
    ]


def test_compression_copies_are_not_prompts(db):
    ingest_home(db, FIXTURES / AGENT / "checkpoint" / "home")
    sid = "c4a1d2e3-0000-4000-8000-000000000001"
    keys = [r[0] for r in db.execute("select key from prompts order by ts")]
    assert keys == [f"{AGENT}:{sid}:u1", f"{AGENT}:{sid}:u2", f"{AGENT}:{sid}:u3"]
    assert db.execute("select trigger, prompt_key from requests where key like '%:g5'").fetchone() == (
        "other",
        keys[-1],
    )
    # No projects.json here: the project is the folder's slug.
    assert {r[0] for r in db.execute("select distinct project from requests")} == {"api"}


def _lines(*objects: dict) -> list[tuple[int, bytes]]:
    lines, pos = [], 0
    for obj in objects:
        raw = json.dumps(obj).encode()
        lines.append((pos, raw))
        pos += len(raw) + 1
    return lines


def test_a_checkpoint_between_a_user_message_and_a_call_makes_it_a_copy():
    """Gemini re-records kept turns as new messages right before a $set.messages checkpoint."""
    tokens = {"input": 900, "output": 30, "cached": 0, "thoughts": 0, "tool": 0, "total": 930}
    head = {"sessionId": "s-1", "projectHash": "ab" * 32}
    copy = {
        "id": "c1",
        "timestamp": "2026-07-01T10:00:01.000Z",
        "type": "user",
        "content": [{"text": "typed long ago"}],
    }
    call = {"id": "g1", "timestamp": "2026-07-01T10:00:04.000Z", "type": "gemini", "content": "ok", "tokens": tokens}
    path = Path("/nowhere/.gemini/tmp/p/chats/session-1.jsonl")
    with_checkpoint = list(
        GeminiCliParser().parse(_lines(head, copy, {"$set": {"messages": [copy]}}, call), {}, SourceContext(path))
    )
    assert not [r for r in with_checkpoint if isinstance(r, Prompt)]
    without = list(GeminiCliParser().parse(_lines(head, copy, call), {}, SourceContext(path)))
    assert [r.key for r in without if isinstance(r, Prompt)] == ["gemini-cli:s-1:c1"]


def test_subagent_calls_belong_to_the_parent_session_and_its_prompt(db):
    ingest_home(db, FIXTURES / AGENT / "subagent" / "home")
    parent = "5d6e7f80-aaaa-4aaa-8aaa-000000000003"
    sub = "codebase-investigator-x1y2z3"
    rows = db.execute("select key, session_id, is_sidechain, trigger, prompt_key from requests order by ts").fetchall()
    prompt = f"{AGENT}:{parent}:u1"
    assert rows == [
        (f"{AGENT}:{parent}:g1", parent, 0, "prompt", prompt),
        (f"{AGENT}:{sub}:sg1", parent, 1, "subagent", prompt),
        (f"{AGENT}:{sub}:sg2", parent, 1, "subagent", prompt),
        (f"{AGENT}:{parent}:g2", parent, 0, "tool_result", prompt),
    ]
    assert db.execute("select parent_session_id, is_subagent from sessions where session_id = ?", [sub]).fetchone() == (
        parent,
        1,
    )


def test_torn_last_line_is_read_once_it_is_complete(db, tmp_path):
    home = copy_case(AGENT, "corrupt", tmp_path)
    ingest_home(db, home)
    assert db.execute("select count(*) from requests").fetchone()[0] == 2
    path = next(home.rglob("*.jsonl"))
    with open(path, "ab") as f:
        f.write(b"}}\n")  # the torn line's closing braces, then its newline
    ingest_home(db, home)
    # g3: 5000 uncached in, 10 out.
    assert db.execute("select count(*), sum(input_tokens), sum(output_tokens) from requests").fetchone() == (
        3,
        6300,
        140,
    )


def test_a_prompt_typed_in_one_pass_counts_when_its_call_arrives_in_the_next(db, tmp_path):
    """The waiting prompt's text is not kept in the stored state: a later pass reads it again from its line."""
    store.set_meta(db, "keep_prompt_text", "1")
    path = tmp_path / "h" / ".gemini" / "tmp" / "proj" / "chats" / "session-2026-07-01T10-00-0a0b0c0d.jsonl"
    path.parent.mkdir(parents=True)
    lines = [
        {
            "sessionId": "0a0b0c0d-5555-4555-8555-000000000008",
            "projectHash": "ab" * 32,
            "startTime": "2026-07-01T10:00:00.000Z",
        },
        {
            "id": "u1",
            "timestamp": "2026-07-01T10:00:01.000Z",
            "type": "user",
            "content": [{"text": "rename the module"}],
        },
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    ingest_home(db, tmp_path / "h")
    assert db.execute("select count(*) from prompts").fetchone()[0] == 0
    state = db.execute("select state from sources where path = ?", [str(path)]).fetchone()[0]
    assert "rename the module" not in state
    with open(path, "a") as f:
        tokens = {"input": 900, "output": 30, "cached": 0, "thoughts": 0, "tool": 0, "total": 930}
        f.write(
            json.dumps(
                {
                    "id": "g1",
                    "timestamp": "2026-07-01T10:00:04.000Z",
                    "type": "gemini",
                    "content": "ok",
                    "tokens": tokens,
                }
            )
            + "\n"
        )
    ingest_home(db, tmp_path / "h")
    assert db.execute("select text, ts from prompts").fetchall() == [("rename the module", "2026-07-01T10:00:01.000Z")]
    assert db.execute("select trigger, prompt_key from requests").fetchone() == (
        "prompt",
        f"{AGENT}:0a0b0c0d-5555-4555-8555-000000000008:u1",
    )


def test_rewritten_legacy_document_upserts(db, tmp_path):
    home = copy_case(AGENT, "legacy-json", tmp_path)
    ingest_home(db, home)
    before = db.execute("select count(*), sum(output_tokens) from requests").fetchone()
    path = next(p for p in home.rglob("session-2026-03-11*.json"))
    doc = json.loads(path.read_text())
    tokens = {"input": 2700, "output": 40, "cached": 2400, "thoughts": 0, "tool": 0, "total": 2740}
    doc["messages"] += [
        {"id": "ou2", "timestamp": "2026-03-11T09:40:00.000Z", "type": "user", "content": "and the FIXMEs"},
        {"id": "og2", "timestamp": "2026-03-11T09:40:05.000Z", "type": "gemini", "content": "One.", "tokens": tokens},
    ]
    path.write_text(json.dumps(doc))  # Gemini rewrote the whole document
    os.utime(path, (1, 1))
    ingest_home(db, home)
    assert db.execute("select count(*), sum(output_tokens) from requests").fetchone() == (before[0] + 1, before[1] + 40)
    assert db.execute("select count(*) from prompts").fetchone()[0] == 5


def test_roots_honour_gemini_cli_home(tmp_path):
    home = tmp_path / "h"
    assert GeminiCliParser().roots({"HOME": str(home)}) == [home / ".gemini" / "tmp"]
    assert GeminiCliParser().roots({"HOME": str(home), "GEMINI_CLI_HOME": str(tmp_path / "g")}) == [
        tmp_path / "g" / ".gemini" / "tmp"
    ]


def test_gemini_cli_home_is_read(db, tmp_path):
    shutil.copytree(FIXTURES / AGENT / "basic" / "home", tmp_path / "elsewhere")
    ingest_home(db, tmp_path / "empty-home", GEMINI_CLI_HOME=str(tmp_path / "elsewhere"))
    assert db.execute("select count(*) from requests").fetchone()[0] == 4


def test_recognise_tells_the_agents_apart():
    gemini = next((FIXTURES / AGENT / "basic" / "home").rglob("*.jsonl")).read_bytes()[:4096]
    claude = next((FIXTURES / "claude-code" / "streaming" / "home").rglob("*.jsonl")).read_bytes()[:4096]
    qwen = next((FIXTURES / "qwen-code" / "duplicate-usage" / "home").rglob("*.jsonl")).read_bytes()[:4096]
    path = Path("x/chats/session-1.jsonl")
    assert GeminiCliParser().recognise(path, gemini)
    assert not GeminiCliParser().recognise(path, claude)
    assert not GeminiCliParser().recognise(path, qwen)
    assert not ClaudeCodeParser().recognise(path, gemini)
    assert not QwenCodeParser().recognise(path, gemini)
    legacy = next((FIXTURES / AGENT / "legacy-json" / "home").rglob("*.json")).read_bytes()[:4096]
    assert GeminiSessionJsonParser().recognise(Path("x/chats/session-1.json"), legacy)
    assert not GeminiSessionJsonParser().recognise(
        Path("x/chats/session-1.json"), b'[{"sessionId": "s", "messageId": 0}]'
    )


def test_parser_is_pure_and_yields_every_copy():
    """The parser alone, fed lines, yields one Request per written copy; the store keeps one per key."""
    path = next((FIXTURES / AGENT / "basic" / "home").rglob("*.jsonl"))
    records = list(GeminiCliParser().parse(jsonl_lines(path), {}, SourceContext(path)))
    requests = [r for r in records if isinstance(r, Request)]
    assert len(requests) == 5  # g1 twice with tokens, g2, g3, g4
    assert len({r.key for r in requests}) == 4
    assert [r.key.rsplit(":", 1)[1] for r in records if isinstance(r, Prompt)] == ["u1", "u2", "u3"]


@pytest.mark.parametrize(
    "numbers, inside, expected",
    [
        # (prompt, candidates, cached, thoughts, tool, total) -> (input, cache_read, output, reasoning)
        ((12000, 300, 8000, 120, 0, 12420), False, (4000, 8000, 420, 120)),  # Google: thoughts outside
        ((900, 60, 480, 25, 0, 960), True, (420, 480, 60, 25)),  # OpenAI-compatible: thoughts inside
        ((900, 60, 480, 25, 0, 960), False, (420, 480, 60, 25)),  # the total overrides the default
        ((1000, 100, 600, 30, 0, 1130), True, (400, 600, 130, 30)),
        ((12500, 80, 12000, 0, 40, 12620), False, (540, 12000, 80, 0)),  # tool-use prompt tokens added
        ((12500, 80, 12000, 0, 40, 12580), False, (500, 12000, 80, 0)),  # ...unless the total says they are inside
        ((1200, 80, 0, 20, 0, None), False, (1200, 0, 100, 20)),  # no total: the convention
        ((1200, 80, 0, 20, 0, None), True, (1200, 0, 80, 20)),
        ((100, 10, 150, 0, 0, 110), False, (0, 100, 10, 0)),  # cached above prompt is capped
    ],
)
def test_split_usage(numbers, inside, expected):
    split = split_usage(*numbers, thoughts_inside=inside)
    assert (split.input_tokens, split.cache_read_tokens, split.output_tokens, split.reasoning_tokens) == expected


def test_split_usage_of_nothing_is_nothing():
    assert split_usage(0, 0, 0, 0, 0, 0) is None


def test_bundled_sample_is_what_its_seeded_script_writes(db, tmp_path):
    regenerate_sample("make_gemini_sample", ".gemini", tmp_path)
    stats = ingest_home(db, tmp_path)
    assert stats.bad_total() == 0 and not stats.unrecognised
    assert {r[0] for r in db.execute("select distinct agent from requests")} == {AGENT}
    assert db.execute("select count(*) from limit_hits").fetchone()[0] == 1


def test_sessions_with_only_notes_are_sessions_without_calls(db):
    stats = ingest_home(db, FIXTURES / AGENT / "info-warning-only" / "home")
    assert stats.files_read == 3 and not stats.unrecognised and stats.bad_total() == 0
    assert db.execute("select count(*) from sessions where agent = ?", [AGENT]).fetchone()[0] == 3
