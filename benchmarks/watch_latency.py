"""Watch latency: how long after an agent appends a line can a reader see its row?

Starts ``analyzer watch`` with its default settings as a real process on a
temporary HOME, appends Claude Code lines to a transcript at random intervals
(one new model call each), and measures, for every line, the delay from the
append to the row being visible to a separate reader connection. The baseline,
measured in the same run and process, is one bare ingest pass
(``Ingester(db).run()``) over a HOME where one new line waits.

    .venv/bin/python benchmarks/watch_latency.py [--appends 500] [--max-interval 0.2] [--seed 1]

Prints the median and 95th percentile (and their ratio to the baseline); exits
1 when the 95th percentile is one second or more. Everything it writes lives in
a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analyzer.ingest.ingester import Ingester  # noqa: E402
from analyzer.store import database as store  # noqa: E402
from tests.claude_lines import assistant_line, transcript_path, turn  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def baseline(tmp: Path, runs: int = 21) -> float:
    """Median time of one ingest pass that finds one new line."""
    home = tmp / "baseline-home"
    path = transcript_path(home)
    path.parent.mkdir(parents=True)
    path.write_bytes(turn(0))
    db = store.open_db(tmp / "baseline.db")
    env = {"HOME": str(home)}
    Ingester(db, env=env).run()
    times = []
    for i in range(runs):
        with open(path, "ab") as f:
            f.write(assistant_line(f"base{i}", 100 + i, input_tokens=1, output_tokens=1))
        start = time.perf_counter()
        Ingester(db, env=env).run()
        times.append(time.perf_counter() - start)
    assert db.execute("select count(*) from requests").fetchone()[0] == 2 + runs
    return statistics.median(times)


def measure(tmp: Path, appends: int, max_interval: float, seed: int) -> tuple[list[float], str]:
    home = tmp / "home"
    path = transcript_path(home)
    path.parent.mkdir(parents=True)
    path.write_bytes(turn(0))
    db_file = tmp / "watch.db"
    env = {**os.environ, "HOME": str(home), "ANALYZER_LOAD_PLUGINS": "", "PYTHONPATH": str(REPO)}
    env.pop("ANALYZER_DB", None)
    env.pop("CLAUDE_CONFIG_DIR", None)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "analyzer", "watch", "--db", str(db_file)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        reader = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the daemon is up once the catch-up is visible
            try:
                reader = reader or sqlite3.connect(db_file, isolation_level=None)
                if reader.execute("select count(*) from requests").fetchone()[0] == 2:
                    break
            except sqlite3.Error:
                pass
            time.sleep(0.02)
        else:
            raise SystemExit("the daemon did not start")
        appended: dict[str, float] = {}
        rng = random.Random(seed)

        def writer():
            with open(path, "ab", buffering=0) as f:
                for i in range(appends):
                    time.sleep(rng.uniform(0, max_interval))
                    line = assistant_line(f"lat{i}", 1000 + i, input_tokens=1, output_tokens=1)
                    appended[f"claude-code:lat{i}"] = time.perf_counter()
                    f.write(line)

        thread = threading.Thread(target=writer)
        thread.start()
        seen: dict[str, float] = {}
        last_rowid = reader.execute("select max(rowid) from requests").fetchone()[0]
        give_up = time.monotonic() + appends * max_interval + 60
        while len(seen) < appends and time.monotonic() < give_up:
            rows = reader.execute("select rowid, key from requests where rowid > ?", [last_rowid]).fetchall()
            now = time.perf_counter()
            for rowid, key in rows:
                seen.setdefault(key, now)
                last_rowid = max(last_rowid, rowid)
            time.sleep(0.002)
        thread.join()
        reader.close()
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    if len(seen) < appends:
        raise SystemExit(f"only {len(seen)} of {appends} rows became visible; daemon log:\n{err.decode()}")
    return [seen[key] - appended[key] for key in appended], f"daemon exit code {daemon.returncode}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=500)
    parser.add_argument("--max-interval", type=float, default=0.2, help="appends come every uniform(0, this) s")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="watch-latency-") as tmp:
        base = baseline(Path(tmp))
        latencies, exit_note = measure(Path(tmp), args.appends, args.max_interval, args.seed)
    p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    print(f"watch latency, default settings, {args.appends} appends at uniform(0, {args.max_interval:g}) s intervals")
    print(f"  baseline: one bare ingest pass of one new line: {base * 1000:.1f} ms")
    print(f"  median {p50 * 1000:.0f} ms ({p50 / base:.0f}x baseline)")
    print(f"  p95    {p95 * 1000:.0f} ms ({p95 / base:.0f}x baseline)")
    print(f"  max    {max(latencies) * 1000:.0f} ms; {exit_note}")
    ok = p95 < 1.0
    print("  p95 below one second: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
