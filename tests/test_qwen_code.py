"""Qwen Code fixtures: every trap of reference/log-formats.md section 5, with exact totals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from analyzer.parsers.claude_code import ClaudeCodeParser
from analyzer.parsers.gemini_cli import GeminiCliParser, GeminiSessionJsonParser
from analyzer.parsers.qwen_code import QwenCodeParser, QwenLegacyJsonParser, reset_instant, window_of

from analyzer.contract.parsing import SourceContext
from analyzer.contract.records import Request
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

AGENT = "qwen-code"
CASES = cases(AGENT)
SID = "77777777-9999-4999-8999-000000000009"


def _record(uuid: str, ts: str, kind: str, **fields) -> dict:
    return {
        "uuid": uuid,
        "parentUuid": None,
        "sessionId": SID,
        "timestamp": ts,
        "type": kind,
        "cwd": "/w",
        "version": "0.18.1",
        **fields,
    }


def _telemetry(uuid: str, ts: str, i: int, o: int, c: int, total: int) -> dict:
    event = {
        "event.name": "qwen-code.api_response",
        "model": "coder-model",
        "input_token_count": i,
        "output_token_count": o,
        "cached_content_token_count": c,
        "thoughts_token_count": 0,
        "total_token_count": total,
        "auth_type": "openai",
    }
    return _record(uuid, ts, "system", subtype="ui_telemetry", systemPayload={"uiEvent": event})


def _assistant(uuid: str, ts: str, i: int, o: int, c: int, total: int) -> dict:
    usage = {
        "promptTokenCount": i,
        "candidatesTokenCount": o,
        "cachedContentTokenCount": c,
        "thoughtsTokenCount": 0,
        "totalTokenCount": total,
    }
    return _record(
        uuid,
        ts,
        "assistant",
        model="coder-model",
        message={"role": "model", "parts": [{"text": "ok"}]},
        usageMetadata=usage,
    )


def _session_file(home: Path) -> Path:
    path = home / ".qwen" / "projects" / "-w" / "chats" / f"{SID}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _append(path: Path, *records: dict) -> None:
    with open(path, "a") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


@pytest.mark.parametrize("case", CASES)
def test_fixture_totals(db, case):
    check_case(db, AGENT, case)


@pytest.mark.parametrize("case", CASES)
def test_totals_do_not_depend_on_reading_twice_or_file_order(db, tmp_path, case):
    check_order_independence(db, tmp_path, AGENT, case)


def test_limit_hits(db):
    check_limit_hits(db, AGENT, "limits")


def test_telemetry_wins_and_the_assistant_copy_is_dropped(db):
    ingest_home(db, FIXTURES / AGENT / "duplicate-usage" / "home")
    rows = db.execute("select key, trigger, is_sidechain, model from requests order by ts").fetchall()
    assert rows == [
        ("qwen-code:2af1748d", "prompt", 0, "coder-model"),
        ("qwen-code:8a1b2c3d", "tool_result", 0, "coder-model"),
        ("qwen-code:a3", "prompt", 0, "coder-model"),
        ("qwen-code:t4", "tool_result", 0, "coder-model"),
        ("qwen-code:t5", "subagent", 1, "coder-model"),
    ]


@pytest.mark.parametrize("order", ["assistant first", "telemetry first"])
def test_either_order_of_the_two_copies_counts_once(db, tmp_path, order):
    path = _session_file(tmp_path / "h")
    copies = [
        _telemetry("t1", "2026-11-02T10:00:01.000Z", 700, 30, 0, 730),
        _assistant("a1", "2026-11-02T10:00:01.001Z", 700, 30, 0, 730),
    ]
    _append(
        path,
        _record("u1", "2026-11-02T10:00:00.000Z", "user", message={"role": "user", "parts": [{"text": "go"}]}),
        *(copies if order == "telemetry first" else copies[::-1]),
    )
    ingest_home(db, tmp_path / "h")
    assert db.execute("select count(*), sum(input_tokens), sum(output_tokens) from requests").fetchone() == (1, 700, 30)


def test_the_copies_pair_across_ingest_passes(db, tmp_path):
    """The pairing memory is the parser's stored state: a copy arriving in a later pass still pairs."""
    path = _session_file(tmp_path / "h")
    _append(path, _telemetry("t1", "2026-11-02T10:00:01.000Z", 700, 30, 0, 730))
    ingest_home(db, tmp_path / "h")
    _append(path, _assistant("a1", "2026-11-02T10:00:01.001Z", 700, 30, 0, 730))
    ingest_home(db, tmp_path / "h")
    assert db.execute("select count(*) from requests").fetchone()[0] == 1


def test_equal_usage_minutes_apart_is_two_calls(db, tmp_path):
    path = _session_file(tmp_path / "h")
    _append(
        path,
        _telemetry("t1", "2026-11-02T10:00:01.000Z", 700, 30, 0, 730),
        _assistant("a1", "2026-11-02T10:09:00.000Z", 700, 30, 0, 730),
    )
    ingest_home(db, tmp_path / "h")
    assert db.execute("select count(*) from requests").fetchone()[0] == 2


def test_fork_copies_keep_the_session_they_were_written_in(db):
    ingest_home(db, FIXTURES / AGENT / "fork" / "home")
    original, fork = "11111111-aaaa-4aaa-8aaa-000000000001", "22222222-bbbb-4bbb-8bbb-000000000002"
    rows = db.execute("select key, session_id from requests order by ts").fetchall()
    assert rows == [("qwen-code:f-t1", original), ("qwen-code:f-t2", original), ("qwen-code:f-t3", fork)]
    assert db.execute("select session_id from prompts order by ts").fetchall() == [(original,), (fork,)]
    assert db.execute("select parent_session_id from sessions where session_id = ?", [fork]).fetchone() == (original,)


def test_prompt_text_is_what_the_person_typed(db, tmp_path):
    ingest_home(db, FIXTURES / AGENT / "prompts" / "home")
    assert db.execute("select count(*) from prompts where text is not null").fetchone()[0] == 0
    other = store.open_db(tmp_path / "with-text.db")
    store.set_meta(other, "keep_prompt_text", "1")
    ingest_home(other, FIXTURES / AGENT / "prompts" / "home")
    texts = [r[0] for r in other.execute("select text from prompts order by ts")]
    assert texts == ["fix @src/app.ts please", "also check the README", "thanks!"]


def test_subagent_calls_link_to_the_parent_prompt(db):
    ingest_home(db, FIXTURES / AGENT / "subagents" / "home")
    parent = "55555555-eeee-4eee-8eee-000000000005"
    rows = db.execute("select key, session_id, is_sidechain, prompt_key from requests order by ts").fetchall()
    prompt = "qwen-code:s-u1"
    assert rows == [
        ("qwen-code:s-t1", parent, 0, prompt),
        ("qwen-code:s-t2", parent, 1, prompt),
        ("qwen-code:s-t3", parent, 1, prompt),
        ("qwen-code:s-t4", parent, 0, prompt),
    ]


def test_torn_last_line_is_read_once_it_is_complete(db, tmp_path):
    home = copy_case(AGENT, "corrupt", tmp_path)
    ingest_home(db, home)
    path = next(home.rglob("*.jsonl"))
    with open(path, "ab") as f:
        f.write(b"}}}\n")  # the torn line's closing braces, then its newline
    ingest_home(db, home)
    assert db.execute("select count(*), sum(input_tokens), sum(output_tokens) from requests").fetchone() == (
        3,
        6100,
        110,
    )


def test_roots_honour_qwen_runtime_dir(db, tmp_path):
    home = tmp_path / "h"
    assert QwenCodeParser().roots({"HOME": str(home)}) == [home / ".qwen" / "projects"]
    assert QwenLegacyJsonParser().roots({"HOME": str(home)}) == [home / ".qwen" / "tmp"]
    runtime = tmp_path / "runtime"
    assert QwenCodeParser().roots({"HOME": str(home), "QWEN_RUNTIME_DIR": str(runtime)}) == [runtime / "projects"]
    shutil.copytree(FIXTURES / AGENT / "fork" / "home" / ".qwen", runtime)
    ingest_home(db, home, QWEN_RUNTIME_DIR=str(runtime))
    assert db.execute("select count(*) from requests").fetchone()[0] == 3


def test_recognise_tells_the_agents_apart():
    qwen = next((FIXTURES / AGENT / "duplicate-usage" / "home").rglob("*.jsonl")).read_bytes()[:4096]
    claude = next((FIXTURES / "claude-code" / "streaming" / "home").rglob("*.jsonl")).read_bytes()[:4096]
    gemini = next((FIXTURES / "gemini-cli" / "basic" / "home").rglob("*.jsonl")).read_bytes()[:4096]
    path = Path("x/chats/s.jsonl")
    assert QwenCodeParser().recognise(path, qwen)
    assert not QwenCodeParser().recognise(path, claude)
    assert not QwenCodeParser().recognise(path, gemini)
    assert not ClaudeCodeParser().recognise(path, qwen)
    assert not GeminiCliParser().recognise(path, qwen)
    # A Qwen session that opens with a system record has Claude's envelope and no message at all.
    system_first = (
        json.dumps(
            _record(
                "s0",
                "2026-11-02T10:00:00.000Z",
                "system",
                subtype="session_source",
                systemPayload={"sourceType": "cli"},
                provenance="system",
            )
        ).encode()
        + b"\n"
    )
    assert QwenCodeParser().recognise(path, system_first)
    assert not ClaudeCodeParser().recognise(path, system_first)
    # Whose legacy document: Qwen's model messages are typed "qwen".
    legacy = next((FIXTURES / AGENT / "legacy-json" / "home").rglob("*.json")).read_bytes()[:4096]
    doc = Path("x/chats/session-1.json")
    assert QwenLegacyJsonParser().recognise(doc, legacy)
    assert not GeminiSessionJsonParser().recognise(doc, legacy)
    gemini_doc = next((FIXTURES / "gemini-cli" / "legacy-json" / "home").rglob("*.json")).read_bytes()[:4096]
    assert not QwenLegacyJsonParser().recognise(doc, gemini_doc)


def test_parser_is_pure_and_yields_typed_records():
    path = next((FIXTURES / AGENT / "duplicate-usage" / "home").rglob("*.jsonl"))
    requests = [r for r in QwenCodeParser().parse(jsonl_lines(path), {}, SourceContext(path)) if isinstance(r, Request)]
    assert [r.key for r in requests] == [
        "qwen-code:2af1748d",
        "qwen-code:8a1b2c3d",
        "qwen-code:a3",
        "qwen-code:t4",
        "qwen-code:t5",
    ]


@pytest.mark.parametrize(
    "text, ts, expected",
    [
        ("The quota will reset at 09-10 09:31:00 UTC.", "2026-09-03T08:00:05.000Z", "2026-09-10T09:31:00.000Z"),
        ("The quota will reset at 01-02 00:00:00 UTC.", "2026-12-30T08:00:00.000Z", "2027-01-02T00:00:00.000Z"),
        ("resets at 2026-09-04 01:00:00 +08:00", "2026-09-03T08:00:00.000Z", "2026-09-03T17:00:00.000Z"),
        ("The quota will reset at 09-10 09:31:00.", "2026-09-03T08:00:05.000Z", None),  # no zone: unknown
        ("please retry later", "2026-09-03T08:00:05.000Z", None),
    ],
)
def test_reset_instant(text, ts, expected):
    assert reset_instant(text, ts) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Your token-plan 1-week quota has been exhausted", (10080, "weekly")),
        ("5-hour quota exhausted", (300, "five_hour")),
        ("your free daily quota has been reached", (1440, "daily")),
        ("1-month quota exhausted", (None, "monthly")),
        ("429 Too Many Requests", (None, None)),
    ],
)
def test_window_of(text, expected):
    assert window_of(text) == expected


def test_bundled_sample_is_what_its_seeded_script_writes(db, tmp_path):
    root = regenerate_sample("make_qwen_sample", ".qwen", tmp_path)
    stats = ingest_home(db, tmp_path)
    assert stats.bad_total() == 0 and not stats.unrecognised
    # Every call counted once: one row per api_response telemetry record, none from the assistant copies;
    # one prompt per typed user record (those with a displayText), not the environment context.
    calls, typed = set(), set()
    for path in root.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            event = (record.get("systemPayload") or {}).get("uiEvent") or {}
            if event.get("event.name") == "qwen-code.api_response":
                calls.add(record["uuid"])
            if record["type"] == "user" and "displayText" in (record.get("systemPayload") or {}):
                typed.add(record["uuid"])
    assert db.execute("select count(*) from requests").fetchone()[0] == len(calls)
    assert db.execute("select count(*) from prompts").fetchone()[0] == len(typed)
    assert db.execute("select count(*) from limit_hits").fetchone()[0] == 1
