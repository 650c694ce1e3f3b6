"""One task folder (``tasks/<taskId>/``) into records.

``ui_messages.json`` is a JSON array of ``ClineMessage``s (``{ts, type: "say" |
"ask", say | ask, text, partial, ...}``), rewritten whole on every change. What
is read from it:

* **Requests.** ``say:"api_req_started"``, whose ``text`` is JSON with
  ``tokensIn``, ``tokensOut``, ``cacheWrites``, ``cacheReads``, ``cost`` and
  optionally ``cancelReason`` / ``streamingFailedMessage`` / ``apiProtocol``.
  The key is the agent, the task id and the message's ``ts`` (it never changes
  while the message is rewritten), so re-reading the file updates a row and
  never adds one; the usage is filled in after the stream ends, so the most
  complete copy wins as everywhere. A record with no usage field yet is a
  request in flight, or one that failed before its first chunk (the agents
  retry inside the same record): it is not counted until usage appears. A
  cancelled or failed-mid-stream request (``cancelReason``
  ``user_cancelled`` / ``streaming_failed``) is counted with the usage it
  recorded (the input was sent and the streamed output was produced, so it was
  billed); one whose four counts are all zero is not counted (it never reached
  the model, e.g. Cline's failed attempts before a retry). Token classes:
  ``usage``.
* **Restored-away requests.** ``deleted_api_reqs`` (Cline) and
  ``api_req_deleted`` (Roo, Kilo): ``restores``.
* **Subagents.** Cline's ``say:"subagent_usage"`` (``{source: "subagents",
  tokensIn, ...}``) is the summed usage of a batch of in-process subagents:
  one sidechain row (``trigger = "subagent"``), keyed on its ``ts``. Roo and
  Kilo subtasks are task folders of their own whose ``history_item.json`` names
  a ``parentTaskId``: their requests are sidechain requests and their first
  ``say:"task"`` was written by the parent, so it is not a prompt.
* **Compaction.** Roo's ``say:"condense_context"`` is a model call whose cost
  (``contextCondense.cost``) is recorded but not its tokens: it is stored as a
  ``compaction`` request with zero tokens and the cost in its raw usage. Cline's
  summarising call is an ordinary ``api_req_started``.
* **Prompts.** ``say:"task"`` (the task's first message) and
  ``say:"user_feedback"`` (every later message typed into the chat box, also
  when it answers a question) are typed prompts. ``ask:*`` approvals
  (``followup``, ``command``, ``tool``, ``resume_task``, ...) are not.
* **Limit hits**: ``limits``.

The model of a request is the message's own ``modelInfo`` (newer Cline), else
the latest ``task_metadata.json`` ``model_usage`` entry with ``ts`` at or
before the request (Cline), else the ``<model>`` tag of the environment details
in the latest ``api_conversation_history.json`` user message at or before it
(Roo, Kilo). The provider is Cline's ``model_provider_id`` / ``providerId``;
Roo and Kilo do not record theirs in the task folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
from analyzer.parsers.cline_tasks import limits
from analyzer.parsers.cline_tasks.restores import Aggregate, remember, residual
from analyzer.parsers.cline_tasks.usage import has_usage, inclusive_for, split

from analyzer.api import BadLine, LimitHit, Prompt, Record, Request, Session, utc_iso

AGGREGATE_SAYS = {"cline": "deleted_api_reqs", "roo-code": "api_req_deleted", "kilo-code": "api_req_deleted"}
_MODEL_TAG = re.compile(r"<model>([^<]{1,200})</model>")


def read_json(path: Path):
    """A sibling JSON file, or None when it is missing or unreadable."""
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


class Task:
    """The context one ``ui_messages.json`` is read in."""

    def __init__(self, path: Path, agent: str, state: dict):
        self.path = path
        self.agent = agent
        self.state = state
        self.task_id = path.parent.name
        folder = path.parent
        meta = read_json(folder / "task_metadata.json") if agent == "cline" else None
        usage = meta.get("model_usage") if isinstance(meta, dict) else None
        self.model_usage = sorted(
            (u for u in usage or [] if isinstance(u, dict) and isinstance(u.get("ts"), (int, float))),
            key=lambda u: u["ts"],
        )
        item = read_json(folder / "history_item.json") if agent != "cline" else None
        self.history = item if isinstance(item, dict) else {}
        self.parent = self.history.get("parentTaskId") or None
        self.models = self._conversation_models(folder) if agent != "cline" else []

    def _conversation_models(self, folder: Path) -> list[tuple[int, str]]:
        history = read_json(folder / "api_conversation_history.json")
        found: list[tuple[int, str]] = []
        for message in history if isinstance(history, list) else []:
            if not isinstance(message, dict) or message.get("role") != "user":
                continue
            ts = message.get("ts")
            content = message.get("content")
            texts = (
                [content]
                if isinstance(content, str)
                else [b.get("text") for b in content or [] if isinstance(b, dict) and isinstance(b.get("text"), str)]
            )
            for text in texts:
                for m in _MODEL_TAG.finditer(text or ""):
                    if isinstance(ts, (int, float)):
                        found.append((int(ts), m.group(1).strip()))
        return sorted(found)

    def model_at(self, message: dict, ts: int) -> tuple[str | None, str | None]:
        """(model, provider) of a request made at ``ts``."""
        info = message.get("modelInfo")
        if isinstance(info, dict) and info.get("modelId"):
            return str(info["modelId"]), _text(info.get("providerId"))
        entry = None
        for u in self.model_usage:
            if u["ts"] <= ts:
                entry = u
        if entry is not None:
            return _text(entry.get("model_id")), _text(entry.get("model_provider_id"))
        model = None
        for at, name in self.models:
            if at <= ts:
                model = name
        if model is None and self.models:
            model = self.models[0][1]
        return model, None


def _text(value) -> str | None:
    return str(value) if isinstance(value, str) and value else None


def _info(message: dict) -> dict | None:
    """The JSON object in a message's ``text``, or None."""
    text = message.get("text")
    if not isinstance(text, str) or not text.startswith("{"):
        return None
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def task_records(path: Path, agent: str, state: dict) -> Iterator[Record]:
    """Every record of one ``ui_messages.json``."""
    try:
        messages = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        yield BadLine(0, "corrupt", f"ui_messages.json is not JSON: {exc}")
        return
    if not isinstance(messages, list):
        yield BadLine(0, "bad_shape", "ui_messages.json is not a JSON array")
        return
    task = Task(path, agent, state)
    session = task.task_id
    sidechain = task.parent is not None
    yield Session(
        agent=agent,
        session_id=session,
        project=_text(task.history.get("workspace")),
        parent_session_id=task.parent,
        is_subagent=sidechain,
    )
    present = {int(m["ts"]) for m in messages if isinstance(m, dict) and _is_request(m)}
    prompt_key: str | None = None
    fresh_prompt = False
    previous_ts: int | None = None
    protocol: str | None = None
    for position, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("ts"), (int, float)):
            yield BadLine(position, "bad_shape", "a ui message without a numeric ts")
            continue
        ts = int(message["ts"])
        when = utc_iso(ts)
        say = message.get("say")
        if message.get("type") == "say" and say in ("task", "user_feedback"):
            if say == "task" and sidechain:
                pass  # a subtask's task text was written by its parent
            elif isinstance(message.get("text"), str) and not message.get("partial"):
                prompt_key = f"{agent}:prompt:{session}:{ts}"
                fresh_prompt = True
                yield Prompt(
                    key=prompt_key,
                    agent=agent,
                    session_id=session,
                    ts=when,
                    text=message["text"],
                    is_sidechain=sidechain,
                )
        elif say == "api_req_started":
            info = _info(message) or {}
            protocol = info.get("apiProtocol") or protocol
            request = _request(task, message, info, ts, when, prompt_key, fresh_prompt, sidechain)
            if request is not None:
                fresh_prompt = False
                yield request
        elif say == AGGREGATE_SAYS[agent]:
            info = _info(message)
            if info is not None and previous_ts is not None:
                yield from _aggregate(task, message, info, ts, when, previous_ts, present, protocol, prompt_key)
        elif say == "subagent_usage" and agent == "cline":
            info = _info(message)
            if info is not None and has_usage(info):
                yield _subagent(task, message, info, ts, when, prompt_key)
        elif say == "condense_context" and agent != "cline" and not message.get("partial"):
            condense = message.get("contextCondense") if isinstance(message.get("contextCondense"), dict) else {}
            model, provider = task.model_at(message, ts)
            yield Request(
                key=f"{agent}:{session}:{ts}",
                agent=agent,
                session_id=session,
                ts=when,
                model=model,
                provider=provider,
                trigger="compaction",
                prompt_key=prompt_key,
                is_sidechain=sidechain,
                raw_usage={
                    "condense": {k: condense.get(k) for k in ("cost", "prevContextTokens", "newContextTokens")},
                    "tokens": "not recorded by the agent",
                },
            )
        hit = _limit_hit(task, message, ts, when)
        if hit is not None:
            yield hit
        previous_ts = ts


def _is_request(message: dict) -> bool:
    return message.get("say") in ("api_req_started", "deleted_api_reqs", "api_req_deleted") and isinstance(
        message.get("ts"), (int, float)
    )


def _request(
    task: Task,
    message: dict,
    info: dict,
    ts: int,
    when: str,
    prompt_key: str | None,
    fresh_prompt: bool,
    sidechain: bool,
) -> Request | None:
    if not has_usage(info):
        return None  # in flight, or failed before its first chunk
    model, provider = task.model_at(message, ts)
    tokens, rule = split(info, inclusive_for(task.agent, ts, provider, info.get("apiProtocol")))
    cancelled = info.get("cancelReason")
    if cancelled and not tokens.any():
        return None
    remember(task.state, ts, tokens)
    raw = {
        k: info[k]
        for k in (
            "tokensIn",
            "tokensOut",
            "cacheWrites",
            "cacheReads",
            "cost",
            "cancelReason",
            "apiProtocol",
            "usageMissing",
            "inferenceProvider",
        )
        if k in info
    }
    raw["rule"] = rule
    return Request(
        key=f"{task.agent}:{task.task_id}:{ts}",
        agent=task.agent,
        session_id=task.task_id,
        ts=when,
        model=model,
        provider=provider,
        input_tokens=tokens.input,
        cache_read_tokens=tokens.cache_read,
        cache_write_tokens=tokens.cache_write,
        output_tokens=tokens.output,
        trigger=("subagent" if sidechain and prompt_key is None else "prompt" if fresh_prompt else "tool_result"),
        prompt_key=prompt_key,
        is_sidechain=sidechain,
        complete=not message.get("partial"),
        raw_usage=raw,
    )


def _aggregate(
    task: Task,
    message: dict,
    info: dict,
    ts: int,
    when: str,
    low: int,
    present: set[int],
    protocol: str | None,
    prompt_key: str | None,
) -> Iterator[Request]:
    model, provider = task.model_at(message, ts)
    total, rule = split(info, inclusive_for(task.agent, ts, provider, protocol))
    added = residual(task.state, Aggregate(ts, low, total), present, nested=task.agent == "cline")
    if not added.any():
        return
    yield Request(
        key=f"{task.agent}:{task.task_id}:{ts}",
        agent=task.agent,
        session_id=task.task_id,
        ts=when,
        model=model,
        provider=provider,
        input_tokens=added.input,
        cache_read_tokens=added.cache_read,
        cache_write_tokens=added.cache_write,
        output_tokens=added.output,
        trigger="other",
        prompt_key=prompt_key,
        is_sidechain=task.parent is not None,
        raw_usage={"aggregate": message.get("say"), "total": total.as_list(), "rule": rule, "cost": info.get("cost")},
    )


def _subagent(task: Task, message: dict, info: dict, ts: int, when: str, prompt_key: str | None) -> Request:
    model, provider = task.model_at(message, ts)
    tokens, rule = split(info, inclusive_for(task.agent, ts, provider, None))
    return Request(
        key=f"{task.agent}:{task.task_id}:{ts}",
        agent=task.agent,
        session_id=task.task_id,
        ts=when,
        model=model,
        provider=provider,
        input_tokens=tokens.input,
        cache_read_tokens=tokens.cache_read,
        cache_write_tokens=tokens.cache_write,
        output_tokens=tokens.output,
        trigger="subagent",
        prompt_key=prompt_key,
        is_sidechain=True,
        complete=not message.get("partial"),
        raw_usage={"aggregate": "subagent_usage", "rule": rule, "cost": info.get("cost")},
    )


def _limit_hit(task: Task, message: dict, ts: int, when: str) -> LimitHit | None:
    say, ask = message.get("say"), message.get("ask")
    raw = message.get("text") if isinstance(message.get("text"), str) else ""
    if ask == "api_req_failed" or say == "error":
        text = limits.error_text(raw)
    elif say == "error_retry":
        info = _info(message) or {}
        if info.get("failed"):
            return None  # the api_req_failed after it carries the same refusal
        text = limits.error_text(info.get("errorMessage") if isinstance(info.get("errorMessage"), str) else "")
    elif say == "api_req_retry_delayed":
        if message.get("partial"):
            return None
        text = re.sub(r"<retry_timer>\d*</retry_timer>", "", raw)
    else:
        return None
    model, provider = task.model_at(message, ts)
    refused = limits.refusal(text, when, provider, model)
    if refused is None:
        return None
    return LimitHit(
        key=f"{task.agent}:hit:{task.task_id}:{ts}",
        agent=task.agent,
        session_id=task.task_id,
        ts=when,
        reset_at=refused.reset_at,
        window_minutes=refused.window_minutes,
        limit_type=refused.limit_type,
        message=text[:500],
        model=model,
    )
