"""The SQL of the canned usage queries: the CLI reports, as Datasette can run them.

Every query takes the same named parameters, each optional (Datasette passes
an empty string for a blank field, which means "no filter"):

* ``since`` / ``until``: a day (``YYYY-MM-DD``, ``until`` counts the whole
  day) or an ISO instant, as ``--since/--until`` take them;
* ``agent`` (e.g. ``claude-code``), ``account`` (e.g. ``zai``: ``analyzer accounts``
  lists them) and, where a query says so, ``model``;
* ``utc_offset`` (daily and weekly only): hours east of UTC, e.g. ``8`` or
  ``-5``, for days that start at local midnight. Datasette knows no time
  zones, so this is a fixed offset (no daylight saving); the CLI's ``--tz``
  takes an IANA name.

Columns and rules follow the matching command (``report daily --json`` and so
on) so that a test can hold both to the same numbers. Token and cost sums use
``analyzer.store.views.usage``: a group with a request whose model has no price
has ``cost_usd`` null (unknown), with ``cost_usd_known`` and
``unpriced_requests`` alongside.
"""

from __future__ import annotations

from analyzer.store.views.usage import _sums
from analyzer.store.views.windows import PARAMS, Period, in_period, since_param, until_param

OFFSET = "cast(coalesce(nullif(:utc_offset, ''), '0') as real)"
SHIFT = f"printf('%+.4f hours', {OFFSET})"
LOCAL = Period(
    agent=PARAMS.agent,
    since=since_param(shift=f"printf('%+.4f hours', -{OFFSET})"),
    until=until_param(shift=f"printf('%+.4f hours', -{OFFSET})"),
)
MODEL = "(coalesce(:model, '') = '' or {a}.model = :model)"
# A prompt counts for a model when it started at least one request of that model.
PROMPT_MODEL = (
    "(coalesce(:model, '') = '' or exists (select 1 from requests m where m.prompt_key = {key} and m.model = :model))"
)


def where(alias: str, p: Period = PARAMS, *, model: bool = True) -> str:
    cond = in_period(alias, p)
    return f"{cond} and {MODEL.format(a=alias)}" if model else cond


PRICED_COLUMNS = (
    "agent",
    "session_id",
    "ts",
    "model",
    "key",
    "is_sidechain",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "cost_usd_openai",
    "cost_usd_anthropic",
    "cost_cny",
)


def priced(alias: str, p: Period = PARAMS) -> str:
    """The period's priced requests as ``alias``, each cost computed once per request.

    ``limit -1`` keeps SQLite from flattening the view into an aggregate query,
    which would evaluate the cost expressions again at every mention.
    """
    return f"(select {', '.join(PRICED_COLUMNS)} from priced_requests {alias} where {where(alias, p)} limit -1) {alias}"


def usage_by(period_sql: str, name: str) -> str:
    """Requests and typed prompts per (local period, agent), as ``report daily|weekly --calendar``."""
    return f"""
select {name}, agent, sum(is_prompt) as prompts, {_sums("is_request")}
from (
  select {period_sql.format(ts="r.ts")} as {name}, r.agent, 1 as is_request, 0 as is_prompt,
    r.input_tokens, r.cache_read_tokens, r.cache_write_tokens, r.output_tokens, r.reasoning_tokens, r.total_tokens,
    r.cost_usd, r.cost_usd_openai, r.cost_usd_anthropic, r.cost_cny
  from {priced("r", LOCAL)}
  union all
  select {period_sql.format(ts="p.ts")}, p.agent, 0, 1, null, null, null, null, null, null, null, null, null, null
  from prompts p
  where p.is_sidechain = 0 and {in_period("p", LOCAL)} and {PROMPT_MODEL.format(key="p.key")}
)
group by {name}, agent
order by {name}, agent"""


LOCAL_DAY = f"date({{ts}}, {SHIFT})"
# Calendar weeks start on Monday: strftime('%w') is 0 on Sunday.
LOCAL_WEEK = f"date({{ts}}, {SHIFT}, '-' || ((cast(strftime('%w', {{ts}}, {SHIFT}) as integer) + 6) % 7) || ' days')"

DAILY = usage_by(LOCAL_DAY, "date")
WEEKLY = usage_by(LOCAL_WEEK, "week")

CACHE_RATIO_BY_DAY = f"""
select substr(r.ts, 1, 10) as date, r.agent, {_sums()}
from {priced("r")}
group by date, r.agent
order by date, r.agent"""

# The period at a glance: the headline numbers of the dashboard, and `analyzer stats`' overall row.
COSTS = ("cost_usd", "cost_usd_known", "cost_usd_openai", "cost_usd_anthropic", "cost_cny")
SUMMARY = f"""
select prompts, coalesce(requests, 0) as requests, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens,
  reasoning_tokens, total_tokens, cache_ratio,
  {", ".join(f"case when requests is null then 0.0 else {c} end as {c}" for c in COSTS)},
  coalesce(unpriced_requests, 0) as unpriced_requests,
  input_share, cache_read_share, cache_write_share, output_share, first_request, last_request
from (
  select
    (select count(*) from prompts p where p.is_sidechain = 0 and {in_period("p", PARAMS)}
       and {PROMPT_MODEL.format(key="p.key")}) as prompts,
    {_sums()},
    case when sum(total_tokens) > 0 then 1.0 * sum(input_tokens) / sum(total_tokens) end as input_share,
    case when sum(total_tokens) > 0 then 1.0 * sum(cache_read_tokens) / sum(total_tokens) end as cache_read_share,
    case when sum(total_tokens) > 0 then 1.0 * sum(cache_write_tokens) / sum(total_tokens) end as cache_write_share,
    case when sum(total_tokens) > 0 then 1.0 * sum(output_tokens) / sum(total_tokens) end as output_share,
    min(ts) as first_request, max(ts) as last_request
  from {priced("r")}
)"""

COST_BY_MODEL_BY_DAY = f"""
select substr(r.ts, 1, 10) as date, coalesce(r.model, '(unknown)') as model, {_sums()}
from {priced("r")}
group by date, r.model
order by date, model"""

SESSIONS = f"""
select r.agent, r.session_id, s.project, s.parent_session_id,
  min(r.ts) as first_ts, max(r.ts) as last_ts, sum(r.is_sidechain) as sidechain_requests,
  (select count(*) from prompts p where p.agent = r.agent and p.session_id = r.session_id and p.is_sidechain = 0)
    as prompts,
  group_concat(distinct r.model) as models,
  {_sums()}
from {priced("r")}
left join sessions s on s.agent = r.agent and s.session_id = r.session_id
group by r.agent, r.session_id
order by cost_usd_known desc, last_ts desc
limit 200"""

COSTLY_PROMPTS = f"""
select f.*
from prompt_fanout f
where {in_period("f", PARAMS)} and {PROMPT_MODEL.format(key="f.prompt_key")}
order by f.cost_usd_known desc, f.ts
limit 200"""

# Requests per typed prompt, for agents whose logs tie requests to the prompt that started them
# (the prompts `analyzer stats` measures its median, 90th percentile and mean over).
FANOUT = f"""
select f.requests as requests_per_prompt, count(*) as prompts, sum(f.requests) as requests
from prompt_fanout f
where {in_period("f", PARAMS)}
  and f.agent in (select distinct agent from requests where prompt_key is not null)
group by f.requests
order by f.requests"""

MINUTES_UNTIL_RESET = (
    "case when h.reset_at > h.ts then round((julianday(h.reset_at) - julianday(h.ts)) * 1440.0, 1) end"
)
LIMIT_HITS = f"""
select h.ts, h.agent, h.account, h.session_id,
  coalesce(h.window_minutes, case when {MINUTES_UNTIL_RESET} <= 300 then 300
    when {MINUTES_UNTIL_RESET} > 300 then 10080 end) as window_minutes,
  case when h.window_minutes is not null then 'logged'
    when {MINUTES_UNTIL_RESET} is not null then 'inferred from the wait' end as window_basis,
  h.limit_type, h.reset_at, {MINUTES_UNTIL_RESET} as minutes_until_reset, h.model, h.message
from limit_hits h
where {in_period("h", PARAMS)}
order by h.ts"""

QUOTA_READINGS = f"""
select q.observed_at, q.agent, q.account, q.window_minutes, q.scope, q.used_percent, q.resets_at, q.plan_type,
  q.source, q.key
from quota_readings q
where q.observed_at >= coalesce({PARAMS.since}, '') and q.observed_at < coalesce({PARAMS.until}, '9')
  and q.agent = coalesce({PARAMS.agent}, q.agent) and q.account is coalesce({PARAMS.account}, q.account)
order by q.observed_at, q.key"""
