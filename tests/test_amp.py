"""Amp fixtures: thread files rewritten whole, the usage ledger and per-message usage counted once.

A case is ``fixtures/amp/<case>/``: ``home/`` (a HOME as Amp leaves it),
optional ``steps/NN/`` (the thread files rewritten, applied in order with a
pass after each) and ``expected.json``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from analyzer.parsers.amp import AmpParser, amp_dirs

from .conftest import FIXTURES, REQUEST_COLUMNS, check_totals, expected_totals, ingest_home, rows_read_in_reverse

CASES_DIR = FIXTURES / "amp"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "expected.json").exists())


def copy_home(case: str, tmp_path: Path) -> Path:
    home = tmp_path / "h"
    shutil.copytree(CASES_DIR / case / "home", home)
    return home


@pytest.mark.parametrize("case", CASES)
def test_totals_after_each_rewrite(db, tmp_path, case):
    expected = expected_totals(CASES_DIR / case)
    home = copy_home(case, tmp_path)
    stats = ingest_home(db, home)
    assert stats.bad_total() == 0 and not stats.unrecognised and stats.failed_files == []
    check_totals(db, expected)
    if "triggers" in expected:
        assert (
            dict(db.execute("select trigger, count(*) from requests group by trigger").fetchall())
            == expected["triggers"]
        )
    steps = sorted((CASES_DIR / case / "steps").iterdir()) if (CASES_DIR / case / "steps").exists() else []
    for n, (step, after) in enumerate(zip(steps, expected.get("steps", [])), 1):
        for src in step.rglob("*.json"):
            dest = home / src.relative_to(step)
            shutil.copyfile(src, dest)
            os.utime(dest, (1_900_000_000 + n, 1_900_000_000 + n))
        ingest_home(db, home)
        check_totals(db, after)
    assert {r[0] for r in db.execute("select distinct provider from requests")} == {"amp"}


@pytest.mark.parametrize("case", CASES)
def test_reading_twice_or_in_reverse_adds_nothing(db, tmp_path, case):
    home = copy_home(case, tmp_path)
    ingest_home(db, home)
    rows = db.execute(f"select {REQUEST_COLUMNS} from requests order by key").fetchall()
    for path in home.rglob("*.json"):
        os.utime(path, (1_950_000_000, 1_950_000_000))
    ingest_home(db, home)
    assert db.execute(f"select {REQUEST_COLUMNS} from requests order by key").fetchall() == rows
    assert rows_read_in_reverse(tmp_path / "reverse.db", home) == rows


def test_roots():
    assert amp_dirs({"AMP_DATA_DIR": "/a,/b", "HOME": "/home/u"}) == [Path("/a"), Path("/b")]
    assert amp_dirs({"HOME": "/home/u", "XDG_DATA_HOME": "/x"}) == [Path("/x/amp"), Path("/home/u/.local/share/amp")]
    assert AmpParser().roots({"HOME": "/home/u"}) == [Path("/home/u/.local/share/amp/threads")]
