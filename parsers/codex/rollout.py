"""Codex CLI rollouts: ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl``.

Roots: every folder in ``CODEX_HOME`` (comma-separated), else ``~/.codex``; both
``sessions/`` and ``archived_sessions/`` are read. Every line is an envelope
``{"timestamp", "type", "payload"}``; the first is the thread's ``session_meta``.

How model calls are counted:

* ``event_msg``/``token_count`` carries the thread's cumulative
  ``total_token_usage``. A request is a *change* of that total: Codex re-emits
  it unchanged whenever the rate-limit snapshot refreshes, ``info: null``
  events carry only rate limits, and an all-zero total is the synthetic fill of
  a context-window overflow. The first event of a file has no baseline, so its
  ``last_token_usage`` (the last response alone) is used; so is a total that
  went down (a resumed session restarting its count). The key is the thread id
  and the cumulative total after the call, which identifies the call in any
  copy of the file (``archived_sessions/``, a ``.jsonl.zst``).
* A total that grew by more than the event's ``last_token_usage`` holds a call
  whose own ``token_count`` was never written (its turn was aborted right
  after it): the excess is a request of its own, keyed by the total after it
  and attributed to the aborted turn's prompt, and the event's own call is its
  ``last_token_usage``.
* Newer versions also write one ``token_usage_record`` per response, keyed by
  its ``response_id``, before the ``token_count`` of the same response. In a
  file that has them they are counted, and a later total change counts only
  what the records did not already cover.
* Codex counts cached tokens inside ``input_tokens`` and reasoning inside
  ``output_tokens``: uncached input is ``input - cached - cache_write``;
  reasoning is kept as the subset it is.
* A forked or subagent rollout starts with its own ``session_meta`` and then
  replays the parent's history, ``token_count`` events included. The replay is
  not counted again: its last total becomes the baseline (``replay``
  says where a replay ends). Subagent calls are sidechain calls with trigger
  ``subagent``; the parent thread is recorded on the ``Session``.

Prompts are ``event_msg``/``user_message`` (old versions: only ``kind``
absent or ``plain``) and, in the paginated history mode, ``item_completed``
``UserMessage`` items; never the injected context written as ``response_item``
user/developer messages, never tool output. Rate-limit snapshots become
``QuotaReading`` records (``limits``); a turn that ends with an
exhausted snapshot and no model call after it was refused, and becomes a
``LimitHit``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

from analyzer.parsers.codex import replay
from analyzer.parsers.codex.limits import pending_refusal, read_snapshot, readings, refusal, words_refusal

from analyzer.api import (
    BadLine,
    JsonlParser,
    Prompt,
    Record,
    Request,
    Session,
    SourceContext,
    env_paths,
    first_json_line,
    home_from,
    token_count,
    unknown_line,
    utc_iso,
)

AGENT = "codex"

ENVELOPE_TYPES = frozenset(
    {
        "session_meta",
        "turn_context",
        "response_item",
        "event_msg",
        "compacted",
        "token_usage_record",
        "world_state",
        "inter_agent_communication",
        "inter_agent_communication_metadata",
        "retained_context",
        "realtime_item",
        "agent_response_observation",
        "security_risk_score",
    }
)

# Text Codex injects as a "user" message: context, instructions, notifications.
INJECTED_PREFIXES = (
    "<environment_context>",
    "<user_instructions>",
    "# AGENTS.md instructions",
    "<recommended_plugins>",
    "<INSTRUCTIONS>",
    "<user_shell_command>",
    "<turn_aborted>",
    "<subagent_notification>",
    "<permissions instructions>",
    "<collaboration_mode>",
    "<skill>",
)
TOOL_OUTPUTS = frozenset({"function_call_output", "custom_tool_call_output", "tool_search_output"})
# Events that end a turn, or begin the next one: a pending refusal is confirmed there.
TURN_BOUNDARIES = frozenset(
    {"task_complete", "turn_complete", "turn_aborted", "task_started", "turn_started", "user_message"}
)

_ENVELOPE_START = re.compile(
    rb'\s*\{"timestamp":\s*"[^"]*",\s*(?:"ordinal":\s*\d+,\s*)?"type":\s*"([a-z_]+)",\s*"payload":\s*\{'
)
_UUID_TAIL = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$", re.I)

Usage = tuple[int, int, int, int, int, int]  # input, cached, cache_write, output, reasoning, total
ZERO: Usage = (0, 0, 0, 0, 0, 0)


def codex_roots(env: Mapping[str, str]) -> list[Path]:
    homes = env_paths(env, "CODEX_HOME") or [home_from(env) / ".codex"]
    return [home / sub for home in homes for sub in ("sessions", "archived_sessions")]


def read_usage(obj) -> Usage | None:
    """A ``TokenUsage`` object as a tuple, or None when it is not one."""
    if not isinstance(obj, dict) or "input_tokens" not in obj and "output_tokens" not in obj:
        return None
    values = []
    for name in (
        "input_tokens",
        "cached_input_tokens",
        "cache_write_input_tokens",
        "output_tokens",
        "reasoning_output_tokens",
        "total_tokens",
    ):
        values.append(token_count(obj.get(name), name))
    return tuple(values)  # type: ignore[return-value]


def _counts(usage: Usage) -> bool:
    """Did this usage call a model (any input or output)?"""
    return usage[0] > 0 or usage[3] > 0


def _minus(a: Usage, b: Usage) -> Usage:
    return tuple(max(0, x - y) for x, y in zip(a, b))  # type: ignore[return-value]


def _lost(growth: Usage, last: Usage) -> Usage | None:
    """What the total grew by beyond the event's own call, when that is a call (else None)."""
    if not _counts(last) or any(g < x for g, x in zip(growth, last)):
        return None
    rest = _minus(growth, last)
    return rest if _counts(rest) else None


def _text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _is_injected(text: str) -> bool:
    return text.lstrip().startswith(INJECTED_PREFIXES)


def _parent_of(meta: dict) -> tuple[str | None, bool]:
    """(parent thread id, is a subagent) from a ``session_meta`` payload."""
    source = meta.get("source")
    subagent = None
    if isinstance(source, dict) and "subagent" in source:
        subagent = source["subagent"]
    parent = None
    if isinstance(subagent, dict):
        spawn = subagent.get("thread_spawn")
        if isinstance(spawn, dict):
            parent = spawn.get("parent_thread_id")
    is_sub = subagent is not None or meta.get("thread_source") == "subagent"
    parent = parent or meta.get("parent_thread_id") or meta.get("forked_from_id")
    return (str(parent) if parent else None), is_sub


class CodexParser(JsonlParser):
    name = AGENT
    agent = AGENT
    env_vars = ("CODEX_HOME",)

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return codex_roots(env)

    def candidate(self, path: Path) -> bool:
        return path.suffix == ".jsonl"

    def recognise(self, path: Path, head: bytes) -> bool:
        first = first_json_line(head)
        if not isinstance(first, dict):
            # A header longer than the head read (base instructions, tool lists): match its start.
            m = _ENVELOPE_START.match(head)
            return bool(m) and m.group(1).decode() in ENVELOPE_TYPES
        if first.get("type") in ENVELOPE_TYPES and isinstance(first.get("payload"), dict) and "timestamp" in first:
            return True
        # Rollouts of the first Rust versions (spring 2025): a bare header line, no envelopes.
        return path.name.startswith("rollout-") and _is_legacy_header(first)

    # --- one line ---------------------------------------------------------------------

    def handle(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        kind = obj.get("type")
        payload = obj.get("payload")
        if not isinstance(kind, str) or not isinstance(payload, dict):
            if state.get("legacy") or (not state and _is_legacy_header(obj)):
                yield from self._legacy(obj, state, ctx)
                return
            yield BadLine(offset, "bad_shape", "not a Codex envelope {timestamp, type, payload}")
            return
        if kind not in ENVELOPE_TYPES:
            yield unknown_line(offset, kind, obj)  # ignored unless it carries usage-like fields
            return
        try:
            ts = utc_iso(obj.get("timestamp"))
        except (ValueError, OverflowError, OSError):
            ts = None
        if state.get("rp") and not replay.ends(kind, payload, ts, state):
            self._absorb(kind, payload, state)
            return
        if kind == "event_msg":
            yield from self._event(payload, ts, offset, state, ctx)
        elif kind == "response_item":
            self._response_item(payload, state)
        elif kind == "turn_context":
            yield from self._confirm_hit(state)
            self._turn_context(payload, state)
        elif kind == "session_meta":
            yield from self._session_meta(payload, ts, state, ctx)
        elif kind == "token_usage_record":
            yield from self._usage_record(payload, ts, offset, state, ctx)
        elif kind == "compacted":
            state["trig"] = "compaction"

    def _event(self, payload: dict, ts: str | None, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        etype = payload.get("type")
        if etype == "token_count":
            yield from self._token_count(payload, ts, offset, state, ctx)
            return
        if etype in TURN_BOUNDARIES:
            yield from self._confirm_hit(state)
        if etype == "user_message":
            kind = payload.get("kind")
            if kind not in (None, "plain"):
                return  # old versions: injected context sent as a user_message
            text = payload.get("message")
            text = text if isinstance(text, str) else ""
            has_images = bool(payload.get("images") or payload.get("local_images"))
            yield from self._prompt("m", text, has_images, None, ts, offset, state, ctx)
        elif etype == "item_completed":
            item = payload.get("item")
            if isinstance(item, dict) and item.get("type") == "UserMessage":
                yield from self._confirm_hit(state)
                parts = item.get("content") if isinstance(item.get("content"), list) else []
                text = "".join(
                    str(p.get("text") or "") for p in parts if isinstance(p, dict) and p.get("type") == "text"
                )
                has_images = any(isinstance(p, dict) and p.get("type") in ("image", "local_image") for p in parts)
                yield from self._prompt("i", text, has_images, item.get("id"), ts, offset, state, ctx)
        elif etype == "context_compacted":
            state["trig"] = "compaction"
        elif etype == "turn_aborted":
            state["trig"] = "other"
            if state.get("pk"):
                state["abk"] = state["pk"]  # a call of this turn may have gone unreported
        elif etype == "error" and ts:
            hit = words_refusal(payload.get("message"), ts, state.get("hit"), state.get("prov"), state.get("model"))
            if hit:
                state["hit"] = hit  # confirmed when the turn ends, like a refusal read from a snapshot

    def _absorb(self, kind: str, payload: dict, state: dict) -> None:
        """A replayed line: keep the model and the running total, count nothing."""
        if kind == "turn_context" and isinstance(payload.get("model"), str) and payload["model"]:
            state["model"] = payload["model"]
        elif kind == "event_msg" and payload.get("type") == "token_count" and isinstance(payload.get("info"), dict):
            total = read_usage(payload["info"].get("total_token_usage"))
            if total is not None:
                state["tot"] = list(total)

    # --- session and context ------------------------------------------------------------

    def _session_meta(self, meta: dict, ts: str | None, state: dict, ctx: SourceContext) -> Iterator[Record]:
        sid = meta.get("id")
        sid = str(sid) if sid else None
        if state.get("sid") and sid and sid != state["sid"]:
            # Another thread's header: the replay of a parent (or ancestor) history begins.
            replay.begin(ts, state)
            return
        yield from self._confirm_hit(state)
        state["sid"] = sid or state.get("sid") or _sid_from_path(ctx.path)
        if not state.get("meta"):
            state["meta"] = True
            parent, is_sub = _parent_of(meta)
            if parent:
                state["par"] = parent
            if is_sub:
                state["sub"] = True
            replay.remember_fork_instant(state["sid"], ts, state)
        if isinstance(meta.get("cwd"), str):
            state["cwd"] = meta["cwd"]
        if isinstance(meta.get("model_provider"), str):
            state["prov"] = meta["model_provider"]
        marker = [state["sid"], state.get("cwd"), meta.get("cli_version")]
        if state.get("s") != marker:
            state["s"] = marker
            yield Session(
                agent=AGENT,
                session_id=state["sid"],
                project=state.get("cwd"),
                cwd=state.get("cwd"),
                parent_session_id=state.get("par"),
                client_version=meta.get("cli_version") if isinstance(meta.get("cli_version"), str) else None,
                is_subagent=bool(state.get("sub")),
            )

    def _turn_context(self, payload: dict, state: dict) -> None:
        if isinstance(payload.get("model"), str) and payload["model"]:
            state["model"] = payload["model"]
        if isinstance(payload.get("cwd"), str):
            state["cwd"] = payload["cwd"]

    def _response_item(self, payload: dict, state: dict) -> None:
        if payload.get("type") in TOOL_OUTPUTS:
            state["trig"] = "tool_result"
        elif payload.get("type") in ("compaction", "context_compaction"):
            state["trig"] = "compaction"

    def _legacy(self, obj: dict, state: dict, ctx: SourceContext) -> Iterator[Record]:
        """The first Rust rollouts: a header, then bare items with no timestamps or usage."""
        if state.get("legacy"):
            return
        state["legacy"] = True
        sid = str(obj.get("id") or _sid_from_path(ctx.path))
        state["sid"] = sid
        yield Session(agent=AGENT, session_id=sid)

    # --- prompts ------------------------------------------------------------------------

    def _prompt(
        self,
        source: str,
        text: str,
        has_images: bool,
        item_id,
        ts: str | None,
        offset: int,
        state: dict,
        ctx: SourceContext,
    ) -> Iterator[Record]:
        if not text.strip() and not has_images:
            return
        if _is_injected(text):
            return
        if state.get("sub"):
            return  # a subagent's task comes from the parent agent, not from the person
        if not ts:
            yield BadLine(offset, "bad_shape", "user message without a timestamp")
            return
        digest = _text_hash(text)
        last = state.get("lp")
        if last and last[0] != source and last[1] == digest:
            return  # the same prompt, written both as user_message and as an item
        sid = self._sid(state, ctx)
        key = f"{AGENT}:{item_id}" if item_id else f"{AGENT}:{sid}:{ts}:{digest}"
        state["lp"] = [source, digest]
        state["pk"] = key
        state["trig"] = "prompt"
        yield Prompt(key=key, agent=AGENT, session_id=sid, ts=ts, text=text, project=state.get("cwd"))

    # --- model calls --------------------------------------------------------------------

    def _token_count(
        self, payload: dict, ts: str | None, offset: int, state: dict, ctx: SourceContext
    ) -> Iterator[Record]:
        if not ts:
            yield BadLine(offset, "bad_shape", "token_count without a timestamp")
            return
        info = payload.get("info")
        called = False
        if isinstance(info, dict):
            if not state.get("model"):
                fallback = info.get("model") or info.get("model_name")
                if isinstance(fallback, str):
                    state["model"] = fallback
            total = read_usage(info.get("total_token_usage"))
            last = read_usage(info.get("last_token_usage"))
            usage, key, delta = self._change(total, last, ts, self._sid(state, ctx), state)
            raw = {"total_token_usage": info.get("total_token_usage"), "last_token_usage": info.get("last_token_usage")}
            if usage is not None:
                if state.get("rec"):
                    # Records of this file already counted these responses, by response_id.
                    usage = _minus(usage, tuple(state.get("rsum") or ZERO))
                    state["rsum"] = list(ZERO)
                elif delta and last is not None and (lost := _lost(usage, last)) is not None:
                    lost_key = f"{key.rsplit(':', 1)[0]}:{'/'.join(map(str, _minus(total, last)))}"
                    yield self._lost_call(lost_key, lost, ts, raw, state.get("abk"), state, ctx)
                    usage = last
                    called = True
                if _counts(usage):
                    called = True
                    yield self._request(key, usage, ts, raw, state, ctx)
                if called:
                    state.pop("abk", None)  # the aborted turn's calls are all accounted for
        yield from self._rate_limits(payload.get("rate_limits"), ts, called, state, ctx)

    def _change(
        self, total: Usage | None, last: Usage | None, ts: str, sid: str, state: dict
    ) -> tuple[Usage | None, str, bool]:
        """The usage this event reports, if any, its key, and whether it is the growth of the total."""
        if total is None:
            if last is None or not _counts(last):
                return None, "", False
            return last, f"{AGENT}:{sid}:last:{ts}:{'/'.join(map(str, last))}", False
        previous = tuple(state["tot"]) if state.get("tot") else None
        state["tot"] = list(total)
        if not _counts(total):
            return None, "", False  # all zero: the synthetic fill after a context-window overflow
        delta = False
        if previous is None:
            usage = last if last is not None and _counts(last) else total
            usage = tuple(min(u, t) for u, t in zip(usage, total))
        elif all(t >= p for t, p in zip(total, previous)):
            usage = _minus(total, previous)  # zero when re-emitted with a rate-limit refresh
            delta = True
        else:
            state["seg"] = state.get("seg", 0) + 1  # the count restarted (resume, overflow fill)
            usage = last if last is not None and _counts(last) else total
        segment = f"{state['seg']}:" if state.get("seg") else ""
        return usage, f"{AGENT}:{sid}:{segment}{'/'.join(map(str, total))}", delta  # type: ignore[return-value]

    def _lost_call(
        self, key: str, usage: Usage, ts: str, raw, aborted: str | None, state: dict, ctx: SourceContext
    ) -> Request:
        """A call the total grew by with no token_count of its own: it belongs to the aborted turn."""
        trigger = state.get("trig")
        request = self._request(key, usage, ts, raw, state, ctx)
        state["trig"] = trigger  # the event's own call keeps its trigger
        if request.is_sidechain:
            return request
        return replace(request, trigger="other", prompt_key=aborted or request.prompt_key)

    def _usage_record(
        self, payload: dict, ts: str | None, offset: int, state: dict, ctx: SourceContext
    ) -> Iterator[Record]:
        usage = read_usage(payload.get("usage"))
        if usage is None:
            yield BadLine(offset, "bad_shape", "token_usage_record without a usage object")
            return
        if not ts:
            yield BadLine(offset, "bad_shape", "token_usage_record without a timestamp")
            return
        state["rec"] = True
        state["rsum"] = [a + b for a, b in zip(state.get("rsum") or ZERO, usage)]
        if not _counts(usage):
            return
        rid = payload.get("response_id")
        key = f"{AGENT}:resp:{rid}" if rid else f"{AGENT}:{self._sid(state, ctx)}:rec:{ts}:{'/'.join(map(str, usage))}"
        yield self._request(key, usage, ts, payload.get("usage"), state, ctx)

    def _request(self, key: str, usage: Usage, ts: str, raw, state: dict, ctx: SourceContext) -> Request:
        inp, cached, write, out, reasoning, _ = usage
        sub = bool(state.get("sub"))
        trigger = "subagent" if sub else state.get("trig") or "other"
        state["trig"] = "other"
        state.pop("lp", None)
        state.pop("hit", None)  # a call went through: the exhausted reading before it was no refusal
        return Request(
            key=key,
            agent=AGENT,
            session_id=self._sid(state, ctx),
            ts=ts,
            model=state.get("model"),
            provider=state.get("prov"),
            project=state.get("cwd"),
            input_tokens=max(0, inp - cached - write),
            cache_read_tokens=cached,
            cache_write_tokens=write,
            output_tokens=out,
            reasoning_tokens=min(reasoning, out),
            trigger=trigger,
            prompt_key=None if sub else state.get("pk"),
            is_sidechain=sub,
            raw_usage=raw if isinstance(raw, dict) else None,
        )

    def _sid(self, state: dict, ctx: SourceContext) -> str:
        if not state.get("sid"):
            state["sid"] = _sid_from_path(ctx.path)
        return state["sid"]

    # --- plan signals -------------------------------------------------------------------

    def _rate_limits(self, rate_limits, ts: str, called: bool, state: dict, ctx: SourceContext) -> Iterator[Record]:
        snapshot = read_snapshot(rate_limits, ts) if isinstance(rate_limits, dict) else None
        if snapshot is None:
            return
        yield from readings(snapshot, self._sid(state, ctx), ts)
        if not called:
            hit = pending_refusal(snapshot, ts)
            if hit:
                state["hit"] = hit

    def _confirm_hit(self, state: dict) -> Iterator[Record]:
        """The turn ended with no call after an exhausted snapshot: that call was refused."""
        hit = state.pop("hit", None)
        if hit:
            yield refusal(hit, state.get("sid"), state.get("model"))


def _is_legacy_header(obj: dict) -> bool:
    return "type" not in obj and "sessionId" not in obj and isinstance(obj.get("id"), str) and "timestamp" in obj


def _sid_from_path(path: Path) -> str:
    name = path.name.split(".", 1)[0]
    m = _UUID_TAIL.search(name)
    return m.group(1) if m else name
