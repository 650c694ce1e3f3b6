"""The Claude Code hook: a finished turn or session triggers an ingest, in the background.

``analyzer claude-code-hook`` is what the ``Stop`` and ``SessionEnd`` hooks run
(from the user's settings, written by ``analyzer integrate claude-code``, or
from the plugin's ``hooks/hooks.json``). It never blocks the agent: it starts
``analyzer claude-code-hook --run`` as a detached process and returns.

The detached run coalesces: hooks fire on every turn of every open session, so
each run first marks "an ingest is wanted" (a pending file beside the store),
then takes a lock; whoever holds the lock ingests until no mark is left, and a
run that finds the lock taken simply leaves its mark for the holder. The mark
is re-checked after the lock is released, so no request is left unread. (On
systems without ``fcntl`` each run ingests; the store serialises the writers.)
The ingest is the ordinary incremental pass over every parser's folders, so
subagent files and other agents' logs are read too.
"""

from __future__ import annotations

import os
import subprocess
import sys


def _paths(db_path: str | None) -> tuple[str, str, str, str]:
    from analyzer.plugins.claude_code.statusline import default_db_path

    db = db_path or default_db_path()
    return db, db + "-hook.lock", db + "-hook.pending", os.path.join(os.path.dirname(db) or ".", "claude-code-hook.log")


def trigger(db_path: str | None = None) -> int:
    """Start a detached ingest and return at once; never fails the hook."""
    try:
        if sys.stdin is not None and not sys.stdin.isatty():
            sys.stdin.read()  # the hook's JSON; the ingest does not need it
    except (OSError, ValueError):
        pass
    try:
        db, _, _, log = _paths(db_path)
        os.makedirs(os.path.dirname(log) or ".", exist_ok=True)
        # -P: hooks run in the user's project, whose own "plugins" or "analyzer" folder must not shadow ours
        args = [sys.executable, "-P", "-m", "analyzer", "claude-code-hook", "--run"] + (["--db", db] if db_path else [])
        kwargs: dict = {"stdin": subprocess.DEVNULL, "close_fds": True}
        if os.name == "nt":
            kwargs["creationflags"] = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True
        with open(log, "ab") as out:
            subprocess.Popen(args, stdout=out, stderr=out, **kwargs)
    except Exception as exc:  # a hook must never break the agent
        print(f"analyzer: could not start the ingest: {exc}", file=sys.stderr)
    return 0


def _try_lock(path: str):
    try:
        import fcntl
    except ImportError:
        return -1  # no coalescing here
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _unlock(fd) -> None:
    if fd != -1:
        os.close(fd)  # closing releases the flock


def _take(pending: str) -> bool:
    try:
        os.unlink(pending)
        return True
    except FileNotFoundError:
        return False


def ingest_once(db_path: str) -> None:
    from analyzer.ingest.ingester import Ingester
    from analyzer.store.database import open_db

    db = open_db(db_path)
    try:
        print(Ingester(db).run().summary(), flush=True)
    finally:
        db.conn.close()


def run(db_path: str | None = None, ingest=ingest_once) -> int:
    """Ingest until no run is pending (the detached side of ``trigger``)."""
    db, lock, pending, _ = _paths(db_path)
    os.makedirs(os.path.dirname(db) or ".", exist_ok=True)
    with open(pending, "a"):
        pass
    while True:
        fd = _try_lock(lock)
        if fd is None:
            return 0  # the holder will see our mark
        try:
            while _take(pending):
                try:
                    ingest(db)
                except Exception as exc:
                    print(f"analyzer: ingest failed: {type(exc).__name__}: {exc}", flush=True)
        finally:
            _unlock(fd)
        if fd == -1 or not os.path.exists(pending):
            return 0
