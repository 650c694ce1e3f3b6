"""iFlow CLI sessions: ``<iflow home>/projects/<project>/session-<uuid>.jsonl``.

iFlow CLI (``@iflow-ai/iflow-cli``, a Gemini CLI fork by iflow-ai) shut down on
2026-04-17; its sessions stay on disk and are read here. Roots: ``IFLOW_HOME``
when set, else ``~/.iflow`` (``os.homedir()`` on every OS); sessions are under
``projects/``. The folder name is the project path with the leading ``/``
dropped, ``\\``, ``/``, ``:``, blanks and every character outside
``[A-Za-z0-9_.-]`` turned into ``-``, runs of ``-`` squeezed and one leading
``-`` (``/Users/b/my app`` -> ``-Users-b-my-app``); it is lossy, the project is
taken from the ``cwd`` inside the file.

Read from the shipped bundle of version 0.5.19 (the last), as extracted in
``The-Sunder-islands/iflow-cli-ce`` @ ``be76597`` (the history manager and the
interactive and non-interactive loops). Each line is appended once
(``appendFile``), never rewritten, in Claude Code's envelope: ``uuid``,
``parentUuid``, ``sessionId`` (``session-<uuid>``, the file name),
``timestamp``, ``type`` (``user`` / ``assistant``), ``isSidechain``,
``userType``, ``message``; user lines add ``cwd``, ``gitBranch``,
``version``; tool results are user lines with a ``tool_result`` block and
``toolUseResult``; compaction summaries carry ``isCompactSummary`` (and are
followed by an ``isMeta`` caveat line). ``version`` is ``$IFLOW_CLI_VERSION`` or
the placeholder ``1.0.0``, which is not recorded as the client version.

What the usage numbers are, and how it is counted:

* **Interactive sessions record no usage.** The interactive loop writes
  ``usage: {input_tokens: 0, output_tokens: 0}`` on every assistant line, and
  writes one line per tool call as the stream announces it (id
  ``response-<ms>-tool-<callId>``) plus one for trailing text
  (``response-<ms>``). One model call is therefore a *run* of consecutive
  zero-usage assistant lines between two user lines (a prompt or the tool
  results). Each run is one request with unknown (zero) tokens, marked
  incomplete; its key is the first line's ``uuid``. A failed tool writes no
  tool-result line, so the call after it merges into the run before (an
  undercount of requests the file cannot avoid).
* **``iflow -p`` sessions record usage.** The non-interactive loop writes one
  assistant line per model call with ``input_tokens`` = the API's
  ``prompt_tokens`` and ``output_tokens`` = ``completion_tokens``. iFlow's
  OpenAI-compatible reader drops the cached-token detail, so the cached part of
  the input cannot be told apart: it is all counted as uncached input (cache
  ratio understated, uncached input overstated). Output includes reasoning.
  Such a line is one request keyed by its ``message.id``.
* Slash commands are recorded as a user line (``/model``, ...) answered by an
  assistant line with ``model: "slash-command"`` and zero usage: neither is a
  prompt nor a request. A slash command answered by a model call (a custom
  command that submits a prompt) is the prompt of that call.
* The transcript names no provider. iFlow CLI's own login sends every call to
  the iFlow platform (``apis.iflow.cn``), so requests record ``iflow``; a
  person who pointed iFlow at another OpenAI-compatible endpoint will see
  ``iflow`` on those too.
* Errors (quota refusals included) are shown in the terminal and never written
  to the session file: iFlow sessions give no limit hits.

Prompt vs request: a ``user`` line whose content is text (a string or text /
image blocks) is a typed prompt, unless it is a tool result, a compaction
summary, a meta line, a sidechain line or a slash command (see above).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import orjson

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

AGENT = "iflow-cli"
PROVIDER = "iflow"
SLASH_MODEL = "slash-command"
# Lines carry IFLOW_CLI_VERSION, which the CLI leaves unset: "1.0.0" is its fallback, not a version.
PLACEHOLDER_VERSION = "1.0.0"


def iflow_dirs(env: Mapping[str, str]) -> list[Path]:
    """iFlow's home: ``IFLOW_HOME`` when set, else ``~/.iflow``."""
    return env_paths(env, "IFLOW_HOME") or [home_from(env) / ".iflow"]


def _int(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return max(int(value), 0)


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text") or "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _has_tool_result(content) -> bool:
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def iflow_shaped(obj) -> bool:
    """A line of an iFlow session: Claude's envelope with a ``session-`` session id."""
    if not isinstance(obj, dict) or obj.get("type") not in ("user", "assistant"):
        return False
    sid = obj.get("sessionId")
    message = obj.get("message")
    return (
        isinstance(sid, str)
        and sid.startswith("session-")
        and "uuid" in obj
        and isinstance(message, dict)
        and "content" in message
        and "parts" not in message
    )


class IflowCliParser(JsonlParser):
    """iFlow CLI session files."""

    name = AGENT
    agent = AGENT
    env_vars = ("IFLOW_HOME",)

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return [d / "projects" for d in iflow_dirs(env)]

    def candidate(self, path: Path) -> bool:
        return path.suffix == ".jsonl"

    def recognise(self, path: Path, head: bytes) -> bool:
        objects = first_objects(head)
        if objects:
            return iflow_shaped(objects[0])
        return path.name.startswith("session-") and bool(re.match(rb'\s*\{"uuid":', head))

    def handle(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        kind = obj.get("type")
        if kind not in ("user", "assistant"):
            yield unknown_line(offset, kind, obj)  # ignored unless it carries usage-like fields
            return
        message = obj.get("message")
        if not isinstance(message, dict) or not isinstance(obj.get("sessionId"), str) or not obj.get("uuid"):
            yield BadLine(offset, "bad_shape", f"{kind} line without message, sessionId or uuid")
            return
        yield from self._session(obj, state)
        if kind == "user":
            yield from self._user(obj, message, offset, state)
        else:
            yield from self._assistant(obj, message, offset, state, ctx)

    def _session(self, obj: dict, state: dict) -> Iterator[Record]:
        sid, cwd = obj["sessionId"], obj.get("cwd")
        if cwd and isinstance(cwd, str):
            state["cwd"] = cwd
        version = obj.get("version") if obj.get("version") != PLACEHOLDER_VERSION else None
        marker = [sid, state.get("cwd"), version or state.get("s", [None, None, None])[2]]
        if state.get("s") != marker:
            state["s"] = marker
            yield Session(
                agent=AGENT, session_id=sid, project=state.get("cwd"), cwd=state.get("cwd"), client_version=marker[2]
            )

    def _user(self, obj: dict, message: dict, offset: int, state: dict) -> Iterator[Record]:
        state.pop("run", None)  # a user line ends a run of assistant lines
        if obj.get("isSidechain"):
            return  # a subagent's instructions come from the model
        content = message.get("content")
        if _has_tool_result(content):
            state["trigger"] = "tool_result"
            state.pop("pending", None)
            return
        if obj.get("isCompactSummary"):
            state["trigger"] = "compaction"
            state.pop("pending", None)
            return
        if obj.get("isMeta"):
            return
        text = _text_of(content)
        if not text.strip() and not (isinstance(content, list) and content):
            return
        ts = utc_iso(obj.get("timestamp")) if obj.get("timestamp") else None
        if not ts:
            yield BadLine(offset, "bad_shape", "user line without a timestamp")
            return
        prompt = Prompt(
            key=f"{AGENT}:{obj['uuid']}",
            agent=AGENT,
            session_id=obj["sessionId"],
            ts=ts,
            text=text,
            project=state.get("cwd"),
        )
        if text.lstrip().startswith("/"):
            # A slash command: a prompt only if a model call answers it. Keep what
            # the Prompt needs (not the text: the state is stored) and decide later.
            state["pending"] = [prompt.key, ts, offset]
            state["trigger"] = "other"
            return
        state.pop("pending", None)
        yield prompt
        state["prompt"] = prompt.key
        state["trigger"] = "prompt"

    def _assistant(self, obj: dict, message: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        model = message.get("model")
        if model == SLASH_MODEL:
            state.pop("pending", None)
            state.pop("run", None)
            return
        ts = utc_iso(obj.get("timestamp")) if obj.get("timestamp") else None
        if not ts:
            yield BadLine(offset, "bad_shape", "assistant line without a timestamp")
            return
        usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
        inp, out = _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))
        reported = bool(inp or out)
        if not reported and state.get("run"):
            return  # another line of the model call already counted
        pending = state.pop("pending", None)
        if pending:
            yield self._command_prompt(obj, pending, state, ctx)
        sidechain = bool(obj.get("isSidechain"))
        if sidechain:
            trigger, prompt_key = "subagent", None
        else:
            trigger, prompt_key = state.get("trigger") or "other", state.get("prompt")
            state["trigger"] = "other"
        key_id = message.get("id") if reported and message.get("id") else obj["uuid"]
        if not reported:
            state["run"] = obj["uuid"]
        yield Request(
            key=f"{AGENT}:{key_id}",
            agent=AGENT,
            session_id=obj["sessionId"],
            ts=ts,
            model=model if isinstance(model, str) and model and model != "unknown" else None,
            provider=PROVIDER,
            project=state.get("cwd"),
            input_tokens=inp,
            output_tokens=out,
            trigger=trigger,
            prompt_key=prompt_key,
            is_sidechain=sidechain,
            complete=reported,
            raw_usage=usage or None,
        )

    def _command_prompt(self, obj: dict, pending: list, state: dict, ctx: SourceContext) -> Prompt:
        """The slash command a model call answered: the person's prompt after all."""
        key, ts, offset = pending
        state["prompt"] = key
        state["trigger"] = "prompt"
        return Prompt(
            key=key,
            agent=AGENT,
            session_id=obj["sessionId"],
            ts=ts,
            text=_line_text(ctx.path, offset),
            project=state.get("cwd"),
        )


def _line_text(path: Path, offset: int) -> str:
    """The text of the user line at ``offset`` (read again when a model call answers it)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            obj = orjson.loads(f.readline())
        return _text_of(obj["message"]["content"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


@hookimpl
def register_parsers(register):
    register(IflowCliParser())
