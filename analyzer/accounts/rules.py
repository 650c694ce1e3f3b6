"""``accounts.toml``: the user's own word on which account paid for what.

The file lives in the user config folder (``analyzer`` beside ``plans.toml``).
Each ``[[rule]]`` names an ``account`` and the requests it covers; every key
it gives must match (a list means any of its values), keys it leaves out
match anything::

    [account.glm-work]             # optional: a name and a catalogue plan
    name = "GLM Coding Pro, work key"
    plan = "glm-pro"

    [[rule]]
    account = "glm-work"
    agent = "claude-code"          # claude-code, codex, opencode, kimi-code, qwen-code, gemini-cli
    provider = "open.bigmodel.cn"  # glob on the provider recorded, or its vendor id (zhipuai)
    model = "glm-*"                # glob, case-insensitive
    machine = "work-laptop"        # glob on the machine's name or id (`analyzer db status` lists them)
    project = "~/work/*"           # glob on the project folder; ~ is the home folder
    since = 2026-09-01             # from (inclusive) ...
    until = 2026-10-01             # ... to (exclusive); a date or date-time, naive means local time
    plan = "glm-pro"               # optional, for this rule only

Rules are tried in file order; the first that matches decides. A file that
cannot be used raises ``AccountsFileError`` naming the file and the line.

Limit hits and quota readings are matched too: a limit hit by the model,
provider and project of the calls of its session, a reading by its vendor (as
``provider``) and, for ``model``, by whether the glob names that vendor's
models (``glm-*`` matches a reading of z.ai's endpoint). Changing the file
re-attributes every stored row (``analyzer.accounts.store``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from pathlib import Path

from ..contract import vendors
from ..contract.timeutil import UTC, format_utc, parse_iso

FILE_NAME = "accounts.toml"
MATCH_KEYS = ("agent", "provider", "model", "machine", "project")
RULE_KEYS = frozenset({"account", "plan", "since", "until", "note", *MATCH_KEYS})
ACCOUNT_KEYS = frozenset({"name", "plan", "note"})
_ACCOUNT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class AccountsFileError(ValueError):
    """``accounts.toml`` is malformed; the message names the file and the line."""


@dataclass(frozen=True)
class Account:
    """An account the user named: a subscription or a wallet."""

    id: str
    name: str | None = None
    plan: str | None = None


@dataclass(frozen=True)
class Rule:
    """One ``[[rule]]``: which requests an account paid for."""

    account: str
    plan: str | None = None
    agent: tuple[str, ...] = ()
    provider: tuple[str, ...] = ()
    model: tuple[str, ...] = ()
    machine: tuple[str, ...] = ()
    project: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    label: str = "accounts.toml"

    def matches(
        self,
        *,
        agent: str | None,
        provider: str | None,
        model: str | None,
        machine: str | tuple[str, ...] | None,
        project: str | None,
        ts: str | None,
        vendor_models: tuple[str, ...] = (),
    ) -> bool:
        """Whether a request (or a limit hit, or a reading) falls under this rule. ``machine`` may be
        several names (the id and the name); ``vendor_models`` are the model globs of a reading's
        vendor, matched when ``model`` is unknown."""
        if self.agent and (agent or "") not in self.agent:
            return False
        if self.provider and not _provider_matches(self.provider, provider):
            return False
        if self.model and not _any_glob(self.model, (model or "").lower()):
            if model or not _globs_meet(self.model, vendor_models):
                return False
        if self.machine:
            names = machine if isinstance(machine, tuple) else (machine or "",)
            if not any(_any_glob(self.machine, name) for name in names):
                return False
        if self.project and not _any_glob(self.project, project or ""):
            return False
        if (self.since or self.until) and not ts:
            return False
        if self.since and ts < self.since:
            return False
        return not (self.until and ts >= self.until)


@dataclass(frozen=True)
class Rules:
    """The rules and accounts of one ``accounts.toml`` (empty when there is none)."""

    rules: tuple[Rule, ...] = ()
    accounts: dict[str, Account] = field(default_factory=dict)
    origin: str | None = None
    digest: str = ""  # of the file's text: rows attributed under another digest need attributing again


def _any_glob(globs: tuple[str, ...], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, g) for g in globs)


def _literal(glob: str) -> str:
    return re.sub(r"\[[^]]*\]|[*?]", "", glob)


def _globs_meet(globs: tuple[str, ...], others: tuple[str, ...]) -> bool:
    """Whether a rule's model globs and a vendor's name some model in common (``glm-*`` and ``glm-*``,
    ``glm-4.6`` and ``glm-*``): each glob's literal text matched against the other glob."""
    return any(
        fnmatch.fnmatchcase(_literal(a), b) or fnmatch.fnmatchcase(_literal(b), a) for a in globs for b in others
    )


def _provider_matches(globs: tuple[str, ...], provider: str | None) -> bool:
    if not provider:
        return False
    names = {provider.lower()}
    vendor, _ = vendors.vendor_of_provider(provider)
    if vendor is not None:
        names.add(vendor.id)
    return any(fnmatch.fnmatchcase(name, g) for g in globs for name in names)


# --- reading the file ---------------------------------------------------------------------


def parse_rules(
    text: str, *, origin: str = FILE_NAME, tz: tzinfo = UTC, home: Path | None = None, plan_ids: set[str] | None = None
) -> Rules:
    """Rules from the text of an ``accounts.toml``; ``tz`` reads naive dates, ``home`` expands ``~``,
    ``plan_ids`` (when given) are the catalogue plans a ``plan`` may name."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AccountsFileError(f"{origin}: not valid TOML: {exc}") from exc
    where = _Locator(text, origin)
    unknown = set(data) - {"account", "rule"}
    if unknown:
        name = sorted(unknown)[0]
        raise AccountsFileError(
            f"{where.key(None, name)}: unknown table or key {name!r} (use [account.<id>] and [[rule]])"
        )
    accounts: dict[str, Account] = {}
    table = data.get("account", {})
    if not isinstance(table, dict):
        raise AccountsFileError(f"{where.key(None, 'account')}: 'account' must be tables [account.<id>]")
    for account_id, body in table.items():
        line = where.header(f"account.{account_id}")
        if not _ACCOUNT_ID.match(account_id):
            raise AccountsFileError(
                f"{line}: account id {account_id!r} must be lower-case letters, digits, '.', '-' or '_'"
            )
        if not isinstance(body, dict):
            raise AccountsFileError(f"{line}: [account.{account_id}] must be a table")
        extra = set(body) - ACCOUNT_KEYS
        if extra:
            raise AccountsFileError(f"{line}: unknown key {sorted(extra)[0]!r} in [account.{account_id}]")
        plan = _plan(body.get("plan"), plan_ids, line)
        name = body.get("name")
        if name is not None and not isinstance(name, str):
            raise AccountsFileError(f"{line}: 'name' must be text")
        accounts[account_id] = Account(account_id, name, plan)
    entries = data.get("rule", [])
    if not isinstance(entries, list):
        raise AccountsFileError(f"{where.key(None, 'rule')}: rules are written [[rule]]")
    rules = []
    for index, body in enumerate(entries):
        line = where.rule(index)
        extra = set(body) - RULE_KEYS
        if extra:
            name = sorted(extra)[0]
            raise AccountsFileError(
                f"{where.key(index, name)}: unknown key {name!r} (a rule takes {', '.join(sorted(RULE_KEYS))})"
            )
        account = body.get("account")
        if not isinstance(account, str) or not _ACCOUNT_ID.match(account):
            raise AccountsFileError(
                f"{where.key(index, 'account') if 'account' in body else line}: a rule needs "
                "account = \"<id>\" (lower-case letters, digits, '.', '-', '_')"
            )
        matchers = {k: _globs(body.get(k), k, where.key(index, k)) for k in MATCH_KEYS}
        matchers["model"] = tuple(g.lower() for g in matchers["model"])
        matchers["provider"] = tuple(g.lower() for g in matchers["provider"])
        matchers["project"] = tuple(_expand(g, home) for g in matchers["project"])
        since = _instant(body.get("since"), tz, where.key(index, "since"))
        until = _instant(body.get("until"), tz, where.key(index, "until"))
        if since and until and until <= since:
            raise AccountsFileError(f"{where.key(index, 'until')}: 'until' must come after 'since'")
        plan = _plan(body.get("plan"), plan_ids, where.key(index, "plan"))
        rules.append(Rule(account=account, plan=plan, since=since, until=until, label=line, **matchers))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return Rules(tuple(rules), accounts, origin, digest)


def load_rules(path: Path | None = None, *, tz: tzinfo = UTC, plan_ids: set[str] | None = None) -> Rules:
    """The user's ``accounts.toml`` (from the config folder unless ``path`` is given); none gives no rules."""
    if path is None:
        from ..pricing.prices import config_dir

        path = config_dir() / FILE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Rules()
    except (OSError, UnicodeDecodeError) as exc:
        raise AccountsFileError(f"{path}: cannot be read: {exc}") from exc
    return parse_rules(text, origin=str(path), tz=tz, home=Path.home(), plan_ids=plan_ids)


def _globs(value, key: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v.strip() for v in items):
        raise AccountsFileError(f"{where}: {key!r} must be text or a list of text")
    return tuple(v.strip() for v in items)


def _expand(glob: str, home: Path | None) -> str:
    if home is not None and (glob == "~" or glob.startswith("~/")):
        return str(home) + glob[1:]
    return glob


def _plan(value, plan_ids: set[str] | None, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise AccountsFileError(f"{where}: 'plan' must be a catalogue plan id (see `analyzer plans`)")
    if plan_ids is not None and value not in plan_ids:
        raise AccountsFileError(f"{where}: unknown plan {value!r} (see `analyzer plans` for the ids)")
    return value


def _instant(value, tz: tzinfo, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = (
                date.fromisoformat(text)
                if len(text) == 10
                else parse_iso(text)
                if text.endswith("Z")
                else datetime.fromisoformat(text)
            )
        except ValueError as exc:
            raise AccountsFileError(f"{where}: {text!r} is not a date (YYYY-MM-DD) or a date-time") from exc
    if isinstance(value, datetime):
        return format_utc(value if value.tzinfo else value.replace(tzinfo=tz))
    if isinstance(value, date):
        return format_utc(datetime.combine(value, time(0), tzinfo=tz))
    raise AccountsFileError(f"{where}: expected a date or a date-time, got {type(value).__name__}")


class _Locator:
    """Line numbers for messages: where the n-th ``[[rule]]`` and its keys are."""

    def __init__(self, text: str, origin: str) -> None:
        self.origin = origin
        self.lines = text.splitlines()
        self.rule_lines = [i for i, line in enumerate(self.lines) if re.match(r"\s*\[\[\s*rule\s*\]\]", line)]

    def _at(self, index: int) -> str:
        return f"{self.origin} line {index + 1}"

    def rule(self, n: int) -> str:
        return self._at(self.rule_lines[n]) if n < len(self.rule_lines) else f"{self.origin} rule {n + 1}"

    def header(self, name: str) -> str:
        for i, line in enumerate(self.lines):
            if re.match(rf"\s*\[\s*{re.escape(name)}\s*\]", line):
                return self._at(i)
        return self.origin

    def key(self, n: int | None, key: str) -> str:
        start = self.rule_lines[n] if n is not None and n < len(self.rule_lines) else 0
        stop = self.rule_lines[n + 1] if n is not None and n + 1 < len(self.rule_lines) else len(self.lines)
        for i in range(start, stop):
            if re.match(rf"\s*{re.escape(key)}\s*[=.]|\s*\[+\s*{re.escape(key)}\b", self.lines[i]):
                return self._at(i)
        return self.rule(n) if n is not None else self.origin
