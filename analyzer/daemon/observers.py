"""watchdog observers for the watch daemon: which folders to watch, and how.

* Each parser root that exists is watched recursively. A root that does not
  exist yet is represented by its nearest existing ancestor, watched *not*
  recursively (so the home folder is never watched whole); when the root
  appears the plan changes and the root is watched itself.
* Native events (inotify, FSEvents, ...) unless polling is asked for. When
  native events are unavailable, or Linux's inotify limits are hit (``ENOSPC``:
  too many watches; ``EMFILE``: too many instances), the observer logs how to
  raise the limit and falls back to polling for good.
* ``Observers.apply`` keeps the scheduled watches equal to a plan, and
  schedules again a watch whose emitter thread died.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import FileSystemEventHandler

log = logging.getLogger("analyzer.watch")


def plan_watches(roots: Iterable[Path]) -> dict[Path, bool]:
    """The folders to watch (path -> recursive): each existing root, recursively;
    for a missing root, its nearest existing ancestor, not recursively."""
    wanted: dict[Path, bool] = {}
    for root in roots:
        target, recursive = Path(root), True
        while not target.is_dir():
            if target.parent == target:
                break
            target, recursive = target.parent, False
        else:
            wanted[target] = wanted.get(target, False) or recursive
    return {
        path: recursive
        for path, recursive in wanted.items()
        if not any(other != path and wanted[other] and path.is_relative_to(other) for other in wanted)
    }


def default_observer(polling: bool, poll_interval: float):
    """watchdog's native observer for this platform, or a polling one."""
    if polling:
        from watchdog.observers.polling import PollingObserver

        return PollingObserver(timeout=poll_interval)
    from watchdog.observers import Observer

    return Observer()


ObserverFactory = Callable[[bool, float], object]

_LIMIT_ADVICE = {
    errno.ENOSPC: (
        "inotify watch limit reached (fs.inotify.max_user_watches = {watches})",
        "raise it with: echo fs.inotify.max_user_watches=524288 | sudo tee /etc/sysctl.d/60-analyzer.conf"
        " && sudo sysctl --system",
    ),
    errno.EMFILE: (
        "inotify instance limit reached (fs.inotify.max_user_instances = {instances})",
        "raise it with: echo fs.inotify.max_user_instances=512 | sudo tee /etc/sysctl.d/60-analyzer.conf"
        " && sudo sysctl --system",
    ),
}


def _proc_value(name: str) -> str:
    try:
        return Path("/proc/sys/fs/inotify", name).read_text().strip()
    except OSError:
        return "?"


class Observers:
    """One watchdog observer and the watches it holds, kept equal to a plan.

    Native first; on ``ENOSPC``/``EMFILE`` or any other failure of native
    events, log advice and switch to polling for good.
    """

    def __init__(
        self,
        handler: FileSystemEventHandler,
        *,
        polling: bool,
        poll_interval: float,
        factory: ObserverFactory | None = None,
    ):
        self.handler = handler
        self.polling = polling
        self.poll_interval = poll_interval
        self.factory = factory or default_observer
        self.observer = None
        self.watches: dict[Path, tuple[bool, object]] = {}  # path -> (recursive, ObservedWatch)

    @property
    def kind(self) -> str:
        return "polling" if self.polling else "native events"

    def start(self) -> None:
        try:
            self.observer = self.factory(self.polling, self.poll_interval)
            self.observer.start()
        except OSError as exc:
            if self.polling:
                raise
            self._fall_back(exc)

    def apply(self, plan: dict[Path, bool]) -> bool:
        """Schedule and unschedule watches to match ``plan``; True if anything changed."""
        changed = False
        live = {e.watch for e in self.observer.emitters if e.is_alive()}
        for path, (recursive, watch) in list(self.watches.items()):
            if plan.get(path) != recursive or watch not in live:
                self._unschedule(path)
                changed = True
        for path, recursive in plan.items():
            if path in self.watches:
                continue
            try:
                # A root that is a symlink (~/.claude -> elsewhere) is watched where it points.
                watch = self.observer.schedule(
                    self.handler, str(path), recursive=recursive, follow_symlink=path.is_symlink()
                )
            except (FileNotFoundError, NotADirectoryError):
                continue  # gone since the plan was made; the next plan sees it
            except OSError as exc:
                if self.polling:
                    log.warning("cannot watch %s: %s", path, exc)
                    continue
                self._fall_back(exc)
                return self.apply(plan) or True
            self.watches[path] = (recursive, watch)
            log.debug("watching %s%s", path, "" if recursive else " (for a folder to appear)")
            changed = True
        return changed

    def _unschedule(self, path: Path) -> None:
        _, watch = self.watches.pop(path)
        try:
            self.observer.unschedule(watch)
        except (KeyError, OSError):
            pass

    def _fall_back(self, exc: OSError) -> None:
        if exc.errno in _LIMIT_ADVICE:
            what, advice = _LIMIT_ADVICE[exc.errno]
            log.warning(
                "%s; falling back to polling every %g s (slower, costs more CPU); %s",
                what.format(watches=_proc_value("max_user_watches"), instances=_proc_value("max_user_instances")),
                self.poll_interval,
                advice,
            )
        else:
            log.warning(
                "native file events unavailable (%s); falling back to polling every %g s", exc, self.poll_interval
            )
        self.stop()
        self.polling = True
        self.observer = self.factory(True, self.poll_interval)
        self.observer.start()

    def alive(self) -> bool:
        return self.observer is not None and self.observer.is_alive()

    def stop(self) -> None:
        observer, self.observer = self.observer, None
        self.watches.clear()
        if observer is None:
            return
        observer.stop()
        if observer.is_alive():
            observer.join()
