"""Checks every agent's fixture cases share: exact totals, order independence, bundled samples."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from analyzer.ingest.ingester import Ingester
from analyzer.store import database as store

from .conftest import FIXTURES, check_totals, expected_totals, ingest_home

REQUEST_COLUMNS = (
    "key, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens, trigger, prompt_key,"
    " is_sidechain, session_id, ts"
)
PROMPT_COLUMNS = "key, session_id, ts, text_hash"


def cases(agent: str) -> list[str]:
    return sorted(p.name for p in (FIXTURES / agent).iterdir() if (p / "expected.json").exists())


def copy_case(agent: str, case: str, tmp_path: Path) -> Path:
    """A writable copy of a case's home folder."""
    home = tmp_path / case
    shutil.copytree(FIXTURES / agent / case / "home", home)
    return home


def check_case(db, agent: str, case: str) -> None:
    """Ingest one case and compare every total, bad-line count and trigger count it names."""
    case_dir = FIXTURES / agent / case
    expected = expected_totals(case_dir)
    stats = ingest_home(db, case_dir / "home")
    check_totals(db, expected)
    assert {r[0] for r in db.execute("select distinct agent from requests")} <= {agent}
    assert stats.bad_lines == expected.get("bad_lines", {})
    assert stats.ignored_lines == expected.get("ignored_lines", 0)
    assert not stats.unrecognised
    if "triggers" in expected:
        assert (
            dict(db.execute("select trigger, count(*) from requests group by trigger").fetchall())
            == expected["triggers"]
        )


def check_order_independence(db, tmp_path: Path, agent: str, case: str) -> None:
    """Reading twice, and reading the files in reverse order into a new store, gives the same rows."""
    home = FIXTURES / agent / case / "home"
    ingest_home(db, home)
    requests = db.execute(f"select {REQUEST_COLUMNS} from requests order by key").fetchall()
    prompts = db.execute(f"select {PROMPT_COLUMNS} from prompts order by key").fetchall()
    ingest_home(db, home)
    assert db.execute(f"select {REQUEST_COLUMNS} from requests order by key").fetchall() == requests

    other = store.open_db(tmp_path / "reverse.db")
    ingester = Ingester(other, env={"HOME": str(home)})
    discovery = ingester.discover()
    discovery.found.reverse()
    ingester.run(discovery=discovery)
    assert other.execute(f"select {REQUEST_COLUMNS} from requests order by key").fetchall() == requests
    assert other.execute(f"select {PROMPT_COLUMNS} from prompts order by key").fetchall() == prompts


def check_limit_hits(db, agent: str, case: str) -> None:
    case_dir = FIXTURES / agent / case
    ingest_home(db, case_dir / "home")
    got = [
        {"ts": ts, "reset_at": reset, "window_minutes": window}
        for ts, reset, window in db.execute("select ts, reset_at, window_minutes from limit_hits order by ts")
    ]
    assert got == expected_totals(case_dir)["hits"]


def regenerate_sample(name: str, folder: str, tmp_path: Path) -> Path:
    """Run a sample script into ``tmp_path/folder`` and check it wrote exactly the bundled files."""
    spec = importlib.util.spec_from_file_location(name, FIXTURES / "sample" / "generators" / f"{name}.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.ROOT = tmp_path / folder
    script.main()
    bundled = FIXTURES / "sample" / "home" / folder
    written = sorted(p.relative_to(script.ROOT) for p in script.ROOT.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(bundled) for p in bundled.rglob("*") if p.is_file())
    assert all((script.ROOT / p).read_bytes() == (bundled / p).read_bytes() for p in written)
    assert sum((bundled / p).stat().st_size for p in written) < 300_000
    return script.ROOT


def jsonl_lines(path: Path) -> list[tuple[int, bytes]]:
    """A file's complete lines with their byte offsets, as the ingester hands them to a parser."""
    lines, pos = [], 0
    for raw in path.read_bytes().split(b"\n")[:-1]:
        lines.append((pos, raw))
        pos += len(raw) + 1
    return lines
