"""``analyzer quota add|list|poll`` from the command line."""

from __future__ import annotations

import json

import pytest
from analyzer.plugins.quota.commands import window_label, window_minutes
from click.testing import CliRunner

from analyzer.cli import cli

from .replay_server import ReplayServer, fixture


def run(*args, env=None):
    return CliRunner().invoke(cli, ["quota", *args], env=env, catch_exceptions=False)


def test_add_then_list(tmp_path):
    db = str(tmp_path / "q.db")
    r = run(
        "add", "claude-code", "5h", "42", "--resets-at", "2h30m", "--observed-at", "2026-07-03T10:00:00Z", "--db", db
    )
    assert r.exit_code == 0, r.output
    assert "Stored: claude-code 5h 42% seen 2026-07-03T10:00:00.000Z, resets 2026-07-03T12:30:00.000Z" in r.output
    r = run(
        "add",
        "kimi-code",
        "7d",
        "12.5",
        "--resets-at",
        "2026-07-06 09:00",
        "--tz",
        "Asia/Shanghai",
        "--observed-at",
        "2026-07-03T11:00:00+08:00",
        "--plan",
        "moderato",
        "--db",
        db,
    )
    assert r.exit_code == 0, r.output
    again = run(
        "add",
        "claude-code",
        "300",
        "42",
        "--resets-at",
        "2026-07-03T12:30:00Z",
        "--observed-at",
        "2026-07-03T10:20:00Z",
        "--db",
        db,
    )
    assert "Already stored" in again.output
    listed = json.loads(run("list", "--json", "--db", db).output)
    assert [
        (
            x["agent"],
            x["window_minutes"],
            x["used_percent"],
            x["resets_at"],
            x["observed_at"],
            x["source"],
            x["plan_type"],
        )
        for x in listed
    ] == [
        ("kimi-code", 10080, 12.5, "2026-07-06T01:00:00.000Z", "2026-07-03T03:00:00.000Z", "manual", "moderato"),
        ("claude-code", 300, 42.0, "2026-07-03T12:30:00.000Z", "2026-07-03T10:00:00.000Z", "manual", None),
    ]
    table = run("list", "--agent", "claude-code", "--db", db).output
    assert "claude-code" in table and "kimi-code" not in table and "manual" in table


@pytest.mark.parametrize(
    "args, message",
    [
        (["nosuch", "5h", "10"], "unknown agent 'nosuch'"),
        (["codex", "5 hours please", "10"], "is not a window"),
        (["codex", "5h", "150"], "150.0 is not in the range 0<=x<=100"),
        (["codex", "5h", "ten"], "'ten' is not a valid float"),
        (["codex", "5h", "10", "--resets-at", "tomorrowish"], "is not an ISO time or a span"),
        (["codex", "5h", "10", "--tz", "Mars/Olympus"], "unknown time zone"),
    ],
)
def test_add_rejects_bad_values_clearly(tmp_path, args, message):
    r = run("add", *args, "--db", str(tmp_path / "q.db"))
    assert r.exit_code == 2 and message in r.output


def test_window_spellings():
    assert [window_minutes(t) for t in ("5h", "7d", "1w", "300", "90m", "2 hours")] == [300, 10080, 10080, 300, 90, 120]
    assert [window_label(m) for m in (300, 10080, 43200, 90, None)] == ["5h", "7d", "30d", "90m", "?"]


def test_list_when_empty(tmp_path):
    assert "No quota readings yet" in run("list", "--db", str(tmp_path / "q.db")).output


def test_poll_reports_each_vendor_and_fails_when_one_fails(tmp_path):
    db = str(tmp_path / "q.db")
    home = tmp_path / "empty-home"
    home.mkdir()
    with ReplayServer() as server:
        server.routes["/api/monitor/usage/quota/limit"] = [fixture("glm", "credits.json")]
        env = {
            "HOME": str(home),
            "ZAI_API_KEY": "k-123456",
            "ANALYZER_GLM_BASE_URL": server.url,
            "MINIMAX_API_KEY": "m-123456",
            "ANALYZER_MINIMAX_BASE_URL": server.url,
        }
        r = run("poll", "--db", db, env=env)
        only = run("poll", "--vendor", "glm", "--json", "--db", db, env=env)
    lines = r.output.splitlines()
    assert "glm: 2 readings (2 new)" in lines
    assert any(line.startswith("minimax: error: HTTP 404") for line in lines)
    assert any(line.startswith("claude: skipped: no Claude Code sign-in") for line in lines)
    assert r.exit_code == 1 and "could not read minimax" in r.output
    assert only.exit_code == 0
    assert json.loads(only.output)[0] | {"message": ""} == {
        "vendor": "glm",
        "status": "ok",
        "message": "",
        "readings": 2,
        "new": 0,
        "kind": None,
    }
    bad = run("poll", "--vendor", "nosuch", "--db", db)
    assert bad.exit_code == 2 and "unknown vendor 'nosuch'" in bad.output
