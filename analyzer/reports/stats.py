"""The usage profile: what a person's requests are made of, overall and per group.

For a period (the ``Filters``), overall and per agent, model and project:

* the share of each disjoint token class (uncached input, cache read, cache
  write, output) in all tokens;
* the token-weighted cache ratio ``cache_read / (input + cache_read +
  cache_write)``, ``None`` (undefined, not 0) when nothing was sent;
* requests per prompt: median, 90th percentile and mean of the number of model
  calls each typed prompt started (``prompt_fanout``); the 90th percentile is
  the nearest-rank one (the smallest count that at least 90% of prompts do not
  exceed). Only agents whose logs tie requests to prompts count here; the
  plain ratio of all requests (subagents included) to prompts is given too;
* tokens per request: mean and median (the average of the two middle values
  for an even count).

The sums come from the ``usage_by_*`` views' SQL, so Datasette shows the same.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import TYPE_CHECKING

from analyzer.reports.usage import Filters, ensure_prices

if TYPE_CHECKING:
    import sqlite_utils

TOKEN_CLASSES = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")

GROUPS = ("agent", "model", "project")


def nearest_rank(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile ``q`` (0-100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _profile(sums: dict) -> dict:
    """Shares, cache ratio and costs from a row of sums."""
    total = sum(sums[c] for c in TOKEN_CLASSES)
    sent = sums["input_tokens"] + sums["cache_read_tokens"] + sums["cache_write_tokens"]
    row = dict(sums)
    row["total_tokens"] = total
    for c in TOKEN_CLASSES:
        row[c.replace("_tokens", "_share")] = (sums[c] / total) if total else None
    row["cache_ratio"] = (sums["cache_read_tokens"] / sent) if sent else None
    unknown = bool(sums["unpriced_requests"])
    for name in ("cost_usd", "cost_usd_openai", "cost_usd_anthropic", "cost_cny"):
        row[name] = None if unknown else round(sums[name], 6)
    row["cost_usd_known"] = round(sums["cost_usd"], 6)
    return row


def profile(db: sqlite_utils.Database, filters: Filters) -> dict:
    """The usage profile of the period: ``{"overall": {...}, "by_agent": [...], "by_model": [...], ...}``."""
    ensure_prices(db)
    where, params = filters.where()
    sums: dict[str, dict] = {g: defaultdict(_zero) for g in GROUPS}
    overall = _zero()
    totals: dict[str, dict] = {g: defaultdict(list) for g in GROUPS}
    all_totals: list[int] = []
    linked: set[str] = set()
    # One pass in SQL: sums per (agent, model, project), and each request's token total
    # (for the medians) as a list of numbers; Python adds the combinations up per group.
    for agent, model, project, *values, any_linked, request_totals in db.execute(
        "select agent, model, project, count(*), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens),"
        " sum(output_tokens), sum(reasoning_tokens), sum(coalesce(cost_usd, 0)), sum(coalesce(cost_usd_openai, 0)),"
        " sum(coalesce(cost_usd_anthropic, 0)), sum(coalesce(cost_cny, 0)), sum(cost_usd is null),"
        f" max(prompt_key is not null), group_concat(total_tokens) from priced_requests {where}"
        " group by agent, model, project",
        params,
    ):
        numbers = sorted(map(int, request_totals.split(",")))  # sorted runs: the medians' sorts merge them
        for g, key in zip(GROUPS, (agent, model, project)):
            _add(sums[g][key], values)
            totals[g][key].extend(numbers)
        _add(overall, values)
        all_totals.extend(numbers)
        if any_linked:
            linked.add(agent)
    # Agents whose requests carry a prompt key, in the whole store (the range may hold none).
    tied = linked if not (filters.agents or filters.since or filters.until) else _tied_agents(db)
    fanout = _fanout(db, filters, tied)
    prompt_counts = _prompt_counts(db, filters)
    result = {"overall": _finish(overall, all_totals, fanout.get(None), prompt_counts.get(None, 0))}
    for g in GROUPS:
        rows = []
        for key, s in sums[g].items():
            row = {
                g: key,
                **_finish(
                    s,
                    totals[g][key],
                    fanout.get((g, key)) if g != "model" else None,
                    prompt_counts.get((g, key), 0) if g != "model" else None,
                ),
            }
            rows.append(row)
        rows.sort(key=lambda r: (-r["total_tokens"], str(r[g])))
        result[f"by_{g}"] = rows
    return result


_FIELDS = (
    "requests",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cost_usd_openai",
    "cost_usd_anthropic",
    "cost_cny",
    "unpriced_requests",
)


def _zero() -> dict:
    return dict.fromkeys(_FIELDS, 0)


def _add(target: dict, values: tuple) -> None:
    for name, value in zip(_FIELDS, values):
        target[name] += value or 0


def _finish(sums: dict, request_totals: list[int], fanout: list[int] | None, prompts: int | None) -> dict:
    row = _profile(sums)
    n = sums["requests"]
    row["tokens_per_request_mean"] = (row["total_tokens"] / n) if n else None
    row["tokens_per_request_median"] = _median(request_totals)
    if prompts is not None:
        row["prompts"] = prompts
        row["requests_per_prompt_overall"] = (n / prompts) if prompts else None
        row["prompts_with_fanout"] = len(fanout or [])
        row["requests_per_prompt_median"] = _median(fanout or [])
        row["requests_per_prompt_p90"] = nearest_rank(fanout or [], 90)
        row["requests_per_prompt_mean"] = (sum(fanout) / len(fanout)) if fanout else None
    return row


def _tied_agents(db: sqlite_utils.Database) -> set[str]:
    return {a for (a,) in db.execute("select distinct agent from requests where prompt_key is not null")}


def _fanout(db: sqlite_utils.Database, filters: Filters, tied: set[str]) -> dict:
    """Requests per prompt (typed, main chain), for prompts of agents whose requests carry a prompt key."""
    where, params = filters.where("p.ts", "p.agent")
    cond = (where + " and p.is_sidechain = 0") if where else " where p.is_sidechain = 0"
    found: dict = defaultdict(list)
    for agent, project, n in db.execute(
        "select p.agent, p.project, count(r.prompt_key) from prompts p left join requests r on r.prompt_key = p.key"
        f" {cond} group by p.key",
        params,
    ):
        if agent not in tied:
            continue
        found[None].append(n)
        found[("agent", agent)].append(n)
        found[("project", project)].append(n)
    return found


def _prompt_counts(db: sqlite_utils.Database, filters: Filters) -> dict:
    where, params = filters.where()
    cond = (where + " and is_sidechain = 0") if where else " where is_sidechain = 0"
    counts: dict = defaultdict(int)
    for agent, project, n in db.execute(f"select agent, project, count(*) from prompts {cond} group by 1, 2", params):
        counts[None] += n
        counts[("agent", agent)] += n
        counts[("project", project)] += n
    return counts
