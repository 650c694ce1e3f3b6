"""Generate a large, realistic, reproducible corpus of agent logs for benchmarks.

    python benchmarks/corpus.py OUT_DIR --size-mb 1024 [--seed 7] [--codex-share 0.25]

Writes ``OUT_DIR/home/.claude/projects/...`` (and ``OUT_DIR/home/.codex/sessions/...``
when ``--codex-share`` > 0) shaped like real heavy use: most bytes are tool output,
file contents in tool inputs, thinking blocks and file-history snapshots, which
carry no usage; each response is written as several lines repeating its usage
(streaming duplicates); some sessions spawn subagent transcripts; about one
session in twenty talks to a third-party model through a gateway (no
``requestId``); with ``--big-file-mb`` one session is a single file of that size.
The same seed gives the same bytes.

The expected totals (requests and token sums after de-duplication) are written
to ``OUT_DIR/expected.json`` so a benchmark can check correctness as it times.
"""

from __future__ import annotations

import argparse
import json
import random
import string
from datetime import datetime, timedelta, timezone
from pathlib import Path

ALPHABET = string.ascii_letters + string.digits
WORDS = (
    "the of and to in is for on that with as it this by from are be or at an was not can if but all "
    "def return self import class value result error file test data path line none true false"
).split()


class Text:
    """Cheap pseudo-text: slices of a large pre-built random buffer."""

    def __init__(self, rng: random.Random):
        words = [rng.choice(WORDS) for _ in range(400_000)]
        self.buf = " ".join(words)
        self.rng = rng

    def take(self, n: int) -> str:
        start = self.rng.randrange(0, len(self.buf) - n - 1)
        return self.buf[start : start + n]


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _id(rng: random.Random, n: int = 24) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(n))


class ClaudeSession:
    def __init__(
        self,
        rng,
        text: Text,
        path: Path,
        session: str,
        cwd: str,
        start: datetime,
        totals: dict,
        sidechain=False,
        gateway: bool = False,
    ):
        self.rng, self.text, self.path, self.session, self.cwd = rng, text, path, session, cwd
        self.when, self.totals, self.sidechain = start, totals, sidechain
        self.gateway = gateway  # a third-party model behind ANTHROPIC_BASE_URL: no requestId
        self.parent = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self.out = path.open("w")
        self.bytes = 0
        self.context = rng.randint(8000, 20000)

    def write(self, obj: dict) -> None:
        line = json.dumps(obj, separators=(",", ":")) + "\n"
        self.out.write(line)
        self.bytes += len(line)

    def env(self, kind: str, **extra) -> dict:
        uid = _id(self.rng, 32)
        obj = {
            "parentUuid": self.parent,
            "isSidechain": self.sidechain,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": self.session,
            "version": "2.1.240",
            "gitBranch": "main",
            "type": kind,
            **extra,
            "uuid": uid,
            "timestamp": _ts(self.when),
        }
        self.parent = uid
        return obj

    def prompt(self) -> None:
        self.write(self.env("user", message={"role": "user", "content": self.text.take(self.rng.randint(40, 600))}))
        self.totals["prompts"] += 0 if self.sidechain else 1

    def snapshot(self) -> None:
        files = {
            f"src/{_id(self.rng, 8)}.py": {
                "backupFileName": _id(self.rng, 16),
                "version": 1,
                "content": self.text.take(self.rng.randint(2000, 40000)),
            }
            for _ in range(self.rng.randint(1, 4))
        }
        self.write(
            {
                "type": "file-history-snapshot",
                "messageId": _id(self.rng),
                "snapshot": {"messageId": _id(self.rng), "trackedFileBackups": files, "timestamp": _ts(self.when)},
                "isSnapshotUpdate": False,
            }
        )

    def response(self, model: str, last: bool) -> None:
        rng = self.rng
        mid = "msg_01" + _id(rng, 22)
        req = "req_011" + _id(rng, 21)
        write = rng.randint(100, 4000)
        out = rng.randint(30, 2500)
        inp = rng.randint(1, 40)
        usage = {
            "input_tokens": inp,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": self.context,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": write},
            "output_tokens": out,
            "service_tier": "standard",
        }
        self.totals["requests"] += 1
        self.totals["input_tokens"] += inp
        self.totals["cache_read_tokens"] += self.context
        self.totals["cache_write_tokens"] += write
        self.totals["output_tokens"] += out
        self.context = min(self.context + write, 180_000)
        blocks = [
            {"type": "thinking", "thinking": self.text.take(rng.randint(100, 2500)), "signature": _id(rng, 200)},
            {"type": "text", "text": self.text.take(rng.randint(50, 1500))},
        ]
        if not last:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": "toolu_01" + _id(rng, 22),
                    "name": rng.choice(["Bash", "Read", "Edit", "Write"]),
                    "input": {
                        "file_path": "/src/x.py",
                        "content": self.text.take(rng.choice([80, 300, 1000, 4000, 12000])),
                    },
                }
            )
        if self.gateway:
            model = "glm-4.6"
        for i, block in enumerate(blocks):
            final = i == len(blocks) - 1
            ids = {} if self.gateway else {"requestId": req}
            self.write(
                self.env(
                    "assistant",
                    **ids,
                    message={
                        "id": mid,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [block],
                        "stop_reason": ("end_turn" if last else "tool_use") if final else None,
                        "stop_sequence": None,
                        "usage": usage,
                    },
                )
            )
            self.when += timedelta(milliseconds=rng.randint(50, 400))
        self.when += timedelta(seconds=rng.randint(2, 30))
        if not last:
            output = self.text.take(rng.choice([150, 400, 800, 1500, 3000, 6000, 15000, 40000]))
            self.write(
                self.env(
                    "user",
                    message={
                        "role": "user",
                        "content": [
                            {
                                "tool_use_id": blocks[-1]["id"],
                                "type": "tool_result",
                                "content": output,
                                "is_error": False,
                            }
                        ],
                    },
                    toolUseResult={"stdout": output, "stderr": "", "interrupted": False},
                )
            )
            self.when += timedelta(seconds=rng.randint(1, 20))

    def close(self) -> None:
        self.out.close()


class CodexSession:
    """A Codex rollout: token_count events with cumulative totals (re-emitted now and then) and rate limits."""

    def __init__(self, rng, text: Text, path: Path, session: str, start: datetime, totals: dict, limits: dict):
        self.rng, self.text, self.path, self.session, self.when, self.totals, self.limits = (
            rng,
            text,
            path,
            session,
            start,
            totals,
            limits,
        )
        self.out = path.open("w")
        self.bytes = 0
        self.cum = {
            "input_tokens": 0,
            "cached_input_tokens": 0,
            "output_tokens": 0,
            "reasoning_output_tokens": 0,
            "total_tokens": 0,
        }
        self.write(
            "session_meta",
            {
                "id": session,
                "timestamp": _ts(start),
                "cwd": "/home/u/proj",
                "originator": "codex_cli_rs",
                "cli_version": "0.160.0",
                "source": "cli",
                "model_provider": "openai",
            },
        )
        self.write(
            "turn_context",
            {"cwd": "/home/u/proj", "approval_policy": "on-request", "model": "gpt-5-codex", "effort": "high"},
        )

    def write(self, kind: str, payload: dict) -> None:
        line = json.dumps({"timestamp": _ts(self.when), "type": kind, "payload": payload}, separators=(",", ":")) + "\n"
        self.out.write(line)
        self.bytes += len(line)

    def rate_limits(self) -> dict:
        lim = self.limits
        return {
            "limit_id": "codex",
            "limit_name": None,
            "primary": {
                "used_percent": float(min(100, int(lim["used5h"]))),
                "window_minutes": 300,
                "resets_at": lim["reset5h"],
            },
            "secondary": {
                "used_percent": float(min(100, int(lim["used7d"]))),
                "window_minutes": 10080,
                "resets_at": lim["reset7d"],
            },
            "credits": {"has_credits": False, "unlimited": False, "balance": None},
            "plan_type": "plus",
            "rate_limit_reached_type": None,
        }

    def turn(self) -> None:
        rng = self.rng
        text = self.text.take(rng.randint(30, 400))
        self.write(
            "event_msg",
            {"type": "user_message", "message": text, "images": [], "local_images": [], "text_elements": []},
        )
        self.write(
            "response_item", {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        )
        self.totals["prompts"] += 1
        for _ in range(rng.randint(2, 12)):
            self.write("event_msg", {"type": "token_count", "info": None, "rate_limits": self.rate_limits()})
            inp = rng.randint(8000, 120000)
            cached = int(inp * rng.uniform(0.7, 0.98))
            out = rng.randint(50, 3000)
            rea = rng.randint(0, out)
            last = {
                "input_tokens": inp,
                "cached_input_tokens": cached,
                "output_tokens": out,
                "reasoning_output_tokens": rea,
                "total_tokens": inp + out,
            }
            for k, v in last.items():
                self.cum[k] += v
            self.totals["requests"] += 1
            self.totals["input_tokens"] += inp - cached
            self.totals["cache_read_tokens"] += cached
            self.totals["output_tokens"] += out
            self.totals["reasoning_tokens"] += rea
            self.limits["used5h"] += (inp - cached + out) / 60000
            self.limits["used7d"] += (inp - cached + out) / 400000
            self.write(
                "response_item",
                {"type": "reasoning", "summary": [], "encrypted_content": _id(rng, rng.randint(200, 3000))},
            )
            self.write(
                "response_item",
                {
                    "type": "function_call",
                    "name": "shell",
                    "arguments": json.dumps({"command": ["bash", "-lc", "pytest -x"]}),
                    "call_id": "call_" + _id(rng, 12),
                },
            )
            self.write(
                "response_item",
                {
                    "type": "function_call_output",
                    "call_id": "call_x",
                    "output": self.text.take(rng.choice([300, 3000, 20000])),
                },
            )
            info = {"total_token_usage": dict(self.cum), "last_token_usage": last, "model_context_window": 272000}
            self.write("event_msg", {"type": "token_count", "info": info, "rate_limits": self.rate_limits()})
            if rng.random() < 0.3:  # re-emitted unchanged totals: not a request
                self.write("event_msg", {"type": "token_count", "info": info, "rate_limits": self.rate_limits()})
            self.when += timedelta(seconds=rng.randint(3, 60))

    def close(self) -> None:
        self.out.close()


def generate(out: Path, size_mb: float, seed: int = 7, codex_share: float = 0.25, big_file_mb: float = 0.0) -> dict:
    rng = random.Random(seed)
    text = Text(rng)
    home = out / "home"
    target = int(size_mb * 1024 * 1024)
    codex_target = int(target * codex_share)
    claude_totals = {
        k: 0
        for k in (
            "requests",
            "prompts",
            "input_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "output_tokens",
            "reasoning_tokens",
        )
    }
    codex_totals = dict(claude_totals)
    when = datetime(2026, 9, 1, 8, tzinfo=timezone.utc)
    written = 0
    n = 0
    projects = [f"/home/u/src/project{i}" for i in range(12)]
    # Claude Code
    big_done = big_file_mb <= 0
    while written < target - codex_target:
        cwd = rng.choice(projects)
        session = f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-8{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}"
        folder = home / ".claude" / "projects" / cwd.replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        s = ClaudeSession(
            rng, text, folder / f"{session}.jsonl", session, cwd, when, claude_totals, gateway=rng.random() < 0.05
        )
        prompts = rng.choice([1, 1, 2, 3, 5, 8, 13, 25])
        cap = int(big_file_mb * 1024 * 1024) if not big_done else None
        p = 0
        while p < prompts or (cap and s.bytes < cap):
            s.prompt()
            if rng.random() < 0.3:
                s.snapshot()
            calls = rng.randint(2, 25)
            for c in range(calls):
                s.response(
                    rng.choice(
                        ["claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101"]
                    ),
                    c == calls - 1,
                )
                if c == 1 and rng.random() < 0.15:
                    sub = ClaudeSession(
                        rng,
                        text,
                        folder / session / "subagents" / f"agent-{rng.getrandbits(64):016x}.jsonl",
                        session,
                        cwd,
                        s.when,
                        claude_totals,
                        sidechain=True,
                    )
                    sub.prompt()
                    k_calls = rng.randint(2, 10)
                    for k in range(k_calls):
                        sub.response("claude-haiku-4-5-20251001", k == k_calls - 1)
                    sub.close()
                    written += sub.bytes
            s.when += timedelta(minutes=rng.randint(1, 40))
            p += 1
        if cap:
            big_done = True
        s.close()
        written += s.bytes
        when = s.when + timedelta(minutes=rng.randint(10, 600))
        n += 1
    # Codex
    when = datetime(2026, 9, 1, 8, tzinfo=timezone.utc)
    limits = {
        "used5h": 0.0,
        "used7d": 0.0,
        "reset5h": int((when + timedelta(hours=5)).timestamp()),
        "reset7d": int((when + timedelta(days=7)).timestamp()),
    }
    cwritten = 0
    while cwritten < codex_target:
        session = f"019a{rng.getrandbits(16):04x}-{rng.getrandbits(16):04x}-7{rng.getrandbits(12):03x}-8{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}"
        folder = home / ".codex" / "sessions" / f"{when:%Y}" / f"{when:%m}" / f"{when:%d}"
        folder.mkdir(parents=True, exist_ok=True)
        s = CodexSession(
            rng, text, folder / f"rollout-{when:%Y-%m-%dT%H-%M-%S}-{session}.jsonl", session, when, codex_totals, limits
        )
        for _ in range(rng.randint(2, 15)):
            s.turn()
            now_epoch = s.when.timestamp()
            if now_epoch >= limits["reset5h"]:
                limits["reset5h"] = int(now_epoch + 5 * 3600)
                limits["used5h"] = 0.0
            if now_epoch >= limits["reset7d"]:
                limits["reset7d"] = int(now_epoch + 7 * 86400)
                limits["used7d"] = 0.0
        s.close()
        cwritten += s.bytes
        when = s.when + timedelta(minutes=rng.randint(10, 300))
    expected = {"claude-code": claude_totals, "codex": codex_totals, "bytes": written + cwritten}
    (out / "expected.json").write_text(json.dumps(expected, indent=2))
    return expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size-mb", type=float, default=1024)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--codex-share", type=float, default=0.25)
    parser.add_argument("--big-file-mb", type=float, default=0.0, help="Make the first Claude session this large.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    expected = generate(args.out, args.size_mb, args.seed, args.codex_share, args.big_file_mb)
    print(json.dumps(expected, indent=2))


if __name__ == "__main__":
    main()
