"""The records parsers yield: typed, frozen, and independent of any database.

Token semantics are the same for every agent, whatever its vendor's convention:
``input_tokens`` (uncached input), ``cache_read_tokens``, ``cache_write_tokens``
and ``output_tokens`` are disjoint and sum to the request's total;
``reasoning_tokens`` is the part of ``output_tokens`` that was reasoning (a
subset, never added again). Parsers normalise: Codex, Gemini and Qwen count
cached tokens inside input and must subtract them; Gemini and Qwen report
thoughts outside output and must add them.

Timestamps are ISO-8601 UTC strings with milliseconds and a ``Z``
(``2026-07-03T10:00:00.572Z``), so that they sort as text; ``utc_iso`` makes them.

Every record has a ``key`` that identifies the thing it describes (a model call,
a typed prompt, a refusal, a reading), so that reading the same line twice, from
the same file or a copy of it, updates one row instead of adding another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Trigger = Literal["prompt", "tool_result", "subagent", "compaction", "other"]
TRIGGERS: tuple[str, ...] = ("prompt", "tool_result", "subagent", "compaction", "other")


@dataclass(frozen=True, slots=True)
class Request:
    """One model call, with its usage split into four disjoint token classes."""

    key: str
    agent: str
    session_id: str
    ts: str
    model: str | None = None
    provider: str | None = None
    project: str | None = None
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_5m_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    trigger: str = "other"
    prompt_key: str | None = None
    is_sidechain: bool = False
    complete: bool = True
    speed: str | None = None
    raw_usage: dict[str, Any] | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Prompt:
    """One message a person typed (not a tool result, injected text or command)."""

    key: str
    agent: str
    session_id: str
    ts: str
    text: str = ""
    project: str | None = None
    is_sidechain: bool = False


@dataclass(frozen=True, slots=True)
class LimitHit:
    """A request the plan refused, with the reset time when the log gives one."""

    key: str
    agent: str
    session_id: str | None
    ts: str
    reset_at: str | None = None
    window_minutes: int | None = None
    limit_type: str | None = None
    message: str | None = None
    model: str | None = None
    provider: str | None = None  # where the refused call went, as ``Request.provider``


@dataclass(frozen=True, slots=True)
class QuotaReading:
    """An official "% used" reading of one plan window."""

    key: str
    agent: str
    observed_at: str
    used_percent: float
    window_minutes: int | None = None
    resets_at: str | None = None
    plan_type: str | None = None
    scope: str | None = None
    source: str = "log"
    account: str | None = None
    raw: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """What a parser knows of a session; several records of one session merge."""

    agent: str
    session_id: str
    project: str | None = None
    cwd: str | None = None
    parent_session_id: str | None = None
    client_version: str | None = None
    title: str | None = None
    is_subagent: bool = False


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line the parser could not use: corrupt JSON, a wrong shape, an unknown type.

    Kind ``ignored`` is not an error: a line of a type the parser does not know
    that carries nothing to count (no usage). It is kept, so ``analyzer db errors
    --all`` can show it, but an ingest never reports it as skipped.
    """

    offset: int
    kind: Literal["corrupt", "bad_shape", "unknown_type", "unrecognised_file", "parser_error", "ignored", "bad_value"]
    reason: str
    snippet: str = field(default="", repr=False)


Record = Request | Prompt | LimitHit | QuotaReading | Session | BadLine
