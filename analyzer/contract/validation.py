"""What a record may hold: the one check every record passes before it is written.

Parsers read whatever an agent (or a damaged disk) wrote; this module decides
whether the values they hand over are plausible. The store's writer
(``analyzer.store.writer``) applies it to every record, in the ingesting process
and in worker processes alike, so no parser can bypass it. A record that fails
becomes a ``BadLine`` (kind ``bad_value``) with a plain reason, at the offset of
the line it came from; every other record is written as usual.

The rules:

* a token count is a whole number (an ``int``, or a float with no fraction)
  from 0 to ``TOKEN_LIMIT``, which is a thousand times the largest context
  window any model has: a count above it is a corrupt or misread value, never
  a real call;
* the time a record happened (a request's, a prompt's, a limit hit's ``ts``, a
  reading's ``observed_at``) lies between ``EARLIEST`` and one day after now;
  a reset time may lie up to ``RESET_HORIZON`` ahead (billing cycles reset a
  month or more ahead);
* a "% used" reading is a finite number from 0 to ``PERCENT_LIMIT``, a window
  a whole number of minutes up to ``WINDOW_LIMIT``;
* text fields hold text (or nothing, where the field is optional), keys are
  never empty, and raw objects are JSON objects.

Parsers read counts with ``token_count``, which applies the same rule as the
log is read (and raises ``BadValue``, which ``JsonlParser`` turns into a
``bad_value`` line): a parser never truncates 12.5 to 12 or turns -5 into 0
without a word, and never does arithmetic on a count that cannot be one.

Rows written before these rules existed may break them; the reports still read
them (see ``analyzer.contract.timeutil``), and ``analyzer db check`` counts them.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from analyzer.contract.records import LimitHit, Prompt, QuotaReading, Request, Session
from analyzer.contract.timeutil import format_utc, now_utc, parse_iso

TOKEN_LIMIT = 1_000_000_000
EARLIEST = "2020-01-01T00:00:00.000Z"
FUTURE = timedelta(days=1)
RESET_HORIZON = timedelta(days=400)
PERCENT_LIMIT = 10_000.0
WINDOW_LIMIT = 400 * 24 * 60

REQUEST_COUNTS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
OPTIONAL_COUNTS = ("cache_write_5m_tokens", "cache_write_1h_tokens")


class BadValue(ValueError):
    """A value in a log that cannot be what it claims to be (a token count of -5, 12.5 or 1e30)."""


def token_count(value: Any, name: str = "token count") -> int:
    """A token count read from a log: absent (None) is 0; a whole number from 0 to
    ``TOKEN_LIMIT`` is itself; anything else raises ``BadValue`` saying why."""
    if value is None:
        return 0
    if type(value) is int and 0 <= value <= TOKEN_LIMIT:
        return value
    problem = count_problem(name, value)
    if problem:
        raise BadValue(problem)
    return int(value)


def count_problem(name: str, value: Any, *, optional: bool = False) -> str | None:
    """Why ``value`` is not a plausible token count, or None."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name} is {_show(value)}: a token count must be a number"
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        return f"{name} is {value!r}: a token count must be a whole number"
    if not 0 <= value <= TOKEN_LIMIT:
        return f"{name} is {_show(value)}: a token count must lie between 0 and {TOKEN_LIMIT:,}"
    return None


class Validator:
    """The rules, with "now" fixed when it is made (one per batch of records)."""

    def __init__(self, now: datetime | None = None):
        now = now or now_utc()
        self.latest = format_utc(now + FUTURE)
        self.latest_reset = format_utc(now + RESET_HORIZON)

    def problem(self, record) -> str | None:
        """Why ``record`` cannot be stored, or None when it can."""
        kind = type(record)
        if kind is Request:
            return self._request(record)
        if kind is Prompt:
            return (
                _text("key", record.key)
                or _text("agent", record.agent)
                or _text("session_id", record.session_id)
                or self._time("ts", record.ts, self.latest)
                or _optional_text("text", record.text)
                or _optional_text("project", record.project)
            )
        if kind is LimitHit:
            return (
                _text("key", record.key)
                or _text("agent", record.agent)
                or _optional_text("session_id", record.session_id)
                or self._time("ts", record.ts, self.latest)
                or (self._time("reset_at", record.reset_at, self.latest_reset) if record.reset_at is not None else None)
                or _window(record.window_minutes)
                or _optional_text("limit_type", record.limit_type)
                or _optional_text("message", record.message)
                or _optional_text("model", record.model)
                or _optional_text("provider", record.provider)
            )
        if kind is QuotaReading:
            return (
                _text("key", record.key)
                or _text("agent", record.agent)
                or self._time("observed_at", record.observed_at, self.latest)
                or (
                    self._time("resets_at", record.resets_at, self.latest_reset)
                    if record.resets_at is not None
                    else None
                )
                or _percent(record.used_percent)
                or _window(record.window_minutes)
                or _optional_text("plan_type", record.plan_type)
                or _optional_text("scope", record.scope)
                or _text("source", record.source)
                or _optional_text("account", record.account)
                or _object("raw", record.raw)
            )
        if kind is Session:
            return (
                _text("agent", record.agent)
                or _text("session_id", record.session_id)
                or _optional_text("project", record.project)
                or _optional_text("cwd", record.cwd)
                or _optional_text("parent_session_id", record.parent_session_id)
                or _optional_text("client_version", record.client_version)
                or _optional_text("title", record.title)
            )
        return None

    def _request(self, r: Request) -> str | None:
        for name in REQUEST_COUNTS:
            value = getattr(r, name)
            if type(value) is not int or not 0 <= value <= TOKEN_LIMIT:
                found = count_problem(name, value)
                if found:
                    return found
        for name in OPTIONAL_COUNTS:
            value = getattr(r, name)
            if value is not None and (type(value) is not int or not 0 <= value <= TOKEN_LIMIT):
                found = count_problem(name, value, optional=True)
                if found:
                    return found
        return (
            _text("key", r.key)
            or _text("agent", r.agent)
            or _text("session_id", r.session_id)
            or self._time("ts", r.ts, self.latest)
            or _optional_text("model", r.model)
            or _optional_text("provider", r.provider)
            or _optional_text("project", r.project)
            or _text("trigger", r.trigger)
            or _optional_text("prompt_key", r.prompt_key)
            or _optional_text("speed", r.speed)
            or _object("raw_usage", r.raw_usage)
        )

    def _time(self, name: str, value: Any, latest: str) -> str | None:
        if not isinstance(value, str):
            return f"{name} is {_show(value)}: not a time"
        stored = value
        if not (len(value) == 24 and value[10] == "T" and value[23] == "Z" and value[19] == "."):
            try:
                stored = format_utc(parse_iso(value))
            except (ValueError, OverflowError):
                return f"{name} is {_show(value)}: not a time"
        if stored < EARLIEST or stored > latest:
            return f"{name} is {value}: a time must lie between {EARLIEST[:10]} and {latest[:10]}"
        return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(name: str, value: Any) -> str | None:
    if isinstance(value, str) and value:
        return None
    return f"{name} is {_show(value)}: must be non-empty text"


def _optional_text(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return None
    return f"{name} is {_show(value)}: must be text"


def _object(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, dict):
        return None
    return f"{name} is {_show(value)}: must be a JSON object"


def _percent(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isfinite(value) and 0 <= value <= PERCENT_LIMIT:
            return None
    return f"used_percent is {_show(value)}: must be a number from 0 to {PERCENT_LIMIT:,.0f}"


def _window(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is int and 0 < value <= WINDOW_LIMIT:
        return None
    return f"window_minutes is {_show(value)}: must be a whole number of minutes from 1 to {WINDOW_LIMIT:,}"
