"""A fixture case as a HOME the agents' default folders point at.

Most cases hold a ``home/`` folder, copied as it is. The agents that keep an
SQLite store (Crush, Goose, the Kilo CLI) have theirs as SQL instead
(``store.sql`` over the agent's ``schema.sql``, or OpenCode's for Kilo), built
here into the folder the agent uses, in WAL mode as the agent keeps it. Every
test that needs such a HOME builds it with these functions.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from .conftest import FIXTURES


def run_sql(path: Path, *scripts: str) -> None:
    """Apply SQL scripts to the SQLite file at ``path`` (made, in WAL mode, if new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.executescript("".join(scripts))
    conn.close()


def register_crush_project(home: Path, project: Path) -> None:
    """``projects.json`` as Crush writes it, in the global data folder."""
    listing = home / ".local" / "share" / "crush" / "projects.json"
    listing.parent.mkdir(parents=True, exist_ok=True)
    known = json.loads(listing.read_text())["projects"] if listing.exists() else []
    known.append({"path": str(project), "data_dir": str(project / ".crush"), "last_accessed": "2026-11-17T07:00:00Z"})
    listing.write_text(json.dumps({"projects": known}, indent=2))


def build_crush(case_dir: Path, home: Path, project: str = "proj") -> Path:
    """A HOME with one Crush project whose ``crush.db`` holds the case's rows."""
    root = home / project
    schema = (case_dir.parent / "schema.sql").read_text()
    run_sql(root / ".crush" / "crush.db", schema, (case_dir / "store.sql").read_text())
    register_crush_project(home, root)
    return home


def goose_store(home: Path) -> Path:
    return home / ".local" / "share" / "goose" / "sessions" / "sessions.db"


def build_goose(case_dir: Path, home: Path) -> Path:
    """A HOME whose Goose ``sessions.db`` holds the case's rows."""
    run_sql(goose_store(home), (case_dir.parent / "schema.sql").read_text(), (case_dir / "store.sql").read_text())
    return home


def build_kilo(case_dir: Path, home: Path) -> Path:
    """The case's ``home/`` plus the Kilo CLI's ``kilo.db`` (OpenCode's tables) holding its rows."""
    shutil.copytree(case_dir / "home", home, dirs_exist_ok=True)
    schema = (FIXTURES / "opencode" / "schema.sql").read_text()
    run_sql(home / ".local" / "share" / "kilo" / "kilo.db", schema, (case_dir / "store.sql").read_text())
    return home


STORES = {"crush": build_crush, "goose": build_goose, "kilo-code": build_kilo}


def build_case_home(agent: str, case_dir: Path, home: Path) -> None:
    """Lay one case out in ``home``: its ``home/`` folder, and its store when it keeps one as SQL."""
    if agent in STORES and (case_dir / "store.sql").exists():
        STORES[agent](case_dir, home)
    elif (case_dir / "home").is_dir():
        shutil.copytree(case_dir / "home", home, dirs_exist_ok=True)


def clean_case(agent: str) -> Path | None:
    """A case of ``agent`` with no bad line that can be laid out as a HOME: ``basic`` when there is one."""
    usable = [
        c.parent
        for c in sorted((FIXTURES / agent).glob("*/expected.json"))
        if not json.loads(c.read_text()).get("bad_lines")
        and ((c.parent / "home").is_dir() or (agent in STORES and (c.parent / "store.sql").exists()))
    ]
    return next((c for c in usable if c.name == "basic"), usable[0] if usable else None)
