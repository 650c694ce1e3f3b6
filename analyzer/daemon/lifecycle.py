"""What makes ``analyzer watch`` a well-behaved daemon: one per store, clean stops, logs.

* **One daemon per store.** A lock file next to the store
  (``usage.db-watch.lock``) is held with an OS lock (``flock``), which the OS
  drops when the process dies, even by SIGKILL: a stale file never blocks a
  restart. The file holds the owner's pid, so a second daemon fails with a
  message naming the first. The file is never deleted (deleting it would let
  two processes lock two different files).
* **Clean stops.** SIGTERM and SIGINT ask the watcher to stop after the
  current transaction; a second Ctrl-C interrupts at once.
* **Logs** go to stderr (the journal, under systemd), at the level asked for.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WatchSettings:
    """Timings of the daemon, in seconds."""

    debounce: float = 0.2  # quiet time before a dirty file is read
    max_wait: float = 0.5  # a file dirty this long is read even if still being written
    rescan_interval: float = 60.0  # look at every file and re-plan the watches
    polling: bool = False  # poll instead of native file events
    poll_interval: float = 1.0  # how often the polling observer looks
    retry_delay: float = 5.0  # wait after the store stayed locked


log = logging.getLogger("analyzer.daemon")


class AlreadyRunning(Exception):
    """Another daemon holds the store's lock."""

    def __init__(self, lock_file: Path, pid: int | None):
        self.lock_file = lock_file
        self.pid = pid
        who = f"pid {pid}" if pid else "another process"
        stop = f"stop it first (kill {pid})" if pid else "stop it first"
        super().__init__(
            f"analyzer watch is already running for this store ({who}, lock {lock_file}); {stop}, or use another --db"
        )


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-watch.lock")


class DaemonLock:
    """An exclusive, non-blocking lock on ``<store>-watch.lock`` holding our pid."""

    def __init__(self, db_path: Path):
        self.path = lock_path(Path(db_path))
        self._fd: int | None = None

    def acquire(self) -> DaemonLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock(fd)
        except OSError:
            pid = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(self.path, pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            os.close(fd)  # closing drops the lock

    def __enter__(self) -> DaemonLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Call ``stop`` on SIGTERM or SIGINT (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        log.info("%s received: stopping after the current transaction", signal.Signals(signum).name)
        stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C interrupts at once

    wanted = [signal.SIGTERM, signal.SIGINT]
    previous = {sig: signal.signal(sig, handler) for sig in wanted}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


LOG_LEVELS = ("debug", "info", "warning", "error")


@contextmanager
def logging_to_stderr(level: str) -> Iterator[None]:
    """Send the ``analyzer`` loggers to stderr at ``level`` while the block runs."""
    logger = logging.getLogger("analyzer")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    old_level = logger.level
    logger.setLevel(getattr(logging, level.upper()))
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
