"""One writer at a time, by design (issue 15): ingests that meet wait their turn and never fail.

Real processes, as a user (or cron, the Claude Code hook and the daemon) start
them: two ``analyzer ingest`` on a new store at once, then several ingests, the
daemon and reports at once while the logs grow. Afterwards the store must hold
exactly what one clean pass over the final logs gives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from analyzer.ingest.ingester import Ingester
from analyzer.store import database as store

from .claude_lines import transcript_path, turn
from .conftest import totals

pytestmark = pytest.mark.slow


def analyzer(*args: str, db: Path, home: Path) -> subprocess.Popen:
    env = {**os.environ, "HOME": str(home), "ANALYZER_DB": str(db)}
    return subprocess.Popen(
        [sys.executable, "-m", "analyzer", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, (out + err).decode()


def session(k: int) -> str:
    return f"5e55e55e-0000-4000-8000-{k:012d}"


def clean_totals(home: Path, path: Path) -> dict:
    db = store.open_db(path)
    Ingester(db, env={"HOME": str(home)}).run()
    return totals(db)


def test_two_ingests_on_a_new_store_both_succeed(isolated_home, tmp_path):
    for k in range(3):  # three projects, distinct calls
        path = transcript_path(isolated_home, session(k), f"-p{k}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(turn(100 * k + i, session=session(k)) for i in range(40)))
    expected = clean_totals(isolated_home, tmp_path / "clean.db")
    assert expected["requests"] == 3 * 40 * 2
    for attempt in range(5):
        db = tmp_path / f"race{attempt}" / "usage.db"
        procs = [analyzer("ingest", db=db, home=isolated_home) for _ in range(2)]
        for proc in procs:
            code, output = finish(proc)
            assert code == 0, output
            assert "Traceback" not in output
        got = store.open_db(db)
        assert totals(got) == expected, attempt
        got.close()


def test_ingests_the_daemon_and_reports_at_once_over_growing_logs(isolated_home, tmp_path):
    db = tmp_path / "store" / "usage.db"
    files = 3
    rounds = 25
    paths = [transcript_path(isolated_home, session(k), f"-p{k}") for k in range(files)]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    assert finish(analyzer("ingest", db=db, home=isolated_home))[0] == 0  # the store exists before the daemon

    daemon = analyzer("watch", "--rescan-interval", "1", db=db, home=isolated_home)
    growing = threading.Event()
    growing.set()

    def grow() -> None:
        for i in range(rounds):
            for k, path in enumerate(paths):
                data = turn(1000 * k + i, session=session(k))
                with open(path, "ab") as f:  # written in two pieces: readers meet torn lines
                    f.write(data[: len(data) // 2])
                    f.flush()
                    time.sleep(0.002)
                    f.write(data[len(data) // 2 :])
            time.sleep(0.03)
        growing.clear()

    failures: list[str] = []

    def keep_running(*args: str) -> None:
        while growing.is_set():
            code, output = finish(analyzer(*args, db=db, home=isolated_home))
            if code != 0 or "Traceback" in output:
                failures.append(f"{' '.join(args)} -> {code}: {output}")

    writer = threading.Thread(target=grow)
    others = [threading.Thread(target=keep_running, args=("ingest",)) for _ in range(3)]
    others += [
        threading.Thread(target=keep_running, args=("report", "daily", "--json")),
        threading.Thread(target=keep_running, args=("report", "blocks")),
    ]
    writer.start()
    for t in others:
        t.start()
    writer.join()
    for t in others:
        t.join()
    assert daemon.poll() is None, finish(daemon)[1]  # the daemon is still running
    daemon.send_signal(signal.SIGTERM)
    code, log = finish(daemon)
    assert code == 0, log
    assert "Traceback" not in log
    assert failures == []

    code, output = finish(analyzer("ingest", db=db, home=isolated_home))
    assert code == 0, output
    expected = clean_totals(isolated_home, tmp_path / "clean.db")
    assert expected["requests"] == files * rounds * 2 and expected["prompts"] == files * rounds
    got = store.open_db(db)
    assert totals(got) == expected
    assert got.execute("select count(*) from ingest_errors").fetchone()[0] == 0
