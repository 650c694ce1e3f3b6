"""Where VS Code and its forks keep an extension's global storage, on every OS.

An extension's ``globalStorage`` folder is ``<user data>/User/globalStorage/<extension id>``,
where ``<user data>`` is the editor's own folder:

* Linux: ``$XDG_CONFIG_HOME/<App>`` (else ``~/.config/<App>``);
* macOS: ``~/Library/Application Support/<App>``;
* Windows: ``%APPDATA%\\<App>`` (else ``<home>\\AppData\\Roaming\\<App>``);
* a remote or server install (VS Code Remote-SSH, WSL, tunnels, code-server
  and the forks' equivalents): ``~/.<server folder>/data`` (``VSCODE_AGENT_FOLDER``
  moves VS Code's), the user data folder of the server;
* a portable install: ``$VSCODE_PORTABLE/user-data``.

``<App>`` is the product's data folder name. The list below covers VS Code,
its Insiders and OSS builds, VSCodium, and the forks people run these
extensions in (Cursor, Windsurf, Trae, Kiro, Positron, Antigravity, Void).
All of them are derived from the environment, so a test HOME holds them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from analyzer.api import home_from

APP_FOLDERS = (
    "Code",
    "Code - Insiders",
    "Code - OSS",
    "Code - Exploration",
    "VSCodium",
    "VSCodium - Insiders",
    "Cursor",
    "Windsurf",
    "Windsurf - Next",
    "Trae",
    "Trae CN",
    "Kiro",
    "Positron",
    "Antigravity",
    "Void",
)

SERVER_FOLDERS = (
    ".vscode-server",
    ".vscode-server-insiders",
    ".vscode-server-oss",
    ".vscodium-server",
    ".vscode-remote",
    ".cursor-server",
    ".windsurf-server",
    ".windsurf-next-server",
    ".trae-server",
    ".trae-cn-server",
    ".kiro-server",
    ".positron-server",
    ".antigravity-server",
    ".void-server",
)


def user_data_dirs(env: Mapping[str, str]) -> list[Path]:
    """Every editor user data folder the environment points at (they need not exist)."""
    home = home_from(env)
    xdg = env.get("XDG_CONFIG_HOME", "").strip()
    config = Path(xdg).expanduser() if xdg else home / ".config"
    appdata = env.get("APPDATA", "").strip()
    roaming = Path(appdata) if appdata else home / "AppData" / "Roaming"
    found: list[Path] = []
    for app in APP_FOLDERS:
        found += [config / app, home / "Library" / "Application Support" / app, roaming / app]
    agent = env.get("VSCODE_AGENT_FOLDER", "").strip()
    if agent:
        found.append(Path(agent).expanduser() / "data")
    found += [home / server / "data" for server in SERVER_FOLDERS]
    portable = env.get("VSCODE_PORTABLE", "").strip()
    if portable:
        found.append(Path(portable).expanduser() / "user-data")
    return _unique(found)


def extension_dirs(env: Mapping[str, str], extension_id: str) -> list[Path]:
    """``<user data>/User/globalStorage/<extension id>`` in every editor."""
    return [base / "User" / "globalStorage" / extension_id for base in user_data_dirs(env)]


def _unique(paths: list[Path]) -> list[Path]:
    seen: set[Path] = set()
    return [p for p in paths if not (p in seen or seen.add(p))]
