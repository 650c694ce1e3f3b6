"""Whole-file parsers that keep a state between passes (``keeps_state``)."""

from __future__ import annotations

import os
from pathlib import Path

from analyzer.api import Request
from analyzer.ingest.ingester import Ingester


class CounterParser:
    """A file holding one running total; each pass stores the growth since the last."""

    name = "counter-test"
    agent = "counter-test"
    mode = "file"
    keeps_state = True

    def roots(self, env):
        return [Path(env["HOME"]) / "counter"]

    def candidate(self, path):
        return path.suffix == ".total"

    def recognise(self, path, head):
        return True

    def parse_file(self, path, ctx, state):
        total = int(path.read_text())
        seen = state.get("seen", 0)
        if total > seen:
            yield Request(
                key=f"c:{total}",
                agent=self.agent,
                session_id="s",
                ts="2026-01-01T00:00:00.000Z",
                input_tokens=total - seen,
            )
            state["seen"] = total


def test_a_whole_file_parser_gets_back_the_state_it_left(db, tmp_path):
    home = tmp_path / "h"
    (home / "counter").mkdir(parents=True)
    file = home / "counter" / "a.total"
    file.write_text("100")
    run = Ingester(db, [CounterParser()], env={"HOME": str(home)}).run
    run()
    file.write_text("250")
    os.utime(file, (1, 2_000_000_000))
    run()
    run()  # unchanged: not read again
    rows = db.execute("select key, input_tokens from requests order by key").fetchall()
    assert rows == [("c:100", 100), ("c:250", 150)]
    assert db.execute("select state from sources").fetchone()[0] == '{"seen":250}'
