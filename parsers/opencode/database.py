"""Reading ``opencode.db`` (OpenCode 1.2+) without getting in the running agent's way.

The agent keeps its store in WAL mode: recent rows live in ``opencode.db-wal``
until a checkpoint copies them into the main file. So:

* while a ``-wal`` file exists (the agent is running, or stopped uncleanly),
  the store is opened read-only (``mode=ro``) through SQLite itself, which
  reads the WAL and only ever takes *read* locks: a WAL reader neither blocks
  the agent's writes nor waits for them, and a read-only connection never
  checkpoints. One read transaction gives a consistent snapshot; it is held
  only while three queries run;
* without a ``-wal`` file every row is in the main file and nobody writes it,
  so it is opened ``immutable``: no lock, and no ``-wal``/``-shm`` files left
  behind in the agent's folder.

A store that cannot be opened now (locked during a recovery, unreadable) is
reported as a file that could not be read (an ``OSError``), and is tried again
on the next pass; the ingester does not mark it read.

Only what the records need is loaded: sessions, every message's ``data``, and
the parts of the types in ``NEEDED_PARTS`` (never tool output or patches).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from analyzer.parsers.opencode.model import NEEDED_PARTS, Message, Part, SessionInfo, session_records
from analyzer.parsers.opencode.values import created_ms

from analyzer.api import BadLine, Record

BUSY_SECONDS = 5.0


class StoreUnavailable(OSError):
    """The OpenCode store could not be read now; try again later."""


@dataclass
class Snapshot:
    """One consistent read of the store, served as a ``model.Source``."""

    sessions: dict[str, SessionInfo] = field(default_factory=dict)
    by_session: dict[str, list[Message]] = field(default_factory=dict)
    by_message: dict[str, list[Part]] = field(default_factory=dict)
    bad: list[BadLine] = field(default_factory=list)

    def session(self, session_id: str) -> SessionInfo | None:
        return self.sessions.get(session_id)

    def messages(self, session_id: str) -> list[Message]:
        return self.by_session.get(session_id, [])

    def parts(self, message_id: str) -> list[Part]:
        return self.by_message.get(message_id, [])


def store_records(path: Path) -> Iterator[Record]:
    """Every record in one OpenCode SQLite store."""
    snap = read_store(path)
    yield from snap.bad
    for session_id in sorted(set(snap.sessions) | set(snap.by_session)):
        yield from session_records(snap, session_id)


def connect(path: Path) -> sqlite3.Connection:
    """A read-only connection that never blocks the agent (see the module docstring)."""
    wal = path.with_name(path.name + "-wal")
    uri = path.resolve().as_uri() + ("?mode=ro" if wal.exists() else "?mode=ro&immutable=1")
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
    conn.execute("pragma query_only = 1")
    return conn


def read_store(path: Path) -> Snapshot:
    try:
        conn = connect(path)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open the OpenCode store read-only: {exc}") from exc
    try:
        conn.execute("begin")
        snap = _read(conn)
        conn.execute("commit")
        return snap
    except sqlite3.DatabaseError as exc:
        raise StoreUnavailable(f"cannot read the OpenCode store: {exc}") from exc
    finally:
        conn.close()


def _read(conn: sqlite3.Connection) -> Snapshot:
    snap = Snapshot()
    tables = {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}
    if not {"message", "part"} <= tables:
        snap.bad.append(BadLine(0, "unrecognised_file", "an SQLite file without OpenCode's message and part tables"))
        return snap
    if "session" in tables:
        _read_sessions(conn, snap)
    for mid, sid, text in conn.execute("select id, session_id, data from message order by id"):
        data = _object(text)
        if data is None or created_ms(data) is None:
            why = "message data is not a JSON object" if data is None else "message without time.created"
            snap.bad.append(
                BadLine(
                    _ref(mid), "corrupt" if data is None else "bad_shape", f"{why} (message {mid})", str(text)[:160]
                )
            )
            continue
        snap.by_session.setdefault(sid, []).append(Message(mid, sid, data))
    wanted = ", ".join(f"'{t}'" for t in NEEDED_PARTS if t != "text")
    query = f"""
        select id, message_id, time_created, data from part
        where json_valid(data) and (
            json_extract(data, '$.type') in ({wanted})
            or (json_extract(data, '$.type') = 'text' and message_id in (
                select id from message where json_valid(data) and json_extract(data, '$.role') = 'user'))
        )
        order by message_id, id
    """
    for pid, mid, created, text in conn.execute(query):
        data = _object(text)
        if data is not None:
            snap.by_message.setdefault(mid, []).append(
                Part(pid, mid, data, created if isinstance(created, int) else None)
            )
    for pid, text in conn.execute("select id, substr(data, 1, 160) from part where not json_valid(data)"):
        snap.bad.append(BadLine(_ref(pid), "corrupt", f"part data is not JSON (part {pid})", str(text)))
    return snap


def _read_sessions(conn: sqlite3.Connection, snap: Snapshot) -> None:
    columns = {row[1] for row in conn.execute("pragma table_info(session)")}
    wanted = ("id", "parent_id", "directory", "version", "time_created")
    select = ", ".join(c if c in columns else "null" for c in wanted)
    for sid, parent, directory, version, created in conn.execute(f"select {select} from session"):
        snap.sessions[sid] = SessionInfo(
            sid, parent or None, directory or None, version or None, created if isinstance(created, int) else None
        )


def _object(text) -> dict | None:
    try:
        value = orjson.loads(text)
    except (orjson.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _ref(row_id: str) -> int:
    """A stable number for a row, so each bad row is its own ``ingest_errors`` entry."""
    return int(hashlib.sha1(str(row_id).encode()).hexdigest()[:12], 16)
