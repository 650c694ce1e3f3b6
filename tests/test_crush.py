"""Crush fixtures: the per-project ``crush.db`` found through ``projects.json``.

A case is ``fixtures/crush/<case>/``: ``store.sql`` (rows applied over
``schema.sql``, Crush's own migrations, into ``<project>/.crush/crush.db`` in WAL
mode as the agent keeps it), optional ``later.sql`` / ``latest.sql`` (what the
agent writes next, applied with a pass after each) and ``expected.json``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from analyzer.parsers.crush import CrushParser, global_data

from .case_homes import build_crush
from .conftest import FIXTURES, REQUEST_COLUMNS, check_totals, expected_totals, ingest_home, rows_read_in_reverse

CASES_DIR = FIXTURES / "crush"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "expected.json").exists())


def build_home(case: str, home: Path, project: str = "proj") -> Path:
    """A HOME with one Crush project whose store holds the case's rows."""
    return build_crush(CASES_DIR / case, home, project)


def apply(home: Path, case: str, script: str, project: str = "proj") -> None:
    conn = sqlite3.connect(home / project / ".crush" / "crush.db", isolation_level=None)
    conn.executescript((CASES_DIR / case / script).read_text())
    conn.close()


@pytest.mark.parametrize("case", CASES)
def test_fixture_totals(db, tmp_path, case):
    expected = expected_totals(CASES_DIR / case)
    home = build_home(case, tmp_path / "h")
    stats = ingest_home(db, home)
    assert stats.bad_total() == 0 and stats.failed_files == [] and not stats.unrecognised
    check_totals(db, expected)
    if "triggers" in expected:
        assert (
            dict(db.execute("select trigger, count(*) from requests group by trigger").fetchall())
            == expected["triggers"]
        )
    assert db.execute("select count(*) from requests where provider is null").fetchone()[0] == 0
    assert {r[0] for r in db.execute("select distinct project from requests")} == {str(tmp_path / "h" / "proj")}


@pytest.mark.parametrize("case", CASES)
def test_reading_twice_or_in_reverse_adds_nothing(db, tmp_path, case):
    home = build_home(case, tmp_path / "h")
    ingest_home(db, home)
    rows = db.execute(f"select {REQUEST_COLUMNS} from requests order by key").fetchall()
    ingest_home(db, home)
    assert db.execute(f"select {REQUEST_COLUMNS} from requests order by key").fetchall() == rows
    assert rows_read_in_reverse(tmp_path / "reverse.db", home) == rows


def test_each_step_keeps_the_figures_it_was_read_with(db, tmp_path):
    expected = expected_totals(CASES_DIR / "in-progress")
    home = build_home("in-progress", tmp_path / "h")
    ingest_home(db, home)
    check_totals(db, expected)
    apply(home, "in-progress", "later.sql")
    ingest_home(db, home)
    check_totals(db, expected["later"])
    apply(home, "in-progress", "latest.sql")
    ingest_home(db, home)
    check_totals(db, expected["latest"])
    owned = dict(db.execute("select substr(key, 7), input_tokens from requests where complete = 1"))
    assert owned == {"wa1": 20000, "wa2": 21000}


def test_rate_limit_refusals_are_limit_hits(db, tmp_path):
    ingest_home(db, build_home("rate-limit", tmp_path / "h"))
    got = [{"ts": ts, "message": m} for ts, m in db.execute("select ts, message from limit_hits")]
    assert got == expected_totals(CASES_DIR / "rate-limit")["hits"]


def test_child_sessions_are_subagents(db, tmp_path):
    ingest_home(db, build_home("child-session", tmp_path / "h"))
    assert db.execute(
        "select session_id, parent_session_id, is_subagent from sessions where is_subagent = 1"
    ).fetchall() == [("c", "p", 1)]
    assert {r[0] for r in db.execute("select session_id from prompts")} == {"p"}


def test_two_projects_are_two_stores(db, tmp_path):
    home = build_home("steps", tmp_path / "h", "one")
    build_home("rate-limit", home, "two")
    ingest_home(db, home)
    assert db.execute("select count(distinct project) from requests").fetchone()[0] == 2
    check_totals(db, {"requests": 6, "input_tokens": 61000, "output_tokens": 1000})


def test_global_data_folder_per_os():
    assert global_data({"CRUSH_GLOBAL_DATA": "/data/crush", "XDG_DATA_HOME": "/x"}) == Path("/data/crush")
    assert global_data({"XDG_DATA_HOME": "/x", "HOME": "/home/u"}) == Path("/x/crush")
    assert global_data({"LOCALAPPDATA": r"C:\Users\u\AppData\Local"}) == Path(r"C:\Users\u\AppData\Local") / "crush"
    assert global_data({"HOME": "/home/u"}) == Path("/home/u/.local/share/crush")
    assert CrushParser().roots({"HOME": "/nowhere"}) == []
