"""The watch daemon: dispatcher, writer loop, robustness, real observers, real processes.

Most tests drive the watcher by hand: events go straight to its handler, time
comes from a fake clock, observers are fakes that record what was scheduled.
A few use real watchdog observers (native and polling) with ``wait_until``, and
a few run ``analyzer watch`` as a real process (kill -9, memory on a huge file).
Every total is worked out by hand from ``tests/claude_lines.py``.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
)
from watchdog.observers.api import ObservedWatch

from analyzer.daemon.lifecycle import AlreadyRunning, DaemonLock, stop_on_signals
from analyzer.daemon.observers import plan_watches
from analyzer.daemon.watcher import Coalescer, DirtyHandler, Watcher, WatchSettings, WatchTask
from analyzer.ingest.ingester import Ingester
from analyzer.store import database as store

from .claude_lines import assistant_line, transcript_path, turn, turn_totals, user_line
from .conftest import FIXTURES, check_totals, totals

REPO = Path(__file__).resolve().parent.parent


# --- helpers -------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeEmitter:
    def __init__(self, watch):
        self.watch = watch
        self.alive = True

    def is_alive(self):
        return self.alive


class FakeObserver:
    """Records what the watcher schedules; raises ``fail`` from schedule if set."""

    def __init__(self, polling, log, fail=None):
        self.polling = polling
        self.log = log
        self.fail = fail
        self.running = False
        self._emitters = {}

    @property
    def emitters(self):
        return set(self._emitters.values())

    def start(self):
        self.running = True
        self.log.append(("start", self.polling))

    def schedule(self, handler, path, recursive=False, follow_symlink=False):
        if self.fail is not None:
            raise self.fail
        watch = ObservedWatch(path, recursive=recursive)
        self._emitters[watch] = FakeEmitter(watch)
        self.log.append(("schedule", path, recursive))
        return watch

    def unschedule(self, watch):
        del self._emitters[watch]
        self.log.append(("unschedule", watch.path))

    def is_alive(self):
        return self.running

    def stop(self):
        self.running = False
        self.log.append(("stop", self.polling))


def fake_factory(log, *, native_error=None):
    def factory(polling, interval):
        return FakeObserver(polling, log, fail=None if polling else native_error)

    return factory


def make_watcher(db, home, clock=None, *, log=None, tasks=(), **settings):
    log = [] if log is None else log
    watcher = Watcher(
        db,
        env={"HOME": str(home)},
        settings=WatchSettings(**settings),
        clock=clock or FakeClock(),
        observer_factory=fake_factory(log),
        tasks=list(tasks),
    )
    watcher.log = log
    return watcher


def following(db, tmp_path, initial: bytes, **settings):
    """A started watcher on a fake clock, over a HOME with one transcript holding ``initial``."""
    clock = FakeClock()
    path = transcript_path(tmp_path / "home")
    write(path, initial)
    w = make_watcher(db, tmp_path / "home", clock, **settings)
    w.start()
    return w, clock, path


def settle(watcher, clock, seconds=1.0):
    """Let the debounce and max wait pass, then run one turn of the loop."""
    clock.advance(seconds)
    watcher.step()


def touch_event(watcher, path):
    watcher.handler.dispatch(FileModifiedEvent(str(path)))


def write(path: Path, data: bytes, mode="ab"):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode) as f:
        f.write(data)


def offset_of(db, path):
    row = db.execute("select offset from sources where path = ?", [str(path)]).fetchone()
    return row[0] if row else None


def wait_until(predicate, timeout=10.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture(autouse=True)
def no_thread_leaks():
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before]
    for t in leaked:
        t.join(timeout=2)
    assert [t for t in leaked if t.is_alive()] == []


# --- the dispatcher -----------------------------------------------------------------------


def test_coalescer_waits_for_quiet_then_flushes_once():
    clock = FakeClock()
    c = Coalescer(debounce=0.2, max_wait=0.5, clock=clock)
    c.mark("/a")
    clock.advance(0.1)
    c.mark("/a")  # a second event for the same file coalesces
    assert c.due() == []
    assert c.next_due() == pytest.approx(clock.t + 0.2)
    clock.advance(0.19)
    assert c.due() == []
    clock.advance(0.01)
    assert c.due() == ["/a"]
    assert c.due() == [] and c.next_due() is None


def test_coalescer_flushes_a_file_written_without_pause_after_max_wait():
    clock = FakeClock()
    c = Coalescer(debounce=0.2, max_wait=0.5, clock=clock)
    flushed_at = []
    for _ in range(20):  # an event every 0.1 s for 2 s: never 0.2 s of quiet
        c.mark("/busy")
        if c.due():
            flushed_at.append(round(clock.t - 1000.0, 3))
        clock.advance(0.1)
    assert flushed_at == [0.5, 1.1, 1.7]


def test_coalescer_orders_by_first_event_and_keeps_others_pending():
    clock = FakeClock()
    c = Coalescer(debounce=0.2, max_wait=0.5, clock=clock)
    c.mark("/b")
    clock.advance(0.05)
    c.mark("/a")
    clock.advance(0.2)
    c.mark("/c")
    assert c.due() == ["/b", "/a"]
    assert c.pending() == ["/c"]


def test_handler_marks_relevant_paths_and_does_no_io(tmp_path, monkeypatch):
    root = tmp_path / "home" / ".claude" / "projects"
    c = Coalescer(clock=FakeClock())
    handler = DirtyHandler(c, [root])

    def no_io(*args, **kwargs):
        raise AssertionError("I/O on the dispatch thread")

    monkeypatch.setattr(os, "stat", no_io)
    monkeypatch.setattr(os, "scandir", no_io)
    monkeypatch.setattr("builtins.open", no_io)
    handler.dispatch(FileModifiedEvent(str(root / "p" / "s.jsonl")))
    handler.dispatch(FileMovedEvent(str(root / "p" / "old.jsonl"), str(root / "q" / "new.jsonl")))
    handler.dispatch(DirCreatedEvent(str(tmp_path / "home" / ".claude")))  # an ancestor of the root
    handler.dispatch(FileModifiedEvent(str(tmp_path / "home" / ".bash_history")))  # not ours
    handler.dispatch(DirModifiedEvent(str(root / "p")))  # a listing changed: the file events say what
    handler.dispatch(FileModifiedEvent(os.fsencode(str(root / "b.jsonl"))))  # bytes paths happen
    monkeypatch.undo()
    assert sorted(c.pending()) == sorted(
        [
            str(root / "p" / "s.jsonl"),
            str(root / "p" / "old.jsonl"),
            str(root / "q" / "new.jsonl"),
            str(tmp_path / "home" / ".claude"),
            str(root / "b.jsonl"),
        ]
    )


def test_plan_watches_uses_nearest_ancestor_for_missing_roots(tmp_path):
    home = tmp_path / "h"
    (home / ".claude" / "projects").mkdir(parents=True)
    (home / ".codex").mkdir()
    roots = [
        home / ".claude" / "projects",
        home / ".config" / "claude" / "projects",
        home / ".codex" / "sessions",
        home / ".claude" / "projects" / "inner",
    ]
    assert plan_watches(roots) == {
        home / ".claude" / "projects": True,  # the inner missing root's ancestor is inside it: covered
        home: False,
        home / ".codex": False,
    }


# --- the writer loop ------------------------------------------------------------------------


def test_observer_starts_before_the_catch_up_and_watches_roots(db, tmp_path):
    home = tmp_path / "home"
    path = transcript_path(home)
    write(path, turn(0) + turn(1))
    log = []

    class Recording(FakeObserver):
        def start(self):
            super().start()
            self.log.append(("rows at observer start", totals(db)["requests"]))

    w = Watcher(
        db,
        env={"HOME": str(home)},
        clock=FakeClock(),
        tasks=[],
        observer_factory=lambda polling, interval: Recording(polling, log),
    )
    w.start()
    assert log[:2] == [("start", False), ("rows at observer start", 0)]
    assert ("schedule", str(home / ".claude" / "projects"), True) in log
    assert ("schedule", str(home), False) in log  # ~/.config/claude/projects is missing
    check_totals(db, turn_totals(2))
    w.close()
    assert log[-1] == ("stop", False)


def test_events_mark_files_and_the_writer_ingests_after_the_debounce(db, tmp_path):
    w, clock, path = following(db, tmp_path, turn(0))
    write(path, turn(1))
    touch_event(w, path)
    clock.advance(0.1)
    w.step()
    assert totals(db)["requests"] == 2  # still within the debounce
    clock.advance(0.1)
    w.step()
    check_totals(db, turn_totals(2))
    assert not db.conn.in_transaction
    w.close()


def test_lines_appended_in_partial_writes(db, tmp_path):
    w, clock, path = following(db, tmp_path, turn(0))
    data = turn(1) + turn(2)
    cut1 = data.index(b"\n") + 40  # the first line, and 40 bytes of the second
    cut2 = len(data) - 7  # all but the end of the last line
    for piece in (data[:cut1], data[cut1:cut2]):
        write(path, piece)
        touch_event(w, path)
        settle(w, clock)
        assert not db.conn.in_transaction
    # The torn last line is not consumed: the offset stops at the last newline.
    assert offset_of(db, path) == len(turn(0)) + len(data[:cut2].rsplit(b"\n", 1)[0]) + 1
    # Turn 2's final answer (m2b, output 2 + 3) is the torn line; its streaming copy
    # (placeholder output 1) is complete and counted until the final one arrives.
    expected = dict(turn_totals(3), output_tokens=turn_totals(3)["output_tokens"] - 5 + 1)
    check_totals(db, expected)
    write(path, data[cut2:])
    touch_event(w, path)
    settle(w, clock)
    check_totals(db, turn_totals(3))
    assert offset_of(db, path) == path.stat().st_size
    w.close()


def test_file_rewritten_in_place_is_read_again_and_keeps_rows(db, tmp_path):
    w, clock, path = following(db, tmp_path, turn(0) + turn(1) + turn(2))
    check_totals(db, turn_totals(3))
    # Rewritten in place (same inode), as Claude Code does on resume: turn 1 dropped, turn 3 added.
    with open(path, "r+b") as f:
        f.write(turn(0) + turn(2) + turn(3))
        f.truncate()
    touch_event(w, path)
    settle(w, clock)
    check_totals(db, turn_totals(4))  # turn 1's rows stay; nothing counted twice
    assert offset_of(db, path) == path.stat().st_size
    w.close()


def test_truncated_file_is_read_from_the_start_and_keeps_rows(db, tmp_path):
    w, clock, path = following(db, tmp_path, turn(0) + turn(1))
    write(path, b"", mode="wb")
    touch_event(w, path)
    settle(w, clock)
    check_totals(db, turn_totals(2))
    write(path, turn(2))
    touch_event(w, path)
    settle(w, clock)
    check_totals(db, turn_totals(3))
    assert offset_of(db, path) == len(turn(2))
    w.close()


def test_deleted_file_keeps_its_rows(db, tmp_path):
    w, clock, path = following(db, tmp_path, turn(0) + turn(1))
    path.unlink()
    w.handler.dispatch(FileDeletedEvent(str(path)))
    settle(w, clock)
    check_totals(db, turn_totals(2))
    assert path not in w.known
    assert db.execute("select count(*) from ingest_errors").fetchone()[0] == 0
    w.close()


def test_folder_renamed_moves_its_sources_without_reading_again(db, tmp_path):
    clock = FakeClock()
    home = tmp_path / "home"
    path = transcript_path(home, project="old-name")
    write(path, turn(0) + turn(1))
    w = make_watcher(db, home, clock)
    w.start()
    new_dir = path.parent.with_name("new-name")
    path.parent.rename(new_dir)
    new_path = new_dir / path.name
    write(new_path, turn(2))
    w.handler.dispatch(DirMovedEvent(str(path.parent), str(new_dir)))
    clock.advance(1)
    stats = w.flush()
    assert stats.moved_files == [(str(path), str(new_path))]
    assert stats.reread_files == []
    assert stats.bytes_read == len(turn(2))  # only what was appended, not the whole file again
    check_totals(db, turn_totals(3))
    assert db.execute("select path from sources").fetchall() == [(str(new_path),)]
    w.close()


def test_rewritten_subagent_file_keeps_its_requests_linked_to_the_prompt(db, tmp_path):
    """Re-reading a subagent file must not leave its calls without their prompt."""
    clock = FakeClock()
    home = tmp_path / "home"
    shutil.copytree(FIXTURES / "claude-code" / "subagents" / "home", home, dirs_exist_ok=True)
    w = make_watcher(db, home, clock)
    w.start()
    links = db.execute("select key, prompt_key from requests order by key").fetchall()
    assert dict(links)["claude-code:msg_agent_001"] == "claude-code:p-31"
    agent_file = next(p for p in home.rglob("*.jsonl") if "subagents" in p.parts)
    data = agent_file.read_bytes()
    with open(agent_file, "r+b") as f:  # same bytes behind a new first line: read again from the start
        f.write(b"\n" + data)
    touch_event(w, agent_file)
    clock.advance(1)
    assert w.flush().reread_files == [str(agent_file)]
    assert db.execute("select key, prompt_key from requests order by key").fetchall() == links
    w.close()


def test_root_created_later_is_watched_and_read(db, tmp_path):
    clock = FakeClock()
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    w = make_watcher(db, home, clock)
    w.start()
    root = home / ".claude" / "projects"
    assert ("schedule", str(home), False) in w.log and not any(e[1] == str(root) for e in w.log if e[0] == "schedule")
    path = transcript_path(home)
    write(path, turn(0))  # makes ~/.claude/projects/<project>/ at once
    w.handler.dispatch(DirCreatedEvent(str(home / ".claude")))
    settle(w, clock)
    assert ("schedule", str(root), True) in w.log
    check_totals(db, turn_totals(1))
    write(path, turn(1))
    touch_event(w, path)
    settle(w, clock)
    check_totals(db, turn_totals(2))
    # The root vanishes: its ancestor is watched again, for it to come back.
    shutil.rmtree(home / ".claude")
    w.handler.dispatch(DirDeletedEvent(str(home / ".claude")))
    settle(w, clock)
    assert w.log[-1] == ("unschedule", str(root))
    check_totals(db, turn_totals(2))
    w.close()


def test_periodic_rescan_catches_dropped_events(db, tmp_path):
    w, clock, path = following(db, tmp_path, turn(0), rescan_interval=60)
    write(path, turn(1))  # no event: the OS dropped it
    other = transcript_path(tmp_path / "home", session="5e55e55e-0000-4000-8000-000000000002", project="other")
    write(other, turn(5, session="5e55e55e-0000-4000-8000-000000000002"))
    settle(w, clock, 30)
    assert totals(db)["requests"] == 2
    settle(w, clock, 30)
    assert totals(db)["requests"] == 6
    assert totals(db)["output_tokens"] == turn_totals(2)["output_tokens"] + (2 * 5 + 5) + (5 + 3)
    w.close()


def test_no_transaction_stays_open_while_waiting(db, tmp_path):
    w, clock, path = following(db, tmp_path, turn(0))
    write(path, turn(1))
    touch_event(w, path)
    other = sqlite3.connect(db.conn.execute("pragma database_list").fetchone()[2], timeout=0, isolation_level=None)
    for _ in range(3):
        clock.advance(0.3)
        w.step()
        assert not db.conn.in_transaction
        other.execute("begin immediate")  # would raise "database is locked" if the daemon held it
        other.execute("rollback")
    other.close()
    w.close()


def test_reader_holding_a_read_transaction_does_not_block_the_writer(db, tmp_path):
    w, clock, path = following(db, tmp_path, turn(0))
    reader = sqlite3.connect(db.conn.execute("pragma database_list").fetchone()[2], isolation_level=None)
    reader.execute("begin")
    assert reader.execute("select count(*) from requests").fetchone()[0] == 2
    write(path, turn(1) + turn(2))
    touch_event(w, path)
    settle(w, clock)
    check_totals(db, turn_totals(3))  # written and committed while the reader holds its snapshot
    assert reader.execute("select count(*) from requests").fetchone()[0] == 2
    reader.execute("commit")
    assert reader.execute("select count(*) from requests").fetchone()[0] == 6
    reader.close()
    w.close()


def test_store_locked_by_another_writer_is_logged_and_retried(tmp_path, caplog):
    db_file = tmp_path / "locked.db"
    db = store.open_db(db_file, timeout=0.1)
    w, clock, path = following(db, tmp_path, turn(0), retry_delay=5)
    locker = sqlite3.connect(db_file, timeout=0, isolation_level=None)
    locker.execute("begin immediate")
    write(path, turn(1))
    touch_event(w, path)
    with caplog.at_level(logging.ERROR, logger="analyzer.watch"):
        settle(w, clock)  # does not raise
    assert any("locked" in r.getMessage() and "trying again in 5 s" in r.getMessage() for r in caplog.records)
    assert w.coalescer.pending() == [str(path)]
    settle(w, clock, 2)  # before the retry delay: not tried again
    assert w.coalescer.pending() == [str(path)]
    locker.execute("commit")
    locker.close()
    settle(w, clock, 4)
    check_totals(db, turn_totals(2))
    assert w.coalescer.pending() == []
    w.close()


def test_stop_request_ends_the_pass_between_two_transactions(db, tmp_path):
    home = tmp_path / "home"
    path = transcript_path(home)
    write(path, b"".join(turn(i) for i in range(60)))
    w = make_watcher(db, home)
    w.ingester.chunk_bytes = 16 * 1024
    chunks = []

    def progress(nbytes):
        chunks.append(nbytes)
        if len(chunks) == 3:
            w.request_stop()  # as SIGTERM's handler does
        w._between_transactions(nbytes)

    w.ingester.progress = progress
    w.run()
    stopped_at = offset_of(db, path)
    assert len(chunks) == 3 and stopped_at == sum(chunks)  # the third chunk was committed, no fourth begun
    assert 0 < stopped_at < path.stat().st_size
    assert path.read_bytes()[stopped_at - 1 : stopped_at] == b"\n"
    assert not db.conn.in_transaction
    make_watcher(db, home).run_once()
    check_totals(db, turn_totals(60))


def test_signals_ask_for_a_clean_stop_and_handlers_are_restored():
    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    stops = []
    with stop_on_signals(lambda: stops.append(1)):
        os.kill(os.getpid(), signal.SIGTERM)
        assert wait_until(lambda: stops, timeout=2)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # a second Ctrl-C interrupts
    assert stops == [1]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_inotify_limit_falls_back_to_polling_with_advice(db, tmp_path, caplog):
    home = tmp_path / "home"
    write(transcript_path(home), turn(0))
    log = []
    w = Watcher(
        db,
        env={"HOME": str(home)},
        clock=FakeClock(),
        tasks=[],
        observer_factory=fake_factory(log, native_error=OSError(errno.ENOSPC, "inotify watch limit reached")),
    )
    with caplog.at_level(logging.WARNING, logger="analyzer.watch"):
        w.start()
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "inotify watch limit reached" in message and "max_user_watches" in message and "polling" in message
    assert ("stop", False) in log and ("start", True) in log
    assert ("schedule", str(home / ".claude" / "projects"), True) in log  # scheduled on the polling observer
    assert w.observers.polling
    check_totals(db, turn_totals(1))
    w.close()


def test_inotify_instance_limit_at_start_falls_back_to_polling(db, tmp_path, caplog):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    log = []

    def factory(polling, interval):
        if not polling:
            raise OSError(errno.EMFILE, "inotify instance limit reached")
        return FakeObserver(polling, log)

    w = Watcher(db, env={"HOME": str(home)}, clock=FakeClock(), tasks=[], observer_factory=factory)
    with caplog.at_level(logging.WARNING, logger="analyzer.watch"):
        w.start()
    assert "max_user_instances" in caplog.text
    assert log[0] == ("start", True)
    w.close()


def test_polling_flag_forces_polling(db, tmp_path):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    w = make_watcher(db, home, polling=True)
    w.start()
    assert w.log[0] == ("start", True)
    w.close()


def test_dead_emitter_is_scheduled_again_at_rescan(db, tmp_path):
    clock = FakeClock()
    home = tmp_path / "home"
    write(transcript_path(home), turn(0))
    w = make_watcher(db, home, clock)
    w.start()
    root = home / ".claude" / "projects"
    _, watch = w.observers.watches[root]
    next(e for e in w.observers.observer.emitters if e.watch == watch).alive = False
    settle(w, clock, 61)
    assert w.log[-2:] == [("unschedule", str(root)), ("schedule", str(root), True)]
    w.close()


def test_periodic_tasks_run_on_schedule_and_failures_do_not_stop_the_daemon(db, tmp_path, caplog):
    clock = FakeClock()
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    runs = []

    def poll(database):
        runs.append(("poll", clock.t - 1000.0, database is db))

    def broken(database):
        raise RuntimeError("endpoint down")

    w = make_watcher(db, home, clock, tasks=[WatchTask("poll", 300, poll), WatchTask("broken", 100, broken)])
    w.start()
    with caplog.at_level(logging.ERROR, logger="analyzer.watch"):
        w.step()
        settle(w, clock, 200)
        settle(w, clock, 200)
    assert runs == [("poll", 0.0, True), ("poll", 400.0, True)]
    assert caplog.text.count("periodic task broken failed") == 3
    w.close()


# --- real observers ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("polling", [False, True], ids=["native", "polling"])
def test_real_observer_follows_a_root_that_appears_later(db, tmp_path, polling):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    w = Watcher(
        db,
        env={"HOME": str(home)},
        tasks=[],
        settings=WatchSettings(debounce=0.05, max_wait=0.2, poll_interval=0.1, polling=polling),
    )
    thread = threading.Thread(target=w.run, name="watch-writer")
    thread.start()
    reader = store.connect(tmp_path / "test.db")
    count = lambda: reader.execute("select count(*) from requests").fetchone()[0]  # noqa: E731
    try:
        assert wait_until(lambda: w.observers.watches)
        path = transcript_path(home)
        write(path, turn(0))
        assert wait_until(lambda: count() == 2), "the new root was not picked up"
        write(path, turn(1))
        assert wait_until(lambda: count() == 4), "an append was not followed"
        path.unlink()
        write(path.with_name("second.jsonl"), turn(7))
        assert wait_until(lambda: count() == 6), "a new file was not followed"
    finally:
        w.request_stop()
        thread.join(timeout=10)
        reader.close()
    assert not thread.is_alive()
    check_totals(db, {"requests": 6, "output_tokens": turn_totals(2)["output_tokens"] + 19 + 10})


# --- one daemon per store -----------------------------------------------------------------------


def test_second_daemon_is_refused_with_the_running_pid(tmp_path):
    db_file = tmp_path / "usage.db"
    with DaemonLock(db_file):
        with pytest.raises(AlreadyRunning) as info:
            DaemonLock(db_file).acquire()
        assert info.value.pid == os.getpid()
        from analyzer.cli import cli

        result = CliRunner().invoke(cli, ["watch", "--once", "--db", str(db_file)])
        assert result.exit_code == 1
        assert f"already running for this store (pid {os.getpid()}" in result.output
    DaemonLock(db_file).acquire().release()  # free again once released


def test_watch_once_cli_ingests_and_rejects_bad_timings(tmp_path, isolated_home):
    from analyzer.cli import cli

    write(transcript_path(isolated_home), turn(0) + turn(1))
    db_file = tmp_path / "cli.db"
    result = CliRunner().invoke(cli, ["watch", "--once", "--db", str(db_file)])
    assert result.exit_code == 0, result.output
    assert "catch-up: Ingested: 1 of 1 files read, 4 new requests, 2 new prompts." in result.output
    check_totals(store.open_db(db_file), turn_totals(2))
    bad = CliRunner().invoke(cli, ["watch", "--once", "--db", str(db_file), "--debounce", "2", "--max-wait", "1"])
    assert bad.exit_code == 2 and "--max-wait" in bad.output
    bad = CliRunner().invoke(cli, ["watch", "--log-level", "loud"])
    assert bad.exit_code == 2 and "--log-level" in bad.output


# --- real processes -------------------------------------------------------------------------------


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("ANALYZER_DB", "CLAUDE_CONFIG_DIR")}
    return {**env, "HOME": str(home), "ANALYZER_LOAD_PLUGINS": "", "PYTHONPATH": str(REPO)}


def _read_offset(db_file: Path, path: Path) -> int | None:
    try:
        conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=1)
        try:
            row = conn.execute("select offset from sources where path = ?", [str(path)]).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def _daemon(db_file: Path, home: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "analyzer", "watch", "--db", str(db_file)],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


REQUEST_COLUMNS = (
    "key, session_id, ts, model, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens,"
    " reasoning_tokens, trigger, prompt_key, is_sidechain, complete"
)


@pytest.mark.slow
def test_daemon_killed_mid_ingest_and_restarted_gives_the_clean_totals(tmp_path):
    home = tmp_path / "home"
    path = transcript_path(home)
    n = 10_000  # about 32 MB: eight 4 MB chunks, each its own transaction
    path.parent.mkdir(parents=True)
    with open(path, "wb") as f:
        for i in range(n):
            f.write(turn(i))
    size = path.stat().st_size
    db_file = tmp_path / "daemon" / "usage.db"
    try:
        proc = _daemon(db_file, home)
        assert wait_until(lambda: (_read_offset(db_file, path) or 0) > 0, timeout=30, interval=0.005)
        proc.kill()
        proc.wait(timeout=10)
        killed_at = _read_offset(db_file, path)
        assert 0 < killed_at < size, "the kill came after the ingest finished"
        assert proc.returncode == -signal.SIGKILL

        proc = _daemon(db_file, home)  # the stale lock file does not block the restart
        assert wait_until(lambda: _read_offset(db_file, path) == size, timeout=30)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err.decode()
        assert b"SIGTERM received" in err and b"stopped" in err

        daemon_db = store.open_db(db_file)
        clean_db = store.open_db(tmp_path / "clean.db")
        Ingester(clean_db, env={"HOME": str(home)}).run()
        check_totals(daemon_db, turn_totals(n))
        query = f"select {REQUEST_COLUMNS} from requests order by key"
        assert daemon_db.execute(query).fetchall() == clean_db.execute(query).fetchall()
        prompts = "select key, session_id, ts, text_hash from prompts order by key"
        assert daemon_db.execute(prompts).fetchall() == clean_db.execute(prompts).fetchall()
    finally:  # tens of MB: do not leave them in pytest's kept temp folders
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(db_file.parent, ignore_errors=True)
        for leftover in tmp_path.glob("clean.db*"):
            leftover.unlink()


MEMORY_PROBE = """
import resource, sys
from analyzer.store import database as store
from analyzer.daemon.watcher import Watcher
db = store.open_db(sys.argv[2])
stats = Watcher(db, env={"HOME": sys.argv[1]}, tasks=[]).run_once()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
peak = peak if sys.platform != "darwin" else peak // 1024
try:  # Linux keeps ru_maxrss across exec, so it counts the forking pytest's memory: VmHWM does not
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
print(stats.bytes_read, peak)
"""


def _huge_transcript(home: Path, turns: int) -> tuple[Path, dict]:
    """Turns whose text blocks hold 60 KB each, and one 6 MB line (longer than a
    read chunk); returns the file and its exact totals."""
    path = transcript_path(home)
    path.parent.mkdir(parents=True)
    filler = "x" * 60_000
    with open(path, "wb") as f:
        for i in range(turns):
            f.write(turn(i, filler=filler))
        f.write(user_line("big", 10 * turns, "y" * 6_000_000))
        f.write(assistant_line("big", 10 * turns + 1, input_tokens=7, output_tokens=11))
    expected = turn_totals(turns)
    expected["requests"] += 1
    expected["prompts"] += 1
    expected["input_tokens"] += 7
    expected["output_tokens"] += 11
    return path, expected


@pytest.mark.slow
def test_huge_file_is_ingested_in_bounded_memory(tmp_path):
    peaks = {}
    for label, turns in (("small", 60), ("huge", 2500)):  # ~14 MB and ~306 MB
        home = tmp_path / label
        path, expected = _huge_transcript(home, turns)
        try:
            db_file = tmp_path / f"{label}.db"
            out = subprocess.run(
                [sys.executable, "-c", MEMORY_PROBE, str(home), str(db_file)],
                env=_env(home),
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            ).stdout.split()
            assert int(out[0]) == path.stat().st_size
            peaks[label] = (path.stat().st_size, int(out[1]))
            check_totals(store.open_db(db_file), expected)
        finally:  # hundreds of MB: do not leave them in pytest's kept temp folders
            shutil.rmtree(home, ignore_errors=True)
            for leftover in tmp_path.glob(f"{label}.db*"):
                leftover.unlink()
    (small_size, small_kb), (huge_size, huge_kb) = peaks["small"], peaks["huge"]
    assert huge_size > 20 * small_size and huge_size > 300_000_000
    # Memory follows the read chunk and the longest line, not the file: 20 times
    # the bytes may cost at most a few MB more (a whole-file read would be ~300 MB).
    assert huge_kb - small_kb < 32 * 1024, peaks
    assert huge_kb < 200 * 1024, peaks
