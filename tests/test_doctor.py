"""``analyzer doctor`` (issue 15): one line on a healthy HOME; on a HOME with every problem, each named with its fix."""

from __future__ import annotations

import json
import shutil
from collections import namedtuple
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.commands import doctor
from analyzer.contract.timeutil import format_utc, now_utc
from analyzer.store import database as store

from .analysis_helpers import add_request
from .conftest import FIXTURES

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """Deterministic inotify limits and disk space (monkeypatched per test to a problem)."""
    proc = tmp_path / "proc-inotify"
    proc.mkdir()
    (proc / "max_user_watches").write_text("524288\n")
    monkeypatch.setattr(doctor, "PROC_INOTIFY", proc)
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: Usage(500e9, 100e9, 400e9))
    return proc


def copy_home(case: str, home: Path) -> None:
    shutil.copytree(FIXTURES / case / "home", home, dirs_exist_ok=True)


def run(*args: str):
    return CliRunner().invoke(cli, ["doctor", *args])


def test_a_healthy_home_is_one_line(isolated_home, machine):
    copy_home("claude-code/streaming", isolated_home)
    copy_home("codex/basic", isolated_home)
    assert CliRunner().invoke(cli, ["ingest"]).exit_code == 0
    result = run()
    assert result.exit_code == 0, result.output
    assert result.output == "All 9 checks passed: nothing here makes your numbers wrong or lost.\n"


def test_a_home_with_every_problem_names_each_and_its_fix(isolated_home, machine, monkeypatch):
    copy_home("claude-code/streaming", isolated_home)
    assert CliRunner().invoke(cli, ["ingest"]).exit_code == 0
    db = store.open_db(store.default_db_path())
    # The last full ingest was ten days ago, and Claude Code keeps a week of transcripts.
    store.set_meta(db, "last_full_ingest", format_utc(now_utc() - timedelta(days=10)))
    settings = isolated_home / ".claude" / "settings.json"
    settings.write_text(json.dumps({"cleanupPeriodDays": 7}))
    # An agent installed since (Codex), and a file in Claude's folder no parser recognises.
    copy_home("codex/basic", isolated_home)
    (isolated_home / ".claude" / "projects" / "-home-u-proj" / "notes.jsonl").write_text('{"hello": "world"}\n')
    # A call through a gateway, one with placeholder usage, a model with no price, a row validation refuses.
    add_request(db, "gw", "2026-11-01T10:00:00.000Z", model="glm-4.6", inp=10, out=5)
    db.execute("update requests set provider = 'open.bigmodel.cn', complete = 0 where key = 'gw'")
    add_request(db, "mystery", "2026-11-01T10:00:00.000Z", model="mystery-model-x", inp=10, out=5, agent="codex")
    add_request(db, "neg", "2026-11-01T10:00:00.000Z", inp=-5)
    db.close()
    (machine / "max_user_watches").write_text("1\n")  # fewer inotify watches than folders to follow
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda path: Usage(500e9, 499.5e9, 0.5e9))

    result = run("--json")
    assert result.exit_code == 1
    found = {f["check"]: f for f in json.loads(result.output)}
    assert sorted(found) == sorted(
        [
            "claude-retention",
            "freshness",
            "unread",
            "unrecognised",
            "gateway",
            "placeholder",
            "prices",
            "db-check",
            "inotify",
            "disk",
        ]
    )
    assert "deletes transcripts older than 7 days and the last ingest was on" in found["claude-retention"]["problem"]
    assert "may be lost" in found["claude-retention"]["problem"]
    assert '"cleanupPeriodDays": 3650' in found["claude-retention"]["fix"]
    assert found["freshness"]["problem"] == "the daemon is not running and the last full ingest was 10 days ago"
    assert "analyzer service install" in found["freshness"]["fix"]
    assert found["unread"]["problem"].startswith("codex: 1 log files were never read")
    assert "notes.jsonl" in found["unrecognised"]["problem"]
    assert "1 Claude Code requests went through a gateway (open.bigmodel.cn)" in found["gateway"]["problem"]
    assert found["placeholder"]["problem"].startswith("1 requests hold placeholder usage")
    assert "mystery-model-x (1 requests)" in found["prices"]["problem"] and "prices.toml" in found["prices"]["fix"]
    assert "1 requests hold values validation now refuses" in found["db-check"]["problem"]
    assert "max_user_watches=524288" in found["inotify"]["fix"]
    assert "0.5 GB free" in found["disk"]["problem"]

    text = run().output
    assert text.startswith("10 problems found:\n")
    assert text.count("\n  Fix: ") == 10


def test_a_daemon_running_keeps_an_old_ingest_from_being_a_problem(isolated_home, machine):
    from analyzer.daemon.lifecycle import DaemonLock

    copy_home("claude-code/streaming", isolated_home)
    assert CliRunner().invoke(cli, ["ingest"]).exit_code == 0
    db = store.open_db(store.default_db_path())
    store.set_meta(db, "last_full_ingest", format_utc(now_utc() - timedelta(days=2)))
    db.close()
    assert run().exit_code == 1  # no daemon, and two days old
    with DaemonLock(store.default_db_path()):
        result = run()
    assert result.exit_code == 0, result.output


def test_claude_code_about_to_delete_unread_transcripts_is_said_ahead(isolated_home, machine):
    copy_home("claude-code/streaming", isolated_home)
    assert CliRunner().invoke(cli, ["ingest"]).exit_code == 0
    db = store.open_db(store.default_db_path())
    store.set_meta(db, "last_full_ingest", format_utc(now_utc() - timedelta(days=25, hours=1)))
    db.close()
    found = {f["check"]: f for f in json.loads(run("--json").output)}
    assert "in 4 days it starts deleting transcripts not read yet" in found["claude-retention"]["problem"]
