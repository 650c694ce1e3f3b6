"""The SQL of the plan comparison: every plan's limits in the user's own units, as ``compare-plans``.

With the user's ratios over the period (tokens per request, requests per
typed prompt, the token mix of each model), every primary limit of a plan
becomes requests per window: a ``requests`` limit is requests; a ``prompts``
limit is prompts times the user's requests per prompt (or times the vendor's
``requests_per_unit``); a ``tokens`` or ``credits`` limit is divided by the
user's mean weighted sum per request (the plan's weights per model-name
prefix, ``*`` for any model). Per 5 hours, week and 30 days a plan allows the
smallest of its windows' limits, each repeated as often as it fits in the
period. Requests become prompts (divided by requests per prompt) and tokens
(times tokens per request).

What ``compare-plans`` adds in Python is left out: the value of a plan at its
own model's list price, and the replay of the usage through the plan's
windows.
"""

from __future__ import annotations

from analyzer.plugins.datasette.limits import CLASS_COLUMNS, NORMALISED_MODEL

from analyzer.store.views.windows import PARAMS, in_period

PERIODS = (("5h", 300), ("week", 10080), ("month", 43200))


def _capacity() -> str:
    columns = []
    for name, minutes in PERIODS:
        req = f"(case when count(*) = count(c.rpw) then min(c.rpw * max(1.0, {minutes}.0 / c.window_minutes)) end)"
        columns.append(f"round({req}, 1) as requests_per_{name}")
        columns.append(f"round({req} / r.requests_per_prompt, 1) as prompts_per_{name}")
        columns.append(f"cast(round({req} * r.tokens_per_request) as integer) as tokens_per_{name}")
    return ",\n  ".join(columns)


_WEIGHTED = " + ".join(f"coalesce(json_extract(x.w, '$.{name}'), 0) * x.{column}" for _, name, column in CLASS_COLUMNS)
_PREFIX = (
    "select j.value from json_each(l.weights) j where j.key != '*'"
    f" and substr({NORMALISED_MODEL}, 1, length(j.key)) = j.key order by length(j.key) desc limit 1"
)

PLAN_COMPARISON = f"""with u as (
  select r.* from priced_requests r where {in_period("r", PARAMS)}
),
ratios as (
  select
    (select count(*) from u) as requests,
    (select count(*) from prompts p where p.is_sidechain = 0 and {in_period("p", PARAMS)}) as prompts,
    round(max(1.0, case when {PARAMS.since} is not null and {PARAMS.until} is not null
      then julianday({PARAMS.until}) - julianday({PARAMS.since})
      else (select julianday(max(ts)) - julianday(min(ts)) from u) end), 3) as days,
    (select 1.0 * sum(total_tokens) / count(*) from u) as tokens_per_request,
    (select case when sum(input_tokens + cache_read_tokens + cache_write_tokens) > 0 then 1.0 * sum(cache_read_tokens)
      / sum(input_tokens + cache_read_tokens + cache_write_tokens) end from u) as cache_ratio,
    (select case when sum(cost_usd is null) = 0 then sum(cost_usd) / count(*) end from u) as cost_usd_per_request,
    (select cast(value as real) from meta where key = 'usd_cny') as usd_cny
),
r as (
  select *, case when prompts > 0 then 1.0 * requests / prompts end as requests_per_prompt,
    case when requests > 0 and cost_usd_per_request is not null
      then round(cost_usd_per_request * requests * 30 / days, 4) end as usage_cost_usd_per_month
  from ratios
),
models as (
  select model, count(*) as n, sum(input_tokens) as input_tokens, sum(cache_read_tokens) as cache_read_tokens,
    sum(cache_write_tokens) as cache_write_tokens, sum(output_tokens) as output_tokens
  from u group by model
),
per_request as (
  select x.lid, 1.0 * sum({_WEIGHTED}) / (select count(*) from u) as quantity
  from (
    select l.rowid as lid, m.*, coalesce(({_PREFIX}), json_extract(l.weights, '$."*"')) as w
    from plan_limits l, models m
    where l.is_primary = 1 and l."limit" is not null and l.unit in ('tokens', 'credits')
  ) x
  group by x.lid
),
c as (
  select l.plan_id, l.window_minutes, l.basis,
    case l.unit
      when 'requests' then l."limit"
      when 'prompts' then case when l.requests_per_unit then l."limit" * l.requests_per_unit
        else l."limit" * (select requests_per_prompt from r) end
      else case when q.quantity > 0 then l."limit" / q.quantity end
    end as rpw
  from plan_limits l left join per_request q on q.lid = l.rowid
  where l.is_primary = 1 and l."limit" is not null
)
select p.plan_id as plan, p.name, p.vendor, p.price, p.currency,
  round(case when p.currency = 'USD' then p.price else p.price / nullif(r.usd_cny, 0) end, 2) as fee_usd,
  group_concat(distinct c.basis) as basis,
  {_capacity()},
  r.requests as your_requests, r.prompts as your_prompts, r.days as your_days,
  r.tokens_per_request as your_tokens_per_request, r.requests_per_prompt as your_requests_per_prompt,
  r.cache_ratio as your_cache_ratio, r.usage_cost_usd_per_month as your_cost_usd_per_month
from c join plans p on p.plan_id = c.plan_id, r
group by p.plan_id
order by requests_per_month desc nulls last, p.plan_id"""
