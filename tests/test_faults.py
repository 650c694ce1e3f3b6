"""Every fault a user can meet is one sentence and a non-zero exit, never a traceback (issue 15).

The store's faults are made for real where this machine allows (a read-only
file, a full store by SQLite's page limit, bytes overwritten in the file, a
store stamped by a newer version); the sentence is the outcome checked.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.store import database as store
from analyzer.store.schema import migration_names

from .analysis_helpers import add_hit, add_prompt, add_reading, add_request
from .claude_lines import transcript_path, turn, turn_totals
from .conftest import totals


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def one_sentence(result) -> str:
    """The error a command printed: exactly one line, no traceback, exit 1."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.output
    return errors[0]


def corpus(home: Path, turns: int = 3) -> dict:
    path = transcript_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(turn(i) for i in range(turns)))
    return turn_totals(turns)


def stored(path: Path) -> dict:
    db = store.open_db(path)
    try:
        return totals(db)
    finally:
        db.close()


def checkpoint(path: Path) -> None:
    """As when the commands' processes ended: their connections closed, the log folded into the file."""
    gc.collect()  # connections the in-process commands left open
    conn = sqlite3.connect(path)
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()


# --- the store ------------------------------------------------------------------------------


@contextmanager
def read_only(path: Path):
    """Make the store ``path`` and its folder read-only for this process: chmod, or (as root,
    whom modes do not stop) chattr +i. The folder too: SQLite writes beside the file (-wal)."""
    targets = [path, path.parent]
    if os.geteuid() != 0:
        os.chmod(path, 0o444)
        os.chmod(path.parent, 0o555)
        try:
            yield
        finally:
            os.chmod(path.parent, 0o755)
            os.chmod(path, 0o600)
        return
    if subprocess.run(["chattr", "+i", *map(str, targets)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr cannot make a file immutable")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, targets)], check=True)


def test_a_read_only_store_on_ingest_is_one_sentence(isolated_home, tmp_path):
    db_path = tmp_path / "ro" / "usage.db"
    corpus(isolated_home)
    assert run("ingest", "--db", str(db_path)).exit_code == 0
    checkpoint(db_path)
    (isolated_home / ".claude" / "projects" / "-home-u-proj" / "more.jsonl").write_bytes(
        b"".join(turn(i, session="5e55e55e-0000-4000-8000-0000000000aa") for i in range(5, 7))
    )
    with read_only(db_path):
        error = one_sentence(run("ingest", "--db", str(db_path)))
    assert f"the store {db_path} is read-only" in error and "write permission" in error


def test_a_full_disk_on_ingest_is_one_sentence_and_the_store_stays_whole(isolated_home, tmp_path, monkeypatch):
    db_path = tmp_path / "usage.db"
    expected = corpus(isolated_home, turns=400)  # a few hundred KB of rows
    store.open_db(db_path).close()
    real_connect = store.connect

    def small_disk(path, **kw):  # SQLite's page limit stands in for a full disk: the same SQLITE_FULL
        conn = real_connect(path, **kw)
        pages = conn.execute("pragma page_count").fetchone()[0]
        conn.execute(f"pragma max_page_count = {pages + 2}")
        return conn

    monkeypatch.setattr(store, "connect", small_disk)
    error = one_sentence(run("ingest", "--db", str(db_path)))
    assert "is full: free some space and run again" in error
    monkeypatch.setattr(store, "connect", real_connect)
    assert run("ingest", "--db", str(db_path)).exit_code == 0  # space freed: nothing lost, nothing twice
    got = stored(db_path)
    assert {k: got[k] for k in expected} == expected


def test_a_damaged_store_is_one_sentence_that_points_at_repair(isolated_home, tmp_path):
    db_path = tmp_path / "usage.db"
    corpus(isolated_home, turns=300)
    assert run("ingest", "--db", str(db_path)).exit_code == 0
    checkpoint(db_path)
    size = db_path.stat().st_size
    with open(db_path, "r+b") as f:  # garbage over the second half of the file, the header kept
        f.seek(size // 2)
        f.write(b"\xa5" * (size - size // 2))
    for args in (["ingest"], ["report", "daily"], ["db", "backup", str(tmp_path / "copy.db")], ["stats"]):
        error = one_sentence(run(*args, "--db", str(db_path)))
        assert "is damaged" in error and "analyzer db repair" in error, args


def test_a_file_that_is_not_a_store_is_one_sentence(tmp_path):
    bogus = tmp_path / "usage.db"
    bogus.write_bytes(b"this is a text file, not SQLite" * 100)
    error = one_sentence(run("report", "daily", "--db", str(bogus)))
    assert f"the store {bogus} is damaged (file is not a database)" in error


def test_a_store_locked_too_long_is_one_sentence(isolated_home, tmp_path, monkeypatch):
    from analyzer.ingest import ingester

    db_path = tmp_path / "usage.db"
    corpus(isolated_home)
    store.open_db(db_path).close()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("begin immediate")  # another program holds the write lock and keeps it
    monkeypatch.setattr(store, "BUSY_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(ingester.store, "BUSY_TIMEOUT_SECONDS", 0.2)
    real_connect = store.connect
    monkeypatch.setattr(store, "connect", lambda path, **kw: real_connect(path, timeout=0.2))
    try:
        error = one_sentence(run("ingest", "--db", str(db_path)))
    finally:
        holder.execute("rollback")
        holder.close()
    assert "locked" in error and "try again" in error


def test_a_missing_folder_is_said_not_silently_made(tmp_path):
    typo = tmp_path / "no-such-folder" / "usage.db"
    error = one_sentence(run("report", "daily", "--db", str(typo)))
    assert f"there is no store at {typo}: its folder {typo.parent} does not exist" in error
    assert not typo.parent.exists()
    made = run("ingest", "--db", str(typo))
    assert made.exit_code == 0
    assert f"New store: {typo} (its folder did not exist; created it)." in made.output


def test_debug_shows_the_traceback(tmp_path):
    bogus = tmp_path / "usage.db"
    bogus.write_bytes(b"not SQLite" * 100)
    plain = run("report", "daily", "--db", str(bogus))
    assert "Traceback" not in plain.output
    debug = run("--debug", "report", "daily", "--db", str(bogus))
    assert debug.exit_code != 0 and debug.exception is not None  # raised, so the traceback is shown
    assert "--debug" not in run("--help").output  # hidden


def test_an_unexpected_error_is_named_as_a_bug(tmp_path, monkeypatch):
    from analyzer.reports import usage

    def broken(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(usage, "daily", broken)
    error = one_sentence(run("report", "daily", "--json", "--db", str(tmp_path / "x.db")))
    assert "unexpected error: KeyError: 'oops' (a bug: run again with --debug" in error


# --- versions --------------------------------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_store_from_a_newer_version_is_refused_and_left_untouched(isolated_home, tmp_path):
    db_path = tmp_path / "usage.db"
    corpus(isolated_home)
    assert run("ingest", "--db", str(db_path)).exit_code == 0
    conn = sqlite3.connect(db_path)
    conn.execute("pragma user_version = 999")
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    before = _digest(db_path)
    ours = len(migration_names())
    for args in (["ingest"], ["report", "daily"], ["db", "backup", str(tmp_path / "b.db")], ["watch", "--once"]):
        error = one_sentence(run(*args, "--db", str(db_path)))
        assert f"its schema is version 999, and this analyzer (0.1.0) knows versions up to {ours}" in error, args
        assert "Nothing was written to it." in error
    assert _digest(db_path) == before
    assert not (tmp_path / "b.db").exists()


def test_an_unknown_migration_and_an_extra_column_are_refused(isolated_home, tmp_path):
    db_path = tmp_path / "usage.db"
    store.open_db(db_path).close()
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("alter table requests add column future_column text")
    conn.execute(
        "insert into _sqlite_migrations (migration_set, name, applied_at) values ('analyzer', 'm099_future', 'x')"
    )
    conn.execute("pragma user_version = 0")  # as a version that did not stamp it would leave it
    conn.close()
    before = _digest(db_path)
    error = one_sentence(run("report", "daily", "--db", str(db_path)))
    assert f"its schema is version {len(migration_names()) + 1}" in error and "m099_future" in error
    assert _digest(db_path) == before


def test_a_store_is_stamped_with_its_version(tmp_path):
    db = store.open_db(tmp_path / "usage.db")
    assert db.execute("pragma user_version").fetchone()[0] == len(migration_names())
    assert store.schema_version_of(db) == (len(migration_names()), [])


def test_the_statusline_writes_nothing_to_a_newer_store(tmp_path):
    from analyzer.plugins.claude_code.statusline import line

    db_path = tmp_path / "usage.db"
    store.open_db(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("pragma user_version = 999")
    conn.close()
    payload = {"model": {"id": "claude-sonnet-4-5"}, "rate_limits": {"five_hour": {"used_percentage": 10}}}
    out = line(json.dumps(payload), str(db_path))
    assert "store unavailable" in out
    conn = sqlite3.connect(db_path)
    assert conn.execute("select count(*) from quota_readings").fetchone()[0] == 0


# --- any row a store can hold ------------------------------------------------------------------

REPORTS = [
    ["report", "daily"],
    ["report", "daily", "--json"],
    ["report", "daily", "--csv"],
    ["report", "session"],
    ["report", "blocks"],
    ["report", "blocks", "--json"],
    ["report", "weekly"],
    ["report", "weekly", "--calendar"],
    ["report", "monthly"],
    ["report", "prompts"],
    ["report", "limits"],
    ["stats"],
    ["cost"],
    ["compare-plans"],
]
OTHERS = [["status"], ["status", "--json"], ["infer-limit"], ["db", "status"], ["db", "errors"], ["quota", "list"]]


@pytest.fixture(scope="module")
def odd_store(tmp_path_factory):
    """A store written before validation: years 9999 and 0001, a negative count, times that are no times."""
    path = tmp_path_factory.mktemp("odd") / "usage.db"
    db = store.open_db(path)
    add_request(db, "y9999", "9999-12-31T23:59:59.999Z", inp=100, out=5)
    add_request(db, "y0001", "0001-01-01T00:00:00.000Z", inp=100, out=5)
    add_request(db, "neg", "2026-07-03T10:00:00.000Z", inp=-999890, out=5)
    add_request(db, "junk", "garbage", inp=1, out=1, agent="codex")
    add_request(db, "empty", "", inp=1, out=1, agent="codex")
    add_request(db, "short-year", "1-01-01T00:00:00.000Z", inp=1, out=1)
    add_prompt(db, "p9999", "9999-12-31T23:59:59.000Z")
    add_prompt(db, "p0001", "0001-01-01T00:00:00.000Z")
    add_hit(db, "h9999", "9999-12-31T23:59:59.000Z", "9999-12-31T23:59:59.000Z", 300)
    add_hit(db, "h0001", "0001-01-01T00:00:00.000Z", "0001-01-01T00:00:00.000Z", 10080, agent="codex")
    add_reading(db, "r9999", "9999-12-31T23:59:59.000Z", 300, 50.0, "9999-12-31T23:59:59.000Z")
    add_reading(db, "r0001", "0001-01-01T00:00:00.000Z", 10080, 50.0, "0001-01-01T00:00:00.000Z")
    add_reading(db, "rjunk", "2026-07-03T10:00:00.000Z", 300, 1e308, "nonsense", agent="codex")
    db.close()
    return path


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "America/Adak"])
@pytest.mark.parametrize("args", REPORTS, ids=" ".join)
def test_every_report_survives_any_row_the_store_can_hold(odd_store, args, zone):
    result = run(*args, "--tz", zone, "--db", str(odd_store))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("args", OTHERS, ids=" ".join)
def test_status_and_the_rest_survive_any_row_the_store_can_hold(odd_store, args):
    result = run(*args, "--db", str(odd_store))
    assert result.exit_code == 0, result.output


def test_the_statusline_survives_any_row_and_any_input(odd_store):
    from analyzer.plugins.claude_code.statusline import line

    assert line('{"model": {"id": "claude-sonnet-4-5"}}', str(odd_store))
    for text in ("[" * 100_000, '{"a":' * 100_000, "\x00\xff", "1e999999"):
        done = subprocess.run(
            [sys.executable, "-m", "analyzer", "statusline", "--db", str(odd_store)],
            input=text.encode("utf-8", "surrogateescape"),
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0 and done.stdout.strip(), done.stderr
        assert b"Traceback" not in done.stderr
