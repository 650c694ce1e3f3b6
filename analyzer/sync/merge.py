"""Merging another machine's snapshot into the local store: checked first, then written by the writer's rules.

A snapshot found in the folder is read only when it is whole and ours to read:

* it is a complete SQLite file (its header's page count times its page size
  is its length: a file still arriving through Syncthing or Dropbox, or cut
  short, is not) and SQLite's ``quick_check`` finds it sound;
* its ``manifest`` names a format this analyzer reads (a newer one is refused
  with a sentence saying to upgrade), a machine other than this one, and row
  counts its tables hold;
* it is not the snapshot already merged (the ``machines`` row remembers when
  the merged one was made): merging is idempotent anyway, this only saves time.

A snapshot that fails a check is skipped with the reason, and read again on the
next sync. One that passes is merged in one transaction with
``analyzer.store.writer.write_rows``: keyed upserts, nothing deleted, the best
copy of a request kept, every row keeping the ``machine_id`` it was read on.
Each row passes the rules every record passes where the writer takes it
(``analyzer.contract.validation``); one that fails (another machine's store
written before the rules, a damaged value) is left out and counted.
Merged requests are priced and attributed afterwards by this store's own files.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from analyzer.contract.records import LimitHit, Prompt, QuotaReading, Request, Session
from analyzer.contract.validation import Validator
from analyzer.store.writer import RECORD_COLUMNS, write_rows
from analyzer.sync.snapshot import FORMAT

if TYPE_CHECKING:
    from analyzer.store.database import Store

HEADER = b"SQLite format 3\x00"


class SnapshotSkipped(Exception):
    """A snapshot that cannot be read now (incomplete, corrupt, not ours): tried again next time."""


class SnapshotRefused(SnapshotSkipped):
    """A snapshot this analyzer cannot read at all (a newer format): upgrade to merge it."""


@dataclass
class Merged:
    """What merging one snapshot did."""

    path: Path
    machine_id: str
    name: str | None
    created_at: str
    read: dict[str, int] = field(default_factory=dict)  # rows in the snapshot, per table
    new: dict[str, int] = field(default_factory=dict)  # rows this store did not have
    refused: dict[str, int] = field(default_factory=dict)  # rows no record may hold (validation)
    already: bool = False  # the same snapshot was merged before


RECORDS = {
    "sessions": Session,
    "requests": Request,
    "prompts": Prompt,
    "limit_hits": LimitHit,
    "quota_readings": QuotaReading,
}
RENAMED = {"source_account": "account"}  # a reading's ``account`` field is stored as ``source_account``
JSON = {"raw_usage", "raw"}


def valid_rows(table: str, columns: tuple[str, ...], rows: Iterable[tuple], counts: dict) -> Iterator[tuple]:
    """The rows whose record passes validation; ``counts[table]`` counts the others."""
    kind, check = RECORDS[table], Validator()
    known = {f.name for f in fields(kind)}
    counts[table] = 0
    for row in rows:
        values = {}
        for name, value in zip(columns, row):
            name = RENAMED.get(name, name)
            if name in known:
                if name in JSON and isinstance(value, str):
                    try:
                        value = orjson.loads(value)
                    except orjson.JSONDecodeError:
                        value = value  # not an object: the check says so
                values[name] = value if not (name == "text" and value is None) else ""
        try:
            problem = check.problem(kind(**values))
        except TypeError as exc:  # a required field missing
            problem = str(exc)
        if problem is None:
            yield row
        else:
            counts[table] += 1


def check_file(path: Path) -> None:
    """Raise ``SnapshotSkipped`` unless ``path`` is a whole SQLite file (by its header's own size)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise SnapshotSkipped(f"cannot be read ({exc.strerror or exc})") from exc
    if len(head) < 100 or not head.startswith(HEADER):
        raise SnapshotSkipped("not a complete SQLite file (still being copied, or damaged)")
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(head[28:32], "big")
    valid = head[24:28] == head[92:96]  # the header's page count is kept up to date
    if valid and pages * page != size:
        raise SnapshotSkipped(f"{size:,} bytes of {pages * page:,}: still being copied, or cut short")


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        if conn.execute("pragma quick_check").fetchone()[0] != "ok":
            raise SnapshotSkipped("damaged (SQLite's quick_check failed)")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise SnapshotSkipped(f"damaged ({exc})") from exc
    except SnapshotSkipped:
        conn.close()
        raise
    return conn


def read_manifest(conn: sqlite3.Connection, local_machine: str) -> dict:
    """The snapshot's manifest, checked: its format, its machine, its row counts."""
    try:
        manifest = dict(conn.execute("select key, value from manifest").fetchall())
    except sqlite3.DatabaseError as exc:
        raise SnapshotSkipped(f"no manifest ({exc})") from exc
    try:
        version = int(manifest.get("format", ""))
        counts = orjson.loads(manifest["counts"])
        machine = manifest["machine_id"]
    except (KeyError, ValueError, orjson.JSONDecodeError) as exc:
        raise SnapshotSkipped("its manifest is incomplete") from exc
    if version > FORMAT:
        raise SnapshotRefused(
            f"written by a newer analyzer (snapshot format {version}; this one reads up to {FORMAT}):"
            " upgrade analyzer on this machine to merge it"
        )
    if machine == local_machine:
        raise SnapshotSkipped(
            "it carries this store's own machine id: a copy of this store is syncing from another machine"
            " (give that copy its own store)"
        )
    tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    for table, expected in counts.items():
        have = conn.execute(f"select count(*) from {table}").fetchone()[0] if table in tables else None
        if have != expected:
            raise SnapshotSkipped(f"holds {have} of its {expected} {table.replace('_', ' ')}: incomplete")
    return {**manifest, "counts": counts, "machine_id": machine}


def merge_snapshot(db: Store, path: Path, local_machine: str) -> Merged:
    """Merge one snapshot into the store (raises ``SnapshotSkipped`` or ``SnapshotRefused``, changing nothing)."""
    check_file(path)
    conn = _open(path)
    try:
        manifest = read_manifest(conn, local_machine)
        machine = manifest["machine_id"]
        done = Merged(path, machine, manifest.get("machine_name") or None, manifest.get("created_at") or "")
        seen = db.execute("select snapshot_at from machines where machine_id = ?", [machine]).fetchone()
        if seen and seen[0] == done.created_at:
            done.already = True
            return done
        with db.atomic():
            for table, columns in RECORD_COLUMNS.items():
                present = {r[1] for r in conn.execute(f"pragma table_info({table})")}
                chosen = ", ".join(c if c in present else "null" for c in columns)
                before = db.execute(f"select count(*) from {table}").fetchone()[0]
                rows = valid_rows(table, columns, conn.execute(f"select {chosen} from {table}"), done.refused)
                done.read[table] = manifest["counts"].get(table, 0)
                write_rows(db.conn, table, rows)
                done.new[table] = db.execute(f"select count(*) from {table}").fetchone()[0] - before
            now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            db.execute(
                "insert into machines (machine_id, name, first_seen, snapshot_at, synced_at) values (?, ?, ?, ?, ?)"
                " on conflict(machine_id) do update set name = coalesce(excluded.name, machines.name),"
                " snapshot_at = excluded.snapshot_at, synced_at = excluded.synced_at",
                [machine, done.name, now, done.created_at, now],
            )
    except sqlite3.DatabaseError as exc:
        if any(word in str(exc) for word in ("locked", "busy", "readonly", "disk")):
            raise  # this store's trouble, not the snapshot's (nothing was written: one transaction)
        raise SnapshotSkipped(f"damaged ({exc})") from exc
    finally:
        conn.close()
    return done
