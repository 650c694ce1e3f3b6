"""The quota-reader contract, and what the vendor readers share.

A reader is registered through the ``register_quota_readers`` hook and has:

* ``name``: the vendor, as ``analyzer quota poll --vendor NAME`` spells it;
* ``agent``: the agent (or plan family) its readings are filed under;
* ``credentials(env) -> Credential``, raising ``NoCredentials`` (with the
  reason, for "skipped" lines) when there is nothing to use;
* ``read(env, timeout, now) -> list[QuotaReading]``, raising ``QuotaError``;
* ``parse(body, observed_at) -> list[QuotaReading]``: the pure part, one
  reading per window the answer holds, raising ``QuotaError("shape", …)``
  when the answer is not a shape it knows.

Credentials are read from the agents' own files or environment variables at
the moment of use, held in memory only for the request, never written, never
logged, never shown (``Credential`` hides its token from ``repr``), and never
refreshed: an expired token is a "skipped" with the way to renew it.

Readings are filed with ``source = "endpoint"`` and the dedupe key of
``plugins.quota.keys``. ``scope`` is None for a plan's main windows and names
anything narrower (a model family, a pool, MCP calls).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from analyzer.plugins.quota.http import QuotaError, check_url, get_json
from analyzer.plugins.quota.keys import reading_key

from analyzer.contract.records import QuotaReading
from analyzer.contract.timeutil import format_utc, now_utc, utc_iso
from analyzer.contract.vendors import vendor_of_host

SOURCE = "endpoint"


class NoCredentials(Exception):
    """Nothing to authenticate with; the message says where the reader looked."""


@dataclass
class Credential:
    token: str = field(repr=False)
    origin: str  # where it came from (a path or a variable name), never the value
    base_url: str | None = None
    extra: dict = field(default_factory=dict)  # e.g. {"plan": "max"}, filled into readings lacking one


def home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or Path.home()).expanduser()


def read_json(path: Path) -> dict | None:
    """A credentials file's JSON object, or None when absent or unreadable."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def number(value) -> float | None:
    """A count or percent given as a number or a decimal string; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if value == value else None
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def instant(value) -> str | None:
    """ISO text or epoch (s or ms) as a stored instant; None when absent or unreadable."""
    if value is None or isinstance(value, bool) or value == 0:
        return None
    try:
        return utc_iso(value)
    except (ValueError, OverflowError, OSError, TypeError):
        return None


def reading(
    agent: str,
    observed_at: str,
    percent: float,
    window: int | None,
    resets_at: str | None,
    *,
    scope: str | None = None,
    plan: str | None = None,
    raw=None,
    source: str = SOURCE,
) -> QuotaReading:
    percent = round(float(percent), 4)
    return QuotaReading(
        key=reading_key(agent, source, window, scope, resets_at, percent),
        agent=agent,
        observed_at=observed_at,
        used_percent=percent,
        window_minutes=window,
        resets_at=resets_at,
        plan_type=plan,
        scope=scope,
        source=source,
        raw=raw,
    )


def base_url(env: Mapping[str, str], variable: str, default: str) -> str:
    return (env.get(variable) or default).rstrip("/")


def shape_error(vendor: str, body, expected: str) -> QuotaError:
    """The answer is not a shape we know: say what we expected and which keys came (never values)."""
    keys = ", ".join(sorted(map(str, body))[:12]) if isinstance(body, dict) else type(body).__name__
    return QuotaError(
        "shape",
        f"{vendor}: unexpected answer (expected {expected}; got {keys or 'nothing'}); "
        "the endpoint may have changed: please report it",
    )


class QuotaReader:
    """Shared flow: credentials, one GET, parse. Subclasses set the names and write the rest."""

    name = ""
    agent = ""
    base_env = ""  # ANALYZER_<VENDOR>_BASE_URL
    default_base = ""

    def credentials(self, env: Mapping[str, str]) -> Credential:
        raise NotImplementedError

    def request(self, cred: Credential, env: Mapping[str, str]) -> tuple[str, dict]:
        raise NotImplementedError

    def parse(self, body, observed_at: str) -> list[QuotaReading]:
        raise NotImplementedError

    def base(self, cred: Credential, env: Mapping[str, str]) -> str:
        return base_url(env, self.base_env, cred.base_url or self.default_base)

    def fetch(self, cred: Credential, env: Mapping[str, str], timeout: float):
        url, headers = self.request(cred, env)
        return get_json(check_url(url), headers, timeout=timeout, secrets=[cred.token])

    def read(
        self, env: Mapping[str, str] | None = None, *, timeout: float = 10.0, now: datetime | None = None
    ) -> list[QuotaReading]:
        env = os.environ if env is None else env
        cred = self.credentials(env)
        observed = format_utc(now or now_utc())
        try:
            body = self.fetch(cred, env, timeout)
        except QuotaError as exc:
            hint = self.auth_hint(cred) if exc.kind == "auth" else ""
            raise QuotaError(exc.kind, f"{exc}{hint}") from None
        found = self.parse(body, observed)
        plan = cred.extra.get("plan")
        found = [replace(r, plan_type=plan) if plan and not r.plan_type else r for r in found]
        # Whose plan: the vendor of the endpoint the credentials belong to (z.ai and bigmodel.cn are two
        # accounts), kept as the reading's own identity (the account a report files it under may differ).
        vendor = vendor_of_host(urlsplit(cred.base_url or self.default_base).hostname)
        return [replace(r, account=vendor.id) if vendor and not r.account else r for r in found]

    def auth_hint(self, cred: Credential) -> str:
        return f" (credentials from {cred.origin})"


def gateway_credential(env: Mapping[str, str], hosts: tuple[str, ...]) -> Credential | None:
    """Claude Code pointed at a vendor's Anthropic-compatible gateway: ``ANTHROPIC_BASE_URL`` on
    one of ``hosts`` with ``ANTHROPIC_AUTH_TOKEN`` (or ``ANTHROPIC_API_KEY``), from the environment
    or from the ``env`` block of Claude Code's settings. Returns the origin as ``base_url``."""
    from urllib.parse import urlsplit

    from analyzer.plugins.claude_code.settings import settings_path

    settings = settings_path(env)
    block = (read_json(settings) or {}).get("env")
    places = [(env, "ANTHROPIC_AUTH_TOKEN in the environment")]
    if isinstance(block, dict):
        places.append((block, f'"env" of {settings}'))
    for values, origin in places:
        url = values.get("ANTHROPIC_BASE_URL")
        token = values.get("ANTHROPIC_AUTH_TOKEN") or values.get("ANTHROPIC_API_KEY")
        if not (isinstance(url, str) and isinstance(token, str) and token):
            continue
        parts = urlsplit(url)
        if parts.hostname and any(parts.hostname == h or parts.hostname.endswith("." + h) for h in hosts):
            return Credential(token, origin, base_url=f"{parts.scheme}://{parts.netloc}")
    return None
