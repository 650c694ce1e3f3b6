"""Reading OpenCode's JSON tree (before 1.2): ``storage/{session,message,part}``.

Layout (ids come from the paths, as the agent's own migration reads them)::

    storage/session/<projectID>/<sessionID>.json
    storage/message/<sessionID>/<messageID>.json
    storage/part/<messageID>/<partID>.json

Each message file is one source: the ingester re-reads it when it changes (the
agent rewrites an assistant message after every step, after writing that
step's parts, so the message file always changes last). Reading message M
yields M's records and the prompt M answers; that needs M's parts, the
session's other messages (which call answers which prompt) and the session
file (its parent). Those are cached between files, each cache entry checked
against its folder's modification time, so a tree is read in one pass over
its files rather than once per message; M itself and its parts are always
read fresh.

The agent stopped writing this tree in 1.2 and migrated it into ``opencode.db``
(keeping the ids); the store's keys are made from content, so a tree and its
migrated copy count once.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import orjson
from analyzer.parsers.opencode.model import NEEDED_PARTS, Message, Part, SessionInfo, session_records
from analyzer.parsers.opencode.values import created_ms

from analyzer.api import BadLine, Record, loads_lenient

CACHE_ENTRIES = 4096


def is_message_file(path: Path) -> bool:
    """``…/storage/message/<sessionID>/<messageID>.json``"""
    return (
        path.suffix == ".json" and path.parent.parent.name == "message" and path.parent.parent.parent.name == "storage"
    )


class _Cache:
    """A small LRU of values keyed by a folder, valid while its mtime is unchanged."""

    def __init__(self, size: int = CACHE_ENTRIES):
        self.size = size
        self.entries: OrderedDict[Path, tuple[int, object]] = OrderedDict()

    def get(self, folder: Path, load):
        try:
            stamp = folder.stat().st_mtime_ns
        except OSError:
            stamp = -1
        hit = self.entries.get(folder)
        if hit is not None and hit[0] == stamp:
            self.entries.move_to_end(folder)
            return hit[1]
        value = load(folder)
        self.entries[folder] = (stamp, value)
        self.entries.move_to_end(folder)
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return value

    def forget(self, folder: Path) -> None:
        self.entries.pop(folder, None)


class LegacyTree:
    """Reads message files of any number of trees, sharing caches between reads."""

    def __init__(self) -> None:
        self._messages = _Cache()
        self._parts = _Cache()
        self._sessions = _Cache(256)

    def message_records(self, path: Path) -> Iterator[Record]:
        """The records of one message file (and the prompt it answers)."""
        storage = path.parent.parent.parent
        session_id, message_id = path.parent.name, path.stem
        data, error = _load(path)
        if error:
            yield BadLine(0, "corrupt", error)
            return
        if created_ms(data) is None:
            yield BadLine(0, "bad_shape", f"message without time.created ({message_id})")
            return
        bad: list[BadLine] = []
        view = _TreeView(self, storage, Message(message_id, session_id, data), bad)
        records = list(session_records(view, session_id, only=[message_id]))
        yield from bad
        yield from records

    # --- cached loads --------------------------------------------------------------

    def session_messages(self, folder: Path) -> list[Message]:
        return self._messages.get(folder, _load_messages)

    def message_parts(self, folder: Path) -> tuple[list[Part], list[str]]:
        return self._parts.get(folder, _load_parts)

    def session_file(self, storage: Path, session_id: str) -> Path | None:
        """The session's file, in whichever project folder it is."""
        root = storage / "session"
        found = self._sessions.get(root, _index_sessions).get(session_id)
        if found is None or not found.exists():
            # A session added to an existing project folder leaves the root's mtime alone.
            self._sessions.forget(root)
            found = self._sessions.get(root, _index_sessions).get(session_id)
        return found


class _TreeView:
    """A ``model.Source`` over one tree, with the message being read fresh."""

    def __init__(self, tree: LegacyTree, storage: Path, current: Message, bad: list[BadLine]):
        self.tree = tree
        self.storage = storage
        self.current = current
        self.bad = bad

    def session(self, session_id: str) -> SessionInfo | None:
        path = self.tree.session_file(self.storage, session_id)
        if path is None:
            return None
        data, _ = _load(path)
        if data is None:
            return None
        created = created_ms(data)
        return SessionInfo(
            session_id,
            data.get("parentID") or None,
            data.get("directory") or None,
            data.get("version") or None,
            created,
        )

    def messages(self, session_id: str) -> list[Message]:
        messages = self.tree.session_messages(self.storage / "message" / session_id)
        if session_id != self.current.session_id:
            return messages
        others = [m for m in messages if m.id != self.current.id]
        return sorted([*others, self.current], key=lambda m: m.id)

    def parts(self, message_id: str) -> list[Part]:
        folder = self.storage / "part" / message_id
        if message_id == self.current.id:
            parts, errors = _load_parts(folder)  # always fresh
            self.bad.extend(BadLine(0, "corrupt", e) for e in errors)
            return parts
        return self.tree.message_parts(folder)[0]


def _load(path: Path) -> tuple[dict | None, str | None]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"{path.name}: {exc.strerror or exc}"
    try:
        value = loads_lenient(raw)
    except orjson.JSONDecodeError as exc:
        return None, f"{path.name}: not JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"{path.name}: expected a JSON object"
    return value, None


def _load_messages(folder: Path) -> list[Message]:
    messages = []
    for name in _json_names(folder):
        data, _ = _load(folder / name)
        if data is not None and created_ms(data) is not None:
            messages.append(Message(name[:-5], folder.name, data))
    return sorted(messages, key=lambda m: m.id)


def _load_parts(folder: Path) -> tuple[list[Part], list[str]]:
    parts, errors = [], []
    for name in _json_names(folder):
        data, error = _load(folder / name)
        if error:
            errors.append(f"part {error}")
        elif data.get("type") in NEEDED_PARTS:
            parts.append(Part(name[:-5], folder.name, data))
    return parts, errors


def _index_sessions(root: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    try:
        projects = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return index
    for project in projects:
        if project.is_dir():
            for name in _json_names(Path(project.path)):
                index.setdefault(name[:-5], Path(project.path, name))
    return index


def _json_names(folder: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(folder) if e.name.endswith(".json") and e.is_file())
    except OSError:
        return []
