"""SQL views of the usage analysis: the same numbers in Datasette as in the CLI.

Each view's columns are listed in the comment above it. Token columns are the
four disjoint classes (``input_tokens`` is uncached input only) and their sum
``total_tokens``. Costs come from ``priced_requests``: a group with any request
whose model has no price has ``cost_usd`` null (unknown), with the known part in
``cost_usd_known`` and the count in ``unpriced_requests``. A cache ratio is
``cache_read / (input + cache_read + cache_write)``, null (undefined, not 0)
when that sum is 0. Days are UTC dates (the CLI groups in the user's zone).
"""

from __future__ import annotations

from analyzer.contract.limits import plan_window_sql
from analyzer.store.views.view import View, view

VIEWS: list[View] = []


def _sums(present: str = "1") -> str:
    """Aggregates over priced requests; ``present`` tells a real request from an outer join's null row."""
    unpriced = f"sum({present} and cost_usd is null)"
    unpriced_cny = f"sum({present} and cost_cny is null)"
    return f"""
  sum({present}) as requests,
  coalesce(sum(input_tokens), 0) as input_tokens,
  coalesce(sum(cache_read_tokens), 0) as cache_read_tokens,
  coalesce(sum(cache_write_tokens), 0) as cache_write_tokens,
  coalesce(sum(output_tokens), 0) as output_tokens,
  coalesce(sum(reasoning_tokens), 0) as reasoning_tokens,
  coalesce(sum(total_tokens), 0) as total_tokens,
  case when sum(input_tokens + cache_read_tokens + cache_write_tokens) > 0
    then 1.0 * sum(cache_read_tokens) / sum(input_tokens + cache_read_tokens + cache_write_tokens) end as cache_ratio,
  case when {unpriced} = 0 then round(coalesce(sum(cost_usd), 0), 6) end as cost_usd,
  round(coalesce(sum(cost_usd), 0), 6) as cost_usd_known,
  case when {unpriced} = 0 then round(coalesce(sum(cost_usd_openai), 0), 6) end as cost_usd_openai,
  case when {unpriced} = 0 then round(coalesce(sum(cost_usd_anthropic), 0), 6) end as cost_usd_anthropic,
  case when {unpriced_cny} = 0 then round(coalesce(sum(cost_cny), 0), 6) end as cost_cny,
  {unpriced} as unpriced_requests"""


_SUMS = _sums()

# usage_daily_utc: one row per (UTC date, agent).
# date, agent, requests, prompts (typed, main chain), input_tokens, cache_read_tokens,
# cache_write_tokens, output_tokens, reasoning_tokens, total_tokens, cache_ratio, cost_usd,
# cost_usd_known, cost_usd_openai, cost_usd_anthropic, cost_cny, unpriced_requests.
VIEWS.append(
    view(
        "usage_daily_utc",
        {"requests", "prompts", "price_tiers"},
        f"""
select
  substr(r.ts, 1, 10) as date, r.agent,
  (select count(*) from prompts p where p.agent = r.agent and p.is_sidechain = 0
     and p.ts >= substr(r.ts, 1, 10) and p.ts < date(substr(r.ts, 1, 10), '+1 day')) as prompts,
  {_SUMS}
from priced_requests r
group by substr(r.ts, 1, 10), r.agent
order by date, agent
""",
    )
)

# usage_by_agent / usage_by_model / usage_by_project: the usage profile per group.
# <group column>, requests, the token sums, cache_ratio, costs (as above), and the shares of
# all tokens: input_share, cache_read_share, cache_write_share, output_share; tokens_per_request.
for _name, _column in (("usage_by_agent", "agent"), ("usage_by_model", "model"), ("usage_by_project", "project")):
    VIEWS.append(
        view(
            _name,
            {"requests", "price_tiers"},
            f"""
select *,
  case when total_tokens > 0 then 1.0 * input_tokens / total_tokens end as input_share,
  case when total_tokens > 0 then 1.0 * cache_read_tokens / total_tokens end as cache_read_share,
  case when total_tokens > 0 then 1.0 * cache_write_tokens / total_tokens end as cache_write_share,
  case when total_tokens > 0 then 1.0 * output_tokens / total_tokens end as output_share,
  1.0 * total_tokens / requests as tokens_per_request
from (
  select {_column}, {_SUMS}
  from priced_requests
  group by {_column}
)
order by total_tokens desc
""",
        )
    )

# cache_ratio_by_session: agent, session_id, project, first_ts, last_ts, requests, the token
# sums, cache_ratio (null when the session sent no input), cost_usd, unpriced_requests.
VIEWS.append(
    view(
        "cache_ratio_by_session",
        {"requests", "price_tiers"},
        f"""
select agent, session_id, max(project) as project, min(ts) as first_ts, max(ts) as last_ts, {_SUMS}
from priced_requests
group by agent, session_id
order by last_ts desc
""",
    )
)

# prompt_fanout: one row per typed prompt (main chain).
# prompt_key, agent, account, machine_id, session_id, ts, project, text_length, requests (model calls the prompt
# started, tool rounds included; subagent calls are not attributed to a prompt), the token
# sums, cost_usd (null when a request's model has no price; 0 requests gives 0),
# cost_usd_known, unpriced_requests, last_ts (the last of those calls).
VIEWS.append(
    view(
        "prompt_fanout",
        {"requests", "prompts", "price_tiers"},
        """
select
  p.key as prompt_key, p.agent, p.account, p.machine_id, p.session_id, p.ts, p.project, p.text_length,
  count(r.key) as requests,
  coalesce(sum(r.input_tokens), 0) as input_tokens,
  coalesce(sum(r.cache_read_tokens), 0) as cache_read_tokens,
  coalesce(sum(r.cache_write_tokens), 0) as cache_write_tokens,
  coalesce(sum(r.output_tokens), 0) as output_tokens,
  coalesce(sum(r.total_tokens), 0) as total_tokens,
  case when sum(r.key is not null and r.cost_usd is null) = 0 then round(coalesce(sum(r.cost_usd), 0), 6) end as cost_usd,
  round(coalesce(sum(r.cost_usd), 0), 6) as cost_usd_known,
  sum(r.key is not null and r.cost_usd is null) as unpriced_requests,
  max(r.ts) as last_ts
from prompts p
left join priced_requests r on r.prompt_key = p.key
where p.is_sidechain = 0
group by p.key
order by p.ts
""",
    )
)

# window_anchors: plan windows whose reset time the vendor gave, one row per instance of an account.
# account, agents (that logged its readings and refusals, comma-separated), window_minutes, scope
# (a model-scoped window, e.g. Opus; null for the whole plan), resets_at (the earliest reported reset
# of the instance), starts_at (resets_at minus the window), readings, limit_hits, max_used_percent,
# last_observed_at. The resets belong to the account: readings and refusals of every agent that
# spends it anchor its windows.
# Readings of one instance jitter by seconds (Codex up to two minutes): resets within the
# same 10 minutes (rounded) are one instance. A limit hit without a window length is a 5-hour
# window when its reset is at most 5 hours after the hit, else a weekly one; only refusals of a
# plan window anchor one (a rate limit's retry-after is no window's end: analyzer.contract.limits).
# Readings are counted per exact reset time first (in the order of an index, so a store of
# a reading per request stays quick), then those counts are added up per instance.
VIEWS.append(
    view(
        "window_anchors",
        {"quota_readings", "limit_hits"},
        f"""
select
  account, group_concat(distinct agent) as agents, window_minutes, scope,
  min(resets_at) as resets_at,
  strftime('%Y-%m-%dT%H:%M:%fZ', min(resets_at), '-' || window_minutes || ' minutes') as starts_at,
  sum(readings) as readings,
  sum(limit_hits) as limit_hits,
  max(used_percent) as max_used_percent,
  max(observed_at) as last_observed_at
from (
  select account, agent, window_minutes, scope, count(*) as readings, 0 as limit_hits,
    max(used_percent) as used_percent, max(observed_at) as observed_at, resets_at
  from quota_readings
  where resets_at is not null and window_minutes in (300, 10080)
  group by account, window_minutes, scope, resets_at, agent
  union all
  select account, agent,
    coalesce(window_minutes, case when (julianday(reset_at) - julianday(ts)) * 24 <= 5 then 300 else 10080 end),
    null, 0, 1, 100.0, ts, reset_at
  from limit_hits
  where reset_at is not null and reset_at > ts and {plan_window_sql()}
)
where window_minutes in (300, 10080)
group by account, window_minutes, coalesce(scope, ''), cast(round(julianday(resets_at) * 144) as integer)
order by account, window_minutes, resets_at
""",
    )
)

# anchored_window_usage: usage inside each anchored window instance (requests of the same
# account, from every agent, with starts_at <= ts < resets_at; for a scoped window only models
# whose name contains the scope). Columns of window_anchors plus requests, the token sums,
# cache_ratio and costs.
VIEWS.append(
    view(
        "anchored_window_usage",
        {"quota_readings", "limit_hits", "requests", "price_tiers"},
        f"""
select a.account, a.agents, a.window_minutes, a.scope, a.starts_at, a.resets_at, a.readings, a.limit_hits,
  a.max_used_percent,
  (select count(*) from prompts p where p.account is a.account and p.is_sidechain = 0
     and p.ts >= a.starts_at and p.ts < a.resets_at) as prompts,
  {_sums("r.key is not null")}
from window_anchors a
left join priced_requests r on r.account is a.account and r.ts >= a.starts_at and r.ts < a.resets_at
  and (a.scope is null or lower(r.model) like '%' || lower(a.scope) || '%')
group by a.account, a.window_minutes, a.scope, a.resets_at
order by a.account, a.window_minutes, a.resets_at
""",
    )
)
