"""Claude (Pro/Max): ``GET https://api.anthropic.com/api/oauth/usage``, what ``/usage`` shows.

Credentials: ``claudeAiOauth.accessToken`` in ``$CLAUDE_CONFIG_DIR/.credentials.json``
(else ``~/.claude/.credentials.json``); on macOS, where Claude Code keeps it
in the Keychain ("Claude Code-credentials"), it is read from there with the
``security`` tool. An expired token is skipped (Claude Code refreshes it when
it runs; this reader never does). The token needs the ``user:profile`` scope:
an inference-only token (``claude setup-token``) gets 403.

Two answer shapes: the classic one, an object per window (``five_hour``,
``seven_day``, ``seven_day_opus``/``_sonnet``/…, each ``{utilization 0-100,
resets_at}`` or null), and a newer one adding a self-describing ``limits[]``
(``kind`` session / weekly_all / weekly_scoped, ``percent``, ``resets_at``,
``scope.model.display_name``), preferred when present. Unknown top-level
objects with a ``utilization`` are read as windows too. Base URL:
``ANALYZER_CLAUDE_BASE_URL``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping

from analyzer.plugins.claude_code.settings import settings_path
from analyzer.plugins.quota.base import (
    Credential,
    NoCredentials,
    QuotaReader,
    instant,
    number,
    read_json,
    reading,
    shape_error,
)

from analyzer.api import hookimpl

AGENT = "claude-code"
KINDS = {"session": (300, None), "weekly_all": (10080, None), "weekly_scoped": (10080, "scoped")}
KEYCHAIN_SERVICE = "Claude Code-credentials"


def _window(name: str) -> tuple[int | None, str | None]:
    if name == "five_hour":
        return 300, None
    if name == "seven_day":
        return 10080, None
    if name.startswith("seven_day_"):
        return 10080, name[len("seven_day_") :]
    return None, name


class ClaudeQuotaReader(QuotaReader):
    name = "claude"
    agent = AGENT
    base_env = "ANALYZER_CLAUDE_BASE_URL"
    default_base = "https://api.anthropic.com"
    platform = sys.platform

    def credentials(self, env: Mapping[str, str]) -> Credential:
        path = settings_path(env).with_name(".credentials.json")
        data, origin = read_json(path), str(path)
        if data is None and self.platform == "darwin":
            data, origin = self._keychain(), f'the macOS Keychain item "{KEYCHAIN_SERVICE}"'
        oauth = (data or {}).get("claudeAiOauth")
        token = oauth.get("accessToken") if isinstance(oauth, dict) else None
        if not isinstance(token, str) or not token:
            raise NoCredentials(f"no Claude Code sign-in found ({path}); sign in with `claude` first")
        expires = number(oauth.get("expiresAt"))
        if expires and expires / 1000 < time.time():
            raise NoCredentials(f"the token in {origin} has expired; run `claude` once to refresh it")
        plan = oauth.get("subscriptionType") if isinstance(oauth.get("subscriptionType"), str) else None
        return Credential(token, origin, extra={"plan": plan})

    def _keychain(self) -> dict | None:
        import json

        try:
            out = subprocess.run(
                ["security", "find-generic-password", "-s", KEYCHAIN_SERVICE, "-w"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            value = json.loads(out.stdout) if out.returncode == 0 else None
        except (OSError, subprocess.SubprocessError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def request(self, cred: Credential, env: Mapping[str, str]) -> tuple[str, dict]:
        headers = {"Authorization": f"Bearer {cred.token}", "anthropic-beta": "oauth-2025-04-20"}
        return f"{self.base(cred, env)}/api/oauth/usage", headers

    def parse(self, body, observed_at: str):
        if not isinstance(body, dict) or not ({"five_hour", "seven_day", "limits"} & set(body)):
            raise shape_error("claude", body, "five_hour, seven_day or limits")
        limits = body.get("limits")
        if isinstance(limits, list) and limits:
            return list(self._limits(limits, observed_at))
        out = []
        for name, item in body.items():
            if not isinstance(item, dict) or "utilization" not in item or name == "extra_usage":
                continue
            percent = number(item.get("utilization"))
            if percent is None:
                continue
            window, scope = _window(name)
            out.append(
                reading(
                    AGENT, observed_at, percent, window, instant(item.get("resets_at")), scope=scope, raw={name: item}
                )
            )
        return out

    def _limits(self, limits: list, observed_at: str):
        for item in limits:
            if not isinstance(item, dict) or number(item.get("percent")) is None:
                continue
            kind = str(item.get("kind") or item.get("group") or "unknown")
            window, scope = KINDS.get(kind, (10080 if item.get("group") == "weekly" else None, kind))
            model = (item.get("scope") or {}).get("model") if isinstance(item.get("scope"), dict) else None
            if isinstance(model, dict) and (model.get("display_name") or model.get("id")):
                scope = str(model.get("display_name") or model.get("id"))
            yield reading(
                AGENT,
                observed_at,
                number(item["percent"]),
                window,
                instant(item.get("resets_at")),
                scope=scope,
                raw=item,
            )


@hookimpl
def register_quota_readers(register):
    register(ClaudeQuotaReader())
