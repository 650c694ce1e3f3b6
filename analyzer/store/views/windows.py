"""Plan windows in SQL, for Datasette: the second implementation of ``analyzer.windows.rule``.

The rule lives in Python (``analyzer.windows.rule``); Datasette can only run SQL,
so this module writes the same rule as one query (a recursive walk), and
``tests/test_window_rule.py`` holds the two to the same windows and sums over
every fixture:

* windows belong to an **account** (every agent and machine that spends it);
* **anchored** instances come from ``window_anchors`` (vendor reset times); an
  instance that overlaps the previous one starts where that one ends;
* **estimated** windows cover requests outside every anchored instance: the
  first such request opens a window at its hour (5 hours; weekly when the
  account has no anchored week) or at the 7-day slot extrapolated from the
  nearest vendor reset (weekly), never before the previous window or anchored
  instance ended, and cut short where the next anchored instance starts;
* with an agent filter, windows are placed by that agent's requests, and the
  accounts shown are those it used in the period or whose resets it logged.

The walk steps from window to window with indexed ``min(ts)`` look-ups, so its
cost grows with the number of windows, not of requests. Sums per window then
come from ``priced_requests`` by time range.

``windows_sql(minutes, period)`` returns the query; ``Period`` holds the SQL
expressions of the filters (``ALL``: none; ``PARAMS``: Datasette's ``:agent``,
``:account``, ``:since`` and ``:until`` named parameters, days or ISO instants
in UTC, an empty value meaning "no filter"). The view ``plan_windows`` is both
lengths, unfiltered. Its ``agent`` column names the window's agents, sorted and
comma-separated; the per-agent and per-machine breakdown is the CLI's.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.store.views.usage import _sums
from analyzer.store.views.view import View, view

VIEWS: list[View] = []

FMT = "'%Y-%m-%dT%H:%M:%fZ'"
FIVE_HOURS, WEEK = 300, 10080
_WEEK_MS = 7 * 86400 * 1000


@dataclass(frozen=True)
class Period:
    """SQL expressions for the filters; each evaluates to NULL when there is no filter."""

    agent: str = "null"
    since: str = "null"  # stored instant, inclusive
    until: str = "null"  # stored instant, exclusive
    account: str = "null"


def since_param(name: str = "since", shift: str = "'+0 hours'") -> str:
    """A ``:since`` parameter (a day or an ISO instant) as a stored instant, NULL when empty."""
    return (
        f"case when coalesce(:{name}, '') = '' then null"
        f" else strftime({FMT}, :{name}, case when length(:{name}) = 10 then {shift} else '+0 hours' end) end"
    )


def until_param(name: str = "until", shift: str = "'+0 hours'") -> str:
    """An ``:until`` parameter: a day counts whole (up to the next midnight), an instant is exclusive."""
    return (
        f"case when coalesce(:{name}, '') = '' then null"
        f" when length(:{name}) = 10 then strftime({FMT}, :{name}, '+1 day', {shift})"
        f" else strftime({FMT}, :{name}) end"
    )


ALL = Period()
PARAMS = Period(agent="nullif(:agent, '')", since=since_param(), until=until_param(), account="nullif(:account, '')")


def ms(expr: str) -> str:
    """Milliseconds since the Julian epoch, exact for stored instants."""
    return f"cast(round(julianday({expr}) * 86400000.0) as integer)"


def plus_minutes(expr: str, minutes: int | str) -> str:
    return f"strftime({FMT}, {expr}, '+' || {minutes} || ' minutes')"


def in_period(alias: str, p: Period) -> str:
    """Requests (or prompts) of the period and the filters."""
    return (
        f"{alias}.ts >= coalesce({p.since}, '') and {alias}.ts < coalesce({p.until}, '9')"
        f" and {alias}.agent = coalesce({p.agent}, {alias}.agent)"
        f" and {alias}.account is coalesce({p.account}, {alias}.account)"
    )


def sorted_list(expr: str) -> str:
    """A comma-separated list, its items sorted and distinct (SQLite's group_concat keeps the input order)."""
    return (
        f"(select group_concat(v, ',') from (select distinct j.value as v"
        f" from json_each('[\"' || replace({expr}, ',', '\",\"') || '\"]') j where j.value != '' order by 1))"
    )


def _estimated_start(m: int) -> tuple[str, str]:
    """SQL for (start before clamping, basis) of the estimated window opened by request ``w.c``.

    Columns of the walk's probe row: ``lo``/``hi`` the nearest vendor reset at or before / after
    ``w.c`` (both null when the agent has no anchored instance).
    """
    hour = "substr(w.c, 1, 13) || ':00:00.000Z'"
    if m != WEEK:
        return hour, "'first request floored to the hour'"
    # The vendor reset nearest to the request (the earlier one on a tie), as analyzer.windows picks it.
    ref = (
        f"(case when w.lo is null then w.hi when w.hi is null then w.lo"
        f" when {ms('w.c')} - {ms('w.lo')} <= {ms('w.hi')} - {ms('w.c')} then w.lo else w.hi end)"
    )
    d = f"({ms('w.c')} - {ms(ref)})"
    periods = f"(case when {d} >= 0 then {d} / {_WEEK_MS} else -((-{d} + {_WEEK_MS - 1}) / {_WEEK_MS}) end)"
    extrapolated = f"strftime({FMT}, {ref}, ({periods} * 7) || ' days')"
    has = "coalesce(w.lo, w.hi) is not null"
    return (
        f"(case when {has} then {extrapolated} else {hour} end)",
        f"(case when {has} then '7-day period extrapolated from the vendor reset ' || {ref}"
        f" else 'first request floored to the hour' end)",
    )


def window_ctes(m: int, p: Period) -> str:
    """CTEs ``anchors_M`` (anchored instances of the period) and ``windows_M`` (all windows).

    The walk cycles through three kinds of row per request that opens a window: ``next``
    (the request ``c``), ``probe`` (the anchored instances around it, each looked up once)
    and ``window`` (the window it opens, from the probe's columns alone).
    """
    a, walk = f"anchors_{m}", f"walk_{m}"
    base, basis = _estimated_start(m)
    start = f"max({base}, coalesce(w.prev_end, ''), coalesce(w.floor, ''))"
    end = f"min({plus_minutes(start, m)}, coalesce(w.nxt, '9'))"
    around = {
        "inside_end": f'select a."end" from {a} a where a.account is w.account and a.start <= w.c and w.c < a."end"',
        "floor": f'select max(a."end") from {a} a where a.account is w.account and a.start <= w.c',
        "nxt": f"select min(a.start) from {a} a where a.account is w.account and a.start > w.c",
        "lo": f'select max(a."end") from {a} a where a.account is w.account and a."end" <= w.c',
        "hi": f'select min(a."end") from {a} a where a.account is w.account and a."end" > w.c',
    }
    probe = ",\n    ".join(
        f"case w.step when 'next' then ({sql}) when 'probe' then w.{name} end" for name, sql in around.items()
    )
    logged = f"instr(',' || in_{m}.agents || ',', ',' || {p.agent} || ',') > 0"
    return f"""
cut_{m} as (
  select account, agents, resets_at as "end", readings, limit_hits, max_used_percent,
    max(starts_at, coalesce(lag(resets_at) over (partition by account order by resets_at), starts_at)) as start
  from window_anchors
  where window_minutes = {m} and scope is null and account is coalesce({p.account}, account)
),
in_{m} as (
  select * from cut_{m}
  where start < "end" and "end" > coalesce({p.since}, '') and start < coalesce({p.until}, '9')
),
{a} as (
  select * from in_{m}
  where {p.agent} is null or account in (select r.account from requests r where {in_period("r", p)})
    or account in (select in_{m}.account from in_{m} where {logged})
),
{walk}(account, step, c, prev_end, {", ".join(around)}, start, "end", basis) as (
  select r.account, 'next', min(r.ts), null, null, null, null, null, null, null, null, null
  from requests r where {in_period("r", p)}
  group by r.account
  union all
  select w.account,
    case w.step when 'next' then 'probe' when 'probe' then 'window' else 'next' end,
    case when w.step != 'window' then w.c else (
      select min(r.ts) from requests r
      where r.account is w.account and r.ts > w.c
        and r.ts >= max(coalesce(w.inside_end, w."end"), coalesce({p.since}, ''))
        and r.ts < coalesce({p.until}, '9') and r.agent = coalesce({p.agent}, r.agent)
    ) end,
    case when w.step != 'window' then w.prev_end when w.inside_end is null then w."end" else w.prev_end end,
    {probe},
    case w.step when 'probe' then {start} end,
    case w.step when 'probe' then {end} end,
    case w.step when 'probe' then {basis} end
  from {walk} w
  where w.c is not null
),
windows_{m} as (
  select account, {sorted_list("agents")} as agents, {m} as window_minutes, start, "end", 'anchored' as kind,
    'vendor reset time from ' || case
      when readings > 0 and limit_hits > 0 then {_count("readings", "quota reading")} || ' and ' || {_count("limit_hits", "limit hit")}
      when readings > 0 then {_count("readings", "quota reading")}
      else {_count("limit_hits", "limit hit")} end as basis,
    readings, limit_hits, max_used_percent
  from {a}
  union all
  select account, null, {m}, start, "end", 'estimated', basis, 0, 0, null
  from {walk} where step = 'window' and inside_end is null
)"""


def _count(column: str, noun: str) -> str:
    return f"({column} || ' {noun}' || case when {column} = 1 then '' else 's' end)"


PRICED = (
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


def usage_ctes(m: int, p: Period) -> str:
    """CTEs ``sums_M`` and ``agents_M``: usage per window, each request and prompt of the period assigned to its
    window, and the agents whose requests it holds.

    Windows are disjoint and every request of the period lies in one, so a single
    ordered pass (``kind``: 0 a window, 1 a request, 2 a typed prompt) carries each
    window's start and end to the rows after it (a prompt typed between windows is in none).
    """
    nulls = ", ".join(f"null as {c}" for c in PRICED)
    columns = ", ".join(f"r.{c}" for c in PRICED)
    return f"""
tagged_{m} as (
  select account, null as agent, start as ts, 0 as kind, start as window_start, "end" as window_end, {nulls}
  from windows_{m}
  union all
  select r.account, r.agent, r.ts, 1, null, null, {columns} from priced_requests r where {in_period("r", p)}
  union all
  select q.account, q.agent, q.ts, 2, null, null, {", ".join("null" for _ in PRICED)} from prompts q
  where q.is_sidechain = 0 and {in_period("q", p)}
),
assigned_{m} as (
  select *, max(window_start) over running as win, max(window_end) over running as win_end
  from tagged_{m}
  window running as (partition by account order by ts, kind rows unbounded preceding)
),
sums_{m} as (
  select account, win, min(case when kind = 1 then ts end) as first_request,
    max(case when kind = 1 then ts end) as last_request, sum(kind = 2) as prompts, {_sums("kind = 1")}
  from assigned_{m} where kind > 0 and ts < win_end
  group by account, win
),
agents_{m} as (
  select account, win, group_concat(agent, ',') as agents
  from (select distinct account, win, agent from assigned_{m} where kind = 1 and ts < win_end order by agent)
  group by account, win
)"""


def usage_select(m: int) -> str:
    """Usage per window of ``windows_M``: the columns of ``analyzer report blocks --json`` (but the breakdowns)."""
    now = f"strftime({FMT}, 'now')"
    zero = ",\n  ".join(f"coalesce(s.{c}, 0) as {c}" for c in ("requests",) + PRICED[:6])
    costs = ",\n  ".join(
        f"case when s.requests is null then 0.0 else s.{c} end as {c}"
        for c in ("cost_usd", "cost_usd_known", "cost_usd_openai", "cost_usd_anthropic", "cost_cny")
    )
    return f"""
select w.account, coalesce(g.agents, w.agents, '') as agent, w.window_minutes, w.start, w."end", w.kind, w.basis,
  case when w.kind = 'anchored' then w.start <= {now} and {now} < w."end"
    else s.last_request is not null and {now} < w."end"
      and s.last_request > strftime({FMT}, 'now', '-{m} minutes') end as is_active,
  s.first_request, s.last_request, w.readings, w.limit_hits, w.max_used_percent,
  coalesce(s.prompts, 0) as prompts,
  {zero},
  s.cache_ratio,
  {costs},
  coalesce(s.unpriced_requests, 0) as unpriced_requests
from windows_{m} w
left join sums_{m} s on s.account is w.account and s.win = w.start
left join agents_{m} g on g.account is w.account and g.win = w.start"""


def windows_sql(minutes: int | tuple[int, ...], p: Period = ALL) -> str:
    """Usage per plan window of one or more lengths, ordered by account, length and start."""
    lengths = (minutes,) if isinstance(minutes, int) else minutes
    ctes = ",".join(window_ctes(m, p) + "," + usage_ctes(m, p) for m in lengths)
    body = "\nunion all\n".join(usage_select(m) for m in lengths)
    return f"with recursive {ctes}\nselect * from ({body})\norder by account, window_minutes, start"


# plan_windows: every 5-hour and weekly window of every account (the columns of
# `analyzer report blocks --json` but its per-agent and per-machine breakdown, with window_minutes 300 or 10080).
VIEWS.append(
    view(
        "plan_windows",
        {"requests", "prompts", "quota_readings", "limit_hits", "price_tiers"},
        windows_sql((FIVE_HOURS, WEEK)),
    )
)
