"""Finding log files and knowing whether one changed since it was last read.

Discovery walks each parser's default roots (or the paths a user gives) and
asks parsers which files are theirs: a cheap path test (``candidate``), then a
look at the first bytes (``recognise``). A candidate no parser recognises is
reported once per pass, by name.

Identity: a file is the same file while its device and inode are the same and
the bytes already read are unchanged. Two fingerprints check the latter: the
first bytes of the file, and the bytes just before the consumed offset (an
in-place rewrite that drops lines in the middle, as Claude Code does on resume,
keeps the head but moves that tail). A changed identity means "read again from
the start", which upserts make safe. A file that vanished from one path while
a file with its device and inode and head appeared at another was moved
(Codex archives sessions that way): its offset moves with it.

A file or folder that cannot be read (no permission, a symlink loop, a link to
nothing) is never skipped in silence: discovery names it, with the reason and
the parser that would have read it, and the ingester reports and records it.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

HEAD_BYTES = 64 * 1024
FINGERPRINT_BYTES = 1024
TAIL_BYTES = 256


@dataclass(frozen=True)
class Found:
    """A file and the parser that will read it."""

    path: Path
    parser: object
    root: Path | None


@dataclass(frozen=True)
class Unreadable:
    """A file (or folder) that could not be looked at, and why."""

    path: Path
    reason: str
    parser: object | None = None  # the parser whose kind of file it is, when one claims the name


@dataclass
class Discovery:
    found: list[Found]
    unrecognised: list[tuple[Path, str]]  # (path, which parsers looked at it)
    missing_roots: list[Path]
    unreadable: list[Unreadable] = field(default_factory=list)


def why_unreadable(exc: BaseException) -> str:
    """The reason an OS error (or a symlink loop) gives, in a few words."""
    if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
        return "a symlink loop (the link leads back to itself)"
    if isinstance(exc, FileNotFoundError):
        return "a link to a file that does not exist"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return getattr(exc, "strerror", None) or str(exc)


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    with open(path, "rb") as f:
        return f.read(size)


def _walk(root: Path, errors: list[Unreadable] | None = None) -> Iterator[Path]:
    if root.is_file():
        yield root
        return

    def unreadable_folder(exc: OSError) -> None:
        if errors is not None and exc.filename:
            errors.append(Unreadable(Path(exc.filename), f"folder not readable: {why_unreadable(exc)}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable_folder):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath, name)


def discover(
    parsers: list,
    env: Mapping[str, str],
    paths: Iterable[Path] | None = None,
    *,
    within: Iterable[Path] | None = None,
    known: Mapping[Path, Found] | None = None,
) -> Discovery:
    """Every (file, parser) to ingest: from the parsers' roots, or from ``paths``.

    ``within`` limits a roots walk to the given files and folders (and to roots
    that lie inside a given folder): the watcher's way to look only where an
    event happened. ``known`` maps paths already recognised to their ``Found``,
    so a rescan does not read their first bytes again.
    """
    within = [Path(w) for w in within] if within is not None else None
    found: list[Found] = []
    unrecognised: list[tuple[Path, str]] = []
    missing: list[Path] = []
    unreadable: list[Unreadable] = []
    seen: set[Path] = set()
    folders: dict[Path, Path] = {}  # folder -> its resolved path: resolve each once, not once per file

    def resolve(path: Path) -> Path:
        folder = folders.get(path.parent)
        if folder is None:
            folder = folders[path.parent] = path.parent.resolve()
        inside = folder / path.name
        return inside.resolve() if inside.is_symlink() else inside

    def cannot_read(path: Path, exc: BaseException, interested: list, explicit: bool) -> None:
        if interested or explicit:
            unreadable.append(Unreadable(path, why_unreadable(exc), interested[0] if interested else None))

    def offer(path: Path, candidates: list, root: Path | None, explicit: bool) -> None:
        try:
            resolved = resolve(path)
        except (OSError, RuntimeError) as exc:  # RuntimeError: Python 3.11's "Symlink loop"
            cannot_read(path, exc, [p for p in candidates if _safe(p.candidate, path)], explicit)
            return
        if resolved in seen:
            return
        if known is not None and path in known:
            seen.add(resolved)
            found.append(known[path])
            return
        interested = [p for p in candidates if _safe(p.candidate, path)]
        if not interested:
            if explicit:
                unrecognised.append((path, "no parser reads files of this kind"))
            return
        try:
            if path.stat().st_size == 0:
                return  # nothing written yet; it will be looked at again
            head = read_head(path)
        except OSError as exc:
            cannot_read(path, exc, interested, explicit)
            return
        for parser in interested:
            if _safe(parser.recognise, path, head):
                seen.add(resolved)
                found.append(Found(path, parser, root))
                return
        unrecognised.append((path, ", ".join(p.name for p in interested)))

    if paths:
        for given in paths:
            given = Path(given).expanduser()
            if not given.exists():
                if given.is_symlink():
                    try:
                        given.resolve(strict=True)
                    except (OSError, RuntimeError) as exc:
                        cannot_read(given, exc, [], True)
                        continue
                missing.append(given)
                continue
            for path in _walk(given, unreadable):
                offer(path, parsers, given if given.is_dir() else None, explicit=given.is_file())
    else:
        for parser in parsers:
            for root in _safe(parser.roots, env) or []:
                root = Path(root)
                if not root.exists():
                    missing.append(root)
                    continue
                for start in _starts(root, within):
                    for path in _walk(start, unreadable):
                        offer(path, [parser], root, explicit=False)
    return Discovery(found, unrecognised, missing, unreadable)


def _starts(root: Path, within: list[Path] | None) -> list[Path]:
    """Where to walk inside ``root``: all of it, or the parts ``within`` names."""
    if within is None:
        return [root]
    if any(root.is_relative_to(w) for w in within):
        return [root]
    return [w for w in within if w.is_relative_to(root)]


def _safe(fn, *args):
    """Call a parser method; a third-party parser's bug must not stop discovery."""
    try:
        return fn(*args)
    except Exception:
        return None


def fingerprint(path: Path, length: int) -> str:
    """``"<n>:<sha1 of the first n bytes>"``, n at most FINGERPRINT_BYTES."""
    n = min(length, FINGERPRINT_BYTES)
    with open(path, "rb") as f:
        data = f.read(n)
    return f"{len(data)}:{hashlib.sha1(data).hexdigest()}"


def tail_fingerprint(path: Path, offset: int) -> str:
    """sha1 of the TAIL_BYTES ending at ``offset`` (the end of what was consumed)."""
    start = max(0, offset - TAIL_BYTES)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(offset - start)
    return hashlib.sha1(data).hexdigest()


def head_matches(path: Path, stored: str | None) -> bool:
    if not stored:
        return True
    try:
        n_text, _, digest = stored.partition(":")
        n = int(n_text)
    except ValueError:
        return False
    with open(path, "rb") as f:
        data = f.read(n)
    return len(data) == n and hashlib.sha1(data).hexdigest() == digest
