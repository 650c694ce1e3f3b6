"""Qwen Code sessions: ``<runtime>/projects/<sanitized-cwd>/chats/<sessionId>.jsonl``.

Roots: ``QWEN_RUNTIME_DIR`` when set, else ``~/.qwen``; sessions are under
``projects/`` (``<sanitized-cwd>`` is the working folder with every
non-alphanumeric character turned into ``-``), background subagents' transcripts
under ``projects/<p>/subagents/<sessionId>/agent-<id>.jsonl``. Older versions,
still close to Gemini CLI, wrote one JSON document per session to
``tmp/<sha256>/chats/session-*.json``: ``QwenLegacyJsonParser`` reads those with
Gemini's reader (their model messages are typed ``qwen``).

One line is one ``ChatRecord``: ``uuid``, ``parentUuid``, ``sessionId``,
``timestamp``, ``type`` (user / assistant / tool_result / system), ``subtype``,
``cwd``, ``version``, ``message`` (``{role, parts}``), ``usageMetadata`` on
assistant records, ``systemPayload`` on system records.

How it is counted:

* **Usage is written twice.** An assistant record carries the call's
  ``usageMetadata``, and a ``system``/``ui_telemetry`` record with
  ``uiEvent["event.name"] == "qwen-code.api_response"`` carries the same
  numbers, written just before it. The telemetry record wins: it is written
  for *every* model response (a subagent's calls too, marked ``subagent_id``,
  whose transcripts carry no usage; a retried attempt; a response whose
  assistant record was never written), and it names the model. An assistant
  record's usage counts only when no telemetry record of the same file has the
  same four numbers (prompt, candidates, cached, thoughts) within two minutes
  before or after it, so files from versions before the telemetry records, or
  with only one of the two, count each call once either way.
* Forked sessions (``/branch``) copy records verbatim, ``uuid`` included, with
  ``forkedFrom: {sessionId}``; keys are the record's ``uuid``, so copies
  collapse, and a copy keeps the session it was first written in.
* Tokens (``parsers.genai_usage``): ``promptTokenCount`` includes the cached
  tokens. Whether ``thoughtsTokenCount`` is inside ``candidatesTokenCount``
  depends on the endpoint: Qwen's OpenAI-compatible converter (the usual path)
  copies ``completion_tokens``, reasoning included; Google's API leaves
  thoughts out. The record's total decides; without one, thoughts are taken
  as inside for OpenAI-compatible auth types and outside for Google's.
  Reasoning is always the thoughts.

Prompt vs request: a ``user`` record with no subtype (``provenance`` absent
or ``real_user``) is a typed prompt, unless it is the ``<session_context>``
environment text Qwen sends first; so is a ``mid_turn_user_message``
(typed while tools ran; it rides along with the tool results, so it starts no
chain). ``notification`` and ``cron`` users are injected, ``tool_result``
records are tool results, slash commands are ``system``/``slash_command``
records (not prompts), ``chat_compression`` marks a compaction. Records of
subagents (``isSidechain``) are the parent session's sidechain requests.

Provider: the telemetry's ``auth_type`` (``qwen-oauth``), or for an
OpenAI-compatible auth the endpoint's host from ``settings.json``
(``parsers/_gateways.py``).

Plan signals: ``qwen-code.api_error`` telemetry with status 429 (or a quota
text) becomes a ``LimitHit``, with the reset time and window when the text
gives them ("Your token-plan 1-week quota has been exhausted. The quota will
reset at 09-10 09:31:00 UTC."; another vendor's words behind an OpenAI-style
auth, such as GLM's zone-less China-time reset, are read by
``analyzer.api.read_refusal``); ``APIUserAbortError`` is the person
interrupting, not a refusal; 402 "Insufficient balance" is an empty
pay-as-you-go wallet, not a plan window, and is not a hit either.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

from analyzer.parsers._gateways import dot_folder, settings_provider
from analyzer.parsers._genai_usage import TELEMETRY_FIELDS, numbers, split_usage
from analyzer.parsers.gemini_cli import INJECTED_PREFIXES, GeminiSessionJsonParser, _first_objects, parts_of, text_of
from analyzer.parsers.kimi_code.shared import SideFiles

from analyzer.api import (
    BadLine,
    JsonlParser,
    LimitHit,
    Prompt,
    Record,
    Request,
    Session,
    SourceContext,
    env_paths,
    format_utc,
    home_from,
    hookimpl,
    parse_iso,
    read_refusal,
    utc_iso,
    zone,
)

AGENT = "qwen-code"
RECORD_TYPES = frozenset({"user", "assistant", "tool_result", "system"})
PAIR_SECONDS = 120
PAIR_MEMORY = 16

API_RESPONSE = "qwen-code.api_response"
API_ERROR = "qwen-code.api_error"
# Auth types that talk to Google's API, where thoughts are outside the candidates.
GOOGLE_AUTH = ("gemini", "vertex", "oauth-personal", "login-with-google", "cloud-shell", "compute-default")

_RESET_AT = re.compile(
    r"reset(?:s)?\s+at\s+(?:(\d{4})-)?(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"\s*(UTC|GMT|Z|[+-]\d{2}:?\d{2}|[A-Za-z]+/[A-Za-z_]+(?:/[A-Za-z_]+)?)?",
    re.I,
)
_WINDOW = re.compile(r"\b(\d+)[- ]?(hours?|hrs?|h|days?|weeks?|months?)\b", re.I)
_WINDOW_WORDS = {"hourly": 60, "daily": 1440, "weekly": 10080}
_UNIT_MINUTES = {"h": 60, "d": 1440, "w": 10080}
_QUOTA_TEXT = re.compile(r"quota|rate limit|usage limit|too many requests", re.I)
_NOT_A_LIMIT = re.compile(r"insufficient balance|arrearage|overdue", re.I)
LIMIT_TYPE = {300: "five_hour", 1440: "daily", 10080: "weekly"}


def qwen_dirs(env: Mapping[str, str]) -> list[Path]:
    """The runtime base: ``QWEN_RUNTIME_DIR`` when set, else ``~/.qwen``."""
    return env_paths(env, "QWEN_RUNTIME_DIR") or [home_from(env) / ".qwen"]


# --- recognising --------------------------------------------------------------------


def _qwen_shaped(obj: dict) -> bool:
    if obj.get("type") not in RECORD_TYPES or "uuid" not in obj or "sessionId" not in obj:
        return False
    message = obj.get("message")
    if isinstance(message, dict) and ("parts" in message or message.get("role") == "model"):
        return True
    return any(k in obj for k in ("systemPayload", "usageMetadata", "toolCallResult", "provenance"))


def _claude_shaped(obj: dict) -> bool:
    message = obj.get("message")
    return isinstance(message, dict) and "content" in message


# --- limit hits -----------------------------------------------------------------------


def reset_instant(text: str, ts: str) -> str | None:
    """ "The quota will reset at 09-10 09:31:00 UTC." seen at ``ts``: the first such instant after it.

    Without a zone in the text the instant is unknown (None): the hour alone
    could be any of two dozen instants."""
    m = _RESET_AT.search(text)
    if not m:
        return None
    year, month, day, hour, minute, second, zone_text = m.groups()
    tz = _tz(zone_text)
    if tz is None:
        return None
    seen = parse_iso(ts)
    years = [int(year)] if year else [seen.astimezone(tz).year, seen.astimezone(tz).year + 1]
    for y in years:
        try:
            candidate = datetime(y, int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=tz)
        except ValueError:
            return None
        if year or candidate > seen:
            return format_utc(candidate)
    return None


def _tz(text: str | None):
    if not text:
        return None
    if text.upper() in ("Z", "UTC", "GMT"):
        return timezone.utc
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3))
        return timezone(timedelta(minutes=minutes if m.group(1) == "+" else -minutes))
    return zone(text)


def window_of(text: str) -> tuple[int | None, str | None]:
    """(window minutes, limit type) named by a quota text: "1-week quota", "5-hour", "daily"."""
    m = _WINDOW.search(text)
    if m:
        n, unit = int(m.group(1)), m.group(2).lower()
        if unit.startswith("mo"):
            return None, "monthly"  # months differ in length: the window is the calendar month
        minutes = n * _UNIT_MINUTES[unit[0]]
        return minutes, LIMIT_TYPE.get(minutes, "quota")
    for word, minutes in _WINDOW_WORDS.items():
        if word in text.lower():
            return minutes, LIMIT_TYPE.get(minutes, "quota")
    if "monthly" in text.lower():
        return None, "monthly"
    return None, None


# --- the parser -----------------------------------------------------------------------


class QwenCodeParser(JsonlParser):
    """Qwen Code JSONL sessions and subagent transcripts."""

    name = AGENT
    agent = AGENT
    env_vars = ("QWEN_RUNTIME_DIR",)

    def __init__(self) -> None:
        self.side = SideFiles()

    def parse(self, lines, state: dict, ctx: SourceContext) -> Iterator[Record]:
        self.side.refresh()  # settings.json looked at again once per pass over a file
        yield from super().parse(lines, state, ctx)

    def provider(self, ctx: SourceContext, model, auth_type=None) -> str | None:
        """Where a call went: the OpenAI-compatible host from ``settings.json``, else the auth type."""
        base = dot_folder(ctx.path, ".qwen") or (ctx.root.parent if ctx.root is not None else None)
        settings = self.side.load(base / "settings.json") if base is not None else None
        return settings_provider(settings, model, auth_type)

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return [base / "projects" for base in qwen_dirs(env)]

    def candidate(self, path: Path) -> bool:
        return path.suffix == ".jsonl" and ("chats" in path.parts or "subagents" in path.parts)

    def recognise(self, path: Path, head: bytes) -> bool:
        objects = _first_objects(head)
        if not objects:  # a first line longer than the head: Qwen writes ``uuid`` first, Claude ``parentUuid``
            return bool(re.match(rb'\s*\{"(uuid|daemonPromptId|backgroundTurn)":', head))
        if any(_claude_shaped(o) for o in objects):
            return False
        return any(_qwen_shaped(o) for o in objects)

    def handle(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        kind = obj.get("type")
        if kind not in RECORD_TYPES:
            yield BadLine(offset, "unknown_type", f"unknown record type {kind!r}")
            return
        if not isinstance(obj.get("uuid"), str) or not isinstance(obj.get("sessionId"), str):
            yield BadLine(offset, "bad_shape", f"{kind} record without uuid or sessionId")
            return
        yield from self._session(obj, state)
        if kind == "assistant":
            yield from self._assistant(obj, offset, state, ctx)
        elif kind == "user":
            yield from self._user(obj, offset, state)
        elif kind == "tool_result":
            if not obj.get("isSidechain"):
                state["trigger"] = "tool_result"
        else:
            yield from self._system(obj, offset, state, ctx)

    # sessions

    def _session(self, obj: dict, state: dict) -> Iterator[Record]:
        sid = obj["sessionId"]
        fork = obj.get("forkedFrom")
        parent = fork.get("sessionId") if isinstance(fork, dict) else None
        marker = [sid, obj.get("cwd"), obj.get("version"), parent]
        if state.get("s") != marker:
            state["s"] = marker
            yield Session(
                agent=AGENT,
                session_id=sid,
                project=obj.get("cwd"),
                cwd=obj.get("cwd"),
                parent_session_id=parent if parent != sid else None,
                client_version=obj.get("version"),
            )

    @staticmethod
    def _origin(obj: dict) -> str:
        """The session a record was first written in (a fork's copies keep their source's)."""
        fork = obj.get("forkedFrom")
        if isinstance(fork, dict) and isinstance(fork.get("sessionId"), str) and fork["sessionId"]:
            return fork["sessionId"]
        return obj["sessionId"]

    # records

    def _user(self, obj: dict, offset: int, state: dict) -> Iterator[Record]:
        if obj.get("isSidechain"):
            return  # a subagent's instructions come from the model
        subtype = obj.get("subtype")
        provenance = obj.get("provenance")
        typed = (subtype is None and provenance in (None, "real_user")) or subtype == "mid_turn_user_message"
        if not typed:
            if subtype in ("notification", "cron"):
                state["trigger"] = "other"  # an injected turn the model will answer
            return
        message = obj.get("message")
        sent = text_of(parts_of(message.get("parts"))) if isinstance(message, dict) else ""
        if sent.lstrip().startswith(INJECTED_PREFIXES):
            return  # the environment context Qwen sends first, recorded as a user turn
        ts = utc_iso(obj.get("timestamp"))
        if not ts:
            yield BadLine(offset, "bad_shape", "user record without a timestamp")
            return
        payload = obj.get("systemPayload")
        text = payload.get("displayText") if isinstance(payload, dict) else None
        if not isinstance(text, str):
            text = sent
        key = f"{AGENT}:{obj['uuid']}"
        yield Prompt(key=key, agent=AGENT, session_id=self._origin(obj), ts=ts, text=text, project=obj.get("cwd"))
        if subtype is None:
            state["prompt"] = key
            state["trigger"] = "prompt"

    def _assistant(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        usage = obj.get("usageMetadata")
        if not isinstance(usage, dict):
            return
        prompt, candidates, cached, thoughts, tool, total = numbers(usage)
        side = bool(obj.get("isSidechain"))
        yield from self._request(
            obj,
            offset,
            state,
            usage,
            (prompt, candidates, cached, thoughts, tool, total),
            source="a",
            side=side,
            model=obj.get("model"),
            thoughts_inside=True,
            provider=self.provider(ctx, obj.get("model")),
        )

    def _system(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        subtype = obj.get("subtype")
        payload = obj.get("systemPayload")
        if subtype == "chat_compression":
            state["trigger"] = "compaction"
        elif subtype == "parent_session" and isinstance(payload, dict) and payload.get("parentSessionId"):
            yield Session(agent=AGENT, session_id=obj["sessionId"], parent_session_id=payload["parentSessionId"])
        elif subtype == "ui_telemetry" and isinstance(payload, dict) and isinstance(payload.get("uiEvent"), dict):
            event = payload["uiEvent"]
            name = event.get("event.name")
            if name == API_RESPONSE:
                nums = numbers(event, TELEMETRY_FIELDS)
                auth = str(event.get("auth_type") or "").lower()
                yield from self._request(
                    obj,
                    offset,
                    state,
                    event,
                    nums,
                    source="t",
                    side=bool(event.get("subagent_id")),
                    model=event.get("model"),
                    thoughts_inside=not auth.startswith(GOOGLE_AUTH),
                    provider=self.provider(ctx, event.get("model"), auth or None),
                )
            elif name == API_ERROR:
                hit = self._limit_hit(obj, event)
                if hit:
                    yield hit

    def _request(
        self,
        obj: dict,
        offset: int,
        state: dict,
        raw: dict,
        nums: tuple,
        *,
        source: str,
        side: bool,
        model,
        thoughts_inside: bool,
        provider: str | None = None,
    ) -> Iterator[Record]:
        prompt, candidates, cached, thoughts, tool, total = nums
        split = split_usage(prompt, candidates, cached, thoughts, tool, total, thoughts_inside=thoughts_inside)
        if split is None:
            return
        ts = utc_iso(obj.get("timestamp"))
        if not ts:
            yield BadLine(offset, "bad_shape", "usage without a timestamp")
            return
        if self._duplicate(state, source, ts, (prompt, candidates, cached, thoughts), side):
            return  # the other copy of this call was counted
        sidechain = side or bool(obj.get("isSidechain"))
        if sidechain:
            trigger, prompt_key = "subagent", None
        else:
            trigger, prompt_key = state.get("trigger") or "other", state.get("prompt")
            state["trigger"] = "other"
        yield Request(
            key=f"{AGENT}:{obj['uuid']}",
            agent=AGENT,
            session_id=self._origin(obj),
            ts=ts,
            model=model if isinstance(model, str) and model else None,
            provider=provider,
            project=obj.get("cwd"),
            **split.columns(),
            trigger=trigger,
            prompt_key=prompt_key,
            is_sidechain=sidechain,
            raw_usage=raw,
        )

    @staticmethod
    def _duplicate(state: dict, source: str, ts: str, nums: tuple, side: bool) -> bool:
        """Whether this usage is the other source's copy of a call already counted.

        ``state["dup"]`` remembers the last few counted usages, each as
        [source, epoch seconds, four numbers, sidechain]; a copy matches one
        from the other source, with the same numbers, within PAIR_SECONDS."""
        now = parse_iso(ts).timestamp()
        recent = [e for e in state.get("dup", []) if abs(now - e[1]) <= PAIR_SECONDS]
        for i, entry in enumerate(recent):
            if entry[0] != source and entry[2:6] == list(nums) and entry[6] == side:
                del recent[i]
                state["dup"] = recent
                return True
        recent.append([source, now, *nums, side])
        state["dup"] = recent[-PAIR_MEMORY:]
        return False

    def _limit_hit(self, obj: dict, event: dict) -> LimitHit | None:
        if event.get("error_type") == "APIUserAbortError":
            return None  # the person interrupted the request
        text = str(event.get("error_message") or "")
        status = event.get("status_code")
        if _NOT_A_LIMIT.search(text) or not (status == 429 or str(status) == "429" or _QUOTA_TEXT.search(text)):
            return None
        ts = utc_iso(obj.get("timestamp"))
        if not ts:
            return None
        window, limit_type = window_of(text)
        model = event.get("model") if isinstance(event.get("model"), str) else None
        words = read_refusal(text, at=ts, status=status if isinstance(status, int) else None, model=model)
        reset = reset_instant(text, ts) or (words.reset_at if words else None)
        if words is not None and words.is_plan_window:
            window = window or words.window_minutes
            limit_type = limit_type or words.limit_type
        return LimitHit(
            key=f"{AGENT}:hit:{obj['uuid']}",
            agent=AGENT,
            session_id=self._origin(obj),
            ts=ts,
            reset_at=reset,
            window_minutes=window,
            limit_type=limit_type or ("quota" if re.search("quota", text, re.I) else "rate_limit"),
            message=text[:500] or None,
            model=event.get("model") if isinstance(event.get("model"), str) else None,
        )


class QwenLegacyJsonParser(GeminiSessionJsonParser):
    """Qwen Code's older sessions: ``tmp/<sha256>/chats/session-*.json``, Gemini's document shape."""

    name = "qwen-code-json"
    agent = AGENT
    env_vars = ("QWEN_RUNTIME_DIR",)
    model_types = ("qwen", "gemini")
    thoughts_inside = True

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return [base / "tmp" for base in qwen_dirs(env)]

    def ours(self, path: Path, head: bytes) -> bool:
        return ".gemini" not in path.parts and not re.search(rb'"type"\s*:\s*"gemini"', head)


@hookimpl
def register_parsers(register):
    register(QwenCodeParser())
    register(QwenLegacyJsonParser())
