"""OpenCode fixtures: the SQLite store and the JSON tree, every trap of log-formats.md section 6.

A case is ``fixtures/opencode/<case>/``: ``store.sql`` (rows applied over
``schema.sql`` into ``opencode.db`` in the temp HOME, in WAL mode as the agent
keeps it), and/or ``home/`` (a JSON tree), and ``expected.json`` with totals
computed by hand.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from analyzer.parsers.opencode import OpenCodeParser, data_dir
from analyzer.parsers.opencode import database as oc_database
from analyzer.parsers.opencode.limits import reset_from
from analyzer.parsers.opencode.model import split_output

from analyzer.ingest.ingester import Ingester

from .conftest import (
    FIXTURES,
    REQUEST_COLUMNS,
    check_totals,
    expected_totals,
    ingest_home,
    rows_read_in_reverse,
    totals,
)

CASES_DIR = FIXTURES / "opencode"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "expected.json").exists())


def build_store(path: Path, *scripts: Path) -> None:
    """Create an OpenCode store as the agent leaves it after a clean exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.executescript((CASES_DIR / "schema.sql").read_text() + "".join(s.read_text() for s in scripts))
    conn.close()


def build_home(case: str, home: Path) -> Path:
    case_dir = CASES_DIR / case
    if (case_dir / "home").exists():
        shutil.copytree(case_dir / "home", home, dirs_exist_ok=True)
    if (case_dir / "store.sql").exists():
        build_store(home / ".local" / "share" / "opencode" / "opencode.db", case_dir / "store.sql")
    return home


def store_path(home: Path) -> Path:
    return home / ".local" / "share" / "opencode" / "opencode.db"


@pytest.mark.parametrize("case", CASES)
def test_fixture_totals(db, tmp_path, case):
    expected = expected_totals(CASES_DIR / case)
    stats = ingest_home(db, build_home(case, tmp_path / "h"))
    check_totals(db, expected)
    assert stats.failed_files == []
    if "bad_lines" in expected:
        assert stats.bad_lines == expected["bad_lines"]
    else:
        assert stats.bad_total() == 0
    if "triggers" in expected:
        got = dict(db.execute("select trigger, count(*) from requests group by trigger").fetchall())
        assert got == expected["triggers"]
    assert db.execute("select count(*) from requests where agent != 'opencode'").fetchone()[0] == 0


@pytest.mark.parametrize("case", CASES)
def test_totals_do_not_depend_on_reading_twice_or_file_order(db, tmp_path, case):
    home = build_home(case, tmp_path / "h")
    ingest_home(db, home)
    first = db.execute("select * from requests order by key").fetchall()
    prompts = db.execute("select key, ts, text_hash from prompts order by key").fetchall()
    # A changed store is read whole again: every row must upsert, none add.
    for path in home.rglob("*"):
        if path.is_file():
            os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    stats = ingest_home(db, home)
    assert stats.files_read == stats.files
    assert db.execute("select * from requests order by key").fetchall() == first
    assert db.execute("select key, ts, text_hash from prompts order by key").fetchall() == prompts

    reverse = rows_read_in_reverse(tmp_path / "reverse.db", home)
    assert reverse == db.execute(f"select {REQUEST_COLUMNS} from requests order by key").fetchall()


@pytest.mark.parametrize("case", ["rate-limit", "glm-refusals"])
def test_limit_hits_with_reset_times(db, tmp_path, case):
    ingest_home(db, build_home(case, tmp_path / "h"))
    got = [
        {"ts": ts, "reset_at": reset, "window_minutes": window, "limit_type": kind}
        for ts, reset, window, kind in db.execute(
            "select ts, reset_at, window_minutes, limit_type from limit_hits order by ts"
        )
    ]
    assert got == expected_totals(CASES_DIR / case)["hits"]
    assert len({r[0] for r in db.execute("select distinct session_id from limit_hits")}) == 1


@pytest.mark.parametrize("case", ["child-sessions", "legacy-tree"])
def test_child_sessions_are_subagents_linked_to_the_parent_prompt(db, tmp_path, case):
    ingest_home(db, build_home(case, tmp_path / "h"))
    expected = expected_totals(CASES_DIR / case)["subagent_sessions"]
    got = dict(db.execute("select session_id, parent_session_id from sessions where is_subagent = 1").fetchall())
    assert got == expected
    rows = db.execute(
        "select session_id, is_sidechain, trigger from requests where session_id in (%s)"
        % ",".join("?" * len(expected)),
        list(expected),
    ).fetchall()
    assert rows and all(sidechain == 1 and trigger == "subagent" for _, sidechain, trigger in rows)
    # Every request, the subagents' too, belongs to the prompt in effect when it ran.
    first_prompt = db.execute("select key from prompts order by ts limit 1").fetchone()[0]
    child_links = {r[0] for r in db.execute("select prompt_key from requests where is_sidechain = 1")}
    assert child_links == {first_prompt}
    assert db.execute("select count(*) from requests where prompt_key is null").fetchone()[0] == 0


def test_prompts_keep_only_typed_text(db, tmp_path):
    ingest_home(db, build_home("synthetic", tmp_path / "h"))
    lengths = sorted(r[0] for r in db.execute("select text_length from prompts"))
    assert lengths == expected_totals(CASES_DIR / "synthetic")["prompt_lengths"]
    assert db.execute("select count(*) from prompts where text is not null").fetchone()[0] == 0


def test_reasoning_is_added_only_where_output_lacks_it(db, tmp_path):
    ingest_home(db, build_home("reasoning", tmp_path / "h"))
    outputs = [r[0] for r in db.execute("select output_tokens from requests order by ts")]
    assert outputs == expected_totals(CASES_DIR / "reasoning")["outputs_in_order"]


def test_split_output_rules():
    tokens = {"input": 10, "output": 100, "reasoning": 30, "cache": {"read": 5, "write": 0}}
    assert split_output({**tokens, "total": 145}, "openai") == (130, 30)  # total holds reasoning apart
    assert split_output({**tokens, "total": 115}, "openai") == (100, 30)  # total holds it inside output
    assert split_output(tokens, "openai") == (100, 30)
    assert split_output(tokens, "google-vertex") == (130, 30)
    assert split_output({**tokens, "output": 20}, "openai") == (50, 30)  # more reasoning than output
    assert split_output({**tokens, "reasoning": 0, "total": 999}, "openai") == (100, 0)


def test_migrated_rows_take_the_message_time_not_the_migration_time(db, tmp_path):
    ingest_home(db, build_home("migrated", tmp_path / "h"))
    got = [r[0] for r in db.execute("select ts from requests order by ts, key")]
    assert got == expected_totals(CASES_DIR / "migrated")["request_ts"]


def test_a_message_being_written_counts_its_finished_steps_then_the_rest(db, tmp_path):
    home = build_home("in-progress", tmp_path / "h")
    expected = expected_totals(CASES_DIR / "in-progress")
    ingest_home(db, home)
    check_totals(db, expected)
    # A step's time is when its step-finish row was written, whether read mid-message or after.
    assert [r[0] for r in db.execute("select ts from requests order by ts")] == ["2026-11-26T20:00:10.000Z"]
    conn = sqlite3.connect(store_path(home), isolation_level=None)
    conn.executescript((CASES_DIR / "in-progress" / "later.sql").read_text())
    conn.close()
    ingest_home(db, home)
    check_totals(db, expected["later"])
    assert [r[0] for r in db.execute("select ts from requests order by ts")] == [
        "2026-11-26T20:00:10.000Z",
        "2026-11-26T20:01:00.000Z",
    ]
    assert db.execute("select count(*) from requests where complete = 0").fetchone()[0] == 0


def test_a_store_being_written_in_wal_mode_is_read_without_blocking_the_writer(db, tmp_path):
    """The agent keeps its store open in WAL mode: committed rows sit in the -wal
    file (the main file unchanged), and it may hold a write transaction while we read."""
    home = tmp_path / "h"
    path = store_path(home)
    path.parent.mkdir(parents=True)
    agent = sqlite3.connect(path, isolation_level=None)
    agent.execute("pragma journal_mode=wal")
    agent.execute("pragma wal_autocheckpoint=0")  # keep every commit in the -wal file
    agent.executescript((CASES_DIR / "schema.sql").read_text())
    agent.execute("pragma wal_checkpoint(truncate)")  # the schema in the main file, the rows in the WAL
    main_before = (path.stat().st_size, path.stat().st_mtime_ns)
    agent.executescript((CASES_DIR / "multi-step" / "store.sql").read_text())
    assert (path.stat().st_size, path.stat().st_mtime_ns) == main_before
    assert Path(f"{path}-wal").stat().st_size > 0

    stats = ingest_home(db, home)
    assert stats.failed_files == [] and stats.bad_total() == 0
    check_totals(db, expected_totals(CASES_DIR / "multi-step"))

    # The agent commits more rows (to the WAL only), then starts a write it has not committed.
    agent.executescript((CASES_DIR / "synthetic" / "store.sql").read_text())
    assert (path.stat().st_size, path.stat().st_mtime_ns) == main_before
    agent.execute("begin immediate")
    agent.execute(
        "insert into message values ('msg_zz1', 'ses_a', 1795165400000, 1795165400000, ?)",
        ['{"role":"user","time":{"created":1795165400000},"agent":"build"}'],
    )
    agent.execute(
        "insert into part values ('prt_zz1', 'msg_zz1', 'ses_a', 1795165400000, 1795165400000, ?)",
        ['{"type":"text","text":"not committed yet"}'],
    )
    stats = ingest_home(db, home)
    assert stats.files_read == 1 and stats.failed_files == []
    multi, synthetic = expected_totals(CASES_DIR / "multi-step"), expected_totals(CASES_DIR / "synthetic")
    assert totals(db)["requests"] == multi["requests"] + synthetic["requests"]
    assert totals(db)["prompts"] == multi["prompts"] + synthetic["prompts"]  # the uncommitted prompt is not seen
    agent.execute("commit")  # our read never held a lock that stops the agent
    agent.close()
    ingest_home(db, home)
    assert totals(db)["prompts"] == multi["prompts"] + synthetic["prompts"] + 1


def test_a_checkpointed_store_is_read_without_leaving_files_behind(db, tmp_path):
    home = build_home("multi-step", tmp_path / "h")
    folder = store_path(home).parent
    before = sorted(os.listdir(folder))
    assert before == ["opencode.db"]
    ingest_home(db, home)
    assert sorted(os.listdir(folder)) == before
    check_totals(db, expected_totals(CASES_DIR / "multi-step"))


def test_a_store_that_cannot_be_opened_now_is_reported_and_tried_again(db, tmp_path, monkeypatch):
    home = build_home("multi-step", tmp_path / "h")
    real_connect = oc_database.connect

    def locked(path):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(oc_database, "connect", locked)
    stats = ingest_home(db, home)
    assert [p for p, _ in stats.failed_files] == [str(store_path(home))]
    assert "database is locked" in stats.failed_files[0][1]
    assert totals(db)["requests"] == 0
    # Named in `analyzer db errors` while it cannot be read, and no line of it is marked bad.
    assert db.execute("select kind from ingest_errors").fetchall() == [("unreadable",)]
    monkeypatch.setattr(oc_database, "connect", real_connect)
    ingest_home(db, home)  # the file did not change, yet it is read now
    check_totals(db, expected_totals(CASES_DIR / "multi-step"))
    assert db.execute("select count(*) from ingest_errors").fetchone()[0] == 0


def test_bad_rows_in_the_store_are_reported_and_the_rest_counted(db, tmp_path):
    home = build_home("multi-step", tmp_path / "h")
    conn = sqlite3.connect(store_path(home), isolation_level=None)
    conn.execute("insert into message values ('msg_bad1', 'ses_a', 1, 1, '{\"role\":\"assistant\",')")
    conn.execute("insert into message values ('msg_bad2', 'ses_a', 1, 1, '{\"role\":\"user\"}')")
    conn.execute("insert into part values ('prt_bad1', 'msg_a02', 'ses_a', 1, 1, 'not json')")
    conn.close()
    stats = ingest_home(db, home)
    assert stats.bad_lines == {"corrupt": 2, "bad_shape": 1}
    check_totals(db, expected_totals(CASES_DIR / "multi-step"))


def test_an_sqlite_file_without_opencode_tables_is_reported(db, tmp_path):
    home = tmp_path / "h"
    path = store_path(home)
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute("create table something (x)")
    conn.commit()
    conn.close()
    stats = ingest_home(db, home)
    assert stats.bad_lines == {"unrecognised_file": 1}
    assert totals(db)["requests"] == 0


def test_legacy_prompt_is_found_from_the_answer_when_its_parts_came_late(db, tmp_path):
    """The agent writes a user message file before its parts: reading the answer
    yields the prompt too, so a prompt is never lost to that race."""
    home = build_home("legacy-tree", tmp_path / "h")
    storage = home / ".local" / "share" / "opencode" / "storage"
    answer = storage / "message" / "ses_l" / "msg_l04.json"
    Ingester(db, env={"HOME": str(home)}).run([answer])
    assert db.execute("select count(*) from prompts").fetchone()[0] == 1
    assert db.execute("select trigger, prompt_key is not null from requests").fetchall() == [("prompt", 1)]


def test_legacy_tree_growing_between_passes(db, tmp_path):
    home = build_home("legacy-tree", tmp_path / "h")
    ingest_home(db, home)
    storage = home / ".local" / "share" / "opencode" / "storage"
    # Another call answering msg_l03 appears, with its step-finish part.
    (storage / "part" / "msg_l05").mkdir()
    (storage / "part" / "msg_l05" / "prt_l05_1.json").write_text(
        '{"id":"prt_l05_1","sessionID":"ses_l","messageID":"msg_l05","type":"step-finish","reason":"stop","cost":0,'
        '"tokens":{"input":7,"output":11,"reasoning":0,"cache":{"read":13,"write":0}}}'
    )
    (storage / "message" / "ses_l" / "msg_l05.json").write_text(
        '{"id":"msg_l05","sessionID":"ses_l","role":"assistant","time":{"created":1768471700000,"completed":1768471710000},'
        '"parentID":"msg_l03","modelID":"gpt-5","providerID":"openai","mode":"build","agent":"build",'
        '"path":{"cwd":"/home/u/old","root":"/home/u/old"},"cost":0,'
        '"tokens":{"input":7,"output":11,"reasoning":0,"cache":{"read":13,"write":0}},"finish":"stop"}'
    )
    stats = ingest_home(db, home)
    assert stats.files_read == 1
    expected = expected_totals(CASES_DIR / "legacy-tree")
    got = totals(db)
    assert (got["requests"], got["input_tokens"], got["output_tokens"]) == (
        expected["requests"] + 1,
        expected["input_tokens"] + 7,
        expected["output_tokens"] + 11,
    )
    assert db.execute("select trigger from requests order by ts desc limit 1").fetchone()[0] == "tool_result"


# --- where the agent keeps its files ---------------------------------------------------------


def test_roots_follow_xdg_data_home_channels_and_opencode_db(tmp_path):
    parser = OpenCodeParser()
    home = tmp_path / "h"
    data = home / ".local" / "share" / "opencode"
    assert data_dir({"HOME": str(home)}) == data
    assert parser.roots({"HOME": str(home)}) == [data / "opencode.db", data / "storage" / "message"]

    xdg = tmp_path / "xdg" / "opencode"
    xdg.mkdir(parents=True)
    for name in ("opencode.db", "opencode-dev.db", "opencode.db-wal", "other.db"):
        (xdg / name).write_bytes(b"")
    env = {"HOME": str(home), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    assert parser.roots(env) == [xdg / "opencode-dev.db", xdg / "opencode.db", xdg / "storage" / "message"]

    assert parser.roots({**env, "OPENCODE_DB": "work.db"})[0] == xdg / "work.db"
    assert parser.roots({**env, "OPENCODE_DB": str(tmp_path / "elsewhere.sqlite")})[0] == tmp_path / "elsewhere.sqlite"
    assert parser.candidate(tmp_path / "elsewhere.sqlite")


def test_a_store_named_by_opencode_db_is_ingested(db, tmp_path):
    home = tmp_path / "h"
    custom = tmp_path / "dbs" / "mine.sqlite"
    build_store(custom, CASES_DIR / "multi-step" / "store.sql")
    stats = ingest_home(db, home, OPENCODE_DB=str(custom))
    assert stats.files_read == 1
    check_totals(db, expected_totals(CASES_DIR / "multi-step"))


def test_candidate_and_recognise(tmp_path):
    parser = OpenCodeParser()
    storage = tmp_path / "opencode" / "storage"
    assert parser.candidate(storage / "message" / "ses_1" / "msg_1.json")
    assert not parser.candidate(storage / "part" / "msg_1" / "prt_1.json")
    assert not parser.candidate(storage / "session" / "prj" / "ses_1.json")
    assert parser.candidate(tmp_path / "opencode-beta.db")
    assert not parser.candidate(tmp_path / "opencode.db-wal")
    assert not parser.candidate(tmp_path / "crush.db")
    assert parser.recognise(tmp_path / "opencode.db", b"SQLite format 3\x00" + b"\x00" * 80)
    assert not parser.recognise(tmp_path / "opencode.db", b"not a database")


# --- reset times -------------------------------------------------------------------------


AT = 1795604400000  # 2026-11-25T11:00:00Z


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Retry-After": "120"}, None, ("2026-11-25T11:02:00.000Z", None, "rate_limit")),
        ({"retry-after": "Wed, 25 Nov 2026 12:00:00 GMT"}, None, ("2026-11-25T12:00:00.000Z", None, "rate_limit")),
        (
            {"x-ratelimit-reset-requests": "1m30s", "x-ratelimit-reset-tokens": "6m0s"},
            None,
            ("2026-11-25T11:06:00.000Z", None, "rate_limit"),
        ),
        ({"x-ratelimit-reset-tokens": "250ms"}, None, ("2026-11-25T11:00:00.250Z", None, "rate_limit")),
        ({"x-ratelimit-reset": "1795608000"}, None, ("2026-11-25T12:00:00.000Z", None, "rate_limit")),
        ({"x-ratelimit-reset": "45"}, None, ("2026-11-25T11:00:45.000Z", None, "rate_limit")),
        (
            {"anthropic-ratelimit-unified-7d-status": "rejected", "anthropic-ratelimit-unified-reset": "1795900000"},
            None,
            ("2026-11-28T21:06:40.000Z", 10080, "seven_day"),
        ),
        (
            {},
            '{"error":{"type":"usage_limit_reached","resets_in_seconds":600}}',
            ("2026-11-25T11:10:00.000Z", None, "rate_limit"),
        ),
        ({"retry-after": "soon"}, "not json", (None, None, "rate_limit")),
        ({}, None, (None, None, "rate_limit")),
    ],
)
def test_reset_from_headers_and_body(headers, body, expected):
    assert reset_from(headers, body, AT) == expected


# --- the bundled sample -------------------------------------------------------------------


SAMPLE = FIXTURES / "sample"


def _rows(path: Path) -> dict:
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return {t: conn.execute(f"select * from {t} order by 1, 2").fetchall() for t in ("session", "message", "part")}
    finally:
        conn.close()


def test_the_sample_store_is_what_its_seeded_script_writes(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_opencode_sample", SAMPLE / "generators" / "make_opencode_sample.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path / "opencode.db")
    assert _rows(tmp_path / "opencode.db") == _rows(SAMPLE / "home" / ".local" / "share" / "opencode" / "opencode.db")


def test_the_sample_store_reads_cleanly(db):
    stats = ingest_home(db, SAMPLE / "home")
    assert stats.bad_total() == 0 and stats.failed_files == []
    days = [
        r[0] for r in db.execute("select distinct substr(ts, 1, 10) from requests where agent = 'opencode' order by 1")
    ]
    assert len(days) >= 4 and all(d.startswith("2026-11-") for d in days)
    kinds = {r[0] for r in db.execute("select trigger from requests where agent = 'opencode'")}
    assert {"prompt", "tool_result", "subagent", "compaction"} <= kinds
    assert db.execute("select count(*) from limit_hits where agent = 'opencode'").fetchone()[0] == 1
    assert db.execute("select count(*) from sessions where agent = 'opencode' and is_subagent = 1").fetchone()[0] == 1


def test_watch_reads_the_store_when_only_its_wal_file_changes(db, tmp_path):
    from watchdog.events import FileModifiedEvent

    from .test_watch import FakeClock, make_watcher, settle

    home = tmp_path / "h"
    path = store_path(home)
    path.parent.mkdir(parents=True)
    agent = sqlite3.connect(path, isolation_level=None)
    agent.execute("pragma journal_mode=wal")
    agent.execute("pragma wal_autocheckpoint=0")
    agent.executescript((CASES_DIR / "schema.sql").read_text() + (CASES_DIR / "multi-step" / "store.sql").read_text())
    clock = FakeClock()
    watcher = make_watcher(db, home, clock)
    try:
        watcher.start()  # the catch-up pass
        check_totals(db, expected_totals(CASES_DIR / "multi-step"))
        agent.executescript((CASES_DIR / "synthetic" / "store.sql").read_text())  # lands in opencode.db-wal
        watcher.handler.dispatch(FileModifiedEvent(f"{path}-wal"))
        settle(watcher, clock)
        multi, synthetic = expected_totals(CASES_DIR / "multi-step"), expected_totals(CASES_DIR / "synthetic")
        assert totals(db)["requests"] == multi["requests"] + synthetic["requests"]
    finally:
        watcher.close()
        agent.close()
