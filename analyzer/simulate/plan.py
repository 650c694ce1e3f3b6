"""The hidden rule of a simulated plan: what it counts, in which windows, up to what limit.

A ``Rule`` turns one model call into the amount the plan counts: a weighted sum
of the four token classes (times a per-model rate, rounded up per call for
credit plans), or one per request, or one per prompt (counted at the prompt's
first model call). A ``Window`` is a 5-hour window that opens at the first call
after the previous one closed (floored to the hour, as Claude's are observed to
be) or a fixed weekly window; its limit may change at given instants.

``Meter`` replays every call, local or from another device, in time order:
a call is refused while any window is full (the plan says when it resets), and
otherwise adds its amount to every window. Readings are the used share of each
window at a moment, as the vendor would show it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from analyzer.simulate.usage import SimRequest

TOKEN_CLASSES = ("input", "cache_read", "cache_write", "output")


@dataclass(frozen=True)
class Rule:
    """What one model call costs against the plan."""

    kind: str  # "tokens", "requests" or "prompts"
    weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)  # input, cache_read, cache_write, output
    model_rates: tuple[tuple[str, float], ...] = ()  # model-name prefix -> multiplier
    ceil: bool = False  # credits rounded up per call

    def rate(self, model: str) -> float:
        for prefix, rate in self.model_rates:
            if model.startswith(prefix):
                return rate
        return 1.0

    def amount(self, r: SimRequest) -> float:
        if self.kind == "requests":
            return 1.0
        if self.kind == "prompts":
            return 1.0 if r.first_of_prompt else 0.0
        wi, wr, ww, wo = self.weights
        value = self.rate(r.model) * (wi * r.input + wr * r.cache_read + ww * r.cache_write + wo * r.output)
        return float(math.ceil(value)) if self.ceil else value


@dataclass
class Window:
    """One metered window of a plan; ``limits`` is ``[(from, limit), ...]`` with the first ``from`` None."""

    minutes: int
    rule: Rule
    limits: list[tuple[datetime | None, float]]
    fixed_anchor: datetime | None = None  # weekly windows: a reset instant; 5-hour ones open at first use

    def limit_at(self, ts: datetime) -> float:
        value = self.limits[0][1]
        for since, limit in self.limits[1:]:
            if since is not None and ts >= since:
                value = limit
        return value

    def instance_for(self, ts: datetime, previous_end: datetime | None) -> tuple[datetime, datetime]:
        length = timedelta(minutes=self.minutes)
        if self.fixed_anchor is not None:
            k = math.floor((ts - self.fixed_anchor) / length)
            start = self.fixed_anchor + k * length
            return start, start + length
        start = ts.replace(minute=0, second=0, microsecond=0)
        if previous_end is not None and start < previous_end:
            start = previous_end
        return start, start + length


@dataclass
class Plan:
    name: str
    windows: list[Window]
    blocks: bool = True  # refuse calls once a window is full


@dataclass
class WindowState:
    start: datetime | None = None
    end: datetime | None = None
    used: float = 0.0  # everything counted, from any device
    local: float = 0.0  # the part made on this machine
    total_used: float = 0.0
    total_local: float = 0.0


@dataclass
class Meter:
    """Replays calls against a plan; remembers each window's current instance."""

    plan: Plan
    states: list[WindowState] = field(default_factory=list)

    def __post_init__(self):
        self.states = [WindowState() for _ in self.plan.windows]

    def roll(self, ts: datetime, *, fixed_only: bool = False) -> None:
        """Open the instance of every window that ``ts`` falls after (5-hour ones only on use)."""
        for window, state in zip(self.plan.windows, self.states):
            if fixed_only and window.fixed_anchor is None:
                continue
            if state.end is None or ts >= state.end:
                state.start, state.end = window.instance_for(ts, state.end)
                state.used = state.local = 0.0

    def full(self, ts: datetime) -> int | None:
        """The index of a window that is full at ``ts`` (so a call is refused), else None."""
        self.roll(ts)
        if not self.plan.blocks:
            return None
        for i, (window, state) in enumerate(zip(self.plan.windows, self.states)):
            if state.used >= window.limit_at(ts):
                return i
        return None

    def count(self, r: SimRequest, local: bool) -> None:
        self.roll(r.ts)
        for window, state in zip(self.plan.windows, self.states):
            amount = window.rule.amount(r)
            state.used += amount
            state.total_used += amount
            if local:
                state.local += amount
                state.total_local += amount

    def percent(self, i: int, ts: datetime) -> float | None:
        """The used share of window ``i`` at ``ts`` in percent (None before its first use)."""
        self.roll(ts, fixed_only=True)
        state = self.states[i]
        if state.end is None or ts >= state.end:
            return None
        return 100.0 * state.used / self.plan.windows[i].limit_at(ts)
