"""One writer at a time: an OS lock that every ingest pass and every migration holds.

SQLite lets one connection write at a time, but an ingest pass is more than one
statement: it plans from the ``sources`` rows, then writes rows and offsets in
several transactions. Two passes interleaving would plan from the same rows and
insert the same new source twice (``UNIQUE constraint failed: sources.path``),
or wait on each other's transactions past the busy timeout. So a pass (and the
migration of a store) first takes ``<store>-writer.lock``, an exclusive
``flock`` (``msvcrt.locking`` on Windows) that the OS drops when the holder
dies, even by SIGKILL. A second ingest waits its turn and then reads what is
still new; the daemon waits a moment and otherwise tries again later.

The file holds the holder's pid, for messages. It is never deleted (deleting it
would let two processes lock two different files). Where it cannot be created
(a read-only folder), no lock is taken: nothing can be written there anyway,
and SQLite says so.

Within one process the lock is re-entrant per thread, so code holding it may
call code that takes it again.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from analyzer.store.faults import StoreError

POLL_SECONDS = 0.05


class StoreBusy(StoreError):
    """Another process held the writer lock for longer than we could wait."""


def lock_path(db_path: Path | str) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + "-writer.lock")


_held: dict[str, tuple[int, int, threading.RLock]] = {}  # path -> (fd, depth, the threads' lock)
_guard = threading.Lock()


class WriterLock:
    """``with WriterLock(path).hold(timeout): ...``: the store's writer lock."""

    def __init__(self, db_path: Path | str | None):
        self.db_path = Path(db_path) if db_path else None
        self.path = lock_path(db_path) if db_path else None

    def holder(self) -> int | None:
        """The pid written by the process holding (or last holding) the lock."""
        if self.path is None:
            return None
        try:
            return int(self.path.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def acquire(
        self,
        timeout: float | None = None,
        *,
        notice: Callable[[str], None] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (None: as long as it takes).

        ``notice`` is told once, in a sentence, that we are waiting and for whom;
        ``stop`` is asked while waiting whether to give up (returns False then).
        Raises ``StoreBusy`` when the time is up.
        """
        if self.path is None:
            return True
        key = str(self.path)
        with _guard:
            entry = _held.get(key)
            if entry is None:
                entry = _held[key] = (-1, 0, threading.RLock())
        thread_lock = entry[2]
        deadline = None if timeout is None else time.monotonic() + timeout
        told = False
        # Threads of this process queue here; the first one takes the OS lock.
        while not thread_lock.acquire(timeout=POLL_SECONDS):
            if stop is not None and stop():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                raise self._busy(timeout)
        with _guard:
            fd, depth, _ = _held[key]
            if depth:
                _held[key] = (fd, depth + 1, thread_lock)
                return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            fd = -1  # a folder we cannot write: no lock, and SQLite will say why
        while fd != -1 and not _try_lock(fd):
            if not told and notice is not None:
                told = True
                pid = self.holder()
                notice(
                    f"Waiting for another analyzer process{f' (pid {pid})' if pid else ''} to finish writing"
                    f" to {self.db_path}..."
                )
            if (stop is not None and stop()) or (deadline is not None and time.monotonic() >= deadline):
                os.close(fd)
                thread_lock.release()
                if stop is not None and stop():
                    return False
                raise self._busy(timeout)
            time.sleep(POLL_SECONDS)
        if fd != -1:
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            except OSError:
                pass
        with _guard:
            _held[key] = (fd, 1, thread_lock)
        return True

    def release(self) -> None:
        if self.path is None:
            return
        key = str(self.path)
        with _guard:
            fd, depth, thread_lock = _held[key]
            if depth > 1:
                _held[key] = (fd, depth - 1, thread_lock)
                thread_lock.release()
                return
            _held[key] = (-1, 0, thread_lock)
        if fd != -1:
            os.close(fd)  # closing drops the OS lock
        thread_lock.release()

    def _busy(self, timeout: float | None) -> StoreBusy:
        pid = self.holder()
        who = f"another analyzer process (pid {pid})" if pid else "another analyzer process"
        return StoreBusy(
            f"{who} has been writing to the store {self.db_path} for over {timeout:g} s; wait for it to finish,"
            " or stop it, and run again"
        )


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False
