"""How long the Datasette canned queries and dashboard charts take on a heavy year of use.

    python benchmarks/datasette_queries.py [--requests 200000] [--seed 7] [--keep DB]

Builds a store directly (rows, not logs): three agents over a year, bursts of
requests with 5-hour pauses and without, hourly quota readings with vendor
resets for one agent (so most of its windows are anchored), limit hits, and
a typed prompt for every few requests. Then runs every canned query and every
dashboard chart query with blank parameters, as Datasette would, and prints
each one's time as a multiple of a baseline measured in the same run: one full
pass over ``priced_requests`` (the view every cost figure is read from).
Datasette's default time limit for a query is 1 second; ``analyzer serve``
raises it to 20.
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from analyzer.contract.timeutil import format_utc
from analyzer.plans.catalogue import sync_catalogue
from analyzer.reports.usage import ensure_prices
from analyzer.store import database as store

MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101", "gpt-5.3-codex", "kimi-k2.5")


def build(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    db = store.open_db(path)
    start = datetime(2025, 11, 1, tzinfo=UTC)
    requests, prompts, readings, hits = [], [], [], []
    per_agent = n // 3
    for a, agent in enumerate(("claude-code", "codex", "kimi-code")):
        t = start + timedelta(minutes=rng.randrange(600))
        for i in range(per_agent):
            t += timedelta(
                seconds=rng.choice((5, 20, 60, 180)) if rng.random() < 0.97 else rng.choice((3600 * 6, 3600 * 14))
            )
            ts = format_utc(t)
            pk = f"{agent}:p{i // 6}"
            if i % 6 == 0:
                prompts.append((pk, agent, f"s{i // 300}", ts, "/proj", 100, 0))
            requests.append(
                (
                    f"{agent}:{i}",
                    agent,
                    f"s{i // 300}",
                    ts,
                    MODELS[(i + a) % 4],
                    "/proj",
                    rng.randrange(50),
                    rng.randrange(80000),
                    rng.randrange(3000),
                    rng.randrange(1500),
                    pk,
                )
            )
            if agent == "codex" and i % 40 == 0:
                reset = t.replace(minute=0, second=0, microsecond=0) + timedelta(hours=3)
                readings.append((f"q{i}", agent, ts, float(i % 100), 300, format_utc(reset), "plus"))
            if agent == "claude-code" and i % 5000 == 0:
                hits.append((f"h{i}", agent, ts, format_utc(t + timedelta(minutes=90))))
    with store.transaction(db):
        db.conn.executemany(
            "insert into requests (key, agent, session_id, ts, model, project, input_tokens, cache_read_tokens,"
            " cache_write_tokens, output_tokens, prompt_key) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            requests,
        )
        db.conn.executemany(
            "insert into prompts (key, agent, session_id, ts, project, text_length, is_sidechain)"
            " values (?, ?, ?, ?, ?, ?, ?)",
            prompts,
        )
        db.conn.executemany(
            "insert into quota_readings (key, agent, observed_at, used_percent, window_minutes,"
            " resets_at, plan_type, source) values (?, ?, ?, ?, ?, ?, ?, 'log')",
            readings,
        )
        db.conn.executemany("insert into limit_hits (key, agent, ts, reset_at) values (?, ?, ?, ?)", hits)
    ensure_prices(db)
    sync_catalogue(db)
    db.conn.close()


def timed(conn, sql: str) -> tuple[float, int]:
    params = {name: "" for name in re.findall(r":(\w+)", sql)}
    t0 = time.perf_counter()
    rows = conn.execute(sql, params).fetchall()
    return time.perf_counter() - t0, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="Write the store here (and reuse it if it exists).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="datasette-bench-") as scratch:
        run(args.keep or Path(scratch) / "bench.db", args)


def run(path: Path, args) -> None:
    if not path.exists():
        t0 = time.perf_counter()
        build(path, args.requests, args.seed)
        print(f"built {args.requests:,} requests in {time.perf_counter() - t0:.1f} s: {path}")
    import sqlite3

    from analyzer.plugins.datasette.metadata import metadata

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    tables = {r[0] for r in conn.execute("select name from sqlite_master where type in ('table', 'view')")}
    meta = metadata({"bench": tables})
    work = {f"query {k}": q["sql"] for k, q in meta["databases"]["bench"]["queries"].items()}
    work |= {f"chart {k}": c["query"] for k, c in meta["plugins"]["datasette-dashboards"]["bench"]["charts"].items()}
    base, _ = timed(conn, "select count(*), sum(cost_usd), sum(total_tokens) from priced_requests")
    print(f"baseline: one pass over priced_requests = {base:.3f} s")
    for name, sql in work.items():
        took, rows = timed(conn, sql)
        print(f"{name:32s} {took / base:6.2f}x baseline ({took:.3f} s, {rows} rows)")


if __name__ == "__main__":
    main()
