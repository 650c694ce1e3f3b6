"""Vendors' refusals reach the limit hits of agents that talk to several vendors."""

from __future__ import annotations

import json
from pathlib import Path

from analyzer.parsers.qwen_code import QwenCodeParser

from analyzer.contract.parsing import SourceContext
from analyzer.contract.records import LimitHit


def _qwen_error(message: str, model: str) -> bytes:
    return json.dumps(
        {
            "uuid": "q9",
            "sessionId": "s1",
            "timestamp": "2026-10-03T17:40:00.000Z",
            "type": "system",
            "cwd": "/home/u/q",
            "version": "0.18.1",
            "subtype": "ui_telemetry",
            "systemPayload": {
                "uiEvent": {
                    "event.name": "qwen-code.api_error",
                    "model": model,
                    "error_type": "RateLimitError",
                    "error_message": message,
                    "status_code": 429,
                }
            },
        }
    ).encode()


def _hits(parser, line: bytes) -> list[tuple]:
    ctx = SourceContext(path=Path("/home/u/.qwen/projects/-home-u-q/chats/s1.jsonl"))
    return [
        (h.reset_at, h.window_minutes, h.limit_type)
        for h in parser.parse([(0, line)], {}, ctx)
        if isinstance(h, LimitHit)
    ]


def test_qwen_code_on_glm_reads_the_china_time_reset():
    """Qwen Code's OpenAI auth pointed at z.ai: the SDK keeps '429 <message>', GLM's words still say when."""
    line = _qwen_error("429 Usage limit reached for 5 hour. Your limit will reset at 2026-10-04 03:00:00", "glm-4.6")
    assert _hits(QwenCodeParser(), line) == [("2026-10-03T19:00:00.000Z", 300, "five_hour")]


def test_qwen_code_token_plan_text_unchanged():
    line = _qwen_error(
        "429 Your token-plan 1-week quota has been exhausted. The quota will reset at 10-10 09:31:00 UTC.",
        "coder-model",
    )
    assert _hits(QwenCodeParser(), line) == [("2026-10-10T09:31:00.000Z", 10080, "weekly")]


def test_qwen_code_plain_429_stays_a_rate_limit():
    line = _qwen_error("429 Too Many Requests", "coder-model")
    assert _hits(QwenCodeParser(), line) == [(None, None, "rate_limit")]


def _codex(lines: list[dict]) -> list[tuple]:
    from analyzer.parsers.codex.rollout import CodexParser

    raw = [(i * 100, json.dumps(obj).encode()) for i, obj in enumerate(lines)]
    ctx = SourceContext(
        path=Path(
            "/home/u/.codex/sessions/2026/10/03/rollout-2026-10-03T17-00-00-0199aaaa-0000-7000-8000-000000000001.jsonl"
        )
    )
    return [
        (h.ts, h.reset_at, h.window_minutes, h.limit_type)
        for h in CodexParser().parse(raw, {}, ctx)
        if isinstance(h, LimitHit)
    ]


META = {
    "timestamp": "2026-10-03T17:00:00.000Z",
    "type": "session_meta",
    "payload": {
        "id": "0199aaaa-0000-7000-8000-000000000001",
        "cwd": "/home/u/p",
        "cli_version": "0.150.0",
        "model_provider": "zai",
    },
}


def test_codex_error_event_of_a_glm_provider_is_a_refusal():
    """Codex with a GLM endpoint as model_provider gets no rate-limit snapshots: the error's words are the hit."""
    lines = [
        META,
        {
            "timestamp": "2026-10-03T17:00:01.000Z",
            "type": "turn_context",
            "payload": {"model": "glm-4.6", "cwd": "/home/u/p"},
        },
        {
            "timestamp": "2026-10-03T17:40:00.000Z",
            "type": "event_msg",
            "payload": {
                "type": "error",
                "message": 'unexpected status 429 Too Many Requests: {"error":{"code":"1308","message":"Usage limit reached '
                'for 5 hour. Your limit will reset at 2026-10-04 03:00:00"}}',
            },
        },
        {"timestamp": "2026-10-03T17:40:01.000Z", "type": "event_msg", "payload": {"type": "task_complete"}},
    ]
    assert _codex(lines) == [("2026-10-03T17:40:00.000Z", "2026-10-03T19:00:00.000Z", 300, "five_hour")]


def test_codex_error_event_that_is_no_plan_window_adds_nothing():
    lines = [
        META,
        {
            "timestamp": "2026-10-03T17:40:00.000Z",
            "type": "event_msg",
            "payload": {"type": "error", "message": "stream disconnected before completion"},
        },
        {"timestamp": "2026-10-03T17:40:01.000Z", "type": "event_msg", "payload": {"type": "task_complete"}},
    ]
    assert _codex(lines) == []
