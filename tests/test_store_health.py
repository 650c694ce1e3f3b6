"""``analyzer db check`` and ``analyzer db repair`` (issue 15)."""

from __future__ import annotations

import gc
import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.store import database as store

from .analysis_helpers import add_request
from .claude_lines import transcript_path, turn, turn_totals
from .conftest import totals


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def corpus(home: Path, turns: int) -> dict:
    path = transcript_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(turn(i) for i in range(turns)))
    return turn_totals(turns)


def check_json(db_path: Path, *extra: str) -> tuple[int, dict]:
    result = run("db", "check", "--json", *extra, "--db", str(db_path))
    return result.exit_code, json.loads(result.output)


def damage_second_half(db_path: Path) -> None:
    gc.collect()  # connections the in-process commands left open
    conn = sqlite3.connect(db_path)
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    size = db_path.stat().st_size
    with open(db_path, "r+b") as f:
        f.seek(size // 2)
        f.write(b"\xa5" * (size - size // 2))


def test_a_healthy_store_passes_with_totals_per_file(isolated_home, tmp_path):
    db_path = tmp_path / "usage.db"
    expected = corpus(isolated_home, 5)
    assert run("ingest", "--db", str(db_path)).exit_code == 0
    code, got = check_json(db_path)
    assert code == 0 and got["ok"] and got["integrity"] == ["ok"] and got["problems"] == []
    (source,) = got["sources"]
    tokens = sum(expected[k] for k in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens"))
    assert source["path"] == str(transcript_path(isolated_home))
    assert (source["requests"], source["tokens"], source["stored_tokens"]) == (expected["requests"], tokens, tokens)
    text = run("db", "check", "--db", str(db_path)).output
    assert f"Re-read:    1 files still on disk give {expected['requests']} requests" in text
    assert "The store is whole." in text


def test_rows_missing_from_the_store_are_found_per_file(isolated_home, tmp_path):
    db_path = tmp_path / "usage.db"
    corpus(isolated_home, 5)
    run("ingest", "--db", str(db_path))
    db = store.open_db(db_path)
    db.execute("delete from requests where key in (select key from requests order by key limit 2)")  # lost rows
    db.execute("update requests set output_tokens = 0 where key = (select max(key) from requests)")  # a worse copy
    db.close()
    code, got = check_json(db_path)
    assert code == 1 and not got["ok"]
    (source,) = got["sources"]
    assert (source["missing"], source["worse"]) == (2, 1)
    assert "the store lacks 2 of them and holds a less complete copy of 1" in got["problems"][0]
    # Appended lines the store has not read yet are not a difference: only what it consumed is compared.
    with open(transcript_path(isolated_home), "ab") as f:
        f.write(turn(50))
    assert check_json(db_path)[1]["sources"][0]["requests"] == 10


def test_orphans_and_implausible_rows_are_counted(tmp_path):
    db_path = tmp_path / "usage.db"
    db = store.open_db(db_path)
    add_request(db, "neg", "2026-07-03T10:00:00.000Z", inp=-5)
    add_request(db, "future", "9999-01-01T00:00:00.000Z", inp=5)
    db.execute(
        "insert into ingest_errors (source_id, offset, kind, reason, first_seen) values (42, 0, 'corrupt', 'x', 'y')"
    )
    db.execute("update requests set source_id = 7 where key = 'neg'")
    db.close()
    code, got = check_json(db_path, "--quick")
    assert code == 1
    assert got["orphans"]["requests"] == 1 and got["orphans"]["skipped lines"] == 1
    assert got["implausible"]["requests"] == 2
    text = run("db", "check", "--quick", "--db", str(db_path)).output
    assert "Fix: `analyzer db repair` rebuilds the store and leaves such rows out." in text


def test_a_damaged_store_is_found_repaired_and_filled_again_from_the_logs(isolated_home, tmp_path):
    db_path = tmp_path / "usage.db"
    expected = corpus(isolated_home, 300)
    assert run("ingest", "--db", str(db_path)).exit_code == 0
    damage_second_half(db_path)
    check = run("db", "check", "--db", str(db_path))
    assert check.exit_code == 1 and "Integrity:  DAMAGED" in check.output
    assert "Fix: `analyzer db repair`" in check.output

    repaired = run("db", "repair", "--yes", "--db", str(db_path))
    assert repaired.exit_code == 0, repaired.output
    aside = next(p for p in tmp_path.glob("usage.db.damaged-*") if not p.name.endswith(("-wal", "-shm")))
    assert f"The damaged store is kept at {aside}." in repaired.output
    assert "requests: " in repaired.output and "rows saved" in repaired.output
    assert "Run `analyzer ingest` now" in repaired.output
    assert run("db", "check", "--quick", "--db", str(db_path)).exit_code == 0  # a whole store again

    assert run("ingest", "--db", str(db_path)).exit_code == 0  # the logs still on disk fill it again
    db = store.open_db(db_path)
    got = totals(db)
    assert {k: got[k] for k in expected} == expected
    assert check_json(db_path)[0] == 0


def test_repair_counts_saved_lost_and_refused_rows(tmp_path):
    from analyzer.store.repair import repair

    db_path = tmp_path / "usage.db"
    db = store.open_db(db_path)
    for i in range(50):
        add_request(db, f"k{i:03d}", "2026-07-03T10:00:00.000Z", inp=i)
    add_request(db, "neg", "2026-07-03T10:00:00.000Z", inp=-1)
    machine = store.machine_id(db)
    db.close()
    result = repair(db_path)
    requests = next(t for t in result.tables if t.name == "requests")
    assert (requests.saved, requests.lost, requests.refused) == (50, 0, 1)
    assert result.aside.exists()
    db = store.open_db(db_path)
    assert totals(db)["input_tokens"] == sum(range(50))
    assert store.machine_id(db) == machine  # the store keeps its identity
