"""Views of the request ledger as it is stored: tokens per request, per UTC day, per session."""

from __future__ import annotations

from analyzer.store.views.view import View, view

VIEWS: list[View] = []

VIEWS.append(
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
)

VIEWS.append(
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
)

VIEWS.append(
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
)
