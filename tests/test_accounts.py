"""Accounts: vendors, accounts.toml rules, and the attribution order."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.accounts import AccountsFileError, QuotaIdentity, attribute, load_rules, parse_rules
from analyzer.contract import vendors
from analyzer.contract.timeutil import UTC
from analyzer.plans.catalogue import bundled_plans


def test_every_vendor_plan_is_in_the_catalogue_and_ids_are_unique():
    catalogue = {p.id for p in bundled_plans()}
    ids = [v.id for v in vendors.VENDORS]
    assert len(ids) == len(set(ids))
    for v in vendors.VENDORS:
        assert set(v.plans) <= catalogue, v.id
    # every catalogue plan belongs to some vendor, so a rule's plan can be checked against its account
    assert catalogue == {p for v in vendors.VENDORS for p in v.plans}


@pytest.mark.parametrize(
    "provider, expected",
    [
        ("open.bigmodel.cn", "zhipuai"),
        ("api.z.ai", "zai"),
        ("api.moonshot.cn", "moonshot-api"),
        ("api.kimi.com", "moonshot"),
        ("api.minimaxi.com", "minimax-cn"),
        ("api.minimax.io", "minimax"),
        ("dashscope.aliyuncs.com", "dashscope"),
        ("coding.dashscope.aliyuncs.com", "bailian"),
        ("ark.cn-beijing.volces.com", "ark"),
        ("api.anthropic.com", "anthropic"),
        ("zai-coding-plan", "zai"),
        ("zhipuai-coding-plan", "zhipuai"),
        ("kimi-for-coding", "moonshot"),
        ("managed:kimi-code", "moonshot"),
        ("alibaba-coding-plan", "bailian"),
        ("openai", "openai"),
        ("qwen-oauth", "qwen-oauth"),
        ("oauth-personal", "google"),
        ("gemini-api-key", "google-api"),
        ("localhost", "local"),
        ("my-glm-proxy", "zai"),
        ("nothing-known", None),
        (None, None),
    ],
)
def test_vendor_of_provider(provider, expected):
    vendor, _ = vendors.vendor_of_provider(provider)
    assert (vendor.id if vendor else None) == expected


@pytest.mark.parametrize(
    "model, expected",
    [
        ("glm-4.6", "zai"),
        ("GLM-5", "zai"),
        ("kimi-for-coding", "moonshot"),
        ("kimi-k2-turbo-preview", "moonshot"),
        ("MiniMax-M2", "minimax"),
        ("qwen3-coder-plus", "qwen-oauth"),
        ("coder-model", "qwen-oauth"),
        ("claude-sonnet-4-5-20250929", "anthropic"),
        ("gpt-5-codex", "openai"),
        ("codex-mini-latest", "openai"),
        ("gemini-2.5-pro", "google"),
        ("anthropic/claude-opus-4", "anthropic"),
        ("<synthetic>", None),
        ("mystery", None),
    ],
)
def test_vendor_of_model(model, expected):
    vendor = vendors.vendor_of_model(model)
    assert (vendor.id if vendor else None) == expected


# --- the attribution order --------------------------------------------------------------


def test_claude_code_glm_without_base_url_is_zai_with_a_note():
    found = attribute(agent="claude-code", provider=None, model="glm-4.6")
    assert found.account == "zai" and found.rule == "model family of glm-4.6"
    assert found.note.startswith("Claude Code model glm-4.6 with no base URL known: assumed Z.ai")
    assert "bigmodel.cn" in found.note


def test_claude_code_on_claude_needs_no_note():
    found = attribute(agent="claude-code", model="claude-opus-4-1")
    assert (found.account, found.note) == ("anthropic", None)


def test_kimi_anthropic_endpoint_and_kimi_code_cli_are_one_account():
    via_claude = attribute(agent="claude-code", provider="api.kimi.com", model="kimi-for-coding")
    via_kimi_code = attribute(agent="kimi-code", provider="api.kimi.com", model="kimi-for-coding")
    via_legacy_cli = attribute(agent="kimi-code", provider="managed:kimi-code", model="kimi-k2-turbo-preview")
    via_opencode = attribute(agent="opencode", provider="kimi-for-coding", model="kimi-k2-thinking")
    assert {via_claude.account, via_kimi_code.account, via_legacy_cli.account, via_opencode.account} == {"moonshot"}
    assert via_claude.rule == "provider api.kimi.com" and via_claude.note is None


def test_provider_beats_model_family_on_a_gateway_that_serves_many_models():
    found = attribute(agent="claude-code", provider="coding.dashscope.aliyuncs.com", model="glm-4.7")
    assert (found.account, found.rule) == ("bailian", "provider coding.dashscope.aliyuncs.com")
    ark = attribute(agent="opencode", provider="ark.cn-beijing.volces.com", model="kimi-k2.5")
    assert ark.account == "ark"


def test_stale_single_vendor_gateway_loses_to_the_model():
    """Settings now say z.ai, but this older reply came from Claude itself."""
    found = attribute(agent="claude-code", provider="open.bigmodel.cn", model="claude-sonnet-4-5")
    assert found.account == "anthropic" and "serves only" in found.note


def test_bigmodel_and_zai_are_different_accounts_for_the_same_models():
    assert attribute(agent="claude-code", provider="open.bigmodel.cn", model="glm-4.6").account == "zhipuai"
    assert attribute(agent="claude-code", provider="api.z.ai", model="glm-4.6").account == "zai"


def test_keyword_provider_is_noted():
    found = attribute(agent="codex", provider="my-glm-proxy", model="glm-4.6")
    assert found.account == "zai" and "from its name" in found.note


def test_quota_reading_identity():
    codex = attribute(agent="codex", quota=QuotaIdentity(plan_type="plus", limit_id="codex"))
    assert (codex.account, codex.plan) == ("openai", "codex-plus")
    glm = attribute(agent="claude-code", quota=QuotaIdentity(endpoint="open.bigmodel.cn"))
    assert (glm.account, glm.rule) == ("zhipuai", "quota endpoint open.bigmodel.cn")


def test_agent_default_and_unknown():
    assert attribute(agent="gemini-cli").account == "google"
    unknown = attribute(agent="opencode")
    assert unknown.account is None and unknown.rule == "unknown"


# --- accounts.toml ---------------------------------------------------------------------------

RULES = """\
[account.glm-work]
name = "GLM Coding Pro, work key"
plan = "glm-pro"

[[rule]]
account = "glm-work"
agent = "claude-code"
model = "glm-*"
project = "~/work/*"
since = 2026-09-01

[[rule]]
account = "kimi-family"
provider = ["moonshot", "moonshot-api"]
plan = "kimi-moderato"

[[rule]]
account = "old-claude"
agent = "claude-code"
model = "claude-*"
until = 2026-06-01T12:00:00+08:00
machine = "laptop-*"
"""


def test_a_rule_moves_rows_between_accounts(tmp_path):
    rules = parse_rules(RULES, home=Path("/home/u"), plan_ids={p.id for p in bundled_plans()})
    row = dict(
        agent="claude-code",
        provider="open.bigmodel.cn",
        model="glm-4.6",
        project="/home/u/work/api",
        ts="2026-09-10T08:00:00.000Z",
    )
    assert attribute(**row).account == "zhipuai"
    moved = attribute(**row, rules=rules)
    assert (moved.account, moved.rule, moved.plan) == ("glm-work", "accounts.toml line 5", "glm-pro")
    assert (
        attribute(**{**row, "ts": "2026-08-31T15:59:59.000Z"}, rules=rules).account == "zhipuai"
    )  # before since (UTC)
    assert attribute(**{**row, "project": "/home/u/play/x"}, rules=rules).account == "zhipuai"
    kimi = attribute(agent="kimi-code", provider="api.kimi.com", model="kimi-for-coding", rules=rules)
    assert (kimi.account, kimi.plan, kimi.rule) == ("kimi-family", "kimi-moderato", "accounts.toml line 12")
    old = dict(agent="claude-code", model="claude-opus-4", machine="laptop-1", rules=rules)
    assert attribute(**old, ts="2026-06-01T03:59:59.000Z").account == "old-claude"
    assert attribute(**old, ts="2026-06-01T04:00:00.000Z").account == "anthropic"  # until is exclusive
    assert attribute(**{**old, "machine": "desktop"}, ts="2026-05-01T00:00:00.000Z").account == "anthropic"


def test_naive_dates_are_local_time():
    from zoneinfo import ZoneInfo

    rules = parse_rules('[[rule]]\naccount = "a"\nsince = 2026-09-01\n', tz=ZoneInfo("Asia/Shanghai"))
    assert rules.rules[0].since == "2026-08-31T16:00:00.000Z"
    assert (
        parse_rules('[[rule]]\naccount = "a"\nsince = "2026-09-01"\n', tz=UTC).rules[0].since
        == "2026-09-01T00:00:00.000Z"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[rule]]\naccount = "a"\nmodle = "glm-*"\n', "accounts.toml line 3: unknown key 'modle'"),
        ('[[rule]]\nagent = "codex"\n', "accounts.toml line 1: a rule needs account"),
        ('[[rule]]\naccount = "a"\n\n[[rule]]\naccount = "Bad Id"\n', "accounts.toml line 5: a rule needs account"),
        ('[[rule]]\naccount = "a"\nsince = "yesterday"\n', "accounts.toml line 3: 'yesterday' is not a date"),
        (
            '[[rule]]\naccount = "a"\nsince = 2026-09-02\nuntil = 2026-09-01\n',
            "accounts.toml line 4: 'until' must come after",
        ),
        ('[[rule]]\naccount = "a"\nmodel = 4\n', "accounts.toml line 3: 'model' must be text"),
        ('[[rule]]\naccount = "a"\nplan = "glm-ultra"\n', "accounts.toml line 3: unknown plan 'glm-ultra'"),
        ('[account.x]\nplan = "nope"\n', "accounts.toml line 1: unknown plan 'nope'"),
        ('[[rule]\naccount = "a"\n', "accounts.toml: not valid TOML"),
        ("[rules]\n", "unknown table or key 'rules'"),
    ],
)
def test_bad_files_name_the_line(text, message):
    with pytest.raises(AccountsFileError) as exc:
        parse_rules(text, plan_ids={p.id for p in bundled_plans()})
    assert message in str(exc.value)


def test_load_rules_from_a_file_and_a_missing_file(tmp_path):
    assert load_rules(tmp_path / "accounts.toml").rules == ()
    path = tmp_path / "accounts.toml"
    path.write_text('[[rule]]\naccount = "a"\n')
    first = load_rules(path)
    assert first.rules[0].account == "a" and first.origin == str(path)
    path.write_text('[[rule]]\naccount = "b"\n')
    assert load_rules(path).digest != first.digest
