"""A machine's snapshot: its own rows, as one SQLite file, written aside and renamed into the folder.

The file ``analyzer-<machine id>.sqlite`` holds the rows this machine read from
its agents' logs (``machine_id`` is this store's), in the columns a record
says (``analyzer.store.writer.RECORD_COLUMNS``), and a ``manifest`` table: the
snapshot format, the machine's id and name, when it was made, and how many
rows of each table it holds (a reader checks them). What stays local: prompt
text (only its hash and length travel), the source files' ids and offsets,
prices and accounts (each store prices and attributes with its own files).

It is consistent: the rows are copied in one read transaction of the store.
It is atomic: written to a hidden temporary name in the same folder, synced to
disk, then renamed over the previous one, so a reader (or Syncthing, Dropbox)
never sees a half-written snapshot under the final name. It is rewritten only
when this machine's rows changed since the last one (``meta.sync_fingerprint``).
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from analyzer.store import database as store
from analyzer.store.writer import RECORD_COLUMNS

if TYPE_CHECKING:
    from analyzer.store.database import Store

FORMAT = 1  # raised when a snapshot's meaning changes; a reader refuses formats newer than its own
PREFIX, SUFFIX = "analyzer-", ".sqlite"
LOCAL_ONLY = {"source_id", "source_offset", "text"}  # never leave this machine


def file_name(machine_id: str) -> str:
    return f"{PREFIX}{machine_id}{SUFFIX}"


def fingerprint(db: Store, machine: str) -> str:
    """What this machine's rows are now: counts, highest row ids and token sums of each table."""
    parts = []
    for table in RECORD_COLUMNS:
        sums = ", total(output_tokens + input_tokens + cache_read_tokens)" if table == "requests" else ""
        row = db.execute(
            f"select count(*), coalesce(max(rowid), 0){sums} from {table} where machine_id = ?", [machine]
        ).fetchone()
        parts.append(f"{table}:{':'.join(map(str, row))}")
    return ";".join(parts)


def write_snapshot(db: Store, folder: Path, *, force: bool = False) -> tuple[Path, dict | None]:
    """Write this machine's snapshot into ``folder``; (its path, its row counts), or counts None when it was
    already up to date."""
    machine = store.machine_id(db)
    target = folder / file_name(machine)
    now_print = fingerprint(db, machine)
    if not force and target.exists() and store.get_meta(db, "sync_fingerprint") == now_print:
        return target, None
    name = db.execute("select name from machines where machine_id = ?", [machine]).fetchone()
    aside = folder / f".{file_name(machine)}.{os.getpid()}.tmp"
    aside.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    try:
        os.close(os.open(aside, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))  # readable by its owner, as the store
        snap = sqlite3.connect(aside, isolation_level=None)
        try:
            snap.execute("pragma journal_mode = delete")
            snap.execute("create table manifest (key text primary key, value text)")
            for table, columns in RECORD_COLUMNS.items():
                snap.execute(f"create table {table} ({', '.join(columns)})")
            db.conn.execute("attach database ? as snap", [str(aside)])
            try:
                db.conn.execute("begin")  # one read transaction of the store: a consistent copy
                try:
                    for table, columns in RECORD_COLUMNS.items():
                        chosen = ", ".join("null" if c in LOCAL_ONLY else c for c in columns)
                        cur = db.conn.execute(
                            f"insert into snap.{table} ({', '.join(columns)})"
                            f" select {chosen} from main.{table} where machine_id = ?",
                            [machine],
                        )
                        counts[table] = cur.rowcount
                    db.conn.execute("commit")
                except BaseException:
                    db.conn.execute("rollback")
                    raise
            finally:
                db.conn.execute("detach database snap")
            made = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            manifest = {
                "format": FORMAT,
                "machine_id": machine,
                "machine_name": name[0] if name else None,
                "created_at": made,
                "counts": orjson.dumps(counts).decode(),
                "fingerprint": now_print,
            }
            snap.executemany("insert into manifest values (?, ?)", [(k, str(v)) for k, v in manifest.items()])
        finally:
            snap.close()
        with open(aside, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(aside, target)  # atomic: readers see the old snapshot or the new one, whole
    finally:
        aside.unlink(missing_ok=True)
    store.set_meta(db, "sync_fingerprint", now_print)
    db.execute(
        "update machines set snapshot_at = ?, synced_at = ? where machine_id = ?",
        [manifest["created_at"], manifest["created_at"], machine],
    )
    return target, counts
