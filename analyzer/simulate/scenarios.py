"""The scenarios ``infer-limit`` is tested on, each with the truth it must recover.

Limits are sized to the simulated person (about 200 calls, 15M tokens and 40
prompts on a working day) so that windows fill to between a third and all of
their limit, as a real plan's do. ``truth[minutes]`` names the quantity the
window counts (a candidate of ``analyzer.inference.fit``), its weights
normalised as the inference reports them, the model multipliers, and the
limit schedule.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from analyzer.simulate import Scenario
from analyzer.simulate.plan import Plan, Rule, Window
from analyzer.simulate.usage import Person

START = datetime(2026, 11, 2)  # a Monday
WEEK_ANCHOR = datetime(2026, 10, 31, 5)  # the weekly window resets on Saturdays at 05:00 UTC
CHANGE_AT = datetime(2026, 11, 9, 13)  # a Monday afternoon, mid-period

SONNET, OPUS, HAIKU = "claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101", "claude-haiku-4-5-20251001"

ALL_TOKENS = Rule("tokens", (1, 1, 1, 1))
UNCACHED_IO = Rule("tokens", (1, 0, 0, 1))
REQUESTS = Rule("requests")
PROMPTS = Rule("prompts")
# Credits as reported for Claude plans: 0.4 / 2.0 per Sonnet token (output 5x input), Opus 5/3 and Haiku
# 1/3 of that, cache free, rounded up per call.
CREDITS = Rule("tokens", (0.4, 0, 0, 2.0), model_rates=(("claude-opus", 5 / 3), ("claude-haiku", 1 / 3)), ceil=True)


def _tokens_truth(candidate: str, weights: dict, limits: list, **extra) -> dict:
    return {"quantity": "tokens", "candidate": candidate, "weights": weights, "limits": limits, **extra}


W_ALL = {"input": 1.0, "cache_read": 1.0, "cache_write": 1.0, "output": 1.0}
W_UNCACHED = {"input": 1.0, "cache_read": 0.0, "cache_write": 0.0, "output": 1.0}


def token_plan(
    name: str = "token-plan", *, other_share: float = 0.0, cut: bool = False, seed: int = 1, usage_in_log: bool = False
) -> Scenario:
    """5-hour window counts every token; the weekly one only uncached input + output (the notes' Kimi rule)."""
    five = [(None, 15e6)] + ([(CHANGE_AT, 5e6)] if cut else [])
    # With a cut, a roomier week: cut to a third mid-week, it must leave some room (or nothing shows the change).
    week = [(None, 3.6e6), (CHANGE_AT, 1.2e6)] if cut else [(None, 2.4e6)]
    plan = Plan(
        "sim-token", [Window(300, ALL_TOKENS, five), Window(10080, UNCACHED_IO, week, fixed_anchor=WEEK_ANCHOR)]
    )
    return Scenario(
        name=name,
        description="token plan: 5h counts all tokens, weekly counts uncached input + output",
        person=Person(start=START, other_device_share=other_share),
        plan=plan,
        seed=seed,
        usage_in_log=usage_in_log,
        truth={
            300: _tokens_truth("all_tokens", W_ALL, five, change_at=CHANGE_AT if cut else None),
            10080: _tokens_truth("uncached_io", W_UNCACHED, week, change_at=CHANGE_AT if cut else None),
        },
    )


def request_plan(seed: int = 1) -> Scenario:
    """Counts model calls (Volcengine, Bailian, MiniMax's token plan); readings with two decimals."""
    five, week = [(None, 400.0)], [(None, 2500.0)]
    plan = Plan("sim-requests", [Window(300, REQUESTS, five), Window(10080, REQUESTS, week, fixed_anchor=WEEK_ANCHOR)])
    return Scenario(
        "request-plan",
        "request plan: every model call counts one",
        Person(start=START),
        plan,
        resolution=0.01,
        seed=seed,
        truth={
            300: {"quantity": "requests", "candidate": "requests", "limits": five},
            10080: {"quantity": "requests", "candidate": "requests", "limits": week},
        },
    )


def prompt_plan(seed: int = 1) -> Scenario:
    """Counts typed prompts (MiniMax's prompt era): a 5-hour window only, integer readings."""
    five = [(None, 40.0)]
    plan = Plan("sim-prompts", [Window(300, PROMPTS, five)])
    return Scenario(
        "prompt-plan",
        "prompt plan: every typed prompt counts one",
        Person(start=START),
        plan,
        seed=seed,
        truth={300: {"quantity": "prompts", "candidate": "prompts", "limits": five}},
    )


def credit_plan(seed: int = 1) -> Scenario:
    """Credits: output weighs 5x input, cache free, Opus 5/3 and Haiku 1/3 of Sonnet; readings floored."""
    five, week = [(None, 300_000.0)], [(None, 2_500_000.0)]
    plan = Plan("sim-credits", [Window(300, CREDITS, five), Window(10080, CREDITS, week, fixed_anchor=WEEK_ANCHOR)])
    person = Person(start=START, models=((SONNET, 0.6), (OPUS, 0.3), (HAIKU, 0.1)))
    # Truth in credits per Sonnet token; the inference states the limit in tokens of whichever class carries
    # most of the count, so a test divides the credit limit by that class's weight here.
    weights = {"input": 0.4, "cache_read": 0.0, "cache_write": 0.0, "output": 2.0}
    models = {"claude-sonnet-4-5": 1.0, "claude-opus-4-5": 5 / 3, "claude-haiku-4-5": 1 / 3}
    return Scenario(
        "credit-plan",
        "credit plan: output 5x input, models weighted",
        person,
        plan,
        rounding="floor",
        seed=seed,
        truth={
            m: _tokens_truth("weighted_per_model", weights, limits, models=models)
            for m, limits in ((300, five), (10080, week))
        },
    )


def codex_plan(seed: int = 1) -> Scenario:
    """Codex: credits by the rate card (input 1, cached 0.1, output 8: the shape of GPT-5-Codex's API prices),
    so the counted quantity is the cost at API prices; readings are the rate limits in the rollout itself."""
    five, week = [(None, 4.0)], [(None, 15.0)]
    dollars = Rule("tokens", (1.25e-6, 0.125e-6, 0, 10e-6))
    plan = Plan("plus", [Window(300, dollars, five), Window(10080, dollars, week, fixed_anchor=WEEK_ANCHOR)])
    person = Person(start=START, models=(("gpt-5-codex", 1.0),), cache_writes=False)
    return Scenario(
        "codex-plan",
        "Codex: usage metered like API cost, readings in the rollout",
        person,
        plan,
        agent="codex",
        seed=seed,
        truth={
            m: {"quantity": "api_cost", "candidate": "api_cost", "limits": lim}
            for m, lim in ((300, five), (10080, week))
        },
    )


def hits_only(seed: int = 1) -> Scenario:
    """A plan with no quota display: only refusals tell (Bailian-like, a request limit per 5 hours)."""
    five = [(None, 90.0)]
    plan = Plan("sim-hits", [Window(300, REQUESTS, five)])
    return Scenario(
        "hits-only",
        "request plan seen only through limit hits",
        Person(start=START),
        plan,
        readings=False,
        seed=seed,
        truth={300: {"quantity": "requests", "candidate": "requests", "limits": five}},
    )


def all_scenarios(seed: int = 1) -> list[Scenario]:
    return [
        token_plan(seed=seed),
        request_plan(seed=seed),
        prompt_plan(seed=seed),
        credit_plan(seed=seed),
        token_plan("limit-cut", cut=True, seed=seed, usage_in_log=True),
        token_plan("other-device", other_share=0.15, seed=seed),
        codex_plan(seed=seed),
        hits_only(seed=seed),
    ]


def by_name(name: str, seed: int = 1) -> Scenario:
    for s in all_scenarios(seed):
        if s.name == name:
            return s
    raise KeyError(name)


__all__ = ["all_scenarios", "by_name", "replace"]
