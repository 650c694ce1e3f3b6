"""The ingester: files in, rows out, nothing lost and nothing counted twice.

For each file a parser claims, the ingester reads what is new and commits the
records it produced together with the new byte offset and the parser's state,
in the same transaction (one per 16 MB of input, and one at the end of a pass).
So:

* a crash or kill at any point loses nothing (the offset only moves with the
  rows) and counts nothing twice (re-read rows upsert on their keys);
* only complete lines are consumed: a torn last line (no ``\\n`` yet) waits
  for the next pass, unless the file has settled and the line is complete JSON
  (``reading.final_last_line``);
* memory stays bounded: files are read in chunks, a line at most is held whole;
* a file that shrank, changed inode or changed the bytes already read is read
  again from the start, with an empty parser state;
* a bad line is recorded in ``ingest_errors`` and skipped; a parser that raises
  on a file is recorded too, and the other files go on;
* a file that cannot be read (no permission, a symlink loop, gone between
  looking and reading) is named in the pass's ``failed_files`` and recorded as
  an ``unreadable`` error of its source (``analyzer db errors``); the error is
  cleared once the file is read.

Whole-file formats (``mode = "file"``) are re-read when size or mtime change
(an SQLite store's ``-wal`` file included); one the parser cannot open now (an
``OSError``) is reported and not marked read, so the next pass tries again. A
whole-file parser that sets ``keeps_state`` gets back the state it left on its
previous read of the file, stored with that read's rows in one transaction.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from analyzer.contract.parsing import SourceContext
from analyzer.contract.records import BadLine
from analyzer.contract.timeutil import format_utc, now_utc
from analyzer.ingest.discovery import (
    Discovery,
    Found,
    _safe,
    discover,
    fingerprint,
    head_matches,
    tail_fingerprint,
    why_unreadable,
)
from analyzer.ingest.reading import CHUNK_BYTES, parse_file_job, read_new_lines, settled
from analyzer.store import database as store
from analyzer.store.lock import WriterLock
from analyzer.store.writer import RecordWriter

if TYPE_CHECKING:
    import sqlite_utils

BATCH_BYTES = 16 * 1024 * 1024  # input read per commit
PARALLEL_MIN_BYTES = 32 * 1024 * 1024  # below this, worker processes cost more than they save
WORKER_MAX_BYTES = 64 * 1024 * 1024  # larger files are read here, chunk by chunk (bounded memory)
BULK_WAL_PAGES = 25_000  # WAL auto-checkpoint during a big pass (about 100 MB of pages)
LOCK_TIMEOUT = 15 * 60.0  # a pass waits this long for another process's pass (a first ingest of GBs)


@dataclass
class IngestStats:
    """What one pass did, for the one-line summary and for tests."""

    files: int = 0
    files_read: int = 0
    bytes_read: int = 0
    records: dict[str, int] = field(
        default_factory=lambda: {"requests": 0, "prompts": 0, "limit_hits": 0, "quota_readings": 0}
    )
    new_requests: int = 0
    new_prompts: int = 0
    bad_lines: dict[str, int] = field(default_factory=dict)
    ignored_lines: int = 0  # lines of unknown types with nothing to count: kept, not skipped
    reread_files: list[str] = field(default_factory=list)
    moved_files: list[tuple[str, str]] = field(default_factory=list)
    unrecognised: list[tuple[str, str]] = field(default_factory=list)
    failed_files: list[tuple[str, str]] = field(default_factory=list)
    missing_paths: list[str] = field(default_factory=list)

    def bad_total(self) -> int:
        return sum(self.bad_lines.values())

    def summary(self) -> str:
        parts = [
            f"{self.files_read} of {self.files} files read",
            f"{self.new_requests} new requests",
            f"{self.new_prompts} new prompts",
        ]
        if self.records["limit_hits"]:
            parts.append(f"{self.records['limit_hits']} limit hits")
        if self.records["quota_readings"]:
            parts.append(f"{self.records['quota_readings']} quota readings")
        if self.ignored_lines:
            n = self.ignored_lines
            parts.append(f"{n} line{'' if n == 1 else 's'} of unknown types ignored (no usage)")
        skipped = []
        for kind, n in sorted(self.bad_lines.items()):
            skipped.append(f"{n} {kind.replace('_', ' ')}")
        if self.unrecognised:
            skipped.append(f"{len(self.unrecognised)} unrecognised files")
        if self.failed_files:
            skipped.append(f"{len(self.failed_files)} unreadable files")
        text = "Ingested: " + ", ".join(parts)
        if skipped:
            text += "; skipped " + ", ".join(skipped) + " (see `analyzer db errors`)"
        return text + "."


_SOURCE_COLUMNS = (
    "id",
    "path",
    "parser",
    "dev",
    "inode",
    "size",
    "mtime",
    "offset",
    "head_fp",
    "tail_fp",
    "state",
    "status",
)


@dataclass
class _Job:
    """A file to read in this pass, and from where."""

    item: Found
    source: dict
    st: os.stat_result
    offset: int = 0
    state: dict = field(default_factory=dict)
    head_fp: str | None = None
    whole: tuple | None = None  # (size, mtime) signature for whole-file sources

    @property
    def todo(self) -> int:
        return self.st.st_size - self.offset


class Ingester:
    """Reads files into one store. Not thread-safe: one writer per store.

    Rows and source offsets are written in one open transaction that commits
    every ``BATCH_BYTES`` of input and at the end of a pass (each file's rows
    always with its offset). A pass with much to read parses files in worker
    processes while this one writes.
    """

    def __init__(
        self,
        db: sqlite_utils.Database,
        parsers: list | None = None,
        *,
        env: Mapping[str, str] | None = None,
        chunk_bytes: int = CHUNK_BYTES,
        progress: Callable[[int], None] | None = None,
        workers: int | None = None,
        parallel_min_bytes: int = PARALLEL_MIN_BYTES,
        worker_max_bytes: int = WORKER_MAX_BYTES,
    ):
        if parsers is None:
            from analyzer.registry.parsers import get_parsers

            parsers = list(get_parsers().values())
        self.db = db
        self.parsers = parsers
        self.env = dict(os.environ if env is None else env)
        self.chunk_bytes = chunk_bytes
        self.progress = progress
        self.workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
        self.parallel_min_bytes = parallel_min_bytes
        self.worker_max_bytes = worker_max_bytes
        self.machine = store.machine_id(db)
        self.keep_text = store.keep_prompt_text(db)
        self._uncommitted = 0
        self._between_chunks: Callable[[], None] | None = None
        self._prices = None  # the pass's PriceBook (False: prices unreadable, rows left unpriced)
        self._accounts = None  # the pass's AccountBook (False: accounts.toml unreadable, rows left unattributed)
        self._sources: dict[str, dict] = {}  # the sources rows, by path, while a pass plans
        self._unreadable: list[tuple[str, object, str]] = []  # (path, parser, reason) met in this pass
        self.lock_timeout: float | None = LOCK_TIMEOUT  # how long to wait for another writer's pass
        self.lock_notice: Callable[[str], None] | None = None  # told once when we have to wait
        self.lock_stop: Callable[[], bool] | None = None  # asked while waiting whether to give up

    # --- passes ----------------------------------------------------------------

    def discover(self, paths: Iterable[Path] | None = None) -> Discovery:
        if paths:
            return discover(self.parsers, self.env, list(paths))
        return discover(self.parsers, self.env, known=self._known())

    def _known(self) -> dict[Path, Found]:
        """Files a parser recognised before (in ``sources``): discovery need not read their first
        bytes again (the watcher keeps the same map in memory). A file whose bytes changed under
        it is still caught when it is planned (inode, head and tail fingerprints)."""
        by_name = {p.name: p for p in self.parsers}
        roots = {p.name: [Path(r) for r in (_safe(p.roots, self.env) or [])] for p in self.parsers}
        known = {}
        for path_text, parser_name in self.db.conn.execute(
            "select path, parser from sources where status != 'unreadable'"
        ):
            parser = by_name.get(parser_name)
            if parser is None:
                continue
            path = Path(path_text)
            root = next((r for r in roots[parser_name] if path.is_relative_to(r)), None)
            known[path] = Found(path, parser, root)
        return known

    def run(self, paths: Iterable[Path] | None = None, *, discovery: Discovery | None = None) -> IngestStats:
        """One pass over every parser's roots, or over the given paths."""
        stats = IngestStats()
        found = discovery or self.discover(paths)
        stats.unrecognised = [(str(p), why) for p, why in found.unrecognised]
        stats.missing_paths = [str(p) for p in found.missing_roots] if paths else []
        self._pass(found.found, stats, parallel=True, unreadable=found.unreadable, full=not paths)
        return stats

    def ingest_paths(self, items: Iterable[Found], unreadable=(), *, full: bool = False) -> IngestStats:
        """Ingest known (file, parser) pairs; the watcher uses this for dirty files
        (``full``: the items are every file of every root, a catch-up or rescan)."""
        stats = IngestStats()
        self._pass(items, stats, parallel=False, unreadable=unreadable, full=full)
        return stats

    def _pass(
        self, items: Iterable[Found], stats: IngestStats, *, parallel: bool, unreadable=(), full: bool = False
    ) -> None:
        """One pass under the store's writer lock: another pass (another process's
        ``analyzer ingest``, the daemon, a hook) is waited for, never raced."""
        lock = WriterLock(store.db_file(self.db))
        if not lock.acquire(self.lock_timeout, notice=self.lock_notice, stop=self.lock_stop):
            return  # asked to stop while waiting for the other writer
        try:
            self._locked_pass(items, stats, parallel=parallel, unreadable=unreadable)
            if full:  # when every agent's folders were last read whole (`analyzer doctor` asks)
                with store.transaction(self.db):
                    store.set_meta(self.db, "last_full_ingest", _now())
        finally:
            lock.release()

    def _locked_pass(self, items: Iterable[Found], stats: IngestStats, *, parallel: bool, unreadable=()) -> None:
        before = self._high_water()
        self._prices = None  # prices are read afresh every pass
        self._unreadable = [(str(u.path), u.parser, u.reason) for u in unreadable]
        self._accounts = None  # and so is accounts.toml
        bulk = False
        try:
            # Every known file's row in one query, not one query per file.
            self._sources = {
                row[1]: dict(zip(_SOURCE_COLUMNS, row))
                for row in self.db.conn.execute(f"select {', '.join(_SOURCE_COLUMNS)} from sources")
            }
            jobs = [job for item in items if (job := self._plan(item, stats))]
            self._sources = {}
            bulk = sum(j.todo for j in jobs) > BATCH_BYTES
            if bulk:
                # A big pass: let the write-ahead log grow instead of copying it into
                # the database every 4 MB; one checkpoint at the end does it once.
                self.db.conn.execute(f"pragma wal_autocheckpoint = {BULK_WAL_PAGES}")
            if parallel and self._parallel_ok(jobs):
                self._run_parallel(jobs, stats)
            else:
                for job in jobs:
                    self._run_job(job, stats)
            self._note_unreadable(stats)
            self._commit()
        except sqlite3.OperationalError as exc:
            self._rollback()
            if "locked" in str(exc) or "busy" in str(exc):
                raise store.StoreError(
                    "the database stayed locked while writing; another process holds a long write "
                    "transaction (try again, or stop the other writer)"
                ) from exc
            raise
        except BaseException:
            self._rollback()  # what was not committed is read again next time
            raise
        finally:
            if bulk:
                self.db.conn.execute("pragma wal_autocheckpoint = 1000")
                self.db.conn.execute("pragma wal_checkpoint(passive)")
        self._after_pass(before, stats)

    def _high_water(self) -> tuple[int, int]:
        conn = self.db.conn
        return (
            conn.execute("select coalesce(max(rowid), 0) from requests").fetchone()[0],
            conn.execute("select coalesce(max(rowid), 0) from prompts").fetchone()[0],
        )

    def _after_pass(self, before: tuple[int, int], stats: IngestStats) -> None:
        after = self._high_water()
        stats.new_requests = after[0] - before[0]
        stats.new_prompts = after[1] - before[1]
        # Also after rows were only re-written: a re-read copy of a subagent call
        # may replace its row with the parser's unlinked (null prompt_key) version.
        wrote = after[0] > before[0] or after[1] > before[1] or any(stats.records.values())
        if wrote:
            with store.transaction(self.db):
                link_orphan_requests(self.db)
                self._attribute()

    def _attribute(self) -> None:
        """Accounts for what the pass left unattributed (limit hits, readings, prompts), now that their
        sessions' calls are in; every row when ``accounts.toml`` changed since the last attribution."""
        from analyzer.accounts.book import AccountBook
        from analyzer.accounts.store import update_accounts

        book = self._accounts if self._accounts is not None else AccountBook.open(self.db)
        if book:
            update_accounts(self.db, book, retry_unknown_prompts=True)

    # --- transactions ---------------------------------------------------------------

    def _begin(self) -> None:
        if not self.db.conn.in_transaction:
            self.db.conn.execute("begin immediate")

    def _commit(self) -> None:
        if self.db.conn.in_transaction:
            from analyzer.pricing.costs import store_batch_costs

            store_batch_costs(self.db)  # while the batch's pages are still being written
            self.db.conn.execute("commit")
        self._uncommitted = 0

    def _rollback(self) -> None:
        if self.db.conn.in_transaction:
            self.db.conn.execute("rollback")
        self._uncommitted = 0

    def _read(self, nbytes: int, stats: IngestStats) -> None:
        """Account for input just written; commit when the batch is big enough."""
        stats.bytes_read += nbytes
        self._uncommitted += nbytes
        if self._uncommitted >= BATCH_BYTES:
            self._commit()
        if self.progress:
            try:
                self.progress(nbytes)
            except BaseException:
                # A stop request (the watcher's SIGTERM): keep what was read, every
                # file's rows with its offset, and stop between two chunks.
                self._commit()
                raise

    # --- planning: what to read, from where ---------------------------------------------

    def _plan(self, item: Found, stats: IngestStats) -> _Job | None:
        stats.files += 1
        path = item.path
        try:
            st = path.stat()
            source = self._source_for(item, st, stats)
            if getattr(item.parser, "mode", "lines") == "file":
                signature = _whole_signature(path, st)
                if (source["size"], source["mtime"]) == signature and source["offset"]:
                    return None
                state = orjson.loads(source["state"]) if source["state"] and keeps_state(item.parser) else {}
                return _Job(item, source, st, state=state, whole=signature)
            offset = source["offset"] or 0
            state = orjson.loads(source["state"]) if source["state"] else {}
            if offset and (st.st_size, st.st_mtime, st.st_ino) == (source["size"], source["mtime"], source["inode"]):
                if offset >= st.st_size or not settled(st.st_mtime):
                    return None  # unchanged since the last pass (an unterminated last line may be final now)
            if offset and (
                (st.st_ino, st.st_dev) != (source["inode"], source["dev"])
                or st.st_size < offset
                or not head_matches(path, source["head_fp"])
                or (source["tail_fp"] and tail_fingerprint(path, offset) != source["tail_fp"])
            ):
                offset, state = 0, {}  # replaced, truncated or rewritten: read it all again
                stats.reread_files.append(str(path))
            if offset >= st.st_size:
                self._begin()
                self.db.conn.execute(
                    "update sources set size = ?, mtime = ?, updated_at = ? where id = ?",
                    [st.st_size, st.st_mtime, _now(), source["id"]],
                )
                return None
            head_fp = fingerprint(path, st.st_size) if offset == 0 else source["head_fp"]
            return _Job(item, source, st, offset, state, head_fp)
        except OSError as exc:
            self._unreadable.append((str(path), item.parser, why_unreadable(exc)))
            return None

    def _source_for(self, item: Found, st: os.stat_result, stats: IngestStats) -> dict:
        conn = self.db.conn
        path_text = str(item.path)
        known = self._sources.get(path_text)
        if known is not None:
            return known
        moved = conn.execute(
            f"select {', '.join(_SOURCE_COLUMNS)} from sources where dev = ? and inode = ? and parser = ?",
            [st.st_dev, st.st_ino, item.parser.name],
        ).fetchall()
        for candidate in moved:
            old = dict(zip(_SOURCE_COLUMNS, candidate))
            if not os.path.exists(old["path"]) and head_matches(item.path, old["head_fp"]):
                self._begin()
                conn.execute("update sources set path = ?, updated_at = ? where id = ?", [path_text, _now(), old["id"]])
                stats.moved_files.append((old["path"], path_text))
                old["path"] = path_text
                return old
        now = _now()
        self._begin()
        cur = conn.execute(
            "insert into sources (path, parser, agent, dev, inode, size, mtime, offset, state, first_seen, updated_at)"
            " values (?, ?, ?, ?, ?, 0, null, 0, null, ?, ?)",
            [path_text, item.parser.name, item.parser.agent, st.st_dev, st.st_ino, now, now],
        )
        return {
            "id": cur.lastrowid,
            "path": path_text,
            "parser": item.parser.name,
            "dev": st.st_dev,
            "inode": st.st_ino,
            "size": 0,
            "mtime": None,
            "offset": 0,
            "head_fp": None,
            "tail_fp": None,
            "state": None,
        }

    # --- reading -------------------------------------------------------------------

    def _writer(self, job: _Job) -> RecordWriter:
        writer = RecordWriter(self.db, source_id=job.source["id"], machine=self.machine, keep_text=self.keep_text)
        if self._prices is None:
            from analyzer.pricing.costs import PriceBook

            self._begin()
            self._prices = PriceBook.open(self.db) or False
        writer.prices = self._prices or None
        if self._accounts is None:
            from analyzer.accounts.book import AccountBook

            self._accounts = AccountBook.open(self.db) or False
        writer.accounts = self._accounts or None
        return writer

    def _run_job(self, job: _Job, stats: IngestStats) -> None:
        try:
            if job.whole is not None:
                self._run_whole(job, stats)
            else:
                self._run_lines(job, stats)
        except OSError as exc:
            self._unreadable.append((str(job.item.path), job.item.parser, why_unreadable(exc)))

    def _run_lines(self, job: _Job, stats: IngestStats) -> None:
        stats.files_read += 1
        path = job.item.path
        ctx = SourceContext(path=path, root=job.item.root)
        writer = self._writer(job)
        saved = False
        for chunk in read_new_lines(
            job.item.parser, path, job.offset, job.state, ctx, job.st.st_size, self.chunk_bytes
        ):
            self._apply(job, writer, chunk.records, chunk.end, chunk.at_eof)
            saved = True
            self._read(chunk.end - chunk.start, stats)
            if self._between_chunks:
                self._between_chunks()
        if not saved:
            # Nothing complete to read (a torn line only): remember the stat anyway.
            self._apply(job, writer, [], job.offset, True)
        self._count(writer, stats)

    def _apply(self, job: _Job, writer: RecordWriter, records: list, end: int, at_eof: bool) -> None:
        """Write records, then the offset they bring the file to, in the open batch."""
        for offset, record in records:
            writer.add(record, offset)
        self._begin()
        writer.flush()
        # Until a pass reaches the end of the file, the size recorded is what was
        # consumed: a pass cut short must not look "unchanged" next time.
        st = job.st
        tail = tail_fingerprint(job.item.path, end) if end else None
        self.db.conn.execute(
            "update sources set dev = ?, inode = ?, size = ?, mtime = ?, offset = ?, head_fp = ?, tail_fp = ?,"
            " state = ?, status = 'ok', updated_at = ? where id = ?",
            [
                st.st_dev,
                st.st_ino,
                st.st_size if at_eof else end,
                st.st_mtime,
                end,
                job.head_fp,
                tail,
                orjson.dumps(job.state).decode() if job.state else None,
                _now(),
                job.source["id"],
            ],
        )
        self._readable_again(job)

    def _run_whole(self, job: _Job, stats: IngestStats) -> None:
        stats.files_read += 1
        item, st = job.item, job.st
        ctx = SourceContext(path=item.path, root=item.root)
        writer = self._writer(job)
        try:
            # A parser with ``keeps_state`` gets the state it left last time (and may change it):
            # Droid's cumulative totals become growth since the last read, Cline's restores count once.
            if keeps_state(item.parser):
                records = item.parser.parse_file(item.path, ctx, job.state)
            else:
                records = item.parser.parse_file(item.path, ctx)
            for record in records:
                writer.add(record, None)
        except OSError:
            raise  # cannot be read now (locked, vanished): reported, and tried again next pass
        except Exception as exc:
            writer.add(BadLine(0, "parser_error", f"{type(exc).__name__}: {exc}"))
        self._begin()
        writer.flush()
        size, mtime = job.whole
        state = orjson.dumps(job.state).decode() if job.state else None
        self.db.conn.execute(
            "update sources set size = ?, mtime = ?, offset = ?, dev = ?, inode = ?, state = ?, status = 'ok',"
            " updated_at = ? where id = ?",
            [size, mtime, st.st_size, st.st_dev, st.st_ino, state, _now(), job.source["id"]],
        )
        self._readable_again(job)
        self._count(writer, stats)
        self._read(st.st_size, stats)

    # --- files that cannot be read -----------------------------------------------------

    def _readable_again(self, job: _Job) -> None:
        if job.source.get("status") == "unreadable":
            self.db.conn.execute(
                "delete from ingest_errors where source_id = ? and kind = 'unreadable'", [job.source["id"]]
            )
            job.source["status"] = "ok"

    def _note_unreadable(self, stats: IngestStats) -> None:
        """Name every file this pass could not read, and record those a parser claims
        (``analyzer db errors``): a source row marked ``unreadable`` and its error."""
        seen: set[str] = set()
        for path, parser, reason in self._unreadable:
            if path in seen:
                continue
            seen.add(path)
            stats.failed_files.append((path, reason))
            name = getattr(parser, "name", None)
            if not name:
                continue
            self._begin()
            conn = self.db.conn
            now = _now()
            conn.execute(
                "insert into sources (path, parser, agent, size, offset, status, first_seen, updated_at)"
                " values (?, ?, ?, 0, 0, 'unreadable', ?, ?)"
                " on conflict(path) do update set status = 'unreadable', updated_at = excluded.updated_at",
                [path, name, getattr(parser, "agent", name), now, now],
            )
            source_id = conn.execute("select id from sources where path = ?", [path]).fetchone()[0]
            conn.execute(
                "insert into ingest_errors (source_id, offset, kind, reason, snippet, first_seen)"
                " values (?, 0, 'unreadable', ?, '', ?)"
                " on conflict(source_id, offset, kind) do update set reason = excluded.reason",
                [source_id, f"the file could not be read: {reason}", now],
            )
        self._unreadable = []

    # --- reading in worker processes ---------------------------------------------------

    def _parallel_ok(self, jobs: list[_Job]) -> bool:
        lines = [j for j in jobs if j.whole is None]
        if self.workers < 2 or len(lines) < 2 or sum(j.todo for j in lines) < self.parallel_min_bytes:
            return False
        from analyzer.registry.parsers import get_parsers

        registered = get_parsers()
        # Workers find parsers by name: only for parsers the registry would give them.
        return all(type(registered.get(j.item.parser.name)) is type(j.item.parser) for j in lines)

    def _run_parallel(self, jobs: list[_Job], stats: IngestStats) -> None:
        """Workers parse files whole and send their rows; this process writes them.

        Files over ``worker_max_bytes`` (and whole-file sources) are read here,
        chunk by chunk, so that no file's rows are ever held whole: memory stays
        bounded whatever the size of one log. Between two of those chunks, the
        workers' results are written as they arrive.
        """
        import multiprocessing

        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods and sys.platform != "darwin" else "spawn")
        small = sorted((j for j in jobs if j.whole is None and j.todo <= self.worker_max_bytes), key=lambda j: -j.todo)
        local = [j for j in jobs if j.whole is not None or j.todo > self.worker_max_bytes]
        by_path = {str(j.item.path): j for j in small}
        work = [
            (
                j.item.parser.name,
                str(j.item.path),
                str(j.item.root) if j.item.root else None,
                j.offset,
                j.state,
                j.st.st_size,
                self.chunk_bytes,
                j.source["id"],
                self.machine,
                self.keep_text,
            )
            for j in small
        ]
        if not work:
            for job in local:
                self._run_job(job, stats)
            return
        with context.Pool(min(self.workers, len(work))) as pool:
            results = pool.imap_unordered(_parse_file_job, work, chunksize=1)
            pending = len(work)

            def drain(block: bool) -> None:
                nonlocal pending
                while pending:
                    try:
                        path, outcome = results.next() if block else results.next(timeout=0)
                    except multiprocessing.TimeoutError:
                        return
                    pending -= 1
                    self._write_worker_result(by_path[path], outcome, stats)

            self._between_chunks = lambda: drain(False)
            try:
                for job in local:
                    self._run_job(job, stats)
            finally:
                self._between_chunks = None
            drain(True)

    def _write_worker_result(self, job: _Job, outcome, stats: IngestStats) -> None:
        if isinstance(outcome, str):
            self._unreadable.append((str(job.item.path), job.item.parser, outcome))
            return
        end, state, at_eof, rows, nbytes = outcome
        job.state = state
        stats.files_read += 1
        writer = self._writer(job)
        writer.absorb(rows)
        self._apply(job, writer, [], end if nbytes else job.offset, at_eof or not nbytes)
        self._count(writer, stats)
        self._read(nbytes, stats)

    @staticmethod
    def _count(writer: RecordWriter, stats: IngestStats) -> None:
        for name in ("requests", "prompts", "limit_hits", "quota_readings"):
            stats.records[name] += writer.counts[name]
        for kind, n in writer.bad_kinds.items():
            if kind == "ignored":
                stats.ignored_lines += n
                continue
            stats.bad_lines[kind] = stats.bad_lines.get(kind, 0) + n


def _parse_file_job(job: tuple) -> tuple:
    """Run ``parse_file_job`` in a worker; an unreadable file comes back as its reason."""
    try:
        path, end, state, at_eof, rows, nbytes = parse_file_job(job)
        return path, (end, state, at_eof, rows, nbytes)
    except OSError as exc:
        return job[1], why_unreadable(exc)


def keeps_state(parser) -> bool:
    """A whole-file parser that asked (``keeps_state = True``) for a state kept between reads
    of its file, as line parsers have: it is called as ``parse_file(path, ctx, state)``."""
    return getattr(parser, "keeps_state", False) is True


def _whole_signature(path: Path, st: os.stat_result) -> tuple[int, float]:
    """Size and mtime that say whether a whole-file source changed. An SQLite
    store's ``-wal`` file counts too: in WAL mode new rows land there, and the
    main file changes only when a checkpoint copies them over."""
    try:
        wal = os.stat(f"{path}-wal")
    except OSError:
        return st.st_size, st.st_mtime
    return st.st_size + wal.st_size, max(st.st_mtime, wal.st_mtime)


def link_orphan_requests(db: sqlite_utils.Database) -> None:
    """Give requests their parser could not link (subagent calls, whose prompt
    lives in another file) the latest prompt of their session before them."""
    db.conn.execute(
        """
        update requests set prompt_key = (
            select p.key from prompts p
            where p.agent = requests.agent and p.session_id = requests.session_id and p.ts <= requests.ts
            order by p.ts desc limit 1
        )
        where prompt_key is null
        """
    )


def _now() -> str:
    return format_utc(now_utc())


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
