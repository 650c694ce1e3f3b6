"""Benchmark: ``analyzer statusline`` as Claude Code runs it, on a store of a million requests.

Builds a store (rows generated straight into ``requests`` with executemany:
a year of Claude Code and Codex requests, a busy current 5-hour window), then
runs the status line as a subprocess, fed a statusline JSON payload on stdin,
``--runs`` times each (round-robin, so load changes hit every case alike), and
reports median and p95 next to a baseline measured in the same run:
``python -c pass`` with the same interpreter (the floor any Python command pays).

    python benchmarks/statusline.py [--rows 1000000] [--runs 30] [--keep DIR]

The target: the median under 50 ms with the real payload. The modules are
compiled to bytecode first (``compileall``), as an installed package is.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analyzer.contract.timeutil import format_utc  # noqa: E402
from analyzer.store.database import open_db  # noqa: E402

MODELS = ["claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5"]


def build(path: Path, rows: int) -> None:
    db = open_db(path)
    conn = db.conn
    now = datetime.now(timezone.utc)
    start = now - timedelta(days=365)
    span = (now - start).total_seconds()
    rng = random.Random(7)
    recent = min(2000, rows // 10)
    # Times in order, as an ingest writes them (files are read oldest first): the
    # current window's rows sit together, as they do in a real store.
    stamps = sorted(
        [start + timedelta(seconds=rng.uniform(0, span)) for _ in range(rows - recent)]
        + [now - timedelta(seconds=rng.uniform(0, 3 * 3600)) for _ in range(recent)]
    )  # busy window

    def gen():
        for i, ts in enumerate(stamps):
            agent = "codex" if i % 5 == 0 else "claude-code"
            model = "gpt-5-codex" if agent == "codex" else MODELS[i % 3]
            yield (
                f"bench:{i}",
                agent,
                "openai" if agent == "codex" else "anthropic",  # as the writer attributes them
                f"s{i // 200}",
                format_utc(ts),
                model,
                rng.randint(0, 5000),
                rng.randint(0, 200000),
                rng.randint(0, 20000),
                rng.randint(0, 4000),
                "prompt",
            )

    conn.execute("begin")
    conn.executemany(
        "insert into requests (key, agent, account, session_id, ts, model, input_tokens, cache_read_tokens,"
        " cache_write_tokens, output_tokens, trigger) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        gen(),
    )
    conn.execute("commit")
    conn.execute("analyze")
    conn.close()


def payload(with_limits: bool) -> bytes:
    now = int(time.time())
    data = {
        "session_id": "bench",
        "transcript_path": "/tmp/bench.jsonl",
        "cwd": "/tmp",
        "model": {"id": "claude-sonnet-4-5-20250929", "display_name": "Sonnet 4.5"},
        "workspace": {"current_dir": "/tmp", "project_dir": "/tmp"},
        "version": "2.1.206",
        "cost": {"total_cost_usd": 1.0},
        "context_window": {"used_percentage": 10},
    }
    if with_limits:
        data["rate_limits"] = {
            "five_hour": {"used_percentage": 42, "resets_at": now + 7200},
            "seven_day": {"used_percentage": 36, "resets_at": now + 3 * 86400},
        }
    return json.dumps(data).encode()


def once(cmd: list[str], stdin: bytes, env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return (time.perf_counter() - t0) * 1000


def measure(cases: list[tuple], runs: int, env: dict) -> dict[str, list[float]]:
    """Round-robin over the cases, so a change in machine load weighs on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for _ in range(runs):
        for name, cmd, stdin in cases:
            times[name].append(once(cmd, stdin, env))
    return times


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="Build (or reuse) the store in this folder and keep it.")
    args = parser.parse_args()
    scratch = None if args.keep else Path(tempfile.mkdtemp(prefix="statusline-bench-"))  # removed at the end
    store_dir = args.keep or scratch
    store_dir.mkdir(parents=True, exist_ok=True)
    db = store_dir / "usage.db"
    try:
        if not db.exists():
            t0 = time.perf_counter()
            build(db, args.rows)
            print(
                f"built {args.rows:,} requests in {time.perf_counter() - t0:.1f} s ({db.stat().st_size / 1e6:.0f} MB)"
            )
        script = Path(sys.executable).parent / "analyzer"
        analyzer = [str(script)] if script.exists() else [sys.executable, "-m", "analyzer"]
        env = {**os.environ, "ANALYZER_DB": str(db)}
        # An installed package runs from bytecode (pip compiles it); measure that, not compiling
        # the sources on every run, which PYTHONDONTWRITEBYTECODE would force.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for package in ("analyzer", "plugins"):
            sources = Path(__import__(package).__file__).parent
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(sources)], check=True)
        for _ in range(3):  # warm the page cache
            once(analyzer + ["statusline"], payload(True), env)
        cases = [
            ("baseline: python -c pass", [sys.executable, "-c", "pass"], b""),
            ("statusline, with rate_limits", analyzer + ["statusline"], payload(True)),
            ("statusline, no rate_limits (estimated window)", analyzer + ["statusline"], payload(False)),
            ("python -m analyzer statusline", [sys.executable, "-m", "analyzer", "statusline"], payload(True)),
        ]
        results = measure(cases, args.runs, env)
        base = statistics.median(results[cases[0][0]])
        print(f"{'case':48} {'median':>9} {'p95':>9} {'x baseline':>11}")
        for name, times in results.items():
            med = statistics.median(times)
            print(f"{name:48} {med:7.1f}ms {p95(times):7.1f}ms {med / base:10.2f}x")
        real = statistics.median(results[cases[1][0]])
        print(f"target: median under 50 ms -> {'met' if real < 50 else 'NOT met'} ({real:.1f} ms)")
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
