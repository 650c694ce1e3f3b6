"""The schema, pinned: what a new store holds, and what an older store becomes (after llm's test_migrate).

A change to a table, an index, a trigger or a view must show up here. Migrations are
never edited once released: a change is a new migration, and EXPECTED changes with it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from analyzer.store import database as store
from analyzer.store.schema import migrations

from .conftest import FIXTURES

MIGRATIONS = [
    "m001_initial",
    "m002_model_prices",
    "m003_price_tiers_and_plans",
    "m004_request_costs",
    "m005_covering_indexes",
    "m006_limit_estimates",
    "m007_accounts",
]

EXPECTED = """
table _sqlite_migrations: id integer pk1, migration_set text, name text, applied_at text
table attributions: id integer pk1, key text not null, account text, plan text, rule text not null, note text
table ingest_errors: source_id integer not null pk1, offset integer not null pk2, kind text not null pk3, reason text not null, snippet text, first_seen text not null
table limit_estimates: key text pk1, agent text not null, plan text, account text, scope text, window_minutes integer not null, quantity text, candidate text, label text, weights text, model_weights text, limit real, low real, high real, unit text, method text not null, evidence text, segments text, alternatives text, unexplained text, stated text, needs text, summary text, created_at text not null
table limit_hits: key text pk1, agent text not null, session_id text, ts text not null, reset_at text, window_minutes integer, limit_type text, message text, model text, source_id integer, source_offset integer, machine_id text, provider text, account text, attribution integer
table machines: machine_id text pk1, name text, first_seen text, snapshot_at text, synced_at text
table meta: key text pk1, value text
table model_prices: model text pk1, price_key text, input real, output real, cache_read real, cache_write_5m real, cache_write_1h real, tier_threshold integer, input_above real, output_above real, cache_read_above real, cache_write_5m_above real, cache_write_1h_above real, currency text, mode text, source text
table plan_limits: plan_id text not null pk1, window_minutes integer not null pk2, unit text not null pk3, basis text not null pk4, limit real, low real, high real, weights text, requests_per_unit real, window_kind text, confidence text, source text, as_of text, note text, is_primary integer not null default 0
table plans: plan_id text pk1, vendor text not null, name text not null, region text, agents text, price real, currency text, period text, models text, multipliers text, notes text, source text, as_of text, origin text not null default 'bundled'
table price_tiers: model text not null pk1, currency text not null pk2, above_tokens integer not null default 0 pk3, input real not null, output real not null, cache_read real, cache_write_5m real, cache_write_1h real, mode text not null, price_key text, origin text, source text, as_of text
table prompts: key text pk1, agent text not null, session_id text not null, ts text not null, project text, text_hash text, text_length integer, text text, is_sidechain integer not null default 0, source_id integer, source_offset integer, machine_id text, account text
table quota_readings: key text pk1, agent text not null, observed_at text not null, used_percent real not null, window_minutes integer, resets_at text, plan_type text, scope text, source text not null, account text, raw text, source_id integer, machine_id text, attribution integer, source_account text
table requests: key text pk1, agent text not null, session_id text not null, ts text not null, model text, provider text, project text, input_tokens integer not null default 0, cache_read_tokens integer not null default 0, cache_write_tokens integer not null default 0, cache_write_5m_tokens integer, cache_write_1h_tokens integer, output_tokens integer not null default 0, reasoning_tokens integer not null default 0, trigger text not null default 'other', prompt_key text, is_sidechain integer not null default 0, complete integer not null default 1, speed text, raw_usage text, source_id integer, source_offset integer, machine_id text, price_key text, price_mode text, cost_usd real, cost_cny real, cost_usd_openai real, cost_cny_openai real, cost_usd_anthropic real, cost_cny_anthropic real, usd_basis text, cny_basis text, priced integer not null default 0, account text, attribution integer
table sessions: agent text not null pk1, session_id text not null pk2, project text, cwd text, parent_session_id text, client_version text, title text, is_subagent integer not null default 0, machine_id text
table sources: id integer pk1, path text not null, parser text not null, agent text not null, dev integer, inode integer, size integer not null default 0, mtime real, offset integer not null default 0, head_fp text, tail_fp text, state text, status text not null default 'ok', first_seen text not null, updated_at text not null
index idx__sqlite_migrations_migration_set_name on _sqlite_migrations(migration_set, name)
index limit_hits_account on limit_hits(account, ts)
index limit_hits_ts on limit_hits(agent, ts)
index limit_hits_unattributed on limit_hits(agent) where ...
index prompts_session_ts on prompts(agent, session_id, ts)
index prompts_ts on prompts(ts)
index prompts_unattributed on prompts(agent) where ...
index quota_readings_account_anchor on quota_readings(account, window_minutes, scope, resets_at, agent, used_percent, observed_at)
index quota_readings_anchor on quota_readings(agent, window_minutes, scope, resets_at, used_percent, observed_at)
index quota_readings_unattributed on quota_readings(agent) where ...
index quota_readings_window on quota_readings(agent, window_minutes, observed_at)
index requests_account_hourly on requests(account, <expr>, agent, machine_id, ts, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, priced, cost_usd, cost_usd_openai, cost_usd_anthropic, cost_cny)
index requests_account_ts on requests(account, ts)
index requests_agent_ts on requests(agent, ts)
index requests_hourly on requests(agent, <expr>, ts, model, project, prompt_key, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, priced, cost_usd, cost_usd_openai, cost_usd_anthropic, cost_cny)
index requests_model on requests(model)
index requests_prompt on requests(prompt_key)
index requests_session on requests(agent, session_id)
index requests_ts on requests(ts)
index requests_unattributed on requests(agent) where ...
index requests_unpriced on requests(model) where ...
index sources_inode on sources(dev, inode)
trigger meta_delete_cost_stale on meta
trigger meta_insert_cost_stale on meta
trigger meta_update_cost_stale on meta
trigger model_prices_delete_cost_stale on model_prices
trigger model_prices_insert_cost_stale on model_prices
trigger model_prices_update_cost_stale on model_prices
trigger price_tiers_delete_cost_stale on price_tiers
trigger price_tiers_insert_cost_stale on price_tiers
trigger price_tiers_update_cost_stale on price_tiers
view anchored_window_usage
view cache_ratio_by_session
view daily_usage_utc
view live_request_costs
view plan_windows
view priced_requests
view prompt_fanout
view request_tokens
view session_usage
view usage_by_agent
view usage_by_model
view usage_by_project
view usage_daily_utc
view window_anchors
"""


def schema_text(conn: sqlite3.Connection) -> str:
    """Tables with their columns, indexes with theirs, triggers and views: one line each, sorted."""
    lines = []
    for (name,) in conn.execute(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name"
    ):
        cols = []
        for _, col, kind, notnull, default, pk in conn.execute(f"pragma table_info('{name}')"):
            cols.append(
                " ".join(
                    filter(
                        None,
                        (
                            col,
                            kind.lower(),
                            "not null" if notnull else "",
                            f"default {default}" if default is not None else "",
                            f"pk{pk}" if pk else "",
                        ),
                    )
                )
            )
        lines.append(f"table {name}: " + ", ".join(cols))
    for name, table in conn.execute(
        "select name, tbl_name from sqlite_master where type = 'index' and sql is not null order by name"
    ):
        cols = [c or "<expr>" for _, _, c in conn.execute(f"pragma index_info('{name}')")]
        partial = (
            " where ..."
            if " where " in (conn.execute("select lower(sql) from sqlite_master where name = ?", [name]).fetchone()[0])
            else ""
        )
        lines.append(f"index {name} on {table}({', '.join(cols)}){partial}")
    for name, table in conn.execute("select name, tbl_name from sqlite_master where type = 'trigger' order by name"):
        lines.append(f"trigger {name} on {table}")
    for (name,) in conn.execute("select name from sqlite_master where type = 'view' order by name"):
        lines.append(f"view {name}")
    return "\n".join(lines)


def test_a_new_store_has_the_pinned_schema(tmp_path):
    db = store.open_db(tmp_path / "new.db")
    assert schema_text(db.conn) == EXPECTED.strip()
    applied = [
        r[0] for r in db.execute("select name from _sqlite_migrations where migration_set = 'analyzer' order by id")
    ]
    assert applied == MIGRATIONS == [m.name for m in migrations()._migrations]


def test_a_store_made_before_the_schema_was_one_set_ends_the_same(tmp_path):
    # Four migration sets made that store; the moved migrations run again on it and change nothing.
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript((FIXTURES / "store" / "before-one-schema.sql").read_text())
    conn.close()
    db = store.open_db(path)
    assert schema_text(db.conn) == EXPECTED.strip()
    store.open_db(Path(path))  # and again: nothing left to do
    assert schema_text(db.conn) == EXPECTED.strip()
