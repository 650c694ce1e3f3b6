"""Reports: the daily JSON contract, time zones, ranges, blocks, and the CLI around them."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.contract.timeutil import resolve_tz
from analyzer.reports import usage as reports
from analyzer.reports.usage import Filters
from analyzer.windows import usage as windows

from .conftest import FIXTURES, ingest_home
from .test_ingest import session_file


def write_calls(home, stamps: list[str], prompts: list[str] = ()):
    """A Claude Code session with one model call (10 in / 1000 read / 100 write / 5 out) per stamp."""
    path = session_file(home)
    lines = []
    for i, ts in enumerate(prompts):
        lines.append(
            {
                "type": "user",
                "sessionId": "s",
                "uuid": f"u{i}",
                "timestamp": ts,
                "cwd": "/p",
                "message": {"role": "user", "content": f"prompt {i}"},
            }
        )
    for i, ts in enumerate(stamps):
        lines.append(
            {
                "type": "assistant",
                "sessionId": "s",
                "uuid": f"a{i}",
                "timestamp": ts,
                "cwd": "/p",
                "message": {
                    "id": f"m{i}",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5",
                    "stop_reason": "end_turn",
                    "usage": {
                        "input_tokens": 10,
                        "cache_read_input_tokens": 1000,
                        "cache_creation_input_tokens": 100,
                        "output_tokens": 5,
                    },
                },
            }
        )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_daily_json_contract_and_cost(db):
    ingest_home(db, FIXTURES / "claude-code" / "streaming" / "home")
    rows = reports.daily(db, Filters(tz=resolve_tz("UTC")))
    assert len(rows) == 1
    row = rows[0]
    contract = [
        "date",
        "agent",
        "requests",
        "prompts",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_tokens",
        "reasoning_tokens",
        "total_tokens",
        "cost_usd",
    ]
    assert list(row)[: len(contract)] == contract
    assert {k: row[k] for k in contract[:-1]} == {
        "date": "2026-07-03",
        "agent": "claude-code",
        "requests": 2,
        "prompts": 1,
        "input_tokens": 10,
        "cache_read_tokens": 41811,
        "cache_write_tokens": 3503,
        "output_tokens": 852,
        "reasoning_tokens": 0,
        "total_tokens": 46176,
    }
    # Sonnet 4.5 per million: input 3, cache read 0.30, 5-minute write 3.75, 1-hour write 6, output 15.
    # msg_A: 4*3 + 20154*0.3 + 1503*3.75 + 312*15 = 16374.45; msg_B: 6*3 + 21657*0.3 + 2000*6 + 540*15 = 26615.1
    assert row["cost_usd"] == pytest.approx((16374.45 + 26615.1) / 1e6, abs=1e-6)


def test_unknown_model_cost_is_unknown_not_zero(db, tmp_path):
    home = tmp_path / "h"
    write_calls(home, ["2026-08-01T10:00:00.000Z"])
    path = session_file(home)
    path.write_text(path.read_text().replace("claude-sonnet-4-5", "mystery-model-9"))
    ingest_home(db, home)
    row = reports.daily(db, Filters(tz=resolve_tz("UTC")))[0]
    assert row["cost_usd"] is None and row["unpriced_requests"] == 1


def test_days_follow_the_time_zone(db, tmp_path):
    home = tmp_path / "h"
    write_calls(home, ["2026-07-03T23:30:00.000Z", "2026-07-04T03:10:00.000Z"], prompts=["2026-07-03T23:29:00.000Z"])
    ingest_home(db, home)

    def days(tz):
        return {r["date"]: (r["requests"], r["prompts"]) for r in reports.daily(db, Filters(tz=resolve_tz(tz)))}

    assert days("UTC") == {"2026-07-03": (1, 1), "2026-07-04": (1, 0)}
    assert days("Asia/Tokyo") == {"2026-07-04": (2, 1)}  # UTC+9
    assert days("America/New_York") == {"2026-07-03": (2, 1)}  # UTC-4 in July
    assert days("Asia/Kathmandu") == {"2026-07-04": (2, 1)}  # UTC+5:45: 15-minute buckets are exact


def test_since_until_are_local_days(db, tmp_path):
    home = tmp_path / "h"
    write_calls(home, ["2026-07-01T12:00:00.000Z", "2026-07-02T12:00:00.000Z", "2026-07-03T12:00:00.000Z"])
    ingest_home(db, home)
    result = CliRunner().invoke(
        cli,
        [
            "report",
            "daily",
            "--json",
            "--tz",
            "UTC",
            "--since",
            "2026-07-02",
            "--until",
            "2026-07-02",
            "--db",
            str(db_path(db)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert [r["date"] for r in json.loads(result.output)] == ["2026-07-02"]


def db_path(db):
    return db.conn.execute("pragma database_list").fetchone()[2]


def test_blocks_follow_the_five_hour_rule(db, tmp_path):
    home = tmp_path / "h"
    write_calls(
        home,
        [
            "2026-08-01T10:15:00.000Z",  # opens a block at 10:00 (floored to the hour), ending 15:00
            "2026-08-01T11:00:00.000Z",
            "2026-08-01T14:59:59.999Z",
            "2026-08-01T15:00:00.000Z",  # exactly 5 h after the start: windows are half-open, a new block at 15:00
            "2026-08-01T15:00:30.000Z",
            "2026-08-01T21:00:00.000Z",  # past 20:00: a new block at 21:00
        ],
        prompts=["2026-08-01T10:14:00.000Z", "2026-08-01T15:00:10.000Z"],
    )
    ingest_home(db, home)
    now = datetime(2026, 8, 3, tzinfo=timezone.utc)
    got = [
        (b["start"], b["end"], b["requests"], b["prompts"], b["total_tokens"], b["kind"], b["is_active"])
        for b in windows.blocks(db, Filters(), now=now)
    ]
    assert got == [
        ("2026-08-01T10:00:00.000Z", "2026-08-01T15:00:00.000Z", 3, 1, 3 * 1115, "estimated", False),
        ("2026-08-01T15:00:00.000Z", "2026-08-01T20:00:00.000Z", 2, 1, 2 * 1115, "estimated", False),
        ("2026-08-01T21:00:00.000Z", "2026-08-02T02:00:00.000Z", 1, 0, 1115, "estimated", False),
    ]
    active = windows.blocks(db, Filters(), now=datetime(2026, 8, 1, 22, tzinfo=timezone.utc))
    assert [b["is_active"] for b in active] == [False, False, True]


def test_blocks_gap_rule(db, tmp_path):
    home = tmp_path / "h"
    write_calls(home, ["2026-08-01T10:30:00.000Z", "2026-08-01T14:40:00.000Z", "2026-08-01T19:45:00.000Z"])
    ingest_home(db, home)
    starts = [b["start"] for b in windows.blocks(db, Filters())]
    # 19:45 is after the first block's end (15:00): a new block floored to 19:00.
    assert starts == ["2026-08-01T10:00:00.000Z", "2026-08-01T19:00:00.000Z"]


def test_session_report(db):
    ingest_home(db, FIXTURES / "claude-code" / "subagents" / "home")
    rows = reports.sessions(db, Filters())
    assert len(rows) == 1
    row = rows[0]
    assert (row["requests"], row["sidechain_requests"], row["prompts"], row["project"]) == (4, 2, 1, "/home/u/proj")
    assert row["models"] == ["claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["report", "daily", "--tz", "Mars/Olympus"], "unknown time zone"),
        (["report", "daily", "--since", "2026-13-40"], "is not a day"),
        (["report", "daily", "--agent", "notepad"], "unknown agent"),
        (["report", "daily", "--since", "2026-07-05", "--until", "2026-07-01"], "--since must be before --until"),
        (["report", "daily", "--json", "--csv"], "choose one of --json and --csv"),
    ],
)
def test_bad_flag_values_are_clear_errors(args, message):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert message in result.output


def test_ingest_command_exits_zero_with_a_summary_of_what_was_skipped(tmp_path, isolated_home):
    import shutil

    shutil.copytree(FIXTURES / "claude-code" / "corrupt" / "home" / ".claude", isolated_home / ".claude")
    result = CliRunner().invoke(cli, ["ingest"])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(
        "Ingested: 1 of 1 files read, 2 new requests, 2 new prompts, 1 line of unknown types ignored (no usage);"
        " skipped 1 corrupt"
    )
    errors = CliRunner().invoke(cli, ["db", "errors", "--json"])
    assert sorted(e["kind"] for e in json.loads(errors.output)) == ["corrupt"]
    every = CliRunner().invoke(cli, ["db", "errors", "--all", "--json"])
    assert sorted(e["kind"] for e in json.loads(every.output)) == ["corrupt", "ignored"]


def test_daily_csv_and_table(tmp_path, isolated_home):
    import shutil

    shutil.copytree(FIXTURES / "claude-code" / "resumed" / "home" / ".claude", isolated_home / ".claude")
    CliRunner().invoke(cli, ["ingest"])
    csv_out = CliRunner().invoke(cli, ["report", "daily", "--csv", "--tz", "UTC"]).output.splitlines()
    assert csv_out[0].startswith("date,agent,requests,prompts,input_tokens")
    assert csv_out[1].startswith("2026-07-06,claude-code,2,2,20,3000,3800,1120,0,7940,")
    table = CliRunner().invoke(cli, ["report", "--tz", "UTC"]).output  # daily is the default report
    assert "2026-07-06" in table and "Total" in table


def test_start_uses_the_sample_logs_when_there_are_none(isolated_home):
    result = CliRunner().invoke(cli, ["start"])
    assert result.exit_code == 0, result.output
    assert "bundled sample logs" in result.output
    assert "2026-11-16" in result.output and "claude-code" in result.output
    # The user's own store was not filled with sample data.
    own = CliRunner().invoke(cli, ["db", "status", "--json"])
    assert json.loads(own.output)["counts"]["requests"] == 0


def test_db_path_and_status(tmp_path):
    target = tmp_path / "x.db"
    assert CliRunner().invoke(cli, ["db", "path", "--db", str(target)]).output.strip() == str(target)
    status = json.loads(CliRunner().invoke(cli, ["db", "status", "--json", "--db", str(target)]).output)
    assert status["counts"]["requests"] == 0 and status["keep_prompt_text"] is False
