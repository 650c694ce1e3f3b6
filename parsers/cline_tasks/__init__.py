"""Cline, Roo Code and Kilo Code: the VS Code agents that keep one folder per task.

The three extensions share one on-disk format (Roo forked Cline, Kilo forked
Roo): ``<globalStorage>/<extension id>/tasks/<taskId>/ui_messages.json`` with
``api_conversation_history.json`` and ``task_metadata.json`` (Cline) or
``history_item.json`` (Roo, Kilo) beside it. How a task is counted is in
``task`` (requests, prompts, subagents, compaction), ``usage`` (what
``tokensIn`` means, per agent, version and provider), ``restores`` (usage
of requests a checkpoint restore removed) and ``limits`` (refusals).

Roots (``roots``: every VS Code flavour on every OS, remote servers, portable):

* **Cline** (``saoudrizwan.claude-dev``): the extension's ``tasks/`` folders;
  Cline 3's CLI and JetBrains builds: ``$CLINE_DATA_DIR/tasks`` (else
  ``$CLINE_DIR/data/tasks``, ``CLINE_DIR`` defaulting to ``~/.cline``); and
  Cline 4's session files (``sdk``) in ``$CLINE_SESSION_DATA_DIR`` (else
  ``<data>/sessions``).
* **Roo Code** (``rooveterinaryinc.roo-cline``): the extension's ``tasks/``.
* **Kilo Code** (``kilocode.kilo-code``): the extension's ``tasks/`` (Kilo
  Code 4 and 5, the Roo fork), and the store of the Kilo CLI, an OpenCode
  fork that the newer Kilo extensions run as their backend: ``kilo.db`` (or
  ``kilo-<channel>.db``, or an ``opencode-<channel>.db`` left from before the
  rename, or the file ``KILO_DB`` names) in ``$XDG_DATA_HOME/kilo`` (else
  ``~/.local/share/kilo``, on every OS), plus the older JSON tree
  ``storage/message/``. Its tables are OpenCode's, so OpenCode's reader reads
  it (``kilo_cli``).

Every file is read whole (``mode = "file"``) and re-read when it changes;
a task folder's files are rewritten whole, so each read upserts the same keys.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

from analyzer.parsers.cline_tasks import kilo_cli
from analyzer.parsers.cline_tasks.roots import extension_dirs
from analyzer.parsers.cline_tasks.sdk import sdk_records
from analyzer.parsers.cline_tasks.task import task_records

from analyzer.api import Record, SourceContext, env_paths, home_from, hookimpl

# The variables every task-folder parser reads to find editors' folders (``roots``).
EDITOR_ENV = ("XDG_CONFIG_HOME", "APPDATA", "VSCODE_AGENT_FOLDER", "VSCODE_PORTABLE")
UI_MESSAGES = "ui_messages.json"
SDK_SUFFIX = ".messages.json"


def cline_data_dirs(env: Mapping[str, str]) -> list[Path]:
    """Cline's own data folder: ``CLINE_DATA_DIR``, else ``$CLINE_DIR/data``, else ``~/.cline/data``."""
    explicit = env_paths(env, "CLINE_DATA_DIR")
    if explicit:
        return explicit
    base = env_paths(env, "CLINE_DIR") or [home_from(env) / ".cline"]
    return [b / "data" for b in base]


def cline_session_dirs(env: Mapping[str, str]) -> list[Path]:
    """Cline 4's session folder: ``CLINE_SESSION_DATA_DIR``, else ``<data>/sessions``."""
    return env_paths(env, "CLINE_SESSION_DATA_DIR") or [d / "sessions" for d in cline_data_dirs(env)]


def is_task_file(path: Path) -> bool:
    """``…/tasks/<taskId>/ui_messages.json``"""
    return path.name == UI_MESSAGES and path.parent.parent.name == "tasks"


class TaskFolderParser:
    """Reads ``ui_messages.json`` of one extension's tasks."""

    mode: Literal["lines", "file"] = "file"
    keeps_state = True
    extension_id = ""
    env_vars: tuple[str, ...] = EDITOR_ENV

    def __init__(self, name: str, extension_id: str):
        self.name = self.agent = name
        self.extension_id = extension_id

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return [d / "tasks" for d in extension_dirs(env, self.extension_id)]

    def candidate(self, path: Path) -> bool:
        return is_task_file(path)

    def recognise(self, path: Path, head: bytes) -> bool:
        return head.lstrip()[:1] == b"["

    def parse_file(self, path: Path, ctx: SourceContext, state: dict | None = None) -> Iterator[Record]:
        return task_records(path, self.agent, {} if state is None else state)


class ClineParser(TaskFolderParser):
    """Cline: the extension's task folders, the CLI's, and Cline 4's session files."""

    env_vars = (*EDITOR_ENV, "CLINE_DIR", "CLINE_DATA_DIR", "CLINE_SESSION_DATA_DIR")

    def __init__(self) -> None:
        super().__init__("cline", "saoudrizwan.claude-dev")

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return super().roots(env) + [d / "tasks" for d in cline_data_dirs(env)] + cline_session_dirs(env)

    def candidate(self, path: Path) -> bool:
        return is_task_file(path) or path.name.endswith(SDK_SUFFIX)

    def recognise(self, path: Path, head: bytes) -> bool:
        if path.name.endswith(SDK_SUFFIX):
            return head.lstrip()[:1] == b"{" and b'"messages"' in head
        return super().recognise(path, head)

    def parse_file(self, path: Path, ctx: SourceContext, state: dict | None = None) -> Iterator[Record]:
        if path.name.endswith(SDK_SUFFIX):
            return sdk_records(path)
        return super().parse_file(path, ctx, state)


class KiloParser(TaskFolderParser):
    """Kilo Code: the extension's task folders and the Kilo CLI's store."""

    env_vars = (*EDITOR_ENV, "XDG_DATA_HOME", "KILO_DB")

    def __init__(self) -> None:
        super().__init__("kilo-code", "kilocode.kilo-code")
        self.cli = kilo_cli.KiloStore()

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return super().roots(env) + self.cli.roots(env)

    def candidate(self, path: Path) -> bool:
        return is_task_file(path) or self.cli.candidate(path)

    def recognise(self, path: Path, head: bytes) -> bool:
        if is_task_file(path):
            return super().recognise(path, head)
        return self.cli.recognise(path, head)

    def parse_file(self, path: Path, ctx: SourceContext, state: dict | None = None) -> Iterator[Record]:
        if is_task_file(path):
            return super().parse_file(path, ctx, state)
        return self.cli.records(path)


@hookimpl
def register_parsers(register):
    register(ClineParser())
    register(TaskFolderParser("roo-code", "rooveterinaryinc.roo-cline"))
    register(KiloParser())
