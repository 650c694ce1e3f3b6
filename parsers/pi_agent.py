"""pi (``@mariozechner/pi-coding-agent``) sessions: ``<agent dir>/sessions/--<cwd>--/<ts>_<id>.jsonl``.

Roots: ``PI_CODING_AGENT_DIR`` when set, else ``~/.pi/agent`` (the same on
every OS: pi joins ``os.homedir()``); sessions are under ``sessions/``, one
folder per working directory (the cwd with ``/``, ``\\`` and ``:`` turned
into ``-``, wrapped in ``--``), one file per session named
``<ISO time with - for : and .>_<session uuid>.jsonl``. ``--session-dir`` and
extensions can put sessions elsewhere: give those folders to ``analyzer ingest``.

Read from the source (``badlogic/pi-mono`` @ ``83378aad``, coding-agent
0.58.3, session format version 3): the first line is a header
``{"type":"session","version":3,"id","timestamp","cwd","parentSession"?}``;
every other line is an entry ``{type, id, parentId, timestamp, ...}``:
``message`` (``message.role`` user / assistant / toolResult / bashExecution),
``model_change``, ``thinking_level_change``, ``compaction``,
``branch_summary``, ``custom``, ``custom_message``, ``label``,
``session_info``. An assistant message carries ``api``, ``provider``,
``model``, ``stopReason``, ``errorMessage``, ``timestamp`` (ms) and
``usage {input, output, cacheRead, cacheWrite, totalTokens, cost}``; newer
versions add ``responseId`` and ``usage.cacheWrite1h`` / ``usage.reasoning``
(seen in recorded files, not in the source read).

How it is counted:

* **One assistant entry is one model call.** pi appends each finished message
  once (``appendFileSync``); streaming never repeats a line. A call that ended
  in an error or an abort with no usage is not a request.
* **Branches.** ``/tree`` moves the leaf back and appends the new branch to the
  same file (``parentId`` points at the branch point): every entry is still
  written once, so every assistant entry counts, abandoned branches included
  (they were paid for). ``/fork`` and ``--fork`` write a *new* file that starts
  with a copy of the shared history (same entries, same ids and timestamps)
  under a new header whose ``parentSession`` is the source file. Keys are
  built from the copied content, never from the file or session, so the copies
  collapse into one row; a copied entry (older than its file's header) is
  attributed to the parent session.
* **Keys.** A request's key is a digest of the message's own timestamp (ms),
  provider, model, usage numbers and ``responseId``; a prompt's of its
  timestamp and text. Entry ids are 8 hex digits, unique only within a file
  (they could repeat across a person's sessions), and opening a version-1 file
  rewrites it with new random ids, so ids are not part of any key.
* **Tokens.** pi normalises usage per provider: ``input`` is uncached input,
  ``cacheRead`` / ``cacheWrite`` the cache, ``output`` includes reasoning, and
  ``totalTokens`` is their sum. Its Google (``google-generative-ai`` /
  ``google-vertex``) readers left the cached tokens inside ``input``; where
  ``totalTokens`` is short of the four-way sum by the cache read (or is
  missing on those APIs), the cache read is taken out of ``input``.
  ``cacheWrite1h`` (when present and not above ``cacheWrite``) is the 1-hour
  part of the cache writes; ``reasoning`` the reasoning part of ``output``.
* The compaction and branch-summary calls pi makes are not written with their
  usage: they cannot be counted (an undercount pi's files impose).

Prompt vs request: a ``user`` message is a typed prompt (pi has no injected
user turns in the file: tool output is ``toolResult``, ``!command`` output is
``bashExecution``, extension text is ``custom_message``; prompt templates and
skills are expanded into the user message, so they count as the prompt they
are). Each request records what came just before it in the file (pi appends
an assistant message right after the entry it answers): a user message
(``prompt``), a tool result (``tool_result``), a compaction (``compaction``),
anything else (``other``).

Plan signals: an assistant message with ``stopReason: "error"`` whose
``errorMessage`` the vendor refusal reader (``analyzer.api.read_refusal``,
told the message's provider and model) reads as a plan window, a rate or
concurrency limit or fair-use throttling is a ``LimitHit``, with the reset
instant and window the vendor's words give; overloaded, balance, server and
context-length errors are not.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path, PureWindowsPath

from analyzer.api import (
    BadLine,
    JsonlParser,
    LimitHit,
    Prompt,
    Record,
    Request,
    Session,
    SourceContext,
    first_objects,
    home_from,
    hookimpl,
    read_refusal,
    unknown_line,
    utc_iso,
)

AGENT = "pi"
ENTRY_TYPES = frozenset(
    {
        "message",
        "model_change",
        "thinking_level_change",
        "compaction",
        "branch_summary",
        "custom",
        "custom_message",
        "label",
        "session_info",
    }
)
GOOGLE_APIS = ("google-generative-ai", "google-vertex")
# Refusal kinds that are a limit of the plan or the account; overloaded, balance, spend and expired are not.
HIT_KINDS = frozenset({"quota", "rate_limit", "concurrency", "fair_use"})


def pi_dirs(env: Mapping[str, str]) -> list[Path]:
    """pi's agent folder: ``PI_CODING_AGENT_DIR`` (``~`` expanded) when set, else ``~/.pi/agent``."""
    value = env.get("PI_CODING_AGENT_DIR", "").strip()
    if value:
        if value == "~" or value.startswith(("~/", "~\\")):
            return [home_from(env) / value[2:]] if len(value) > 1 else [home_from(env)]
        return [Path(value)]
    return [home_from(env) / ".pi" / "agent"]


def session_id_of_path(path: str) -> str | None:
    """The session id in a session file's name, ``<time>_<id>.jsonl`` (pi) or ``<id>.jsonl`` (as ``parentSession`` gives it)."""
    name = PureWindowsPath(path).name if "\\" in path else Path(path).name
    if not name.endswith(".jsonl"):
        return None
    stem = name[: -len(".jsonl")]
    if re.match(r"\d{4}-\d{2}-\d{2}T[\d-]+Z_", stem):
        return stem.split("_", 1)[1]
    return stem or None


def digest(*parts) -> str:
    return hashlib.sha1("\0".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:20]


def _int(value) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, (int, float)):
        return max(int(value), 0)
    return 0


def text_of(content) -> str:
    """The text blocks of a message's content (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text") or "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def split_usage(usage: dict, api: str | None) -> dict:
    """pi's usage object as the four disjoint columns (plus the 1-hour and reasoning parts)."""
    inp, out = _int(usage.get("input")), _int(usage.get("output"))
    read, write = _int(usage.get("cacheRead")), _int(usage.get("cacheWrite"))
    total = _int(usage.get("totalTokens"))
    inside = False
    if read and inp >= read:
        if total:
            inside = total < inp + out + read + write
        else:
            inside = api in GOOGLE_APIS
    if inside:
        inp -= read
    w1 = usage.get("cacheWrite1h")
    w5 = None
    if isinstance(w1, int) and not isinstance(w1, bool) and 0 <= w1 <= write:
        w5 = write - w1
    else:
        w1 = None
    reasoning = _int(usage.get("reasoning"))
    return {
        "input_tokens": inp,
        "cache_read_tokens": read,
        "cache_write_tokens": write,
        "cache_write_5m_tokens": w5,
        "cache_write_1h_tokens": w1,
        "output_tokens": out,
        "reasoning_tokens": reasoning if reasoning <= out else 0,
    }


def _header(objects: list) -> dict | None:
    for obj in objects:
        if isinstance(obj, dict) and obj.get("type") == "session":
            return obj if isinstance(obj.get("id"), str) else None
    return None


class PiParser(JsonlParser):
    """pi session files (format versions 1 to 3)."""

    name = AGENT
    agent = AGENT
    env_vars = ("PI_CODING_AGENT_DIR",)

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return [d / "sessions" for d in pi_dirs(env)]

    def candidate(self, path: Path) -> bool:
        return path.suffix == ".jsonl"

    def recognise(self, path: Path, head: bytes) -> bool:
        objects = first_objects(head, 1)
        if objects:
            return _header(objects) is not None
        return bool(re.match(rb'\s*\{\s*"type"\s*:\s*"session"', head))

    # --- one line -------------------------------------------------------------------

    def handle(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        kind = obj.get("type")
        if kind == "session":
            yield from self._header(obj, offset, state)
            return
        if kind not in ENTRY_TYPES:
            yield unknown_line(offset, kind, obj)  # ignored unless it carries usage-like fields
            return
        if "sid" not in state:
            yield BadLine(offset, "bad_shape", "entry before the session header")
            return
        if kind == "message":
            yield from self._message(obj, offset, state)
        elif kind == "model_change":
            if isinstance(obj.get("provider"), str):
                state["prov"] = obj["provider"]
        elif kind == "compaction":
            state["trigger"] = "compaction"
        elif kind in ("custom_message", "branch_summary"):
            state["trigger"] = "other"

    def _header(self, obj: dict, offset: int, state: dict) -> Iterator[Record]:
        sid = obj.get("id")
        if not isinstance(sid, str) or not sid:
            yield BadLine(offset, "bad_shape", "session header without an id")
            return
        parent_path = obj.get("parentSession") or obj.get("branchedFrom")  # version 1 named it branchedFrom
        parent = session_id_of_path(parent_path) if isinstance(parent_path, str) else None
        state.clear()
        state["sid"] = sid
        state["start"] = utc_iso(obj.get("timestamp")) if obj.get("timestamp") else None
        state["parent"] = parent if parent != sid else None
        state["cwd"] = obj.get("cwd") if isinstance(obj.get("cwd"), str) else None
        if isinstance(obj.get("provider"), str):
            state["prov"] = obj["provider"]  # version 1 headers name the starting provider and model
        yield Session(
            agent=self.agent, session_id=sid, project=state["cwd"], cwd=state["cwd"], parent_session_id=state["parent"]
        )

    def _origin(self, state: dict, ts: str) -> str:
        """The session an entry was first written in: a fork's copies are older than its header."""
        start, parent = state.get("start"), state.get("parent")
        if parent and start and ts < start:
            return parent
        return state["sid"]

    def _message(self, obj: dict, offset: int, state: dict) -> Iterator[Record]:
        message = obj.get("message")
        if not isinstance(message, dict):
            yield BadLine(offset, "bad_shape", "message entry without a message object")
            return
        role = message.get("role")
        if role == "user":
            yield from self._user(obj, message, offset, state)
        elif role == "assistant":
            yield from self._assistant(obj, message, offset, state)
        elif role == "toolResult":
            state["trigger"] = "tool_result"
        elif role in ("bashExecution", "custom", "hookMessage", "branchSummary", "compactionSummary"):
            state["trigger"] = "other"
        else:
            yield BadLine(offset, "unknown_type", f"unknown message role {role!r}")

    @staticmethod
    def _ts(obj: dict, message: dict) -> str | None:
        for value in (obj.get("timestamp"), message.get("timestamp")):
            if value is None or isinstance(value, bool):
                continue
            try:
                return utc_iso(value)
            except (TypeError, ValueError):
                continue
        return None

    def _user(self, obj: dict, message: dict, offset: int, state: dict) -> Iterator[Record]:
        ts = self._ts(obj, message)
        if not ts:
            yield BadLine(offset, "bad_shape", "user message without a timestamp")
            return
        text = text_of(message.get("content"))
        key = f"{self.agent}:p:{digest(message.get('timestamp') or obj.get('timestamp'), text)}"
        yield Prompt(
            key=key, agent=self.agent, session_id=self._origin(state, ts), ts=ts, text=text, project=state.get("cwd")
        )
        state["prompt"] = key
        state["trigger"] = "prompt"

    def _assistant(self, obj: dict, message: dict, offset: int, state: dict) -> Iterator[Record]:
        ts = self._ts(obj, message)
        if not ts:
            yield BadLine(offset, "bad_shape", "assistant message without a timestamp")
            return
        provider = message.get("provider") if isinstance(message.get("provider"), str) else state.get("prov")
        model = message.get("model") if isinstance(message.get("model"), str) and message.get("model") else None
        usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
        columns = split_usage(usage, message.get("api"))
        stop = message.get("stopReason")
        session_id = self._origin(state, ts)
        billed = (
            columns["input_tokens"]
            + columns["cache_read_tokens"]
            + columns["cache_write_tokens"]
            + columns["output_tokens"]
        )
        if stop == "error":
            hit = self._limit_hit(message, ts, session_id, model, provider)
            if hit:
                yield hit
        if not billed:
            return  # an error or abort before the provider reported usage: the retry answers the same trigger
        trigger, prompt_key = state.get("trigger") or "other", state.get("prompt")
        state["trigger"] = "other"
        key = digest(
            message.get("timestamp") or obj.get("timestamp"),
            message.get("provider"),
            message.get("model"),
            usage.get("input"),
            usage.get("output"),
            usage.get("cacheRead"),
            usage.get("cacheWrite"),
            message.get("responseId"),
        )
        yield Request(
            key=f"{self.agent}:{key}",
            agent=self.agent,
            session_id=session_id,
            ts=ts,
            model=model,
            provider=provider,
            project=state.get("cwd"),
            **columns,
            trigger=trigger,
            prompt_key=prompt_key,
            complete=stop not in ("error", "aborted"),
            raw_usage={**usage, "api": message.get("api"), "stopReason": stop},
        )

    def _limit_hit(
        self, message: dict, ts: str, session_id: str, model: str | None, provider: str | None
    ) -> LimitHit | None:
        text = str(message.get("errorMessage") or "")
        refused = read_refusal(text, at=ts, provider=provider, model=model)
        if refused is None or refused.kind not in HIT_KINDS:
            return None
        return LimitHit(
            key=f"{self.agent}:hit:{digest(message.get('timestamp'), ts, text[:200])}",
            agent=self.agent,
            session_id=session_id,
            ts=ts,
            reset_at=refused.reset_at,
            window_minutes=refused.window_minutes,
            limit_type=refused.limit_type,
            message=text[:500] or None,
            model=model,
        )


@hookimpl
def register_parsers(register):
    register(PiParser())
