"""The ingester: files in, rows out, nothing lost and nothing counted twice.

For each file a parser claims, the ingester reads what is new and commits the
records it produced together with the new byte offset and the parser's state,
in one transaction per chunk. So:

* a crash or kill at any point loses nothing (the offset only moves with the
  rows) and counts nothing twice (re-read rows upsert on their keys);
* only complete lines are consumed: a torn last line (no ``\\n`` yet) waits
  for the next pass;
* memory stays bounded: files are read in chunks, a line at most is held whole;
* a file that shrank, changed inode or changed the bytes already read is read
  again from the start, with an empty parser state;
* a bad line is recorded in ``ingest_errors`` and skipped; a parser that raises
  on a file is recorded too, and the other files go on.

Whole-file formats (``mode = "file"``) are re-read when size or mtime change
(an SQLite store's ``-wal`` file included); one the parser cannot open now (an
``OSError``) is reported and not marked read, so the next pass tries again.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import sqlite_utils

from . import store
from .parsing import SourceContext
from .records import BadLine
from .sources import Discovery, Found, discover, fingerprint, head_matches, tail_fingerprint
from .timeutil import format_utc, now_utc

CHUNK_BYTES = 4 * 1024 * 1024
FLUSH_RECORDS = 5000


@dataclass
class IngestStats:
    """What one pass did, for the one-line summary and for tests."""

    files: int = 0
    files_read: int = 0
    bytes_read: int = 0
    records: dict[str, int] = field(default_factory=lambda: {"requests": 0, "prompts": 0, "limit_hits": 0, "quota_readings": 0})
    new_requests: int = 0
    new_prompts: int = 0
    bad_lines: dict[str, int] = field(default_factory=dict)
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


class Ingester:
    """Reads files into one store. Not thread-safe: one writer per store."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        parsers: list | None = None,
        *,
        env: Mapping[str, str] | None = None,
        chunk_bytes: int = CHUNK_BYTES,
        progress: Callable[[int], None] | None = None,
    ):
        if parsers is None:
            from .registry import get_parsers

            parsers = list(get_parsers().values())
        self.db = db
        self.parsers = parsers
        self.env = dict(os.environ if env is None else env)
        self.chunk_bytes = chunk_bytes
        self.progress = progress
        self.machine = store.machine_id(db)
        self.keep_text = store.keep_prompt_text(db)
        self._current_offset: int | None = None

    # --- passes ----------------------------------------------------------------

    def discover(self, paths: Iterable[Path] | None = None) -> Discovery:
        return discover(self.parsers, self.env, list(paths) if paths else None)

    def run(self, paths: Iterable[Path] | None = None, *, discovery: Discovery | None = None) -> IngestStats:
        """One pass over every parser's roots, or over the given paths."""
        stats = IngestStats()
        found = discovery or self.discover(paths)
        stats.unrecognised = [(str(p), why) for p, why in found.unrecognised]
        stats.missing_paths = [str(p) for p in found.missing_roots] if paths else []
        before = self._high_water()
        for item in found.found:
            stats.files += 1
            self.ingest_file(item, stats)
        self._after_pass(before, stats)
        return stats

    def ingest_paths(self, items: Iterable[Found]) -> IngestStats:
        """Ingest known (file, parser) pairs; the watcher uses this for dirty files."""
        stats = IngestStats()
        before = self._high_water()
        for item in items:
            stats.files += 1
            self.ingest_file(item, stats)
        self._after_pass(before, stats)
        return stats

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
        # replaces its row with the parser's unlinked (null prompt_key) version.
        if after[0] > before[0] or after[1] > before[1] or stats.records["requests"]:
            with store.transaction(self.db):
                link_orphan_requests(self.db)

    # --- one file ----------------------------------------------------------------

    def ingest_file(self, item: Found, stats: IngestStats) -> None:
        path = item.path
        try:
            st = path.stat()
        except OSError as exc:
            stats.failed_files.append((str(path), exc.strerror or str(exc)))
            return
        try:
            source = self._source_for(item, st, stats)
            if getattr(item.parser, "mode", "lines") == "file":
                self._ingest_whole(item, source, st, stats)
            else:
                self._ingest_lines(item, source, st, stats)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise store.StoreError(
                    f"the database stayed locked for {store.BUSY_TIMEOUT_SECONDS:.0f} s while writing {path}; "
                    "another process holds a long write transaction (try again, or stop the other writer)"
                ) from exc
            raise
        except OSError as exc:
            stats.failed_files.append((str(path), exc.strerror or str(exc)))

    def _source_for(self, item: Found, st: os.stat_result, stats: IngestStats) -> dict:
        conn = self.db.conn
        path_text = str(item.path)
        cols = "id, path, parser, dev, inode, size, mtime, offset, head_fp, tail_fp, state"
        row = conn.execute(f"select {cols} from sources where path = ?", [path_text]).fetchone()
        names = cols.split(", ")
        if row is None:
            moved = conn.execute(
                f"select {cols} from sources where dev = ? and inode = ? and parser = ?",
                [st.st_dev, st.st_ino, item.parser.name],
            ).fetchall()
            for candidate in moved:
                old = dict(zip(names, candidate))
                if not os.path.exists(old["path"]) and head_matches(item.path, old["head_fp"]):
                    with store.transaction(self.db):
                        conn.execute("update sources set path = ?, updated_at = ? where id = ?", [path_text, _now(), old["id"]])
                    stats.moved_files.append((old["path"], path_text))
                    old["path"] = path_text
                    return old
            now = _now()
            with store.transaction(self.db):
                cur = conn.execute(
                    "insert into sources (path, parser, agent, dev, inode, size, mtime, offset, state, first_seen, updated_at)"
                    " values (?, ?, ?, ?, ?, 0, null, 0, null, ?, ?)",
                    [path_text, item.parser.name, item.parser.agent, st.st_dev, st.st_ino, now, now],
                )
            return {"id": cur.lastrowid, "path": path_text, "parser": item.parser.name, "dev": st.st_dev,
                    "inode": st.st_ino, "size": 0, "mtime": None, "offset": 0, "head_fp": None,
                    "tail_fp": None, "state": None}  # fmt: skip
        return dict(zip(names, row))

    def _ingest_lines(self, item: Found, source: dict, st: os.stat_result, stats: IngestStats) -> None:
        path = item.path
        offset = source["offset"] or 0
        state = orjson.loads(source["state"]) if source["state"] else {}
        if offset and st.st_size == source["size"] and st.st_mtime == source["mtime"] and st.st_ino == source["inode"]:
            return  # unchanged since the last pass
        restart = False
        if (st.st_ino, st.st_dev) != (source["inode"], source["dev"]) and source["inode"] is not None:
            restart = True
        elif st.st_size < offset:
            restart = True
        elif offset and not head_matches(path, source["head_fp"]):
            restart = True
        elif offset and source["tail_fp"] and tail_fingerprint(path, offset) != source["tail_fp"]:
            restart = True
        if restart:
            offset, state = 0, {}
            stats.reread_files.append(str(path))
        if offset >= st.st_size:
            self._touch(source, st, offset, state)
            return
        stats.files_read += 1
        ctx = SourceContext(path=path, root=item.root)
        writer = store.RecordWriter(self.db, source_id=source["id"], machine=self.machine, keep_text=self.keep_text)
        head_fp = fingerprint(path, st.st_size) if offset == 0 else source["head_fp"]
        with open(path, "rb") as f:
            f.seek(offset)
            pending = b""
            base = offset  # file offset of pending[0]
            while True:
                block = f.read(self.chunk_bytes)
                if not block:
                    break
                data = pending + block if pending else block
                end = data.rfind(b"\n")
                if end == -1:
                    pending = data  # one line longer than a chunk: keep reading
                    continue
                lines = _split_lines(data, end, base)
                self._parse_into(item.parser, lines, state, ctx, writer)
                new_offset = base + end + 1
                # Until the pass reaches the end of the file, the size recorded is
                # what was consumed: a pass cut short (killed, stopped) must not look
                # "unchanged since the last pass" next time, or the rest is never read.
                seen = st.st_size if f.tell() >= st.st_size else new_offset
                with store.transaction(self.db):
                    writer.flush()
                    self._save_source(source, st, new_offset, state, head_fp, path, size=seen)
                stats.bytes_read += new_offset - base
                if self.progress:
                    self.progress(new_offset - base)
                pending = data[end + 1 :]
                base = new_offset
        if source.get("_saved_offset") is None:
            # Nothing complete was read (a torn line only): remember the stat anyway.
            with store.transaction(self.db):
                self._save_source(source, st, offset, state, head_fp, path)
        self._count(writer, stats)

    def _parse_into(self, parser, lines: list[tuple[int, bytes]], state: dict, ctx: SourceContext, writer) -> None:
        """Feed lines to the parser. Should it raise (a bug; parsers built on
        JsonlParser report bad lines instead), the line it was on is recorded
        as an error and parsing resumes after it, so one line never costs the rest."""
        position = 0

        def tracked() -> Iterator[tuple[int, bytes]]:
            nonlocal position
            while position < len(lines):
                line = lines[position]
                self._current_offset = line[0]
                position += 1
                yield line

        while position < len(lines):
            try:
                for record in parser.parse(tracked(), state, ctx):
                    writer.add(record, self._current_offset)
            except Exception as exc:
                writer.add(BadLine(self._current_offset or 0, "parser_error", f"{type(exc).__name__}: {exc}"))

    def _ingest_whole(self, item: Found, source: dict, st: os.stat_result, stats: IngestStats) -> None:
        size, mtime = _whole_signature(item.path, st)
        if source["size"] == size and source["mtime"] == mtime and source["offset"]:
            return
        stats.files_read += 1
        ctx = SourceContext(path=item.path, root=item.root)
        writer = store.RecordWriter(self.db, source_id=source["id"], machine=self.machine, keep_text=self.keep_text)
        try:
            for record in item.parser.parse_file(item.path, ctx):
                writer.add(record, None)
        except OSError:
            raise  # cannot be read now (locked, vanished): reported, and tried again next pass
        except Exception as exc:
            writer.add(BadLine(0, "parser_error", f"{type(exc).__name__}: {exc}"))
        with store.transaction(self.db):
            writer.flush()
            self.db.conn.execute(
                "update sources set size = ?, mtime = ?, offset = ?, dev = ?, inode = ?, status = 'ok', updated_at = ? where id = ?",
                [size, mtime, st.st_size, st.st_dev, st.st_ino, _now(), source["id"]],
            )
        stats.bytes_read += st.st_size
        if self.progress:
            self.progress(st.st_size)
        self._count(writer, stats)

    def _save_source(self, source: dict, st: os.stat_result, offset: int, state: dict, head_fp, path: Path,
                     size: int | None = None) -> None:  # fmt: skip
        tail = tail_fingerprint(path, offset) if offset else None
        self.db.conn.execute(
            "update sources set dev = ?, inode = ?, size = ?, mtime = ?, offset = ?, head_fp = ?, tail_fp = ?,"
            " state = ?, status = 'ok', updated_at = ? where id = ?",
            [st.st_dev, st.st_ino, st.st_size if size is None else size, st.st_mtime, offset, head_fp, tail,
             orjson.dumps(state).decode() if state else None, _now(), source["id"]],
        )  # fmt: skip
        source["_saved_offset"] = offset

    def _touch(self, source: dict, st: os.stat_result, offset: int, state: dict) -> None:
        with store.transaction(self.db):
            self.db.conn.execute(
                "update sources set size = ?, mtime = ?, updated_at = ? where id = ?",
                [st.st_size, st.st_mtime, _now(), source["id"]],
            )

    @staticmethod
    def _count(writer: store.RecordWriter, stats: IngestStats) -> None:
        for name in ("requests", "prompts", "limit_hits", "quota_readings"):
            stats.records[name] += writer.counts[name]
        for kind, n in writer.bad_kinds.items():
            stats.bad_lines[kind] = stats.bad_lines.get(kind, 0) + n


def _whole_signature(path: Path, st: os.stat_result) -> tuple[int, float]:
    """Size and mtime that say whether a whole-file source changed. An SQLite
    store's ``-wal`` file counts too: in WAL mode new rows land there, and the
    main file changes only when a checkpoint copies them over."""
    try:
        wal = os.stat(f"{path}-wal")
    except OSError:
        return st.st_size, st.st_mtime
    return st.st_size + wal.st_size, max(st.st_mtime, wal.st_mtime)


def _split_lines(data: bytes, end: int, base: int) -> list[tuple[int, bytes]]:
    """Complete lines of ``data[:end]`` with their file offsets; ``\\r\\n`` tolerated."""
    lines = []
    pos = 0
    for raw in data[:end].split(b"\n"):
        lines.append((base + pos, raw[:-1] if raw.endswith(b"\r") else raw))
        pos += len(raw) + 1
    return lines


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
