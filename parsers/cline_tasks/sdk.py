"""Cline 4 (the SDK rewrite, VS Code extension 4.0 of 2026-06 and the CLI): session message files.

Cline 4 no longer writes ``ui_messages.json``. Each session is a folder
``<sessions>/<sessionId>/`` holding ``<sessionId>.json`` (the manifest:
provider, model, cwd, ...), ``<sessionId>.messages.json`` (the lead agent),
``<agentId>.messages.json`` (a subagent) or ``<agentId>__<teamTaskId>.messages.json``
(a teammate), rewritten whole: ``{version: 1, agent: "lead" | "subagent" |
"teammate", sessionId, origin, messages: [...]}``. ``<sessions>`` is
``$CLINE_SESSION_DATA_DIR``, else ``$CLINE_DATA_DIR/sessions``, else
``$CLINE_DIR/data/sessions`` (``CLINE_DIR`` defaults to ``~/.cline``);
``sdk/packages/shared/src/storage/paths.ts``. ``sessions.db`` beside it holds
the same session rows and no usage.

One assistant message is one model call: the runtime stamps it with the usage
delta of that call (``metrics: {inputTokens, outputTokens, cacheReadTokens,
cacheWriteTokens, cost}``, ``agent-runtime.ts``) and the model that made it
(``modelInfo: {id, provider}``). ``inputTokens`` is the provider's *total*
input (``ApiStreamUsageChunk``: "Total number of input tokens"), so the
uncached part is ``inputTokens - cacheRead - cacheWrite`` (with the rule of
``usage.split``: a total smaller than the cache is taken as uncached). A run
whose messages carry no per-call metrics gets its run total on its last
assistant message: one row then stands for the whole run.

Keys are the session id and the message ``id`` (stable across rewrites: it is
persisted and read back). Subagent and teammate files are sidechain requests.
Prompts: ``user`` messages of the lead file with text and no tool result,
except compaction summaries (``metadata.kind == "compaction_summary"``) and
messages the agent shows as system text.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
from analyzer.parsers.cline_tasks.usage import count, split

from analyzer.api import BadLine, Prompt, Record, Request, Session, utc_iso

AGENT = "cline"


def sdk_records(path: Path) -> Iterator[Record]:
    """Every record of one ``*.messages.json``."""
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        yield BadLine(0, "corrupt", f"messages file is not JSON: {exc}")
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
        yield BadLine(0, "bad_shape", "a messages file without a messages array")
        return
    folder = path.parent
    root = folder.name
    session = str(doc.get("sessionId") or path.name.removesuffix(".messages.json"))
    role = doc.get("agent") or "lead"
    sidechain = role != "lead"
    manifest = _manifest(folder / f"{root}.json")
    origin = doc.get("origin") if isinstance(doc.get("origin"), dict) else {}
    yield Session(
        agent=AGENT,
        session_id=session,
        project=manifest.get("workspace_root") or manifest.get("cwd"),
        cwd=manifest.get("cwd"),
        parent_session_id=(root if sidechain and root != session else None),
        client_version=origin.get("version"),
        is_subagent=sidechain,
    )
    prompt_key = None
    fresh = False
    for position, message in enumerate(doc["messages"]):
        if not isinstance(message, dict):
            yield BadLine(position, "bad_shape", "a message that is not an object")
            continue
        ts = message.get("ts")
        when = utc_iso(ts) if isinstance(ts, (int, float)) else None
        if message.get("role") == "user" and not sidechain and _typed(message) and when:
            prompt_key = f"{AGENT}:prompt:{session}:{message.get('id') or ts}"
            fresh = True
            yield Prompt(key=prompt_key, agent=AGENT, session_id=session, ts=when, text=_text(message))
        elif message.get("role") == "assistant" and isinstance(message.get("metrics"), dict):
            if when is None:
                yield BadLine(position, "bad_shape", "an assistant message with metrics and no ts")
                continue
            metrics = message["metrics"]
            info = {
                "tokensIn": metrics.get("inputTokens"),
                "tokensOut": metrics.get("outputTokens"),
                "cacheWrites": metrics.get("cacheWriteTokens"),
                "cacheReads": metrics.get("cacheReadTokens"),
            }
            tokens, rule = split(info, True)
            model = message.get("modelInfo") if isinstance(message.get("modelInfo"), dict) else {}
            yield Request(
                key=f"{AGENT}:sdk:{session}:{message.get('id') or ts}",
                agent=AGENT,
                session_id=session,
                ts=when,
                model=model.get("id") or manifest.get("model"),
                provider=model.get("provider") or manifest.get("provider"),
                project=manifest.get("workspace_root") or manifest.get("cwd"),
                input_tokens=tokens.input,
                cache_read_tokens=tokens.cache_read,
                cache_write_tokens=tokens.cache_write,
                output_tokens=tokens.output,
                trigger=("subagent" if sidechain else "prompt" if fresh else "tool_result"),
                prompt_key=prompt_key,
                is_sidechain=sidechain,
                raw_usage={**{k: metrics[k] for k in metrics if count(metrics[k]) or k == "cost"}, "rule": rule},
            )
            fresh = False


def _manifest(path: Path) -> dict:
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _blocks(message: dict) -> list:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _typed(message: dict) -> bool:
    meta = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
    if meta.get("kind") == "compaction_summary" or meta.get("displayRole") == "system":
        return False
    blocks = _blocks(message)
    return any(b.get("type") == "text" for b in blocks) and not any(b.get("type") == "tool_result" for b in blocks)


def _text(message: dict) -> str:
    return "\n".join(
        b.get("text", "") for b in _blocks(message) if b.get("type") == "text" and isinstance(b.get("text"), str)
    )
