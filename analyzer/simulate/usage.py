"""A synthetic person at work: sessions, typed prompts, and the model calls each prompt sets off.

Tokens follow the shape of real agent work: a session's context grows with
every call and is read back from the cache (so cache reads dominate), each call
adds new uncached input (the prompt or a tool result), part of which is written
to the cache, and a few hundred output tokens. Context is compacted when it
grows large. Every number is drawn from one seeded ``random.Random``, so a
scenario is the same on every run.

The person works on this machine (``local`` sessions, written to logs) and,
optionally, on another device (sessions that count against the plan but leave
no trace here). Another device is used when this one is idle, as one person at
one keyboard would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class SimRequest:
    """One model call with its four disjoint token classes."""

    ts: datetime
    key: str
    model: str
    input: int
    cache_read: int
    cache_write: int
    output: int
    first_of_prompt: bool = False


@dataclass
class SimPrompt:
    ts: datetime
    key: str
    requests: list[SimRequest] = field(default_factory=list)


@dataclass
class SimSession:
    id: str
    model: str
    local: bool
    prompts: list[SimPrompt] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        return self.prompts[0].ts

    @property
    def end(self) -> datetime:
        last = self.prompts[-1]
        return last.requests[-1].ts if last.requests else last.ts


@dataclass
class Person:
    """How much and when someone works. Times are UTC."""

    days: int = 14
    start: datetime = datetime(2026, 11, 2)
    sessions_per_day: tuple[int, int] = (2, 3)
    weekend_probability: float = 0.3
    prompts_per_session: tuple[int, int] = (6, 18)
    requests_per_prompt: float = 6.0  # mean of a geometric chain length
    day_start_hour: tuple[int, int] = (7, 10)
    models: tuple[tuple[str, float], ...] = (("claude-sonnet-4-5-20250929", 1.0),)
    context_start: tuple[int, int] = (8_000, 16_000)
    new_input: float = 1_800.0  # mean uncached input per call (prompt or tool result)
    output: float = 450.0
    compact_at: int = 160_000
    cache_writes: bool = True  # Anthropic-style explicit cache writes; False: OpenAI-style automatic caching
    other_device_share: float = 0.0  # of all tokens, made elsewhere and absent from the logs


def _lognormal(rng: random.Random, mean: float, sigma: float = 0.8) -> int:
    import math

    mu = math.log(mean) - sigma * sigma / 2
    return max(1, int(rng.lognormvariate(mu, sigma)))


def _session(rng: random.Random, person: Person, sid: str, start: datetime, local: bool, n_prompts: int) -> SimSession:
    models, weights = zip(*person.models)
    model = rng.choices(models, weights)[0]
    session = SimSession(sid, model, local)
    context = rng.randint(*person.context_start)
    # How much new input this session's client writes to the cache (none where caching is automatic).
    cache_share = rng.uniform(0.2, 0.8) if person.cache_writes else 0.0
    ts = start
    for p in range(n_prompts):
        prompt = SimPrompt(ts, f"{sid}-p{p}")
        session.prompts.append(prompt)
        chain = 1
        while rng.random() > 1.0 / person.requests_per_prompt and chain < 40:
            chain += 1
        t = ts + timedelta(seconds=rng.uniform(1, 4))
        for r in range(chain):
            new = _lognormal(rng, person.new_input)
            write = int(new * cache_share * rng.uniform(0.5, 1.0))
            out = _lognormal(rng, person.output)
            t += timedelta(seconds=rng.uniform(3, 35))
            prompt.requests.append(
                SimRequest(
                    t,
                    f"{sid}-p{p}-r{r}",
                    model,
                    input=new - write,
                    cache_read=context,
                    cache_write=write,
                    output=out,
                    first_of_prompt=(r == 0),
                )
            )
            context += new + out
            if context > person.compact_at:
                context = rng.randint(*person.context_start) * 2
            t += timedelta(seconds=rng.uniform(2, 20))  # the tool runs
        ts = t + timedelta(seconds=rng.uniform(30, 480))  # the person reads and types
    return session


def _busy(sessions: list[SimSession], start: datetime, end: datetime, margin: timedelta) -> bool:
    return any(s.start - margin < end and start < s.end + margin for s in sessions)


def generate(person: Person, rng: random.Random) -> list[SimSession]:
    """Local sessions over ``person.days`` days, then other-device sessions in idle time."""
    local: list[SimSession] = []
    n = 0
    for day in range(person.days):
        date = person.start + timedelta(days=day)
        if date.weekday() >= 5 and rng.random() > person.weekend_probability:
            continue
        cursor = date + timedelta(hours=rng.randint(*person.day_start_hour), minutes=rng.randint(0, 59))
        for _ in range(rng.randint(*person.sessions_per_day)):
            s = _session(rng, person, f"s{n:04d}", cursor, True, rng.randint(*person.prompts_per_session))
            n += 1
            local.append(s)
            cursor = s.end + timedelta(minutes=rng.randint(20, 150))
    other: list[SimSession] = []
    if person.other_device_share > 0:
        target = person.other_device_share / (1 - person.other_device_share) * _tokens(local)
        made = 0.0
        tries = 0
        margin = timedelta(minutes=25)
        while made < target and tries < 5000:
            tries += 1
            day = rng.randrange(person.days)
            start = person.start + timedelta(days=day, hours=rng.uniform(6, 22))
            s = _session(rng, person, f"o{len(other):04d}", start, False, rng.randint(2, 8))
            if _busy(local, s.start, s.end, margin) or _busy(other, s.start, s.end, margin):
                continue
            other.append(s)
            made += _tokens([s])
    return sorted(local + other, key=lambda s: s.start)


def _tokens(sessions: list[SimSession]) -> float:
    return float(
        sum(r.input + r.cache_read + r.cache_write + r.output for s in sessions for p in s.prompts for r in p.requests)
    )
