"""The ``limit_estimates`` table: the latest estimate per plan window, for Datasette, status and statusline.

The table is part of the core schema (``analyzer.store.schema``). One row per
(agent, plan, account, scope, window), replaced on every run; the JSON
columns hold what the ``--json`` output holds. ``limit`` is only set when it
was inferred (a stated figure is in ``stated``), so a reader may label any
limit it finds as inferred; ``candidate`` names the exact quantity (``quantity``
is ``tokens`` for every weighted sum, whose ``weights`` say which). Readers
should treat a missing table or a null ``limit`` as "nothing inferred yet".
"""

from __future__ import annotations

import orjson
import sqlite_utils

from analyzer.contract.timeutil import format_utc, now_utc

JSON_COLUMNS = ("weights", "model_weights", "evidence", "segments", "alternatives", "unexplained", "stated")
COLUMNS = (
    "key",
    "agent",
    "plan",
    "account",
    "scope",
    "window_minutes",
    "quantity",
    "candidate",
    "label",
    "weights",
    "model_weights",
    "limit",
    "low",
    "high",
    "unit",
    "method",
    "evidence",
    "segments",
    "alternatives",
    "unexplained",
    "stated",
    "needs",
    "summary",
    "created_at",
)


def row_key(estimate: dict) -> str:
    parts = [
        estimate["agent"],
        estimate.get("plan"),
        estimate.get("account"),
        estimate.get("scope"),
        str(estimate["window_minutes"]),
    ]
    return "|".join(p or "" for p in parts)


def save(db: sqlite_utils.Database, estimates: list[dict]) -> int:
    """Replace the rows of these plan windows; returns how many were written."""
    stamp = format_utc(now_utc())
    rows = []
    for e in estimates:
        values = {**e, "key": row_key(e), "created_at": stamp}
        if e.get("method") != "inferred":
            # Readers take a row's limit as inferred; a catalogue figure stays in ``stated``, labelled.
            values.update({"limit": None, "low": None, "high": None})
        for name in JSON_COLUMNS:
            values[name] = None if e.get(name) is None else orjson.dumps(e[name]).decode()
        rows.append(tuple(values.get(c) for c in COLUMNS))
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in COLUMNS if c != "key")
    with db.atomic():
        db.conn.executemany(
            f"insert into limit_estimates ({columns}) values ({', '.join('?' * len(COLUMNS))})"
            f" on conflict(key) do update set {updates}",
            rows,
        )
    return len(rows)
