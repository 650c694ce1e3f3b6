"""OpenClaw transcripts: ``<state dir>/agents/<agentId>/sessions/<sessionId>.jsonl``.

OpenClaw (formerly Clawdbot / Moltbot) runs pi's agent in-process
(``createAgentSession`` of ``@mariozechner/pi-coding-agent``) and persists each
session with pi's own ``SessionManager``: the transcript is a pi session file
(header ``{"type":"session","version":3,...}``, then pi's entries), so it is
read by ``analyzer.parsers.pi_agent`` with every rule stated there (one assistant entry
per call, keys from the message's content so copies collapse, provider per
message, refusals as limit hits).

Where it writes (``openclaw/openclaw``: ``src/config/paths.ts``,
``src/config/sessions/paths.ts``, ``src/config/sessions/artifacts.ts``): the
state dir is ``OPENCLAW_STATE_DIR`` (or the older ``CLAWDBOT_STATE_DIR``),
else ``~/.openclaw``, else the first existing legacy folder ``~/.clawdbot``,
``~/.moldbot``, ``~/.moltbot``; ``OPENCLAW_HOME`` replaces the home folder.
All four default folders are read (a migrated machine may keep old
transcripts in the legacy one; copies count once). Inside:
``agents/<agentId>/sessions/`` holds ``sessions.json`` (the index, not read),
``<sessionId>.jsonl`` and ``<sessionId>-topic-<thread>.jsonl`` transcripts.

Archives: ``/reset`` and session deletion *rename* a transcript to
``<name>.jsonl.reset.<ISO time>`` / ``<name>.jsonl.deleted.<ISO time>``;
OpenClaw's own usage report still counts those, and so does this parser (a
renamed file is read again from the start under its new name; its keys are
the ones already stored, so nothing counts twice). ``.bak.<time>`` files are
backups taken before repairs: copies, not read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from analyzer.parsers.pi_agent import PiParser

from analyzer.api import env_paths, home_from, hookimpl

AGENT = "openclaw"
STATE_DIRNAMES = (".openclaw", ".clawdbot", ".moldbot", ".moltbot")
_ARCHIVE = re.compile(r"\.jsonl\.(reset|deleted)\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d{3})?Z$")


def openclaw_dirs(env: Mapping[str, str]) -> list[Path]:
    """OpenClaw's state folders: the configured one, else the default and the legacy ones."""
    configured = env_paths(env, "OPENCLAW_STATE_DIR") or env_paths(env, "CLAWDBOT_STATE_DIR")
    if configured:
        return configured
    home = Path(env["OPENCLAW_HOME"]).expanduser() if env.get("OPENCLAW_HOME", "").strip() else home_from(env)
    return [home / name for name in STATE_DIRNAMES]


def is_transcript_name(name: str) -> bool:
    """A transcript OpenClaw counts usage from: ``*.jsonl`` or a reset / deleted archive of one."""
    return name.endswith(".jsonl") or bool(_ARCHIVE.search(name))


class OpenClawParser(PiParser):
    """OpenClaw transcripts (pi session files under each agent's ``sessions/``)."""

    name = AGENT
    agent = AGENT
    env_vars = ("OPENCLAW_STATE_DIR", "CLAWDBOT_STATE_DIR", "OPENCLAW_HOME")

    def roots(self, env: Mapping[str, str]) -> list[Path]:
        return [d / "agents" for d in openclaw_dirs(env)]

    def candidate(self, path: Path) -> bool:
        return path.parent.name == "sessions" and is_transcript_name(path.name)


@hookimpl
def register_parsers(register):
    register(OpenClawParser())
