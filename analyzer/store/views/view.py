"""How a view is declared: its name, the tables it needs, its SQL."""

from __future__ import annotations

from typing import NamedTuple


class View(NamedTuple):
    """A view: its name, the tables it needs (it is made once they all exist), its SQL."""

    name: str
    tables: frozenset[str]
    sql: str


def view(name: str, tables: set[str], sql: str) -> View:
    """Declare a view (its SQL stripped, as SQLite stores it)."""
    return View(name, frozenset(tables), sql.strip())
