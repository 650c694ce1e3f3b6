"""Accounts in the store: every row attributed as it is written, again when accounts.toml changes."""

from __future__ import annotations

import shutil

from analyzer.accounts.store import ensure_accounts, needs_work
from analyzer.contract.records import Request
from analyzer.pricing.prices import config_dir
from analyzer.store import database as store
from analyzer.store.schema import refetch_unknown_providers
from analyzer.store.writer import RecordWriter

from .conftest import FIXTURES, ingest_home

GLM = FIXTURES / "claude-code" / "glm-gateway" / "home"


def accounts(db, table: str) -> dict:
    return dict(db.execute(f"select coalesce(account, '-'), count(*) from {table} group by account").fetchall())


def write_accounts(text: str) -> None:
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "accounts.toml").write_text(text)


def test_requests_hits_readings_and_prompts_are_attributed_by_an_ingest(db):
    ingest_home(db, GLM)  # Claude Code through open.bigmodel.cn: 1 call, 2 prompts, 3 refusals
    ingest_home(db, FIXTURES / "codex" / "rate-limits" / "home")
    assert accounts(db, "requests")["zhipuai"] == 1
    assert accounts(db, "limit_hits") == {"zhipuai": 3}  # the refusals name no model: their session's call does
    assert set(accounts(db, "quota_readings")) == {"openai"}
    assert accounts(db, "prompts")["zhipuai"] == 2
    rule, note = db.execute(
        "select a.rule, a.note from requests r join attributions a on a.id = r.attribution where r.agent = 'claude-code'"
    ).fetchone()
    assert (rule, note) == ("provider open.bigmodel.cn", None)
    assert not needs_work(db)  # nothing left for a report to do


def test_claude_code_through_kimis_endpoint_and_kimi_code_cli_are_one_account(db, tmp_path):
    home = tmp_path / "cc"
    shutil.copytree(GLM, home)
    for path in [home / ".claude" / "settings.json", *home.glob(".claude/projects/*/*.jsonl")]:
        path.write_text(
            path.read_text().replace("open.bigmodel.cn/api/anthropic", "api.kimi.com/coding/").replace("glm-4.6", "k2")
        )
    ingest_home(db, home)
    ingest_home(db, FIXTURES / "kimi-code" / "cli-basic" / "home")
    got = db.execute("select agent, provider, model, account from requests order by agent").fetchall()
    assert got == [
        ("claude-code", "api.kimi.com", "k2", "moonshot"),  # the gateway decides, whatever the model is called
        *[("kimi-code", "api.kimi.com", "kimi-for-coding", "moonshot")] * 3,
    ]
    assert accounts(db, "prompts") == {"moonshot": 4}


def test_an_accounts_toml_rule_moves_rows_without_reading_logs_again(db):
    ingest_home(db, GLM)
    write_accounts('[account.glm-work]\nplan = "glm-pro"\n\n[[rule]]\naccount = "glm-work"\nmodel = "glm-*"\n')
    assert needs_work(db)
    moved = ensure_accounts(db)
    assert moved == 1 + 3  # the call, and its session's refusals (through its model)
    assert accounts(db, "requests") == {"glm-work": 1}
    assert accounts(db, "limit_hits") == {"glm-work": 3}
    assert accounts(db, "prompts") == {"glm-work": 2}
    rule, plan = db.execute(
        "select a.rule, a.plan from requests r join attributions a on a.id = r.attribution"
    ).fetchone()
    assert rule.endswith("accounts.toml line 4") and plan == "glm-pro"
    assert ensure_accounts(db) == 0  # the same file again: nothing to do
    (config_dir() / "accounts.toml").unlink()
    assert ensure_accounts(db) == 4
    assert accounts(db, "requests") == {"zhipuai": 1}


def test_a_rule_with_a_time_range_splits_one_agents_rows(db):
    ingest_home(db, FIXTURES / "kimi-code" / "cli-basic" / "home")
    times = [t for (t,) in db.execute("select ts from requests order by ts")]
    write_accounts(f'[[rule]]\naccount = "kimi-old"\nagent = "kimi-code"\nuntil = "{times[1]}"\n')
    ensure_accounts(db)
    assert [a for (a,) in db.execute("select account from requests order by ts")] == [
        "kimi-old",
        "moonshot",
        "moonshot",
    ]


def test_rows_stored_before_accounts_are_attributed_on_the_next_report(db):
    ingest_home(db, GLM)
    before = db.execute("select key, account, attribution from requests order by key").fetchall()
    for table in ("requests", "limit_hits", "quota_readings"):
        db.execute(f"update {table} set account = null, attribution = null")
    db.execute("update prompts set account = null")
    db.execute("delete from meta where key = 'accounts_digest'")
    assert needs_work(db)
    ensure_accounts(db)
    assert db.execute("select key, account, attribution from requests order by key").fetchall() == before
    assert accounts(db, "limit_hits") == {"zhipuai": 3} and accounts(db, "prompts") == {"zhipuai": 2}


def test_rows_stored_without_a_provider_are_read_again_once(db):
    """Before the parsers recorded a gateway, the same call was stored with provider null; the
    migration has its file read again, and the copy that names its provider replaces the row."""
    ingest_home(db, GLM)
    db.execute("update requests set provider = null, account = null, attribution = null")
    db.execute("update limit_hits set provider = null")
    assert ensure_accounts(db) == 1
    assert accounts(db, "requests") == {"zai": 1}  # glm-4.6 with no base URL known: assumed z.ai
    note = db.execute("select a.note from requests r join attributions a on a.id = r.attribution").fetchone()[0]
    assert (
        note
        == "Claude Code model glm-4.6 with no base URL known: assumed Z.ai GLM (international) (could be Zhipu GLM (bigmodel.cn))"
    )
    refetch_unknown_providers(db)
    ingest_home(db, GLM)
    assert db.execute("select provider, account from requests").fetchall() == [("open.bigmodel.cn", "zhipuai")]


def _request(provider: str | None, machine: str = "m1") -> tuple:
    writer = RecordWriter(None, source_id=None, machine=machine, keep_text=False)
    call = Request(
        key="k",
        agent="claude-code",
        session_id="s",
        ts="2026-10-03T17:00:00.000Z",
        model="glm-4.6",
        provider=provider,
        output_tokens=10,
    )
    return writer.request_row(call, 0)


def test_a_copy_that_names_its_provider_beats_an_equal_one_that_does_not(tmp_path):
    for order in ((None, "api.z.ai"), ("api.z.ai", None)):
        db = store.open_db(tmp_path / f"{order[0]}.db")
        for provider in order:
            writer = RecordWriter(db, source_id=None, machine="m1", keep_text=False)
            writer.requests["k"] = _request(provider)
            with store.transaction(db):
                writer.flush()
        assert db.execute("select provider from requests").fetchall() == [("api.z.ai",)]


def test_equal_copies_from_two_machines_keep_the_smaller_machine_id(tmp_path):
    for order in (("m1", "m2"), ("m2", "m1")):
        db = store.open_db(tmp_path / f"{order[0]}.db")
        for machine in order:
            writer = RecordWriter(db, source_id=None, machine=machine, keep_text=False)
            writer.requests["k"] = _request("api.z.ai", machine)
            with store.transaction(db):
                writer.flush()
        assert db.execute("select machine_id from requests").fetchall() == [("m1",)]


def _cli(db_path, *args):
    from click.testing import CliRunner

    from analyzer.cli import cli

    result = CliRunner().invoke(cli, [*args, "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    return result.output


def test_analyzer_accounts_lists_agents_models_machines_rules_and_what_is_ambiguous(tmp_path):
    path = tmp_path / "s.db"
    db = store.open_db(path)
    ingest_home(db, FIXTURES / "claude-code" / "gateway-resumed" / "home")  # glm-4.6, no base URL: 3 calls
    ingest_home(db, FIXTURES / "kimi-code" / "cli-basic" / "home")  # Kimi's configured host: 3 calls
    import json

    rows = {r["account"]: r for r in json.loads(_cli(path, "accounts", "--json"))}
    assert set(rows) == {"zai", "moonshot"}
    zai, kimi = rows["zai"], rows["moonshot"]
    assert (zai["requests"], zai["limit_hits"], kimi["requests"]) == (3, 0, 3)
    assert zai["agents"] == [{"name": "claude-code", "requests": 3}]
    assert zai["models"] == [{"name": "glm-4.6", "requests": 3}]
    assert zai["rules"] == [{"name": "model family of glm-4.6", "requests": 3}]
    assert zai["ambiguous"] == [
        {
            "note": "Claude Code model glm-4.6 with no base URL known: assumed Z.ai GLM (international)"
            " (could be Zhipu GLM (bigmodel.cn))",
            "requests": 3,
        }
    ]
    assert kimi["rules"] == [{"name": "provider api.kimi.com", "requests": 3}] and kimi["ambiguous"] == []
    assert zai["machines"][0]["requests"] == 3 and zai["name"] == "Z.ai GLM (international)"
    text = _cli(path, "accounts")
    assert "Ambiguous:  Claude Code model glm-4.6 with no base URL known" in text


def test_a_bad_accounts_toml_is_one_clear_sentence(tmp_path):
    write_accounts('[[rule]]\naccount = "x"\nmodle = "glm-*"\n')
    from click.testing import CliRunner

    from analyzer.cli import cli

    result = CliRunner().invoke(cli, ["accounts", "--db", str(tmp_path / "s.db")])
    assert result.exit_code == 1
    assert "accounts.toml line 3: unknown key 'modle'" in result.output and "Traceback" not in result.output


def test_agents_that_sell_their_own_credits_are_their_own_accounts():
    """Amp, iFlow and Kilo Code's gateway bill their own credits: their Claude or GLM calls are not
    the user's Claude or GLM plan."""
    from analyzer.accounts import attribute

    found = {
        (agent, provider, model): (a.account, a.rule)
        for agent, provider, model in (
            ("amp", "amp", "claude-sonnet-4-5"),
            ("iflow-cli", "iflow", "glm-4.6"),
            ("kilo-code", None, "kilo/anthropic/claude-sonnet-4.5"),
            ("roo-code", None, "deepseek/deepseek-chat"),  # a model maker first: its family decides
        )
        for a in [attribute(agent=agent, provider=provider, model=model)]
    }
    assert list(found.values()) == [
        ("amp", "provider amp"),
        ("iflow", "provider iflow"),
        ("kilocode", "model route kilo/"),
        ("deepseek", "model family of deepseek/deepseek-chat"),
    ]
