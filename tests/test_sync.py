"""Machines: two stores, each with half of one account's usage, brought together through a synced folder."""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.inference import infer
from analyzer.store import database as store
from analyzer.store.writer import RECORD_COLUMNS
from analyzer.sync import SyncError, sync
from analyzer.sync.snapshot import FORMAT, LOCAL_ONLY, file_name

from .conftest import ingest_home
from .glm_home import glm_home, halves

TABLES = ("requests", "prompts", "limit_hits", "quota_readings")


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    root = tmp_path_factory.mktemp("machines")
    whole = glm_home(root, 1).home
    laptop, desktop = halves(root, 1)
    return whole, laptop, desktop


def _store(path, home):
    db = store.open_db(path)
    ingest_home(db, home)
    return db


def rows(db, *, machines: bool = True) -> dict:
    """Every row of the four tables, in the columns a record says (and its account), in key order."""
    out = {}
    for table in TABLES:
        columns = [c for c in RECORD_COLUMNS[table] if c not in LOCAL_ONLY and (machines or c != "machine_id")]
        out[table] = db.execute(f"select {', '.join(columns)}, account from {table} order by key").fetchall()
    return out


def _estimates(db) -> list:
    keep = ("account", "window_minutes", "method", "candidate", "limit", "low", "high")
    return [(tuple(e.get(k) for k in keep), e["evidence"]["hits"]) for e in infer(db)]


@pytest.fixture
def machines(tmp_path, homes):
    whole, laptop, desktop = homes
    folder = tmp_path / "Sync"
    folder.mkdir()
    a = _store(tmp_path / "laptop.db", laptop)
    b = _store(tmp_path / "desktop.db", desktop)
    return a, b, folder


@pytest.mark.parametrize("order", ["laptop first", "desktop first"])
def test_both_stores_end_with_identical_rows_and_the_single_machine_answer(tmp_path, homes, machines, order):
    whole, _, _ = homes
    a, b, folder = machines
    assert rows(a)["requests"] and rows(b)["requests"] and not set(rows(a)["requests"]) & set(rows(b)["requests"])
    first, second = (a, b) if order == "laptop first" else (b, a)
    for _ in range(2):  # twice over
        sync(first, folder)
        sync(second, folder)
    assert rows(a) == rows(b)  # every row, with the machine it was read on and its account
    single = _store(tmp_path / "single.db", whole)
    assert rows(a, machines=False) == rows(single, machines=False)
    machine_ids = {m for (m,) in a.execute("select distinct machine_id from requests")}
    assert machine_ids == {store.machine_id(a), store.machine_id(b)}
    # infer-limit on either store is the single machine's answer
    assert _estimates(a) == _estimates(b) == _estimates(single)
    [(estimate, hits)] = [e for e in _estimates(a) if e[0][1] == 300]
    assert estimate[0] == "zai" and estimate[3] == "requests" and hits > 3


def test_merging_again_changes_nothing(machines):
    a, b, folder = machines
    sync(a, folder)
    sync(b, folder)
    before = rows(b)
    again = sync(b, folder)
    assert [m.already for m in again.merged] == [True] and again.written_counts is None
    assert rows(b) == before


def _copy_as_another_machine(snapshot, folder):
    other = uuid.uuid4().hex
    target = folder / file_name(other)
    shutil.copy(snapshot, target)
    return other, target


def test_a_truncated_snapshot_changes_nothing_and_is_reported(machines):
    a, b, folder = machines
    written = sync(b, folder).written
    sync(a, folder)
    before = rows(a)
    _, target = _copy_as_another_machine(written, folder)
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])  # half-synced
    result = sync(a, folder)
    assert [(p.name, why) for p, why in result.skipped] == [
        (target.name, f"{len(data) // 2:,} bytes of {len(data):,}: still being copied, or cut short")
    ]
    assert rows(a) == before
    out = CliRunner().invoke(cli, ["sync", "--db", _path(a)])
    assert out.exit_code == 0
    assert f"Warning: skipped {target.name}: " in out.output and "read again next time" in out.output
    target.write_bytes(data)  # the rest arrives: read next time (the same rows as the desktop's: nothing new)
    result = sync(a, folder)
    assert not result.skipped and rows(a)["requests"] == before["requests"]


def test_damaged_incomplete_foreign_and_newer_snapshots(machines):
    a, b, folder = machines
    written = sync(b, folder).written
    before = rows(a)
    (folder / file_name(uuid.uuid4().hex)).write_bytes(b"not a database at all, just some bytes" * 10)
    # counts that say more rows than the file holds
    _, short = _copy_as_another_machine(written, folder)
    with sqlite3.connect(short) as conn:
        counts = json.loads(conn.execute("select value from manifest where key = 'counts'").fetchone()[0])
        counts["requests"] += 1
        conn.execute("update manifest set value = ? where key = 'counts'", [json.dumps(counts)])
        conn.execute("update manifest set value = ? where key = 'machine_id'", [short.name[9:41]])
    # a newer analyzer's
    newer_id, newer = _copy_as_another_machine(written, folder)
    with sqlite3.connect(newer) as conn:
        conn.execute("update manifest set value = ? where key = 'format'", [str(FORMAT + 1)])
        conn.execute("update manifest set value = ? where key = 'machine_id'", [newer_id])
    # this store's own id, in a snapshot from somewhere else (a copy of this store syncing elsewhere)
    mine = folder / "elsewhere"
    mine.mkdir()
    shutil.copy(written, mine / "x")
    with sqlite3.connect(mine / "x") as conn:
        conn.execute("update manifest set value = ? where key = 'machine_id'", [store.machine_id(a)])
    result = sync(a, folder, write=False)
    reasons = {p.name: why for p, why in result.skipped}
    assert any("not a complete SQLite file" in why for why in reasons.values())
    assert reasons[short.name].endswith("requests: incomplete")
    assert [(p.name, why) for p, why in result.refused] == [
        (
            newer.name,
            f"written by a newer analyzer (snapshot format {FORMAT + 1}; this one reads up to {FORMAT}):"
            " upgrade analyzer on this machine to merge it",
        )
    ]
    assert [m.machine_id for m in result.merged] == [store.machine_id(b)]
    stray = folder / file_name(uuid.uuid4().hex)
    shutil.copy(mine / "x", stray)
    result = sync(a, folder, write=False)
    assert "this store's own machine id" in {p.name: why for p, why in result.skipped}[stray.name]
    assert set(rows(a)["requests"]) == set(before["requests"]) | set(rows(b)["requests"])


def _path(db) -> str:
    return db.conn.execute("pragma database_list").fetchone()[2]


def test_the_store_never_lives_in_the_synced_folder(tmp_path):
    folder = tmp_path / "Dropbox"
    folder.mkdir()
    db = store.open_db(folder / "usage.db")
    with pytest.raises(SyncError, match="is inside the sync folder"):
        sync(db, folder)
    out = CliRunner().invoke(cli, ["sync", "--db", str(folder / "usage.db"), "--folder", str(folder)])
    assert out.exit_code == 1 and "two machines must never write one SQLite file" in out.output
    assert "Traceback" not in out.output


def test_the_folder_is_remembered_and_db_status_lists_the_machines(machines):
    a, b, folder = machines
    CliRunner().invoke(cli, ["sync", "--db", _path(b), "--folder", str(folder)])
    out = CliRunner().invoke(cli, ["sync", "--db", _path(a), "--folder", str(folder)])
    assert out.exit_code == 0 and "Merged " in out.output
    out = CliRunner().invoke(cli, ["sync", "--db", _path(a)])  # the folder it remembers
    assert out.exit_code == 0 and "already merged" in out.output
    status = json.loads(CliRunner().invoke(cli, ["db", "status", "--db", _path(a), "--json"]).output)
    found = {m["machine_id"]: m for m in status["machines"]}
    assert set(found) == {store.machine_id(a), store.machine_id(b)}
    assert found[store.machine_id(a)]["this_machine"] and found[store.machine_id(b)]["synced_at"]
    assert found[store.machine_id(b)]["requests"] == len(rows(b)["requests"])
    assert status["sync_folder"] == str(folder.resolve())
    out = CliRunner().invoke(cli, ["sync", "--db", _path(a), "--forget"])
    assert "forgotten" in out.output
    out = CliRunner().invoke(cli, ["sync", "--db", _path(a)])
    assert out.exit_code == 1 and "no sync folder" in out.output


def test_prompt_text_and_local_file_offsets_never_leave_the_machine(machines):
    a, _, folder = machines
    a.execute("update prompts set text = 'secret words'")
    written = sync(a, folder).written
    with sqlite3.connect(written) as conn:
        assert conn.execute("select count(*) from prompts").fetchone()[0] > 0
        assert conn.execute("select count(*) from prompts where text is not null").fetchone()[0] == 0
        assert conn.execute("select count(*) from requests where source_id is not null").fetchone()[0] == 0
    assert oct(written.stat().st_mode & 0o777) == "0o600"


def test_watch_syncs_every_few_minutes(machines):
    from analyzer.sync import watch_task

    a, b, folder = machines
    sync(b, folder)
    task = watch_task(15, folder)
    assert (task.name, task.interval) == ("sync", 900.0)
    task.run(a)
    assert rows(a)["requests"] and set(rows(b)["requests"]) <= set(rows(a)["requests"])


def test_a_row_no_record_may_hold_is_left_out_and_counted(machines):
    """Every merged row passes the rules the writer applies to every record (here: a count of -5)."""
    a, b, folder = machines
    written = sync(b, folder).written
    other, copy = _copy_as_another_machine(written, folder)
    with sqlite3.connect(copy) as conn:
        conn.execute("update manifest set value = ? where key = 'machine_id'", [other])
        conn.execute("update requests set key = key || ':copy', machine_id = ?", [other])
        conn.execute("update requests set output_tokens = -5 where rowid = 1")
        kept = conn.execute("select count(*) - 1 from requests").fetchone()[0]
    result = sync(a, folder, write=False)
    [merged] = [m for m in result.merged if m.machine_id == other]
    assert (merged.refused["requests"], merged.new["requests"]) == (1, kept)
    assert a.execute("select count(*) from requests where output_tokens < 0").fetchone()[0] == 0
