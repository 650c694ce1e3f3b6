"""The SQL of the canned limit queries: windows against their limit, readings against the fit, plans.

Windows and limits belong to accounts: every agent's and machine's usage of
an account fills its windows. **The limit of a window** is chosen as
``analyzer status`` chooses it: the newest ``limit_estimates`` row of the
account and window length (written by ``analyzer infer-limit``; ``inferred``,
or ``stated`` when infer-limit fell back to the catalogue), else the primary
figure of the plan in the catalogue (``stated``): the plan given as the
``plan`` parameter, else the one the account's own readings name (their
``plan_type``, among the plans of the agents that logged them). The usage
**counted** against it is in the limit's quantity: requests, typed prompts (or
requests over ``requests_per_unit`` where the vendor bundles calls), API cost,
or a weighted sum of the four token classes (an estimate's class weights; a
plan's weights per model-name prefix, ``*`` for any model).

``limit_estimates`` belongs to infer-limit and may be absent: every builder
takes ``estimates`` (whether the table exists) and leaves it out when not.
"""

from __future__ import annotations

from analyzer.store.views.windows import FMT, PARAMS, usage_ctes, usage_select, window_ctes

NORMALISED_MODEL = "lower(substr(m.model, length(rtrim(m.model, replace(m.model, '/', ''))) + 1))"
CLASS_COLUMNS = (
    ("wi", "input", "input_tokens"),
    ("wcr", "cache_read", "cache_read_tokens"),
    ("wcw", "cache_write", "cache_write_tokens"),
    ("wo", "output", "output_tokens"),
)


def limit_ctes(m: int, source: str, estimates: bool) -> str:
    """CTEs ``lim_M`` (one limit per account of ``source``) and ``wts_M`` (token weights per account and model)."""
    newest = (
        f"select e2.key from limit_estimates e2 where e2.account is e.account and e2.window_minutes = {m}"
        " order by e2.created_at desc, e2.key limit 1"
    )
    est = (
        f"""select e.account, coalesce(e.method, 'inferred') as source, e.plan as plan_id,
    coalesce(e.quantity, 'tokens') as quantity, e.weights, 'classes' as weight_kind, e."limit", e.low, e.high,
    null as requests_per_unit, e.summary
  from limit_estimates e
  where e.window_minutes = {m} and e.key = ({newest}) and e."limit" > 0"""
        if estimates
        else (
            "select null as account, null as source, null as plan_id, null as quantity, null as weights,"
            ' null as weight_kind, null as "limit", null as low, null as high, null as requests_per_unit,'
            " null as summary where 0"
        )
    )
    wanted = (
        "select lower(replace(q.plan_type, ' ', '-')) from quota_readings q"
        " where q.account is a.account and q.plan_type is not null order by q.observed_at desc limit 1"
    )
    pick = (
        "select p.plan_id from plans p where exists (select 1 from json_each(p.agents) j where j.value in"
        " (select q.agent from quota_readings q where q.account is w.account))"
        " and (substr(p.plan_id, -length(w.wanted) - 1) = '-' || w.wanted or lower(p.name) = w.wanted)"
        " order by p.rowid limit 1"
    )
    stated = (
        f"select s.rowid from plan_limits s where s.plan_id = c.plan_id and s.is_primary = 1"
        f' and s.window_minutes = {m} and s."limit" is not null order by s.rowid limit 1'
    )
    prefix = (
        "select j.value from json_each(l.weights) j where j.key != '*'"
        f" and substr({NORMALISED_MODEL}, 1, length(j.key)) = j.key order by length(j.key) desc limit 1"
    )
    weights = ",\n    ".join(f"coalesce(json_extract(x.w, '$.{name}'), 0) as {col}" for col, name, _ in CLASS_COLUMNS)
    return f"""
accounts_{m} as (select distinct account from {source}),
est_{m} as ({est}),
wanted_{m} as (select a.account, ({wanted}) as wanted from accounts_{m} a),
chosen_{m} as (select w.account, coalesce(nullif(:plan, ''), ({pick})) as plan_id from wanted_{m} w),
lim_{m} as (
  select * from est_{m}
  union all
  select c.account, 'stated', c.plan_id, l.unit, l.weights, 'prefixes', l."limit", l.low, l.high, l.requests_per_unit,
    p.name || ': ' || l.basis || ' figure (' || coalesce(l.source, '?') || ', ' || coalesce(l.as_of, '?') || ')'
  from chosen_{m} c
  join plans p on p.plan_id = c.plan_id
  join plan_limits l on l.rowid = ({stated})
  where not exists (select 1 from est_{m} e where e.account is c.account)
),
wts_{m} as (
  select x.account, x.model, {weights}
  from (
    select l.account, m.model,
      case l.weight_kind when 'classes' then l.weights
        else coalesce(({prefix}), json_extract(l.weights, '$."*"')) end as w
    from lim_{m} l
    join (select distinct account, model from requests) m on m.account is l.account
    where l.quantity in ('tokens', 'credits')
  ) x
)"""


def counted(m: int, lim: str, account: str, start: str, end: str) -> str:
    """Usage of ``account`` (every agent's) in ``[start, end)`` in the quantity of the limit row ``lim``."""
    span = f"r.account is {account} and r.ts >= {start} and r.ts < {end}"
    tokens = " + ".join(f"x.{col} * r.{column}" for col, _, column in CLASS_COLUMNS)
    requests = f"(select count(*) from requests r where {span})"
    return f"""case {lim}.quantity
    when 'requests' then {requests}
    when 'prompts' then case when {lim}.requests_per_unit > 0 then 1.0 * {requests} / {lim}.requests_per_unit
      else (select count(*) from prompts r where {span} and r.is_sidechain = 0) end
    when 'api_cost' then (select case when sum(r.cost_usd is null) > 0 then null else round(coalesce(sum(r.cost_usd), 0), 6)
      end from priced_requests r where {span})
    when 'tokens' then coalesce((select sum({tokens}) from requests r join wts_{m} x on x.account is r.account
      and x.model is r.model where {span}), 0)
    when 'credits' then coalesce((select sum({tokens}) from requests r join wts_{m} x on x.account is r.account
      and x.model is r.model where {span}), 0)
  end"""


def windows_with_limits(m: int, estimates: bool) -> str:
    """Usage per plan window (``report blocks`` / ``report weekly``) with the limit and the share used."""
    since, until = f"coalesce({PARAMS.since}, '')", f"coalesce({PARAMS.until}, '9')"
    amount = counted(m, "l", "u.account", f"max(u.start, {since})", f'min(u."end", {until})')
    return f"""with recursive {window_ctes(m, PARAMS)},{usage_ctes(m, PARAMS)},
u as ({usage_select(m)}),
{limit_ctes(m, "u", estimates)}
select *, case when "limit" > 0 then round(100.0 * counted / "limit", 2) end as percent_of_limit
from (
  select u.*, l.source as limit_source, l.plan_id as plan, l.quantity as limit_quantity, l."limit",
    l.low as limit_low, l.high as limit_high, {amount} as counted
  from u left join lim_{m} l on l.account is u.account
)
order by account, start"""


def readings_against_fit(estimates: bool) -> str:
    """Every weekly "% used" reading next to the share the limit predicts from the account's logged usage."""
    start = f"strftime({FMT}, q.resets_at, '-10080 minutes')"
    return f"""with q as (
  select q.agent, q.account, q.observed_at, q.used_percent, q.resets_at, {start} as window_start, q.source,
    q.plan_type
  from quota_readings q
  where q.window_minutes = 10080 and q.scope is null and q.resets_at is not null
    and q.observed_at >= coalesce({PARAMS.since}, '') and q.observed_at < coalesce({PARAMS.until}, '9')
    and q.agent = coalesce({PARAMS.agent}, q.agent) and q.account is coalesce({PARAMS.account}, q.account)
),
{limit_ctes(10080, "q", estimates)}
select *, case when "limit" > 0 then round(100.0 * counted / "limit", 2) end as predicted_percent
from (
  select q.*, l.source as limit_source, l.plan_id as plan, l.quantity as limit_quantity, l."limit",
    {counted(10080, "l", "q.account", "q.window_start", "q.observed_at")} as counted
  from q left join lim_10080 l on l.account is q.account
)
order by account, observed_at"""


ESTIMATES = """select e.account, e.agent, e.plan, e.window_minutes, e.method, e.quantity, e.label, e.unit,
  e."limit", e.low, e.high, e.weights, e.summary,
  json_extract(e.evidence, '$.readings') as readings, json_extract(e.evidence, '$.hits') as limit_hits,
  json_extract(e.evidence, '$.days') as days, json_array_length(e.segments) as segments, e.needs, e.created_at
from limit_estimates e
where e.agent = coalesce(nullif(:agent, ''), e.agent) and e.account is coalesce(nullif(:account, ''), e.account)
order by e.account, e.window_minutes, e.plan"""

# The evidence behind each estimate: its own fit (chosen), then every other quantity it beat (rejected).
EVIDENCE = """select e.account, e.agent, e.plan, e.window_minutes, 'chosen' as role, e.candidate, e.label, e."limit",
  json_extract(e.evidence, '$.rms_pp') as rms_pp, 0.0 as delta_bic, json_extract(e.evidence, '$.readings') as readings,
  json_extract(e.evidence, '$.instances') as instances, json_extract(e.evidence, '$.hits') as limit_hits,
  json_extract(e.evidence, '$.first') as first, json_extract(e.evidence, '$.last') as last, e.summary as note
from limit_estimates e
where e.agent = coalesce(nullif(:agent, ''), e.agent) and e.account is coalesce(nullif(:account, ''), e.account)
union all
select e.account, e.agent, e.plan, e.window_minutes, 'rejected', json_extract(a.value, '$.candidate'),
  json_extract(a.value, '$.label'), json_extract(a.value, '$.limit'), json_extract(a.value, '$.rms_pp'),
  json_extract(a.value, '$.delta_bic'), null, null, null, null, null, null
from limit_estimates e, json_each(coalesce(e.alternatives, '[]')) a
where e.agent = coalesce(nullif(:agent, ''), e.agent) and e.account is coalesce(nullif(:account, ''), e.account)
order by 1, 4, 3, 5, 10"""

SEGMENTS = """select e.account, e.agent, e.plan, e.window_minutes, s.key + 1 as segment,
  json_extract(s.value, '$.from') as "from", json_extract(s.value, '$.to') as "to",
  json_extract(s.value, '$.limit') as "limit", json_extract(s.value, '$.low') as low,
  json_extract(s.value, '$.high') as high, json_extract(s.value, '$.readings') as readings,
  json_extract(s.value, '$.changed_at') as changed_at
from limit_estimates e, json_each(coalesce(e.segments, '[]')) s
where e.agent = coalesce(nullif(:agent, ''), e.agent) and e.account is coalesce(nullif(:account, ''), e.account)
order by e.account, e.window_minutes, segment"""
