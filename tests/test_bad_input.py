"""Bad input never blocks an ingest (issue 15): implausible values, odd bytes, unreadable files.

Each case is one a tester met: the outcome is the line (or the file) named, and
every other line stored with exact, hand-computed totals.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.contract.timeutil import UTC
from analyzer.contract.validation import TOKEN_LIMIT, Validator
from analyzer.store import database as store

from .claude_lines import assistant_line, transcript_path, turn, turn_totals, user_line
from .conftest import totals

CLEAN_SESSION = "5e55e55e-0000-4000-8000-0000000000c1"


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _clean_project(home: Path) -> dict:
    """Another project's transcript with nothing wrong in it: three turns (turn_totals(3))."""
    _write(
        transcript_path(home, CLEAN_SESSION, "-home-u-other"),
        b"".join(turn(i, session=CLEAN_SESSION) for i in range(3)),
    )
    return turn_totals(3)


def _ingest(*args: str):
    return CliRunner().invoke(cli, ["ingest", *args])


def _errors() -> list[dict]:
    return json.loads(CliRunner().invoke(cli, ["db", "errors", "--json"]).output)


def _stored() -> dict:
    db = store.open_db(store.default_db_path())
    try:
        return totals(db)
    finally:
        db.close()


def _bad_call(msg_id: str, second: int, **usage) -> bytes:
    """One final assistant line (7 input, 3 output) with some usage fields replaced."""
    line = assistant_line(msg_id, second, input_tokens=7, output_tokens=3)
    obj = json.loads(line)
    obj["message"]["usage"].update(usage)
    return json.dumps(obj).encode() + b"\n"


# --- implausible values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, raw, reason",
    [
        ("input_tokens", "1e30", "input_tokens is 1e+30: a token count must lie between 0 and 1,000,000,000"),
        ("input_tokens", "20000000000000000000", "input_tokens is 2e+19: a token count must lie"),  # past u64: a float
        ("output_tokens", "-999890", "output_tokens is -999890: a token count must lie between 0"),
        ("cache_read_input_tokens", "12.5", "cache_read_tokens is 12.5: a token count must be a whole number"),
    ],
)
def test_one_bad_number_is_one_bad_line_and_blocks_nothing(isolated_home, field, raw, reason):
    clean = _clean_project(isolated_home)
    good = assistant_line("m-good", 900, input_tokens=5, output_tokens=2)
    line = _bad_call("m-bad", 901, **{field: "RAW"}).replace(b'"RAW"', raw.encode())
    _write(transcript_path(isolated_home), user_line("u-x", 899, "go") + line + good)

    for _ in range(2):  # and on every later run
        result = _ingest()
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
    got = _stored()
    # The clean project, and the good line next to the bad one, are all stored.
    assert got["requests"] == clean["requests"] + 1
    assert got["input_tokens"] == clean["input_tokens"] + 5
    assert got["output_tokens"] == clean["output_tokens"] + 2
    assert got["prompts"] == clean["prompts"] + 1
    (error,) = _errors()
    assert error["kind"] == "bad_value" and reason in error["reason"]
    assert error["path"] == str(transcript_path(isolated_home))


@pytest.mark.parametrize(
    "ts, shown",
    [("9999-12-31T23:59:59.000Z", "ts is 9999-12-31T23:59:59.000Z"), ("0001-01-01T00:00:00.000Z", "ts is 0001-01-01")],
)
def test_a_time_outside_2020_to_tomorrow_is_a_bad_line(isolated_home, ts, shown):
    clean = _clean_project(isolated_home)
    obj = json.loads(assistant_line("m-when", 5, input_tokens=1, output_tokens=1))
    obj["timestamp"] = ts
    _write(transcript_path(isolated_home), json.dumps(obj).encode() + b"\n")
    assert _ingest().exit_code == 0
    got = _stored()
    assert got["requests"] == clean["requests"] and got["input_tokens"] == clean["input_tokens"]
    (error,) = _errors()
    assert (
        error["kind"] == "bad_value"
        and shown in error["reason"]
        and "a time must lie between 2020-01-01" in error["reason"]
    )


def test_start_and_watch_once_go_on_past_a_bad_number(isolated_home, tmp_path):
    clean = _clean_project(isolated_home)
    _write(transcript_path(isolated_home), _bad_call("m-bad", 1, input_tokens=1e30))
    start = CliRunner().invoke(cli, ["start"])
    assert start.exit_code == 0, start.output
    assert _stored()["requests"] == clean["requests"]
    watch = CliRunner().invoke(cli, ["watch", "--once", "--db", str(tmp_path / "w.db")])
    assert watch.exit_code == 0, watch.output
    other = store.open_db(tmp_path / "w.db")
    assert totals(other)["requests"] == clean["requests"]


def test_the_validator_names_each_rule():
    from analyzer.contract.records import LimitHit, Prompt, QuotaReading, Request

    ts = "2026-07-03T10:00:00.000Z"
    check = Validator(now=datetime(2026, 7, 3, 12, tzinfo=UTC)).problem
    assert check(Request("k", "a", "s", ts, input_tokens=TOKEN_LIMIT)) is None
    assert check(Request("k", "a", "s", ts, input_tokens=12.0)) is None  # whole, if a float
    assert "between 0 and 1,000,000,000" in check(Request("k", "a", "s", ts, output_tokens=TOKEN_LIMIT + 1))
    assert "whole number" in check(Request("k", "a", "s", ts, reasoning_tokens=float("nan")))
    assert "must be a number" in check(Request("k", "a", "s", ts, input_tokens="12"))
    assert "must be a number" in check(Request("k", "a", "s", ts, input_tokens=True))
    assert "cache_write_1h_tokens is -1" in check(Request("k", "a", "s", ts, cache_write_1h_tokens=-1))
    assert "model is {'id': 1}: must be text" in check(Request("k", "a", "s", ts, model={"id": 1}))
    assert "not a time" in check(Prompt("k", "a", "s", "yesterday"))
    assert "key is '': must be non-empty text" in check(Prompt("", "a", "s", ts))
    assert "used_percent is inf" in check(QuotaReading("k", "a", ts, float("inf")))
    assert "window_minutes is 0" in check(QuotaReading("k", "a", ts, 5.0, window_minutes=0))
    assert "ts is 2026-07-05T00:00:00.000Z" in check(Prompt("k", "a", "s", "2026-07-05T00:00:00.000Z"))
    assert check(Prompt("k", "a", "s", "2026-07-04T11:00:00.000Z")) is None  # within a day of now
    assert "ts is 2019-12-31" in check(Prompt("k", "a", "s", "2019-12-31T23:59:59.999Z"))
    # A reset may lie ahead (billing cycles reset a month on), but not years ahead.
    assert check(LimitHit("k", "a", "s", ts, reset_at="2027-01-20T00:00:00.000Z")) is None
    assert "reset_at is 2099" in check(LimitHit("k", "a", "s", ts, reset_at="2099-01-01T00:00:00.000Z"))


def test_a_value_that_cannot_be_stored_is_a_bad_line_not_a_crash(db):
    from analyzer.contract.records import Request
    from analyzer.store.writer import RecordWriter

    deep: dict = {}
    inner = deep
    for _ in range(400):  # deeper than orjson writes
        inner["x"] = {}
        inner = inner["x"]
    writer = RecordWriter(db, source_id=1, machine="m", keep_text=False)
    writer.add(Request("k1", "a", "s", "2026-07-03T10:00:00.000Z", input_tokens=1, raw_usage=deep), 10)
    writer.add(Request("k2", "a", "s", "2026-07-03T10:00:00.000Z", input_tokens=2), 20)
    assert [r[0] for r in writer.requests.values()] == ["k2"]
    assert [(e[1], e[2]) for e in writer.errors] == [(10, "bad_value")]


# --- bytes around intact JSON ----------------------------------------------------------------


def test_bom_nul_padding_and_invalid_utf8_are_read_where_the_json_is_intact(isolated_home):
    first = user_line("u1", 1, "hello")
    call_a = assistant_line("m-a", 2, input_tokens=11, output_tokens=4)
    call_b = assistant_line("m-b", 3, input_tokens=13, output_tokens=6)
    obj = json.loads(assistant_line("m-c", 4, input_tokens=17, output_tokens=8))
    obj["message"]["content"][0]["text"] = "PLACEHOLDER"
    # Bytes that are not UTF-8 inside a string value (a tool wrote Latin-1 into the transcript).
    call_c = json.dumps(obj).encode().replace(b"PLACEHOLDER", b"caf\xe9 \xff\xfe") + b"\n"
    torn = assistant_line("m-torn", 5, input_tokens=1000, output_tokens=1000)[:40]
    data = (
        b"\xef\xbb\xbf"  # a byte-order mark at the start of the file
        + first
        + call_a
        + b"\x00" * 64  # what a crash leaves: NUL padding, then the next line written after it
        + call_b
        + call_c
        + torn  # a torn line, NUL padding after it, then a whole line
        + b"\x00" * 16
        + assistant_line("m-d", 6, input_tokens=19, output_tokens=9)
    )
    _write(transcript_path(isolated_home), data)
    result = _ingest()
    assert result.exit_code == 0, result.output
    got = _stored()
    assert got["requests"] == 4 and got["prompts"] == 1
    assert got["input_tokens"] == 11 + 13 + 17 + 19
    assert got["output_tokens"] == 4 + 6 + 8 + 9
    assert [e["kind"] for e in _errors()] == []


# --- files that cannot be read ---------------------------------------------------------------


def test_a_symlink_loop_is_named_and_the_rest_is_read(isolated_home):
    clean = _clean_project(isolated_home)
    folder = transcript_path(isolated_home).parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "me.jsonl").symlink_to("me.jsonl")  # ln -s me.jsonl me.jsonl
    for _ in range(2):
        result = _ingest("-v")
        assert result.exit_code == 0, result.output
        assert f"{folder / 'me.jsonl'}: could not be read: a symlink loop" in result.output
        assert "1 unreadable files" in result.output
    assert _stored()["requests"] == clean["requests"]
    (error,) = _errors()
    assert error["kind"] == "unreadable" and "symlink loop" in error["reason"]
    assert error["path"] == str(folder / "me.jsonl")


def test_a_file_that_cannot_be_read_is_named_and_in_db_errors_until_it_is_read(isolated_home, monkeypatch):
    from analyzer.ingest import discovery

    clean = _clean_project(isolated_home)
    locked = _write(transcript_path(isolated_home), b"".join(turn(i) for i in range(10, 12)))  # 4 more calls
    real = discovery.read_head

    def denied(path, *args):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args)

    monkeypatch.setattr(discovery, "read_head", denied)  # root reads any file: deny it here
    result = _ingest("-v")
    assert result.exit_code == 0
    assert f"{locked}: could not be read: permission denied" in result.output
    assert _stored()["requests"] == clean["requests"]
    assert [(e["path"], e["kind"]) for e in _errors()] == [(str(locked), "unreadable")]
    monkeypatch.setattr(discovery, "read_head", real)  # permission given back
    assert _ingest().exit_code == 0
    assert _stored()["requests"] == clean["requests"] + 4
    assert _errors() == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_an_unreadable_folder_is_named(isolated_home, monkeypatch):
    from analyzer.ingest import discovery

    _clean_project(isolated_home)
    hidden = transcript_path(isolated_home).parent
    hidden.mkdir(parents=True)
    real_walk = os.walk

    def walk(top, onerror=None, **kw):
        yield from real_walk(top, onerror=onerror, **kw)
        if onerror is not None:  # as os.walk reports a folder it cannot list
            onerror(PermissionError(13, "Permission denied", str(hidden)))

    monkeypatch.setattr(discovery.os, "walk", walk)
    result = _ingest()
    assert f"{hidden}: could not be read: folder not readable: permission denied" in result.output
