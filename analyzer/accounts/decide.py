"""Which account paid: one pure decision per request, limit hit or quota reading.

Most specific first:

1. a rule of the user's ``accounts.toml`` (always wins; file order);
2. the provider the agent recorded (a gateway host, an OpenCode or Codex
   provider id, an auth type; with none, the router a model id starts with,
   ``kilo/anthropic/...``), unless it names a vendor that serves only its
   own models and the model is another vendor's: then the configuration read
   at ingest time is stale and the model decides (said in the note);
3. the model name's family (``glm-*`` z.ai, ``kimi-*`` Kimi, ``claude-*``
   Anthropic, ...), with a note when the family is sold in more than one place
   or the agent's usual vendor is another;
4. the quota reading's own identity (the endpoint it came from, Codex's
   ``plan_type``);
5. the agent's own vendor (Claude Code: Anthropic, Codex: OpenAI, ...), noted.

The answer names the account, the rule that decided (for ``analyzer
accounts``) and an ambiguity note or None. Nothing here reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..contract import vendors
from .rules import Rules

AGENT_VENDORS = {
    "claude-code": "anthropic",
    "codex": "openai",
    "gemini-cli": "google",
    "kimi-code": "moonshot",
    "qwen-code": "qwen-oauth",
}
AGENT_NAMES = {
    "claude-code": "Claude Code",
    "codex": "Codex",
    "gemini-cli": "Gemini CLI",
    "kimi-code": "Kimi Code",
    "qwen-code": "Qwen Code",
    "opencode": "OpenCode",
}
# Codex's plan_type -> catalogue plan, where one plan type is one plan.
CODEX_PLANS = {"plus": "codex-plus"}
# Whose plan a quota reading describes, by the agent it is filed under (log agents, and the
# vendor endpoints ``analyzer quota poll`` reads: ``glm``, ``minimax``).
READING_VENDORS = {**AGENT_VENDORS, "glm": "zai", "minimax": "minimax"}


@dataclass(frozen=True)
class QuotaIdentity:
    """What a quota reading says of its own account."""

    endpoint: str | None = None  # the host (or vendor id) the reading came from
    plan_type: str | None = None  # Codex: plus, pro, team ...
    limit_id: str | None = None  # Codex: codex, premium ...
    account: str | None = None  # an account the reader named


@dataclass(frozen=True)
class Attribution:
    """The account that paid, what decided it, and what is uncertain."""

    account: str | None
    rule: str
    note: str | None = None
    plan: str | None = None


def attribute(
    *,
    agent: str | None,
    provider: str | None = None,
    model: str | None = None,
    machine: str | tuple[str, ...] | None = None,
    project: str | None = None,
    ts: str | None = None,
    quota: QuotaIdentity | None = None,
    rules: Rules | None = None,
    vendor_models: tuple[str, ...] = (),
) -> Attribution:
    """The account of one request, limit hit or reading, most specific evidence first. ``machine``
    may be several names of one machine (its id and its name); ``vendor_models`` are the model
    globs of a reading's vendor, for rules on ``model`` (see ``Rule.matches``)."""
    if rules is not None:
        found = by_rule(
            rules,
            agent=agent,
            provider=provider,
            model=model,
            machine=machine,
            project=project,
            ts=ts,
            vendor_models=vendor_models,
        )
        if found is not None:
            return found
    who = AGENT_NAMES.get(agent or "", agent or "an agent")
    route = vendors.vendor_of_route(model) if not provider else None
    if route is not None:
        return Attribution(route.id, f"model route {model.split('/', 1)[0]}/")
    family = vendors.vendor_of_model(model)
    by_provider, how = vendors.vendor_of_provider(provider)
    if by_provider is not None:
        if by_provider.own_models_only and family is not None and model and not by_provider.makes_model(model):
            return Attribution(
                family.id,
                f"model family of {model}",
                f"{who} model {model} sent to {provider}, which serves only {by_provider.name} models: "
                f"assumed {family.name} (the configuration read at ingest is newer than the request)",
            )
        note = f"provider {provider!r} read as {by_provider.name} from its name" if how == "keyword" else None
        return Attribution(by_provider.id, f"provider {provider}", note)
    if family is not None:
        return Attribution(family.id, f"model family of {model}", _family_note(agent, who, model, family, provider))
    if quota is not None:
        found = _from_quota(agent, quota)
        if found is not None:
            return found
    if agent in AGENT_VENDORS:
        home = vendors.get(AGENT_VENDORS[agent])
        return Attribution(home.id, f"agent {agent}", f"{who} with no provider or model known: assumed {home.name}")
    return Attribution(None, "unknown", f"{who}: no rule, provider or model names a vendor")


def by_rule(rules: Rules, **fields) -> Attribution | None:
    """The first rule of ``accounts.toml`` that matches (``Rule.matches``' fields), or None."""
    for rule in rules.rules:
        if rule.matches(**fields):
            named = rules.accounts.get(rule.account)
            return Attribution(rule.account, rule.label, None, rule.plan or (named.plan if named else None))
    return None


def reading_attribution(
    *,
    agent: str,
    source: str | None,
    plan_type: str | None = None,
    named: str | None = None,
    machine: str | tuple[str, ...] | None = None,
    ts: str | None = None,
    rules: Rules | None = None,
) -> Attribution:
    """The account of a quota reading: a rule (matched on the reading's vendor), the account its
    source named, else the vendor whose plan it describes (by its source's name or its agent)."""
    vendor, _ = vendors.vendor_of_provider(named) if named else (None, "")
    if vendor is None:
        vendor = vendors.get(READING_VENDORS.get(agent))
    if rules is not None and rules.rules:
        found = by_rule(
            rules,
            agent=agent,
            provider=vendor.id if vendor else None,
            model=None,
            machine=machine,
            project=None,
            ts=ts,
            vendor_models=vendor.models if vendor else (),
        )
        if found is not None:
            return found
    if named and vendors.vendor_of_provider(named)[0] is None:
        return Attribution(named, "account named by the reading's source")
    who = AGENT_NAMES.get(agent, agent)
    if vendor is None:
        return Attribution(None, "unknown", f"a quota reading of {who} ({source}): no vendor known")
    plan = CODEX_PLANS.get((plan_type or "").lower()) if vendor.id == "openai" else None
    return Attribution(vendor.id, f"quota reading of {who}" + (f" ({named})" if named else ""), None, plan)


def _family_note(agent: str | None, who: str, model: str, family: vendors.Vendor, provider: str | None) -> str | None:
    alternatives = [vendors.get(v).name for v in vendors.family_alternatives(family) if vendors.get(v)]
    native = AGENT_VENDORS.get(agent or "")
    if native == family.id and not alternatives:
        return None  # Claude Code answering with claude-*, Codex with gpt-*: nothing to doubt
    unknown = (
        f"provider {provider!r} unknown"
        if provider
        else ("no base URL known" if agent == "claude-code" else "no provider known")
    )
    note = f"{who} model {model} with {unknown}: assumed {family.name}"
    return note + (f" (could be {' or '.join(alternatives)})" if alternatives else "")


def _from_quota(agent: str | None, quota: QuotaIdentity) -> Attribution | None:
    if quota.account:
        return Attribution(quota.account, "quota reading account")
    vendor, _ = vendors.vendor_of_provider(quota.endpoint)
    if vendor is not None:
        return Attribution(vendor.id, f"quota endpoint {quota.endpoint}")
    if agent == "codex" and (quota.plan_type or quota.limit_id):
        plan = CODEX_PLANS.get((quota.plan_type or "").lower())
        return Attribution("openai", f"quota reading plan_type {quota.plan_type or quota.limit_id}", None, plan)
    return None
