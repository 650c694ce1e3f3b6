"""Kimi fixtures, both layouts: legacy kimi-cli (``cli-*``, ``~/.kimi``) and the
Kimi Code CLI (``code-*``, ``~/.kimi-code``); every trap with exact totals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from analyzer.parsers.kimi_code import KimiCodeParser
from analyzer.parsers.kimi_code.kimi_cli import KimiCliParser
from analyzer.parsers.kimi_code.refusals import refusal

from analyzer.contract.parsing import SourceContext
from analyzer.contract.records import LimitHit, Prompt, Request
from analyzer.ingest.ingester import Ingester
from analyzer.store import database as store

from .conftest import FIXTURES, check_totals, expected_totals, ingest_home

KIMI = FIXTURES / "kimi-code"
CASES = sorted(p.name for p in KIMI.iterdir() if (p / "expected.json").exists())
ROW = "key, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, trigger, prompt_key, is_sidechain, session_id, ts, model"


def rows(db, table="requests", cols=ROW):
    return db.execute(f"select {cols} from {table} order by key").fetchall()


def lines_of(path: Path) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    for raw in path.read_bytes().split(b"\n")[:-1]:
        out.append((pos, raw))
        pos += len(raw) + 1
    return out


@pytest.mark.parametrize("case", CASES)
def test_fixture_totals(db, case):
    expected = expected_totals(KIMI / case)
    stats = ingest_home(db, KIMI / case / "home")
    check_totals(db, expected, "kimi-code")
    assert stats.bad_lines == expected.get("bad_lines", {})
    assert not stats.unrecognised
    got = dict(db.execute("select trigger, count(*) from requests group by trigger").fetchall())
    assert got == expected["triggers"]
    if "models" in expected:
        assert dict(db.execute("select model, count(*) from requests group by model").fetchall()) == expected["models"]
    if "sessions" in expected:
        assert (
            dict(db.execute("select session_id, count(*) from requests group by session_id").fetchall())
            == expected["sessions"]
        )
    if "hits" in expected:
        got_hits = [
            {"ts": ts, "reset_at": reset, "window_minutes": window, "limit_type": kind}
            for ts, reset, window, kind in db.execute(
                "select ts, reset_at, window_minutes, limit_type from limit_hits order by ts"
            )
        ]
        assert got_hits == expected["hits"]


@pytest.mark.parametrize("case", CASES)
def test_totals_do_not_depend_on_reading_twice_or_file_order(db, tmp_path, case):
    """Ingesting twice, and ingesting files in reverse order into a new store, gives the same rows."""
    home = KIMI / case / "home"
    ingest_home(db, home)
    first = rows(db)
    prompts = rows(db, "prompts", "key, session_id, ts")
    ingest_home(db, home)
    assert rows(db) == first
    assert rows(db, "prompts", "key, session_id, ts") == prompts

    other = store.open_db(tmp_path / "reverse.db")
    ingester = Ingester(other, env={"HOME": str(home)})
    discovery = ingester.discover()
    discovery.found.reverse()
    ingester.run(discovery=discovery)
    assert rows(other) == first
    assert rows(other, "prompts", "key, ts") == rows(db, "prompts", "key, ts")


# --- legacy kimi-cli ---------------------------------------------------------------------


def test_cli_model_from_config_and_project_from_kimi_json(db):
    ingest_home(db, KIMI / "cli-basic" / "home")
    got = db.execute("select distinct model, project, session_id from requests").fetchall()
    assert got == [("kimi-for-coding", "/home/u/proj", "1b6f0c9e-1111-4aaa-8aaa-000000000001")]
    assert db.execute("select output_tokens from requests where key = 'kimi-code:chatcmpl-b2'").fetchone() == (95,)


def test_cli_without_config_falls_back_to_kimi_for_coding(db):
    ingest_home(db, KIMI / "cli-corrupt" / "home")
    assert db.execute("select distinct model, project from requests").fetchall() == [("kimi-for-coding", None)]


def test_cli_subagent_calls_count_once_with_the_subagents_model(db):
    ingest_home(db, KIMI / "cli-subagents" / "home")
    got = db.execute("select key, is_sidechain, trigger, model from requests order by key").fetchall()
    assert got == [
        ("kimi-code:chatcmpl-old1", 1, "subagent", "kimi-for-coding"),
        ("kimi-code:chatcmpl-p1", 0, "prompt", "kimi-for-coding"),
        ("kimi-code:chatcmpl-p2", 0, "tool_result", "kimi-for-coding"),
        ("kimi-code:chatcmpl-s1", 1, "subagent", "kimi-k2-turbo-preview"),
        ("kimi-code:chatcmpl-s2", 1, "subagent", "kimi-k2-turbo-preview"),
        (
            "kimi-code:cli:2c7a1d0f-2222-4bbb-8bbb-000000000002:a1b2c3d4:1793610111.1",
            1,
            "subagent",
            "kimi-k2-turbo-preview",
        ),
    ]
    # every subagent call is linked to the prompt that started its chain
    prompt = db.execute("select key from prompts").fetchone()[0]
    assert {r[0] for r in db.execute("select prompt_key from requests")} == {prompt}


def test_cli_slash_command_is_a_prompt_only_when_the_model_answers(tmp_path):
    other = store.open_db(tmp_path / "text.db")
    store.set_meta(other, "keep_prompt_text", "1")
    ingest_home(other, KIMI / "cli-prompts" / "home")
    texts = [r[0] for r in other.execute("select text from prompts order by ts")]
    assert texts == ["explain this diff", "/init", "add a test", "refactor the loader", "also keep the old API"]
    by_key = dict(other.execute("select key, text from prompts").fetchall())
    chains = other.execute("select key, trigger, prompt_key from requests order by ts").fetchall()
    assert [(k.split(":")[1], t, by_key.get(p)) for k, t, p in chains] == [
        ("chatcmpl-q1", "prompt", "explain this diff"),
        ("chatcmpl-q2", "prompt", "/init"),
        ("chatcmpl-q3", "tool_result", "/init"),
        ("chatcmpl-q4", "other", "/init"),
        ("chatcmpl-q5", "prompt", "refactor the loader"),
        ("chatcmpl-q6", "prompt", "also keep the old API"),
    ]


def test_cli_parser_alone_yields_every_copy_of_a_repeated_status(db):
    """The parser yields each StatusUpdate; the store keeps one row per message_id."""
    path = next((KIMI / "cli-basic" / "home").rglob("wire.jsonl"))
    records = list(KimiCliParser().parse(lines_of(path), {}, SourceContext(path)))
    requests = [r for r in records if isinstance(r, Request)]
    assert [r.key for r in requests] == [
        "kimi-code:chatcmpl-b1",
        "kimi-code:chatcmpl-b2",
        "kimi-code:chatcmpl-b2",
        "kimi-code:chatcmpl-b3",
    ]
    assert [r.trigger for r in requests] == ["prompt", "tool_result", "tool_result", "prompt"]
    assert [r.ts for r in requests][:1] == ["2026-11-02T09:00:04.900Z"]


def test_cli_state_survives_a_chunk_boundary():
    """Parsing a file in two calls with the persisted state gives the same records as one call."""
    path = next((KIMI / "cli-prompts" / "home").rglob("wire.jsonl"))
    lines = lines_of(path)
    whole = list(KimiCliParser().parse(lines, {}, SourceContext(path)))
    for cut in range(1, len(lines)):
        state: dict = {}
        parser = KimiCliParser()
        split = list(parser.parse(lines[:cut], state, SourceContext(path)))
        state = json.loads(json.dumps(state))  # what the ingester stores
        split += list(parser.parse(lines[cut:], state, SourceContext(path)))
        assert split == whole, cut


# --- Kimi Code CLI -------------------------------------------------------------------------


def test_code_session_project_and_parents(db):
    ingest_home(db, KIMI / "code-fork" / "home")
    got = db.execute("select session_id, project, parent_session_id from sessions order by session_id").fetchall()
    assert got == [
        ("session_aaaaaaaa-0000-4000-8000-00000000000a", "/home/u/proj", None),
        (
            "session_bbbbbbbb-0000-4000-8000-00000000000b",
            "/home/u/proj",
            "session_aaaaaaaa-0000-4000-8000-00000000000a",
        ),
        (
            "session_cccccccc-0000-4000-8000-00000000000c",
            "/home/u/proj",
            "session_bbbbbbbb-0000-4000-8000-00000000000b",
        ),
    ]


def test_code_project_from_the_session_index_when_state_has_no_cwd(db):
    ingest_home(db, KIMI / "code-imported" / "home")
    got = dict(db.execute("select session_id, project from sessions where agent = 'kimi-code'").fetchall())
    assert got["ses_7b1c2d3e-7777-4777-8777-777777777777"] == "/home/u/old-proj"
    assert got["session_11111111-1111-4111-8111-111111111111"] == "/home/u/proj"


def test_code_imported_bundles_are_skipped_even_when_the_root_is_given(db):
    home = KIMI / "code-imported" / "home"
    stats = Ingester(db, env={"HOME": "/nonexistent"}).run([home / ".kimi-code", home / ".kimi"])
    assert stats.bad_total() == 0
    assert [p for p, _ in stats.unrecognised if "/.kimi-code/imported/" not in p and p.endswith("wire.jsonl")] == []
    check_totals(db, expected_totals(KIMI / "code-imported"), "kimi-code")
    assert db.execute("select count(*) from sources where path like '%/.kimi-code/imported/%'").fetchone()[0] == 0


def test_code_subagents_and_btw(db):
    ingest_home(db, KIMI / "code-subagents" / "home")
    got = db.execute("select key, is_sidechain, trigger from requests order by ts").fetchall()
    assert [(k.split(":")[1], s, t) for k, s, t in got] == [
        ("main", 0, "prompt"),
        ("agent-0", 1, "subagent"),
        ("agent-0", 1, "subagent"),
        ("agent-0", 1, "subagent"),
        ("main", 0, "tool_result"),
        ("agent-1", 1, "prompt"),
    ]
    sidechain_prompts = db.execute("select is_sidechain, count(*) from prompts group by is_sidechain").fetchall()
    assert sidechain_prompts == [(0, 1), (1, 1)]
    # subagent calls link to the person's last prompt in the session
    first = db.execute("select key from prompts where is_sidechain = 0").fetchone()[0]
    linked = db.execute("select distinct prompt_key from requests where key like 'kimi-code:agent-0:%'").fetchall()
    assert linked == [(first,)]


def test_code_prompt_texts(tmp_path):
    db = store.open_db(tmp_path / "text.db")
    store.set_meta(db, "keep_prompt_text", "1")
    ingest_home(db, KIMI / "code-prompts" / "home")
    texts = [r[0] for r in db.execute("select text from prompts order by ts")]
    assert texts == ["p1 text", "p2 text", "also do X", "/review src/", "/deploy", "p1 text"]


def test_code_fork_marker_found_before_the_copies_are_parsed():
    """The copies come before the marker: the parser looks ahead when it starts a file."""
    path = next(
        p for p in (KIMI / "code-fork" / "home").rglob("wire.jsonl") if "cccccccc" in str(p) and "main" in p.parts
    )
    records = list(KimiCodeParser().parse(lines_of(path), {}, SourceContext(path)))
    assert [r.output_tokens for r in records if isinstance(r, Request)] == [130]
    assert [r.ts for r in records if isinstance(r, Prompt)] == ["2026-11-05T09:01:31.000Z"]


def test_code_fork_marker_appended_after_the_copies_were_read(db, tmp_path):
    """The legacy engine copies a wire and appends the marker afterwards. Copies
    read before the marker arrived collapse with the source's calls, by content."""
    src = KIMI / "code-fork" / "home"
    home = tmp_path / "h"
    shutil.copytree(src, home)
    shutil.rmtree(next(home.rglob("session_cccccccc-*")))
    b_main = next(p for p in home.rglob("wire.jsonl") if "bbbbbbbb" in str(p) and "main" in p.parts)
    full = b_main.read_bytes()
    marker = full.index(b'{"type":"forked"')
    b_main.write_bytes(full[:marker])  # the copy, before its marker
    ingest_home(db, home)
    with open(b_main, "ab") as f:
        f.write(full[marker:])
    ingest_home(db, home)
    got = db.execute("select count(*), sum(input_tokens), sum(output_tokens) from requests").fetchone()
    assert got == (4, 1000 + 1100 + 400 + 1200, 100 + 110 + 40 + 120)
    assert db.execute("select count(*) from prompts").fetchone()[0] == 3


def test_code_whole_file_rewrite_on_resume(db, tmp_path):
    """Resuming an older-protocol file rewrites it whole (protocol 1.5, new inode,
    records re-serialised): nothing is counted twice and new records are added."""
    home = tmp_path / "h"
    shutil.copytree(KIMI / "code-compaction" / "home", home)
    wire = next(home.rglob("wire.jsonl"))
    old = wire.read_text().splitlines()
    old[0] = '{"type":"metadata","protocol_version":"1.4","created_at":1793696400000}'
    wire.write_text("\n".join(old) + "\n")
    ingest_home(db, home)
    before = rows(db)
    records = [json.loads(line) for line in old[1:]]
    rewritten = [json.dumps({"type": "metadata", "protocol_version": "1.5", "created_at": 1793696400000})]
    rewritten += [json.dumps(dict(sorted(r.items())), separators=(",", ":")) for r in records]
    rewritten.append(
        '{"type":"usage.record","agentId":"main","model":"kimi-code/kimi-for-coding","usage":{"inputOther":10,"output":1,"inputCacheRead":0,"inputCacheCreation":0},"usageScope":"turn","time":1793790000000}'
    )
    tmp = wire.with_suffix(".tmp")
    tmp.write_text("\n".join(rewritten) + "\n")
    tmp.replace(wire)
    stats = ingest_home(db, home)
    assert stats.reread_files == [str(wire)]
    after = rows(db)
    assert set(before) <= set(after) and len(after) == len(before) + 1
    assert db.execute("select sum(input_tokens) from requests").fetchone()[0] == 11630 + 10


def test_code_tailing_counts_appended_lines_once(db, tmp_path):
    home = tmp_path / "h"
    shutil.copytree(KIMI / "code-basic" / "home", home)
    wire = next(home.rglob("wire.jsonl"))
    full = wire.read_bytes()
    cut = full.index(b'{"type":"turn.prompt","agentId":"main","input":[{"type":"text","text":"and the lint')
    wire.write_bytes(full[: cut + 30])  # a torn line at the end
    ingest_home(db, home)
    assert db.execute("select count(*), count(distinct trigger) from requests").fetchone() == (2, 2)
    wire.write_bytes(full)
    ingest_home(db, home)
    check_totals(db, expected_totals(KIMI / "code-basic"), "kimi-code")


@pytest.mark.parametrize(
    "error, expected",
    [
        (
            {
                "code": "provider.auth_error",
                "message": "403 You've reached your weekly (7-day) usage limit.",
                "details": {"statusCode": 403},
            },
            ("weekly", 10080),
        ),
        (
            {
                "code": "provider.auth_error",
                "message": "403 You've reached your 5-hour usage limit, resets at 2026-11-05T14:00:00Z",
            },
            ("five_hour", 300),
        ),
        (
            {
                "code": "provider.auth_error",
                "message": "403 You've reached your concurrent request limit. Please wait.",
            },
            ("concurrency", None),
        ),
        (
            {
                "code": "provider.rate_limit",
                "message": "We're receiving too many requests",
                "name": "APIProviderRateLimitError",
            },
            ("rate_limit", None),
        ),
        (
            {
                "code": "provider.api_error",
                "message": "insufficient balance",
                "name": "APIProviderQuotaExhaustedError",
                "details": {"statusCode": 429},
            },
            ("quota", None),
        ),
        (
            {"code": "provider.auth_error", "message": "401 Invalid Authentication", "details": {"statusCode": 401}},
            None,
        ),
        ({"code": "provider.overloaded", "message": "529 overloaded", "details": {"statusCode": 529}}, None),
        ({"code": "context.overflow", "message": "context too long"}, None),
        ("not an error object", None),
    ],
)
def test_refusal_classification(error, expected):
    found = refusal(error)
    if expected is None:
        assert found is None
    else:
        assert found is not None and (found.limit_type, found.window_minutes) == expected


def test_refusal_reset_time_from_text():
    found = refusal({"message": "403 You've reached your 5-hour usage limit, resets at 2026-11-05T14:00:00Z"})
    assert found is not None and found.reset_at == "2026-11-05T14:00:00.000Z"


# --- discovery -----------------------------------------------------------------------------


def test_recognise_rejects_other_agents_jsonl():
    code, cli = KimiCodeParser(), KimiCliParser()
    claude = next((FIXTURES / "claude-code" / "streaming" / "home").rglob("*.jsonl")).read_bytes()[:4096]
    codex = b'{"timestamp":"2025-10-29T00:59:38.317Z","type":"session_meta","payload":{"id":"x","cwd":"/p"}}\n'
    gemini = b'{"sessionId":"8f0c","projectHash":"3a1f","startTime":"2026-05-01T10:00:00.000Z","lastUpdated":"2026-05-01T10:00:00.000Z","kind":"main"}\n'
    qwen = b'{"uuid":"e3","parentUuid":null,"sessionId":"69f","timestamp":"2026-06-15T14:40:22.832Z","type":"user","message":{"role":"user","parts":[{"text":"hi"}]}}\n'
    others = [claude, codex, gemini, qwen]
    new = next((KIMI / "code-basic" / "home").rglob("wire.jsonl")).read_bytes()[:4096]
    migrated = next((KIMI / "code-imported" / "home").rglob("ses_*/agents/main/wire.jsonl")).read_bytes()
    old = next((KIMI / "cli-basic" / "home").rglob("wire.jsonl")).read_bytes()[:4096]
    headerless = b'{"timestamp": 1764300000.5, "message": {"type": "TurnBegin", "payload": {"user_input": "hi"}}}\n'
    path = Path("wire.jsonl")
    assert code.recognise(path, new) and code.recognise(path, migrated)
    assert cli.recognise(path, old) and cli.recognise(path, headerless)
    assert not code.recognise(path, old) and not cli.recognise(path, new) and not cli.recognise(path, migrated)
    for head in others:
        assert not code.recognise(path, head) and not cli.recognise(path, head)


def test_candidates_split_the_two_layouts():
    code, cli = KimiCodeParser(), KimiCliParser()
    new = Path("/h/.kimi-code/sessions/wd_p_0123456789ab/session_x/agents/main/wire.jsonl")
    imported = Path("/h/.kimi-code/imported/imp_1/agents/main/wire.jsonl")
    old = Path("/h/.kimi/sessions/0f1e/uuid/wire.jsonl")
    old_sub = Path("/h/.kimi/sessions/0f1e/uuid/subagents/a1/wire.jsonl")
    assert code.candidate(new) and not code.candidate(imported) and not code.candidate(old)
    assert cli.candidate(old) and cli.candidate(old_sub) and not cli.candidate(new)
    assert not code.candidate(Path("context.jsonl")) and not cli.candidate(Path("context.jsonl"))


def test_default_roots_honour_the_agents_variables(tmp_path):
    home = tmp_path / "h"
    assert KimiCodeParser().roots({"HOME": str(home)}) == [home / ".kimi-code" / "sessions"]
    assert KimiCliParser().roots({"HOME": str(home)}) == [home / ".kimi" / "sessions"]
    assert KimiCodeParser().roots({"HOME": str(home), "KIMI_CODE_HOME": ""}) == [home / ".kimi-code" / "sessions"]
    assert KimiCodeParser().roots({"HOME": str(home), "KIMI_CODE_HOME": f"{tmp_path}/kc"}) == [
        tmp_path / "kc" / "sessions"
    ]
    assert KimiCliParser().roots({"HOME": str(home), "KIMI_SHARE_DIR": f"{tmp_path}/ks"}) == [
        tmp_path / "ks" / "sessions"
    ]


def test_share_dir_variables_are_read(db, tmp_path):
    shutil.copytree(KIMI / "cli-basic" / "home" / ".kimi", tmp_path / "share")
    shutil.copytree(KIMI / "code-basic" / "home" / ".kimi-code", tmp_path / "code")
    ingest_home(
        db, tmp_path / "empty-home", KIMI_SHARE_DIR=str(tmp_path / "share"), KIMI_CODE_HOME=str(tmp_path / "code")
    )
    assert db.execute("select count(*), sum(output_tokens) from requests").fetchone() == (3 + 4, 455 + 1131)
    assert db.execute("select distinct model from requests where key like 'kimi-code:chatcmpl%'").fetchall() == [
        ("kimi-for-coding",)
    ]


def test_limit_hit_records_are_typed():
    path = next((KIMI / "cli-limits" / "home").rglob("wire.jsonl"))
    hits = [r for r in KimiCliParser().parse(lines_of(path), {}, SourceContext(path)) if isinstance(r, LimitHit)]
    assert len(hits) == 1 and hits[0].agent == "kimi-code" and hits[0].model == "kimi-for-coding"


def test_code_usage_scope_alone_decides_a_compaction():
    """``usageScope: "session"`` is a compaction even without its ``llm.request``;
    a record without a scope is classified by what came before it."""
    path = Path("/h/.kimi-code/sessions/wd_p_0123456789ab/session_s/agents/main/wire.jsonl")
    usage = '{"type":"usage.record","agentId":"main","model":"kimi-code/kimi-for-coding","usage":{"inputOther":5,"output":1,"inputCacheRead":0,"inputCacheCreation":0}%s,"time":%d}'
    lines = [
        b'{"type":"turn.prompt","agentId":"main","input":[{"type":"text","text":"go"}],"origin":{"kind":"user"},"time":1793610000000}',
        (usage % (',"usageScope":"session"', 1793610001000)).encode(),
        (usage % ("", 1793610002000)).encode(),
        (usage % ("", 1793610003000)).encode(),
    ]
    records = list(KimiCodeParser().parse(list(enumerate(lines)), {}, SourceContext(path)))
    requests = [r for r in records if isinstance(r, Request)]
    assert [r.trigger for r in requests] == ["compaction", "prompt", "other"]
    assert [r.model for r in requests] == ["kimi-for-coding"] * 3  # no config here: the alias without its prefix


# --- the bundled sample --------------------------------------------------------------------

SAMPLE = FIXTURES / "sample"


def test_kimi_sample_is_what_its_seeded_script_writes(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_kimi_sample", SAMPLE / "generators" / "make_kimi_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path / "out")
    made = {p.relative_to(tmp_path / "out"): p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    committed = {
        p.relative_to(SAMPLE / "home"): p.read_bytes()
        for p in (SAMPLE / "home" / ".kimi-code").rglob("*")
        if p.is_file()
    }
    assert made == committed
    assert sum(len(b) for b in committed.values()) < 500_000


def test_kimi_sample_ingests_cleanly(db):
    stats = ingest_home(db, SAMPLE / "home")
    assert stats.bad_total() == 0 and not stats.unrecognised
    days = [
        r[0] for r in db.execute("select distinct substr(ts, 1, 10) from requests where agent = 'kimi-code' order by 1")
    ]
    assert days == [f"2026-11-{d}" for d in range(16, 22)]
    # the forked session holds a copy of its source: only its own three calls count
    fork = db.execute(
        "select session_id from sessions where agent = 'kimi-code' and parent_session_id is not null"
    ).fetchall()
    assert len(fork) == 1
    assert db.execute("select count(*) from requests where session_id = ?", fork[0]).fetchone()[0] == 3
    hits = db.execute("select limit_type, window_minutes from limit_hits where agent = 'kimi-code'").fetchall()
    assert hits == [("weekly", 10080)]
    triggers = {t for (t,) in db.execute("select distinct trigger from requests where agent = 'kimi-code'")}
    assert triggers == {"prompt", "tool_result", "subagent", "compaction"}


def test_cli_side_files_are_read_again_when_they_change(db, tmp_path):
    """A new default model in config.toml applies to calls read after the change."""
    home = tmp_path / "h"
    shutil.copytree(KIMI / "cli-basic" / "home", home)
    ingest_home(db, home)
    config = home / ".kimi" / "config.toml"
    config.write_text(
        config.read_text().replace(
            'default_model = "kimi-code/kimi-for-coding"', 'default_model = "kimi-code/kimi-k2-turbo"'
        )
    )
    wire = next(home.rglob("wire.jsonl"))
    status = {
        "token_usage": {"input_other": 7, "output": 3, "input_cache_read": 0, "input_cache_creation": 0},
        "message_id": "chatcmpl-b4",
    }
    with wire.open("a") as f:
        f.write(json.dumps({"timestamp": 1793610100.0, "message": {"type": "StatusUpdate", "payload": status}}) + "\n")
    ingest_home(db, home)
    got = db.execute("select model, count(*) from requests group by model order by model").fetchall()
    assert got == [("kimi-for-coding", 3), ("kimi-k2-turbo-preview", 1)]
