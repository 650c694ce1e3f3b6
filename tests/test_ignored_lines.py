"""Lines of unknown types: ignored (kept, listed on request) when they carry no usage, errors when they might."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from analyzer.api import JsonlParser, Request, unknown_line
from analyzer.cli import cli
from analyzer.contract.unknown_lines import usage_field
from analyzer.ingest.ingester import Ingester


class TinyParser(JsonlParser):
    """Counts ``call`` lines; every other type is unknown to it."""

    name = agent = "tiny"

    def roots(self, env):
        return []

    def candidate(self, path: Path) -> bool:
        return path.suffix == ".jsonl"

    def recognise(self, path: Path, head: bytes) -> bool:
        return True

    def handle(self, obj, offset, state, ctx):
        if obj.get("type") == "call":
            yield Request(
                key=f"tiny:{obj['id']}",
                agent="tiny",
                session_id="s",
                ts="2026-08-01T10:00:00.000Z",
                input_tokens=obj["n"],
            )
        else:
            yield unknown_line(offset, obj.get("type"), obj)


LINES = [
    {"type": "call", "id": 1, "n": 7},
    {"type": "permission-mode", "permissionMode": "default", "sessionId": "s"},
    {"type": "worktree-state", "state": {"path": "/w"}, "sessionId": "s"},
    {"type": "future-call", "message": {"usage": {"input_tokens": 5, "output_tokens": 1}}},
]


def write(tmp_path: Path) -> Path:
    path = tmp_path / "logs" / "one.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(obj) + "\n" for obj in LINES))
    return path


def test_usage_field_finds_nested_usage_and_ignores_empty_ones():
    assert usage_field({"message": {"usage": {"output_tokens": 3}}}) == "message.usage"
    assert usage_field({"data": [{"tokens": {"input": 1}}]}) == "data[0].tokens"
    assert usage_field({"usage": None, "tokens": {}, "x": {"y": "usage"}}) is None


def test_unknown_lines_without_usage_are_ignored_not_skipped(db, tmp_path):
    path = write(tmp_path)
    stats = Ingester(db, [TinyParser()], env={"HOME": str(tmp_path)}).run([path])
    assert stats.bad_lines == {"unknown_type": 1}
    assert stats.ignored_lines == 2
    summary = stats.summary()
    assert "2 lines of unknown types ignored (no usage)" in summary
    assert "skipped 1 unknown type" in summary
    kinds = sorted(k for (k,) in db.execute("select kind from ingest_errors"))
    assert kinds == ["ignored", "ignored", "unknown_type"]
    reason = db.execute("select reason from ingest_errors where kind = 'unknown_type'").fetchone()[0]
    assert reason == "unknown record type 'future-call' carries usage-like field message.usage"


def test_db_errors_lists_ignored_lines_only_with_all(db, tmp_path):
    path = write(tmp_path)
    Ingester(db, [TinyParser()], env={"HOME": str(tmp_path)}).run([path])
    db_path = db.conn.execute("pragma database_list").fetchone()[2]
    default = CliRunner().invoke(cli, ["db", "errors", "--json", "--db", db_path])
    assert default.exit_code == 0, default.output
    assert [e["kind"] for e in json.loads(default.output)] == ["unknown_type"]
    every = CliRunner().invoke(cli, ["db", "errors", "--all", "--json", "--db", db_path])
    assert sorted(e["kind"] for e in json.loads(every.output)) == ["ignored", "ignored", "unknown_type"]
    assert all(e["snippet"].startswith("{") for e in json.loads(every.output))
