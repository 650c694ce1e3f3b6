"""Stores for the Datasette tests: a random one full of traps, and a small one computed by hand."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from analyzer.contract.timeutil import format_utc
from analyzer.plans.catalogue import sync_catalogue
from analyzer.reports.usage import ensure_prices
from analyzer.store.database import transaction

from .analysis_helpers import add_reading, add_request

MODELS = ("claude-sonnet-4-5-20250929", "gpt-5", "mystery-model-x", "kimi-k2.5")


def random_store(db, seed: int) -> None:
    """Three agents over seven weeks: bursts with and without 5-hour pauses, unpriced models,
    sidechain calls, prompts without requests, jittered quota readings of both windows (some
    overlapping: the vendor moved a reset), limit hits with and without a window length."""
    rnd = random.Random(seed)
    t0 = datetime(2026, 10, 1, tzinfo=UTC)
    n = 0
    with transaction(db):
        for agent in ("claude-code", "codex", "kimi-code"):
            t = t0 + timedelta(minutes=rnd.randint(0, 600))
            for burst in range(rnd.randint(10, 30)):
                t += timedelta(minutes=rnd.choice([3, 30, 200, 299, 301, 600, 1440, 4000, 10080]))
                session = f"{agent}-s{burst % 4}"
                for _ in range(rnd.randint(1, 15)):
                    t += timedelta(seconds=rnd.randint(0, 900), milliseconds=rnd.randint(0, 999))
                    n += 1
                    db.execute(
                        "insert into requests (key, agent, session_id, ts, model, project, input_tokens,"
                        " cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, prompt_key,"
                        " is_sidechain, trigger) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'other')",
                        [
                            f"k{n}",
                            agent,
                            session,
                            format_utc(t),
                            rnd.choice(MODELS),
                            f"/p{burst % 3}",
                            rnd.randint(0, 5000),
                            rnd.randint(0, 90000),
                            rnd.randint(0, 9000),
                            rnd.randint(1, 4000),
                            rnd.randint(0, 100),
                            f"p{n // 3}" if rnd.random() < 0.8 else None,
                            int(rnd.random() < 0.1),
                        ],
                    )
                    if n % 3 == 0:
                        db.execute(
                            "insert or ignore into prompts (key, agent, session_id, ts, project, text_length,"
                            " is_sidechain) values (?, ?, ?, ?, ?, 10, ?)",
                            [
                                f"p{n // 3}",
                                agent,
                                session,
                                format_utc(t - timedelta(seconds=1)),
                                f"/p{burst % 3}",
                                int(rnd.random() < 0.05),
                            ],
                        )
                if rnd.random() < 0.2:  # a prompt typed between windows, starting nothing logged
                    db.execute(
                        "insert into prompts (key, agent, session_id, ts, text_length, is_sidechain)"
                        " values (?, ?, ?, ?, 5, 0)",
                        [f"lone{n}", agent, session, format_utc(t + timedelta(hours=7))],
                    )
                if rnd.random() < 0.4:
                    m = rnd.choice([300, 10080])
                    reset = t + timedelta(minutes=rnd.randint(1, m))
                    db.execute(
                        "insert into quota_readings (key, agent, observed_at, used_percent, window_minutes, resets_at,"
                        " source, plan_type) values (?, ?, ?, ?, ?, ?, 'log', ?)",
                        [
                            f"q{n}",
                            agent,
                            format_utc(t),
                            float(rnd.randint(0, 100)),
                            m,
                            format_utc(reset),
                            rnd.choice([None, "plus", "pro"]),
                        ],
                    )
                    if rnd.random() < 0.3:  # the same instance again, its reset jittered
                        db.execute(
                            "insert into quota_readings (key, agent, observed_at, used_percent, window_minutes,"
                            " resets_at, source) values (?, ?, ?, ?, ?, ?, 'statusline')",
                            [
                                f"q{n}j",
                                agent,
                                format_utc(t + timedelta(minutes=5)),
                                float(rnd.randint(0, 100)),
                                m,
                                format_utc(reset + timedelta(seconds=rnd.randint(-90, 90))),
                            ],
                        )
                if rnd.random() < 0.15:
                    wait = rnd.choice([30, 200, 299, 301, 3000])
                    db.execute(
                        "insert into limit_hits (key, agent, ts, reset_at, window_minutes, limit_type)"
                        " values (?, ?, ?, ?, ?, 'usage')",
                        [
                            f"h{n}",
                            agent,
                            format_utc(t),
                            format_utc(t + timedelta(minutes=wait)),
                            rnd.choice([None, None, 300]),
                        ],
                    )
    ensure_prices(db)
    sync_catalogue(db)


def hand_store(db) -> None:
    """Codex on 2026-11-02 (plan type "plus"), and three Claude Code calls on 2026-11-03.

    Codex, one model (gpt-5): r1 09:10 (100 input, 1,000 cache read, 50 output), r2 11:00 (200 input,
    10 cache write, 40 output), r3 14:30, r4 20:00 (10 input, 10 output each); a 5-hour reading at
    20:05 (10%, resets 2026-11-03 00:30) and a weekly one at 21:00 (30%, resets 2026-11-09 00:00).
    Five-hour windows: [09:00, 14:00) estimated with r1 and r2; [14:00, 19:00) estimated with r3,
    cut short where the anchored [19:30, 00:30) starts, which holds r4.
    Claude Code, 2026-11-03 10:00-10:02: Sonnet (1,000 input, 5,000 cache read, 100 cache write,
    200 output), Opus behind a gateway prefix (300 input, 30 output), an unknown model (10 input,
    5 output)."""
    add_request(db, "r1", "2026-11-02T09:10:00.000Z", "gpt-5", inp=100, cr=1000, out=50, agent="codex")
    add_request(db, "r2", "2026-11-02T11:00:00.000Z", "gpt-5", inp=200, cw=10, out=40, agent="codex")
    add_request(db, "r3", "2026-11-02T14:30:00.000Z", "gpt-5", inp=10, out=10, agent="codex")
    add_request(db, "r4", "2026-11-02T20:00:00.000Z", "gpt-5", inp=10, out=10, agent="codex")
    add_reading(
        db, "q5h", "2026-11-02T20:05:00.000Z", 300, 10.0, "2026-11-03T00:30:00.000Z", agent="codex", plan_type="plus"
    )
    add_reading(
        db,
        "qweek",
        "2026-11-02T21:00:00.000Z",
        10080,
        30.0,
        "2026-11-09T00:00:00.000Z",
        agent="codex",
        plan_type="plus",
    )
    add_request(db, "c1", "2026-11-03T10:00:00.000Z", "claude-sonnet-4-5-20250929", inp=1000, cr=5000, cw=100, out=200)
    add_request(db, "c2", "2026-11-03T10:01:00.000Z", "anthropic/Claude-Opus-4-5", inp=300, out=30)
    add_request(db, "c3", "2026-11-03T10:02:00.000Z", "weird-model", inp=10, out=5)
    ensure_prices(db)
    sync_catalogue(db)


ESTIMATE_COLUMNS = (
    "key",
    "agent",
    "account",
    "plan",
    "window_minutes",
    "quantity",
    "candidate",
    "label",
    "weights",
    "limit",
    "low",
    "high",
    "unit",
    "method",
    "evidence",
    "segments",
    "alternatives",
    "needs",
    "summary",
    "created_at",
)


def add_estimates(db, rows: list[dict]) -> None:
    """Rows of infer-limit's ``limit_estimates`` table (created here in its shape when absent)."""
    db.execute(
        "create table if not exists limit_estimates (key text primary key, agent text not null, plan text,"
        " account text, scope text, window_minutes integer not null, quantity text, candidate text, label text,"
        ' weights text, model_weights text, "limit" real, low real, high real, unit text, method text not null,'
        " evidence text, segments text, alternatives text, unexplained text, stated text, needs text, summary text,"
        " created_at text not null)"
    )
    with transaction(db):
        for row in rows:
            values = [
                json.dumps(row[c]) if isinstance(row.get(c), (dict, list)) else row.get(c) for c in ESTIMATE_COLUMNS
            ]
            db.execute(
                f"insert into limit_estimates ({', '.join(chr(34) + c + chr(34) for c in ESTIMATE_COLUMNS)})"
                f" values ({', '.join('?' * len(ESTIMATE_COLUMNS))})",
                values,
            )


HAND_ESTIMATES = [
    {
        "key": "codex|5h-old",
        "agent": "codex",
        "account": "openai",
        "window_minutes": 300,
        "quantity": "requests",
        "limit": 3,
        "method": "inferred",
        "created_at": "2026-11-01T00:00:00.000Z",
    },
    {
        "key": "codex|5h",
        "agent": "codex",
        "account": "openai",
        "plan": "codex-plus",
        "window_minutes": 300,
        "quantity": "tokens",
        "candidate": "uncached_io",
        "label": "uncached input + output",
        "limit": 1000,
        "low": 950,
        "high": 1050,
        "weights": {"input": 1, "cache_read": 0, "cache_write": 1, "output": 1},
        "method": "inferred",
        "evidence": {
            "readings": 12,
            "instances": 3,
            "hits": 1,
            "days": 4.5,
            "first": "2026-10-29T00:00:00.000Z",
            "last": "2026-11-02T12:00:00.000Z",
            "rms_pp": 0.4,
        },
        "segments": [
            {"from": "2026-10-29T00:00:00.000Z", "to": "2026-11-02T12:00:00.000Z", "limit": 1000, "readings": 12}
        ],
        "alternatives": [
            {"candidate": "total", "label": "all tokens", "rms_pp": 3.5, "delta_bic": 40.2, "limit": 9000}
        ],
        "summary": "5-hour: counts uncached input + output only",
        "created_at": "2026-11-02T22:00:00.000Z",
    },
    {
        "key": "codex|week",
        "agent": "codex",
        "account": "openai",
        "plan": "codex-plus",
        "window_minutes": 10080,
        "quantity": "requests",
        "limit": 10,
        "method": "inferred",
        "evidence": {"readings": 5},
        "segments": [],
        "alternatives": [],
        "summary": "Weekly: counts requests",
        "created_at": "2026-11-02T22:00:00.000Z",
    },
]


def client_get(ds, *paths: str) -> list:
    """GET each path through Datasette's own test client; the responses, in order."""

    async def run():
        return [await ds.client.get(path) for path in paths]

    return asyncio.run(run())


def db_file(db) -> Path:
    return Path(db.conn.execute("pragma database_list").fetchone()[2])
