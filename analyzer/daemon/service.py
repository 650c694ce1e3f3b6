"""``analyzer watch`` as a per-user background service, started at login.

* Linux: a systemd user unit, ``$XDG_CONFIG_HOME/systemd/user/analyzer.service``
  (``~/.config/systemd/user`` by default), enabled and started with
  ``systemctl --user enable --now``; its log is in ``journalctl --user -u analyzer``.
* macOS: a launchd agent, ``~/Library/LaunchAgents/coding-plan-analyzer.watch.plist``,
  loaded with ``launchctl bootstrap gui/<uid>``; its log in
  ``~/Library/Logs/coding-plan-analyzer/watch.log``.

Both run the absolute path of the running ``analyzer`` with an explicit
``--db`` (the store this command was given), and carry the agents' folder
variables that are set at install time, because a service does not see the
shell's environment. Nothing else of the environment is copied (no secrets).

Every command that touches the system goes through a ``Runner``, so tests (and
``--dry-run``) see what would run without running it; files are written under
the given home folder.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

UNIT_NAME = "analyzer.service"
LAUNCHD_LABEL = "coding-plan-analyzer.watch"

# The folder variables parsers read (see each parser's ``roots``), and the plugin switch.
CARRIED_ENV = (
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "KIMI_SHARE_DIR",
    "KIMI_CODE_HOME",
    "GEMINI_CLI_HOME",
    "QWEN_RUNTIME_DIR",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "ANALYZER_LOAD_PLUGINS",
)

Runner = Callable[[list[str]], subprocess.CompletedProcess]


class ServiceError(Exception):
    """A service command failed; the message says what to do."""


def run_command(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def analyzer_command() -> list[str]:
    """The running ``analyzer``, as an absolute command line."""
    argv0 = sys.argv[0] if sys.argv else ""
    if Path(argv0).stem == "analyzer":
        found = argv0 if os.path.isabs(argv0) else shutil.which(argv0) or os.path.abspath(argv0)
        if os.path.exists(found):
            return [os.path.abspath(found)]
    beside = Path(sys.executable).parent / ("analyzer.exe" if sys.platform == "win32" else "analyzer")
    if beside.exists():
        return [str(beside.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "analyzer"]


@dataclass
class ServiceStatus:
    installed: bool
    running: bool
    path: Path
    command: list[str] | None = None
    detail: str = ""


@dataclass
class Service:
    """What every platform's service does; subclasses say how."""

    home: Path
    db_path: Path
    command: list[str] = field(default_factory=analyzer_command)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    runner: Runner | None = None  # default: run_command, looked up at call time
    watch_args: list[str] = field(default_factory=list)  # extra `analyzer watch` options

    @property
    def path(self) -> Path:
        raise NotImplementedError

    def program(self) -> list[str]:
        return [*self.command, "watch", "--db", str(Path(self.db_path).absolute()), *self.watch_args]

    def carried_env(self) -> dict[str, str]:
        return {name: self.env[name] for name in CARRIED_ENV if self.env.get(name)}

    def render(self) -> str:
        raise NotImplementedError

    def install_commands(self, was_running: bool) -> list[list[str]]:
        raise NotImplementedError

    def uninstall_commands(self) -> list[list[str]]:
        raise NotImplementedError

    def status(self) -> ServiceStatus:
        raise NotImplementedError

    def install(self) -> ServiceStatus:
        """Write the service file, then enable and start it."""
        was_running = self.status().running
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.render())
        for cmd in self.install_commands(was_running):
            self.run(cmd)
        return self.status()

    def uninstall(self) -> bool:
        """Stop and disable the service, remove its file; False if it was not installed."""
        if not self.path.exists():
            return False
        for cmd in self.uninstall_commands():
            self.run(cmd, check=False)  # not loaded is fine: we are removing it
        self.path.unlink()
        for cmd in self.after_uninstall_commands():
            self.run(cmd, check=False)
        return True

    def after_uninstall_commands(self) -> list[list[str]]:
        return []

    def execute(self, cmd: list[str]) -> subprocess.CompletedProcess:
        return (self.runner or run_command)(cmd)

    def run(self, cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
        try:
            result = self.execute(cmd)
        except FileNotFoundError as exc:
            raise ServiceError(
                f"{cmd[0]} not found, so the service cannot be managed on this system; "
                f"run `{' '.join(self.program())}` some other way (the service file is {self.path})"
            ) from exc
        if check and result.returncode != 0:
            message = (result.stderr or result.stdout or "").strip()
            raise ServiceError(f"`{' '.join(cmd)}` failed (exit {result.returncode}): {message}{self.hint(message)}")
        return result

    def hint(self, message: str) -> str:
        return ""


@dataclass
class SystemdService(Service):
    """A systemd user unit."""

    @property
    def path(self) -> Path:
        config = self.env.get("XDG_CONFIG_HOME") or str(self.home / ".config")
        return Path(config) / "systemd" / "user" / UNIT_NAME

    def render(self) -> str:
        lines = [
            "# Written by `analyzer service install`; remove it with `analyzer service uninstall`.",
            "[Unit]",
            "Description=analyzer watch: follow coding agents' session logs into the usage store",
            "",
            "[Service]",
            "Type=simple",
            "ExecStart=" + " ".join(_systemd_quote(arg, exec_line=True) for arg in self.program()),
        ]
        lines += [f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in self.carried_env().items()]
        lines += [
            "Restart=on-failure",
            "RestartSec=10",
            "# SIGTERM lets the daemon finish its current transaction.",
            "TimeoutStopSec=60",
            "",
            "[Install]",
            "WantedBy=default.target",
            "",
        ]
        return "\n".join(lines)

    def _ctl(self, *args: str) -> list[str]:
        return ["systemctl", "--user", *args]

    def install_commands(self, was_running: bool) -> list[list[str]]:
        cmds = [self._ctl("daemon-reload"), self._ctl("enable", "--now", UNIT_NAME)]
        if was_running:
            cmds.append(self._ctl("restart", UNIT_NAME))  # pick up the new unit file
        return cmds

    def uninstall_commands(self) -> list[list[str]]:
        return [self._ctl("disable", "--now", UNIT_NAME)]

    def after_uninstall_commands(self) -> list[list[str]]:
        return [self._ctl("daemon-reload")]

    def status(self) -> ServiceStatus:
        installed = self.path.exists()
        command = None
        if installed:
            for line in self.path.read_text().splitlines():
                if line.startswith("ExecStart="):
                    try:
                        command = shlex.split(line.removeprefix("ExecStart="))
                    except ValueError:
                        command = [line.removeprefix("ExecStart=")]
        try:
            active = self.execute(self._ctl("is-active", UNIT_NAME))
            state = (active.stdout or "").strip() or f"unknown (exit {active.returncode})"
        except FileNotFoundError:
            state = "unknown (systemctl not found)"
        return ServiceStatus(
            installed,
            state == "active",
            self.path,
            command,
            f"systemd state: {state}; log: journalctl --user -u {UNIT_NAME.removesuffix('.service')}",
        )

    def hint(self, message: str) -> str:
        if "bus" in message.lower() or "XDG_RUNTIME_DIR" in message:
            return (
                " (no systemd user session here: log in graphically or over ssh with"
                " `loginctl enable-linger $USER`, or run `analyzer watch` another way)"
            )
        return ""


@dataclass
class LaunchdService(Service):
    """A launchd agent in the user's GUI domain."""

    uid: int = field(default_factory=lambda: os.getuid() if hasattr(os, "getuid") else 0)

    @property
    def path(self) -> Path:
        return self.home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"

    @property
    def log_path(self) -> Path:
        return self.home / "Library" / "Logs" / "coding-plan-analyzer" / "watch.log"

    @property
    def target(self) -> str:
        return f"gui/{self.uid}/{LAUNCHD_LABEL}"

    def render(self) -> str:
        plist: dict = {
            "Label": LAUNCHD_LABEL,
            "ProgramArguments": self.program(),
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},  # restart after a crash, not after a clean stop
            "ThrottleInterval": 10,
            "ProcessType": "Background",
            "StandardOutPath": str(self.log_path),
            "StandardErrorPath": str(self.log_path),
        }
        if self.carried_env():
            plist["EnvironmentVariables"] = self.carried_env()
        return plistlib.dumps(plist).decode()

    def install(self) -> ServiceStatus:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        return super().install()

    def install_commands(self, was_running: bool) -> list[list[str]]:
        cmds = []
        if self._loaded():
            cmds.append(["launchctl", "bootout", self.target])  # bootstrap refuses a loaded label
        cmds.append(["launchctl", "enable", self.target])
        cmds.append(["launchctl", "bootstrap", f"gui/{self.uid}", str(self.path)])
        return cmds

    def uninstall_commands(self) -> list[list[str]]:
        return [["launchctl", "bootout", self.target]]

    def _loaded(self) -> bool:
        try:
            return self.execute(["launchctl", "print", self.target]).returncode == 0
        except FileNotFoundError:
            return False

    def status(self) -> ServiceStatus:
        installed = self.path.exists()
        command = None
        if installed:
            try:
                command = plistlib.loads(self.path.read_bytes()).get("ProgramArguments")
            except Exception:
                command = None
        try:
            printed = self.execute(["launchctl", "print", self.target])
            loaded = printed.returncode == 0
            running = loaded and "state = running" in (printed.stdout or "")
        except FileNotFoundError:
            loaded = running = False
        state = "running" if running else "loaded, not running" if loaded else "not loaded"
        return ServiceStatus(installed, running, self.path, command, f"launchd: {state}; log: {self.log_path}")


def service_for(db_path: Path, *, platform: str | None = None, home: Path | None = None, **kwargs) -> Service:
    """The service kind for this platform (``linux`` or ``darwin``)."""
    platform = platform or sys.platform
    home = home or Path.home()
    if platform.startswith("linux"):
        return SystemdService(home=home, db_path=db_path, **kwargs)
    if platform == "darwin":
        return LaunchdService(home=home, db_path=db_path, **kwargs)
    raise ServiceError(
        f"`analyzer service` supports Linux (systemd) and macOS (launchd), not {platform}; "
        "start `analyzer watch` at login another way (for example Task Scheduler on Windows)"
    )


def _systemd_quote(value: str, *, exec_line: bool = False) -> str:
    """A value as a unit file reads it: ``%`` specifiers (and ``$`` expansion on
    an ``ExecStart`` line) escaped; double-quoted when it holds a space, quote
    or backslash."""
    quoted = any(c.isspace() or c in "\\\"'" for c in value) or not value
    value = value.replace("%", "%%")
    if exec_line:
        value = value.replace("$", "$$")
    if quoted:
        value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value
