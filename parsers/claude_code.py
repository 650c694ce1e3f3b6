"""Claude Code transcripts: ``<config>/projects/<project>/<session>.jsonl``.

Roots: every folder in ``CLAUDE_CONFIG_DIR`` (comma-separated), else both
``~/.claude`` and ``~/.config/claude``; transcripts live under ``projects/``,
subagent transcripts under ``<session>/subagents/`` (scanned recursively).

What one model call looks like on disk, and how it is counted:

* One response is written as several ``assistant`` lines (one per content
  block, early ones with a streaming placeholder ``output_tokens``), all with
  the same ``message.id`` and usage. The request key is ``message.id`` alone:
  it identifies the call whether ``requestId`` is present or not (third-party
  gateways drop it), and a sidechain's replay of a parent message (same id,
  another requestId) is the same call. The store keeps the most complete copy.
* Resumed and branched sessions copy earlier lines into other files; the same
  keys make the copies count once. Typed prompts are keyed by ``promptId`` (or
  the line's ``uuid``), which copies keep; lines marked ``forkedFrom`` are
  copies and add no prompt.
* ``<synthetic>`` assistant lines are local (API errors, interruptions): not
  requests. Those that are plan refusals become ``LimitHit`` records, read from
  ``quotaLimits`` when present, else from the message text in any of its
  historical wordings; the vendor's refusal inside the text (GLM's 1308 through
  z.ai's Anthropic endpoint, Kimi's 403, MiniMax's 2056, ...) is read by
  ``analyzer.api.read_refusal`` and gives the reset time and window the line lacks.
* Provider: the host of ``ANTHROPIC_BASE_URL`` from Claude Code's settings or
  the environment (``parsers/_gateways.py``), on requests and in refusals.
* ``/usage`` output (``system``/``local_command`` with ``usageReport``, or the
  same figures in its text) becomes ``QuotaReading`` records.
* Line types with nothing to count (``permission-mode``, ``ai-title``,
  ``progress``, ...) are skipped quietly; a type this parser does not know is an
  ``ignored`` line when it carries no usage, and an ``unknown_type`` error when
  it carries usage-like fields (``analyzer.api.unknown_line``).

Prompt vs request: a ``user`` line is a typed prompt when it holds no
``tool_result`` block, is not meta, a compaction summary, an interrupt marker,
a sidechain or a copy. A slash command line is a prompt only if a model call
follows it before anything else (local commands like ``/model`` call no model).
Each request records the prompt that started its chain and what triggered it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import orjson
from analyzer.parsers._gateways import ClaudeGateway

from analyzer.api import (
    BadLine,
    JsonlParser,
    LimitHit,
    Line,
    Prompt,
    QuotaReading,
    Record,
    Request,
    Session,
    SourceContext,
    env_paths,
    first_objects,
    home_from,
    hookimpl,
    read_refusal,
    reset_after,
    token_count,
    unknown_line,
    utc_iso,
)

AGENT = "claude-code"

# Line types that carry no usage and no prompt; known, and skipped quietly.
QUIET_TYPES = frozenset(
    {
        "summary",
        "file-history-snapshot",
        "queue-operation",
        "progress",
        "last-prompt",
        "custom-title",
        "ai-title",
        "attachment",
        "atis-latch",
        "agent-name",
        "tag",
        "pr-link",
        "mode",
        "permission-mode",
    }
)
KNOWN_TYPES = QUIET_TYPES | {"user", "assistant", "system"}

_NOT_PROMPT_PREFIXES = (
    "<local-command-stdout>",
    "<local-command-stderr>",
    "<local-command-caveat>",
    "Caveat:",
    "[Request interrupted by user",
    "<bash-stdout>",
    "<bash-stderr>",
)
_INTERRUPT = "[Request interrupted by user"
_COMMAND = "<command-name>"

WINDOW_BY_TYPE = {
    "five_hour": 300,
    "session": 300,
    "seven_day": 10080,
    "seven_day_opus": 10080,
    "seven_day_sonnet": 10080,
    "seven_day_overage_included": 10080,
    "weekly_all": 10080,
    "weekly_scoped": 10080,
    "weekly": 10080,
}

# "You've hit your 5-hour limit · resets 6pm (America/Los_Angeles)" and its older wordings.
_HIT_PATTERNS: list[tuple[re.Pattern, str | None]] = [
    (re.compile(r"hit your (?:5-hour|session) limit", re.I), "five_hour"),
    (re.compile(r"5-hour limit reached", re.I), "five_hour"),
    (re.compile(r"hit your weekly limit", re.I), "seven_day"),
    (re.compile(r"hit your opus limit", re.I), "seven_day_opus"),
    (re.compile(r"hit your sonnet limit", re.I), "seven_day_sonnet"),
    (re.compile(r"hit your (?:monthly )?spend limit|out of usage credits|out of extra usage", re.I), "spend"),
    (re.compile(r"hit your limit", re.I), None),
    (re.compile(r"usage limit reached", re.I), None),
]
_EPOCH_SUFFIX = re.compile(r"usage limit reached\|(\d{9,13})")
_RESETS = re.compile(r"(?:resets?|reset at|will reset at)\s+(.*)$", re.I | re.S)

# "/usage" text: "Current session: 42% used · resets 3pm (UTC)  Current week (all models): 17% used · resets Sep 3"
_USAGE_TEXT = re.compile(
    r"Current (session|week(?:\s*\(([^)]*)\))?)\s*:?\s*(\d+(?:\.\d+)?)\s*%\s*used(?:\s*[·∙]\s*resets?\s+([^·∙\n]*?))?(?=\s{2,}|\s*Current|\s*<|$)",
    re.I,
)


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text") or ""))
        return "\n".join(parts)
    return ""


def _has_tool_result(content) -> bool:
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def _int(value, name: str = "token count") -> int:
    """A token count; a value that cannot be one makes the line a ``bad_value`` (``token_count``)."""
    return token_count(value, name)


def _looks_like_claude(obj: dict) -> bool:
    kind = obj.get("type")
    if kind in QUIET_TYPES:
        return "sessionId" in obj or "leafUuid" in obj or "messageId" in obj or "snapshot" in obj or "operation" in obj
    if kind not in ("user", "assistant", "system") or "sessionId" not in obj:
        return False
    if "systemPayload" in obj or "provenance" in obj:
        return False  # Qwen Code's records share Claude's envelope
    if str(obj.get("sessionId")).startswith("session-"):
        return False  # so do iFlow CLI's, whose session ids are "session-<uuid>" (Claude's are bare uuids)
    message = obj.get("message")
    if message is None:
        return kind == "system"
    return isinstance(message, dict) and "parts" not in message and ("content" in message or "role" in message)


def _command_text(path: Path, offset: int) -> str:
    """The text of the slash-command line at ``offset`` (read again when the model answers it)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            obj = orjson.loads(f.readline())
        return _text_of(obj["message"]["content"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _is_subagent_file(path: Path) -> bool:
    return "subagents" in path.parts or path.name.startswith("agent-")


class ClaudeCodeParser(JsonlParser):
    name = AGENT
    agent = AGENT
    env_vars = ("CLAUDE_CONFIG_DIR",)

    def __init__(self, gateway: ClaudeGateway | None = None) -> None:
        self.gateway = gateway or ClaudeGateway()

    def parse(self, lines: Iterable[Line], state: dict, ctx: SourceContext) -> Iterator[Record]:
        self.gateway.refresh()  # settings looked at again once per pass over a file
        yield from super().parse(lines, state, ctx)

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        configured = env_paths(env, "CLAUDE_CONFIG_DIR")
        if not configured:
            home = home_from(env)
            configured = [home / ".claude", home / ".config" / "claude"]
        return [p / "projects" for p in configured]

    def candidate(self, path: Path) -> bool:
        return path.suffix == ".jsonl"

    def recognise(self, path: Path, head: bytes) -> bool:
        values = first_objects(head)
        if values:
            # Any of the first lines that decode, not only the first: a metadata line of a type not
            # known yet may come first, and a damaged first line must not hide the transcript.
            return any(isinstance(v, dict) and _looks_like_claude(v) for v in values) and not any(
                isinstance(v, dict) and ("systemPayload" in v or "provenance" in v) for v in values
            )
        # The first line is longer than the head (a huge snapshot or tool output): look at its start.
        start = head.lstrip()[:400]
        if re.match(rb'\{"(parentUuid|leafUuid|isSidechain|logicalParentUuid)"', start):
            return True
        m = re.match(rb'\{\s*"type"\s*:\s*"([a-z\-]+)"', start)
        return bool(m) and m.group(1).decode() in QUIET_TYPES

    # --- one line ---------------------------------------------------------------------

    def handle(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        kind = obj.get("type")
        if kind == "assistant":
            yield from self._assistant(obj, offset, state, ctx)
        elif kind == "user":
            yield from self._user(obj, offset, state, ctx)
        elif kind == "system":
            yield from self._system(obj, offset, state, ctx)
        elif kind in QUIET_TYPES:
            return
        elif kind is None and ("display" in obj and "project" in obj):
            return  # a history.jsonl line given by hand: typed prompts without a transcript
        else:
            yield unknown_line(offset, kind, obj)

    def _session(self, obj: dict, state: dict, ctx: SourceContext) -> Iterator[Record]:
        sid = obj.get("sessionId")
        if not sid:
            return
        marker = [sid, obj.get("cwd"), obj.get("version")]
        if state.get("s") != marker:
            state["s"] = marker
            yield Session(
                agent=AGENT,
                session_id=sid,
                project=obj.get("cwd"),
                cwd=obj.get("cwd"),
                client_version=obj.get("version"),
                is_subagent=bool(obj.get("isSidechain")) and _is_subagent_file(ctx.path),
            )

    def _session_id(self, obj: dict, ctx: SourceContext) -> str:
        return obj.get("sessionId") or (ctx.path.parent.parent.name if _is_subagent_file(ctx.path) else ctx.path.stem)

    def _assistant(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        message = obj.get("message")
        if not isinstance(message, dict):
            yield BadLine(offset, "bad_shape", "assistant line without a message object")
            return
        yield from self._session(obj, state, ctx)
        ts = utc_iso(obj.get("timestamp"))
        model = message.get("model")
        if model == "<synthetic>" or obj.get("isApiErrorMessage"):
            if ts:
                hit = self._limit_hit(obj, message, ts, ctx)
                if hit:
                    yield hit
            return
        usage = message.get("usage")
        if not isinstance(usage, dict):
            return  # a content line without usage (very old versions): nothing to count
        if not ts:
            yield BadLine(offset, "bad_shape", "assistant usage without a timestamp")
            return
        key_id = message.get("id") or obj.get("requestId") or obj.get("uuid")
        if not key_id:
            yield BadLine(offset, "bad_shape", "assistant usage without message id, requestId or uuid")
            return
        sidechain = bool(obj.get("isSidechain"))
        if sidechain:
            trigger, prompt_key = "subagent", None
        else:
            last = state.get("last")
            if last and last[0] == key_id:
                trigger, prompt_key = last[1], last[2]
            else:
                pending = state.pop("pending_command", None)
                if pending:
                    # A slash command the model answered: the person's prompt after all.
                    yield Prompt(
                        key=pending[0],
                        agent=AGENT,
                        session_id=pending[1],
                        ts=pending[2],
                        text=_command_text(ctx.path, pending[3]),
                        project=pending[4],
                    )
                    state["prompt"] = pending[0]
                    state["trigger"] = "prompt"
                trigger = state.get("trigger") or "other"
                prompt_key = state.get("prompt")
                state["last"] = [key_id, trigger, prompt_key]
                state["trigger"] = "other"
        cache_creation = usage.get("cache_creation")
        w5 = w1 = None
        cache_write = _int(usage.get("cache_creation_input_tokens"), "cache_write_tokens")
        if isinstance(cache_creation, dict):
            w5 = _int(cache_creation.get("ephemeral_5m_input_tokens"), "cache_write_5m_tokens")
            w1 = _int(cache_creation.get("ephemeral_1h_input_tokens"), "cache_write_1h_tokens")
            if w5 + w1 > 0:
                cache_write = w5 + w1
            elif cache_write:
                w5 = w1 = None  # a split that does not add up says nothing
        yield Request(
            key=f"{AGENT}:{key_id}",
            agent=AGENT,
            session_id=self._session_id(obj, ctx),
            ts=ts,
            model=model,
            provider=self.gateway.host(ctx.path, obj.get("cwd")),
            project=obj.get("cwd"),
            input_tokens=_int(usage.get("input_tokens"), "input_tokens"),
            cache_read_tokens=_int(usage.get("cache_read_input_tokens"), "cache_read_tokens"),
            cache_write_tokens=cache_write,
            cache_write_5m_tokens=w5,
            cache_write_1h_tokens=w1,
            output_tokens=_int(usage.get("output_tokens"), "output_tokens"),
            trigger=trigger,
            prompt_key=prompt_key,
            is_sidechain=sidechain,
            complete=message.get("stop_reason") is not None,
            speed=usage.get("speed"),
            raw_usage=usage,
        )

    def _user(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        message = obj.get("message")
        if not isinstance(message, dict):
            yield BadLine(offset, "bad_shape", "user line without a message object")
            return
        yield from self._session(obj, state, ctx)
        if obj.get("isSidechain"):
            return  # a subagent's instructions come from the model, not the person
        content = message.get("content")
        if _has_tool_result(content):
            state["trigger"] = "tool_result"
            return
        if obj.get("isCompactSummary"):
            state["trigger"] = "compaction"
            return
        text = _text_of(content)
        stripped = text.lstrip()
        if stripped.startswith(_INTERRUPT):
            state["trigger"] = "other"
            state.pop("pending_command", None)
            return
        if stripped.startswith(_NOT_PROMPT_PREFIXES):
            if stripped.startswith(("<local-command-stdout>", "<local-command-stderr>")):
                state.pop("pending_command", None)  # the command ran locally
            return
        if obj.get("forkedFrom"):
            return  # copied from another session by /branch: counted there
        if (obj.get("isMeta") or obj.get("isVisibleInTranscriptOnly")) and not obj.get("promptId"):
            return  # injected context, not typed
        if not stripped and not (isinstance(content, list) and content):
            return
        ts = utc_iso(obj.get("timestamp"))
        if not ts:
            yield BadLine(offset, "bad_shape", "user line without a timestamp")
            return
        key_id = obj.get("promptId") or obj.get("uuid") or hashlib.sha1(f"{ts}\0{text}".encode()).hexdigest()
        key = f"{AGENT}:{key_id}"
        session_id = self._session_id(obj, ctx)
        if stripped.startswith(_COMMAND):
            # Only a prompt if the model is called before anything else happens.
            # The state is stored in the database: keep the line's offset, not its text.
            state["pending_command"] = [key, session_id, ts, offset, obj.get("cwd")]
            return
        if obj.get("isMeta") and state.get("prompt") == key:
            return  # the expansion of a command already counted
        state.pop("pending_command", None)
        if state.get("prompt") != key:
            yield Prompt(key=key, agent=AGENT, session_id=session_id, ts=ts, text=text, project=obj.get("cwd"))
        state["prompt"] = key
        state["trigger"] = "prompt"

    def _system(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        subtype = obj.get("subtype")
        if subtype == "compact_boundary":
            state["trigger"] = "compaction"
            state.pop("pending_command", None)
            return
        if subtype == "local_command":
            state.pop("pending_command", None)
            ts = utc_iso(obj.get("timestamp"))
            if ts:
                yield from self._usage_readings(obj, ts, ctx)

    # --- plan signals ---------------------------------------------------------------------

    def _limit_hit(self, obj: dict, message: dict, ts: str, ctx: SourceContext) -> LimitHit | None:
        text = _text_of(message.get("content"))
        quota = obj.get("quotaLimits")
        info = (
            (obj.get("apiErrorParams") or {}).get("rate_limit_info")
            if isinstance(obj.get("apiErrorParams"), dict)
            else None
        )
        structured = quota if isinstance(quota, dict) else info if isinstance(info, dict) else None
        limit_type = None
        reset_at = None
        if structured:
            limit_type = structured.get("rateLimitType") or structured.get("rate_limit_type")
            resets = structured.get("resetsAt") or structured.get("resets_at")
            if resets:
                try:
                    reset_at = utc_iso(resets)
                except ValueError:
                    reset_at = None
        matched = False
        for pattern, kind in _HIT_PATTERNS:
            if pattern.search(text):
                matched = True
                limit_type = limit_type or kind
                break
        status = obj.get("apiErrorStatus") if isinstance(obj.get("apiErrorStatus"), int) else None
        refused = read_refusal(text, at=ts, status=status, provider=self.gateway.host(ctx.path, obj.get("cwd")))
        if not structured and not matched and not (refused and refused.is_plan_window):
            return None  # another API error (overloaded, auth, a rate limit, ...): not a plan limit
        if reset_at is None:
            m = _EPOCH_SUFFIX.search(text)
            if m:
                reset_at = utc_iso(int(m.group(1)))
            else:
                r = _RESETS.search(text)
                if r:
                    reset_at = reset_after(r.group(1), ts)
        window = WINDOW_BY_TYPE.get(limit_type or "")
        if refused is not None:
            reset_at = reset_at or refused.reset_at
            window = window or refused.window_minutes
            limit_type = limit_type or refused.limit_type
        key_id = obj.get("uuid") or message.get("id") or ts
        return LimitHit(
            key=f"{AGENT}:hit:{key_id}",
            agent=AGENT,
            session_id=self._session_id(obj, ctx),
            ts=ts,
            reset_at=reset_at,
            window_minutes=window,
            limit_type=limit_type,
            message=text[:500] or None,
            provider=self.gateway.host(ctx.path, obj.get("cwd")),
        )

    def _usage_readings(self, obj: dict, ts: str, ctx: SourceContext) -> Iterator[Record]:
        report = obj.get("usageReport")
        uid = obj.get("uuid") or ts
        limits = None
        if isinstance(report, dict) and isinstance(report.get("rate_limits"), dict):
            limits = report["rate_limits"].get("limits")
        if isinstance(limits, list) and limits:
            for item in limits:
                if not isinstance(item, dict) or item.get("percent") is None:
                    continue
                kind = item.get("kind") or item.get("group") or "unknown"
                scope = None
                if isinstance(item.get("scope"), dict):
                    model = item["scope"].get("model")
                    if isinstance(model, dict):
                        scope = model.get("display_name") or model.get("id")
                try:
                    resets = utc_iso(item.get("resets_at"))
                except ValueError:
                    resets = None
                yield QuotaReading(
                    key=f"{AGENT}:usage:{uid}:{kind}:{scope or ''}",
                    agent=AGENT,
                    observed_at=ts,
                    used_percent=float(item["percent"]),
                    window_minutes=WINDOW_BY_TYPE.get(kind),
                    resets_at=resets,
                    scope=scope or (None if kind in ("session", "weekly_all") else kind),
                    source="log",
                    raw=item,
                )
            return
        content = obj.get("content")
        if not isinstance(content, str) or "% used" not in content:
            return
        for m in _USAGE_TEXT.finditer(content):
            what, scope, percent, resets_text = m.group(1), m.group(2), m.group(3), m.group(4)
            window = 300 if what.lower().startswith("session") else 10080
            if scope and scope.strip().lower() in ("all models", "all"):
                scope = None
            yield QuotaReading(
                key=f"{AGENT}:usage:{uid}:{'session' if window == 300 else 'week'}:{scope or ''}",
                agent=AGENT,
                observed_at=ts,
                used_percent=float(percent),
                window_minutes=window,
                resets_at=reset_after(resets_text, ts) if resets_text else None,
                scope=scope,
                source="log",
                raw={"text": m.group(0)},
            )


@hookimpl
def register_parsers(register):
    register(ClaudeCodeParser())
