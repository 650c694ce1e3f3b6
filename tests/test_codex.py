"""Codex CLI fixtures: every trap of reference/log-formats.md section 2, with exact totals."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
from analyzer.parsers.codex import CodexParser
from analyzer.parsers.codex import archive as codex_archive
from analyzer.parsers.codex.archive import CodexArchiveParser
from analyzer.parsers.codex.limits import classify_window

from analyzer.contract.parsing import SourceContext
from analyzer.contract.records import LimitHit, QuotaReading, Request
from analyzer.ingest.ingester import Ingester
from analyzer.store import database as store

from .conftest import FIXTURES, check_totals, expected_totals, ingest_home

CASES = sorted(p.name for p in (FIXTURES / "codex").iterdir() if (p / "expected.json").exists())


def _lines(path: Path) -> list[tuple[int, bytes]]:
    lines, pos = [], 0
    for raw in path.read_bytes().split(b"\n")[:-1]:
        lines.append((pos, raw))
        pos += len(raw) + 1
    return lines


@pytest.mark.parametrize("case", CASES)
def test_fixture_totals(db, case):
    case_dir = FIXTURES / "codex" / case
    expected = expected_totals(case_dir)
    stats = ingest_home(db, case_dir / "home")
    check_totals(db, expected, "codex")
    if "bad_lines" in expected:
        assert stats.bad_lines == expected["bad_lines"]
    else:
        assert stats.bad_total() == 0
    assert stats.ignored_lines == expected.get("ignored_lines", 0)
    assert not stats.unrecognised
    if "triggers" in expected:
        got = dict(db.execute("select trigger, count(*) from requests group by trigger").fetchall())
        assert got == expected["triggers"]
    if "models" in expected:
        got = dict(db.execute("select model, count(*) from requests group by model").fetchall())
        assert got == expected["models"]
    if "sessions" in expected:
        rows = db.execute(
            "select session_id, parent_session_id, is_subagent from sessions order by session_id"
        ).fetchall()
        assert [list(r) for r in rows] == expected["sessions"]
    if "keys" in expected:
        assert [r[0] for r in db.execute("select key from requests order by key")] == sorted(expected["keys"])


@pytest.mark.parametrize("case", CASES)
def test_totals_do_not_depend_on_reading_twice_or_file_order(db, tmp_path, case):
    """Ingesting twice, and ingesting files in reverse order into a new store, gives the same rows."""
    case_dir = FIXTURES / "codex" / case
    ingest_home(db, case_dir / "home")
    tables = ("requests", "prompts", "limit_hits", "quota_readings")
    first = {t: db.execute(f"select * from {t} order by key").fetchall() for t in tables}
    ingest_home(db, case_dir / "home")
    assert {t: db.execute(f"select * from {t} order by key").fetchall() for t in tables} == first

    other = store.open_db(tmp_path / "reverse.db")
    ingester = Ingester(other, env={"HOME": str(case_dir / "home")})
    discovery = ingester.discover()
    discovery.found.reverse()
    ingester.run(discovery=discovery)
    compared = {
        "requests": "key, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,"
        " trigger, prompt_key, is_sidechain, session_id, ts, model",
        "prompts": "key, ts, session_id",
        "limit_hits": "key, ts, reset_at",
        "quota_readings": "key, observed_at, used_percent, window_minutes, resets_at",
    }
    for table, cols in compared.items():
        query = f"select {cols} from {table} order by key"
        assert other.execute(query).fetchall() == db.execute(query).fetchall(), table


def test_rate_limit_readings_in_every_shape(db):
    case_dir = FIXTURES / "codex" / "rate-limits"
    ingest_home(db, case_dir / "home")
    got = [
        {"observed_at": o, "window_minutes": w, "used_percent": p, "resets_at": r, "scope": s, "plan_type": t}
        for o, w, p, r, s, t in db.execute(
            "select observed_at, window_minutes, used_percent, resets_at, scope, plan_type from quota_readings"
            " order by observed_at, window_minutes, used_percent"
        )
    ]
    assert got == expected_totals(case_dir)["readings"]
    assert db.execute("select distinct agent, source from quota_readings").fetchall() == [("codex", "log")]


def test_limit_hits_only_for_refused_turns(db):
    case_dir = FIXTURES / "codex" / "limit-hit"
    ingest_home(db, case_dir / "home")
    got = [
        {"ts": ts, "reset_at": r, "window_minutes": w, "limit_type": t}
        for ts, r, w, t in db.execute("select ts, reset_at, window_minutes, limit_type from limit_hits order by ts")
    ]
    assert got == expected_totals(case_dir)["hits"]
    # Five readings were at 100%: three came with, or just before, a call that went through.
    assert db.execute("select count(*) from quota_readings where used_percent >= 100").fetchone()[0] == 5


def test_a_refusal_is_confirmed_even_across_chunks():
    """The pending refusal lives in the parser state, so a later chunk can confirm it."""
    path = next((FIXTURES / "codex" / "limit-hit" / "home").rglob("*01a3f000*.jsonl"))
    lines = _lines(path)
    parser = CodexParser()
    state: dict = {}
    ctx = SourceContext(path)
    head = list(parser.parse(lines[:-1], state, ctx))
    assert not [r for r in head if isinstance(r, LimitHit)]
    assert state["hit"]["ts"] == "2026-11-02T10:05:01.000Z"
    import orjson

    state = orjson.loads(orjson.dumps(state))  # the ingester stores it as JSON between passes
    tail = list(parser.parse(lines[-1:], state, ctx))
    assert [(h.ts, h.window_minutes) for h in tail if isinstance(h, LimitHit)] == [("2026-11-02T10:05:01.000Z", 300)]


def test_replay_of_the_parent_is_not_counted_in_either_order(db):
    """The fork's copy of the parent's calls adds nothing, with or without the parent file."""
    home = FIXTURES / "codex" / "fork" / "home"
    child = next(home.rglob("*01a05c84*.jsonl"))
    records = list(CodexParser().parse(_lines(child), {}, SourceContext(child)))
    requests = [r for r in records if isinstance(r, Request)]
    assert [(r.session_id, r.input_tokens, r.cache_read_tokens, r.output_tokens, r.trigger) for r in requests] == [
        ("01a05c84-c440-7000-8000-000000000ccc", 800, 3200, 200, "prompt")
    ]
    ingest_home(db, home)
    rows = db.execute("select session_id, count(*) from requests group by session_id order by session_id").fetchall()
    assert rows == [("01a05c69-4d00-7000-8000-000000000aaa", 2), ("01a05c84-c440-7000-8000-000000000ccc", 1)]


def test_subagent_calls_are_sidechain_and_linked_to_their_parent(db):
    ingest_home(db, FIXTURES / "codex" / "subagent" / "home")
    rows = db.execute(
        "select session_id, is_sidechain, trigger, prompt_key is not null, model from requests order by ts"
    ).fetchall()
    sub, parent = "01a1250a-79f0-7000-8000-000000000525", "01a1250a-6280-7000-8000-000000000515"
    assert rows == [
        (parent, 0, "prompt", 1, "gpt-5.1-codex"),
        (sub, 1, "subagent", 0, "gpt-5.1-codex-mini"),
        (sub, 1, "subagent", 0, "gpt-5.1-codex-mini"),
        (parent, 0, "tool_result", 1, "gpt-5.1-codex"),
    ]


def test_requests_link_to_the_prompt_that_started_the_chain(db):
    ingest_home(db, FIXTURES / "codex" / "prompts" / "home")
    chains = db.execute(
        "select p.ts, count(r.key) from prompts p left join requests r on r.prompt_key = p.key group by p.key order by p.ts"
    ).fetchall()
    # fix the bug: 5 calls (prompt, two tool rounds, a follow-up, the compaction); the image prompt: 1;
    # the paginated session's two prompts: 1 each.
    assert [n for _, n in chains] == [5, 1, 1, 1]
    assert db.execute("select key from prompts where key like 'codex:7b1e2f10%' order by key").fetchall() == [
        ("codex:7b1e2f10-0000-4000-8000-0000000000a1",),
        ("codex:7b1e2f10-0000-4000-8000-0000000000a2",),
    ]


def test_prompt_texts_are_typed_text_only(db):
    store.set_meta(db, "keep_prompt_text", "1")
    case_dir = FIXTURES / "codex" / "prompts"
    ingest_home(db, case_dir / "home")
    texts = sorted(r[0] for r in db.execute("select text from prompts"))
    assert texts == expected_totals(case_dir)["prompt_texts"]


def test_torn_last_line_is_read_once_complete(db, tmp_path):
    home = tmp_path / "h"
    shutil.copytree(FIXTURES / "codex" / "corrupt" / "home", home)
    stats = ingest_home(db, home)
    assert stats.bad_lines == {"corrupt": 1} and stats.ignored_lines == 1  # mystery_record carries no usage
    path = next(home.rglob("*.jsonl"))
    with open(path, "ab") as f:
        f.write(
            b',"cached_input_tokens":4000,"output_tokens":90,"reasoning_output_tokens":0,"total_tokens":9090},'
            b'"last_token_usage":null},"rate_limits":null}}\n'
        )
    stats = ingest_home(db, home)
    assert stats.bad_total() == 0
    # The completed line: total 9000/4000/90 after 3000/1500/50, so 6000 input of which 2500 cached, 40 output.
    check_totals(
        db, {"requests": 3, "input_tokens": 1500 + 3500, "cache_read_tokens": 1500 + 2500, "output_tokens": 90}
    )


def test_codex_home_takes_several_folders(db, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    shutil.copytree(FIXTURES / "codex" / "basic" / "home" / ".codex", one)
    shutil.copytree(FIXTURES / "codex" / "resumed" / "home" / ".codex", two)
    Ingester(db, env={"HOME": str(tmp_path / "nobody"), "CODEX_HOME": f"{one},{two}"}).run()
    check_totals(db, {"requests": 4 + 6, "prompts": 2 + 3}, "codex")


def test_default_roots():
    parser = CodexParser()
    assert parser.roots({"HOME": "/h"}) == [Path("/h/.codex/sessions"), Path("/h/.codex/archived_sessions")]
    assert parser.roots({"HOME": "/h", "CODEX_HOME": "/a,/b"}) == [
        Path("/a/sessions"),
        Path("/a/archived_sessions"),
        Path("/b/sessions"),
        Path("/b/archived_sessions"),
    ]


def test_recognise_takes_codex_and_rejects_other_agents():
    parser = CodexParser()
    codex = next((FIXTURES / "codex" / "basic" / "home").rglob("*.jsonl")).read_bytes()[:4096]
    legacy = (
        b'{"id":"5973b6c0-94b8-487b-a530-2aeb6098ae0e","timestamp":"2025-05-07T17:24:21.123Z","instructions":null}\n'
    )
    claude = (FIXTURES / "claude-code" / "streaming" / "home").rglob("*.jsonl").__next__().read_bytes()[:4096]
    qwen = b'{"uuid":"e3","parentUuid":null,"sessionId":"69f","timestamp":"2026-06-15T14:40:22.832Z","type":"user","message":{"role":"user","parts":[{"text":"hi"}]}}\n'
    gemini = b'{"sessionId":"8f0c","projectHash":"3a1f","startTime":"2026-05-01T10:00:00.000Z","lastUpdated":"2026-05-01T10:00:00.000Z","kind":"main"}\n'
    gemini_msg = b'{"id":"u1","timestamp":"2026-05-01T10:00:01.000Z","type":"user","content":[{"text":"fix"}]}\n'
    kimi = b'{"type": "metadata", "protocol_version": "1.10"}\n'
    kimi_wire = b'{"timestamp": 1783072800.123, "message": {"type": "TurnBegin", "payload": {"user_input": "x"}}}\n'
    name = Path("rollout-2025-05-07T19-24-21-5973b6c0-94b8-487b-a530-2aeb6098ae0e.jsonl")
    assert parser.recognise(name, codex)
    assert parser.recognise(name, legacy)
    for other in (claude, qwen, gemini, gemini_msg, kimi, kimi_wire):
        assert not parser.recognise(name, other)
    assert not parser.recognise(Path("session-1.jsonl"), legacy)  # a bare header only counts in a rollout file
    from analyzer.parsers.claude_code import ClaudeCodeParser

    assert not ClaudeCodeParser().recognise(name, codex)


def test_a_header_longer_than_the_head_read_is_recognised(db, tmp_path):
    folder = tmp_path / "h" / ".codex" / "sessions" / "2026" / "10" / "01"
    folder.mkdir(parents=True)
    src = next((FIXTURES / "codex" / "basic" / "home").rglob("*.jsonl"))
    lines = src.read_text().splitlines(keepends=True)
    big = lines[0].replace(
        '"model_provider":"openai"', '"model_provider":"openai","base_instructions":{"text":"' + "x" * 200_000 + '"}'
    )
    (folder / src.name).write_text(big + "".join(lines[1:]))
    stats = ingest_home(db, tmp_path / "h")
    assert not stats.unrecognised and stats.bad_total() == 0
    check_totals(db, expected_totals(FIXTURES / "codex" / "basic"), "codex")
    assert not CodexParser().recognise(
        Path("x.jsonl"), b'{"timestamp":"2026-01-01T00:00:00Z","type":"user","payload":{"x":"' + b"y" * 70000
    )


def test_legacy_rollouts_are_read_quietly(db, tmp_path):
    folder = tmp_path / "home" / ".codex" / "sessions" / "2025" / "05" / "07"
    folder.mkdir(parents=True)
    (folder / "rollout-2025-05-07T19-24-21-5973b6c0-94b8-487b-a530-2aeb6098ae0e.jsonl").write_text(
        '{"id":"5973b6c0-94b8-487b-a530-2aeb6098ae0e","timestamp":"2025-05-07T17:24:21.123Z","instructions":null}\n'
        '{"record_type":"state"}\n'
        '{"type":"message","role":"user","content":[{"type":"input_text","text":"hello"}]}\n'
    )
    stats = ingest_home(db, tmp_path / "home")
    assert stats.bad_total() == 0 and not stats.unrecognised
    assert db.execute("select session_id from sessions").fetchall() == [("5973b6c0-94b8-487b-a530-2aeb6098ae0e",)]
    check_totals(db, {"requests": 0, "prompts": 0})


def test_bad_token_counts_are_bad_lines_not_crashes():
    lines = [
        b'{"timestamp":"2026-10-12T10:00:00.000Z","type":"session_meta","payload":{"id":"s"}}',
        b'{"timestamp":"2026-10-12T10:00:01.000Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":"many"}}}}',
        b'{"timestamp":"2026-10-12T10:00:02.000Z","type":"event_msg"}',
        b'{"type":"event_msg","payload":{"type":"token_count","info":null}}',
        b'["not", "an", "object"]',
    ]
    records = list(CodexParser().parse(list(enumerate(lines)), {}, SourceContext(Path("rollout-x.jsonl"))))
    bad = [(r.offset, r.kind) for r in records if r.__class__.__name__ == "BadLine"]
    assert bad == [(1, "bad_value"), (2, "bad_shape"), (3, "bad_shape"), (4, "bad_shape")]


def test_window_classification():
    assert [classify_window(m) for m in (299, 300, 1440, 10079, 10080, 43200, 43800, 525600)] == [
        300,
        300,
        1440,
        10080,
        10080,
        43200,
        43200,
        525600,
    ]
    assert classify_window(None) is None and classify_window(0) is None
    assert classify_window(600) == 600  # unknown lengths are kept as written


def test_parser_is_pure_and_yields_typed_records():
    path = next((FIXTURES / "codex" / "archived" / "home").rglob("*.jsonl"))
    records = list(CodexParser().parse(_lines(path), {}, SourceContext(path)))
    assert [r.key for r in records if isinstance(r, Request)] == [
        "codex:019a1b2c-3d4e-7f60-8a1b-2c3d4e5f6071:1500/500/0/80/0/1580",
        "codex:019a1b2c-3d4e-7f60-8a1b-2c3d4e5f6071:4000/2300/0/200/40/4200",
    ]
    readings = [r for r in records if isinstance(r, QuotaReading)]
    assert [(r.window_minutes, r.used_percent, r.scope) for r in readings] == [
        (10080, 20.0, None),
        (10080, 21.0, None),
        (10080, 22.0, None),
    ]


# --- compressed rollouts ---------------------------------------------------------------------


def _compress(src: Path, dst: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(zstandard.ZstdCompressor().compress(src.read_bytes()))


def test_compressed_rollouts_count_once_beside_their_plain_copy(db, tmp_path):
    home = tmp_path / "h"
    shutil.copytree(FIXTURES / "codex" / "basic" / "home", home)
    plain = next(home.rglob("*.jsonl"))
    _compress(plain, home / ".codex" / "archived_sessions" / (plain.name + ".zst"))
    stats = ingest_home(db, home)
    assert stats.files == 2 and stats.bad_total() == 0
    check_totals(db, expected_totals(FIXTURES / "codex" / "basic"), "codex")

    only_zst = store.open_db(tmp_path / "zst.db")
    plain.unlink()
    ingest_home(only_zst, home)
    check_totals(only_zst, expected_totals(FIXTURES / "codex" / "basic"), "codex")


def test_a_damaged_compressed_rollout_is_a_bad_line(db, tmp_path):
    home = tmp_path / "h"
    src = next((FIXTURES / "codex" / "basic" / "home").rglob("*.jsonl"))
    dst = home / ".codex" / "sessions" / "2026" / "09" / "29" / (src.name + ".zst")
    _compress(src, dst)
    dst.write_bytes(dst.read_bytes()[:-40])
    stats = ingest_home(db, home)
    assert stats.bad_lines.get("corrupt") == 1


def test_without_zstandard_compressed_rollouts_are_skipped_with_one_warning(db, tmp_path, monkeypatch):
    home = tmp_path / "h"
    src = next((FIXTURES / "codex" / "basic" / "home").rglob("*.jsonl"))
    for day in ("28", "29"):
        folder = home / ".codex" / "sessions" / "2026" / "09" / day
        folder.mkdir(parents=True)
        (folder / (src.name + ".zst")).write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 16)
    monkeypatch.setattr(codex_archive, "_zstandard", lambda: None)
    monkeypatch.setattr(codex_archive, "_warned", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = ingest_home(db, home)
        ingest_home(db, home)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "zstandard" in messages[0] and "pip install zstandard" in messages[0]
    assert stats.files == 0 and stats.bad_total() == 0
    # Not remembered as read: once the package is there, the next ingest reads them.
    assert db.execute("select count(*) from sources").fetchone()[0] == 0


def test_archive_parser_declines_plain_files():
    parser = CodexArchiveParser()
    assert not parser.candidate(Path("rollout-x.jsonl"))
    assert not parser.recognise(Path("rollout-x.jsonl.zst"), b'{"timestamp":')


# --- where a replayed parent history ends ------------------------------------------------------

_SPAWN = {"subagent": {"thread_spawn": {"parent_thread_id": "p-1"}}}


def _env(ts: str, kind: str, payload: dict) -> bytes:
    import orjson

    return orjson.dumps({"timestamp": f"2026-10-20T10:00:{ts}Z", "type": kind, "payload": payload})


def _tc(ts: str, i: int, c: int, o: int) -> bytes:
    usage = {
        "input_tokens": i,
        "cached_input_tokens": c,
        "output_tokens": o,
        "reasoning_output_tokens": 0,
        "total_tokens": i + o,
    }
    return _env(
        ts, "event_msg", {"type": "token_count", "info": {"total_token_usage": usage, "last_token_usage": usage}}
    )


def _requests(lines: list[bytes]) -> list[tuple]:
    records = CodexParser().parse(list(enumerate(lines)), {}, SourceContext(Path("rollout-x.jsonl")))
    return [
        (r.input_tokens, r.cache_read_tokens, r.output_tokens, r.model, r.is_sidechain)
        for r in records
        if isinstance(r, Request)
    ]


def test_a_rewritten_burst_without_turn_ids_ends_at_the_first_pause():
    """Old subagent rollouts: no turn ids, the copy stamped as written, straddling a second tick."""
    lines = [
        _env("00.985", "session_meta", {"id": "c-1", "source": _SPAWN}),
        _env("00.990", "session_meta", {"id": "p-1"}),
        _env("00.991", "turn_context", {"model": "gpt-5-codex"}),
        _tc("00.995", 1000, 0, 100),
        _tc("01.002", 3000, 1000, 200),
        _env("01.010", "turn_context", {"model": "gpt-5-codex-mini"}),
        _env("01.011", "event_msg", {"type": "user_message", "message": "check the locking"}),
        _tc("04.000", 5000, 2500, 260),
    ]
    # The first own call is measured from the copy's last total: 2000 input (1500 cached), 60 output.
    assert _requests(lines) == [(500, 1500, 60, "gpt-5-codex-mini", True)]


def test_the_child_header_written_again_ends_the_replay():
    lines = [
        _env("00.000", "session_meta", {"id": "c-2", "forked_from_id": "p-2"}),
        _env("00.001", "session_meta", {"id": "p-2"}),
        _tc("00.002", 1000, 0, 100),
        _env("00.003", "session_meta", {"id": "c-2", "forked_from_id": "p-2"}),
        _env("00.004", "turn_context", {"model": "gpt-5.1-codex"}),
        _env("00.005", "event_msg", {"type": "user_message", "message": "again, shorter"}),
        _tc("00.600", 2000, 900, 150),
    ]
    assert _requests(lines) == [(100, 900, 50, "gpt-5.1-codex", False)]


@pytest.mark.parametrize(
    "path", sorted((FIXTURES / "codex").rglob("*.jsonl")), ids=lambda p: f"{p.parts[-5]}/{p.name[-12:]}"
)
def test_reading_in_chunks_gives_what_one_pass_gives(path):
    """The parser's state (model, totals, replay, pending refusal...) survives a stop between any two lines."""
    import orjson

    lines = _lines(path)
    ctx = SourceContext(path)
    whole = list(CodexParser().parse(lines, {}, ctx))
    for cut in range(1, len(lines)):
        state: dict = {}
        first = list(CodexParser().parse(lines[:cut], state, ctx))
        state = orjson.loads(orjson.dumps(state))  # stored as JSON between passes
        assert first + list(CodexParser().parse(lines[cut:], state, ctx)) == whole, f"cut after line {cut}"


def test_a_lost_call_belongs_to_the_aborted_turns_prompt(db):
    ingest_home(db, FIXTURES / "codex" / "lost-call" / "home")
    prompts = {ts: key for key, ts in db.execute("select key, ts from prompts")}
    by_total = {
        key.rsplit(":", 1)[1]: (trigger, pk)
        for key, trigger, pk in db.execute("select key, trigger, prompt_key from requests")
    }
    t2 = prompts["2026-08-03T09:00:11.000Z"]
    t3 = prompts["2026-08-03T09:00:21.000Z"]
    assert by_total["3800/2300/0/95/15/3895"] == ("other", t2)
    assert by_total["5400/3500/0/125/20/5525"] == ("prompt", t3)


def test_an_unknown_envelope_type_that_carries_usage_is_flagged(db, tmp_path):
    home = tmp_path / "h"
    shutil.copytree(FIXTURES / "codex" / "basic" / "home", home)
    path = next(home.rglob("*.jsonl"))
    with open(path, "ab") as f:
        f.write(
            b'{"timestamp":"2026-09-29T15:30:00.000Z","type":"response_usage","payload":'
            b'{"usage":{"input_tokens":10,"output_tokens":2}}}\n'
        )
    stats = ingest_home(db, home)
    assert stats.bad_lines == {"unknown_type": 1} and stats.ignored_lines == 0
    reason = db.execute("select reason from ingest_errors").fetchone()[0]
    assert reason == "unknown record type 'response_usage' carries usage-like field payload.usage"
