"""Factory Droid fixtures: running totals read as growth, compaction successors, forks, subagents.

A case is ``fixtures/droid/<case>/``: ``home/`` (a HOME as Droid leaves it),
optional ``steps/NN/`` (files that replace or extend ``home/``'s, applied in
order with an ingest pass after each: the session growing between two reads),
and ``expected.json`` (totals after ``home/``, and after each step).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from analyzer.parsers.droid import DroidSettingsParser, droid_roots
from analyzer.parsers.droid.usage import normalise_model

from .conftest import FIXTURES, check_totals, expected_totals, ingest_home, rows_read_in_reverse

CASES_DIR = FIXTURES / "droid"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "expected.json").exists())


def steps(case: str) -> list[Path]:
    folder = CASES_DIR / case / "steps"
    return sorted(folder.iterdir()) if folder.exists() else []


def apply_step(step: Path, home: Path, n: int) -> None:
    """Copy a step's files over the home, each with a new modification time."""
    for src in step.rglob("*"):
        if src.is_file():
            dest = home / src.relative_to(step)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            os.utime(dest, (1_900_000_000 + n, 1_900_000_000 + n))


def copy_home(case: str, tmp_path: Path) -> Path:
    home = tmp_path / "h"
    shutil.copytree(CASES_DIR / case / "home", home)
    return home


@pytest.mark.parametrize("case", CASES)
def test_totals_after_each_read(db, tmp_path, case):
    expected = expected_totals(CASES_DIR / case)
    home = copy_home(case, tmp_path)
    stats = ingest_home(db, home)
    assert stats.bad_total() == 0 and not stats.unrecognised and stats.failed_files == []
    check_totals(db, expected)
    ingest_home(db, home)  # nothing changed: nothing added
    check_totals(db, expected)
    for n, (step, after) in enumerate(zip(steps(case), expected.get("steps", [])), 1):
        apply_step(step, home, n)
        stats = ingest_home(db, home)
        assert stats.bad_total() == 0
        check_totals(db, after)
        for path in home.rglob("*.settings.json"):  # read again after a touch: still nothing added
            os.utime(path, (1_950_000_000 + n, 1_950_000_000 + n))
        ingest_home(db, home)
        check_totals(db, after)
    assert db.execute("select count(*) from requests where provider is null").fetchone()[0] == 0


@pytest.mark.parametrize("case", CASES)
def test_reading_order_does_not_matter(db, tmp_path, case):
    home = copy_home(case, tmp_path)
    ingest_home(db, home)
    from .conftest import REQUEST_COLUMNS

    assert (
        rows_read_in_reverse(tmp_path / "reverse.db", home)
        == db.execute(f"select {REQUEST_COLUMNS} from requests order by key").fetchall()
    )


def test_growth_is_shared_over_the_calls_of_each_read(db, tmp_path):
    expected = expected_totals(CASES_DIR / "growth")
    home = copy_home("growth", tmp_path)
    columns = "input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens"
    query = f"select substr(key, instr(substr(key, 7), ':') + 7), {columns} from requests order by ts"
    ingest_home(db, home)
    assert [list(r) for r in db.execute(query)] == expected["first_rows"]
    apply_step(steps("growth")[0], home, 1)
    ingest_home(db, home)
    assert [list(r) for r in db.execute(query)] == expected["first_rows"] + expected["later_rows"]
    triggers = [r[0] for r in db.execute("select trigger from requests order by ts")]
    assert triggers == ["prompt", "tool_result", "prompt", "tool_result", "tool_result"]
    prompt_of = dict(db.execute("select substr(key, -4), substr(prompt_key, -4) from requests"))
    assert prompt_of == {"m-a1": "m-u1", "m-a2": "m-u1", "m-a3": "m-u2", "m-a4": "m-u2", "m-a5": "m-u2"}


def test_custom_models_are_named_as_priced_and_growth_without_a_call_is_kept(db, tmp_path):
    expected = expected_totals(CASES_DIR / "custom-model")
    home = copy_home("custom-model", tmp_path)
    ingest_home(db, home)
    assert [r[0] for r in db.execute("select distinct model from requests")] == expected["models"]
    apply_step(steps("custom-model")[0], home, 1)
    ingest_home(db, home)
    keys = [r[0] for r in db.execute("select key from requests order by key")]
    assert keys == [
        "droid:c0000000-0000-4000-8000-0000000000c1:k-a1",
        "droid:c0000000-0000-4000-8000-0000000000c1:total:20:4000:4100:2600",
    ]


def test_subagents_and_successors_are_linked_to_their_parents(db, tmp_path):
    ingest_home(db, copy_home("fork-subagent", tmp_path / "a"))
    ingest_home(db, copy_home("compaction", tmp_path / "b"))
    rows = dict(
        db.execute(
            "select session_id, parent_session_id || ':' || is_subagent from sessions"
            " where parent_session_id is not null"
        )
    )
    assert rows == {
        "b0000000-0000-4000-8000-0000000000f1": "b0000000-0000-4000-8000-0000000000f0:0",
        "b0000000-0000-4000-8000-0000000000f2": "b0000000-0000-4000-8000-0000000000f0:1",
        "a1b2c3d4-0000-4000-8000-00000000c0a2": "a1b2c3d4-0000-4000-8000-00000000c0a1:0",
        "a1b2c3d4-0000-4000-8000-00000000c0a3": "a1b2c3d4-0000-4000-8000-00000000c0a1:0",
    }


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("custom:Claude-Opus-4.5-Thinking-[Anthropic]-0", "claude-opus-4.5-thinking"),
        ("custom:GLM-4.6-[Z.AI Coding Plan]-1", "glm-4.6"),
        ("custom:Kimi K2 [Moonshot]-12", "kimi-k2"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929"),
        ("gpt-5-codex", "gpt-5-codex"),
        ("", None),
    ],
)
def test_model_names(raw, name):
    assert normalise_model(raw) == name


def test_roots_follow_droids_home_override_and_ccusage_variable(tmp_path):
    env = {"HOME": "/home/u", "FACTORY_HOME_OVERRIDE": "/srv/droid", "DROID_SESSIONS_DIR": "/backup/a,/backup/b"}
    assert droid_roots(env) == [Path("/srv/droid/.factory/sessions"), Path("/backup/a"), Path("/backup/b")]
    assert droid_roots({"USERPROFILE": r"C:\Users\u"}) == [Path(r"C:\Users\u") / ".factory" / "sessions"]
    assert DroidSettingsParser().candidate(Path("x/abc.settings.json"))
    assert not DroidSettingsParser().candidate(Path("x/settings.json"))
