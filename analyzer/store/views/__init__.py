"""SQL views: analysis that SQL can express, the same in Datasette and the CLI.

Views are derived, so changing one needs no migration: ``ensure_views`` runs on
every open and re-creates a view only when its SQL changed (so readers opening
the store do not take the write lock for nothing). Every view is in the list
``ALL_VIEWS``, in the order they are created (a view may read the ones
before it): the ledger (``requests``), prices (``costs``), the usage analysis
(``usage``) and the plan windows (``windows``), each module's ``VIEWS`` list.

Instants are UTC text; views that group by day use the UTC date (Datasette has
no time-zone support). The CLI reports group in the user's zone in Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from analyzer.store.views import costs, requests, usage, windows
from analyzer.store.views.view import View

if TYPE_CHECKING:
    import sqlite_utils

# Every view of the store, in creation order.
ALL_VIEWS: list[View] = [*requests.VIEWS, *costs.VIEWS, *usage.VIEWS, *windows.VIEWS]


def ensure_views(db: sqlite_utils.Database) -> None:
    """Create or replace every view whose tables exist and whose SQL changed."""
    existing = {
        row[0]: (row[1] or "")
        for row in db.execute("select name, sql from sqlite_master where type = 'view'").fetchall()
    }
    tables = set(db.table_names())
    stale = {}
    for name, needs, sql in ALL_VIEWS:
        if not needs <= tables:
            continue
        wanted = f"CREATE VIEW {name} AS {sql}"
        if existing.get(name) != wanted:
            stale[name] = wanted
    if not stale:
        return
    with db.atomic():
        # Views may depend on each other: drop all stale ones, then create in order.
        for name in stale:
            db.execute(f"drop view if exists {name}")
        for wanted in stale.values():
            db.execute(wanted)
