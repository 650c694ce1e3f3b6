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

Qwen Code and Gemini CLI keep an auth type in ``settings.json`` beside their
logs (``security.auth.selectedType``, formerly ``selectedAuthType``):
``qwen-oauth``, ``oauth-personal``, ``gemini-api-key``, ``vertex-ai``, or
``openai`` for an OpenAI-compatible endpoint, whose host comes from the
model's ``modelProviders`` entry, else ``security.auth.baseUrl``.
``settings_provider`` turns that into the provider recorded: the host when
there is one, else the auth type (``openai`` alone is a protocol, not a
vendor, and records nothing).
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
        key = ("claude-gateway", transcript, cwd if isinstance(cwd, str) else None)
        return self.side.derived(key, lambda: self._host(claude_config_dir(transcript), cwd))

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


def dot_folder(transcript: Path, name: str) -> Path | None:
    """The agent's folder (``.qwen``, ``.gemini``) above a transcript: the parent of its ``tmp`` or ``projects``."""
    for parent in transcript.parents:
        if parent.name in ("tmp", "projects") and parent.parent.name == name:
            return parent.parent
    return None


def settings_provider(settings: object, model: object, auth_type: object = None) -> str | None:
    """The provider a Qwen Code or Gemini CLI request used: an OpenAI-compatible endpoint's host, else the auth type.

    ``auth_type`` is what the log says (Qwen's telemetry), else the settings'."""
    auth = (
        settings.get("security", {}).get("auth")
        if isinstance(settings, dict) and isinstance(settings.get("security"), dict)
        else None
    )
    auth = auth if isinstance(auth, dict) else {}
    chosen = auth_type if isinstance(auth_type, str) and auth_type else auth.get("selectedType")
    if not chosen and isinstance(settings, dict):
        chosen = settings.get("selectedAuthType")
    if not isinstance(chosen, str) or not chosen:
        return None
    if chosen in ("openai", "anthropic", "openai-compatible"):
        providers = settings.get("modelProviders") if isinstance(settings, dict) else None
        entries = providers.get(chosen) if isinstance(providers, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("id") == model and host_of(entry.get("baseUrl")):
                return host_of(entry.get("baseUrl"))
        return host_of(auth.get("baseUrl"))  # a protocol alone names no vendor
    return chosen
