"""``analyzer statusline``: the JSON Claude Code sends, the line, the readings it records, the fallbacks.

Token sums and ratios below are worked out by hand from the requests each test writes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from analyzer.plugins.claude_code import statusline as sl
from analyzer.plugins.claude_code import usage_window as uw
from analyzer.plugins.quota.keys import reading_key

from analyzer.accounts.store import ensure_accounts
from analyzer.contract.records import Request
from analyzer.store import database as store
from analyzer.store.writer import RecordWriter

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "statusline"
NOW = datetime(2026, 7, 3, 12, 0, 0, tzinfo=timezone.utc)
RESET_5H = int(datetime(2026, 7, 3, 15, 0, tzinfo=timezone.utc).timestamp())
RESET_7D = int(datetime(2026, 7, 8, 9, 0, tzinfo=timezone.utc).timestamp())
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def utc_clock(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def payload(name="full.json", **changes) -> dict:
    data = json.loads((FIXTURES / name).read_text())
    data.update(changes)
    return data


def limits(five=42, seven=36.5, five_reset=RESET_5H, seven_reset=RESET_7D) -> dict:
    return {
        "five_hour": {"used_percentage": five, "resets_at": five_reset},
        "seven_day": {"used_percentage": seven, "resets_at": seven_reset},
    }


def live_limits(five=42, seven=36.5) -> dict:
    """Limits resetting in the future of the real clock (for runs as a subprocess)."""
    now = int(time.time())
    return limits(five, seven, now + 7200, now + 3 * 86400)


def add_requests(db, *rows) -> None:
    """rows: (ts, model, input, cache_read, cache_write, output[, agent])."""
    writer = RecordWriter(db, source_id=None, machine=store.machine_id(db), keep_text=False)
    for i, (ts, model, inp, read, write, out, *agent) in enumerate(rows):
        writer.add(
            Request(
                key=f"k{i}-{ts}",
                agent=(agent or ["claude-code"])[0],
                session_id="s",
                ts=ts,
                model=model,
                input_tokens=inp,
                cache_read_tokens=read,
                cache_write_tokens=write,
                output_tokens=out,
            )
        )
    with store.transaction(db):
        writer.flush()
    ensure_accounts(db)  # as an ingest does: the statusline reads the accounts stored


def db_path(db) -> str:
    return db.conn.execute("pragma database_list").fetchone()[2]


def readings(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "select window_minutes, used_percent, resets_at, source, observed_at from quota_readings order by key"
        ).fetchall()


def test_line_with_rate_limits_uses_the_window_anchored_on_the_reset(db):
    add_requests(
        db,
        ("2026-07-03T10:30:00.000Z", "claude-sonnet-4-5-20250929", 100, 800, 100, 50),  # 1,050 in the window
        ("2026-07-03T11:59:00.000Z", "claude-opus-4-1", 200, 1800, 0, 150),  # 2,150 in the window
        ("2026-07-03T09:59:59.999Z", "claude-sonnet-4-5-20250929", 10000, 0, 0, 0),  # before 10:00: out
        ("2026-07-03T11:00:00.000Z", "glm-4.6", 5000, 0, 0, 0),  # another vendor's gateway: out
        ("2026-07-03T11:00:00.000Z", "gpt-5", 7000, 0, 0, 0, "codex"),  # another agent: out
    )
    text = sl.line(json.dumps(payload(rate_limits=limits())), db_path(db), NOW)
    # 3,200 tokens; cache 2,600 read of 3,000 read in (300 + 2,600 + 100) = 87%
    assert text == "Sonnet 4.5 · 5h 42% · 3.2k tok · resets 15:00 · 7d 36.5% · cache 87%"
    assert readings(db_path(db)) == [
        (10080, 36.5, "2026-07-08T09:00:00.000Z", "statusline", "2026-07-03T12:00:00.000Z"),
        (300, 42.0, "2026-07-03T15:00:00.000Z", "statusline", "2026-07-03T12:00:00.000Z"),
    ]


def test_repeats_are_one_row_and_a_change_is_a_new_one(db):
    path = db_path(db)
    sl.line(json.dumps(payload(rate_limits=limits())), path, NOW)
    later = datetime(2026, 7, 3, 12, 5, tzinfo=timezone.utc)
    jitter = limits(five_reset=RESET_5H + 1)  # the reset jitters by a second: the same window
    sl.line(json.dumps(payload(rate_limits=jitter)), path, later)
    assert len(readings(path)) == 2
    sl.line(json.dumps(payload(rate_limits=limits(five=43))), path, later)
    rows = readings(path)
    assert len(rows) == 3
    assert (300, 43.0, "2026-07-03T15:00:00.000Z", "statusline", "2026-07-03T12:05:00.000Z") in rows
    assert (300, 42.0, "2026-07-03T15:00:00.000Z", "statusline", "2026-07-03T12:00:00.000Z") in rows  # first seen kept


def test_without_rate_limits_the_window_is_estimated(db):
    add_requests(
        db,
        ("2026-07-02T20:00:00.000Z", "claude-sonnet-4-5", 50000, 0, 0, 0),  # a 10-hour gap before the next
        ("2026-07-03T06:20:00.000Z", "claude-sonnet-4-5", 300, 0, 0, 0),  # block 06:00-11:00
        ("2026-07-03T09:00:00.000Z", "claude-sonnet-4-5", 400, 0, 0, 0),
        ("2026-07-03T11:40:00.000Z", "claude-sonnet-4-5", 600, 300, 100, 0),  # 5h40 after 06:00: block 11:00-16:00
    )
    text = sl.line(json.dumps(payload("no-rate-limits.json")), db_path(db), NOW)
    # only the 11:40 request: 1,000 tokens, cache 300 / 1,000
    assert text == "Opus · 5h 1.0k tok (est. window to 16:00) · cache 30%"
    assert readings(db_path(db)) == []

    no_reset = {"five_hour": {"used_percentage": 12}}  # a percent without a reset time: the window is estimated
    text = sl.line(json.dumps(payload("no-rate-limits.json", rate_limits=no_reset)), db_path(db), NOW)
    assert text == "Opus · 5h 12% · 1.0k tok (est. window to 16:00) · cache 30%"
    assert readings(db_path(db)) == [(300, 12.0, None, "statusline", "2026-07-03T12:00:00.000Z")]
    idle = sl.line(
        json.dumps(payload("no-rate-limits.json")), db_path(db), datetime(2026, 7, 3, 16, 41, tzinfo=timezone.utc)
    )
    assert idle == "Opus · 5h idle"


def test_estimated_window_matches_the_block_rules():
    conn = sqlite3.connect(":memory:")
    conn.execute("create table requests (agent, account, ts, model)")
    stamps = [
        "2026-07-03T01:10:00.000Z",
        "2026-07-03T05:59:00.000Z",
        "2026-07-03T06:00:00.000Z",  # 01:00 block, ts at end stays
        "2026-07-03T06:00:00.001Z",
    ]  # just past 06:00: a new block at 06:00
    conn.executemany("insert into requests values ('claude-code', 'anthropic', ?, 'claude-x')", [(s,) for s in stamps])
    now = datetime(2026, 7, 3, 7, tzinfo=timezone.utc)
    w = uw.estimated(conn, "anthropic", now)
    assert (w.start, w.end, w.kind) == ("2026-07-03T06:00:00.000Z", "2026-07-03T11:00:00.000Z", "estimated")


def test_a_stored_reading_anchors_the_window_when_the_payload_has_none(db):
    path = db_path(db)
    add_requests(db, ("2026-07-03T10:01:00.000Z", "claude-opus-4-1", 1000, 0, 0, 500))
    sl.line(json.dumps(payload(rate_limits=limits())), path, NOW)
    text = sl.line(json.dumps(payload("no-rate-limits.json")), path, NOW)
    assert text == "Opus · 5h 42% · 1.5k tok · resets 15:00 · 7d 36.5% · cache 0%"


def test_a_reading_of_a_window_already_over_is_not_shown_as_current(db):
    past = int(datetime(2026, 7, 3, 11, tzinfo=timezone.utc).timestamp())
    text = sl.line(json.dumps(payload(rate_limits=limits(five=99, five_reset=past))), db_path(db), NOW)
    assert "99%" not in text and text.startswith("Sonnet 4.5 · 5h idle · 7d 36.5%")
    assert (300, 99.0, "2026-07-03T11:00:00.000Z", "statusline", "2026-07-03T12:00:00.000Z") in readings(db_path(db))


def test_inferred_limit_is_read_defensively_from_limit_estimates(db):
    add_requests(db, ("2026-07-03T10:30:00.000Z", "claude-opus-4-1", 1000, 2000, 0, 200))
    path = db_path(db)
    db.execute("drop table if exists limit_estimates")  # infer-limit's own table: replaced by this shape
    db.execute(
        'create table limit_estimates (agent text, account text, window_minutes int, quantity text, "limit" real,'
        " computed_at text)"
    )
    db.execute("insert into limit_estimates values ('claude-code', 'anthropic', 300, 'requests', 50, '2026-06-01')")
    db.execute(
        "insert into limit_estimates values"
        " ('claude-code', 'anthropic', 300, 'uncached_input_output', 4000, '2026-07-01')"
    )
    db.execute("insert into limit_estimates values ('codex', 'openai', 300, 'total_tokens', 1, '2026-07-02')")
    text = sl.line(json.dumps(payload(rate_limits=limits())), path, NOW)
    # newest for Claude's account / 300: uncached input + output = 1,000 + 200
    assert text.endswith("· limit 1.2k/4.0k uncached input output")
    db.execute("drop table limit_estimates")
    db.execute("drop table if exists limit_estimates")  # infer-limit's own table: replaced by this shape
    db.execute("create table limit_estimates (agent text, quantity text)")  # not the columns we need: ignored
    assert "limit" not in sl.line(json.dumps(payload(rate_limits=limits())), path, NOW)


def run_cli(args, stdin: bytes, env_extra=None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "analyzer", "statusline", *args],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


@pytest.mark.parametrize(
    "stdin, expected",
    [
        (b"", "analyzer: no statusline input"),
        (b"{not json", "analyzer: unreadable statusline input"),
        (b"[1, 2]", "analyzer: unreadable statusline input"),
        (b"\xff\xfe\x00garbage", "analyzer: unreadable statusline input"),
    ],
)
def test_bad_input_prints_a_short_line_and_exits_0(tmp_path, stdin, expected):
    done = run_cli(["--db", str(tmp_path / "x.db")], stdin)
    assert done.returncode == 0
    assert done.stdout.decode().strip() == expected


def test_missing_store_is_created_and_the_reading_recorded(tmp_path):
    path = tmp_path / "new" / "usage.db"
    done = run_cli(["--db", str(path)], json.dumps(payload(rate_limits=live_limits())).encode())
    assert done.returncode == 0
    assert done.stdout.decode().startswith("Sonnet 4.5 · 5h 42%")
    assert [r[:2] for r in readings(path)] == [(10080, 36.5), (300, 42.0)]


def test_unusable_or_corrupt_store_prints_a_fallback_and_exits_0(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    for path in (blocker / "usage.db", corrupt):
        done = run_cli(["--db", str(path)], json.dumps(payload(rate_limits=live_limits())).encode())
        assert done.returncode == 0
        assert done.stdout.decode().strip() == "Sonnet 4.5 · 5h 42% · 7d 36.5% · store unavailable"
        assert done.stderr == b""


def test_locked_store_spools_the_reading_and_writes_it_next_time(db):
    path = db_path(db)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("begin immediate")
    try:
        busy = sl.line(json.dumps(payload(rate_limits=limits(five=42))), path, NOW)
    finally:
        blocker.execute("rollback")
        blocker.close()
    assert busy.startswith("Sonnet 4.5 · 5h 42% · 0 tok") and busy.endswith("· store busy")
    assert readings(path) == []
    assert Path(path + "-statusline-spool.jsonl").exists()
    later = datetime(2026, 7, 3, 12, 1, tzinfo=timezone.utc)
    sl.line(json.dumps(payload(rate_limits=limits(five=44))), path, later)
    rows = readings(path)
    assert {(r[0], r[1], r[4]) for r in rows} == {
        (300, 42.0, "2026-07-03T12:00:00.000Z"),
        (10080, 36.5, "2026-07-03T12:00:00.000Z"),
        (300, 44.0, "2026-07-03T12:01:00.000Z"),
    }
    assert not Path(path + "-statusline-spool.jsonl").exists()


def test_the_fast_path_imports_neither_click_nor_pluggy(db):
    code = (
        "import sys; sys.argv = ['analyzer', 'statusline', '--db', sys.argv[1]];"
        "import analyzer.__main__ as m; m.main();"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'click', 'pluggy', 'sqlite_utils', 'platformdirs', 'orjson'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, db_path(db)],
        input=json.dumps(payload()).encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines()[-1] == "[]"


def test_help_and_unknown_options_reach_click():
    done = run_cli(["--help"], b"")
    assert done.returncode == 0 and b"Claude Code status line" in done.stdout
    done = run_cli(["--frobnicate"], b"")
    assert done.returncode == 2 and b"No such option" in done.stderr


def test_then_chains_another_status_line_first(tmp_path):
    done = run_cli(
        ["--db", str(tmp_path / "s.db"), "--then", "cat >/dev/null; echo theirs"],
        json.dumps(payload(rate_limits=live_limits())).encode(),
    )
    lines = done.stdout.decode().splitlines()
    assert done.returncode == 0 and lines[0] == "theirs" and lines[1].startswith("Sonnet 4.5 · 5h 42%")


def test_default_db_path_matches_the_store(monkeypatch, tmp_path):
    monkeypatch.delenv("ANALYZER_DB")
    for xdg in (None, str(tmp_path / "xdg"), "  "):
        if xdg is None:
            monkeypatch.delenv("XDG_DATA_HOME", raising=False)
        else:
            monkeypatch.setenv("XDG_DATA_HOME", xdg)
        assert sl.default_db_path(os.environ) == str(store.default_db_path())
    assert sl.APP_NAME == store.APP_NAME
    monkeypatch.setenv("ANALYZER_DB", "~/x.db")
    assert sl.default_db_path(os.environ) == str(store.default_db_path())


def test_reading_keys_round_the_reset_to_the_minute():
    a = reading_key("claude-code", "endpoint", 300, None, "2025-11-25T22:00:00.288Z", 19.0)
    b = reading_key("claude-code", "endpoint", 300, None, "2025-11-25T21:59:59.571Z", 19)
    assert a == b == "claude-code:endpoint:300::2025-11-25T22:00:19"
    assert reading_key("codex", "log", None, "x", None, 3.3800000000000003) == "codex:log::x::3.38"
