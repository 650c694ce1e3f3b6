"""Adding the analyser to Claude Code's settings, and taking it out again exactly.

What ``analyzer integrate claude-code`` adds to ``settings.json`` (the user's
``$CLAUDE_CONFIG_DIR/settings.json``, else ``~/.claude/settings.json``):

* ``statusLine``: ``{"type": "command", "command": "<analyzer> statusline"}``.
  A status line the user already has is **kept**, and they are told so. With
  ``--chain`` ours wraps theirs instead: ``<analyzer> statusline --then '<their
  command>'`` prints their line, then ours, and the rest of their
  ``statusLine`` object (``padding`` …) stays as it was.
* ``hooks.Stop`` and ``hooks.SessionEnd``: one matcher group each running
  ``<analyzer> claude-code-hook``, which starts a detached ingest.

Everything else is kept, in order. Ours is recognised by its command (the
analyser's executable, or ``python -m analyzer``, followed by ``statusline`` or
``claude-code-hook``), so a re-run is a no-op, a moved installation is
updated in place, and ``--uninstall`` removes exactly those entries (undoing a
chain).

Before a change, the file is copied to ``settings.json.before-analyzer-<time>``
beside it. ``--uninstall`` writes back the bytes of a backup whose content
equals the result, so integrate-then-uninstall leaves the file byte for byte
as it was (and removes a file that integrate created). When the user changed
the settings in between, the result is written as JSON in the file's indent.
Writes go through a temporary file and a rename; a symlinked ``settings.json``
stays a symlink (its target is written).
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

STATUSLINE = "statusline"
HOOK = "claude-code-hook"
HOOK_EVENTS = ("Stop", "SessionEnd")
BACKUP_INFIX = ".before-analyzer-"


class SettingsError(Exception):
    """The settings file cannot be read or changed; the message says why."""


def settings_path(env: Mapping[str, str]) -> Path:
    configured = [p.strip() for p in env.get("CLAUDE_CONFIG_DIR", "").split(",") if p.strip()]
    if configured:
        return Path(configured[0]).expanduser() / "settings.json"
    return Path(env.get("HOME") or Path.home()).expanduser() / ".claude" / "settings.json"


def analyzer_argv() -> list[str]:
    """How to run this installation of the analyser from a shell."""
    script = Path(sys.executable).parent / ("analyzer.exe" if os.name == "nt" else "analyzer")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-P", "-m", "analyzer"]  # -P: the project's own folders never shadow ours


def command(base: list[str], sub: str, db: str | None = None, then: str | None = None) -> str:
    argv = [*base, sub]
    if db:
        argv += ["--db", db]
    if then:
        argv += ["--then", then]
    return shlex.join(argv)


def parse_ours(cmd, sub: str) -> dict | None:
    """If ``cmd`` runs ``analyzer <sub>``, its options (``--db``, ``--then``); else None."""
    if not isinstance(cmd, str):
        return None
    try:
        argv = shlex.split(cmd)
    except ValueError:
        return None
    name = os.path.basename(argv[0]).lower() if argv else ""
    if name in ("analyzer", "analyzer.exe") and len(argv) >= 2 and argv[1] == sub:
        rest = argv[2:]
    elif "python" in name and "-m" in argv and argv[argv.index("-m") + 1 : argv.index("-m") + 3] == ["analyzer", sub]:
        rest = argv[argv.index("-m") + 3 :]
    else:
        return None
    opts = {}
    for i in range(0, len(rest) - 1, 2):
        opts[rest[i]] = rest[i + 1]
    return opts


def _hook_group(cmd: str) -> dict:
    return {"hooks": [{"type": "command", "command": cmd}]}


def install(settings: dict, base: list[str], *, db: str | None = None, chain: bool = False) -> tuple[dict, list[str]]:
    """Settings with our status line and hooks added; notes for the user."""
    new = copy.deepcopy(settings)
    notes = []
    current = new.get("statusLine")
    ours = parse_ours(current.get("command"), STATUSLINE) if isinstance(current, dict) else None
    if current is None:
        new["statusLine"] = {"type": "command", "command": command(base, STATUSLINE, db)}
        notes.append("status line: added")
    elif ours is not None:
        current["command"] = command(base, STATUSLINE, db, ours.get("--then"))
        notes.append("status line: already ours")
    elif chain and isinstance(current, dict) and isinstance(current.get("command"), str):
        current["command"] = command(base, STATUSLINE, db, current["command"])
        notes.append("status line: yours is kept and chained (its line, then ours)")
    else:
        notes.append(
            "status line: you already have one; kept it unchanged. Run again with --chain to show "
            "both (yours first), or the quota readings Claude Code gives it will not be recorded."
        )
    hooks = new.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise SettingsError('"hooks" in the settings is not an object; fix it by hand first')
    for event in HOOK_EVENTS:
        groups = hooks.setdefault(event, [])
        if not isinstance(groups, list):
            raise SettingsError(f'"hooks.{event}" in the settings is not a list; fix it by hand first')
        found = False
        for group in groups:
            for hook in group.get("hooks", []) if isinstance(group, dict) else []:
                if isinstance(hook, dict) and parse_ours(hook.get("command"), HOOK) is not None:
                    hook["command"] = command(base, HOOK, db)
                    found = True
        if not found:
            groups.append(_hook_group(command(base, HOOK, db)))
    notes.append(f"hooks: {' and '.join(HOOK_EVENTS)} start a background ingest")
    return new, notes


def uninstall(settings: dict, before: dict | None) -> dict:
    """Settings without our entries. Containers left empty are removed unless ``before`` had them."""
    new = copy.deepcopy(settings)
    before = before if isinstance(before, dict) else {}
    current = new.get("statusLine")
    ours = parse_ours(current.get("command"), STATUSLINE) if isinstance(current, dict) else None
    if ours is not None:
        if ours.get("--then"):
            current["command"] = ours["--then"]
        else:
            del new["statusLine"]
    hooks = new.get("hooks")
    if not isinstance(hooks, dict):
        return new
    had = before.get("hooks") if isinstance(before.get("hooks"), dict) else {}
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept = []
        for group in groups:
            inner = group.get("hooks") if isinstance(group, dict) else None
            if isinstance(inner, list):
                left = [
                    h for h in inner if not (isinstance(h, dict) and parse_ours(h.get("command"), HOOK) is not None)
                ]
                if len(left) != len(inner):
                    if not left:
                        continue
                    group["hooks"] = left
            kept.append(group)
        hooks[event] = kept
        if not kept and event not in had:
            del hooks[event]
    if not hooks and "hooks" not in before:
        del new["hooks"]
    return new


# --- the file -------------------------------------------------------------------


def _load(data: bytes, path: Path) -> dict:
    try:
        value = json.loads(data.decode("utf-8-sig")) if data.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path} is not valid JSON ({exc}); fix it by hand first, nothing was changed") from exc
    if not isinstance(value, dict):
        raise SettingsError(f"{path} does not hold a JSON object; nothing was changed")
    return value


def _indent(data: bytes | None) -> int | str:
    for raw in (data or b"").decode("utf-8", "replace").splitlines()[1:]:
        stripped = raw.lstrip(" \t")
        if stripped and len(stripped) < len(raw):
            lead = raw[: len(raw) - len(stripped)]
            return "\t" if lead.startswith("\t") else len(lead)
    return 2


def dumps(settings: dict, like: bytes | None) -> bytes:
    text = json.dumps(settings, indent=_indent(like), ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def _write(path: Path, data: bytes) -> None:
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.analyzer-tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    if target.exists():
        os.chmod(tmp, target.stat().st_mode & 0o7777)
    os.replace(tmp, target)


def backups(path: Path) -> list[Path]:
    """Our backups of this settings file, newest first."""
    target = Path(os.path.realpath(path))
    return sorted(target.parent.glob(f"{target.name}{BACKUP_INFIX}*"), reverse=True)


def integrate(path: Path, base: list[str], *, db: str | None = None, chain: bool = False) -> list[str]:
    """Add ours to the settings file (backing it up first); returns notes for the user."""
    data = path.read_bytes() if path.exists() else None
    current = _load(data, path) if data is not None else {}
    new, notes = install(current, base, db=db, chain=chain)
    if new == current:
        return [f"{path}: already integrated, nothing changed", *notes[:1]]
    if data is not None:
        target = Path(os.path.realpath(path))
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        backup = target.with_name(f"{target.name}{BACKUP_INFIX}{stamp}")
        _write(backup, data)
        os.chmod(backup, target.stat().st_mode & 0o7777)
        notes.append(f"backup: {backup}")
    _write(path, dumps(new, data))
    return [f"{path}: updated", *notes]


def remove(path: Path) -> list[str]:
    """Take ours out of the settings file, restoring a backup's bytes when nothing else changed."""
    if not path.exists():
        return [f"{path}: does not exist, nothing to remove"]
    data = path.read_bytes()
    current = _load(data, path)
    if uninstall(current, current) == current:
        return [f"{path}: nothing of the analyser's found, nothing changed"]
    saved = []
    for backup in backups(path):
        try:
            raw = backup.read_bytes()
            saved.append((backup, raw, _load(raw, backup)))
        except (OSError, SettingsError):
            continue
    for backup, raw, before in saved:
        if uninstall(current, before) == before:
            _write(path, raw)
            backup.unlink()
            return [f"{path}: restored as it was before (from {backup.name}, now removed)"]
    new = uninstall(current, saved[0][2] if saved else None)
    if not new and not saved:
        Path(os.path.realpath(path)).unlink()
        return [f"{path}: removed (the analyser had created it)"]
    _write(path, dumps(new, data))
    left = f"; earlier backups kept: {', '.join(b.name for b, _, _ in saved)}" if saved else ""
    return [f"{path}: the analyser's status line and hooks removed, the rest kept{left}"]
