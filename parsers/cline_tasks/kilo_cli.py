"""The Kilo CLI's store: OpenCode's SQLite tables under Kilo's own names.

The Kilo CLI (``@kilocode/cli``, the backend of the newer Kilo extensions) is a
fork of OpenCode. Its data folder is ``$XDG_DATA_HOME/kilo`` (else
``~/.local/share/kilo``, on every OS: ``xdg-basedir`` with the app name
``kilo``, ``packages/opencode/src/global``), and its store is ``kilo.db``
for the release channels, ``kilo-<channel>.db`` for others (or an
``opencode-<channel>.db`` kept from before the rename), or the file ``KILO_DB``
names (absolute, or relative to the data folder; ``storage/db.ts``). Its
``session`` / ``message`` / ``part`` tables are OpenCode's, so OpenCode's
reader reads them, and its older JSON tree (``storage/message/``) too; the
records it yields are restamped as Kilo Code's (agent and key prefix), so a
Kilo request never meets an OpenCode one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from analyzer.parsers.opencode.database import store_records
from analyzer.parsers.opencode.legacy import LegacyTree, is_message_file

from analyzer.api import Record, home_from

AGENT = "kilo-code"
SQLITE_MAGIC = b"SQLite format 3\x00"
_STORE = re.compile(r"^(kilo|opencode)(-[A-Za-z0-9._-]+)?\.db$")


def data_dir(env: Mapping[str, str]) -> Path:
    xdg = env.get("XDG_DATA_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else home_from(env) / ".local" / "share") / "kilo"


class KiloStore:
    """Finds and reads the Kilo CLI's stores."""

    def __init__(self) -> None:
        self.tree = LegacyTree()
        self.named: set[Path] = set()

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        data = data_dir(env)
        stores: list[Path] = []
        named = env.get("KILO_DB", "").strip()
        if named and named != ":memory:":
            path = Path(named).expanduser()
            path = path if path.is_absolute() else data / path
            self.named.add(path)
            stores.append(path)
        try:
            stores += sorted(p for p in data.iterdir() if _is_store_name(p.name) and p not in stores)
        except OSError:
            pass
        if not stores:
            stores.append(data / "kilo.db")  # not there yet: a root to watch
        return [*stores, data / "storage" / "message"]

    def candidate(self, path: Path) -> bool:
        if path in self.named:
            return True
        if is_message_file(path):
            return path.parent.parent.parent.parent.name == "kilo"
        return _is_store_name(path.name) and path.parent.name == "kilo"

    def recognise(self, path: Path, head: bytes) -> bool:
        return is_message_file(path) or head.startswith(SQLITE_MAGIC)

    def records(self, path: Path) -> Iterator[Record]:
        source = self.tree.message_records(path) if is_message_file(path) else store_records(path)
        for record in source:
            yield restamp(record)


def _is_store_name(name: str) -> bool:
    m = _STORE.match(name)
    return bool(m) and (m.group(1) == "kilo" or bool(m.group(2)))


def restamp(record: Record) -> Record:
    """An OpenCode record as Kilo Code's."""
    if getattr(record, "agent", None) != "opencode":
        return record
    changes: dict = {"agent": AGENT}
    key = getattr(record, "key", None)
    if isinstance(key, str) and key.startswith("opencode:"):
        changes["key"] = AGENT + key[len("opencode") :]
    return dataclasses.replace(record, **changes)
