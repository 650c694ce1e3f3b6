"""Real recorded session logs (fixtures/real/<agent>/<case>, sources in fixtures/real/SOURCES.md).

Each case is ingested as it is: no line may be reported skipped, no file left
unrecognised, and the stored totals must equal both the case's expected.json
and an independent reading of the raw files (``independent_count``).
"""

from __future__ import annotations

import pytest

from .conftest import FIXTURES, expected_totals, ingest_home, totals
from .independent_count import TOTAL_KEYS, count

REAL = FIXTURES / "real"
CASES = sorted(
    (agent.name, case.name)
    for agent in REAL.iterdir()
    if agent.is_dir()
    for case in agent.iterdir()
    if (case / "expected.json").exists()
)


def test_there_are_real_cases_and_each_names_its_source():
    assert CASES
    sources = (REAL / "SOURCES.md").read_text()
    for agent, case in CASES:
        assert f"{agent}/{case}" in sources


@pytest.mark.parametrize(("agent", "case"), CASES, ids=[f"{a}/{c}" for a, c in CASES])
def test_real_logs_ingest_with_no_skipped_line_and_exact_totals(db, agent, case):
    case_dir = REAL / agent / case
    expected = expected_totals(case_dir)
    stats = ingest_home(db, case_dir / "home")
    assert stats.bad_lines == {}, f"skipped lines: {stats.bad_lines}"
    assert not stats.unrecognised and not stats.failed_files
    assert stats.ignored_lines == expected.get("ignored_lines", 0)
    got = totals(db, agent)
    assert {k: got[k] for k in expected if k in got} == {k: v for k, v in expected.items() if k in got}


@pytest.mark.parametrize(("agent", "case"), CASES, ids=[f"{a}/{c}" for a, c in CASES])
def test_real_log_totals_equal_an_independent_count(db, agent, case):
    case_dir = REAL / agent / case
    ingest_home(db, case_dir / "home")
    independent = count(agent, case_dir / "home")
    assert independent["broken_lines"] == 0
    got = totals(db, agent)
    assert {k: got[k] for k in TOTAL_KEYS} == {k: independent[k] for k in TOTAL_KEYS}


@pytest.mark.parametrize(
    ("agent", "case"),
    [
        ("claude-code", "streaming"),
        ("claude-code", "line-types"),
        ("claude-code", "subagents"),
        ("codex", "basic"),
        ("codex", "lost-call"),
        ("codex", "desktop-resumed"),
        ("gemini-cli", "basic"),
        ("gemini-cli", "legacy-json"),
    ],
)
def test_the_independent_count_agrees_with_hand_computed_fixtures(agent, case):
    """The counter itself is checked against totals computed by hand."""
    expected = expected_totals(FIXTURES / agent / case)
    independent = count(agent, FIXTURES / agent / case / "home")
    assert {k: independent[k] for k in TOTAL_KEYS if k in expected} == {
        k: expected[k] for k in TOTAL_KEYS if k in expected
    }
