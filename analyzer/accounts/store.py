"""Keeping stored rows' accounts current: attribute what is new, re-attribute when the rules change.

The writer attributes each request and quota reading as it writes it
(``AccountBook.request``, ``AccountBook.reading``). Everything else is done
here, over stored columns, never by reading logs again:

* rows with no attribution yet (``attribution`` null, found through partial
  indexes): limit hits (attributed after an ingest pass, once their session's
  calls are in), rows merged from another machine, rows
  written before accounts existed, rows written while ``accounts.toml`` could
  not be read;
* every row, when what attribution depends on changed (``book.digest``: the
  text of ``accounts.toml``, the zone, the attribution code's version, kept in
  ``meta.accounts_digest``). Rows are read in batches of ``BATCH`` and only
  those whose account or reason changed are written;
* ``prompts.account``: the account of the first call the prompt started, else
  of its session's calls around it, else ``''`` (none known yet; tried again
  after the next ingest pass).

``ensure_accounts`` is what reports run first: when nothing changed it reads
the file's text and probes four tiny indexes, and imports nothing else. A
store another writer keeps locked is left as it is (readers see the accounts
of the last attribution), and so is one opened read-only.
"""

from __future__ import annotations

import hashlib
import sqlite3
from typing import TYPE_CHECKING

from analyzer.accounts import ATTRIBUTION_VERSION

if TYPE_CHECKING:
    from analyzer.accounts.book import AccountBook
    from analyzer.accounts.rules import Rules
    from analyzer.store.database import Store

BATCH = 20_000
META_KEY = "accounts_digest"

_PENDING = (
    "select exists(select 1 from requests indexed by requests_unattributed where attribution is null)"
    " or exists(select 1 from limit_hits indexed by limit_hits_unattributed where attribution is null)"
    " or exists(select 1 from quota_readings indexed by quota_readings_unattributed where attribution is null)"
    " or exists(select 1 from prompts indexed by prompts_unattributed where account is null)"
)

# The columns each table's rows are attributed from, in the order of the book's method's arguments.
_TABLES = {
    "requests": "agent, provider, model, machine_id, project, ts",
    "limit_hits": "agent, session_id, ts, model, message, machine_id, provider",
    "quota_readings": "agent, source, plan_type, source_account, machine_id, observed_at",
}

# The account of a prompt: its first call's, else the session's first call at or after it, else the
# session's last call, else '' (unknown for now).
PROMPT_ACCOUNT = """coalesce(
  (select r.account from requests r where r.prompt_key = prompts.key and r.account is not null order by r.ts limit 1),
  (select r.account from requests r where r.agent = prompts.agent and r.session_id = prompts.session_id
     and r.ts >= prompts.ts and r.account is not null order by r.ts limit 1),
  (select r.account from requests r where r.agent = prompts.agent and r.session_id = prompts.session_id
     and r.account is not null order by r.ts desc limit 1),
  '')"""


def file_digest() -> str:
    """``Rules.digest`` of the user's ``accounts.toml`` without parsing it ('' when there is none)."""
    from analyzer.pricing.prices import config_dir

    try:
        text = (config_dir() / "accounts.toml").read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError):
        return "unreadable"  # load_rules says why
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def wanted_digest(text_digest: str) -> str:
    """``AccountBook.digest`` for a file of this ``Rules.digest`` (without importing the book)."""
    from analyzer.contract.timeutil import resolve_tz

    return f"{ATTRIBUTION_VERSION}:{text_digest or '-'}:{resolve_tz(None)}"


def has_pending(db: Store) -> bool:
    """Whether any row waits for an account (a probe of four partial indexes)."""
    return db.execute(_PENDING).fetchone()[0] == 1


def needs_work(db: Store) -> bool:
    """Whether ``ensure_accounts`` has anything to do."""
    row = db.execute("select value from meta where key = ?", [META_KEY]).fetchone()
    return (row[0] if row else None) != wanted_digest(file_digest()) or has_pending(db)


def ensure_accounts(db: Store, rules: Rules | None = None) -> int:
    """Make every row's account current; cheap when it is. Returns the rows whose account was written.

    A bad ``accounts.toml`` raises ``AccountsFileError`` (commands say why).
    """
    if "attributions" not in db.table_names():
        return 0
    if rules is None and not needs_work(db):
        return 0
    from analyzer.accounts.book import AccountBook, current_rules

    book = AccountBook(db, rules if rules is not None else current_rules())
    try:
        return update_accounts(db, book)
    except sqlite3.OperationalError as exc:
        if not any(word in str(exc) for word in ("locked", "busy", "readonly", "read-only")):
            raise
        return 0  # another writer holds the store: the accounts are caught up next time


def update_accounts(db: Store, book: AccountBook, *, retry_unknown_prompts: bool = False) -> int:
    """Attribute rows not attributed yet, and every row when the book's digest is not the stored one.

    Inside an open transaction (an ingest pass) everything happens in it; otherwise
    each batch is its own write transaction, so a long re-attribution never holds
    the store for long.
    """
    from analyzer.store.database import get_meta, set_meta

    stored = get_meta(db, META_KEY)
    full = stored is not None and stored != book.digest  # no digest yet: every attributed row used this book's
    written = 0
    for table in _TABLES:
        written += _table(db, book, table, full)
        if table == "requests":
            moved = written
    with _batch(db):
        cond = "account is null or account = ''" if retry_unknown_prompts else "account is null"
        if full and moved:
            cond = f"account is not {PROMPT_ACCOUNT}"
        db.execute(f"update prompts set account = {PROMPT_ACCOUNT} where {cond}")
        if stored != book.digest:
            set_meta(db, META_KEY, book.digest)
        if full:
            # Reasons no row refers to any more (an edited rule's old line) would still name a plan.
            db.execute(
                "delete from attributions where id not in (select attribution from requests where attribution"
                " is not null union select attribution from limit_hits where attribution is not null"
                " union select attribution from quota_readings where attribution is not null)"
            )
            book.forget()
    return written


def _table(db: Store, book: AccountBook, table: str, full: bool) -> int:
    """Attribute one table's rows (all of them when ``full``), batch by batch; the rows changed."""
    method = {"requests": book.request, "limit_hits": book.hit, "quota_readings": book.reading}[table]
    columns = _TABLES[table]
    written = 0
    after = 0
    while True:
        with _batch(db):
            if full:
                rows = db.execute(
                    f"select rowid, account, attribution, {columns} from {table} where rowid > ? order by rowid limit ?",
                    [after, BATCH],
                ).fetchall()
            else:
                rows = db.execute(
                    f"select rowid, account, attribution, {columns} from {table} indexed by {table}_unattributed"
                    " where attribution is null limit ?",
                    [BATCH],
                ).fetchall()
            if not rows:
                return written
            changes = []
            for rowid, account, attribution, *fields in rows:
                found = method(*fields)
                if found != (account, attribution):
                    changes.append((*found, rowid))
            if changes:
                db.executemany(f"update {table} set account = ?, attribution = ? where rowid = ?", changes)
            written += len(changes)
            after = rows[-1][0]
        if len(rows) < BATCH:
            return written


class _batch:
    """The caller's transaction when one is open, else a write transaction of its own."""

    def __init__(self, db: Store):
        self.db = db
        self.own = not db.conn.in_transaction

    def __enter__(self):
        if self.own:
            self.db.conn.execute("begin immediate")
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self.own:
            return False
        if exc_type is None:
            self.db.conn.execute("commit")
        elif self.db.conn.in_transaction:
            self.db.conn.execute("rollback")
        return False
