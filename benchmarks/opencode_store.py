"""OpenCode store: what reading ``opencode.db`` whole costs, first and on every change.

The store is a whole-file source: the ingester reads it again whenever it (or
its ``-wal``) changes, which while the agent runs is after every step. This
generates a store in OpenCode's shape (sessions of prompts answered in several
steps, each step with a tool part holding ``--tool-bytes`` of output, a text
part, step-start and step-finish parts), then measures, in the same run:

* baseline: fetching every message and part row with plain ``sqlite3`` (the
  least any reader of the store must do);
* parse: the parser alone (``store_records``), records produced, no store;
* first ingest: into a new analyser store;
* re-read: one more step committed by a writer holding the store open in WAL
  mode, then one ingest pass (the daemon's cost per change).

    .venv/bin/python benchmarks/opencode_store.py [--sessions 300] [--tool-bytes 2000] [--seed 1]

Everything it writes lives in a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analyzer.parsers.opencode.database import store_records  # noqa: E402

from analyzer.ingest.ingester import Ingester  # noqa: E402
from analyzer.store import database as store  # noqa: E402

SCHEMA = REPO / "fixtures" / "opencode" / "schema.sql"
T0 = 1795165200000  # 2026-11-20T09:00:00Z


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def generate(path: Path, sessions: int, tool_bytes: int, rng: random.Random) -> tuple[int, int]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.executescript(SCHEMA.read_text())
    conn.execute("begin")
    conn.execute("insert into project values ('prj', '/home/u/p', 'git', 'p', ?, ?)", [T0, T0])
    filler = "x" * tool_bytes
    messages, parts = [], []
    t = T0
    for s in range(sessions):
        sid = f"ses_{s:06d}"
        conn.execute(
            "insert into session (id, project_id, slug, directory, title, version, time_created, time_updated)"
            " values (?, 'prj', 'slug', '/home/u/p', 'title', '1.18.2', ?, ?)",
            [sid, t, t],
        )
        context = 0
        for p in range(10):
            t += rng.randint(60_000, 600_000)
            uid = f"msg_{t:013d}u{s:06d}{p:02d}"
            messages.append(
                (
                    uid,
                    sid,
                    t,
                    t,
                    dumps(
                        {
                            "role": "user",
                            "time": {"created": t},
                            "agent": "build",
                            "model": {"providerID": "anthropic", "modelID": "claude-sonnet-4-5"},
                        }
                    ),
                )
            )
            parts.append((f"prt_{uid}_t", uid, sid, t, t, dumps({"type": "text", "text": f"prompt {s} {p}"})))
            mid = f"msg_{t + 1:013d}a{s:06d}{p:02d}"
            step_t = t + 1000
            last = {}
            for k in range(5):
                step_t += rng.randint(2000, 30000)
                fresh, out = rng.randint(20, 2000), rng.randint(50, 800)
                last = {
                    "total": fresh + out + context,
                    "input": fresh,
                    "output": out,
                    "reasoning": 0,
                    "cache": {"read": context, "write": 0},
                }
                context += fresh + out
                base = f"prt_{mid}_{k}"
                parts.append((base + "a", mid, sid, step_t, step_t, dumps({"type": "step-start"})))
                parts.append(
                    (
                        base + "b",
                        mid,
                        sid,
                        step_t,
                        step_t,
                        dumps(
                            {
                                "type": "tool",
                                "callID": f"c{k}",
                                "tool": "read",
                                "state": {
                                    "status": "completed",
                                    "input": {},
                                    "output": filler,
                                    "title": "f",
                                    "metadata": {},
                                    "time": {"start": step_t, "end": step_t},
                                },
                            }
                        ),
                    )
                )
                parts.append((base + "c", mid, sid, step_t, step_t, dumps({"type": "text", "text": "done " * 40})))
                parts.append(
                    (
                        base + "d",
                        mid,
                        sid,
                        step_t,
                        step_t,
                        dumps(
                            {
                                "type": "step-finish",
                                "reason": "tool-calls" if k < 4 else "stop",
                                "cost": 0.01,
                                "tokens": last,
                            }
                        ),
                    )
                )
            messages.append(
                (
                    mid,
                    sid,
                    t + 1,
                    step_t,
                    dumps(
                        {
                            "role": "assistant",
                            "time": {"created": t + 1, "completed": step_t},
                            "parentID": uid,
                            "modelID": "claude-sonnet-4-5",
                            "providerID": "anthropic",
                            "mode": "build",
                            "agent": "build",
                            "path": {"cwd": "/home/u/p", "root": "/home/u/p"},
                            "cost": 0.05,
                            "tokens": last,
                            "finish": "stop",
                        }
                    ),
                )
            )
            t = step_t
    conn.executemany("insert into message values (?, ?, ?, ?, ?)", messages)
    conn.executemany("insert into part values (?, ?, ?, ?, ?, ?)", parts)
    conn.execute("commit")
    conn.close()
    return len(messages), len(parts)


def timed(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=300)
    ap.add_argument("--tool-bytes", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        path = home / ".local" / "share" / "opencode" / "opencode.db"
        path.parent.mkdir(parents=True)
        n_messages, n_parts = generate(path, args.sessions, args.tool_bytes, random.Random(args.seed))
        size_mb = path.stat().st_size / 1e6

        def baseline():
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            conn.execute("select id, data from message").fetchall()
            conn.execute("select id, data from part").fetchall()
            conn.close()

        base = timed(baseline)
        records = []
        parse = timed(lambda: records.__setitem__(slice(None), list(store_records(path))))
        db = store.open_db(tmp / "usage.db")
        env = {"HOME": str(home)}
        start = time.perf_counter()
        stats = Ingester(db, env=env).run()
        first = time.perf_counter() - start

        agent = sqlite3.connect(path, isolation_level=None)  # the agent, running: one more step per change
        agent.execute("pragma wal_autocheckpoint=0")
        rereads = []
        for i in range(5):
            at = T0 + 10**10 + i * 60_000
            agent.execute(
                "insert into message values (?, 'ses_000000', ?, ?, ?)",
                [
                    f"msg_z{i}",
                    at,
                    at,
                    dumps(
                        {
                            "role": "assistant",
                            "time": {"created": at, "completed": at + 5000},
                            "parentID": "msg_x",
                            "modelID": "claude-sonnet-4-5",
                            "providerID": "anthropic",
                            "mode": "build",
                            "agent": "build",
                            "path": {"cwd": "/home/u/p", "root": "/home/u/p"},
                            "cost": 0.01,
                            "tokens": {"input": 5, "output": 7, "reasoning": 0, "cache": {"read": 0, "write": 0}},
                        }
                    ),
                ],
            )
            start = time.perf_counter()
            again = Ingester(db, env=env).run()
            rereads.append(time.perf_counter() - start)
            assert again.files_read == 1 and again.new_requests == 1, again.summary()
        agent.close()
        reread = statistics.median(rereads)

        print(
            f"store: {args.sessions} sessions, {n_messages} messages, {n_parts} parts, {size_mb:.0f} MB; "
            f"{stats.new_requests} requests, {stats.new_prompts} prompts"
        )
        print(f"baseline (fetch every row, plain sqlite3): {base * 1000:8.0f} ms   1.00x")
        print(f"parse (store_records, {len(records)} records): {parse * 1000:8.0f} ms   {parse / base:.2f}x")
        print(f"first ingest into a new store:           {first * 1000:8.0f} ms   {first / base:.2f}x")
        print(f"re-read after one step (median of 5):    {reread * 1000:8.0f} ms   {reread / base:.2f}x")


if __name__ == "__main__":
    main()
