"""The ingester: offsets, torn lines, rewrites, truncation, deletion, moves, bad lines."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from analyzer.ingest.ingester import Ingester
from analyzer.store import database as store

from .conftest import FIXTURES, check_totals, expected_totals, ingest_home, totals

SESSION = "9f1d2c3b-0000-4000-8000-000000000001"


def line(kind: str, n: int, **extra) -> str:
    """A Claude Code line: a typed prompt (``user``) or one model call (``assistant``) numbered ``n``."""
    ts = f"2026-08-01T10:{n // 60:02d}:{n % 60:02d}.000Z"
    base = {
        "sessionId": SESSION,
        "cwd": "/p",
        "version": "2.1.206",
        "uuid": f"{kind}-{n}",
        "timestamp": ts,
        "type": kind,
    }
    if kind == "user":
        base["message"] = {"role": "user", "content": f"prompt {n}"}
    else:
        base["message"] = {
            "id": f"msg_{n}",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "stop_reason": "end_turn",
            "content": [{"type": "text", "text": "ok"}],
            "usage": {
                "input_tokens": 10,
                "cache_creation_input_tokens": 100,
                "cache_read_input_tokens": 1000,
                "output_tokens": n,
            },
        }
        base["requestId"] = f"req_{n}"
    base.update(extra)
    return json.dumps(base) + "\n"


def session_file(home: Path, name: str = SESSION) -> Path:
    path = home / ".claude" / "projects" / "-p" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_torn_last_line_waits_until_complete(db, tmp_path):
    home = tmp_path / "h"
    path = session_file(home)
    whole = line("user", 1) + line("assistant", 2)
    torn = line("assistant", 3)
    path.write_text(whole + torn[:25])
    ingest_home(db, home)
    assert totals(db)["requests"] == 1
    offset = db.execute("select offset from sources").fetchone()[0]
    assert offset == len(whole.encode())
    # The rest of the line arrives in two more partial writes.
    with path.open("a") as f:
        f.write(torn[25:40])
    ingest_home(db, home)
    assert totals(db)["requests"] == 1
    with path.open("a") as f:
        f.write(torn[40:])
    ingest_home(db, home)
    assert totals(db) | {} == totals(db)
    assert totals(db)["requests"] == 2
    assert totals(db)["output_tokens"] == 5
    assert db.execute("select count(*) from ingest_errors").fetchone()[0] == 0


def test_appends_are_read_incrementally_and_twice_changes_nothing(db, tmp_path):
    home = tmp_path / "h"
    path = session_file(home)
    path.write_text(line("user", 1) + line("assistant", 2))
    first = ingest_home(db, home)
    assert first.new_requests == 1 and first.new_prompts == 1
    again = ingest_home(db, home)
    assert again.files_read == 0 and again.new_requests == 0
    with path.open("a") as f:
        f.write(line("assistant", 3))
    third = ingest_home(db, home)
    assert third.new_requests == 1 and third.bytes_read == len(line("assistant", 3).encode())
    assert totals(db)["output_tokens"] == 5


def test_rewritten_shrunk_and_deleted_files_keep_their_rows(db, tmp_path):
    home = tmp_path / "h"
    path = session_file(home)
    path.write_text(line("user", 1) + line("assistant", 2) + line("assistant", 3) + line("assistant", 4))
    ingest_home(db, home)
    before = totals(db)
    assert before["requests"] == 3
    # Rewritten in place (as on resume/compact): a middle line dropped, a new one appended, same head.
    path.write_text(line("user", 1) + line("assistant", 2) + line("assistant", 4) + line("assistant", 5))
    stats = ingest_home(db, home)
    assert str(path) in stats.reread_files
    assert totals(db)["requests"] == 4  # msg_3 stays, msg_5 added, nothing twice
    # Truncated to one line.
    path.write_text(line("user", 1))
    ingest_home(db, home)
    assert totals(db)["requests"] == 4
    # Deleted.
    path.unlink()
    stats = ingest_home(db, home)
    assert totals(db)["requests"] == 4 and totals(db)["output_tokens"] == 2 + 3 + 4 + 5
    assert stats.failed_files == []


def test_replaced_by_rename_is_read_again(db, tmp_path):
    home = tmp_path / "h"
    path = session_file(home)
    path.write_text(line("user", 1) + line("assistant", 2))
    ingest_home(db, home)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(line("user", 1) + line("assistant", 2) + line("assistant", 7))
    os.replace(tmp, path)  # an atomic save: new inode
    ingest_home(db, home)
    assert totals(db)["requests"] == 2 and totals(db)["output_tokens"] == 9


def test_moved_file_keeps_its_offset(db, tmp_path):
    home = tmp_path / "h"
    path = session_file(home)
    path.write_text(line("user", 1) + line("assistant", 2))
    ingest_home(db, home)
    moved = path.parent.parent / "-q" / path.name
    moved.parent.mkdir()
    os.rename(path, moved)
    with moved.open("a") as f:
        f.write(line("assistant", 3))
    stats = ingest_home(db, home)
    assert stats.moved_files == [(str(path), str(moved))]
    assert stats.bytes_read == len(line("assistant", 3).encode())
    assert totals(db)["requests"] == 2
    assert db.execute("select count(*) from sources").fetchone()[0] == 1


def test_folder_renamed_counts_nothing_twice(db, tmp_path):
    home = tmp_path / "h"
    src = FIXTURES / "claude-code" / "subagents" / "home"
    shutil.copytree(src, home)
    ingest_home(db, home)
    before = totals(db)
    projects = home / ".claude" / "projects"
    os.rename(projects / "-home-u-proj", projects / "-home-u-renamed")
    ingest_home(db, home)
    assert totals(db) == before


def test_corrupt_lines_are_recorded_once_and_skipped(db, tmp_path):
    home = tmp_path / "h"
    path = session_file(home)
    path.write_text(line("user", 1) + "{not json\n" + line("assistant", 2) + '["a list"]\n')
    stats = ingest_home(db, home)
    assert stats.bad_lines == {"corrupt": 1, "bad_shape": 1}
    assert totals(db)["requests"] == 1
    ingest_home(db, home)
    path.write_text(path.read_text() + line("assistant", 3))
    ingest_home(db, home)
    errors = db.execute("select offset, kind from ingest_errors order by offset").fetchall()
    assert errors == [
        (len(line("user", 1)), "corrupt"),
        (len(line("user", 1)) + 10 + len(line("assistant", 2)), "bad_shape"),
    ]


def test_a_parser_that_raises_loses_only_its_line(db, tmp_path):
    """A third-party parser bug on one line must not cost the lines after it."""

    class Fragile:
        name = agent = "fragile"
        mode = "lines"

        def roots(self, env):
            return [Path(env["HOME"]) / "fragile"]

        def candidate(self, path):
            return path.suffix == ".log"

        def recognise(self, path, head):
            return True

        def parse(self, lines, state, ctx):
            from analyzer.contract.records import Request

            for _offset, raw in lines:
                if raw == b"boom":
                    raise RuntimeError("cannot parse this")
                yield Request(
                    key=f"fragile:{raw.decode()}",
                    agent="fragile",
                    session_id="s",
                    ts="2026-08-01T00:00:00.000Z",
                    output_tokens=1,
                )

    home = tmp_path / "h"
    (home / "fragile").mkdir(parents=True)
    (home / "fragile" / "a.log").write_text("one\nboom\ntwo\nthree\n")
    stats = Ingester(db, [Fragile()], env={"HOME": str(home)}).run()
    assert sorted(r[0] for r in db.execute("select key from requests")) == [
        "fragile:one",
        "fragile:three",
        "fragile:two",
    ]
    assert stats.bad_lines == {"parser_error": 1}


def test_huge_line_longer_than_a_chunk(db, tmp_path):
    home = tmp_path / "h"
    path = session_file(home)
    big = line("assistant", 2, toolUseResult={"stdout": "x" * 300_000})
    path.write_text(line("user", 1) + big + line("assistant", 3))
    Ingester(db, env={"HOME": str(home)}, chunk_bytes=64 * 1024).run()
    assert totals(db)["requests"] == 2


def test_second_store_gets_its_own_machine_id(tmp_path):
    a = store.open_db(tmp_path / "a.db")
    b = store.open_db(tmp_path / "b.db")
    assert store.machine_id(a) != store.machine_id(b)
    assert store.machine_id(a) == store.machine_id(store.open_db(tmp_path / "a.db"))


def test_store_file_is_private(tmp_path):
    path = tmp_path / "private.db"
    store.open_db(path)
    assert (path.stat().st_mode & 0o777) == 0o600


def test_explicit_paths_and_unrecognised_files(db, tmp_path):
    case = FIXTURES / "claude-code" / "streaming" / "home"
    stray = tmp_path / "notes.jsonl"
    stray.write_text('{"hello": "world"}\n')
    stats = Ingester(db, env={"HOME": str(tmp_path / "nobody")}).run([case, stray, tmp_path / "missing"])
    assert totals(db)["requests"] == 2
    assert [p for p, _ in stats.unrecognised] == [str(stray)]
    assert stats.missing_paths == [str(tmp_path / "missing")]


def test_parallel_pass_writes_exactly_what_a_sequential_one_does(tmp_path):
    """Worker processes parse, this process writes: the same rows, whatever the path taken."""
    home = FIXTURES / "sample" / "home"
    tables = {
        "requests": "key, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, trigger, prompt_key, is_sidechain, session_id, ts, model",
        "prompts": "key, session_id, ts, text_hash",
        "quota_readings": "key, observed_at, used_percent, window_minutes, resets_at",
        "limit_hits": "key, ts, reset_at, window_minutes",
        "sources": "path, offset, size, state",
    }
    dumps = []
    # sequential; every file in a worker; the larger files read here between the workers' results
    for workers, biggest in ((1, 1 << 40), (2, 1 << 40), (2, 20_000)):
        db = store.open_db(tmp_path / f"w{workers}-{biggest}.db")
        stats = Ingester(
            db, env={"HOME": str(home)}, workers=workers, parallel_min_bytes=0, worker_max_bytes=biggest
        ).run()
        assert stats.files_read > 2 and stats.bad_total() == 0
        dumps.append({t: db.execute(f"select {cols} from {t} order by 1").fetchall() for t, cols in tables.items()})
    assert dumps[0] == dumps[1] == dumps[2]
    assert len(dumps[0]["requests"]) > 100


def test_a_home_of_every_registered_agent_ingests_with_no_flags(tmp_path, isolated_home):
    """The bundled sample HOME, plus one clean fixture case of any registered agent the sample does not
    hold (an SQLite store built from the case's SQL where the agent keeps one): one plain `analyzer
    ingest` reads them all, names a stray file in one warning, and gives each added agent exactly its
    case's hand-computed totals (no agent reads another's files, nothing counts twice)."""
    from click.testing import CliRunner

    from analyzer.cli import cli
    from analyzer.registry.parsers import agents as registered_agents

    from .case_homes import build_case_home, clean_case

    shutil.copytree(FIXTURES / "sample" / "home", isolated_home, dirs_exist_ok=True)
    in_sample = {"claude-code", "codex", "kimi-code", "gemini-cli", "qwen-code", "opencode"}
    added = {}
    for agent in sorted(set(registered_agents()) - in_sample):
        case = clean_case(agent)
        assert case is not None, f"{agent} has no clean fixture case to lay out as a HOME"
        build_case_home(agent, case, isolated_home)
        added[agent] = expected_totals(case)
    (isolated_home / ".claude" / "projects" / "-p").mkdir(parents=True)
    stray = isolated_home / ".claude" / "projects" / "-p" / "notes.jsonl"
    stray.write_text('{"note": "not a transcript"}\n')
    result = CliRunner().invoke(cli, ["ingest"])
    assert result.exit_code == 0, result.output
    assert result.output.count("warning:") == 1
    assert f"warning: {stray}: not a log format any parser recognises" in result.output
    assert "; skipped 1 unrecognised files (see" in result.output  # nothing else skipped
    db = store.open_db(store.default_db_path())
    found = {a for (a,) in db.execute("select distinct agent from requests")}
    assert found == set(registered_agents())
    assert all(n > 0 for (n,) in db.execute("select count(*) from prompts group by agent"))
    for agent, expected in added.items():
        check_totals(db, expected, agent)
