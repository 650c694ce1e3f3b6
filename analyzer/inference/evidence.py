"""Evidence from the store: the request ledger, quota readings and limit hits, per account.

A plan's window is filled by every agent and machine that spends its account,
so the ledger a window is fitted against is the account's (``Stream.owner``):
all its agents' calls, whichever agent logged the reading or the refusal.

The ledger is held as cumulative sums over calls in time order, one column per
counted quantity (the four token classes, calls, prompts, API cost, and the
token classes per model), so that what any window held between two instants
is one subtraction. Prompts are counted at their first model call (a prompt
the plan refused never reached the model and is not counted by it).

Readings are grouped into streams: one account, plan, scope and window
length. Window lengths within 5% of a standard one are snapped to it (Codex
logs 299 for 300). Readings of one stream with no plan type join the stream
of the single plan type the account reports for that window, if there is one.
Only refusals of a plan window are evidence (``analyzer.contract.limits``): a
rate limit's short retry-after says nothing of a window's size.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

import sqlite_utils

from analyzer.contract.limits import is_plan_window
from analyzer.contract.timeutil import parse_stored
from analyzer.pricing.prices import normalise_model
from analyzer.reports.usage import ensure_prices

CLASSES = ("input", "cache_read", "cache_write", "output")
BASE = (*CLASSES, "requests", "prompts", "api_cost")
STANDARD_WINDOWS = (300, 1440, 10080, 43200)
MAX_MODELS = 8  # per-model fits weigh the most used models apart and the rest together
OTHER_MODELS = "other models"


def snap_window(minutes: int | None) -> int | None:
    if not minutes:
        return None
    for std in STANDARD_WINDOWS:
        if abs(minutes - std) <= 0.05 * std:
            return std
    return int(minutes)


def epoch(ts: str) -> float:
    return parse_stored(ts).timestamp()


@dataclass
class Ledger:
    """One account's calls (every agent's): times (epoch seconds, sorted) and cumulative column sums."""

    agent: str  # the account whose calls these are (the owner of the streams fitted against it)
    secs: list[float]
    columns: list[str]
    cum: list[list[float]]  # cum[j] = sums over calls 0..j-1
    models: list[str]  # models with their own columns, main model first
    unpriced: int = 0
    has_cache_writes: bool = True

    @property
    def first(self) -> float | None:
        return self.secs[0] if self.secs else None

    @property
    def last(self) -> float | None:
        return self.secs[-1] if self.secs else None

    def index(self, name: str) -> int:
        return self.columns.index(name)

    def upto(self, t: float) -> int:
        """How many calls happened at or before ``t``."""
        return bisect_right(self.secs, t)

    def since(self, t: float) -> int:
        return bisect_left(self.secs, t)

    def between(self, start: float, end: float) -> list[float]:
        """Column sums over calls with ``start <= ts <= end``."""
        a, b = self.since(start), self.upto(end)
        if b <= a:
            return [0.0] * len(self.columns)
        hi, lo = self.cum[b], self.cum[a]
        return [h - low for h, low in zip(hi, lo)]

    def idle(self, start: float, end: float, gap: float) -> bool:
        """Whether no call happened for ``gap`` seconds somewhere in ``[start, end]``."""
        a, b = self.since(start), self.upto(end)
        prev = start
        for j in range(a, b):
            if self.secs[j] - prev >= gap:
                return True
            prev = self.secs[j]
        return end - prev >= gap

    def last_call(self, start: float, end: float) -> list[float] | None:
        """The columns of the last call in ``[start, end)``, or None."""
        a, b = self.since(start), self.since(end)
        if b <= a:
            return None
        return [h - low for h, low in zip(self.cum[b], self.cum[b - 1])]


def load_ledger(db: sqlite_utils.Database, owner: str | None, scope: str | None = None) -> Ledger:
    """The account's calls, from every agent (only those of models matching ``scope`` when it names a model
    family)."""
    ensure_prices(db)
    rows = db.execute(
        "select ts, model, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, trigger, cost_usd"
        " from priced_requests where account is ? order by ts",
        [owner],
    ).fetchall()
    if scope:
        wanted = scope.lower()
        scoped = [r for r in rows if r[1] and wanted in r[1].lower()]
        rows = scoped or rows
    counts: dict[str, int] = {}
    for r in rows:
        name = normalise_model(r[1]) if r[1] else "unknown"
        counts[name] = counts.get(name, 0) + 1
    ranked = sorted(counts, key=lambda m: (-counts[m], m))
    models = ranked[:MAX_MODELS]
    if len(ranked) > MAX_MODELS:
        models[-1] = OTHER_MODELS
    columns = list(BASE) + [f"{c}@{m}" for m in models for c in CLASSES]
    width = len(columns)
    model_pos = {m: len(BASE) + 4 * i for i, m in enumerate(models)}
    by_trigger = any(r[6] == "prompt" for r in rows)
    prompt_times: list[float] = []
    if not by_trigger:
        prompt_times = sorted(
            epoch(ts) for (ts,) in db.execute("select ts from prompts where account is ? and is_sidechain = 0", [owner])
        )
    secs: list[float] = []
    cum: list[list[float]] = [[0.0] * width]
    unpriced = 0
    writes = False
    running = [0.0] * width
    for ts, model, inp, cr, cw, out, trigger, cost in rows:
        t = epoch(ts)
        row = running[:]
        tokens = (inp or 0, cr or 0, cw or 0, out or 0)
        for i, v in enumerate(tokens):
            row[i] += v
        row[4] += 1
        row[5] += 1 if (by_trigger and trigger == "prompt") else 0
        if cost is None:
            unpriced += 1
        else:
            row[6] += cost
        writes = writes or bool(cw)
        pos = model_pos.get(normalise_model(model) if model else "unknown", model_pos.get(OTHER_MODELS, len(BASE)))
        for i, v in enumerate(tokens):
            row[pos + i] += v
        secs.append(t)
        cum.append(row)
        running = row
    ledger = Ledger(owner, secs, columns, cum, models, unpriced, writes)
    if prompt_times:
        _merge_prompts(ledger, prompt_times)
    return ledger


def _merge_prompts(ledger: Ledger, prompt_times: list[float]) -> None:
    """Count prompts from the prompts table (agents whose calls do not say which one a prompt started)."""
    k = ledger.index("prompts")
    j = 0
    for i, t in enumerate(ledger.secs, start=1):
        while j < len(prompt_times) and prompt_times[j] <= t:
            j += 1
        ledger.cum[i][k] = float(j)


@dataclass
class Reading:
    t: float
    observed_at: str
    percent: float
    resets: float | None
    source: str


@dataclass
class Hit:
    t: float
    ts: str
    reset: float | None
    limit_type: str | None


@dataclass
class Stream:
    """Everything known about one window of one account's plan: readings and limit hits, whatever agent logged them."""

    agent: str  # the account's main agent (most calls), for the catalogue's stated figure and the table's key
    plan: str | None
    account: str | None
    scope: str | None
    minutes: int
    readings: list[Reading] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)  # every agent that spends the account

    @property
    def key(self) -> str:
        return "|".join([self.agent, self.plan or "", self.account or "", self.scope or "", str(self.minutes)])

    @property
    def owner(self) -> str | None:
        """Whose usage fills this window: the account, whose ledger (every agent's calls) it is fitted against."""
        return self.account


def _owners(db: sqlite_utils.Database) -> dict[str | None, list[str]]:
    """Every account's agents, the one with most calls first (then by name)."""
    counts: dict[str | None, dict[str, int]] = {}
    for table in ("requests", "quota_readings", "limit_hits"):
        for account, agent, n in db.execute(f"select account, agent, count(*) from {table} group by account, agent"):
            mine = counts.setdefault(account, {})
            mine[agent] = mine.get(agent, 0) + (n if table == "requests" else 0)
    return {a: sorted(c, key=lambda agent: (-c[agent], agent)) for a, c in counts.items()}


def load_streams(
    db: sqlite_utils.Database, agents: tuple[str, ...] = (), accounts: tuple[str, ...] = ()
) -> list[Stream]:
    """Readings and hits grouped into streams per account, oldest reading first. ``agents`` keeps the accounts
    those agents used (whole: every agent's evidence), ``accounts`` those accounts."""
    ensure_prices(db)  # and every row's account
    owners = _owners(db)
    wanted = set(owners)
    if agents:
        wanted = {a for a, seen in owners.items() if set(seen) & set(agents)}
    if accounts:
        wanted &= set(accounts)
    streams: dict[tuple, Stream] = {}
    seen: set[tuple] = set()
    rows = [
        r
        for r in db.execute(
            "select agent, observed_at, used_percent, window_minutes, resets_at, plan_type, scope, source, account"
            " from quota_readings order by observed_at"
        ).fetchall()
        if r[8] in wanted
    ]
    plans: dict[tuple, set] = {}
    for _, _, _, minutes, _, plan, scope, _, account in rows:
        if plan:
            plans.setdefault((account, snap_window(minutes), scope), set()).add(plan)

    def stream_of(key: tuple) -> Stream:
        if key not in streams:
            account = key[1]
            main = (owners.get(account) or ["?"])[0]
            streams[key] = Stream(main, key[0], account, key[2], key[3], agents=sorted(owners.get(account) or []))
        return streams[key]

    for _agent, observed, percent, minutes, resets, plan, scope, source, account in rows:
        minutes = snap_window(minutes)
        if minutes is None or percent is None:
            continue
        if not plan:
            known = plans.get((account, minutes, scope), set())
            plan = next(iter(known)) if len(known) == 1 else None
        dup = (plan, account, scope, minutes, observed, percent, resets)
        if dup in seen:
            continue  # the same reading from two sources
        seen.add(dup)
        stream_of((plan, account, scope, minutes)).readings.append(
            Reading(epoch(observed), observed, float(percent), epoch(resets) if resets else None, source)
        )
    for account, ts, reset, minutes, limit_type in db.execute(
        "select account, ts, reset_at, window_minutes, limit_type from limit_hits order by ts"
    ).fetchall():
        if account not in wanted or not is_plan_window(limit_type):
            continue  # another account's, or no plan window (a rate limit, a spend cap, ...)
        t = epoch(ts)
        r = epoch(reset) if reset else None
        minutes = snap_window(minutes)
        if minutes is None:
            if r is None:
                continue
            minutes = 300 if r - t <= 5 * 3600 + 60 else 10080
        matches = [s for k, s in streams.items() if k[1] == account and k[3] == minutes and k[2] is None]
        stream = matches[0] if len(matches) == 1 else stream_of((None, account, None, minutes))
        stream.hits.append(Hit(t, ts, r, limit_type))
    return sorted(streams.values(), key=lambda s: (s.account or "", s.plan or "", s.minutes, s.scope or ""))
