"""Where an agent sent its requests, read from the agent's own configuration.

Several agents talk to whichever endpoint their configuration names (Claude
Code to ``ANTHROPIC_BASE_URL``: z.ai, Kimi, MiniMax, Bailian and Ark all offer
Anthropic-compatible endpoints), and their logs do not say which. The account
that paid for a request is decided from that endpoint, so the parsers read the
configuration the agent itself reads and record its **host** only
(``open.bigmodel.cn``, ``api.kimi.com``): never a path, a query, a user name
or a key.

Claude Code takes ``ANTHROPIC_BASE_URL`` from the ``env`` table of its settings
files, the most specific first: the project's ``.claude/settings.local.json``,
then ``.claude/settings.json`` (in the session's working folder), then the
user's ``settings.json`` in the configuration folder that holds the
transcript (``~/.claude``, ``$CLAUDE_CONFIG_DIR``); and last from the
environment of the process that ingests, which is a weaker witness (it is
today's environment, not the session's). Files are read through ``SideFiles``
and looked at again once per pass.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from analyzer.parsers._hosts import host_of
from analyzer.parsers.kimi_code.shared import SideFiles

BASE_URL_VARIABLE = "ANTHROPIC_BASE_URL"


def claude_config_dir(transcript: Path) -> Path | None:
    """The Claude Code configuration folder holding a transcript: the parent of its ``projects`` folder."""
    for parent in transcript.parents:
        if parent.name == "projects":
            return parent.parent
    return None


class ClaudeGateway:
    """The host Claude Code sent a session's requests to, from its settings and the environment."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.side = SideFiles()
        self.environ = os.environ if environ is None else environ

    def refresh(self) -> None:
        """Look at the settings files again on their next use."""
        self.side.refresh()

    def host(self, transcript: Path, cwd: object) -> str | None:
        """The gateway host for a session of ``transcript`` run in ``cwd``, or None when nothing names one."""
        config = claude_config_dir(transcript)
        key = ("claude-gateway", config, cwd if isinstance(cwd, str) else None)
        return self.side.derived(key, lambda: self._host(config, cwd))

    def _host(self, config: Path | None, cwd: object) -> str | None:
        files: list[Path] = []
        if isinstance(cwd, str) and cwd:
            project = Path(cwd) / ".claude"
            files += [project / "settings.local.json", project / "settings.json"]
        if config is not None:
            files.append(config / "settings.json")
        for path in files:
            settings = self.side.load(path)
            env = settings.get("env") if isinstance(settings, dict) else None
            if isinstance(env, dict) and BASE_URL_VARIABLE in env:
                return host_of(env[BASE_URL_VARIABLE])
        return host_of(self.environ.get(BASE_URL_VARIABLE))
