"""A simulator for ``infer-limit``: a person, a plan with a hidden rule, and the logs they leave.

``simulate(scenario, home)`` generates the person's work (``usage``), replays
every model call against the plan's hidden rule (``plan.Meter``: calls refused
while a window is full, the person then waits for the reset), and writes what
this machine would hold: the agent's logs (``writers``), the plan's "% used"
readings (taken after prompts, as a statusline or a quota poll would see
them, rounded as the vendor rounds), and the refusals (limit hits, in the log).
Usage made on another device counts against the plan and appears in no log.

``SimResult.load(db)`` ingests the logs through the real parser and stores the
readings, so a test sees exactly what a user's store would hold. The truth the
inference must recover is in ``scenario.truth``. Scenarios live in
``analyzer.simulate.scenarios``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from analyzer.contract.records import QuotaReading
from analyzer.contract.timeutil import format_utc
from analyzer.simulate.plan import Meter, Plan, Rule, Window
from analyzer.simulate.usage import Person, SimSession, generate
from analyzer.simulate.writers import ClaudeCodeWriter, CodexWriter, LogWriter

__all__ = ["Person", "Plan", "Rule", "Window", "Scenario", "SimResult", "simulate"]


@dataclass
class Scenario:
    """A person, a plan, and how the plan's signals reach this machine."""

    name: str
    description: str
    person: Person
    plan: Plan
    readings: bool = True  # False: the plan shows no "% used", only refusals
    resolution: float = 1.0  # readings rounded to this many percentage points (0: exact)
    rounding: str = "round"  # or "floor"
    reading_probability: float = 0.6
    usage_in_log: bool = False  # readings as /usage reports in the transcript, not statusline rows
    agent: str = "claude-code"  # whose logs to write: claude-code or codex
    seed: int = 1
    truth: dict = field(default_factory=dict)  # per window minutes: what inference must find


@dataclass
class SimResult:
    scenario: Scenario
    home: Path
    files: list[Path]
    readings: list[QuotaReading]
    hits: int
    stats: dict

    def load(self, db) -> None:
        """Ingest the logs (the real parser) and store the statusline readings."""
        from analyzer.ingest.ingester import Ingester
        from analyzer.store import database as store
        from analyzer.store.writer import RecordWriter

        Ingester(db, env={"HOME": str(self.home)}).run()
        if self.readings:
            writer = RecordWriter(db, source_id=None, machine=store.machine_id(db), keep_text=False)
            writer.extend(self.readings)
            with store.transaction(db):
                writer.flush()


def _quantise(percent: float, resolution: float, rounding: str) -> float:
    if resolution <= 0:
        return percent
    steps = percent / resolution
    steps = math.floor(steps + 1e-9) if rounding == "floor" else math.floor(steps + 0.5)
    return round(steps * resolution, 6)


def _shown(scenario: Scenario, meter: Meter, ts: datetime) -> list[tuple[int, float, datetime]]:
    """Each window's "% used" as the vendor would show it at ``ts`` (windows not yet opened left out)."""
    shown = []
    for i, window in enumerate(scenario.plan.windows):
        percent = meter.percent(i, ts)
        if percent is not None:
            shown.append(
                (window.minutes, _quantise(percent, scenario.resolution, scenario.rounding), meter.states[i].end)
            )
    return shown


def _events(sessions: list[SimSession], rng: random.Random, probability: float) -> list[tuple]:
    """(ts, order, kind, session, prompt, request) for every prompt, call and reading moment."""
    events = []
    order = 0
    for s in sessions:
        if s.local and rng.random() < probability:
            events.append((s.start - timedelta(seconds=20), order, "reading", s, None, None))
            order += 1
        for p in s.prompts:
            if s.local:
                events.append((p.ts, order, "prompt", s, p, None))
                order += 1
            for r in p.requests:
                events.append((r.ts, order, "request", s, p, r))
                order += 1
            if s.local and p.requests and rng.random() < probability:
                events.append((p.requests[-1].ts + timedelta(seconds=2), order, "reading", s, p, None))
                order += 1
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def simulate(scenario: Scenario, home: Path, writer: LogWriter | None = None) -> SimResult:
    """Run ``scenario`` and write what this machine would hold under ``home``."""
    rng = random.Random(scenario.seed)
    sessions = generate(scenario.person, rng)
    if writer is None:
        writer = (
            CodexWriter(rng) if scenario.agent == "codex" else ClaudeCodeWriter(rng, usage_in_log=scenario.usage_in_log)
        )
    plan = scenario.plan
    meter = Meter(plan)
    readings: list[QuotaReading] = []
    hits = {w.minutes: 0 for w in plan.windows}
    blocked: dict[bool, datetime | None] = {True: None, False: None}  # local / other device: waiting until
    instances: dict[int, set] = {w.minutes: set() for w in plan.windows}
    for ts, _, kind, session, prompt, request in _events(sessions, rng, scenario.reading_probability):
        local = session.local
        until = blocked[local]
        started = prompt.ts if prompt is not None else ts
        if until is not None and started < until:
            continue  # the person waits for the reset; the rest of this prompt never happens
        if kind == "prompt":
            writer.prompt(session, prompt)
        elif kind == "request":
            full = meter.full(ts)
            if full is not None:
                state = meter.states[full]
                blocked[local] = state.end
                if local:
                    hits[plan.windows[full].minutes] += 1
                    writer.limit_hit(session, ts, plan.windows[full].minutes, state.end)
                continue
            meter.count(request, local)
            for window, state in zip(plan.windows, meter.states):
                instances[window.minutes].add(state.end)
            if local:
                with_readings = writer.readings_with_requests and scenario.readings
                writer.request(session, request, _shown(scenario, meter, ts) if with_readings else None)
        elif kind == "reading" and scenario.readings:
            shown = _shown(scenario, meter, ts)
            if shown and not writer.reading(session, ts, shown):
                stamp = format_utc(ts)
                for minutes, percent, resets in shown:
                    readings.append(
                        QuotaReading(
                            key=f"sim:{scenario.name}:{minutes}:{stamp}",
                            agent=writer.agent,
                            observed_at=stamp,
                            used_percent=percent,
                            window_minutes=minutes,
                            resets_at=format_utc(resets),
                            plan_type=plan.name,
                            source="statusline",
                        )
                    )
    files = writer.finish(home)
    stats = {}
    for window, state in zip(plan.windows, meter.states):
        other = state.total_used - state.total_local
        stats[window.minutes] = {
            "counted": state.total_used,
            "other_device_share": other / state.total_used if state.total_used else 0.0,
            "instances": len(instances[window.minutes]),
            "hits": hits[window.minutes],
        }
    return SimResult(scenario, home, files, readings, sum(hits.values()), stats)
