"""pi fixtures: every trap of parsers/pi_agent.py's docstring, with exact totals."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from analyzer.parsers.pi_agent import PiParser, pi_dirs, session_id_of_path, split_usage

from analyzer.api import SourceContext

from .conftest import FIXTURES, expected_totals, ingest_home
from .fixture_checks import cases, check_case, check_limit_hits, check_order_independence, jsonl_lines

AGENT = "pi"
CASES = cases(AGENT)


@pytest.mark.parametrize("case", CASES)
def test_fixture_totals(db, case):
    check_case(db, AGENT, case)


@pytest.mark.parametrize("case", CASES)
def test_totals_do_not_depend_on_reading_twice_or_file_order(db, tmp_path, case):
    check_order_independence(db, tmp_path, AGENT, case)


def test_limit_hits(db):
    check_limit_hits(db, AGENT, "limits")


@pytest.mark.parametrize("case", [c for c in CASES if "sessions" in expected_totals(FIXTURES / AGENT / c)])
def test_copied_history_belongs_to_the_session_it_was_written_in(db, case):
    ingest_home(db, FIXTURES / AGENT / case / "home")
    got = dict(db.execute("select session_id, count(*) from requests group by session_id").fetchall())
    assert got == expected_totals(FIXTURES / AGENT / case)["sessions"]


def test_every_request_names_its_provider(db):
    ingest_home(db, FIXTURES / AGENT / "basic" / "home")
    got = dict(db.execute("select provider, count(*) from requests group by provider").fetchall())
    assert got == expected_totals(FIXTURES / AGENT / "basic")["providers"]
    for case in CASES:
        ingest_home(db, FIXTURES / AGENT / case / "home")
    assert db.execute("select count(*) from requests where provider is null or provider = ''").fetchone()[0] == 0


def test_a_version_one_request_without_a_provider_takes_the_header_s(db):
    ingest_home(db, FIXTURES / AGENT / "legacy" / "home")
    rows = db.execute("select provider, output_tokens from requests order by ts").fetchall()
    assert rows == [("anthropic", 141), ("anthropic", 114), ("anthropic", 50)]


def test_the_1h_cache_write_and_reasoning_parts(db):
    ingest_home(db, FIXTURES / AGENT / "tokens" / "home")
    rows = db.execute(
        "select model, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens from requests"
        " where cache_write_tokens > 0 or reasoning_tokens > 0 order by ts"
    ).fetchall()
    assert rows == [("claude-opus-4-6", 301, 13000, 0), ("gpt-5.3-codex", None, None, 250)]


def test_an_aborted_call_with_usage_counts_and_is_marked_incomplete(db):
    ingest_home(db, FIXTURES / AGENT / "limits" / "home")
    rows = db.execute("select output_tokens, complete, trigger from requests order by ts").fetchall()
    assert rows == [(20, 1, "prompt"), (3, 0, "prompt"), (1, 0, "other")]


def test_a_session_file_rewritten_with_new_entry_ids_counts_once(db, tmp_path):
    """Opening a version-1 file rewrites it with fresh random ids: keys must not use them."""
    home = tmp_path / "pi-home"
    shutil.copytree(FIXTURES / AGENT / "basic" / "home", home)
    ingest_home(db, home)
    before = db.execute("select count(*), sum(output_tokens) from requests").fetchone()
    path = next(home.rglob("*.jsonl"))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for i, entry in enumerate(lines[1:], 1):
        entry["id"], entry["parentId"] = f"f{i:07x}", None if i == 1 else f"f{i - 1:07x}"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))
    ingest_home(db, home)
    assert db.execute("select count(*), sum(output_tokens) from requests").fetchone() == before
    assert db.execute("select count(*) from prompts").fetchone()[0] == 2


def test_appending_to_a_session_reads_only_the_new_lines(db, tmp_path):
    home = tmp_path / "pi-home"
    shutil.copytree(FIXTURES / AGENT / "basic" / "home", home)
    path = next(home.rglob("*.jsonl"))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:6]))
    ingest_home(db, home)
    assert db.execute("select count(*) from requests").fetchone()[0] == 1
    path.write_bytes(b"".join(lines))
    ingest_home(db, home)
    assert db.execute("select count(*), sum(output_tokens) from requests").fetchone() == (4, 520)
    assert dict(db.execute("select trigger, count(*) from requests group by trigger").fetchall()) == {
        "prompt": 2,
        "tool_result": 1,
        "other": 1,
    }


@pytest.mark.parametrize(
    ("usage", "api", "expected"),
    [
        # Anthropic: four disjoint classes, total = their sum
        (
            {"input": 2, "output": 72, "cacheRead": 13301, "cacheWrite": 159, "totalTokens": 13534},
            "anthropic-messages",
            (2, 13301, 159, 72),
        ),
        # Google's reader before it subtracted: total = prompt + output, cached inside prompt
        (
            {"input": 12000, "output": 800, "cacheRead": 8000, "cacheWrite": 0, "totalTokens": 12800},
            "google-generative-ai",
            (4000, 8000, 0, 800),
        ),
        # no total on a Google API: cached inside input
        ({"input": 5000, "output": 100, "cacheRead": 3000, "cacheWrite": 0}, "google-vertex", (2000, 3000, 0, 100)),
        # no total elsewhere: trusted as disjoint
        ({"input": 500, "output": 100, "cacheRead": 3000, "cacheWrite": 0}, "openai-completions", (500, 3000, 0, 100)),
        # garbage is zero, never an exception
        ({"input": "x", "output": None, "cacheRead": -5, "cacheWrite": True}, "anthropic-messages", (0, 0, 0, 0)),
    ],
)
def test_split_usage(usage, api, expected):
    got = split_usage(usage, api)
    assert (got["input_tokens"], got["cache_read_tokens"], got["cache_write_tokens"], got["output_tokens"]) == expected


def test_session_id_of_a_parent_path():
    assert session_id_of_path("/home/u/.pi/agent/sessions/--x--/2026-03-02T09-00-00-000Z_abc-1.jsonl") == "abc-1"
    assert (
        session_id_of_path("C:\\Users\\u\\.pi\\agent\\sessions\\--C-x--\\2026-03-02T09-00-00-000Z_abc-2.jsonl")
        == "abc-2"
    )
    assert session_id_of_path("/tmp/custom.jsonl") == "custom"
    assert session_id_of_path("/tmp/notes.txt") is None


def test_roots_follow_pi_coding_agent_dir(tmp_path):
    assert pi_dirs({"HOME": str(tmp_path)}) == [tmp_path / ".pi" / "agent"]
    assert pi_dirs({"HOME": str(tmp_path), "PI_CODING_AGENT_DIR": "/opt/pi"}) == [Path("/opt/pi")]
    assert pi_dirs({"HOME": str(tmp_path), "PI_CODING_AGENT_DIR": "~/pi-agent"}) == [tmp_path / "pi-agent"]
    assert PiParser().roots({"USERPROFILE": str(tmp_path)}) == [tmp_path / ".pi" / "agent" / "sessions"]


def test_bad_input_becomes_bad_lines_and_never_raises(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(
        b'{"type":"message","id":"1","parentId":null,"timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":"x"}}\n'
        b'{"type":"session","version":3,"timestamp":"2026-01-01T00:00:00Z"}\n'
        b'{"type":"session","version":3,"id":"s","timestamp":"2026-01-01T00:00:00Z","cwd":"/w"}\n'
        b'{"type":"message","id":"2","parentId":null,"timestamp":"2026-01-01T00:00:01Z","message":"hi"}\n'
        b'{"type":"message","id":"3","parentId":null,"timestamp":"2026-01-01T00:00:01Z","message":{"role":"wizard"}}\n'
        b'{"type":"message","id":"4","parentId":null,"message":{"role":"assistant","usage":{"input":1}}}\n'
        b"[1,2]\n"
    )
    records = list(PiParser().parse(jsonl_lines(path), {}, SourceContext(path)))
    reasons = [getattr(r, "kind", None) for r in records if type(r).__name__ == "BadLine"]
    assert reasons == ["bad_shape", "bad_shape", "bad_shape", "unknown_type", "bad_shape", "bad_shape"]


def test_recognise():
    parser = PiParser()
    assert parser.recognise(Path("x.jsonl"), b'{"type":"session","version":3,"id":"a","timestamp":"t","cwd":"/"}\n')
    assert parser.recognise(Path("x.jsonl"), b'{"type":"session","id":"a","timestamp":"t"' + b"x" * 100)
    assert not parser.recognise(Path("x.jsonl"), b'{"type":"user","sessionId":"a"}\n')


def test_the_real_recorded_session_matches_an_independent_count(db):
    """Totals of the recorded pi session counted without the parser: a regex over the raw bytes."""
    case = FIXTURES / AGENT / "real-v1"
    raw = next(case.rglob("*.jsonl")).read_text()
    counted = {"requests": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0}
    for m in re.finditer(
        r'"role":"assistant".*?"usage":\{"input":(\d+),"output":(\d+),"cacheRead":(\d+),"cacheWrite":(\d+)', raw
    ):
        numbers = [int(n) for n in m.groups()]
        if sum(numbers):
            counted["requests"] += 1
            for name, n in zip(("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"), numbers):
                counted[name] += n
    assert len(re.findall(r'"message":\{"role":"user"', raw)) == expected_totals(case)["prompts"]
    ingest_home(db, case / "home")
    got = db.execute(
        "select count(*), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens) from requests"
    ).fetchone()
    assert dict(zip(counted, got)) == counted
    assert {k: expected_totals(case)[k] for k in counted} == counted
