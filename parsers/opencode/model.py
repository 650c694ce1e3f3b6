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

Limits (``LimitHit``): see ``limits``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import orjson
from analyzer.parsers.opencode.limits import limit_hits
from analyzer.parsers.opencode.values import AGENT, count, created_ms, digest, ms

from analyzer.api import BadLine, BadValue, Prompt, Record, Request, Session, utc_iso

MAX_MESSAGE_MS = 24 * 3600 * 1000  # how long one assistant message may plausibly run

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
        return ms(time.get("completed")) if isinstance(time, dict) else None


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
    out = max(count(tokens.get("output"), "output"), 0)
    reasoning = max(count(tokens.get("reasoning"), "reasoning"), 0)
    if not reasoning:
        return out, 0
    cache = tokens.get("cache") if isinstance(tokens.get("cache"), dict) else {}
    base = (
        count(tokens.get("input"), "input")
        + out
        + count(cache.get("read"), "cache.read")
        + count(cache.get("write"), "cache.write")
    )
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
    read = max(count(cache.get("read"), "cache.read"), 0)
    write = max(count(cache.get("write"), "cache.write"), 0)
    raw_input = count(tokens.get("input"), "input")
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
        key=f"{AGENT}:prompt:{digest(created, text)}",
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
        try:
            kind = classify_user(m, source.parts(m.id), info, in_child=False)
        except Exception:  # a message that cannot be read is reported where it is read itself
            continue
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
        # One message that cannot be read is a bad record of its own; the others go on.
        try:
            records = list(_message(m, source, info, in_child, walk))
        except BadValue as exc:
            records = [BadLine(_ref(m.id), "bad_value", f"message {m.id}: {exc}")]
        except Exception as exc:
            records = [BadLine(_ref(m.id), "bad_shape", f"message {m.id}: {type(exc).__name__}: {exc}")]
        if wanted is None or m.id in wanted:
            yield from records


def _message(m: Message, source: Source, info: SessionInfo, in_child: bool, walk: _Walk) -> Iterator[Record]:
    if m.role == "user":
        kind = classify_user(m, source.parts(m.id), info, in_child)
        walk.chains[m.id] = _Chain(kind)
        if kind.prompt:
            walk.prompt_key = kind.prompt.key
            yield kind.prompt
    elif m.role == "assistant":
        yield from _assistant(m, source.parts(m.id), walk)
    # other roles: not in any version read; nothing to count


def _ref(message_id: str) -> int:
    """A stable number for a message, so each bad message is its own ``ingest_errors`` entry."""
    return int(digest("message", message_id)[:12], 16)


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
            key = f"{AGENT}:{digest(anchor, provider, model, position, orjson.dumps(tokens, option=orjson.OPT_SORT_KEYS).decode())}"
            calls.append((key, tokens, _step_ts(m, part), True, "step-finish"))
    else:
        tokens = data.get("tokens") if isinstance(data.get("tokens"), dict) else {}
        if not usage_of(tokens, provider).is_zero():
            calls.append(
                (
                    f"{AGENT}:{digest(anchor, provider, model, 'message')}",
                    tokens,
                    utc_iso(created),
                    m.completed is not None,
                    "message",
                )
            )
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
    yield from limit_hits(m, parts)


def _step_ts(m: Message, part: Part) -> str:
    """When a step finished: the store's row time when it lies within the
    message's life (up to its completion, or a day while it runs: rows migrated
    from JSON carry the migration's time), else when the message began."""
    created, completed, t = m.created, m.completed, part.time_created
    end = completed if completed is not None else created + MAX_MESSAGE_MS
    if t is not None and created <= t <= end:
        return utc_iso(t)
    return utc_iso(created)
