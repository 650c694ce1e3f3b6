"""OpenCode sessions to records: the rules shared by the SQLite store and the JSON tree.

Both on-disk forms hold the same three things: sessions, messages (a ``data``
JSON object each) and parts (likewise). A ``Source`` serves them; the
functions here turn one session into ``Session``, ``Request``, ``Prompt`` and
``LimitHit`` records.

Requests. One assistant message may span several model calls ("steps"). The
agent writes a ``step-finish`` part per step with that step's tokens, adds each
step's cost to the message, but *overwrites* the message's tokens with the last
step's. So a message with ``step-finish`` parts yields one request per part; a
message without any (old versions) yields one request from its own tokens, and
only if they are not all zero (the assistant messages OpenCode writes for
``!shell`` commands and subtasks call no model). Never both.

Keys are made from content, not row ids: ``Session.fork`` copies messages and
parts under new ids, and the JSON tree and the SQLite store it was migrated
into hold the same messages, so the key of a step is a digest of the message's
creation time (ms), provider, model, the step's position and its tokens. Copies
collapse; a re-read upserts.

Tokens, per step: ``input`` is uncached input (the agent subtracts cache
reads and writes; where that made it negative, the provider had reported input
without cache, and the sum is restored); ``cache.read``; ``cache.write``;
``reasoning`` is reported beside ``output``. Whether ``output`` already holds
the reasoning depends on the version (see ``split_output``).

Prompts: a user message with at least one text part that is neither
``synthetic`` nor ``ignored``, in a session without a parent. A message with
a ``compaction`` part asks for a summary; one with a ``subtask`` part runs a
subagent (a command run as a subtask carries no text part); neither is a
prompt. Child sessions (``parent_id``) are subagents: their user messages are
the parent model's instructions, their requests are sidechain calls with
trigger ``subagent``, linked to the parent's prompt in effect when the child
was created.

Triggers: the first request answering a user message gets that message's kind
(``prompt``, ``compaction``, ``tool_result`` after a subtask, ``other`` after
a synthetic message); the rest of its chain follows tool results. A summary
message (``summary: true``) is a compaction call throughout.

Limits: an assistant message whose ``error`` is an ``APIError`` with status
429, and each ``retry`` part recording a 429, is a ``LimitHit``; the reset
comes from the response headers or body when they give one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

import orjson

from analyzer.records import LimitHit, Prompt, Record, Request, Session
from analyzer.timeutil import format_utc, from_epoch, utc_iso

AGENT = "opencode"

# Part types the records depend on; the others (tool output, patches, reasoning
# text, snapshots, ...) are never read.
NEEDED_PARTS = ("step-finish", "compaction", "subtask", "retry", "text")


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    parent_id: str | None = None
    directory: str | None = None
    version: str | None = None
    created: int | None = None  # epoch ms


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    session_id: str
    data: dict

    @property
    def role(self) -> str | None:
        return self.data.get("role")

    @property
    def created(self) -> int | None:
        return created_ms(self.data)

    @property
    def completed(self) -> int | None:
        time = self.data.get("time")
        return _ms(time.get("completed")) if isinstance(time, dict) else None


@dataclass(frozen=True, slots=True)
class Part:
    id: str
    message_id: str
    data: dict
    time_created: int | None = None  # the store's row time (ms), when there is one

    @property
    def type(self) -> str | None:
        return self.data.get("type")


class Source(Protocol):
    """Sessions, messages and parts, from whichever form is on disk."""

    def session(self, session_id: str) -> SessionInfo | None: ...

    def messages(self, session_id: str) -> list[Message]:
        """The session's messages in creation order (their ids ascend with time)."""
        ...

    def parts(self, message_id: str) -> list[Part]:
        """The message's parts of the ``NEEDED_PARTS`` types, in order."""
        ...


def _ms(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def created_ms(data: dict) -> int | None:
    """``time.created`` (epoch ms) of a message or session object."""
    time = data.get("time")
    return _ms(time.get("created")) if isinstance(time, dict) else None


def _int(value) -> int:
    if isinstance(value, bool):
        return 0
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _digest(*fields) -> str:
    return hashlib.sha1("\x1f".join(str(f) for f in fields).encode()).hexdigest()[:32]


# --- tokens ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    input: int
    cache_read: int
    cache_write: int
    output: int  # reasoning included
    reasoning: int

    def is_zero(self) -> bool:
        return not (self.input or self.cache_read or self.cache_write or self.output or self.reasoning)


def split_output(tokens: dict, provider: str | None) -> tuple[int, int]:
    """``(output with reasoning, reasoning)`` from an OpenCode ``tokens`` object.

    Versions built on AI SDK v6 store ``output`` without the reasoning
    (``outputTokens - reasoningTokens``); earlier ones stored the SDK's
    ``outputTokens``, which holds the reasoning for OpenAI-style providers and
    not for Google's. Where the message records its ``total``, the total says
    which: it equals the other four counts plus reasoning when reasoning is
    separate, and the four alone when it is included. Without a deciding total:
    reasoning larger than output cannot be part of it; Google reports it apart;
    other providers count it inside.
    """
    out = max(_int(tokens.get("output")), 0)
    reasoning = max(_int(tokens.get("reasoning")), 0)
    if not reasoning:
        return out, 0
    cache = tokens.get("cache") if isinstance(tokens.get("cache"), dict) else {}
    base = _int(tokens.get("input")) + out + _int(cache.get("read")) + _int(cache.get("write"))
    total = tokens.get("total")
    if isinstance(total, (int, float)) and not isinstance(total, bool) and total > 0:
        if total == base + reasoning:
            return out + reasoning, reasoning
        if total == base and reasoning <= out:
            return out, reasoning
    if reasoning > out or (provider or "").startswith("google"):
        return out + reasoning, reasoning
    return out, reasoning


def usage_of(tokens, provider: str | None) -> Usage:
    if not isinstance(tokens, dict):
        return Usage(0, 0, 0, 0, 0)
    cache = tokens.get("cache") if isinstance(tokens.get("cache"), dict) else {}
    read = max(_int(cache.get("read")), 0)
    write = max(_int(cache.get("write")), 0)
    raw_input = _int(tokens.get("input"))
    if raw_input < 0:
        # The agent subtracted cached tokens from a count that never held them.
        raw_input += read + write
    output, reasoning = split_output(tokens, provider)
    return Usage(max(raw_input, 0), read, write, output, reasoning)


# --- user messages ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserKind:
    trigger: str  # what the first call answering it is triggered by
    prompt: Prompt | None = None


def classify_user(message: Message, parts: list[Part], session: SessionInfo, in_child: bool) -> UserKind:
    types = {p.type for p in parts}
    if "compaction" in types:
        return UserKind("compaction")
    if "subtask" in types:
        return UserKind("tool_result")  # the subagent's result comes back to the parent
    texts = [
        str(p.data.get("text") or "")
        for p in parts
        if p.type == "text" and not p.data.get("synthetic") and not p.data.get("ignored")
    ]
    if not texts or in_child:
        return UserKind("subagent" if in_child else "other")
    created = message.created
    if created is None:
        return UserKind("other")
    text = "\n".join(texts)
    prompt = Prompt(
        key=f"{AGENT}:prompt:{_digest(created, text)}",
        agent=AGENT,
        session_id=message.session_id,
        ts=utc_iso(created),
        text=text,
        project=session.directory,
    )
    return UserKind("prompt", prompt)


def prompt_in_effect(source: Source, session_id: str, at_ms: int | None, _depth: int = 0) -> str | None:
    """The key of the latest typed prompt of the session's root, at ``at_ms``."""
    info = source.session(session_id) or SessionInfo(session_id)
    if info.parent_id and _depth < 16:
        return prompt_in_effect(source, info.parent_id, info.created if info.created is not None else at_ms, _depth + 1)
    latest = None
    for m in source.messages(session_id):
        if m.role != "user":
            continue
        if at_ms is not None and m.created is not None and m.created > at_ms:
            break
        kind = classify_user(m, source.parts(m.id), info, in_child=False)
        if kind.prompt:
            latest = kind.prompt.key
    return latest


# --- sessions -----------------------------------------------------------------------


@dataclass
class _Chain:
    kind: UserKind
    answered: bool = False  # a request answering this user message was seen


@dataclass
class _Walk:
    info: SessionInfo
    in_child: bool
    prompt_key: str | None
    chains: dict[str, _Chain] = field(default_factory=dict)


def session_records(source: Source, session_id: str, only: Iterable[str] | None = None) -> Iterator[Record]:
    """Every record of one session; with ``only``, those of the named messages
    (and the prompts they answer)."""
    info = source.session(session_id) or SessionInfo(session_id)
    in_child = bool(info.parent_id)
    wanted = set(only) if only is not None else None
    messages = source.messages(session_id)
    if wanted is not None:
        wanted |= {str(m.data.get("parentID")) for m in messages if m.id in wanted and m.data.get("parentID")}
    cwd = next((m.data["path"].get("cwd") for m in messages if isinstance(m.data.get("path"), dict)), None)
    yield Session(
        agent=AGENT,
        session_id=session_id,
        project=info.directory or cwd,
        cwd=info.directory or cwd,
        parent_session_id=info.parent_id,
        client_version=info.version,
        is_subagent=in_child,
    )
    walk = _Walk(info, in_child, prompt_in_effect(source, info.parent_id, info.created) if in_child else None)
    for m in messages:
        if m.role == "user":
            kind = classify_user(m, source.parts(m.id), info, in_child)
            walk.chains[m.id] = _Chain(kind)
            if kind.prompt:
                walk.prompt_key = kind.prompt.key
                if wanted is None or m.id in wanted:
                    yield kind.prompt
        elif m.role == "assistant":
            records = list(_assistant(m, source.parts(m.id), walk))
            if wanted is None or m.id in wanted:
                yield from records
        # other roles: not in any version read; nothing to count


def _assistant(m: Message, parts: list[Part], walk: _Walk) -> Iterator[Record]:
    data = m.data
    provider = data.get("providerID")
    model = data.get("modelID")
    created = m.created
    anchor = created  # readers drop messages without a creation time
    project = (data.get("path") or {}).get("cwd") if isinstance(data.get("path"), dict) else None
    project = project or walk.info.directory
    chain = walk.chains.get(str(data.get("parentID")))
    steps = [p for p in parts if p.type == "step-finish"]
    calls: list[tuple[str, dict, str, bool, str]] = []  # key, tokens, ts, complete, from
    if steps:
        for position, part in enumerate(steps):
            tokens = part.data.get("tokens") if isinstance(part.data.get("tokens"), dict) else {}
            key = f"{AGENT}:{_digest(anchor, provider, model, position, orjson.dumps(tokens, option=orjson.OPT_SORT_KEYS).decode())}"
            calls.append((key, tokens, _step_ts(m, part), True, "step-finish"))
    else:
        tokens = data.get("tokens") if isinstance(data.get("tokens"), dict) else {}
        if not usage_of(tokens, provider).is_zero():
            calls.append((f"{AGENT}:{_digest(anchor, provider, model, 'message')}", tokens, utc_iso(created), m.completed is not None, "message"))
    for key, tokens, ts, complete, origin in calls:
        if walk.in_child:
            trigger = "subagent"
        elif data.get("summary") is True:
            trigger = "compaction"
        elif chain is None:
            trigger = "other"
        elif not chain.answered:
            trigger = chain.kind.trigger
        else:
            trigger = "tool_result"
        if chain is not None:
            chain.answered = True
        usage = usage_of(tokens, provider)
        yield Request(
            key=key,
            agent=AGENT,
            session_id=m.session_id,
            ts=ts,
            model=model,
            provider=provider,
            project=project,
            input_tokens=usage.input,
            cache_read_tokens=usage.cache_read,
            cache_write_tokens=usage.cache_write,
            output_tokens=usage.output,
            reasoning_tokens=usage.reasoning,
            trigger=trigger,
            prompt_key=walk.prompt_key,
            is_sidechain=walk.in_child,
            complete=complete,
            raw_usage={"tokens": tokens, "from": origin},
        )
    yield from _limit_hits(m, parts, anchor)


def _step_ts(m: Message, part: Part) -> str:
    """When a step finished: the store's row time when it lies within the
    message's life (rows migrated from JSON carry the migration's time), else
    when the message began."""
    created, completed, t = m.created, m.completed, part.time_created
    if created is not None and completed is not None and t is not None and created <= t <= completed:
        return utc_iso(t)
    return utc_iso(created)


# --- limit hits ---------------------------------------------------------------------------


def _limit_hits(m: Message, parts: list[Part], anchor) -> Iterator[LimitHit]:
    data = m.data
    error = data.get("error")
    if _is_429(error):
        at = m.completed or m.created
        if at is not None:
            yield _hit(m, error, at, f"{AGENT}:hit:{_digest(anchor, data.get('providerID'), data.get('modelID'), 'error')}")
    for part in parts:
        if part.type != "retry" or not _is_429(part.data.get("error")):
            continue
        at = _ms((part.data.get("time") or {}).get("created")) or part.time_created or m.created
        if at is not None:
            attempt = part.data.get("attempt")
            key = f"{AGENT}:hit:{_digest(anchor, data.get('providerID'), data.get('modelID'), 'retry', attempt, at)}"
            yield _hit(m, part.data["error"], at, key)


def _is_429(error) -> bool:
    if not isinstance(error, dict) or error.get("name") != "APIError":
        return False
    detail = error.get("data")
    return isinstance(detail, dict) and _int(detail.get("statusCode")) == 429


def _hit(m: Message, error: dict, at_ms: int, key: str) -> LimitHit:
    detail = error.get("data") or {}
    headers = detail.get("responseHeaders") if isinstance(detail.get("responseHeaders"), dict) else {}
    reset_at, window, limit_type = reset_from(headers, detail.get("responseBody"), at_ms)
    message = detail.get("message")
    return LimitHit(
        key=key,
        agent=AGENT,
        session_id=m.session_id,
        ts=utc_iso(at_ms),
        reset_at=reset_at,
        window_minutes=window,
        limit_type=limit_type,
        message=str(message)[:500] if message else None,
        model=m.data.get("modelID"),
    )


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_ANTHROPIC_WINDOWS = (("5h", 300, "five_hour"), ("7d", 10080, "seven_day"))


def reset_from(headers: dict, body, at_ms: int) -> tuple[str | None, int | None, str]:
    """``(reset_at, window_minutes, limit_type)`` from a refused response.

    In order of trust: an absolute reset in the body (``resets_at``, as the
    ChatGPT plan returns it) or in Anthropic's unified headers; then
    ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date); then
    OpenAI-style ``x-ratelimit-reset*`` values.
    """
    h = {str(k).lower(): str(v).strip() for k, v in headers.items()}
    window, limit_type = None, "rate_limit"
    for name, minutes, kind in _ANTHROPIC_WINDOWS:
        if h.get(f"anthropic-ratelimit-unified-{name}-status") == "rejected":
            window, limit_type = minutes, kind
            break
    reset = _body_reset(body, at_ms)
    if reset is None and h.get("anthropic-ratelimit-unified-reset"):
        reset = _epoch(h["anthropic-ratelimit-unified-reset"])
    if reset is None and h.get("retry-after-ms"):
        reset = _after(at_ms, _float(h["retry-after-ms"]), scale=0.001)
    if reset is None and h.get("retry-after"):
        value = h["retry-after"]
        reset = _after(at_ms, _float(value)) if _float(value) is not None else _http_date(value)
    if reset is None:
        spans = [_duration(h[k]) for k in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens") if h.get(k)]
        spans = [s for s in spans if s is not None]
        if spans:
            reset = _after(at_ms, max(spans))
    if reset is None and h.get("x-ratelimit-reset"):
        value = _float(h["x-ratelimit-reset"])
        if value is not None:
            reset = _epoch(value) if value > 1e9 else _after(at_ms, value)
    return reset, window, limit_type


def _body_reset(body, at_ms: int) -> str | None:
    if not isinstance(body, str) or "reset" not in body:
        return None
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    for scope in (obj.get("error") if isinstance(obj, dict) else None, obj):
        if not isinstance(scope, dict):
            continue
        if _float(scope.get("resets_at")) is not None:
            return _epoch(scope["resets_at"])
        if _float(scope.get("resets_in_seconds")) is not None:
            return _after(at_ms, _float(scope["resets_in_seconds"]))
    return None


def _float(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _epoch(value) -> str | None:
    number = _float(value)
    return utc_iso(number) if number is not None and number > 0 else None


def _after(at_ms: int, seconds: float | None, scale: float = 1.0) -> str | None:
    if seconds is None or seconds < 0:
        return None
    return format_utc(from_epoch(at_ms) + timedelta(seconds=seconds * scale))


def _duration(text: str) -> float | None:
    """``"6m0s"``, ``"1h30m"``, ``"20ms"``, ``"1.5s"`` to seconds."""
    pieces = _DURATION.findall(text)
    if not pieces or "".join(n + u for n, u in pieces) != text.replace(" ", ""):
        return None
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * factor[u] for n, u in pieces)


def _http_date(text: str) -> str | None:
    try:
        return utc_iso(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        return None
