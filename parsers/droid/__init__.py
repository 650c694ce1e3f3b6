"""Factory Droid (``droid``): ``~/.factory/sessions/<cwd-slug>/<sessionId>.{settings.json,jsonl}``.

Roots: ``$FACTORY_HOME_OVERRIDE/.factory/sessions`` when set (Droid's own
override of the home folder), else ``~/.factory/sessions`` (``HOME``, on
Windows ``USERPROFILE``); ``DROID_SESSIONS_DIR`` (comma-separated, ccusage's
variable) adds folders. Sessions sit in one folder per working directory
(``-home-me-proj``), directly in ``sessions/``, or in ``sessions/btw/``.

Droid keeps no per-call usage on disk. Two files per session, read by two parsers:

* ``<id>.settings.json`` (``DroidSettingsParser``, read whole whenever it
  changes, keeping a state): ``tokenUsage`` is the session's running total
  (``usage``). Each read stores the *growth* since the last read
  (``analyzer.parsers._growth``), shared out over the assistant messages the transcript
  gained since the previous growth, one ``Request`` per message keyed
  ``droid:<session>:<message id>``; growth with no new message to carry it is
  one row keyed by the running total. Exact: every session's token total, and
  every call's time, model (``modelId``) and provider (``apiProvider``).
  Estimated: how the tokens of the calls between two reads split among them
  (read often, as ``analyzer watch`` does, and each row is one call's own).
* ``<id>.jsonl`` (``DroidTranscriptParser``, tailed): the typed prompts and
  the session's facts (``transcript``).

Traps, each with a fixture:

* the running total re-read unchanged adds nothing; rewritten larger adds the
  difference; rewritten smaller adds nothing;
* ``/compact`` starts a *successor* session (``session_start.parent``, no
  ``forkedAtMessageId``) whose ``tokenUsage`` starts at the parent's total:
  that inherited part is its baseline, not growth (the parent's settings file
  is read for it; while the successor is untouched, ``pendingSessionStartSource:
  "compact"`` says its whole total is inherited);
* a fork copies the parent's lines (message ids kept, ``forkedAtMessageId`` on
  its first line) and starts its total at zero: copied messages are not calls
  of the fork, and copied prompts count once;
* a subagent (Task tool) is its own session with ``callingSessionId``; the
  caller's ``inclusiveTokenUsage`` repeats its total and is never read. Its
  calls are sidechain calls with trigger ``subagent``, its user messages are
  the caller's instructions, not prompts.

A copy of a session under another path starts again from its baseline (its
state is per file): it would add its total again. Droid does not copy
sessions; moving one (same file) keeps its state.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

import orjson
from analyzer.parsers._growth import share, take_growth
from analyzer.parsers.droid.transcript import (
    KNOWN_TYPES,
    is_tool_result,
    message_of,
    prompt_key,
    prompt_text,
    read_start,
)
from analyzer.parsers.droid.usage import normalise_model, provider_of, usage_vector

from analyzer.api import (
    BadLine,
    JsonlParser,
    Prompt,
    Record,
    Request,
    Session,
    SourceContext,
    env_paths,
    first_objects,
    home_from,
    hookimpl,
    unknown_line,
    utc_iso,
)

AGENT = "droid"
ENV_VARS = ("FACTORY_HOME_OVERRIDE", "DROID_SESSIONS_DIR")
SETTINGS_SUFFIX = ".settings.json"
MAX_PENDING = 2000  # calls waiting for growth, kept in the state


def droid_roots(env: Mapping[str, str]) -> list[Path]:
    home = Path(env["FACTORY_HOME_OVERRIDE"]) if env.get("FACTORY_HOME_OVERRIDE", "").strip() else home_from(env)
    roots = [home / ".factory" / "sessions"]
    return roots + [p for p in env_paths(env, "DROID_SESSIONS_DIR") if p not in roots]


class DroidSettingsParser:
    """Token rows from the running total in ``<id>.settings.json``."""

    name = "droid"
    agent = AGENT
    mode: Literal["lines", "file"] = "file"
    keeps_state = True
    env_vars = ENV_VARS

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return droid_roots(env)

    def candidate(self, path: Path) -> bool:
        return path.name.endswith(SETTINGS_SUFFIX) and path.name != SETTINGS_SUFFIX

    def recognise(self, path: Path, head: bytes) -> bool:
        return head.lstrip().startswith(b"{")

    def parse_file(self, path: Path, ctx: SourceContext, state: dict) -> Iterator[Record]:
        try:
            settings = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            yield BadLine(0, "corrupt", f"settings file is not JSON: {exc}")
            return
        if not isinstance(settings, dict):
            yield BadLine(0, "bad_shape", "settings file is not a JSON object")
            return
        try:
            now = usage_vector(settings)
        except ValueError as exc:
            yield BadLine(0, "bad_shape", str(exc))
            return
        session_id = path.name[: -len(SETTINGS_SUFFIX)]
        new = dict(state)
        start = read_calls(path.with_name(session_id + ".jsonl"), new)
        yield from session_facts(session_id, start)
        if now is None:
            state.update(new)
            return
        growth = take_growth(new, now, inherited(settings, start, path, ctx, now) if "t" not in state else None)
        pending = new.get("pend", [])
        if any(growth):
            sub = bool(start and start.calling)
            if pending:
                for call, part in zip(pending, share(growth, len(pending))):
                    yield self._request(session_id, call, part, settings, start, sub)
                new["pend"] = []
            else:
                orphan = {
                    "key": "total:" + ":".join(str(v) for v in new["t"][:4]),
                    "ts": new.get("last") or utc_iso(settings.get("providerLockTimestamp")) or _mtime(path),
                }
                yield self._request(session_id, orphan, growth, settings, start, sub)
        state.clear()
        state.update(new)

    def _request(self, session_id: str, call: dict, part: list[int], settings: dict, start, sub: bool) -> Request:
        uncached, cache_read, cache_write, output, thinking = part
        model = normalise_model(call.get("model")) or normalise_model(settings.get("model"))
        trigger = "subagent" if sub else call.get("trigger", "other")
        return Request(
            key=f"{AGENT}:{session_id}:{call['key']}",
            agent=AGENT,
            session_id=session_id,
            ts=call["ts"],
            model=model,
            provider=call.get("provider") or provider_of(settings) or "factory",
            project=start.cwd if start else None,
            input_tokens=uncached,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            output_tokens=output,
            reasoning_tokens=min(thinking, output),
            trigger=trigger,
            prompt_key=call.get("prompt"),
            is_sidechain=sub,
            raw_usage={
                "share_of_growth": dict(
                    zip(
                        ("inputTokens", "cacheReadTokens", "cacheCreationTokens", "outputTokens", "thinkingTokens"),
                        part,
                    )
                ),
                "session_total": settings.get("tokenUsage"),
            },
        )


def read_calls(transcript: Path, state: dict):
    """The transcript's session_start; its new assistant messages are added to ``state["pend"]``.

    Line 1 is rewritten when Droid retitles the session, so the position kept
    (``state["off"]``) counts from the end of line 1. A fork's copied lines
    (up to ``forkedAtMessageId``) are skipped.
    """
    try:
        data = transcript.read_bytes()
    except OSError:
        return None
    end_first = data.find(b"\n")
    if end_first < 0:
        return None
    start = None
    try:
        first = orjson.loads(data[:end_first])
        start = read_start(first) if isinstance(first, dict) else None
    except orjson.JSONDecodeError:
        pass
    body = data[end_first + 1 :]
    off = int(state.get("off", 0))
    if off > len(body):
        off = len(body)  # rewritten shorter: what is there was read
    if "skip" not in state:
        state["skip"] = start.forked_at if start else None
    pending = list(state.get("pend", []))
    stop = body.rfind(b"\n") + 1
    for raw in body[off:stop].split(b"\n"):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # the transcript parser reports it
        message = message_of(obj) if isinstance(obj, dict) else None
        if message is None:
            continue
        mid = obj.get("id")
        ts = utc_iso(obj.get("timestamp")) if obj.get("timestamp") else None
        if state.get("skip"):
            if mid == state["skip"]:
                state["skip"] = None
            continue
        if ts:
            state["last"] = ts
        if message.get("role") == "assistant" and isinstance(mid, str) and ts:
            pending.append(
                {
                    "key": mid,
                    "ts": ts,
                    "model": message.get("modelId"),
                    "provider": message.get("apiProvider"),
                    "trigger": state.get("next", "other"),
                    "prompt": state.get("prompt"),
                }
            )
            state["next"] = "tool_result"
        elif message.get("role") == "user" and isinstance(mid, str):
            if prompt_text(message) is not None and not (start and start.calling):
                state["prompt"], state["next"] = prompt_key(mid), "prompt"
            elif is_tool_result(message):
                state["next"] = state.get("next") if state.get("next") == "prompt" else "tool_result"
    state["off"] = max(off, stop)
    state["pend"] = pending[-MAX_PENDING:]
    return start


def inherited(settings: dict, start, path: Path, ctx: SourceContext, now: list[int]) -> list[int] | None:
    """The part of a compaction successor's first total that is its parent's."""
    if start is None or not start.parent or start.forked_at or start.calling:
        return None
    if settings.get("pendingSessionStartSource") == "compact":
        return list(now)  # untouched since /compact wrote it: all of it is the parent's
    parent = find_settings(start.parent, path, ctx)
    if parent is None:
        return None
    try:
        theirs = usage_vector(orjson.loads(parent.read_bytes()))
    except (OSError, ValueError, orjson.JSONDecodeError, AttributeError):
        return None
    return [min(a, b) for a, b in zip(now, theirs)] if theirs else None


def find_settings(session_id: str, near: Path, ctx: SourceContext) -> Path | None:
    name = session_id + SETTINGS_SUFFIX
    folders = [near.parent]
    root = ctx.root if ctx.root and ctx.root.is_dir() else near.parent.parent
    folders.append(root)
    try:
        folders += sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        pass
    return next((f / name for f in folders if (f / name).is_file()), None)


def session_facts(session_id: str, start) -> Iterator[Record]:
    if start is None:
        return
    yield Session(
        agent=AGENT,
        session_id=session_id,
        project=start.cwd,
        cwd=start.cwd,
        parent_session_id=start.calling or start.parent,
        title=start.title,
        is_subagent=bool(start.calling),
    )


def _mtime(path: Path) -> str:
    return utc_iso(path.stat().st_mtime)


class DroidTranscriptParser(JsonlParser):
    """Typed prompts and session facts from ``<id>.jsonl``."""

    name = "droid-transcript"
    agent = AGENT
    env_vars = ENV_VARS

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return droid_roots(env)

    def candidate(self, path: Path) -> bool:
        return path.suffix == ".jsonl"

    def recognise(self, path: Path, head: bytes) -> bool:
        objects = first_objects(head, 1)
        return bool(objects) and isinstance(objects[0], dict) and objects[0].get("type") == "session_start"

    def handle(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        kind = obj.get("type")
        if kind not in KNOWN_TYPES:
            yield unknown_line(offset, kind, obj)  # ignored unless it carries usage-like fields
            return
        start = read_start(obj)
        if start is not None:
            state.update(sid=start.session_id, cwd=start.cwd, sub=bool(start.calling))
            yield from session_facts(start.session_id, start)
            return
        message = message_of(obj)
        if message is None or state.get("sub"):
            return
        text = prompt_text(message)
        if text is None or not isinstance(obj.get("id"), str) or not obj.get("timestamp"):
            return
        session_id = state.get("sid") or ctx.path.stem
        yield Prompt(
            key=prompt_key(obj["id"]),
            agent=AGENT,
            session_id=session_id,
            ts=utc_iso(obj["timestamp"]),
            text=text,
            project=state.get("cwd"),
        )


@hookimpl
def register_parsers(register):
    register(DroidSettingsParser())
    register(DroidTranscriptParser())
