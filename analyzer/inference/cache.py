"""The last fit, kept until its evidence changes: `infer-limit` answers at once when nothing is new.

A fit over a large store takes seconds (every candidate quantity, change-point
search, free weights). Its result depends only on the evidence (the request
ledger, the prompts, the quota readings, the limit hits), the filters asked
for, the plans catalogue (stated figures) and the inference code; a fingerprint
of all that keys the cached result in ``meta``. The evidence's fingerprint is a
handful of aggregates per table (row counts, highest row id, token sums, first
and last time), read from covering indexes: a new row, a better copy of a
request replacing an old one (its tokens change), or a deleted one changes it;
so do the accounts (the rules' digest, and the requests per account).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from analyzer.store.database import Store

_EVIDENCE = (
    "select count(*), coalesce(max(rowid), 0), total(input_tokens), total(cache_read_tokens),"
    " total(cache_write_tokens), total(output_tokens), min(ts), max(ts) from requests",
    # accounts: the same rows, moved between accounts by accounts.toml, are other evidence
    "select value from meta where key = 'accounts_digest'",
    "select group_concat(account || ':' || n) from (select coalesce(account, '') as account, count(*) as n"
    " from requests indexed by requests_account_ts group by account)",
    "select count(*), coalesce(max(rowid), 0), min(ts), max(ts) from prompts",
    "select count(*), coalesce(max(rowid), 0), total(used_percent), min(observed_at), max(observed_at)"
    " from quota_readings",
    "select count(*), coalesce(max(rowid), 0), max(ts), group_concat(coalesce(reset_at, ''), '') from limit_hits",
)


def fingerprint(db: Store, filters: tuple) -> str:
    """What a fit's result depends on, hashed."""
    parts: list = [repr(filters)]
    for sql in _EVIDENCE:
        parts.append(repr(db.execute(sql).fetchone()))
    here = Path(__file__).resolve().parent
    bundled = (here.parent / "plans" / "plans.json", here.parent / "pricing" / "prices.json")
    for path in sorted([*here.glob("*.py"), *bundled]):
        try:
            st = path.stat()
            parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{path.name}:missing")
    from analyzer.pricing.prices import user_file

    for stem in ("plans", "prices"):  # the user's own plans and prices count too
        path = user_file(stem)
        if path is not None:
            st = path.stat()
            parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("\n".join(map(str, parts)).encode()).hexdigest()


def _key(filters: tuple) -> str:
    return "infer_cache:" + hashlib.sha1(repr(filters).encode()).hexdigest()[:16]


def load(db: Store, filters: tuple, stamp: str) -> list[dict] | None:
    """The cached estimates for these filters, if their evidence is unchanged."""
    row = db.execute("select value from meta where key = ?", [_key(filters)]).fetchone()
    if not row or not row[0]:
        return None
    try:
        cached = orjson.loads(row[0])
    except orjson.JSONDecodeError:
        return None
    return cached.get("result") if cached.get("stamp") == stamp else None


def store(db: Store, filters: tuple, stamp: str, result: list[dict]) -> None:
    db.execute(
        "insert into meta (key, value) values (?, ?) on conflict(key) do update set value = excluded.value",
        [_key(filters), orjson.dumps({"stamp": stamp, "result": result}).decode()],
    )
