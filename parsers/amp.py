"""Amp (Sourcegraph's ``amp`` CLI): one JSON document per thread, ``<data>/threads/T-<id>.json``.

Roots: every folder in ``AMP_DATA_DIR`` (comma-separated), else
``$XDG_DATA_HOME/amp`` and ``~/.local/share/amp``; threads are under
``threads/``. A thread file is rewritten whole as the thread grows, so it is
read whole (``mode = "file"``) every time it changes; rows are keyed, so a
re-read adds only what is new.

A thread is ``{id, created (ms), title?, messages: [...], usageLedger?:
{events: [...]}}`` (the shape ccusage's and CodeBurn's readers parse):

* ``usageLedger.events[]`` is one billed request each: ``{id, timestamp,
  model, credits, tokens: {input, output, total?}, toMessageId?,
  operationType?}``. It is the count of requests when present, keyed
  ``amp:<thread>:ev:<id>``. The event has no cache figures; the assistant
  message it billed (``toMessageId`` = ``messages[].messageId``) has them in
  its ``usage`` (``cacheCreationInputTokens``, ``cacheReadInputTokens``).
  ``tokens.input`` is uncached input (Anthropic's convention, as the message's
  ``inputTokens``); a ``total`` above input + output + cache is output that
  was reported only in the total.
* An assistant message with ``usage`` that no event bills is counted from its
  own ``usage`` (``inputTokens``, ``outputTokens``, ``cache*InputTokens``,
  ``model``, ``timestamp``, ``credits``), keyed ``amp:<thread>:msg:<messageId>``:
  threads written before the ledger, or calls the ledger left out, count once.
* ``credits`` (Amp's own billing unit) is kept in ``raw_usage``.

The provider is ``amp``: every call goes through Amp's service, whichever model
it names. Prompts: user messages with text that are not tool results, timed by
``meta.sentAt`` (else the thread's ``created``). Amp writes no refusals to the
thread: no limit hits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

import orjson

from analyzer.api import (
    BadLine,
    Prompt,
    Record,
    Request,
    Session,
    SourceContext,
    env_paths,
    home_from,
    hookimpl,
    utc_iso,
)

AGENT = "amp"
PROVIDER = "amp"


def amp_dirs(env: Mapping[str, str]) -> list[Path]:
    given = env_paths(env, "AMP_DATA_DIR")
    if given:
        return given
    xdg = env.get("XDG_DATA_HOME", "").strip()
    dirs = [Path(xdg) / "amp"] if xdg else []
    default = home_from(env) / ".local" / "share" / "amp"
    return dirs + ([default] if default not in dirs else [])


class AmpParser:
    name = AGENT
    agent = AGENT
    mode: Literal["lines", "file"] = "file"
    env_vars = ("AMP_DATA_DIR", "XDG_DATA_HOME")

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return [d / "threads" for d in amp_dirs(env)]

    def candidate(self, path: Path) -> bool:
        return path.suffix == ".json" and "threads" in path.parts

    def recognise(self, path: Path, head: bytes) -> bool:
        return head.lstrip().startswith(b"{")

    def parse_file(self, path: Path, ctx: SourceContext) -> Iterator[Record]:
        try:
            thread = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            yield BadLine(0, "corrupt", f"thread file is not JSON: {exc}")
            return
        if not isinstance(thread, dict) or not isinstance(thread.get("id"), str):
            yield BadLine(0, "bad_shape", "thread file without an id")
            return
        yield from thread_records(thread)


def thread_records(thread: dict) -> Iterator[Record]:
    tid = thread["id"]
    created = utc_iso(thread["created"]) if _number(thread.get("created")) else None
    yield Session(
        agent=AGENT, session_id=tid, title=thread.get("title") if isinstance(thread.get("title"), str) else None
    )
    messages = (
        [m for m in thread.get("messages") or [] if isinstance(m, dict)]
        if isinstance(thread.get("messages"), list)
        else []
    )
    by_id = {m["messageId"]: m for m in messages if isinstance(m.get("messageId"), (int, str))}
    ledger = thread.get("usageLedger")
    events = [e for e in ledger.get("events") or [] if isinstance(e, dict)] if isinstance(ledger, dict) else []
    billed = {e.get("toMessageId") for e in events}
    prompt_at: dict[int, tuple] = {}  # message index -> (prompt key in force, trigger of a call there)
    prompt, after = None, "other"
    for index, message in enumerate(messages):
        if message.get("role") == "assistant":
            prompt_at[index] = (prompt, after)
            after = "tool_result"
            continue
        if message.get("role") == "user":
            text = _typed(message)
            if text is None:
                after = "tool_result" if after != "prompt" else after
            else:
                after = "prompt"
                mid = message.get("messageId", index)
                prompt = f"{AGENT}:prompt:{tid}:{mid}"
                meta = message.get("meta") if isinstance(message.get("meta"), dict) else {}
                ts = utc_iso(meta["sentAt"]) if _number(meta.get("sentAt")) else created
                if ts:
                    yield Prompt(key=prompt, agent=AGENT, session_id=tid, ts=ts, text=text)
    index_of = {id(m): i for i, m in enumerate(messages)}
    for n, event in enumerate(events):
        target = by_id.get(event.get("toMessageId"))
        link = prompt_at.get(index_of[id(target)], (prompt, "other")) if target else (prompt, "other")
        yield from _event(tid, n, event, target, link)
    for index, message in enumerate(messages):
        if (
            message.get("role") == "assistant"
            and isinstance(message.get("usage"), dict)
            and ("messageId" not in message or message["messageId"] not in billed)
        ):
            yield from _message(tid, index, message, prompt_at.get(index, (prompt, "other")))


def _event(tid: str, n: int, event: dict, target: dict | None, link: tuple) -> Iterator[Record]:
    tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
    usage = target.get("usage") if target and isinstance(target.get("usage"), dict) else {}
    ts = utc_iso(event["timestamp"]) if event.get("timestamp") else None
    if ts is None:
        yield BadLine(_ref(tid, n), "bad_shape", f"ledger event without a timestamp (thread {tid})")
        return
    uncached, output = _int(tokens.get("input")), _int(tokens.get("output"))
    write, read = _int(usage.get("cacheCreationInputTokens")), _int(usage.get("cacheReadInputTokens"))
    output += max(0, _int(tokens.get("total")) - uncached - output - write - read)
    event_id = event.get("id")
    key = (
        f"ev:{event_id}"
        if isinstance(event_id, (str, int)) and str(event_id)
        else "ev:" + _digest(ts, event.get("model"), tokens)
    )
    yield Request(
        key=f"{AGENT}:{tid}:{key}",
        agent=AGENT,
        session_id=tid,
        ts=ts,
        model=_text(event.get("model")) or _text(usage.get("model")),
        provider=PROVIDER,
        input_tokens=uncached,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=output,
        trigger=link[1],
        prompt_key=link[0],
        raw_usage={"tokens": tokens, "credits": event.get("credits"), "operationType": event.get("operationType")},
    )


def _message(tid: str, index: int, message: dict, link: tuple) -> Iterator[Record]:
    usage = message["usage"]
    ts = (
        utc_iso(usage.get("timestamp") or message.get("timestamp"))
        if (usage.get("timestamp") or message.get("timestamp"))
        else None
    )
    if ts is None:
        yield BadLine(_ref(tid, index), "bad_shape", f"assistant usage without a timestamp (thread {tid})")
        return
    uncached, output = _int(usage.get("inputTokens")), _int(usage.get("outputTokens"))
    write, read = _int(usage.get("cacheCreationInputTokens")), _int(usage.get("cacheReadInputTokens"))
    if not (uncached or output or write or read):
        output = _int(usage.get("totalTokens"))
    yield Request(
        key=f"{AGENT}:{tid}:msg:{message.get('messageId', index)}",
        agent=AGENT,
        session_id=tid,
        ts=ts,
        model=_text(usage.get("model")) or _text(message.get("model")),
        provider=PROVIDER,
        input_tokens=uncached,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_tokens=output,
        trigger=link[1],
        prompt_key=link[0],
        raw_usage=usage,
    )


def _typed(message: dict) -> str | None:
    content = message.get("content")
    if isinstance(content, str):
        return content if content.strip() else None
    if not isinstance(content, list):
        return None
    blocks = [b for b in content if isinstance(b, dict)]
    if any(b.get("type") == "tool_result" for b in blocks):
        return None
    texts = [b.get("text") for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)]
    typed = [t for t in texts if t.strip()]
    return "\n".join(typed) if typed else None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _int(value) -> int:
    return int(value) if _number(value) else 0


def _text(value) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _digest(*fields) -> str:
    return hashlib.sha1(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _ref(tid: str, n: int) -> int:
    return int(hashlib.sha1(f"{tid}:{n}".encode()).hexdigest()[:12], 16)


@hookimpl
def register_parsers(register):
    register(AmpParser())
