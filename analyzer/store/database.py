"""The SQLite store: where it lives and how it is opened.

One file, WAL mode with ``synchronous=NORMAL``: one writer at a time, and
readers (reports, Datasette, the statusline) never block it. The schema comes
from numbered migrations (``analyzer.store.schema`` plus any plugin's sets); views
(``analyzer.store.views``) are re-created when their SQL changed. Opening a store whose
schema is already up to date for this code (``schema_stamp``) skips all that,
so that reading commands start fast.

**Append-only towards the agents' files**: nothing deletes a row because a
source file shrank, was rewritten or vanished. How records are written, and
which copy of a model call wins, is ``analyzer.store.writer``.

**Versions.** A store's schema version is the number of the core migrations
(``analyzer.store.schema``) applied to it; the migrations stamp it in SQLite's
``user_version`` as well. Opening a store checks it first, before anything is
written: a store from a newer analyzer (a higher ``user_version``, or a core
migration this code does not know) is refused with a message naming both
versions, and left untouched.

Migrations run under the store's writer lock (``analyzer.store.lock``) in one
``BEGIN IMMEDIATE`` transaction, so two processes opening a new store at once
do not both build it.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

from analyzer.store.faults import StoreError, describe_fault

APP_NAME = "coding-plan-analyzer"
DB_FILENAME = "usage.db"
BUSY_TIMEOUT_SECONDS = 30.0

__all__ = ["StoreError", "open_db", "default_db_path", "db_file", "schema_version_of"]


def user_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_db_path() -> Path:
    """``ANALYZER_DB`` if set, else ``usage.db`` in the user data folder."""
    env = os.environ.get("ANALYZER_DB")
    if env:
        return Path(env).expanduser()
    return user_dir() / DB_FILENAME


def _create_private(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Logs hold people's code and prompts: the store is readable by its owner only.
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


def connect(path: Path, *, timeout: float = BUSY_TIMEOUT_SECONDS) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute("pragma synchronous=normal")
    return conn


class Store:
    """An open store: the connection, and the few helpers the analyser uses.

    Anything else (``db["table"]``, ``db.query``, ...) is sqlite-utils'
    ``Database`` on the same connection, imported on first use: most commands
    never need it, and importing it is a good part of a command's start-up.
    The connection is in autocommit mode; ``atomic`` groups statements.
    """

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._utils = None

    @property
    def utils(self) -> sqlite_utils.Database:
        """sqlite-utils' ``Database`` on this connection."""
        if self._utils is None:
            import sqlite_utils

            self._utils = sqlite_utils.Database(self.conn, execute_plugins=False)
        return self._utils

    def execute(self, sql: str, params=None) -> sqlite3.Cursor:
        return self.conn.execute(sql, params if params is not None else ())

    def executemany(self, sql: str, rows) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)

    def table_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("select name from sqlite_master where type = 'table'")]

    def view_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("select name from sqlite_master where type = 'view'")]

    @contextmanager
    def atomic(self):
        """A write transaction (taking the write lock up front), or a savepoint inside one already open."""
        if self.conn.in_transaction:
            name = f"sp_{uuid.uuid4().hex}"
            self.conn.execute(f"savepoint {name}")
            try:
                yield self
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute(f"rollback to savepoint {name}")
                    self.conn.execute(f"release savepoint {name}")
                raise
            self.conn.execute(f"release savepoint {name}")
        else:
            self.conn.execute("begin immediate")
            try:
                yield self
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("rollback")
                raise
            self.conn.execute("commit")

    def close(self) -> None:
        self.conn.close()

    def __getitem__(self, name: str):
        return self.utils[name]

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.utils, name)


def open_db(
    path: Path | str | None = None,
    *,
    migrate: bool = True,
    timeout: float = BUSY_TIMEOUT_SECONDS,
    create: bool = True,
) -> Store:
    """Open (creating if needed) the store: version check, WAL, migrations, views, plugin hooks.

    ``create=False`` refuses a store whose folder does not exist (reading commands:
    a mistyped ``--db`` must not quietly become a new, empty store).
    """
    global _opened
    path = Path(path) if path is not None else default_db_path()
    _opened = path
    if not create and not path.exists() and not path.parent.is_dir():
        raise StoreError(
            f"there is no store at {path}: its folder {path.parent} does not exist (check --db or ANALYZER_DB;"
            " `analyzer ingest` makes a new store)"
        )
    try:
        _create_private(path)
        conn = connect(path, timeout=timeout)
        db = Store(conn)
        check_version(db, path)
        if conn.execute("pragma journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("pragma journal_mode=wal")
        if migrate:
            stamp = schema_stamp()
            if _stored_stamp(db) != stamp:
                _migrate_once(db, path, stamp, timeout)
    except StoreError:
        raise
    except sqlite3.DatabaseError as exc:
        raise StoreError(describe_fault(exc, path)) from exc
    except OSError as exc:
        raise StoreError(f"cannot create the store {path}: {describe_fault(exc)}") from exc
    from analyzer.registry.manager import load_plugins, pm

    load_plugins("prepare_connection")
    pm.hook.prepare_connection(conn=conn)
    return db


_opened: Path | None = None


def opened_path() -> Path | None:
    """The store this process opened last (for messages about it)."""
    return _opened


def _migrate_once(db: Store, path: Path, stamp: str, timeout: float) -> None:
    """Migrate under the writer lock, unless another process did it while we waited."""
    from analyzer.store.lock import WriterLock

    lock = WriterLock(path)
    lock.acquire(timeout)
    try:
        if _stored_stamp(db) == stamp:
            return
        check_version(db, path)
        db.conn.execute("begin immediate")
        try:
            migrate_db(db)
            set_meta(db, "schema_stamp", stamp)
            db.conn.execute("commit")
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("rollback")
            raise
    finally:
        lock.release()


def db_file(db: Store) -> Path | None:
    """The file behind an open store (None for an in-memory one)."""
    name = db.conn.execute("pragma database_list").fetchone()[2]
    return Path(name) if name else None


def schema_version_of(db: Store) -> tuple[int, list[str]]:
    """The store's schema version and the core migrations it has that this code does not know."""
    from analyzer.store.schema import migration_names

    stamped = db.conn.execute("pragma user_version").fetchone()[0]
    try:
        applied = [
            r[0]
            for r in db.conn.execute("select name from _sqlite_migrations where migration_set = 'analyzer' order by id")
        ]
    except sqlite3.OperationalError:
        applied = []  # a new store: no migrations table yet
    known = set(migration_names())
    return max(stamped, len(applied)), [name for name in applied if name not in known]


def check_version(db: Store, path: Path) -> None:
    """Refuse a store written by a newer analyzer, before anything is written to it."""
    from analyzer import __version__
    from analyzer.store.schema import migration_names

    version, unknown = schema_version_of(db)
    ours = len(migration_names())
    if version > ours or unknown:
        db.conn.close()
        extra = f" (migrations this version does not know: {', '.join(unknown)})" if unknown else ""
        raise StoreError(
            f"the store {path} was written by a newer version of analyzer: its schema is version {version}, and"
            f" this analyzer ({__version__}) knows versions up to {ours}{extra}; upgrade analyzer"
            " (pip install -U coding-plan-analyzer) or use another --db. Nothing was written to it."
        )


def schema_stamp() -> str:
    """What the schema depends on: the code that defines migrations and views.

    A fingerprint of those source files (this package's) and of the third-party
    plugins installed, so that opening an up-to-date store skips the migration
    machinery: that is most of the start-up of a report. Any change to that code,
    or a new plugin, runs the full check once.
    """
    from analyzer import __version__
    from analyzer.registry.entry_points import entry_points
    from analyzer.registry.manager import third_party_names

    root = Path(__file__).resolve().parent
    parts = [__version__]
    for file in sorted(root.rglob("*.py")):
        try:
            st = file.stat()
            parts.append(f"{file.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{file.relative_to(root)}:missing")
    parts.extend(third_party_names())
    if os.environ.get("ANALYZER_LOAD_PLUGINS") != "":
        parts.extend(f"{e.distribution}:{e.version}:{e.name}" for e in entry_points())
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def _stored_stamp(db: Store) -> str | None:
    try:
        return get_meta(db, "schema_stamp")
    except sqlite3.OperationalError:
        return None  # a new store: no meta table yet


def migrate_db(db: Store) -> None:
    """Apply pending migrations (the core schema's, then plugins' own tables), then refresh views."""
    from analyzer.registry.manager import call_register
    from analyzer.store.schema import migrations
    from analyzer.store.views import ensure_views

    sets = [migrations(), *call_register("register_migrations")]
    utils = db.utils
    if any(s.pending(utils) for s in sets):
        for s in sets:
            s.apply(utils)
    ensure_views(db)
    machine_id(db)
    from analyzer.store.schema import migration_names

    version = len(migration_names())
    if db.conn.execute("pragma user_version").fetchone()[0] != version:
        db.conn.execute(f"pragma user_version = {version}")


def get_meta(db: sqlite_utils.Database, key: str) -> str | None:
    row = db.execute("select value from meta where key = ?", [key]).fetchone()
    return row[0] if row else None


def set_meta(db: sqlite_utils.Database, key: str, value: str | None) -> None:
    db.execute(
        "insert into meta (key, value) values (?, ?) on conflict(key) do update set value = excluded.value",
        [key, value],
    )


def machine_id(db: sqlite_utils.Database) -> str:
    """A stable id made once per store, carried by every row it writes (and listed in ``machines``
    with this host's name, once that table exists)."""
    value = get_meta(db, "machine_id")
    if value is None:
        value = uuid.uuid4().hex
        db.execute("insert or ignore into meta (key, value) values ('machine_id', ?)", [value])
        value = get_meta(db, "machine_id")
    try:
        if db.execute("select 1 from machines where machine_id = ?", [value]).fetchone() is None:
            import socket
            from datetime import datetime, timezone

            now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            db.execute(
                "insert or ignore into machines (machine_id, name, first_seen) values (?, ?, ?)",
                [value, socket.gethostname().split(".")[0] or None, now],
            )
    except sqlite3.OperationalError:
        pass  # no machines table yet (before its migration), or a read-only store
    return value  # type: ignore[return-value]


def keep_prompt_text(db: sqlite_utils.Database) -> bool:
    """Whether prompt text is stored (off unless the user turned it on)."""
    return get_meta(db, "keep_prompt_text") == "1"


class transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``: take the write lock up front, so two
    writers queue on the busy timeout instead of failing half way."""

    def __init__(self, db: sqlite_utils.Database):
        self.conn = db.conn

    def __enter__(self):
        self.conn.execute("begin immediate")
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.conn.execute("commit")
        elif self.conn.in_transaction:
            self.conn.execute("rollback")
        return False
