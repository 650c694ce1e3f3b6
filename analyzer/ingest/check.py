"""``analyzer db check``: is the store whole, and does it hold what the logs still on disk say?

Four looks, each answering one question:

* **integrity**: SQLite's ``integrity_check`` (every page, index and row readable
  and consistent);
* **orphans**: rows that point at nothing: requests, prompts, limit hits, quota
  readings and skipped lines whose source row is missing;
* **implausible rows**: rows today's validation would refuse (a negative or
  absurd count, a time before 2020 or after tomorrow, a time that is no time),
  written before it existed;
* **re-read**: every source file still present and unchanged since it was last
  read is parsed again, up to the offset the store consumed, into a scratch
  store with the same writer; then, per source, every request the file gives
  must be in the store, with a copy at least as complete (the best copy wins, so
  the store may hold a better one from another file, never a worse one).
  Totals per source (requests and tokens) are reported both ways. Files that
  grew or changed since the last ingest are left out and counted (run
  ``analyzer ingest`` first); files no longer on disk cannot be compared.

``check`` never writes to the store.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from analyzer.contract.parsing import SourceContext
from analyzer.contract.timeutil import format_utc, now_utc
from analyzer.contract.validation import FUTURE
from analyzer.ingest.discovery import head_matches, tail_fingerprint
from analyzer.ingest.reading import CHUNK_BYTES, parse_lines, split_lines
from analyzer.store import database as store
from analyzer.store.repair import IMPLAUSIBLE
from analyzer.store.writer import RecordWriter, _rank

if TYPE_CHECKING:
    from analyzer.store.database import Store

_TOKENS = "input_tokens + cache_read_tokens + cache_write_tokens + output_tokens"


@dataclass
class SourceCheck:
    """One file re-read and compared with the store."""

    path: str
    agent: str
    requests: int  # requests the file gives now
    tokens: int  # their tokens, as the file gives them
    stored_tokens: int  # the same requests' tokens in the store
    missing: int  # requests the file gives that the store lacks
    worse: int  # requests the store holds a less complete copy of

    @property
    def ok(self) -> bool:
        return not self.missing and not self.worse


@dataclass
class CheckResult:
    integrity: list[str] = field(default_factory=list)  # ["ok"] when whole
    orphans: dict[str, int] = field(default_factory=dict)
    implausible: dict[str, int] = field(default_factory=dict)
    sources: list[SourceCheck] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # present, but changed since the last ingest
    gone: int = 0  # sources whose file is no longer on disk
    failed: list[tuple[str, str]] = field(default_factory=list)  # could not be re-read
    reread: bool = True

    @property
    def damaged(self) -> bool:
        return self.integrity != ["ok"]

    @property
    def ok(self) -> bool:
        return (
            not self.damaged
            and not any(self.orphans.values())
            and not any(self.implausible.values())
            and all(s.ok for s in self.sources)
        )

    def problems(self) -> list[str]:
        """One sentence per problem found (empty when the store is fine)."""
        out = []
        if self.damaged:
            shown = "; ".join(self.integrity[:3]) + (" ..." if len(self.integrity) > 3 else "")
            out.append(f"the store is damaged (SQLite's integrity check: {shown})")
        for name, n in self.orphans.items():
            if n:
                out.append(f"{n} {name} point at a source the store does not have")
        for name, n in self.implausible.items():
            if n:
                out.append(f"{n} {name} hold values validation now refuses (written before it existed)")
        for s in self.sources:
            if not s.ok:
                out.append(
                    f"{s.path}: the file gives {s.requests} requests ({s.tokens:,} tokens); the store lacks"
                    f" {s.missing} of them and holds a less complete copy of {s.worse}"
                    f" ({s.stored_tokens:,} tokens stored)"
                )
        return out


_ORPHANS = {
    "requests": "select count(*) from requests where source_id is not null"
    " and source_id not in (select id from sources)",
    "prompts": "select count(*) from prompts where source_id is not null and source_id not in (select id from sources)",
    "limit hits": "select count(*) from limit_hits where source_id is not null"
    " and source_id not in (select id from sources)",
    "quota readings": "select count(*) from quota_readings where source_id is not null"
    " and source_id not in (select id from sources)",
    "skipped lines": "select count(*) from ingest_errors where source_id not in (select id from sources)",
}


def implausible_counts(db: Store) -> dict[str, int]:
    """Rows validation would refuse today, per table (``analyzer.store.repair.IMPLAUSIBLE``)."""
    latest = format_utc(now_utc() + FUTURE)
    return {
        LABELS[table]: db.execute(f"select count(*) from {table} where {where}", {"latest": latest}).fetchone()[0]
        for table, where in IMPLAUSIBLE.items()
    }


LABELS = {"requests": "requests", "prompts": "prompts", "limit_hits": "limit hits", "quota_readings": "quota readings"}


def check(db: Store, *, reread: bool = True, parsers: list | None = None) -> CheckResult:
    """Check the store (see the module's docstring); ``reread=False`` skips reading the logs again."""
    result = CheckResult(reread=reread)
    try:
        result.integrity = [r[0] for r in db.execute("pragma integrity_check(20)")]
    except sqlite3.DatabaseError as exc:
        result.integrity = [str(exc)]
    if result.damaged:
        return result  # the rest would only read the damage again
    result.orphans = {name: db.execute(sql).fetchone()[0] for name, sql in _ORPHANS.items()}
    result.implausible = implausible_counts(db)
    if reread:
        _reread(db, result, parsers)
    return result


def _reread(db: Store, result: CheckResult, parsers: list | None) -> None:
    if parsers is None:
        from analyzer.registry.parsers import get_parsers

        parsers = list(get_parsers().values())
    by_name = {p.name: p for p in parsers}
    rows = db.execute(
        "select id, path, parser, agent, dev, inode, size, mtime, offset, head_fp, tail_fp from sources"
        " where status != 'unreadable' order by path"
    ).fetchall()
    with tempfile.TemporaryDirectory(prefix="analyzer-check-") as folder:
        scratch = store.open_db(Path(folder) / "reread.db")
        try:
            machine = store.machine_id(db)
            agents: dict[int, tuple[str, str]] = {}
            scratch.conn.execute("begin")
            for source_id, path_text, parser_name, _agent, _dev, _inode, size, mtime, offset, head_fp, tail_fp in rows:
                parser = by_name.get(parser_name)
                path = Path(path_text)
                if parser is None or not offset:
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:
                    result.gone += 1
                    continue
                except OSError as exc:
                    result.failed.append((path_text, exc.strerror or str(exc)))
                    continue
                writer = RecordWriter(scratch, source_id=source_id, machine=machine, keep_text=False)
                try:
                    if getattr(parser, "mode", "lines") == "file":
                        if _whole_changed(path, st, size, mtime):
                            result.changed.append(path_text)
                            continue
                        for record in parser.parse_file(path, SourceContext(path=path)):
                            writer.add(record, None)
                    else:
                        if (
                            st.st_size < offset
                            or not head_matches(path, head_fp)
                            or (tail_fp and tail_fingerprint(path, offset) != tail_fp)
                        ):
                            result.changed.append(path_text)
                            continue
                        for line_offset, record in _read_prefix(parser, path, offset):
                            writer.add(record, line_offset)
                except OSError as exc:
                    result.failed.append((path_text, exc.strerror or str(exc)))
                    continue
                except Exception as exc:  # a parser bug: say which file
                    result.failed.append((path_text, f"{type(exc).__name__}: {exc}"))
                    continue
                writer.flush()
                agents[source_id] = (path_text, parser.agent)
            scratch.conn.execute("commit")
            scratch.close()
            _compare(db, Path(folder) / "reread.db", agents, result)
        finally:
            try:
                scratch.close()
            except sqlite3.Error:
                pass


def _whole_changed(path: Path, st: os.stat_result, size, mtime) -> bool:
    from analyzer.ingest.ingester import _whole_signature

    return (size, mtime) != _whole_signature(path, st)


def _read_prefix(parser, path: Path, end: int):
    """Records of the complete lines in ``path[:end]`` (what the store consumed), with their offsets."""
    state: dict = {}
    ctx = SourceContext(path=path)
    with open(path, "rb") as f:
        base = 0
        pending = b""
        while base + len(pending) < end:
            block = f.read(min(CHUNK_BYTES, end - base - len(pending)))
            if not block:
                break
            data = pending + block
            cut = data.rfind(b"\n")
            if cut == -1:
                pending = data
                continue
            yield from parse_lines(parser, split_lines(data, cut, base), state, ctx)
            base += cut + 1
            pending = data[cut + 1 :]


def _compare(db: Store, scratch_path: Path, agents: dict[int, tuple[str, str]], result: CheckResult) -> None:
    conn = sqlite3.connect(f"file:{db_path(db)}?mode=ro", uri=True)
    try:
        conn.execute("attach database ? as scratch", [str(scratch_path)])
        rows = conn.execute(
            f"""
            select s.source_id, count(*), sum(s.{_TOKENS.replace(" + ", " + s.")}),
                   coalesce(sum(r.{_TOKENS.replace(" + ", " + r.")}), 0),
                   sum(r.key is null),
                   sum(r.key is not null and ({_rank("r")}) < ({_rank("s")}))
            from scratch.requests s left join main.requests r on r.key = s.key
            group by s.source_id
            """
        ).fetchall()
    finally:
        conn.close()
    seen = set()
    for source_id, n, tokens, stored, missing, worse in rows:
        path, agent = agents.get(source_id, (str(source_id), "?"))
        seen.add(source_id)
        result.sources.append(SourceCheck(path, agent, n, tokens or 0, stored or 0, missing or 0, worse or 0))
    for source_id, (path, agent) in agents.items():
        if source_id not in seen:
            result.sources.append(SourceCheck(path, agent, 0, 0, 0, 0, 0))
    result.sources.sort(key=lambda s: s.path)


def db_path(db: Store) -> Path:
    found = store.db_file(db)
    if found is None:
        raise ValueError("an in-memory store cannot be checked against its files")
    return found


def as_json(result: CheckResult) -> dict:
    """The result as plain data (``--json``)."""
    return orjson.loads(
        orjson.dumps(
            {
                "ok": result.ok,
                "integrity": result.integrity,
                "orphans": result.orphans,
                "implausible": result.implausible,
                "reread": result.reread,
                "sources": [s.__dict__ | {"ok": s.ok} for s in result.sources],
                "changed_since_last_ingest": result.changed,
                "sources_gone": result.gone,
                "failed": [{"path": p, "reason": r} for p, r in result.failed],
                "problems": result.problems(),
            }
        )
    )
