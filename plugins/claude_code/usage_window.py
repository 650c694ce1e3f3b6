"""The current plan window and what the ledger says was used in it.

Kept small and free of heavy imports (plain ``sqlite3`` connections, plain
classes rather than dataclasses, whose import costs milliseconds), because
the statusline calls it on every render; ``analyzer status`` can call the same
functions so that the terminal and the statusline never disagree.

A window is *anchored* when a vendor reading gives its reset time: a 5-hour
window resetting at R is ``[R - 5h, R)``. Without one it is *estimated* the way
``analyzer.windows`` estimates blocks (first request floored to the hour, a
new block at the first request after five hours), from the requests of the
last ``LOOKBACK`` only: a run of activity with no five-hour gap that began
before the lookback is cut there. That is rare and said in the window's kind.

Which requests count: those of the account of the model in use, from every
agent and machine (``account_of``: the account of this session's latest call,
else of the latest call of the same model, else the vendor of the model and of
Claude Code's gateway), because Claude Code pointed at another vendor's gateway
(GLM, Kimi, MiniMax) spends that vendor's plan, not Claude's, and OpenCode or
another machine spending the same plan fills the same window. Rows are read as
stored (attributed by the writer; the statusline never attributes).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

from analyzer.contract import timeutil
from analyzer.contract.timeutil import format_utc as stored
from analyzer.contract.timeutil import ms_stored, stored_ms
from analyzer.windows import rule

UTC = timezone.utc
LOOKBACK = timedelta(hours=24)


class Window:
    """A plan window ``[start, end)`` in stored-form instants; ``kind`` is anchored or estimated."""

    __slots__ = ("start", "end", "minutes", "kind")

    def __init__(self, start: str, end: str, minutes: int, kind: str):
        self.start, self.end, self.minutes, self.kind = start, end, minutes, kind

    def __eq__(self, other) -> bool:
        return isinstance(other, Window) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"Window({self.start!r}, {self.end!r}, {self.minutes}, {self.kind!r})"

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "minutes": self.minutes, "kind": self.kind}


class Usage:
    """Requests and the four disjoint token sums of a window."""

    __slots__ = ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")

    def __init__(self, requests=0, input_tokens=0, cache_read_tokens=0, cache_write_tokens=0, output_tokens=0):
        self.requests, self.input_tokens, self.cache_read_tokens = requests, input_tokens, cache_read_tokens
        self.cache_write_tokens, self.output_tokens = cache_write_tokens, output_tokens

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__} | {"total_tokens": self.total_tokens}

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens + self.output_tokens

    @property
    def cache_ratio(self) -> float | None:
        """cache_read / (input + cache_read + cache_write); None when nothing was read in."""
        denominator = self.input_tokens + self.cache_read_tokens + self.cache_write_tokens
        return self.cache_read_tokens / denominator if denominator else None


def parse_stored(text: str) -> datetime:
    """A stored-form instant (``2026-07-03T10:00:00.572Z``) as an aware datetime; fast, and
    never failing on a row written before validation (``timeutil.parse_stored`` clamps it)."""
    try:
        return datetime.fromisoformat(text[:23]).replace(tzinfo=UTC)
    except (ValueError, TypeError):
        return timeutil.parse_stored(text)


RECENT_CALLS = 200  # how far back the account of the model in use is looked for


def account_of(conn: sqlite3.Connection, agent: str, session_id: str | None, model: str | None, now: datetime, env):
    """The account the model in use spends: the account of this session's latest call, else of the latest call
    of the same model (among the agent's last ``RECENT_CALLS`` within ``LOOKBACK``), else the vendor of Claude
    Code's gateway or of the model name (None: unknown)."""
    recent = conn.execute(
        "select account, session_id, model from requests indexed by requests_agent_ts where agent = ? and ts >= ?"
        " and account is not null order by ts desc limit ?",
        [agent, stored(now - LOOKBACK), RECENT_CALLS],
    ).fetchall()
    for column, value in ((1, session_id), (2, model)):
        found = next((row[0] for row in recent if value and row[column] == value), None)
        if found is not None:
            return found
    from analyzer.contract import vendors  # the first render of a session only

    base = env.get("ANTHROPIC_BASE_URL") or ""
    host = base.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    found, _ = vendors.vendor_of_provider(host) if host else (None, "")
    found = found or vendors.vendor_of_model(model)
    return found.id if found else None


def anchored(resets_at: str, minutes: int) -> Window:
    end = parse_stored(resets_at)
    return Window(stored(end - timedelta(minutes=minutes)), resets_at, minutes, "anchored")


def estimated(conn: sqlite3.Connection, account: str | None, now: datetime) -> Window | None:
    """The active estimated 5-hour window of ``account`` at ``now``, or None when idle.

    Windows are placed by ``analyzer.windows.rule``: each opened by the first
    request at or after the previous one's end, so they are found by a few
    index seeks, not by reading every request.
    """
    where = "account = ? and ts >= ? and ts <= ?"
    upto = stored(now)
    first = conn.execute(
        f"select min(ts) from requests where {where}", [account, stored(now - LOOKBACK), upto]
    ).fetchone()[0]
    window = None
    while first:
        found = rule.estimated_at(stored_ms(first), rule.FIVE_HOURS)
        window = Window(ms_stored(found.start), ms_stored(found.end), 300, "estimated")
        first = conn.execute(f"select min(ts) from requests where {where}", [account, window.end, upto]).fetchone()[0]
    if window is None or now >= parse_stored(window.end):
        return None
    return window


# An account's calls in a window: one range of the covering index in (account, hour) order.
_IN_WINDOW = (
    "from requests indexed by requests_account_hourly where account = ? and substr(ts, 1, 13) >= ?"
    " and substr(ts, 1, 13) <= ? and ts >= ? and ts < ?"
)


def _span(account: str | None, window: Window) -> list:
    return [account, window.start[:13], window.end[:13], window.start, window.end]


def window_usage(conn: sqlite3.Connection, account: str | None, window: Window) -> Usage:
    """Requests and disjoint token sums of ``account`` (every agent and machine) in ``[window.start, window.end)``."""
    row = conn.execute(
        "select count(*), coalesce(sum(input_tokens), 0), coalesce(sum(cache_read_tokens), 0),"
        f" coalesce(sum(cache_write_tokens), 0), coalesce(sum(output_tokens), 0) {_IN_WINDOW}",
        _span(account, window),
    ).fetchone()
    return Usage(*row)


def latest_reading(conn: sqlite3.Connection, account: str | None, minutes: int, now: datetime) -> tuple | None:
    """The newest stored reading of the account's window still running: (used_percent, resets_at, source)."""
    return conn.execute(
        "select used_percent, resets_at, source from quota_readings"
        " where account = ? and window_minutes = ? and scope is null and resets_at > ?"
        " order by observed_at desc limit 1",
        [account, minutes, stored(now)],
    ).fetchone()


# Quantities an inferred limit may be counted in, as SQL over ``requests``.
QUANTITIES = {
    "total_tokens": "coalesce(sum(input_tokens + cache_read_tokens + cache_write_tokens + output_tokens), 0)",
    "tokens": "coalesce(sum(input_tokens + cache_read_tokens + cache_write_tokens + output_tokens), 0)",
    "uncached_input_output": "coalesce(sum(input_tokens + output_tokens), 0)",
    "uncached_input_plus_output": "coalesce(sum(input_tokens + output_tokens), 0)",
    "fresh_input_output": "coalesce(sum(input_tokens + output_tokens), 0)",
    "output_tokens": "coalesce(sum(output_tokens), 0)",
    "requests": "count(*)",
    # infer-limit's candidate names (its ``quantity`` column says only "tokens" for any weighted sum)
    "all_tokens": "coalesce(sum(input_tokens + cache_read_tokens + cache_write_tokens + output_tokens), 0)",
    "uncached_io": "coalesce(sum(input_tokens + output_tokens), 0)",
    "fresh_tokens": "coalesce(sum(input_tokens + cache_write_tokens + output_tokens), 0)",
    "output": "coalesce(sum(output_tokens), 0)",
}


def _normal(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def limit_estimate(conn: sqlite3.Connection, account: str | None, minutes: int) -> tuple[str, float] | None:
    """(quantity, limit) of the account's window from a ``limit_estimates`` table if one exists with those columns.

    The table belongs to infer-limit; it is read defensively: absent table or
    columns give None. Among several rows, one marked best (``best``/``is_best``)
    or ranked first (``rank``) wins, then the newest.
    """
    try:
        cols = {r[1] for r in conn.execute("pragma table_info(limit_estimates)")}
        if not {"account", "window_minutes", "quantity", "limit"} <= cols:
            return None
        order = []
        for flag in ("best", "is_best"):
            if flag in cols:
                order.append(f"coalesce({flag}, 0) desc")
        if "rank" in cols:
            order.append("rank is null, rank")
        for stamp in ("computed_at", "updated_at", "created_at", "fitted_at"):
            if stamp in cols:
                order.append(f"{stamp} desc")
        order.append("rowid desc")
        quantity = "coalesce(candidate, quantity)" if "candidate" in cols else "quantity"
        row = conn.execute(
            f'select {quantity}, "limit" from limit_estimates where account = ? and window_minutes = ? and "limit" > 0'
            f" order by {', '.join(order)} limit 1",
            [account, minutes],
        ).fetchone()
    except sqlite3.Error:
        return None
    if not row or row[1] is None:
        return None
    return str(row[0]), float(row[1])


def quantity_used(conn: sqlite3.Connection, account: str | None, window: Window, quantity: str) -> float | None:
    """How much of ``quantity`` the ledger counts in the account's window; None for quantities it cannot compute."""
    expr = QUANTITIES.get(_normal(quantity))
    if expr is None:
        return None
    return conn.execute(f"select {expr} {_IN_WINDOW}", _span(account, window)).fetchone()[0]
