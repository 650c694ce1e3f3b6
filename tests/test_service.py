"""``analyzer service``: unit and agent files written in the temp HOME, and the
systemctl/launchctl commands recorded instead of run (the real user's services
are never touched)."""

from __future__ import annotations

import plistlib
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.daemon import service as service_module
from analyzer.daemon.service import LaunchdService, ServiceError, SystemdService, analyzer_command, service_for

COMMAND = ["/opt/tools/bin/analyzer"]


class Recorder:
    """Stands in for subprocess: records each command, answers from a table."""

    def __init__(self, answers=None):
        self.calls: list[list[str]] = []
        self.answers = answers or {}

    def __call__(self, cmd):
        self.calls.append(cmd)
        for prefix, (code, out, err) in self.answers.items():
            if tuple(cmd[: len(prefix)]) == prefix:
                return subprocess.CompletedProcess(cmd, code, out, err)
        return subprocess.CompletedProcess(cmd, 0, "", "")


def systemd(home, runner, env=None, db="/data/usage.db"):
    return SystemdService(home=home, db_path=Path(db), command=COMMAND, env=env or {}, runner=runner)


def launchd(home, runner, env=None):
    return LaunchdService(
        home=home, db_path=Path("/data/usage.db"), command=COMMAND, env=env or {}, runner=runner, uid=501
    )


IS_ACTIVE = ("systemctl", "--user", "is-active")


def test_systemd_unit_runs_this_analyzer_with_the_same_db_and_agent_folders(tmp_path):
    env = {
        "CLAUDE_CONFIG_DIR": "/home/u/my claude",
        "CODEX_HOME": "/home/u/.codex-100%",
        "OPENAI_API_KEY": "sk-secret",
        "ANALYZER_DB": "/elsewhere.db",
    }
    unit = systemd(tmp_path, Recorder(), env=env, db="/data/my store/usage.db").render()
    lines = unit.splitlines()
    assert 'ExecStart=/opt/tools/bin/analyzer watch --db "/data/my store/usage.db"' in lines
    assert 'Environment="CLAUDE_CONFIG_DIR=/home/u/my claude"' in lines
    assert "Environment=CODEX_HOME=/home/u/.codex-100%%" in lines  # % is a systemd specifier
    assert "sk-secret" not in unit and "elsewhere" not in unit  # only folder variables travel
    assert "Restart=on-failure" in lines and "WantedBy=default.target" in lines


def test_systemd_install_writes_the_unit_then_enables_and_starts_it(tmp_path):
    runner = Recorder({IS_ACTIVE: (3, "inactive\n", "")})
    svc = systemd(tmp_path, runner)
    status = svc.install()
    unit_file = tmp_path / ".config" / "systemd" / "user" / "analyzer.service"
    assert svc.path == unit_file and unit_file.read_text() == svc.render()
    assert runner.calls == [
        ["systemctl", "--user", "is-active", "analyzer.service"],
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", "analyzer.service"],
        ["systemctl", "--user", "is-active", "analyzer.service"],
    ]
    assert status.installed and not status.running


def test_systemd_reinstall_restarts_a_running_service(tmp_path):
    runner = Recorder({IS_ACTIVE: (0, "active\n", "")})
    status = systemd(tmp_path, runner).install()
    assert runner.calls[-2] == ["systemctl", "--user", "restart", "analyzer.service"]
    assert status.installed and status.running
    assert status.command == ["/opt/tools/bin/analyzer", "watch", "--db", "/data/usage.db"]


def test_systemd_unit_goes_under_xdg_config_home(tmp_path):
    svc = systemd(tmp_path, Recorder(), env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert svc.path == tmp_path / "cfg" / "systemd" / "user" / "analyzer.service"


def test_systemd_uninstall_stops_disables_and_removes(tmp_path):
    runner = Recorder()
    svc = systemd(tmp_path, runner)
    assert svc.uninstall() is False and runner.calls == []  # not installed: nothing to do
    svc.path.parent.mkdir(parents=True)
    svc.path.write_text(svc.render())
    runner.answers[("systemctl", "--user", "disable")] = (1, "", "Unit analyzer.service not loaded.")
    assert svc.uninstall() is True
    assert not svc.path.exists()
    assert runner.calls == [
        ["systemctl", "--user", "disable", "--now", "analyzer.service"],
        ["systemctl", "--user", "daemon-reload"],
    ]


def test_systemd_status_reports_installed_and_running(tmp_path):
    runner = Recorder({IS_ACTIVE: (3, "failed\n", "")})
    svc = systemd(tmp_path, runner)
    status = svc.status()
    assert (status.installed, status.running) == (False, False)
    assert "systemd state: failed" in status.detail and "journalctl --user -u analyzer" in status.detail


def test_systemctl_missing_or_without_a_user_session_gives_a_clear_error(tmp_path):
    def missing(cmd):
        raise FileNotFoundError(cmd[0])

    with pytest.raises(ServiceError, match="systemctl not found.*analyzer watch --db /data/usage.db"):
        systemd(tmp_path, missing).install()
    no_bus = Recorder({("systemctl", "--user", "daemon-reload"): (1, "", "Failed to connect to bus: No medium found")})
    with pytest.raises(ServiceError, match="enable-linger"):
        systemd(tmp_path, no_bus).install()


def test_launchd_agent_plist_and_bootstrap(tmp_path):
    runner = Recorder({("launchctl", "print"): (113, "", "Could not find service")})
    env = {"CODEX_HOME": "/Users/u/.codex", "ANTHROPIC_API_KEY": "secret"}
    svc = launchd(tmp_path, runner, env=env)
    status = svc.install()
    plist_file = tmp_path / "Library" / "LaunchAgents" / "coding-plan-analyzer.watch.plist"
    plist = plistlib.loads(plist_file.read_bytes())
    assert plist["ProgramArguments"] == ["/opt/tools/bin/analyzer", "watch", "--db", "/data/usage.db"]
    assert plist["Label"] == "coding-plan-analyzer.watch" and plist["RunAtLoad"] is True
    assert plist["EnvironmentVariables"] == {"CODEX_HOME": "/Users/u/.codex"}
    assert plist["StandardErrorPath"] == str(tmp_path / "Library" / "Logs" / "coding-plan-analyzer" / "watch.log")
    assert [c for c in runner.calls if c[1] != "print"] == [
        ["launchctl", "enable", "gui/501/coding-plan-analyzer.watch"],
        ["launchctl", "bootstrap", "gui/501", str(plist_file)],
    ]
    assert status.installed and not status.running


def test_launchd_reinstall_boots_out_the_loaded_agent_first_and_status_reads_state(tmp_path):
    runner = Recorder({("launchctl", "print"): (0, "gui/501/coding-plan-analyzer.watch = {\n\tstate = running\n", "")})
    svc = launchd(tmp_path, runner)
    status = svc.install()
    assert [c for c in runner.calls if c[1] != "print"][0] == [
        "launchctl",
        "bootout",
        "gui/501/coding-plan-analyzer.watch",
    ]
    assert status.running and "launchd: running" in status.detail
    runner.calls.clear()
    assert svc.uninstall() is True and not svc.path.exists()
    assert runner.calls == [["launchctl", "bootout", "gui/501/coding-plan-analyzer.watch"]]


def test_platforms():
    assert isinstance(service_for(Path("/x.db"), platform="linux", home=Path("/h")), SystemdService)
    assert isinstance(service_for(Path("/x.db"), platform="darwin", home=Path("/h")), LaunchdService)
    with pytest.raises(ServiceError, match="Linux.*macOS.*not win32"):
        service_for(Path("/x.db"), platform="win32")


def test_analyzer_command_is_absolute(monkeypatch, tmp_path):
    script = tmp_path / "bin" / "analyzer"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "argv", [str(script), "service", "install"])
    assert analyzer_command() == [str(script)]
    monkeypatch.setattr(sys, "argv", ["/usr/lib/python3/site-packages/pytest/__main__.py"])
    command = analyzer_command()
    assert Path(command[0]).is_absolute()
    assert command == [str(Path(sys.executable).parent / "analyzer")] or command[1:] == ["-m", "analyzer"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the CLI picks the platform's service kind")
def test_cli_install_status_uninstall_in_the_temp_home(tmp_path, isolated_home, monkeypatch):
    from analyzer.cli import cli

    runner = Recorder({IS_ACTIVE: (0, "active\n", "")})
    monkeypatch.setattr(service_module, "run_command", runner)
    db = tmp_path / "store" / "usage.db"
    dry = CliRunner().invoke(cli, ["service", "install", "--dry-run", "--db", str(db)])
    assert dry.exit_code == 0 and runner.calls == []
    assert f"watch --db {db}" in dry.output and "systemctl --user enable --now analyzer.service" in dry.output
    unit_file = isolated_home / ".config" / "systemd" / "user" / "analyzer.service"
    assert not unit_file.exists()

    result = CliRunner().invoke(cli, ["service", "install", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert f"Installed {unit_file}" in result.output and "Running." in result.output
    assert f"watch --db {db}" in unit_file.read_text()
    assert ["systemctl", "--user", "enable", "--now", "analyzer.service"] in runner.calls

    status = CliRunner().invoke(cli, ["service", "status", "--db", str(db), "--json"])
    assert status.exit_code == 0
    assert '"installed": true' in status.output and '"running": true' in status.output

    removed = CliRunner().invoke(cli, ["service", "uninstall", "--db", str(db)])
    assert removed.exit_code == 0 and f"Removed {unit_file}" in removed.output and not unit_file.exists()
    again = CliRunner().invoke(cli, ["service", "uninstall", "--db", str(db)])
    assert "Not installed" in again.output
