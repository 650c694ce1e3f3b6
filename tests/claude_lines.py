"""Claude Code transcript lines, made to order, for tests and benchmarks that need volume.

The shapes follow ``fixtures/claude-code`` (reference/log-formats.md section 1):
a typed prompt, then assistant lines that repeat one ``message.id`` while
streaming (early copies with a placeholder ``output_tokens`` and no
``stop_reason``), a tool result, and a final answer. Every figure is a simple
function of the turn number, so tests compute the exact totals by hand
(``turn_totals``) instead of trusting the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

SESSION = "5e55e55e-0000-4000-8000-000000000001"
PROJECT_DIR = "-home-u-proj"


def transcript_path(home: Path, session: str = SESSION, project: str = PROJECT_DIR) -> Path:
    return home / ".claude" / "projects" / project / f"{session}.jsonl"


def _ts(second: int) -> str:
    day, rest = divmod(second, 86400)
    return f"2026-07-{3 + day:02d}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}.000Z"


def _line(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def user_line(uid: str, second: int, text: str, *, session: str = SESSION, prompt_id: str | None = None) -> bytes:
    return _line(
        {
            "parentUuid": None,
            "isSidechain": False,
            "userType": "external",
            "cwd": "/home/u/proj",
            "sessionId": session,
            "version": "2.1.90",
            "type": "user",
            "message": {"role": "user", "content": text},
            "promptId": prompt_id or f"p-{uid}",
            "uuid": uid,
            "timestamp": _ts(second),
        }
    )


def tool_result_line(uid: str, second: int, *, session: str = SESSION) -> bytes:
    return _line(
        {
            "parentUuid": None,
            "isSidechain": False,
            "userType": "external",
            "cwd": "/home/u/proj",
            "sessionId": session,
            "version": "2.1.90",
            "type": "user",
            "message": {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": f"t-{uid}", "content": "ok"}],
            },
            "uuid": uid,
            "timestamp": _ts(second),
        }
    )


def assistant_line(
    msg_id: str,
    second: int,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read: int = 0,
    cache_write: int = 0,
    final: bool = True,
    text: str = "ok",
    session: str = SESSION,
) -> bytes:
    return _line(
        {
            "parentUuid": None,
            "isSidechain": False,
            "userType": "external",
            "cwd": "/home/u/proj",
            "sessionId": session,
            "version": "2.1.90",
            "type": "assistant",
            "message": {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn" if final else None,
                "usage": {
                    "input_tokens": input_tokens,
                    "cache_creation_input_tokens": cache_write,
                    "cache_read_input_tokens": cache_read,
                    "output_tokens": output_tokens,
                },
            },
            "uuid": f"a-{msg_id}-{output_tokens}",
            "timestamp": _ts(second),
            "requestId": f"req-{msg_id}",
        }
    )


def turn(i: int, *, session: str = SESSION, filler: str = "ok") -> bytes:
    """Turn ``i``: a prompt, a streamed tool call (three copies of one message,
    placeholder output 1 first), a tool result, a final answer (two copies)."""
    s = 10 * i
    return b"".join(
        [
            user_line(f"u{i}", s, f"prompt {i}", session=session),
            assistant_line(
                f"m{i}a",
                s + 1,
                input_tokens=i + 1,
                output_tokens=1,
                cache_read=100,
                cache_write=10,
                final=False,
                text=filler,
                session=session,
            ),
            assistant_line(
                f"m{i}a",
                s + 2,
                input_tokens=i + 1,
                output_tokens=1,
                cache_read=100,
                cache_write=10,
                final=False,
                text=filler,
                session=session,
            ),
            assistant_line(
                f"m{i}a",
                s + 3,
                input_tokens=i + 1,
                output_tokens=2 * i + 5,
                cache_read=100,
                cache_write=10,
                session=session,
            ),
            tool_result_line(f"r{i}", s + 4, session=session),
            assistant_line(
                f"m{i}b", s + 5, input_tokens=1, output_tokens=1, cache_read=200, final=False, session=session
            ),
            assistant_line(f"m{i}b", s + 6, input_tokens=1, output_tokens=i + 3, cache_read=200, session=session),
        ]
    )


def turn_totals(n: int) -> dict:
    """Exact totals of ``turn(0) .. turn(n - 1)``, worked out from the shapes above."""
    return {
        "requests": 2 * n,
        "prompts": n,
        "input_tokens": sum(i + 1 for i in range(n)) + n,  # call a: i + 1, call b: 1
        "cache_read_tokens": 300 * n,
        "cache_write_tokens": 10 * n,
        "output_tokens": sum((2 * i + 5) + (i + 3) for i in range(n)),
    }
