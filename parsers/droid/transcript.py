"""What one line of a Droid transcript (``<sessionId>.jsonl``) says.

Lines (Droid 0.225, read from the shipped binary): the first is
``{"type": "session_start", "id", "title", "owner", "version": 2, "cwd",
"parent"?, "callingSessionId"?, "callingToolUseId"?, "forkedAtMessageId"?,
"hostId"?}``; Droid rewrites this line in place when it retitles the session.
Then ``{"type": "message", "id", "timestamp", "parentId"?, "message": {"role",
"content": [blocks], "visibility"?, "modelId"?, "apiProvider"?,
"userMessageSource"?, "hookEventName"?, ...}}`` and the bookkeeping events
``todo_state``, ``compaction_state`` and ``agent_turn_outcome``.

* An assistant message is one model response: a call.
* A user message is typed by the person unless it is ``visibility``
  ``llm_only`` (context Droid injects) or ``user_only`` (notices shown only
  in the interface; Droid stores ``system`` messages with role ``user``),
  carries a ``hookEventName``, holds only ``tool_result`` blocks, or its text
  is only ``<system-reminder>`` / ``<system-notification>`` blocks.
* A session started by another agent's Task tool has ``callingSessionId``:
  its user messages are that agent's instructions, never a person's.
"""

from __future__ import annotations

from dataclasses import dataclass

KNOWN_TYPES = frozenset({"session_start", "message", "todo_state", "compaction_state", "agent_turn_outcome"})
INJECTED = ("<system-reminder>", "<system-notification>")
HIDDEN = frozenset({"llm_only", "user_only"})


@dataclass(frozen=True)
class Start:
    """The ``session_start`` line."""

    session_id: str
    cwd: str | None
    title: str | None
    parent: str | None  # a fork's or a compaction successor's parent session
    calling: str | None  # the session whose Task tool started this one
    forked_at: str | None  # a fork copies the parent's lines up to this message id


def read_start(obj: dict) -> Start | None:
    if obj.get("type") != "session_start" or not isinstance(obj.get("id"), str):
        return None
    return Start(
        session_id=obj["id"],
        cwd=_text(obj.get("cwd")),
        title=_text(obj.get("title")),
        parent=_text(obj.get("parent")),
        calling=_text(obj.get("callingSessionId")),
        forked_at=_text(obj.get("forkedAtMessageId")),
    )


def message_of(obj: dict) -> dict | None:
    """The ``message`` of a message line, or None for any other line."""
    if obj.get("type") != "message":
        return None
    message = obj.get("message")
    return message if isinstance(message, dict) else None


def prompt_text(message: dict) -> str | None:
    """The text a person typed, or None when this user message is not a prompt."""
    if message.get("role") != "user" or message.get("visibility") in HIDDEN or message.get("hookEventName"):
        return None
    content = message.get("content")
    if isinstance(content, str):
        blocks = [{"type": "text", "text": content}]
    elif isinstance(content, list):
        blocks = [b for b in content if isinstance(b, dict)]
    else:
        return None
    texts = [b.get("text") for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)]
    typed = [t for t in texts if t.strip() and not t.lstrip().startswith(INJECTED)]
    return "\n".join(typed) if typed else None


def is_tool_result(message: dict) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def prompt_key(message_id: str) -> str:
    """Message ids survive forks (copied lines keep them), so a copied prompt counts once."""
    return f"droid:prompt:{message_id}"


def _text(value) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
