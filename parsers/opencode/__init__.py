"""OpenCode (sst/opencode, now anomalyco/opencode): ``opencode.db`` and the older JSON tree.

Roots, in the data folder ``$XDG_DATA_HOME/opencode`` (else
``~/.local/share/opencode``, on every OS):

* ``opencode.db``, and ``opencode-<channel>.db`` for other release channels
  (OpenCode 1.2+), or the file ``OPENCODE_DB`` names (absolute, or relative to
  the data folder). A store is read whole (``mode = "file"``), read-only and
  without ever locking the agent out: see ``database``. The ingester re-reads
  it when the store or its ``-wal`` file changes.
* ``storage/message/<session>/<message>.json``: the JSON tree written before
  1.2; each message file is one source: see ``legacy``.

How usage, prompts, subagents and limits are counted is the same for both and
is described in ``model``. The decision on reasoning tokens, from OpenCode's
``Session.getUsage``: current versions store ``output`` *without* the
reasoning (``outputTokens - reasoningTokens``, AI SDK v6) and report
``reasoning`` beside it, so the stored output is ``output + reasoning``; older
versions stored the SDK's ``outputTokens``, which for OpenAI-style providers
already held the reasoning. Each message's ``tokens.total`` (the sum the agent
recorded) tells the two apart; ``model.split_output`` has the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

from analyzer.parsers.opencode.database import store_records
from analyzer.parsers.opencode.legacy import LegacyTree, is_message_file
from analyzer.parsers.opencode.values import AGENT

from analyzer.api import Record, SourceContext, home_from, hookimpl

SQLITE_MAGIC = b"SQLite format 3\x00"
_STORE_NAME = re.compile(r"^opencode(-[A-Za-z0-9._-]+)?\.db$")


def data_dir(env: Mapping[str, str]) -> Path:
    """OpenCode's data folder: ``$XDG_DATA_HOME/opencode``, else ``~/.local/share/opencode``."""
    xdg = env.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else home_from(env) / ".local" / "share"
    return base / "opencode"


class OpenCodeParser:
    name = AGENT
    agent = AGENT
    env_vars = ("XDG_DATA_HOME", "OPENCODE_DB")
    mode: Literal["lines", "file"] = "file"

    def __init__(self) -> None:
        self._tree = LegacyTree()
        self._named_stores: set[Path] = set()  # OPENCODE_DB may give the store any name

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        data = data_dir(env)
        stores: list[Path] = []
        named = env.get("OPENCODE_DB", "").strip()
        if named and named != ":memory:":
            path = Path(named).expanduser()
            path = path if path.is_absolute() else data / path
            self._named_stores.add(path)
            stores.append(path)
        try:
            stores += sorted(p for p in data.iterdir() if _STORE_NAME.match(p.name) and p not in stores)
        except OSError:
            pass
        if not stores:
            stores.append(data / "opencode.db")  # not there: reported as a missing root
        return [*stores, data / "storage" / "message"]

    def candidate(self, path: Path) -> bool:
        return bool(_STORE_NAME.match(path.name)) or path in self._named_stores or is_message_file(path)

    def recognise(self, path: Path, head: bytes) -> bool:
        if is_message_file(path):
            return True  # the path says what it is; a corrupt file is reported by parse_file
        return head.startswith(SQLITE_MAGIC)

    def parse_file(self, path: Path, ctx: SourceContext) -> Iterator[Record]:
        if is_message_file(path):
            return self._tree.message_records(path)
        return store_records(path)


@hookimpl
def register_parsers(register):
    register(OpenCodeParser())
