"""Cline, Roo Code and Kilo Code: task folders, Cline 4 sessions and the Kilo CLI store.

A case is ``fixtures/<agent>/<case>/`` with ``home/`` laid out as on disk and
``expected.json`` with totals computed by hand; ``versions/`` holds earlier
states of a rewritten ``ui_messages.json``; Kilo's ``store.sql`` is applied over
OpenCode's schema into ``~/.local/share/kilo/kilo.db``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from analyzer.parsers.cline_tasks import ClineParser, KiloParser, TaskFolderParser, cline_session_dirs
from analyzer.parsers.cline_tasks.limits import refusal
from analyzer.parsers.cline_tasks.roots import extension_dirs
from analyzer.parsers.cline_tasks.usage import inclusive_for, split

from analyzer.api import BadLine, Request, SourceContext
from analyzer.ingest.ingester import Ingester
from analyzer.store import database as store

from .case_homes import build_kilo
from .conftest import FIXTURES, check_totals, expected_totals, ingest_home, totals
from .fixture_checks import check_case, check_limit_hits, check_order_independence

CASES = [
    (agent, p.name)
    for agent in ("cline", "roo-code")
    for p in sorted((FIXTURES / agent).iterdir())
    if (p / "expected.json").exists()
]
KILO = FIXTURES / "kilo-code" / "extension-and-cli"
TOKENS = "sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens)"


@pytest.mark.parametrize("agent,case", CASES)
def test_case_totals(db, agent, case):
    check_case(db, agent, case)


@pytest.mark.parametrize("agent,case", CASES)
def test_case_order_independent(db, tmp_path, agent, case):
    check_order_independence(db, tmp_path, agent, case)


@pytest.mark.parametrize("agent,case", [c for c in CASES if "hits" in expected_totals(FIXTURES / c[0] / c[1])])
def test_limit_hits(db, agent, case):
    check_limit_hits(db, agent, case)


def test_models_and_providers(db):
    case = FIXTURES / "cline" / "basic"
    ingest_home(db, case / "home")
    expected = expected_totals(case)
    assert dict(db.execute("select model, count(*) from requests group by model")) == expected["models"]
    assert dict(db.execute("select provider, count(*) from requests group by provider")) == expected["providers"]


def build_kilo_home(home: Path) -> Path:
    return build_kilo(KILO, home)


def test_kilo_extension_and_cli(db, tmp_path):
    home = build_kilo_home(tmp_path / "case")
    stats = ingest_home(db, home)
    check_totals(db, expected_totals(KILO))
    assert stats.bad_lines == {} and not stats.unrecognised
    assert {r[0] for r in db.execute("select distinct agent from requests")} == {"kilo-code"}
    assert {r[0] for r in db.execute("select agent from prompts")} == {"kilo-code"}
    keys = [r[0] for r in db.execute("select key from requests order by key")]
    assert all(k.startswith("kilo-code:") for k in keys)
    ingest_home(db, home)  # a second pass changes nothing
    check_totals(db, expected_totals(KILO))


def test_kilo_db_variable_and_channel_names(db, tmp_path):
    home = build_kilo_home(tmp_path / "case")
    data = home / ".local" / "share" / "kilo"
    (data / "kilo.db").rename(data / "kilo-nightly.db")
    for wal in data.glob("kilo.db-*"):
        wal.rename(data / wal.name.replace("kilo.db", "kilo-nightly.db"))
    ingest_home(db, home)
    assert totals(db)["requests"] == 4
    other = store.open_db(tmp_path / "other.db")
    moved = tmp_path / "elsewhere.db"
    shutil.copy(data / "kilo-nightly.db", moved)
    for f in data.glob("kilo-nightly.db*"):
        f.unlink()
    Ingester(other, env={"HOME": str(home), "KILO_DB": str(moved)}).run()
    assert totals(other)["requests"] == 4


# --- rewritten files: the same keys on every read ---------------------------------------


def _write(target: Path, source: Path, tick: int) -> None:
    shutil.copy(source, target)
    os.utime(target, (1_800_000_000 + tick, 1_800_000_000 + tick))


def _task_file(home: Path) -> Path:
    return next(home.rglob("ui_messages.json"))


DELETED = FIXTURES / "cline" / "deleted-api-reqs"
ORDERS = [("v2",), ("v3",), ("v1", "v2"), ("v2", "v3"), ("v1", "v3"), ("v1", "v2", "v3")]


@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_deleted_api_reqs_count_once_in_any_order_of_reads(tmp_path, order):
    """Whatever was seen before each restore, the tokens are those of r1..r4, once."""
    home = tmp_path / "case"
    shutil.copytree(DELETED / "home", home)
    db = store.open_db(tmp_path / "t.db")
    for tick, version in enumerate(order):
        _write(_task_file(home), DELETED / "versions" / version / "ui_messages.json", tick)
        ingest_home(db, home)
        ingest_home(db, home)  # an unchanged file, read again
    assert db.execute(f"select {TOKENS} from requests").fetchone() == (100, 26000, 1500, 1000)
    rows = {"v2": 3, "v3": 2, "v1-v2": 4, "v2-v3": 3, "v1-v3": 4, "v1-v2-v3": 4}["-".join(order)]
    assert totals(db)["requests"] == rows


def test_deleted_aggregate_residual_is_frozen(tmp_path):
    """Re-reading a restored file after more requests were appended keeps the aggregate's row."""
    home = tmp_path / "case"
    shutil.copytree(DELETED / "home", home)
    db = store.open_db(tmp_path / "t.db")
    _write(_task_file(home), DELETED / "versions" / "v1" / "ui_messages.json", 0)
    ingest_home(db, home)
    _write(_task_file(home), DELETED / "versions" / "v2" / "ui_messages.json", 1)
    ingest_home(db, home)
    messages = json.loads((DELETED / "versions" / "v2" / "ui_messages.json").read_text())
    messages.append(
        {
            "ts": 1767400005000,
            "type": "say",
            "say": "api_req_started",
            "text": json.dumps({"tokensIn": 1, "tokensOut": 2, "cacheWrites": 0, "cacheReads": 3, "cost": 0}),
        }
    )
    _task_file(home).write_text(json.dumps(messages))
    os.utime(_task_file(home), (1_800_000_100, 1_800_000_100))
    ingest_home(db, home)
    assert db.execute(f"select {TOKENS} from requests").fetchone() == (101, 26003, 1500, 1002)
    assert db.execute("select count(*) from requests where raw_usage like '%deleted_api_reqs%'").fetchone() == (0,)


def test_roo_restore_aggregates_do_not_nest(tmp_path):
    """Roo's api_req_deleted sums requests only: a later one does not include an earlier one."""
    t0 = 1767700000000
    req = lambda ts, i: {
        "ts": ts,
        "type": "say",
        "say": "api_req_started",
        "text": json.dumps(  # noqa: E731
            {"apiProtocol": "openai", "tokensIn": i, "tokensOut": 10, "cacheWrites": 0, "cacheReads": 0, "cost": 0}
        ),
    }
    deleted = lambda ts, i: {
        "ts": ts,
        "type": "say",
        "say": "api_req_deleted",
        "text": json.dumps(  # noqa: E731
            {"tokensIn": i, "tokensOut": 10, "cacheWrites": 0, "cacheReads": 0, "cost": 0}
        ),
    }
    task = {"ts": t0, "type": "say", "say": "task", "text": "go"}
    v1 = [task, req(t0 + 1, 100), req(t0 + 2, 200)]
    v2 = [task, req(t0 + 1, 100), deleted(t0 + 10, 200), req(t0 + 11, 300)]
    v3 = [task, deleted(t0 + 20, 400)]  # r1 and r3 cut; v2's aggregate is not part of it
    folder = tmp_path / "case" / ".config/Code/User/globalStorage/rooveterinaryinc.roo-cline/tasks/t1"
    folder.mkdir(parents=True)
    for order in ([v1, v2, v3], [v2, v3], [v3]):
        db = store.open_db(tmp_path / f"{len(order)}.db")
        for tick, version in enumerate(order):
            (folder / "ui_messages.json").write_text(json.dumps(version))
            os.utime(folder / "ui_messages.json", (1_800_000_000 + tick, 1_800_000_000 + tick))
            ingest_home(db, tmp_path / "case")
        got = db.execute("select sum(input_tokens) from requests").fetchone()[0]
        # Seen from v2 on: 100 + 200 (aggregate) + 300. Seen from v3 only: Roo itself lost v2's aggregate.
        assert got == (400 if order == [v3] else 600)


def test_streaming_then_complete_is_one_row(tmp_path):
    case = FIXTURES / "cline" / "rewritten"
    home = tmp_path / "case"
    shutil.copytree(case / "home", home)
    final = _task_file(home).read_bytes()
    db = store.open_db(tmp_path / "t.db")
    _write(_task_file(home), case / "versions" / "early" / "ui_messages.json", 0)
    ingest_home(db, home)
    assert totals(db)["requests"] == 1  # the request still streaming is not counted yet
    _task_file(home).write_bytes(final)
    os.utime(_task_file(home), (1_800_000_001, 1_800_000_001))
    ingest_home(db, home)
    check_totals(db, expected_totals(case))


# --- units --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "info,inclusive,expected",
    [
        ({"tokensIn": 100, "tokensOut": 5, "cacheWrites": 0, "cacheReads": 0}, True, (100, 5, 0, 0)),
        ({"tokensIn": 1000, "tokensOut": 5, "cacheWrites": 100, "cacheReads": 800}, True, (100, 5, 100, 800)),
        ({"tokensIn": 1000, "tokensOut": 5, "cacheWrites": 100, "cacheReads": 800}, False, (1000, 5, 100, 800)),
        ({"tokensIn": 10, "tokensOut": 5, "cacheWrites": 100, "cacheReads": 800}, True, (10, 5, 100, 800)),
        ({"tokensIn": 1000, "tokensOut": 5, "cacheWrites": 100, "cacheReads": 800}, None, (100, 5, 100, 800)),
        ({"tokensIn": None, "tokensOut": "x", "cacheWrites": -4, "cacheReads": True}, True, (0, 0, 0, 0)),
    ],
)
def test_split(info, inclusive, expected):
    assert tuple(split(info, inclusive)[0].as_list()) == expected


def test_inclusive_rules():
    assert inclusive_for("cline", 0, "openai", None) is True
    assert inclusive_for("cline", 0, "anthropic", None) is False
    assert inclusive_for("cline", 0, None, None) is None
    assert inclusive_for("roo-code", 0, None, "openai") is True
    assert inclusive_for("roo-code", 1762215535999, None, "anthropic") is False
    assert inclusive_for("roo-code", 1762215536000, None, "anthropic") is True
    assert inclusive_for("kilo-code", 1762215536000, None, "anthropic") is False  # Kilo took it later
    assert inclusive_for("kilo-code", 1762970631000, None, "anthropic") is True
    assert inclusive_for("roo-code", 1762215536000, None, None) is None


def test_refusal_texts():
    """Which error texts are limit hits, and their resets: read by analyzer.api.read_refusal."""
    at = "2026-03-01T09:00:00.000Z"
    assert refusal('{"message":"429 Too Many Requests","status":429}', at).kind == "rate_limit"
    assert refusal("You have exceeded your weekly usage limit", at).window_minutes == 10080
    assert refusal('{"message":"Insufficient balance","status":402}', at) is None
    assert refusal('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', at) is None
    assert refusal("socket hang up", at) is None
    assert refusal("", at) is None
    assert refusal("Rate limit reached; resets at 2026-03-01T10:00:00Z", at).reset_at == "2026-03-01T10:00:00.000Z"
    assert refusal('{"error":"usage_limit_reached","resets_at":1772359200}', at).reset_at == "2026-03-01T10:00:00.000Z"
    assert refusal("429 rate limited, try again in 5 minutes", at).reset_at == "2026-03-01T09:05:00.000Z"
    assert refusal("Usage limit reached, resets 6pm", at).reset_at is None  # no zone: no instant


def test_roots_cover_every_flavour_and_os(tmp_path):
    env = {"HOME": "/home/u", "APPDATA": "C:/Users/u/AppData/Roaming", "VSCODE_AGENT_FOLDER": "/srv/vscode"}
    dirs = {str(p) for p in extension_dirs(env, "x.y")}
    for expected in (
        "/home/u/.config/Code/User/globalStorage/x.y",
        "/home/u/.config/Code - Insiders/User/globalStorage/x.y",
        "/home/u/Library/Application Support/Cursor/User/globalStorage/x.y",
        "C:/Users/u/AppData/Roaming/Windsurf/User/globalStorage/x.y",
        "/home/u/.config/VSCodium/User/globalStorage/x.y",
        "/home/u/.config/Trae/User/globalStorage/x.y",
        "/home/u/Library/Application Support/Kiro/User/globalStorage/x.y",
        "/home/u/.config/Positron/User/globalStorage/x.y",
        "/home/u/.vscode-server/data/User/globalStorage/x.y",
        "/home/u/.cursor-server/data/User/globalStorage/x.y",
        "/srv/vscode/data/User/globalStorage/x.y",
    ):
        assert expected in dirs
    assert Path("/x/config/Code/User/globalStorage/x.y") in extension_dirs(
        {"HOME": "/h", "XDG_CONFIG_HOME": "/x/config"}, "x.y"
    )
    assert cline_session_dirs({"HOME": "/h"}) == [Path("/h/.cline/data/sessions")]
    assert cline_session_dirs({"HOME": "/h", "CLINE_DIR": "/c"}) == [Path("/c/data/sessions")]
    assert cline_session_dirs({"HOME": "/h", "CLINE_DATA_DIR": "/d"}) == [Path("/d/sessions")]
    assert cline_session_dirs({"HOME": "/h", "CLINE_SESSION_DATA_DIR": "/s"}) == [Path("/s")]
    assert Path("/d/tasks") in ClineParser().roots({"HOME": "/h", "CLINE_DATA_DIR": "/d"})
    kilo = KiloParser().roots({"HOME": "/h", "XDG_DATA_HOME": "/x"})
    assert Path("/x/kilo/kilo.db") in kilo and Path("/x/kilo/storage/message") in kilo


@pytest.mark.parametrize("content,kind", [(b'[{"ts": 1, "type": "say"', "corrupt"), (b"{}", "bad_shape")])
def test_bad_files_become_bad_lines(tmp_path, content, kind):
    path = tmp_path / "tasks" / "1" / "ui_messages.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    records = list(TaskFolderParser("roo-code", "r").parse_file(path, SourceContext(path), {}))
    assert [type(r) for r in records] == [BadLine] and records[0].kind == kind


def test_bad_messages_and_texts_do_not_stop_the_file(tmp_path):
    path = tmp_path / "tasks" / "1" / "ui_messages.json"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            [
                "not a message",
                {"type": "say", "say": "task"},
                {"ts": 5, "type": "say", "say": "api_req_started", "text": "{not json"},
                {"ts": 6, "type": "say", "say": "api_req_started", "text": json.dumps({"tokensIn": 3, "tokensOut": 4})},
            ]
        )
    )
    records = list(ClineParser().parse_file(path, SourceContext(path), {}))
    assert sum(isinstance(r, BadLine) for r in records) == 2
    assert [(r.input_tokens, r.output_tokens) for r in records if isinstance(r, Request)] == [(3, 4)]


def test_copies_of_a_task_in_two_editors_count_once(db, tmp_path):
    """A task folder copied between editors (or a backup) has the same keys."""
    home = tmp_path / "case"
    shutil.copytree(FIXTURES / "cline" / "basic" / "home", home)
    src = home / ".config" / "Code"
    shutil.copytree(src, home / ".config" / "Cursor")
    ingest_home(db, home)
    check_totals(db, expected_totals(FIXTURES / "cline" / "basic"))
