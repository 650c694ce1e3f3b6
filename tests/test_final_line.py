"""A last line with no trailing newline: read once the file has settled and the line is complete JSON."""

from __future__ import annotations

import os
import time

from analyzer.ingest import reading

from .claude_lines import assistant_line, transcript_path, user_line
from .conftest import ingest_home, totals

OLD = time.time() - 3600  # an hour ago: long settled


def write_settled(path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (OLD, OLD))


def offset_of(db) -> int:
    return db.execute("select offset from sources").fetchone()[0]


def test_settled_last_line_without_newline_is_read(db, tmp_path):
    home = tmp_path / "h"
    path = transcript_path(home)
    last = assistant_line("msg_1", 2, input_tokens=10, output_tokens=7).rstrip(b"\n")
    write_settled(path, user_line("u1", 1, "hello") + last)
    stats = ingest_home(db, home)
    assert totals(db)["requests"] == 1 and totals(db)["output_tokens"] == 7
    assert stats.bad_lines == {} and stats.ignored_lines == 0
    assert offset_of(db) == path.stat().st_size


def test_appending_newline_and_more_lines_reads_the_last_line_only_once(db, tmp_path):
    home = tmp_path / "h"
    path = transcript_path(home)
    first = user_line("u1", 1, "hello") + assistant_line("msg_1", 2, input_tokens=10, output_tokens=7).rstrip(b"\n")
    write_settled(path, first)
    ingest_home(db, home)
    more = b"\n" + assistant_line("msg_2", 3, input_tokens=20, output_tokens=5)
    with path.open("ab") as f:
        f.write(more)
    stats = ingest_home(db, home)
    assert stats.bytes_read == len(more)
    assert stats.records["requests"] == 1  # msg_2 only: msg_1 was not handed to the parser again
    assert totals(db)["requests"] == 2 and totals(db)["output_tokens"] == 12 and totals(db)["input_tokens"] == 30
    assert offset_of(db) == path.stat().st_size
    assert db.execute("select count(*) from ingest_errors").fetchone()[0] == 0


def test_appending_only_the_newline_reads_nothing_again(db, tmp_path):
    home = tmp_path / "h"
    path = transcript_path(home)
    write_settled(
        path, user_line("u1", 1, "hello") + assistant_line("msg_1", 2, input_tokens=10, output_tokens=7).rstrip(b"\n")
    )
    ingest_home(db, home)
    with path.open("ab") as f:
        f.write(b"\n")
    stats = ingest_home(db, home)
    assert stats.bytes_read == 1 and stats.records["requests"] == 0 and stats.bad_lines == {}
    assert totals(db)["requests"] == 1 and totals(db)["prompts"] == 1
    assert offset_of(db) == path.stat().st_size
    assert ingest_home(db, home).files_read == 0  # and then it is unchanged


def test_recent_last_line_without_newline_waits(db, tmp_path):
    home = tmp_path / "h"
    path = transcript_path(home)
    head = user_line("u1", 1, "hello")
    path.parent.mkdir(parents=True)
    path.write_bytes(head + assistant_line("msg_1", 2, input_tokens=10, output_tokens=7).rstrip(b"\n"))  # written now
    ingest_home(db, home)
    assert totals(db)["requests"] == 0 and offset_of(db) == len(head)


def test_settled_torn_line_still_waits_and_is_read_when_completed(db, tmp_path):
    home = tmp_path / "h"
    path = transcript_path(home)
    head = user_line("u1", 1, "hello")
    whole = assistant_line("msg_1", 2, input_tokens=10, output_tokens=7)
    write_settled(path, head + whole[:40])
    stats = ingest_home(db, home)
    assert totals(db)["requests"] == 0 and offset_of(db) == len(head) and stats.bad_lines == {}
    with path.open("ab") as f:
        f.write(whole[40:])
    ingest_home(db, home)
    assert totals(db)["requests"] == 1 and totals(db)["output_tokens"] == 7
    assert db.execute("select count(*) from ingest_errors").fetchone()[0] == 0


def test_a_file_unchanged_since_its_last_pass_is_read_again_once_settled(db, tmp_path, monkeypatch):
    """The last pass left the line waiting (not settled yet); the file did not change since, but time passed."""
    home = tmp_path / "h"
    path = transcript_path(home)
    write_settled(
        path, user_line("u1", 1, "hello") + assistant_line("msg_1", 2, input_tokens=10, output_tokens=7).rstrip(b"\n")
    )
    monkeypatch.setattr(reading, "SETTLED_SECONDS", 10 * 3600)  # the first pass sees a fresh file
    ingest_home(db, home)
    assert totals(db)["requests"] == 0
    monkeypatch.setattr(reading, "SETTLED_SECONDS", 60)
    ingest_home(db, home)
    assert totals(db)["requests"] == 1
    assert offset_of(db) == path.stat().st_size


def test_no_fixture_ends_with_a_complete_line_without_newline():
    """Such a line is read or not depending on the file's age: a fixture must not depend on when it was checked out."""
    import orjson

    from .conftest import FIXTURES

    offending = []
    for path in FIXTURES.rglob("*.jsonl"):
        data = path.read_bytes()
        if not data or data.endswith(b"\n"):
            continue
        try:
            orjson.loads(data[data.rfind(b"\n") + 1 :])
        except orjson.JSONDecodeError:
            continue  # torn: waits, whatever its age
        offending.append(str(path.relative_to(FIXTURES)))
    assert offending == []
