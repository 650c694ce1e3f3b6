"""The watch daemon: follow the agents' log folders and ingest what changes.

How it is put together::

    watchdog threads ──event──► DirtyHandler ──mark(path)──► Coalescer (dirty paths, injectable clock)
                                                                  │ due paths
    Watcher (the writer thread; owns the only Database) ◄─────────┘
      start:  observers first, then a catch-up pass (what was written in between is read twice, harmlessly)
      follow: ingest paths once quiet for ``debounce``, or dirty for ``max_wait`` (a file written
              without pause still flushes); every ``rescan_interval`` re-plan the watches and look at
              every file (events are hints: the OS may drop them); run plugins' periodic tasks

Rules it keeps:

* Events are hints. The handler runs on watchdog's dispatch thread and does no
  I/O there: it only marks paths dirty. Everything else (stat, read, SQLite)
  happens on the writer thread, which re-stats and never trusts an event type.
* A root that does not exist yet is not lost: its nearest existing ancestor is
  watched (not recursively, so the home folder is never watched whole), and the
  root is watched and read as soon as it appears.
* Native events (inotify, FSEvents, ...) are used unless ``polling`` is asked
  for; when they are unavailable or their limits are hit (``ENOSPC``,
  ``EMFILE``) the watcher logs how to raise the limit and falls back to polling
  (``analyzer.daemon.observers``).
* Short transactions: the ingester commits per chunk, and nothing is held open
  while waiting, so readers and other writers are never blocked by an idle
  daemon. A store locked by someone else past the busy timeout is logged and
  retried later. A stop request is honoured between two transactions.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from analyzer.contract.tasks import WatchTask
from analyzer.daemon.lifecycle import WatchSettings  # noqa: F401  (re-exported)
from analyzer.daemon.observers import ObserverFactory, Observers, plan_watches
from analyzer.ingest.discovery import Found, discover
from analyzer.ingest.ingester import Ingester, IngestStats, link_orphan_requests
from analyzer.store import database as store
from analyzer.store.faults import describe_fault
from analyzer.store.lock import StoreBusy

if TYPE_CHECKING:
    import sqlite_utils

log = logging.getLogger("analyzer.watch")

Clock = Callable[[], float]

# Event types that say nothing was written.

_IGNORED_EVENTS = frozenset({"opened", "closed_no_write"})

LOCK_WAIT = 2.0  # seconds a pass waits for another process's pass before trying again later


def watch_tasks() -> list[WatchTask]:
    """Periodic tasks plugins registered through ``register_watch_tasks``."""
    from analyzer.registry.manager import call_register

    return list(call_register("register_watch_tasks"))


class Interrupted(Exception):
    """Raised between two transactions when a stop was requested."""


# --- the dispatcher ------------------------------------------------------------------


class Coalescer:
    """Dirty paths, each due once quiet for ``debounce`` or dirty for ``max_wait``.

    Thread-safe: watchdog's thread calls ``mark``; the writer calls ``due``,
    ``next_due`` and ``wait``. Time comes from ``clock``, so tests drive it.
    """

    def __init__(self, debounce: float = 0.2, max_wait: float = 0.5, clock: Clock = time.monotonic):
        self.debounce = debounce
        self.max_wait = max_wait
        self.clock = clock
        self._cond = threading.Condition()
        self._dirty: dict[str, tuple[float, float]] = {}  # path -> (first seen, last event)
        self._woken = False

    def mark(self, path: str) -> None:
        with self._cond:
            now = self.clock()
            first = self._dirty[path][0] if path in self._dirty else now
            self._dirty[path] = (first, now)
            self._woken = True
            self._cond.notify()

    def due(self) -> list[str]:
        """Pop and return the paths due now, oldest first."""
        with self._cond:
            now = self.clock()
            ready = [
                p
                for p, (first, last) in self._dirty.items()
                if now - last >= self.debounce or now - first >= self.max_wait
            ]
            ready.sort(key=lambda p: self._dirty[p][0])
            for p in ready:
                del self._dirty[p]
            return ready

    def next_due(self) -> float | None:
        """When the next path falls due (clock time), or None when nothing is dirty."""
        with self._cond:
            if not self._dirty:
                return None
            return min(min(last + self.debounce, first + self.max_wait) for first, last in self._dirty.values())

    def pending(self) -> list[str]:
        with self._cond:
            return list(self._dirty)

    def wait(self, timeout: float | None) -> None:
        """Sleep up to ``timeout`` seconds, or until a path is marked or ``wake`` is called."""
        with self._cond:
            if not self._woken:
                self._cond.wait(timeout)
            self._woken = False

    def wake(self) -> None:
        with self._cond:
            self._woken = True
            self._cond.notify()


class DirtyHandler(FileSystemEventHandler):
    """Marks the paths of relevant events dirty; runs on watchdog's thread, so no I/O.

    A path is relevant when it lies inside a root (a log file, a folder of them)
    or is an ancestor of one (a root appearing, moving or vanishing).
    """

    def __init__(self, coalescer: Coalescer, roots: Iterable[Path]):
        self.coalescer = coalescer
        self.roots = [Path(r) for r in roots]

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _IGNORED_EVENTS:
            return
        if event.is_directory and event.event_type == "modified":
            return  # a folder's listing changed: the files' own events say which
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if raw:
                path = _store_of(os.fsdecode(raw))
                if self.relevant(Path(path)):
                    self.coalescer.mark(path)

    def relevant(self, path: Path) -> bool:
        return any(path.is_relative_to(root) or root.is_relative_to(path) for root in self.roots)

    def inside_root(self, path: Path) -> bool:
        return any(path.is_relative_to(root) and path != root for root in self.roots)


def _store_of(path: str) -> str:
    """An SQLite store's rows land in its ``-wal`` (or ``-journal``) file first,
    the store itself changing only at checkpoints: a write there is a write to
    the store (OpenCode's ``opencode.db``)."""
    for suffix in ("-wal", "-journal"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


# --- the writer ----------------------------------------------------------------------------


class Watcher:
    """Follows every parser's roots and ingests what changes, on the calling thread.

    ``run()`` is the daemon; ``run_once()`` one catch-up pass. Tests drive the
    parts: ``start()``, then events through ``handler``, a fake ``clock``,
    ``step()``; ``close()`` at the end.
    """

    def __init__(
        self,
        db: sqlite_utils.Database,
        *,
        parsers: list | None = None,
        env: dict[str, str] | None = None,
        settings: WatchSettings | None = None,
        clock: Clock = time.monotonic,
        observer_factory: ObserverFactory | None = None,
        tasks: Iterable[WatchTask] | None = None,
    ):
        self.db = db
        self.settings = settings or WatchSettings()
        self.clock = clock
        self.ingester = Ingester(db, parsers, env=env)
        self.ingester.progress = self._between_transactions
        # Another process's pass (an `analyzer ingest`, a hook): wait a moment, else try again later.
        self.ingester.lock_timeout = LOCK_WAIT
        self.ingester.lock_stop = lambda: self.stopping
        self.roots: list[Path] = []
        for parser in self.ingester.parsers:
            try:
                self.roots.extend(Path(r) for r in parser.roots(self.ingester.env))
            except Exception as exc:  # a third-party parser's bug must not stop the daemon
                log.warning("parser %s: cannot list its folders: %s", getattr(parser, "name", parser), exc)
        self.coalescer = Coalescer(self.settings.debounce, self.settings.max_wait, clock)
        self.handler = DirtyHandler(self.coalescer, self.roots)
        self.observers = Observers(
            self.handler,
            polling=self.settings.polling,
            poll_interval=self.settings.poll_interval,
            factory=observer_factory,
        )
        self.tasks = list(watch_tasks() if tasks is None else tasks)
        self.known: dict[Path, Found] = {}
        self._stop = threading.Event()
        now = clock()
        self._next_rescan = now + self.settings.rescan_interval
        self._task_due = {task.name: now for task in self.tasks}
        self._retry_at: float | None = None
        self._warned: set[str] = set()  # unreadable files already named in the log

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the observers, then catch up on what changed while not running."""
        self.observers.start()
        self.replan()
        log.info("following %d folder(s) with %s", len(self.observers.watches), self.observers.kind)
        self.catch_up()

    def run(self) -> None:
        """The daemon: start, then follow until ``request_stop``."""
        try:
            if not self.stopping:
                self.start()
            while not self.stopping:
                self.coalescer.wait(self._sleep_time())
                if not self.stopping:
                    self.step()
        finally:
            self.close()
        log.info("stopped")

    def run_once(self) -> IngestStats | None:
        """One catch-up pass over every root (and each periodic task once)."""
        stats = self.catch_up()
        for task in self.tasks:
            self._run_task(task)
        return stats

    def request_stop(self) -> None:
        """Stop after the current transaction (safe from a signal handler or another thread)."""
        self._stop.set()
        self.coalescer.wake()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        self.observers.stop()

    # --- one turn of the loop ---------------------------------------------------------------

    def step(self) -> None:
        """Flush due paths, rescan when it is time, run due tasks."""
        self.flush()
        now = self.clock()
        if not self.stopping and now >= self._next_rescan:
            self.rescan()
        for task in self.tasks:
            if not self.stopping and self.clock() >= self._task_due[task.name]:
                self._run_task(task)

    def _sleep_time(self) -> float:
        now = self.clock()
        wake = [self._next_rescan, *self._task_due.values()]
        due = self.coalescer.next_due()
        if due is not None:
            wake.append(max(due, self._retry_at or due))
        return max(0.0, min(wake) - now)

    def flush(self) -> IngestStats | None:
        """Ingest the dirty paths that are due."""
        if self._retry_at is not None and self.clock() < self._retry_at:
            return None
        due = self.coalescer.due()
        if not due:
            return None
        items: list[Found] = []
        look: list[Path] = []  # where to look for files not recognised yet
        replan = False
        for text in due:
            path = Path(text)
            if path.is_file():
                if path in self.known:
                    items.append(self.known[path])
                else:
                    look.append(path)
                continue
            if path.is_dir():
                look.append(path)  # a folder appeared or was moved here
            else:
                self._forget(path)  # deleted or moved away: its rows stay
            if not self.handler.inside_root(path):
                replan = True  # a root, or a folder above one, appeared, moved or vanished
        if replan:
            look.extend(self.replan())
        unreadable = []
        if look:
            seen = discover(self.ingester.parsers, self.ingester.env, within=look, known=self.known)
            found, unreadable = seen.found, seen.unreadable
            self._remember(found)
            listed = {item.path for item in items}
            items.extend(item for item in found if item.path not in listed)
        if not items and not unreadable:
            return None
        return self._ingest(items, retry=due, label="flush", unreadable=unreadable)

    def rescan(self) -> IngestStats | None:
        """Re-plan the watches and look at every file: events may have been dropped."""
        if not self.observers.alive():
            log.error("the file observer stopped; starting it again")
            self.observers.stop()
            self.observers.start()
        self.replan()
        self._next_rescan = self.clock() + self.settings.rescan_interval
        seen = discover(self.ingester.parsers, self.ingester.env, known=self.known)
        self._remember(seen.found)
        stats = self._ingest(seen.found, retry=(), label="rescan", unreadable=seen.unreadable, full=True)
        if stats is None and not self.stopping:
            self._next_rescan = self.clock() + self.settings.retry_delay
        return stats

    def catch_up(self) -> IngestStats | None:
        """Read everything that changed while the daemon was not running."""
        seen = discover(self.ingester.parsers, self.ingester.env)
        self._remember(seen.found)
        stats = self._ingest(seen.found, retry=(), label="catch-up", unreadable=seen.unreadable, full=True)
        if stats is not None:
            # A daemon killed between a chunk and the end of its pass left
            # requests unlinked; linking is idempotent.
            try:
                with store.transaction(self.db):
                    link_orphan_requests(self.db)
            except sqlite3.Error as exc:
                log.error("could not link requests to prompts: %s", describe_fault(exc))
        elif not self.stopping:
            self._next_rescan = self.clock() + self.settings.retry_delay
        return stats

    def replan(self) -> list[Path]:
        """Make the watches match the roots; return the folders newly watched.

        Repeats until stable: a folder created between planning and watching is
        seen by the next plan, and anything after the watch by its events.
        """
        before = {path for path, (recursive, _) in self.observers.watches.items() if recursive}
        for _ in range(32):
            if not self.observers.apply(plan_watches(self.roots)):
                break
        return [path for path, (recursive, _) in self.observers.watches.items() if recursive and path not in before]

    # --- ingesting --------------------------------------------------------------------------

    def _remember(self, found: Iterable[Found]) -> None:
        for item in found:
            self.known[item.path] = item

    def _forget(self, path: Path) -> None:
        """Drop a file, or every file below a folder, from the recognised ones."""
        for known in [p for p in self.known if p.is_relative_to(path)]:
            del self.known[known]

    def _between_transactions(self, _nbytes: int) -> None:
        if self.stopping:
            raise Interrupted

    def _ingest(
        self, items: list[Found], *, retry: Iterable[str], label: str, unreadable=(), full: bool = False
    ) -> IngestStats | None:
        try:
            stats = self.ingester.ingest_paths(items, unreadable, full=full)
        except Interrupted:
            log.info("stop requested: stopped between two transactions")
            return None
        except Exception as exc:
            # A competing writer, a full disk, a damaged store, or a bug: the daemon
            # says so and tries again later; it never dies of it.
            level = logging.INFO if isinstance(exc, StoreBusy) else logging.ERROR
            log.log(level, "%s; trying again in %g s", describe_fault(exc), self.settings.retry_delay)
            for path in retry:
                self.coalescer.mark(path)
            self._retry_at = self.clock() + self.settings.retry_delay
            return None
        self._retry_at = None
        for path, why in stats.failed_files:
            if path not in self._warned:  # once per file, not on every rescan
                self._warned.add(path)
                log.warning("%s: could not be read: %s", path, why)
        for old, new in stats.moved_files:
            log.info("%s moved to %s", old, new)
        for path in stats.reread_files:
            log.info("%s was rewritten or truncated; read again from the start", path)
        # Catch-up always says what it did; a rescan that found something means
        # events were missed, worth saying; a flush is routine.
        loud = label == "catch-up" or (label == "rescan" and stats.files_read)
        log.log(logging.INFO if loud else logging.DEBUG, "%s: %s", label, stats.summary())
        return stats

    def _run_task(self, task: WatchTask) -> None:
        self._task_due[task.name] = self.clock() + task.interval
        try:
            task.run(self.db)
        except Exception:
            log.exception("periodic task %s failed; it runs again in %g s", task.name, task.interval)
