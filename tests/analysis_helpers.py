"""Rows built directly in the store, so every expected figure can be computed by hand."""

from __future__ import annotations

from analyzer.store.database import transaction


def add_request(
    db,
    key,
    ts,
    model="claude-sonnet-4-5-20250929",
    inp=0,
    cr=0,
    cw=0,
    out=0,
    *,
    agent="claude-code",
    session="s1",
    prompt_key=None,
    project="/p",
    w1h=None,
    sidechain=0,
):
    with transaction(db):
        db.execute(
            "insert into requests (key, agent, session_id, ts, model, project, input_tokens, cache_read_tokens,"
            " cache_write_tokens, cache_write_1h_tokens, output_tokens, prompt_key, is_sidechain, trigger)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'other')",
            [key, agent, session, ts, model, project, inp, cr, cw, w1h, out, prompt_key, sidechain],
        )


def add_prompt(db, key, ts, *, agent="claude-code", session="s1", project="/p", length=10):
    with transaction(db):
        db.execute(
            "insert into prompts (key, agent, session_id, ts, project, text_length, is_sidechain) values (?, ?, ?, ?, ?, ?, 0)",
            [key, agent, session, ts, project, length],
        )


def add_reading(db, key, observed, minutes, percent, resets, *, agent="claude-code", scope=None, plan_type=None):
    with transaction(db):
        db.execute(
            "insert into quota_readings (key, agent, observed_at, used_percent, window_minutes, resets_at, scope,"
            " plan_type, source) values (?, ?, ?, ?, ?, ?, ?, ?, 'log')",
            [key, agent, observed, percent, minutes, resets, scope, plan_type],
        )


def add_hit(db, key, ts, reset, minutes=None, *, agent="claude-code"):
    with transaction(db):
        db.execute(
            "insert into limit_hits (key, agent, ts, reset_at, window_minutes) values (?, ?, ?, ?, ?)",
            [key, agent, ts, reset, minutes],
        )


def fanout_dataset(db):
    """Five prompts starting 1, 2, 3, 4 and 10 requests (20 in all), each request
    10 input + 900 cache read + 80 cache write (5 min) + 10 output = 1,000 tokens,
    on Claude Sonnet 4.5, between 10:00 and 10:50 UTC on 2026-11-02."""
    n = 0
    for i, count in enumerate((1, 2, 3, 4, 10)):
        pk = f"p{i + 1}"
        add_prompt(db, pk, f"2026-11-02T10:{i * 10:02d}:00.000Z")
        for j in range(count):
            n += 1
            add_request(
                db,
                f"r{n}",
                f"2026-11-02T10:{i * 10:02d}:{j + 1:02d}.000Z",
                inp=10,
                cr=900,
                cw=80,
                out=10,
                prompt_key=pk,
            )
    return n
