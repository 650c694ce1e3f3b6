"""What went wrong, in one sentence a user can act on.

Every fault a user can meet while the analyser works on its store or reads
logs (a locked, read-only, damaged or full store, a file that cannot be read,
input nested too deeply) ends up here, as an exception; ``describe_fault``
turns it into one sentence naming the thing and the fix. The command line
(``analyzer.cli``) prints that sentence and exits non-zero (``--debug`` shows
the traceback instead); the daemon logs it and tries again later. Anything not
recognised is named as the bug it is.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

DAMAGED = ("malformed", "not a database", "file is encrypted", "corrupt")


class StoreError(Exception):
    """The store cannot be opened or written; the message says why (one sentence)."""


def describe_fault(exc: BaseException, store: Path | str | None = None) -> str:
    """One sentence for ``exc``; ``store`` is the store's path when it is known."""
    where = f"the store {store}" if store else "the store"
    folder = Path(store).parent if store else None
    if isinstance(exc, StoreError):
        return str(exc)
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        low = text.lower()
        if "locked" in low or "busy" in low:
            return (
                f"{where} stayed locked by another process longer than the wait allows (a long write by another"
                " analyzer, or a tool holding it open for writing); try again when it is done"
            )
        if "readonly" in low or "read-only" in low:
            return (
                f"{where} is read-only: give yourself write permission on it"
                f"{f' and its folder {folder}' if folder else ''}, or use another --db"
            )
        if "disk is full" in low or "database or disk is full" in low:
            return (
                f"the disk holding {where} is full: free some space and run again"
                " (nothing was half-written; what was not stored is read again next time)"
            )
        if "unable to open" in low:
            if store and Path(store).exists():
                return (
                    f"{where} is read-only: SQLite writes its log beside it, so give yourself write permission on"
                    f" it and its folder {folder}, or use another --db"
                )
            return f"cannot open {where}: its folder is missing or not writable"
        if any(word in low for word in DAMAGED):
            return (
                f"{where} is damaged ({text}): `analyzer db check` shows what, and `analyzer db repair`"
                " recovers what can be read into a new store"
            )
        if "disk i/o" in low:
            return f"the disk failed while reading or writing {where} ({text}); check the disk, then run again"
        if isinstance(exc, sqlite3.IntegrityError):
            return f"another process wrote the same rows at the same moment ({text}); run again"
        return f"{where} could not be used: {text}"
    if isinstance(exc, OSError):
        name = exc.filename if exc.filename is not None else (store or "a file")
        code = exc.errno
        if code == errno.ENOSPC:
            return f"the disk is full (writing {name}): free some space and run again"
        if code == errno.EDQUOT:
            return f"your disk quota is used up (writing {name}): free some space and run again"
        if code in (errno.EACCES, errno.EPERM):
            return f"permission denied: {name}"
        if code == errno.EROFS:
            return f"{name} is on a read-only file system"
        if code == errno.ENOENT:
            return f"{name} does not exist"
        if code == errno.ELOOP:
            return f"{name} is a symlink loop (the link leads back to itself)"
        return f"{name}: {exc.strerror or exc}"
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to read"
    if isinstance(exc, MemoryError):
        return "the analyser ran out of memory"
    return (
        f"unexpected error: {type(exc).__name__}: {exc} (a bug: run again with --debug for the traceback,"
        " and report it)"
    )
