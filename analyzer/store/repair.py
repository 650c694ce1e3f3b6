"""``analyzer db repair``: recover what SQLite can read from a damaged store into a new one.

How, and why this way: SQLite's own ``.recover`` lives in the ``sqlite3``
command-line shell (and its recovery extension), which Python's ``sqlite3``
module does not include and many machines do not have. Python's
``Connection.iterdump`` stops at the first page it cannot read. So the repair
reads each table itself, by ranges of rowids: a range that raises is split in
halves until the unreadable rows are pinned down, and every row SQLite can
still return is saved. The damaged file (with its ``-wal`` and ``-shm``) is
renamed aside first and only read; the new store is made at the old path with
the current schema, and rows are copied into it (``insert or ignore``: a key
seen twice keeps its first copy).

Rows that today's validation would refuse (``IMPLAUSIBLE``: a negative or
absurd count, a time before 2020 or after tomorrow, text that is no time),
written before validation existed, are left out and counted as refused.

What was lost is counted per table: rows in ranges that raised, and gaps in
the rowids between the rows saved (the analyser never deletes rows from the
tables it fills, so a gap is a row that could not be read). Every source's
offset is then reset, so the next ``analyzer ingest`` reads every file still on
disk again from the start: whatever those files hold comes back (upserts make
that safe), and only rows from files since deleted are lost for good.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from analyzer.contract.timeutil import format_utc, now_utc
from analyzer.contract.validation import EARLIEST, FUTURE, TOKEN_LIMIT
from analyzer.store.faults import StoreError

WINDOW = 4096  # rowids read per query while nothing fails
SKIP_TABLES = ("_sqlite_migrations",)  # the new store's own
SKIP_META = ("schema_stamp",)


def _bad_time(column: str) -> str:
    return f"({column} is null or {column} < '{EARLIEST}' or {column} > :latest or length({column}) != 24)"


_BAD_COUNTS = " or ".join(
    f"{c} < 0 or {c} > {TOKEN_LIMIT} or typeof({c}) != 'integer'"
    for c in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
)

# Per table, the rows validation would refuse today (``:latest`` is now + 1 day), as SQL.
IMPLAUSIBLE: dict[str, str] = {
    "requests": f"({_BAD_COUNTS} or {_bad_time('ts')})",
    "prompts": _bad_time("ts"),
    "limit_hits": _bad_time("ts"),
    "quota_readings": f"({_bad_time('observed_at')} or used_percent < 0 or used_percent > 10000)",
}


@dataclass
class TableResult:
    name: str
    saved: int = 0
    lost: int = 0  # rows known to be unreadable (failed ranges, gaps in rowids)
    refused: int = 0  # rows left out because validation refuses them
    counted: bool = True  # False: the damaged table's size could not be read, so more may be lost
    note: str = ""


@dataclass
class RepairResult:
    store: Path
    aside: Path
    tables: list[TableResult] = field(default_factory=list)
    unreadable_schema: str | None = None  # the damaged file's list of tables could not be read

    @property
    def saved(self) -> int:
        return sum(t.saved for t in self.tables)

    @property
    def lost(self) -> int:
        return sum(t.lost for t in self.tables)

    @property
    def uncounted(self) -> list[str]:
        """Tables whose size could not be read: more rows of them may be lost than counted."""
        return [t.name for t in self.tables if not t.counted]

    @property
    def refused(self) -> int:
        return sum(t.refused for t in self.tables)


def aside_path(path: Path, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now()).strftime("%Y%m%dT%H%M%S")
    return path.with_name(f"{path.name}.damaged-{stamp}")


def repair(path: Path, *, now: datetime | None = None) -> RepairResult:
    """Move the store at ``path`` aside, and build a new one there from what can be read."""
    from analyzer.store.database import open_db
    from analyzer.store.lock import WriterLock

    path = Path(path)
    if not path.exists():
        raise StoreError(f"there is no store at {path} to repair")
    lock = WriterLock(path)
    lock.acquire(60.0)  # no ingest may write to the old file while it moves
    try:
        aside = aside_path(path, now)
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{path}{suffix}").exists():
                os.replace(f"{path}{suffix}", f"{aside}{suffix}")
        result = RepairResult(path, aside)
        new = open_db(path)
        try:
            _copy_all(aside, new.conn, result)
            new.conn.execute(
                "update sources set offset = 0, size = 0, mtime = null, head_fp = null, tail_fp = null,"
                " state = null, status = 'ok'"
            )
        finally:
            new.close()
    finally:
        lock.release()
    return result


def _open_damaged(aside: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"file:{aside}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error:
        return sqlite3.connect(str(aside), isolation_level=None)


def _copy_all(aside: Path, new: sqlite3.Connection, result: RepairResult) -> None:
    try:
        old = _open_damaged(aside)
        tables = [
            r[0]
            for r in old.execute(
                "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by rootpage"
            )
        ]
    except sqlite3.Error as exc:
        result.unreadable_schema = str(exc)
        return
    wanted = {r[0]: _columns(new, r[0]) for r in new.execute("select name from sqlite_master where type = 'table'")}
    new.execute("begin immediate")
    try:
        for table in tables:
            if table in SKIP_TABLES:
                continue
            entry = TableResult(table)
            result.tables.append(entry)
            if table not in wanted:
                entry.note = "not a table of this version; left in the damaged file"
                continue
            try:
                columns = [c for c in _columns(old, table) if c in wanted[table]]
            except sqlite3.Error as exc:
                entry.note = f"its columns could not be read: {exc}"
                continue
            _copy_table(old, new, table, columns, entry)
        new.execute("commit")
    except BaseException:
        new.execute("rollback")
        raise
    finally:
        old.close()


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"pragma table_info({_quote(table)})")]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _copy_table(old, new, table: str, columns: list[str], entry: TableResult) -> None:
    names = ", ".join(_quote(c) for c in columns)
    refuse = IMPLAUSIBLE.get(table, "0").replace(":latest", "?")
    select = (
        f"select rowid, coalesce({refuse}, 1), {names} from {_quote(table)}"
        " where rowid >= ? and rowid < ? order by rowid"
    )
    latest = [format_utc(now_utc() + FUTURE)] * refuse.count("?")
    if table == "meta":
        insert = f"insert or replace into meta ({names}) values ({', '.join('?' * len(columns))})"
    else:
        insert = f"insert or ignore into {_quote(table)} ({names}) values ({', '.join('?' * len(columns))})"
    try:  # how many rows there were: SQLite counts them from the smallest index, often still whole
        total = old.execute(f"select count(*) from {_quote(table)}").fetchone()[0]
    except sqlite3.Error:
        total = None
    try:
        low = old.execute(f"select min(rowid) from {_quote(table)}").fetchone()[0]
        high = old.execute(f"select max(rowid) from {_quote(table)}").fetchone()[0]
    except sqlite3.Error:
        low, high = _probe_bounds(old, table)
    entry.counted = total is not None
    if low is None or high is None:
        if total:
            entry.lost = total
        if total is None or total:
            entry.note = "no row of it could be read"
        return
    returned = 0
    first = last = None
    failed = 0
    pending = [(low, high + 1)]
    while pending:
        start, end = pending.pop()
        try:
            rows = old.execute(select, [*latest, start, end]).fetchall() if end - start <= WINDOW else None
        except sqlite3.Error:
            rows = False
        if rows is None:  # too wide: split and read in order (the stack pops the first part first)
            middle = start + WINDOW
            pending.append((middle, end))
            pending.append((start, middle))
            continue
        if rows is False:  # an unreadable page: narrow it down to the rows on it
            if end - start == 1:
                failed += 1
            else:
                middle = (start + end) // 2
                pending.append((middle, end))
                pending.append((start, middle))
            continue
        for row in rows:
            first = row[0] if first is None else first
            last = row[0]
            returned += 1
            if row[1]:
                entry.refused += 1
                continue
            if table == "meta" and row[2 + columns.index("key")] in SKIP_META:
                continue
            new.execute(insert, row[2:])
            entry.saved += 1
    # The analyser never deletes from its tables: a rowid between two saved rows that
    # came back from no query is a row lost on a page SQLite could not read.
    gaps = (last - first + 1) - returned - failed if first is not None else 0
    entry.lost = failed + max(gaps, 0)
    if total is not None:
        entry.lost = max(entry.lost, total - returned)


def _probe_bounds(old, table: str) -> tuple[int | None, int | None]:
    """Bounds of the rowids when min()/max() cannot be read: the first and last rows a scan returns."""
    first = last = None
    try:
        for (rowid,) in old.execute(f"select rowid from {_quote(table)}"):
            first = rowid if first is None else first
            last = rowid
    except sqlite3.Error:
        pass
    return first, last
