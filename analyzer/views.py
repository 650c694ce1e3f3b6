"""SQL views: analysis that SQL can express, the same in Datasette and the CLI.

Views are derived, so changing one needs no migration: ``ensure_views`` runs on
every open and re-creates a view only when its SQL changed (so readers opening
the store do not take the write lock for nothing). A plugin or a later module
adds views by adding entries to ``VIEWS``.

Instants are UTC text; views that group by day use the UTC date (Datasette has
no time-zone support). The CLI reports group in the user's zone in Python.
"""

from __future__ import annotations

import sqlite_utils

# name -> (tables it needs, SQL)
VIEWS: dict[str, tuple[set[str], str]] = {}


def view(name: str, tables: set[str], sql: str) -> None:
    VIEWS[name] = (tables, sql.strip())


view(
    "request_tokens",
    {"requests"},
    """
select
  key, agent, session_id, ts, substr(ts, 1, 10) as day_utc, model, project, trigger, prompt_key, is_sidechain,
  input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
  input_tokens + cache_read_tokens + cache_write_tokens + output_tokens as total_tokens
from requests
""",
)

view(
    "daily_usage_utc",
    {"requests", "prompts"},
    """
select
  r.day_utc as date, r.agent,
  count(*) as requests,
  (select count(*) from prompts p where p.agent = r.agent and substr(p.ts, 1, 10) = r.day_utc) as prompts,
  sum(r.input_tokens) as input_tokens,
  sum(r.cache_read_tokens) as cache_read_tokens,
  sum(r.cache_write_tokens) as cache_write_tokens,
  sum(r.output_tokens) as output_tokens,
  sum(r.reasoning_tokens) as reasoning_tokens,
  sum(r.total_tokens) as total_tokens
from request_tokens r
group by r.day_utc, r.agent
order by r.day_utc, r.agent
""",
)

view(
    "session_usage",
    {"requests", "prompts", "sessions"},
    """
select
  r.agent, r.session_id,
  min(r.ts) as first_ts, max(r.ts) as last_ts,
  coalesce(s.project, max(r.project)) as project,
  count(*) as requests,
  sum(r.is_sidechain) as sidechain_requests,
  (select count(*) from prompts p where p.agent = r.agent and p.session_id = r.session_id) as prompts,
  sum(r.input_tokens) as input_tokens,
  sum(r.cache_read_tokens) as cache_read_tokens,
  sum(r.cache_write_tokens) as cache_write_tokens,
  sum(r.output_tokens) as output_tokens,
  sum(r.reasoning_tokens) as reasoning_tokens,
  sum(r.input_tokens + r.cache_read_tokens + r.cache_write_tokens + r.output_tokens) as total_tokens
from requests r
left join sessions s on s.agent = r.agent and s.session_id = r.session_id
group by r.agent, r.session_id
""",
)


def ensure_views(db: sqlite_utils.Database) -> None:
    """Create or replace every view whose tables exist and whose SQL changed."""
    existing = {
        row[0]: (row[1] or "")
        for row in db.execute("select name, sql from sqlite_master where type = 'view'").fetchall()
    }
    tables = set(db.table_names())
    stale = {}
    for name, (needs, sql) in VIEWS.items():
        if not needs <= tables:
            continue
        wanted = f"CREATE VIEW {name} AS {sql}"
        if existing.get(name) != wanted:
            stale[name] = wanted
    if not stale:
        return
    with db.atomic():
        # Views may depend on each other: drop all stale ones, then create in order.
        for name in stale:
            db.execute(f"drop view if exists {name}")
        for name, wanted in stale.items():
            db.execute(wanted)


# Cost of each request at API prices (USD), null when the model has no price.
# Cache writes with no 5m/1h split are priced as 5-minute writes (the API default
# TTL); a model with no cache-read or cache-write price pays its input price for them.
view(
    "priced_requests",
    {"requests", "model_prices"},
    """
select
  q.key, q.agent, q.session_id, q.ts, q.model, q.project, q.trigger, q.prompt_key, q.is_sidechain,
  q.input_tokens, q.cache_read_tokens, q.cache_write_tokens, q.output_tokens, q.reasoning_tokens,
  q.input_tokens + q.cache_read_tokens + q.cache_write_tokens + q.output_tokens as total_tokens,
  q.price_key,
  case when q.p_in is null or q.currency is not 'USD' then null else round((
      q.input_tokens * (case when q.big then q.p_in_above else q.p_in end)
    + q.cache_read_tokens * (case when q.big then q.p_read_above else q.p_read end)
    + q.w5 * (case when q.big then q.p_w5_above else q.p_w5 end)
    + q.w1 * (case when q.big then q.p_w1_above else q.p_w1 end)
    + q.output_tokens * (case when q.big then q.p_out_above else q.p_out end)
  ) / 1000000.0, 10) end as cost_usd
from (
  select
    r.*, p.price_key, p.currency,
    (p.tier_threshold is not null and r.input_tokens + r.cache_read_tokens + r.cache_write_tokens > p.tier_threshold) as big,
    coalesce(r.cache_write_5m_tokens, case when r.cache_write_1h_tokens is null then r.cache_write_tokens else 0 end) as w5,
    coalesce(r.cache_write_1h_tokens, 0) as w1,
    p.input as p_in,
    p.output as p_out,
    coalesce(p.cache_read, p.input) as p_read,
    coalesce(p.cache_write_5m, p.input) as p_w5,
    coalesce(p.cache_write_1h, case when p.mode = 'anthropic' then 2 * p.input else p.input end) as p_w1,
    coalesce(p.input_above, p.input) as p_in_above,
    coalesce(p.output_above, p.output) as p_out_above,
    coalesce(p.cache_read_above, p.cache_read, p.input_above, p.input) as p_read_above,
    coalesce(p.cache_write_5m_above, p.cache_write_5m, p.input_above, p.input) as p_w5_above,
    coalesce(p.cache_write_1h_above, p.cache_write_1h, case when p.mode = 'anthropic' then 2 * coalesce(p.input_above, p.input) else coalesce(p.input_above, p.input) end) as p_w1_above
  from requests r left join model_prices p on p.model = r.model
) q
""",
)
