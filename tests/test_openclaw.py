"""OpenClaw fixtures: pi session files in OpenClaw's folders, archives and legacy folders."""

from __future__ import annotations

import pytest
from analyzer.parsers.openclaw import OpenClawParser, is_transcript_name, openclaw_dirs

from analyzer.ingest.ingester import Ingester

from .conftest import FIXTURES, expected_totals, ingest_home
from .fixture_checks import cases, check_case, check_limit_hits, check_order_independence

AGENT = "openclaw"
CASES = cases(AGENT)


@pytest.mark.parametrize("case", CASES)
def test_fixture_totals(db, case):
    check_case(db, AGENT, case)


@pytest.mark.parametrize("case", CASES)
def test_totals_do_not_depend_on_reading_twice_or_file_order(db, tmp_path, case):
    check_order_independence(db, tmp_path, AGENT, case)


def test_limit_hits(db):
    check_limit_hits(db, AGENT, "basic")


def test_every_request_names_its_provider_and_the_agent_is_openclaw(db):
    ingest_home(db, FIXTURES / AGENT / "basic" / "home")
    got = dict(db.execute("select provider, count(*) from requests group by provider").fetchall())
    assert got == expected_totals(FIXTURES / AGENT / "basic")["providers"]
    assert {
        r[0] for r in db.execute("select distinct agent from requests union select distinct agent from prompts")
    } == {AGENT}


def test_archives_are_read_and_backups_and_the_index_are_not(db):
    home = FIXTURES / AGENT / "basic" / "home"
    found = Ingester(db, env={"HOME": str(home)}).discover()
    names = sorted(f.path.name for f in found.found if f.parser.name == AGENT)
    assert names == [
        "0f0f0f0f-0000-4000-8000-000000000001.jsonl",
        "0f0f0f0f-0000-4000-8000-000000000001.jsonl.reset.2026-04-01T08-00-00.000Z",
        "0f0f0f0f-0000-4000-8000-000000000002.jsonl",
        "0f0f0f0f-0000-4000-8000-000000000003-topic-42.jsonl",
    ]
    assert not found.unrecognised


def test_transcript_names():
    assert is_transcript_name("abc.jsonl")
    assert is_transcript_name("abc.jsonl.deleted.2026-04-01T08-00-00.000Z")
    assert is_transcript_name("abc.jsonl.reset.2026-04-01T08-00-00Z")
    assert not is_transcript_name("abc.jsonl.bak.2026-04-01T08-00-00.000Z")
    assert not is_transcript_name("sessions.json")
    assert not is_transcript_name("abc.jsonl.reset.yesterday")


def test_state_folders(tmp_path):
    assert openclaw_dirs({"HOME": str(tmp_path)}) == [
        tmp_path / n for n in (".openclaw", ".clawdbot", ".moldbot", ".moltbot")
    ]
    assert openclaw_dirs({"HOME": str(tmp_path), "OPENCLAW_STATE_DIR": str(tmp_path / "s")}) == [tmp_path / "s"]
    assert openclaw_dirs({"HOME": str(tmp_path), "CLAWDBOT_STATE_DIR": str(tmp_path / "c")}) == [tmp_path / "c"]
    assert openclaw_dirs({"HOME": "/nowhere", "OPENCLAW_HOME": str(tmp_path)})[0] == tmp_path / ".openclaw"
    assert OpenClawParser().roots({"USERPROFILE": str(tmp_path)})[0] == tmp_path / ".openclaw" / "agents"
