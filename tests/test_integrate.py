"""``analyzer integrate claude-code``: merge, keep, back up, idempotent; uninstall restores the bytes.

Also the hook's background ingest, and the Claude Code plugin files.
"""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from analyzer.plugins.claude_code import hook
from analyzer.plugins.claude_code.settings import HOOK, STATUSLINE, backups, parse_ours
from click.testing import CliRunner

from analyzer.cli import cli

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "plugins" / "claude_code"

# Settings a user may already have: four-space indent, non-ASCII, their own hooks and status line.
RICH = """{
    "model": "opus",
    "env": {"ANTHROPIC_DEFAULT_SONNET_MODEL": "claude-sonnet-4-5", "GREETING": "héllo ✓"},
    "permissions": {"allow": ["Bash(npm run test:*)"], "deny": []},
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "echo pre"}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "notify-send done", "timeout": 5}]}]
    },
    "statusLine": {"type": "command", "command": "~/.claude/statusline.sh", "padding": 0}
}"""
NO_STATUSLINE = '{\n  "model": "sonnet",\n  "hooks": {\n    "Stop": []\n  }\n}\n'
EMPTY_OBJECT = "{}"


def integrate(home: Path, *args: str, env=None):
    result = CliRunner().invoke(
        cli, ["integrate", "claude-code", *args], env={"HOME": str(home), **(env or {})}, catch_exceptions=False
    )
    return result


def settings(home: Path) -> Path:
    return home / ".claude" / "settings.json"


def ours(data: dict) -> tuple:
    status = parse_ours((data.get("statusLine") or {}).get("command"), STATUSLINE)
    hooks = {
        event: sum(1 for g in groups for h in g.get("hooks", []) if parse_ours(h.get("command"), HOOK) is not None)
        for event, groups in data.get("hooks", {}).items()
    }
    return status, hooks


def test_no_settings_file_integrate_then_uninstall_leaves_no_file(tmp_path):
    result = integrate(tmp_path)
    assert result.exit_code == 0, result.output
    data = json.loads(settings(tmp_path).read_text())
    status, hooks = ours(data)
    assert status == {} and hooks == {"Stop": 1, "SessionEnd": 1}
    assert data["statusLine"]["type"] == "command"
    assert backups(settings(tmp_path)) == []  # there was nothing to back up
    result = integrate(tmp_path, "--uninstall")
    assert result.exit_code == 0 and "removed" in result.output
    assert not settings(tmp_path).exists()


@pytest.mark.parametrize("original", [RICH, NO_STATUSLINE, EMPTY_OBJECT], ids=["rich", "empty-stop-list", "empty"])
@pytest.mark.parametrize("chain", [False, True], ids=["keep", "chain"])
def test_integrate_then_uninstall_restores_the_file_byte_for_byte(tmp_path, original, chain):
    path = settings(tmp_path)
    path.parent.mkdir()
    path.write_bytes(original.encode())
    os.chmod(path, 0o640)
    result = integrate(tmp_path, *(["--chain"] if chain else []))
    assert result.exit_code == 0, result.output
    after = json.loads(path.read_text())
    before = json.loads(original)
    status, hooks = ours(after)
    assert hooks["Stop"] == 1 and hooks["SessionEnd"] == 1
    for key, value in before.items():  # everything that was there is still there
        if key not in ("hooks", "statusLine"):
            assert after[key] == value
    if "statusLine" in before:
        if chain:
            assert status == {"--then": "~/.claude/statusline.sh"} and after["statusLine"]["padding"] == 0
        else:
            assert after["statusLine"] == before["statusLine"] and "--chain" in result.output
    if before.get("hooks", {}).get("Stop"):
        assert after["hooks"]["Stop"][0] == before["hooks"]["Stop"][0]
    assert [json.loads(b.read_bytes()) for b in backups(path)] == [before]
    assert (path.stat().st_mode & 0o777) == 0o640

    again = integrate(tmp_path, *(["--chain"] if chain else []))
    assert "already integrated" in again.output
    assert json.loads(path.read_text()) == after and len(backups(path)) == 1

    result = integrate(tmp_path, "--uninstall")
    assert result.exit_code == 0 and "restored" in result.output
    assert path.read_bytes() == original.encode()
    assert backups(path) == []
    assert "nothing of the analyser's" in integrate(tmp_path, "--uninstall").output


def test_uninstall_keeps_what_the_user_changed_in_between(tmp_path):
    path = settings(tmp_path)
    path.parent.mkdir()
    path.write_text(RICH)
    integrate(tmp_path)
    data = json.loads(path.read_text())
    data["model"] = "haiku"
    data["hooks"]["SessionEnd"].append({"hooks": [{"type": "command", "command": "echo bye"}]})
    path.write_text(json.dumps(data, indent=4))
    result = integrate(tmp_path, "--uninstall")
    assert result.exit_code == 0 and "the rest kept" in result.output
    left = json.loads(path.read_text())
    assert ours(left) == (None, {"PreToolUse": 0, "Stop": 0, "SessionEnd": 0})
    assert left["model"] == "haiku"
    assert left["hooks"]["SessionEnd"] == [{"hooks": [{"type": "command", "command": "echo bye"}]}]
    assert left["hooks"]["Stop"] == json.loads(RICH)["hooks"]["Stop"]
    assert left["statusLine"] == json.loads(RICH)["statusLine"]


def test_a_moved_installation_is_updated_in_place(tmp_path):
    path = settings(tmp_path)
    integrate(tmp_path)
    data = json.loads(path.read_text())
    data["statusLine"]["command"] = "/old/venv/bin/analyzer statusline"
    data["hooks"]["Stop"][0]["hooks"][0]["command"] = "/old/venv/bin/analyzer claude-code-hook"
    path.write_text(json.dumps(data))
    integrate(tmp_path)
    new = json.loads(path.read_text())
    assert "/old/" not in json.dumps(new)
    assert ours(new)[1] == {"Stop": 1, "SessionEnd": 1}


def test_db_option_is_written_into_the_commands(tmp_path):
    integrate(tmp_path, "--db", str(tmp_path / "my.db"))
    data = json.loads(settings(tmp_path).read_text())
    assert parse_ours(data["statusLine"]["command"], STATUSLINE) == {"--db": str(tmp_path / "my.db")}
    assert shlex.split(data["hooks"]["Stop"][0]["hooks"][0]["command"])[-2:] == ["--db", str(tmp_path / "my.db")]


def test_claude_config_dir_and_symlinked_settings(tmp_path):
    real = tmp_path / "dotfiles" / "claude-settings.json"
    real.parent.mkdir()
    real.write_text(EMPTY_OBJECT)
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "settings.json").symlink_to(real)
    integrate(tmp_path, env={"CLAUDE_CONFIG_DIR": str(config)})
    assert (config / "settings.json").is_symlink()
    assert ours(json.loads(real.read_text()))[1] == {"Stop": 1, "SessionEnd": 1}
    integrate(tmp_path, "--uninstall", env={"CLAUDE_CONFIG_DIR": str(config)})
    assert (config / "settings.json").is_symlink() and real.read_text() == EMPTY_OBJECT


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"model": "opus",', "not valid JSON"),
        ('["a list"]', "does not hold a JSON object"),
        ('{"hooks": []}', '"hooks" in the settings is not an object'),
    ],
)
def test_bad_settings_are_refused_and_left_untouched(tmp_path, content, message):
    path = settings(tmp_path)
    path.parent.mkdir()
    path.write_text(content)
    result = integrate(tmp_path)
    assert result.exit_code == 1 and message in result.output
    assert path.read_text() == content and backups(path) == []


@pytest.mark.parametrize(
    "command, sub, expected",
    [
        ("/v/bin/analyzer statusline", STATUSLINE, {}),
        (
            "'/my venv/bin/analyzer' statusline --db /x.db --then 'bash ~/s.sh'",
            STATUSLINE,
            {"--db": "/x.db", "--then": "bash ~/s.sh"},
        ),
        ("/usr/bin/python3 -P -m analyzer claude-code-hook", HOOK, {}),
        ("python3.12 -m analyzer statusline", STATUSLINE, {}),
        ("/v/bin/analyzer statusline", HOOK, None),
        ("echo analyzer statusline", STATUSLINE, None),
        ("python3 -m", STATUSLINE, None),
        ("unbalanced 'quote", STATUSLINE, None),
        (None, STATUSLINE, None),
    ],
)
def test_our_commands_are_recognised_and_nothing_else(command, sub, expected):
    assert parse_ours(command, sub) == expected


def test_the_plugin_files(tmp_path):
    manifest = json.loads((PLUGIN / ".claude-plugin" / "plugin.json").read_text())
    assert manifest["name"] == "coding-plan-analyzer" and manifest["version"]
    hooks = json.loads((PLUGIN / "hooks" / "hooks.json").read_text())["hooks"]
    assert set(hooks) == {"Stop", "SessionEnd"}
    for groups in hooks.values():
        assert parse_ours(groups[0]["hooks"][0]["command"], HOOK) == {}
    command = (PLUGIN / "commands" / "usage-report.md").read_text()
    assert command.startswith("---\ndescription:") and "!`analyzer report $ARGUMENTS" in command
    market = json.loads((ROOT / ".claude-plugin" / "marketplace.json").read_text())
    assert (ROOT / market["plugins"][0]["source"] / ".claude-plugin" / "plugin.json").exists()


# --- the hook -----------------------------------------------------------------------


def test_hook_run_coalesces_triggers_into_as_few_ingests_as_needed(tmp_path):
    db = str(tmp_path / "s.db")
    calls = []

    def fake_ingest(path):
        calls.append(path)
        if len(calls) == 1:
            # a second trigger arrives while the first ingest runs: it must not ingest itself,
            # but the holder must run once more for it
            assert hook.run(db, ingest=lambda p: calls.append(("nested", p))) == 0

    assert hook.run(db, ingest=fake_ingest) == 0
    assert calls == [db, db]
    assert not Path(db + "-hook.pending").exists()


@pytest.mark.slow
def test_hook_starts_a_detached_ingest_that_reads_the_logs(tmp_path):
    home = tmp_path / "home"
    project = home / ".claude" / "projects" / "-home-u-proj"
    project.mkdir(parents=True)
    line = {
        "type": "assistant",
        "sessionId": "s1",
        "uuid": "u1",
        "timestamp": "2026-07-03T10:00:04.100Z",
        "cwd": "/home/u/proj",
        "requestId": "req_1",
        "message": {
            "id": "msg_1",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "stop_reason": "end_turn",
            "content": [{"type": "text", "text": "hi"}],
            "usage": {
                "input_tokens": 4,
                "cache_creation_input_tokens": 10,
                "cache_read_input_tokens": 20,
                "output_tokens": 7,
            },
        },
    }
    (project / "s1.jsonl").write_text(json.dumps(line) + "\n")
    db = tmp_path / "store" / "usage.db"
    env = {**os.environ, "HOME": str(home), "ANALYZER_DB": str(db)}
    project = tmp_path / "project"  # hooks run in the user's project: its own "plugins" must not shadow ours
    (project / "plugins").mkdir(parents=True)
    (project / "plugins" / "__init__.py").write_text("raise ImportError('the project shadowed the analyser')\n")
    env["PYTHONPATH"] = str(ROOT)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-P", "-m", "analyzer", "claude-code-hook"],
        env=env,
        cwd=project,
        input=b'{"hook_event_name":"Stop"}',
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout == b""
    total, log = None, db.parent / "claude-code-hook.log"
    while time.monotonic() - started < 60:  # wait for the detached process (a deadline, not a timing check)
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    total = conn.execute(
                        "select sum(input_tokens + cache_read_tokens + cache_write_tokens + output_tokens)"
                        " from requests"
                    ).fetchone()[0]
            except sqlite3.Error:
                total = None
        if total and log.exists() and "Ingested" in log.read_text():
            break
        time.sleep(0.1)
    assert total == 4 + 10 + 20 + 7
    assert "Ingested: 1 of 1 files read, 1 new requests" in log.read_text()
