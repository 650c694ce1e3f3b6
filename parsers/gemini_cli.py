"""Gemini CLI sessions: ``<home>/.gemini/tmp/<project>/chats/session-*.jsonl``.

Roots: ``$GEMINI_CLI_HOME/.gemini/tmp`` when ``GEMINI_CLI_HOME`` is set (it
replaces the home folder), else ``~/.gemini/tmp``. ``<project>`` is a short slug
(``projects.json`` beside ``tmp`` maps project folders to slugs; the project
recorded is the folder when the map knows the slug) or, in older installs, the
sha256 of the folder. Subagent sessions live in ``chats/<parentSessionId>/``.

Since 2026-04 a session is JSONL: a metadata line (``sessionId``,
``projectHash``, ``kind``), message lines (``id``, ``timestamp``, ``type`` one
of user/gemini/info/error/warning, ``content``), ``{"$set": ...}`` updates and
``{"$rewindTo": id}`` markers. Before that a session was one JSON document
(``session-*.json``, the same messages in a ``messages`` array), read whole by
``GeminiSessionJsonParser`` and read again whenever it changes.

How it is counted:

* A model call is a ``gemini`` message with ``tokens``. Gemini appends the
  *whole* message again each time it changes (tokens or tool calls added), so
  one id appears on several lines; the request key is session id + message id,
  and every copy upserts the same row. A legacy ``.json`` migrated to ``.jsonl``
  on resume keeps its session and message ids, so both files collapse too.
* ``$set.messages`` checkpoints re-list messages already written as their own
  lines (Gemini appends every message before any checkpoint can list it), so
  they add nothing and are not counted again. ``$rewindTo`` only hides
  messages from the display: the tokens were spent and stay counted.
* Tokens (``parsers.genai_usage``): ``input`` includes ``cached``; ``thoughts``
  are billed as output and are not inside ``output``, so output = output +
  thoughts and reasoning = thoughts; ``tool`` (tool-use prompt tokens) is
  outside ``input`` on Google's API (``total = input + output + thoughts +
  tool``) and is added to uncached input. The record's ``total`` confirms both.

Prompt vs request: a ``user`` message is a tool result when all its parts are
``functionResponse`` parts. Other user messages can still be text nobody typed:
injected context (``<session_context>``, IDE context, plan-mode notices) is
skipped by its wording; "Please continue." (sent by Gemini's next-speaker check)
starts a call triggered by ``other``; and when Gemini rebuilds its history
(compression, ``/chat resume``, ``/restore``) it re-records the kept turns as
*new* messages with new ids, just before a ``$set.messages`` checkpoint. So a
typed-looking message becomes a ``Prompt`` only once a model call (a gemini
message with tokens) or an API error follows it; another user message or a
checkpoint in between means it was a copy. Messages of a subagent session are the model's
instructions to the subagent: its calls are sidechain requests of the parent
session, triggered by ``subagent``, and it has no prompts.

Provider: the auth type in ``~/.gemini/settings.json``
(``security.auth.selectedType``: ``oauth-personal``, ``gemini-api-key``,
``vertex-ai``; read by ``parsers/_gateways.py``), the account
kind the request was paid from.

Plan signals: an ``error`` message that is a quota refusal (``RESOURCE_EXHAUSTED``,
"exhausted your daily quota", 429 texts) becomes a ``LimitHit``, with the reset
time when the text gives a delay ("reset after 19h14m47s", "retry in 44s").
Capacity errors (high demand) are the service's, not the plan's, and are not
hits; ``info`` lines such as "Switched to fallback model" are notes, not hits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path

import orjson
from analyzer.parsers._gateways import dot_folder, settings_provider
from analyzer.parsers._genai_usage import split_record

from analyzer.api import (
    BadLine,
    BadValue,
    JsonlParser,
    LimitHit,
    Prompt,
    Record,
    Request,
    Session,
    SourceContext,
    env_paths,
    first_objects,
    format_utc,
    home_from,
    hookimpl,
    loads_lenient,
    parse_iso,
    read_refusal,
    utc_iso,
)

AGENT = "gemini-cli"

# Text Gemini puts into user messages itself: context, not something typed.
INJECTED_PREFIXES = (
    "<session_context>",
    "<hook_context>",
    "This is the Gemini CLI. We are setting up the context",
    "This is the Qwen Code. We are setting up the context",
    "Here is the user's editor context",
    "Here is a summary of changes in the user's editor context",
    "User has manually exited Plan Mode.",
    "Plan approved. Switching to",
)
COMPACTION_PREFIX = "<state_snapshot>"
# Sent by Gemini itself when its next-speaker check says the model should go on.
CONTINUATION = "Please continue."

_QUOTA_WORDS = re.compile(r"quota|usage limit|rate limit|RESOURCE_EXHAUSTED|\b429\b|too many requests", re.I)
_CAPACITY_ONLY = re.compile(
    r"MODEL_CAPACITY_EXHAUSTED|MODEL_CAPACITY_EXCEEDED|high demand|exhausted your capacity", re.I
)
_PLAN_WORDS = re.compile(r"quota|usage limit|rate limit|\b429\b|too many requests", re.I)
_DAILY = re.compile(r"daily|per ?day|PerDay", re.I)
_PER_MINUTE = re.compile(r"per ?minute|PerMinute", re.I)
_DELAY = re.compile(r"(?:reset after|retry in|retry after)\s+((?:\d+(?:\.\d+)?\s*(?:ms|h|m|s)\s*)+)", re.I)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|s)", re.I)


def gemini_dirs(env: Mapping[str, str]) -> list[Path]:
    """``.gemini`` folders: ``GEMINI_CLI_HOME`` replaces the home folder."""
    homes = env_paths(env, "GEMINI_CLI_HOME") or [home_from(env)]
    return [home / ".gemini" for home in homes]


# --- message content ----------------------------------------------------------------


def parts_of(content) -> list[dict]:
    """A ``PartListUnion`` (a string, a part, or a list of either) as a list of parts."""
    if isinstance(content, str):
        return [{"text": content}]
    if isinstance(content, dict):
        return [content]
    if isinstance(content, list):
        return [{"text": p} if isinstance(p, str) else p for p in content if isinstance(p, (str, dict))]
    return []


def text_of(parts: list[dict]) -> str:
    return "".join(str(p.get("text") or "") for p in parts if "text" in p and not p.get("thought"))


def is_tool_response(parts: list[dict]) -> bool:
    return bool(parts) and all("functionResponse" in p for p in parts)


def _read_json_line(path: Path, offset: int) -> dict | None:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            obj = orjson.loads(f.readline())
    except (OSError, orjson.JSONDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


# --- project names ---------------------------------------------------------------------

_registries: dict[Path, tuple[int, dict[str, str]]] = {}


def project_of(path: Path) -> str | None:
    """The project a session file belongs to: its folder when ``projects.json`` maps the slug, else the slug."""
    parts = path.parts
    if "chats" not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index("chats")
    if i < 2:
        return None
    slug = parts[i - 1]
    registry = Path(*parts[: i - 1]).parent / "projects.json"
    return _slug_map(registry).get(slug, slug)


def _slug_map(registry: Path) -> dict[str, str]:
    try:
        mtime = registry.stat().st_mtime_ns
    except OSError:
        return {}
    cached = _registries.get(registry)
    if cached and cached[0] == mtime:
        return cached[1]
    mapping: dict[str, str] = {}
    try:
        data = orjson.loads(registry.read_bytes())
        projects = data.get("projects") if isinstance(data, dict) else None
        if isinstance(projects, dict):
            mapping = {slug: folder for folder, slug in projects.items() if isinstance(slug, str)}
    except (OSError, orjson.JSONDecodeError):
        mapping = {}
    _registries[registry] = (mtime, mapping)
    return mapping


_settings: dict[Path, tuple[tuple[int, int], object]] = {}
DOT_FOLDERS = {"gemini-cli": ".gemini", "qwen-code": ".qwen"}


def agent_settings(path: Path, agent: str) -> object:
    """The ``settings.json`` of the agent folder above a session file (cached until it changes), or None."""
    folder = dot_folder(path, DOT_FOLDERS.get(agent, ".gemini"))
    if folder is None:
        return None
    settings = folder / "settings.json"
    try:
        st = settings.stat()
    except OSError:
        return None
    signature = (st.st_mtime_ns, st.st_size)
    cached = _settings.get(settings)
    if cached and cached[0] == signature:
        return cached[1]
    try:
        data = orjson.loads(settings.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        data = None
    _settings[settings] = (signature, data)
    return data


# --- limit hits -----------------------------------------------------------------------


def quota_hit(text: str) -> bool:
    """Whether an error text is the plan refusing a request (not a capacity or other error)."""
    if not _QUOTA_WORDS.search(text):
        return False
    return not (_CAPACITY_ONLY.search(text) and not _PLAN_WORDS.search(text))


def delay_reset(text: str, ts: str) -> str | None:
    """``ts`` plus the delay the text names ("reset after 19h14m47s", "Please retry in 44.1s")."""
    m = _DELAY.search(text)
    if not m:
        return None
    seconds = 0.0
    for value, unit in _DURATION_PART.findall(m.group(1)):
        seconds += float(value) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit.lower()]
    return format_utc(parse_iso(ts) + timedelta(seconds=seconds))


def hit_window(text: str) -> int | None:
    if _DAILY.search(text):
        return 1440
    if _PER_MINUTE.search(text):
        return 1
    return None


# --- one conversation -------------------------------------------------------------------


class Conversation:
    """How the messages of one Gemini-style session become records.

    Shared by the JSONL and JSON readers (and by Qwen Code's legacy JSON
    sessions, which Gemini's code wrote before Qwen forked it). ``state`` holds
    the session (``sid``, ``proj``, ``sub``, ``parent``), the chain (``trigger``,
    ``prompt``, ``last``) and a typed message waiting for its model call
    (``pend``: key, ts, offset; the text itself stays out of the stored state).
    """

    def __init__(self, agent: str, model_types: tuple[str, ...] = ("gemini",), *, thoughts_inside: bool = False):
        self.agent = agent
        self.model_types = frozenset(model_types)
        self.known_types = self.model_types | {"user", "info", "error", "warning"}
        self.thoughts_inside = thoughts_inside
        self._texts: dict[tuple[str, str], str] = {}

    # session

    def start(self, meta: dict, state: dict, path: Path) -> Iterator[Record]:
        """A metadata line (or a legacy document's head)."""
        sid = meta.get("sessionId")
        if isinstance(sid, str) and sid:
            state["sid"] = sid
        if meta.get("kind") == "subagent":
            state["sub"] = True
        yield from self._session(state, path)

    def _session(self, state: dict, path: Path) -> Iterator[Record]:
        if "proj" not in state:
            state["proj"] = project_of(path)
            if path.parent.parent.name == "chats":  # chats/<parentSessionId>/<id>.jsonl
                state["sub"] = True
                state["parent"] = path.parent.name
        sid = self.session_id(state, path)
        if state.get("s") != sid:
            state["s"] = sid
            yield Session(
                agent=self.agent,
                session_id=sid,
                project=state["proj"],
                parent_session_id=state.get("parent"),
                is_subagent=bool(state.get("sub")),
            )

    def session_id(self, state: dict, path: Path) -> str:
        return state.get("sid") or path.stem

    def rewritten(self, state: dict, path: Path) -> None:
        """A ``$set.messages`` checkpoint: the history was rebuilt, so a waiting message was a copy."""
        self._drop_pending(state, path)

    # messages

    def message(self, msg: dict, offset: int | None, state: dict, path: Path) -> Iterator[Record]:
        kind = msg.get("type")
        if kind not in self.known_types:
            yield BadLine(offset or 0, "unknown_type", f"unknown message type {kind!r}")
            return
        if not isinstance(msg.get("id"), str) or not msg["id"]:
            yield BadLine(offset or 0, "bad_shape", "message without an id")
            return
        yield from self._session(state, path)
        if kind == "user":
            yield from self._user(msg, offset, state, path)
        elif kind in self.model_types:
            yield from self._model(msg, offset, state, path)
        elif kind == "error":
            yield from self._error(msg, offset, state, path)

    def _user(self, msg: dict, offset: int | None, state: dict, path: Path) -> Iterator[Record]:
        if state.get("sub"):
            return  # the parent model's instructions to its subagent
        parts = parts_of(msg.get("content"))
        if is_tool_response(parts):
            self._drop_pending(state, path)
            state["trigger"] = "tool_result"
            return
        text = text_of(parts)
        stripped = text.lstrip()
        if stripped.startswith(COMPACTION_PREFIX):
            self._drop_pending(state, path)
            state["trigger"] = "compaction"
            return
        if stripped == CONTINUATION:
            self._drop_pending(state, path)
            state["trigger"] = "other"
            return
        if not stripped or stripped.startswith(INJECTED_PREFIXES):
            return
        ts = utc_iso(msg.get("timestamp"))
        if not ts:
            yield BadLine(offset or 0, "bad_shape", "user message without a timestamp")
            return
        self._drop_pending(state, path)
        key = f"{self.agent}:{self.session_id(state, path)}:{msg['id']}"
        state["pend"] = [key, ts, offset]
        self._texts[(str(path), key)] = text

    def _confirm(self, state: dict, path: Path) -> Iterator[Record]:
        """The waiting typed message reached the model: it was a prompt."""
        pending = state.pop("pend", None)
        if not pending:
            return
        key, ts, offset = pending
        text = self._texts.pop((str(path), key), None)
        if text is None and offset is not None:  # typed in an earlier pass: read it again
            line = _read_json_line(path, offset)
            text = text_of(parts_of(line.get("content"))) if line else ""
        yield Prompt(
            key=key,
            agent=self.agent,
            session_id=self.session_id(state, path),
            ts=ts,
            text=text or "",
            project=state.get("proj"),
        )
        state["prompt"] = key
        state["trigger"] = "prompt"

    def _drop_pending(self, state: dict, path: Path) -> None:
        pending = state.pop("pend", None)
        if pending:
            self._texts.pop((str(path), pending[0]), None)

    def _model(self, msg: dict, offset: int | None, state: dict, path: Path) -> Iterator[Record]:
        tokens = msg.get("tokens")
        if not isinstance(tokens, dict):
            return  # written before its usage arrived; a later copy of the same id carries it
        split = split_record(tokens, thoughts_inside=self.thoughts_inside)
        if split is None:
            return
        ts = utc_iso(msg.get("timestamp"))
        if not ts:
            yield BadLine(offset or 0, "bad_shape", "model message with tokens but no timestamp")
            return
        sid = self.session_id(state, path)
        mid = msg["id"]
        if state.get("sub"):
            trigger, prompt_key = "subagent", None
        else:
            last = state.get("last")
            if last and last[0] == mid:
                trigger, prompt_key = last[1], last[2]
            else:
                yield from self._confirm(state, path)
                trigger, prompt_key = state.get("trigger") or "other", state.get("prompt")
                state["last"] = [mid, trigger, prompt_key]
                state["trigger"] = "other"
        yield Request(
            key=f"{self.agent}:{sid}:{mid}",
            agent=self.agent,
            session_id=state.get("parent") or sid,
            ts=ts,
            model=msg.get("model") if isinstance(msg.get("model"), str) else None,
            provider=settings_provider(agent_settings(path, self.agent), msg.get("model")),
            project=state.get("proj"),
            **split.columns(),
            trigger=trigger,
            prompt_key=prompt_key,
            is_sidechain=bool(state.get("sub")),
            raw_usage=tokens,
        )

    def _error(self, msg: dict, offset: int | None, state: dict, path: Path) -> Iterator[Record]:
        text = text_of(parts_of(msg.get("content")))
        if not state.get("sub"):
            yield from self._confirm(state, path)  # a refused prompt was still typed
        if not quota_hit(text):
            return
        ts = utc_iso(msg.get("timestamp"))
        if not ts:
            yield BadLine(offset or 0, "bad_shape", "error message without a timestamp")
            return
        window = hit_window(text)
        words = read_refusal(text, at=ts, vendor="google" if self.agent == "gemini-cli" else None)
        if window is None and words is not None and words.is_plan_window:
            window = words.window_minutes
        yield LimitHit(
            key=f"{self.agent}:hit:{self.session_id(state, path)}:{msg['id']}",
            agent=self.agent,
            session_id=state.get("parent") or self.session_id(state, path),
            ts=ts,
            reset_at=delay_reset(text, ts) or (words.reset_at if words else None),
            window_minutes=window,
            limit_type={1440: "daily_quota", 1: "rate_limit"}.get(window or 0, "quota"),
            message=text[:500] or None,
        )

    def document(self, doc: dict, state: dict, path: Path) -> Iterator[Record]:
        """A whole legacy session: its head, then its messages in order."""
        yield from self.start(doc, state, path)
        messages = doc.get("messages")
        if not isinstance(messages, list):
            yield BadLine(0, "bad_shape", "session document without a messages list")
            return
        for number, msg in enumerate(messages, 1):
            if not isinstance(msg, dict):
                yield BadLine(number, "bad_shape", f"message is a {type(msg).__name__}, not an object")
                continue
            try:  # one message that cannot be read costs only itself
                records = list(self.message(msg, None, state, path))
            except BadValue as exc:
                records = [BadLine(number, "bad_value", f"message {number}: {exc}")]
            except Exception as exc:
                records = [BadLine(number, "bad_shape", f"message {number}: {type(exc).__name__}: {exc}")]
            yield from records
        self._drop_pending(state, path)


def _first_objects(head: bytes) -> list[dict]:
    return [obj for obj in first_objects(head) if isinstance(obj, dict)]


def _in_chats(path: Path) -> bool:
    return path.parent.name == "chats" or path.parent.parent.name == "chats"


class GeminiCliParser(JsonlParser):
    """Gemini CLI JSONL sessions (since 2026-04)."""

    name = AGENT
    agent = AGENT
    env_vars = ("GEMINI_CLI_HOME",)

    def __init__(self):
        self.chat = Conversation(AGENT)

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return [d / "tmp" for d in gemini_dirs(env)]

    def candidate(self, path: Path) -> bool:
        return path.suffix == ".jsonl" and _in_chats(path)

    def recognise(self, path: Path, head: bytes) -> bool:
        objects = _first_objects(head)
        if not objects:
            return bool(re.match(rb'\s*\{"sessionId":"[^"]*","projectHash":', head))
        first = objects[0]
        if "sessionId" in first and "projectHash" in first:
            return True
        return all(_gemini_line(obj) for obj in objects)

    def handle(self, obj: dict, offset: int, state: dict, ctx: SourceContext) -> Iterator[Record]:
        path = ctx.path
        if "$rewindTo" in obj:
            return  # hides messages from the display; their tokens were spent
        if "$set" in obj:
            update = obj["$set"]
            if not isinstance(update, dict):
                yield BadLine(offset, "bad_shape", "$set without an object")
            elif isinstance(update.get("messages"), list):
                self.chat.rewritten(state, path)
            return
        if "id" in obj and "type" in obj:
            yield from self.chat.message(obj, offset, state, path)
        elif "sessionId" in obj and "projectHash" in obj:
            yield from self.chat.start(obj, state, path)
            if isinstance(obj.get("messages"), list):  # a whole legacy record on one line
                for msg in obj["messages"]:
                    if isinstance(msg, dict):
                        yield from self.chat.message(msg, None, state, path)
        else:
            yield BadLine(offset, "unknown_type", f"unknown record with keys {', '.join(sorted(obj)[:6])}")


def _gemini_line(obj: dict) -> bool:
    if "$set" in obj or "$rewindTo" in obj:
        return True
    return (
        isinstance(obj.get("id"), str)
        and obj.get("type") in ("user", "gemini", "info", "error", "warning")
        and ("content" in obj)
    )


class GeminiSessionJsonParser:
    """Gemini CLI sessions before 2026-04: one JSON document per session, rewritten whole."""

    name = "gemini-cli-json"
    agent = AGENT
    env_vars = ("GEMINI_CLI_HOME",)
    mode = "file"
    model_types: tuple[str, ...] = ("gemini",)
    thoughts_inside = False

    def __init__(self):
        self.chat = Conversation(self.agent, self.model_types, thoughts_inside=self.thoughts_inside)

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return [d / "tmp" for d in gemini_dirs(env)]

    def candidate(self, path: Path) -> bool:
        return path.suffix == ".json" and path.name.startswith("session-") and _in_chats(path)

    def recognise(self, path: Path, head: bytes) -> bool:
        start = head.removeprefix(b"\xef\xbb\xbf").lstrip()[:1]
        if start != b"{" or b'"sessionId"' not in head or not (b'"messages"' in head or b'"projectHash"' in head):
            return False
        return self.ours(path, head)

    def ours(self, path: Path, head: bytes) -> bool:
        """Gemini's, not Qwen Code's (whose model messages are typed ``qwen``)."""
        return ".qwen" not in path.parts and not re.search(rb'"type"\s*:\s*"qwen"', head)

    def parse_file(self, path: Path, ctx: SourceContext) -> Iterator[Record]:
        try:
            doc = loads_lenient(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            yield BadLine(0, "corrupt", f"not JSON: {exc}")
            return
        if not isinstance(doc, dict):
            yield BadLine(0, "bad_shape", f"expected a JSON object, got {type(doc).__name__}")
            return
        yield from self.chat.document(doc, {}, path)


@hookimpl
def register_parsers(register):
    register(GeminiCliParser())
    register(GeminiSessionJsonParser())
