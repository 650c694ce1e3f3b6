"""Writing records to the store: the upserts, and the rule that the best copy wins.

A model call may be seen several times (streaming lines repeating the usage
with partial output, resumed sessions replaying lines, copies of files, the
same call in another machine's snapshot). The ``requests`` row kept is the
greatest by a fixed order (more output, then final over partial, then more
input, then the main chain over a sidechain copy, then a copy linked to its
prompt, then a copy that names its provider; the earliest time, then the
smallest machine id, break ties), in SQL on conflict and in Python within a
batch, so no total depends on the order files (or snapshots) are read in.
Prompts copied into another session keep the earliest (time, session, machine).
A limit hit or a reading seen on two machines keeps the copy of the smaller
machine id (and on one machine, the first copy, completed by later ones).
Nothing here deletes a row.

Requests and quota readings are attributed to an account as they are written
when ``accounts`` (an ``analyzer.accounts.book.AccountBook``) is set; limit
hits (which need their session's calls), and every row written without it,
are left for ``analyzer.accounts.store`` (their ``attribution`` is null).

The same statements merge another machine's snapshot (``analyzer.sync``): the
best-record rule is written once, here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

import orjson

from analyzer.contract.records import BadLine, LimitHit, Prompt, QuotaReading, Request, Session
from analyzer.contract.timeutil import format_utc, now_utc
from analyzer.contract.validation import Validator
from analyzer.store.schema import COST_COLUMN_NAMES as COST_COLUMNS

if TYPE_CHECKING:
    from analyzer.accounts.book import AccountBook
    from analyzer.pricing.costs import PriceBook
    from analyzer.store.database import Store

# The columns of a row built by ``request_row`` (in a worker process too: no account yet).
_ROW_COLUMNS = (
    "key",
    "agent",
    "session_id",
    "ts",
    "model",
    "provider",
    "project",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "trigger",
    "prompt_key",
    "is_sidechain",
    "complete",
    "speed",
    "raw_usage",
    "source_id",
    "source_offset",
    "machine_id",
)
_REQUEST_COLUMNS = (*_ROW_COLUMNS, "account", "attribution")
REQUEST_COLUMNS = _ROW_COLUMNS  # what a record says (and what a snapshot carries)


def _rank(prefix: str) -> str:
    """The best-record order of a ``requests`` row, as a SQL row value.

    Later positions only break ties of earlier ones. A copy that names its
    provider beats an otherwise equal one that does not (so reading a file
    again with a parser that now records it fills it in). The tie-breakers
    after the rank compare the *other* side's values, so that the earlier time
    (and the smaller ids, the smaller machine id last) win a tie: the result
    never depends on which copy was read first.
    """
    return (
        f"{prefix}.output_tokens, {prefix}.complete, "
        f"{prefix}.input_tokens + {prefix}.cache_read_tokens + {prefix}.cache_write_tokens, "
        f"1 - {prefix}.is_sidechain, {prefix}.prompt_key is not null, {prefix}.provider is not null"
    )


def _ties(prefix: str) -> str:
    return (
        f"{prefix}.ts, {prefix}.session_id, coalesce({prefix}.prompt_key, ''), {prefix}.trigger,"
        f" coalesce({prefix}.machine_id, '')"
    )


_BETTER = f"({_rank('excluded')}, {_ties('requests')}) > ({_rank('requests')}, {_ties('excluded')})"


# A replaced row's stored costs are no longer current (analyzer.report_schema): priced = 0.
_REQUEST_UPSERT = (
    f"insert into requests ({', '.join(_REQUEST_COLUMNS)}) values ({', '.join('?' * len(_REQUEST_COLUMNS))}) "
    "on conflict(key) do update set "
    + ", ".join(f"{c} = excluded.{c}" for c in _REQUEST_COLUMNS if c != "key")
    + f", priced = 0 where {_BETTER}"
)

# The same with the row's costs worked out as it is written (analyzer.costs.PriceBook).
_PRICED_COLUMNS = (*_REQUEST_COLUMNS, *COST_COLUMNS, "priced")
_PRICED_UPSERT = (
    f"insert into requests ({', '.join(_PRICED_COLUMNS)}) values ({', '.join('?' * len(_PRICED_COLUMNS))}) "
    "on conflict(key) do update set "
    + ", ".join(f"{c} = excluded.{c}" for c in _PRICED_COLUMNS if c != "key")
    + f" where {_BETTER}"
)

PROMPT_COLUMNS = (
    "key",
    "agent",
    "session_id",
    "ts",
    "project",
    "text_hash",
    "text_length",
    "text",
    "is_sidechain",
    "source_id",
    "source_offset",
    "machine_id",
)
_PROMPT_UPSERT = (
    f"insert into prompts ({', '.join(PROMPT_COLUMNS)}) values ({', '.join('?' * len(PROMPT_COLUMNS))}) "
    "on conflict(key) do update set text = coalesce(prompts.text, excluded.text), "
    # A prompt copied into another session (fork, undo) keeps the earliest (ts, session), then the
    # smaller machine id: which copy was read first must not matter.
    + ", ".join(
        f"{c} = case when (excluded.ts, excluded.session_id, coalesce(excluded.machine_id, ''))"
        f" < (prompts.ts, prompts.session_id, coalesce(prompts.machine_id, ''))"
        f" then excluded.{c} else prompts.{c} end"
        for c in ("session_id", "project", "source_id", "source_offset", "machine_id", "ts")
    )
)

HIT_COLUMNS = (
    "key",
    "agent",
    "session_id",
    "ts",
    "reset_at",
    "window_minutes",
    "limit_type",
    "message",
    "model",
    "source_id",
    "source_offset",
    "machine_id",
    "provider",
)
_FOREIGN = "coalesce(excluded.machine_id, '') < coalesce({t}.machine_id, '')"  # the other copy's machine id is smaller


def _hit_value(column: str) -> str:
    """One column of a limit hit seen again: the first copy's, completed (reset, window) by the other, unless
    the other copy comes from a machine with a smaller id (then the other way round)."""
    foreign = _FOREIGN.format(t="limit_hits")
    if column in ("reset_at", "window_minutes", "provider"):
        return (
            f"{column} = case when {foreign} then coalesce(excluded.{column}, limit_hits.{column})"
            f" else coalesce(limit_hits.{column}, excluded.{column}) end"
        )
    if column == "attribution":
        return f"attribution = case when {foreign} then null else limit_hits.attribution end"
    return f"{column} = case when {foreign} then excluded.{column} else limit_hits.{column} end"


_LIMIT_HIT_INSERT = (
    f"insert into limit_hits ({', '.join(HIT_COLUMNS)}) values ({', '.join('?' * len(HIT_COLUMNS))}) "
    "on conflict(key) do update set " + ", ".join(_hit_value(c) for c in (*HIT_COLUMNS[1:], "attribution"))
)

READING_COLUMNS = (
    "key",
    "agent",
    "observed_at",
    "used_percent",
    "window_minutes",
    "resets_at",
    "plan_type",
    "scope",
    "source",
    "source_account",
    "raw",
    "source_id",
    "machine_id",
)
# A reading is a fact as first seen: another machine's copy replaces it only when that machine's id is smaller.
_QUOTA_COLUMNS = (*READING_COLUMNS, "account", "attribution")
_QUOTA_INSERT = (
    f"insert into quota_readings ({', '.join(_QUOTA_COLUMNS)}) values ({', '.join('?' * len(_QUOTA_COLUMNS))}) "
    "on conflict(key) do update set "
    + ", ".join(f"{c} = excluded.{c}" for c in READING_COLUMNS[1:])
    + ", account = null, attribution = null"
    + f" where {_FOREIGN.format(t='quota_readings')}"
)

SESSION_COLUMNS = (
    "agent",
    "session_id",
    "project",
    "cwd",
    "parent_session_id",
    "client_version",
    "title",
    "is_subagent",
    "machine_id",
)
_SESSION_UPSERT = (
    f"insert into sessions ({', '.join(SESSION_COLUMNS)}) values ({', '.join('?' * len(SESSION_COLUMNS))}) "
    "on conflict(agent, session_id) do update set"
    " project = coalesce(sessions.project, excluded.project),"
    " cwd = coalesce(sessions.cwd, excluded.cwd),"
    " parent_session_id = coalesce(sessions.parent_session_id, excluded.parent_session_id),"
    " client_version = max(coalesce(sessions.client_version, ''), coalesce(excluded.client_version, '')),"
    " title = coalesce(excluded.title, sessions.title),"
    " is_subagent = max(sessions.is_subagent, excluded.is_subagent),"
    " machine_id = case when coalesce(excluded.machine_id, '') < coalesce(sessions.machine_id, '')"
    " then excluded.machine_id else sessions.machine_id end"
)

_ERROR_INSERT = (
    "insert into ingest_errors (source_id, offset, kind, reason, snippet, first_seen) values (?, ?, ?, ?, ?, ?) "
    "on conflict(source_id, offset, kind) do nothing"
)


# What each table's rows say, in the order ``write_rows`` takes them (and a snapshot carries them).
RECORD_COLUMNS: dict[str, tuple[str, ...]] = {
    "sessions": SESSION_COLUMNS,
    "requests": REQUEST_COLUMNS,
    "prompts": PROMPT_COLUMNS,
    "limit_hits": HIT_COLUMNS,
    "quota_readings": READING_COLUMNS,
}


def write_rows(conn, table: str, rows) -> int:
    """Write rows of ``table`` (tuples in ``RECORD_COLUMNS[table]`` order) by the writer's own rules: keyed,
    nothing deleted, the best copy of a request kept. Requests are left unpriced and unattributed. The caller
    owns the transaction. Returns how many rows were added or changed."""
    before = conn.total_changes
    if table == "requests":
        conn.executemany(_REQUEST_UPSERT, ((*r, None, None) for r in rows))
    elif table == "quota_readings":
        conn.executemany(_QUOTA_INSERT, ((*r, None, None) for r in rows))
    else:
        statement = {"sessions": _SESSION_UPSERT, "prompts": _PROMPT_UPSERT, "limit_hits": _LIMIT_HIT_INSERT}[table]
        conn.executemany(statement, rows)
    return conn.total_changes - before


def _json(value) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def prompt_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _better(new: tuple, old: tuple) -> bool:
    """The upsert's best-record order, in Python, on two ``request_row`` tuples."""

    def rank(r: tuple) -> tuple:
        return (r[12], r[17], r[7] + r[8] + r[9], 1 - r[16], r[15] is not None, r[5] is not None)

    a, b = rank(new), rank(old)
    if a != b:
        return a > b
    return (old[3], old[2], old[15] or "", old[14], old[22] or "") > (
        new[3],
        new[2],
        new[15] or "",
        new[14],
        new[22] or "",
    )


class RecordWriter:
    """Collects records from a parser and writes them in batches.

    The caller owns the transaction: ``flush`` only executes statements, so the
    rows and the source offset they came from commit together. Every record is
    checked first (``analyzer.contract.validation``): one that fails, or whose
    row cannot be built, is kept as a ``bad_value`` line instead, and nothing
    else is affected.
    """

    def __init__(self, db: Store | None, *, source_id: int | None, machine: str, keep_text: bool):
        self.conn = db.conn if db is not None else None  # None: build rows only (a worker process)
        self.prices: PriceBook | None = None  # set: rows are priced as they are written
        self.accounts: AccountBook | None = None  # set: requests are attributed as they are written
        self.source_id = source_id
        self.machine = machine
        self.keep_text = keep_text
        self.requests: dict[str, tuple] = {}
        self.prompts: list[tuple] = []
        self.hits: list[tuple] = []
        self.readings: list[tuple] = []
        self.sessions: list[tuple] = []
        self.errors: list[tuple] = []
        self.counts = {"requests": 0, "prompts": 0, "limit_hits": 0, "quota_readings": 0, "bad_lines": 0}
        self.bad_kinds: dict[str, int] = {}
        self.validator = Validator()

    def add(self, record, offset: int | None = None) -> None:
        """Take one record (``offset``: the line it came from); an implausible one becomes a ``BadLine``."""
        if type(record) is not BadLine:
            problem = self.validator.problem(record)
            if problem is None:
                try:
                    self._add(record, offset)
                    return
                except (TypeError, ValueError, OverflowError, orjson.JSONEncodeError) as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                except RecursionError:
                    problem = "nested too deeply to store"
            if not isinstance(record, (Request, Prompt, LimitHit, QuotaReading, Session)):
                raise TypeError(f"not a record: {record!r}")
            key = getattr(record, "key", None) or getattr(record, "session_id", "")
            record = BadLine(offset or 0, "bad_value", problem, str(key)[:160] if isinstance(key, str) else "")
        self._add(record, offset)

    def _add(self, record, offset: int | None) -> None:
        if isinstance(record, Request):
            row = self.request_row(record, offset)
            seen = self.requests.get(row[0])
            # Streamed copies of one call often arrive together: keep the best here
            # (the same order as the upsert) and write one row instead of several.
            if seen is None or _better(row, seen):
                self.requests[row[0]] = row
        elif isinstance(record, Prompt):
            text = record.text or ""
            self.prompts.append(
                (
                    record.key,
                    record.agent,
                    record.session_id,
                    record.ts,
                    record.project,
                    prompt_hash(text),
                    len(text),
                    text if self.keep_text else None,
                    int(record.is_sidechain),
                    self.source_id,
                    offset,
                    self.machine,
                )
            )
        elif isinstance(record, LimitHit):
            self.hits.append(
                (
                    record.key,
                    record.agent,
                    record.session_id,
                    record.ts,
                    record.reset_at,
                    record.window_minutes,
                    record.limit_type,
                    record.message,
                    record.model,
                    self.source_id,
                    offset,
                    self.machine,
                    record.provider,
                )
            )
        elif isinstance(record, QuotaReading):
            self.readings.append(self.reading_row(record))
        elif isinstance(record, Session):
            self.sessions.append(
                (
                    record.agent,
                    record.session_id,
                    record.project,
                    record.cwd,
                    record.parent_session_id,
                    record.client_version,
                    record.title,
                    int(record.is_subagent),
                    self.machine,
                )
            )
        elif isinstance(record, BadLine):
            self.errors.append(
                (
                    self.source_id if self.source_id is not None else 0,
                    record.offset,
                    record.kind,
                    record.reason,
                    record.snippet,
                    format_utc(now_utc()),
                )
            )
            self.bad_kinds[record.kind] = self.bad_kinds.get(record.kind, 0) + 1
        else:
            raise TypeError(f"not a record: {record!r}")

    def request_row(self, r: Request, offset: int | None) -> tuple:
        return (
            r.key,
            r.agent,
            r.session_id,
            r.ts,
            r.model,
            r.provider,
            r.project,
            int(r.input_tokens),
            int(r.cache_read_tokens),
            int(r.cache_write_tokens),
            r.cache_write_5m_tokens,
            r.cache_write_1h_tokens,
            int(r.output_tokens),
            int(r.reasoning_tokens),
            r.trigger,
            r.prompt_key,
            int(r.is_sidechain),
            int(r.complete),
            r.speed,
            _json(r.raw_usage),
            self.source_id,
            offset,
            self.machine,
        )

    def reading_row(self, r: QuotaReading) -> tuple:
        return (
            r.key,
            r.agent,
            r.observed_at,
            float(r.used_percent),
            r.window_minutes,
            r.resets_at,
            r.plan_type,
            r.scope,
            r.source,
            r.account,
            _json(r.raw),
            self.source_id,
            self.machine,
        )

    def extend(self, records: Iterable) -> None:
        for record in records:
            self.add(record)

    def pending(self) -> int:
        return (
            len(self.requests)
            + len(self.prompts)
            + len(self.hits)
            + len(self.readings)
            + len(self.sessions)
            + len(self.errors)
        )

    def payload(self) -> tuple:
        """The rows built so far, plain and picklable (a worker hands them over)."""
        return (
            list(self.requests.values()),
            self.prompts,
            self.hits,
            self.readings,
            self.sessions,
            self.errors,
            self.bad_kinds,
        )

    def absorb(self, payload: tuple) -> None:
        """Take rows another writer built (``payload``), as if added here."""
        requests, prompts, hits, readings, sessions, errors, bad_kinds = payload
        for row in requests:
            seen = self.requests.get(row[0])
            if seen is None or _better(row, seen):
                self.requests[row[0]] = row
        self.prompts.extend(prompts)
        self.hits.extend(hits)
        self.readings.extend(readings)
        self.sessions.extend(sessions)
        self.errors.extend(errors)
        for kind, n in bad_kinds.items():
            self.bad_kinds[kind] = self.bad_kinds.get(kind, 0) + n

    def flush(self) -> None:
        execmany = self.conn.executemany
        book = self.accounts
        if self.sessions:
            execmany(_SESSION_UPSERT, self.sessions)
        if self.requests:
            rows = self.requests.values()
            if book is not None:
                of = book.request
                rows = [(*r, *of(r[1], r[5], r[4], r[22], r[6], r[3])) for r in rows]
            else:
                rows = [(*r, None, None) for r in rows]
            if self.prices is not None:
                cost = self.prices.costs
                execmany(_PRICED_UPSERT, [(*r, *cost(r[4], r[7], r[8], r[9], r[11], r[12]), 1) for r in rows])
            else:
                execmany(_REQUEST_UPSERT, rows)
        if self.prompts:
            execmany(_PROMPT_UPSERT, self.prompts)
        if self.hits:
            execmany(_LIMIT_HIT_INSERT, self.hits)
        if self.readings:
            if book is not None:
                of = book.reading
                readings = [(*r, *of(r[1], r[8], r[6], r[9], r[12], r[2])) for r in self.readings]
            else:
                readings = [(*r, None, None) for r in self.readings]
            execmany(_QUOTA_INSERT, readings)
        if self.errors:
            execmany(_ERROR_INSERT, self.errors)
        self.counts["requests"] += len(self.requests)
        self.counts["prompts"] += len(self.prompts)
        self.counts["limit_hits"] += len(self.hits)
        self.counts["quota_readings"] += len(self.readings)
        self.counts["bad_lines"] += len(self.errors)
        for batch in (self.requests, self.prompts, self.hits, self.readings, self.sessions, self.errors):
            batch.clear()
