"""Datasette plugin: analyzer stores get their titles, canned queries and dashboard without ``-m``.

Installed with the ``datasette`` extra, it registers through Datasette's own
``datasette`` entry point, so ``datasette "$(analyzer db path)"`` run by hand
shows the same as ``analyzer serve``. It implements ``get_metadata`` (Datasette
0.65): for every attached database that is an analyzer store it supplies the
metadata of ``plugins.datasette.metadata``, including the
datasette-dashboards configuration. A ``-m metadata.yaml`` of your own still
wins where it says something different.

Which tables a store holds decides what is offered (``limit_estimates`` only
once infer-limit has made it), and the daemon may add them while Datasette
runs: each store's table list is re-read at most every ``REFRESH_SECONDS``.
"""

from __future__ import annotations

import copy
import sqlite3
import time
from pathlib import Path

from analyzer.plugins.datasette.metadata import metadata
from datasette import hookimpl

REFRESH_SECONDS = 2.0
# What an analyzer store has (any version this plugin's queries can run on).
NEEDED = {
    "requests",
    "prompts",
    "limit_hits",
    "quota_readings",
    "priced_requests",
    "prompt_fanout",
    "window_anchors",
    "plans",
    "plan_limits",
}

_tables: dict[str, tuple[float, frozenset[str] | None]] = {}
_built: dict[tuple, dict] = {}


def store_tables(path: str) -> frozenset[str] | None:
    """Tables and views of the SQLite file at ``path`` if it is an analyzer store, else None (cached briefly)."""
    now = time.monotonic()
    seen = _tables.get(path)
    if seen is not None and now - seen[0] < REFRESH_SECONDS:
        return seen[1]
    found: frozenset[str] | None = None
    try:
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=1.0)
        try:
            names = frozenset(
                r[0] for r in conn.execute("select name from sqlite_master where type in ('table', 'view')")
            )
        finally:
            conn.close()
        found = names if NEEDED <= names else None
    except sqlite3.Error:
        found = None
    _tables[path] = (now, found)
    return found


def analyzer_stores(datasette) -> dict[str, frozenset[str]]:
    """Datasette's name -> tables, for every attached database that is an analyzer store."""
    stores = {}
    for name, database in datasette.databases.items():
        if database.is_memory or not database.path or name.startswith("_"):
            continue
        tables = store_tables(str(database.path))
        if tables is not None:
            stores[name] = tables
    return stores


@hookimpl
def get_metadata(datasette, key, database, table):
    "Titles, descriptions, facets, hidden tables, canned queries and the dashboard of every analyzer store."
    stores = analyzer_stores(datasette)
    if not stores:
        return {}
    signature = tuple(sorted(stores.items()))
    if signature not in _built:
        _built.clear()
        _built[signature] = metadata({name: set(tables) for name, tables in stores.items()})
    # Datasette merges (and so changes) what a hook returns: hand out a copy.
    return copy.deepcopy(_built[signature])
