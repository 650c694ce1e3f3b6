"""Goose fixtures: ``sessions.db`` running totals read as growth.

A case is ``fixtures/goose/<case>/``: ``store.sql`` (rows over ``schema.sql``
into ``~/.local/share/goose/sessions/sessions.db``, in WAL mode), optional
``later.sql`` / ``latest.sql`` applied with a pass after each, and ``expected.json``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from analyzer.parsers.goose import GooseParser, goose_data_dirs

from .case_homes import build_goose, goose_store
from .case_homes import run_sql as shared_run_sql
from .conftest import FIXTURES, REQUEST_COLUMNS, check_totals, expected_totals, ingest_home, rows_read_in_reverse

CASES_DIR = FIXTURES / "goose"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "expected.json").exists())


def store_path(home: Path) -> Path:
    return goose_store(home)


def run_sql(home: Path, *scripts: str) -> None:
    shared_run_sql(goose_store(home), *scripts)


def build_home(case: str, home: Path) -> Path:
    return build_goose(CASES_DIR / case, home)


@pytest.mark.parametrize("case", CASES)
def test_totals_after_each_pass(db, tmp_path, case):
    expected = expected_totals(CASES_DIR / case)
    home = build_home(case, tmp_path / "h")
    stats = ingest_home(db, home)
    assert stats.bad_total() == 0 and stats.failed_files == [] and not stats.unrecognised
    check_totals(db, expected)
    for script in ("later", "latest"):
        if (CASES_DIR / case / f"{script}.sql").exists():
            run_sql(home, (CASES_DIR / case / f"{script}.sql").read_text())
            ingest_home(db, home)
            check_totals(db, expected[script])
            run_sql(home, "update sessions set description = description || ' ';")  # changed, same totals
            ingest_home(db, home)
            check_totals(db, expected[script])
    assert db.execute("select count(*) from requests where provider is null or model is null").fetchone()[0] == 0


@pytest.mark.parametrize("case", CASES)
def test_reading_order_does_not_matter(db, tmp_path, case):
    home = build_home(case, tmp_path / "h")
    ingest_home(db, home)
    rows = db.execute(f"select {REQUEST_COLUMNS} from requests order by key").fetchall()
    assert rows_read_in_reverse(tmp_path / "reverse.db", home) == rows


def test_subagent_sessions_are_sidechains_and_compaction_replays_are_not_calls(db, tmp_path):
    home = build_home("compaction-subagent", tmp_path / "h")
    ingest_home(db, home)
    run_sql(home, (CASES_DIR / "compaction-subagent" / "later.sql").read_text())
    ingest_home(db, home)
    keys = [r[0] for r in db.execute("select key from requests order by ts")]
    assert keys == ["goose:20261121_4:c2", "goose:20261121_5:s2", "goose:20261121_4:c4", "goose:20261121_4:c5"]
    assert db.execute("select provider, model, trigger from requests where is_sidechain = 1").fetchall() == [
        ("openai", "gpt-5-mini", "subagent")
    ]


def test_data_folders_per_os(tmp_path):
    assert goose_data_dirs({"GOOSE_PATH_ROOT": "/srv/goose", "HOME": "/home/u"}) == [Path("/srv/goose/data")]
    assert goose_data_dirs({"HOME": "/home/u", "XDG_DATA_HOME": "/x"})[0] == Path("/x/goose")
    assert Path(r"C:\Users\u\AppData\Roaming") / "Block" / "goose" / "data" in goose_data_dirs(
        {"APPDATA": r"C:\Users\u\AppData\Roaming", "USERPROFILE": r"C:\Users\u"}
    )
    assert GooseParser().roots({"HOME": "/home/u"})[0] == Path("/home/u/.local/share/goose/sessions/sessions.db")
