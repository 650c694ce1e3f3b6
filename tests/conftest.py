"""Shared fixtures: every test runs offline in a temporary HOME, never on real logs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from analyzer.ingest.ingester import Ingester
from analyzer.registry.parsers import agent_environment
from analyzer.store import database as store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# Every variable that could point a test at real logs or a real store: the ones each registered
# parser reads to find its agent's logs, the XDG folders, the store's own, the zone.
AGENT_ENV = (
    *agent_environment(),
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "ANALYZER_DB",
    "TZ",
    "ANTHROPIC_BASE_URL",  # Claude Code's gateway: read at ingest as the weakest witness of the provider
)


def pytest_report_header(config):
    import sqlite_utils

    return f"sqlite {sqlite3.sqlite_version}, sqlite-utils {sqlite_utils.__version__ if hasattr(sqlite_utils, '__version__') else '?'}"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """A fresh HOME with no agent logs; third-party plugins not loaded."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in AGENT_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANALYZER_LOAD_PLUGINS", "")
    monkeypatch.setenv("ANALYZER_DB", str(tmp_path / "store" / "usage.db"))
    return home


@pytest.fixture
def db(tmp_path):
    return store.open_db(tmp_path / "test.db")


def ingest_home(db, home: Path, **env):
    """One ingest pass with ``home`` as HOME (the agents' default folders)."""
    return Ingester(db, env={"HOME": str(home), **env}).run()


def totals(db, agent: str | None = None) -> dict:
    where = "where agent = ?" if agent else ""
    params = [agent] if agent else []
    row = db.execute(
        f"select count(*), coalesce(sum(input_tokens), 0), coalesce(sum(cache_read_tokens), 0),"
        f" coalesce(sum(cache_write_tokens), 0), coalesce(sum(output_tokens), 0), coalesce(sum(reasoning_tokens), 0),"
        f" coalesce(sum(is_sidechain), 0) from requests {where}",
        params,
    ).fetchone()
    prompts = db.execute(f"select count(*) from prompts {where}", params).fetchone()[0]
    hits = db.execute(f"select count(*) from limit_hits {where}", params).fetchone()[0]
    readings = db.execute(f"select count(*) from quota_readings {where}", params).fetchone()[0]
    return {
        "requests": row[0],
        "input_tokens": row[1],
        "cache_read_tokens": row[2],
        "cache_write_tokens": row[3],
        "output_tokens": row[4],
        "reasoning_tokens": row[5],
        "sidechain_requests": row[6],
        "prompts": prompts,
        "limit_hits": hits,
        "quota_readings": readings,
    }


def expected_totals(case_dir: Path) -> dict:
    return json.loads((case_dir / "expected.json").read_text())


def check_totals(db, expected: dict, agent: str | None = None) -> None:
    """Assert every total the fixture's expected.json names."""
    got = totals(db, agent)
    for name, value in expected.items():
        if name in got:
            assert got[name] == value, f"{name}: got {got[name]}, expected {value}"


REQUEST_COLUMNS = (
    "key, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, trigger, prompt_key,"
    " is_sidechain, session_id, ts"
)


def rows_read_in_reverse(path: Path, home: Path, columns: str = REQUEST_COLUMNS) -> list:
    """The ``requests`` rows of a new store at ``path`` that read ``home``'s files in reverse order."""
    other = store.open_db(path)
    ingester = Ingester(other, env={"HOME": str(home)})
    discovery = ingester.discover()
    discovery.found.reverse()
    ingester.run(discovery=discovery)
    return other.execute(f"select {columns} from requests order by key").fetchall()
