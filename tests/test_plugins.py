"""The plugin manager: the hook table is true, commands load only what they use, entry points are found."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

from analyzer.contract import hookspecs
from analyzer.registry.builtins import builtin_plugins, hooks_of, parser_modules
from analyzer.registry.entry_points import entry_points, installed_version
from analyzer.store import database as store

HOOKS = [name for name in dir(hookspecs) if name.startswith(("register_", "prepare_"))]


def test_every_builtin_declares_exactly_the_hooks_it_implements():
    for name in builtin_plugins():
        module = importlib.import_module(name)
        implemented = {hook for hook in HOOKS if hasattr(getattr(module, hook, None), "analyzer_impl")}
        assert set(hooks_of(name)) == implemented, name


def test_parsers_are_found_in_their_package_and_helpers_are_not():
    found = parser_modules()
    assert "analyzer.parsers.claude_code" in found and "analyzer.parsers.opencode" in found
    assert not any(name.rsplit(".", 1)[1].startswith("_") for name in found)
    assert not any(name.startswith("analyzer.parsers.codex.") for name in found)  # codex's own helpers
    assert builtin_plugins("register_parsers") == list(found)
    assert not set(found) & set(builtin_plugins("register_commands"))


def test_a_report_imports_no_parser_and_no_sqlite_utils(tmp_path):
    """Start-up is most of a report's time: reading commands must not import what they do not use."""
    db = tmp_path / "s.db"
    store.open_db(db)  # migrated once, as any first command does
    code = (
        "import sys\n"
        "from analyzer.cli import cli\n"
        f"try:\n    cli(['report', 'daily', '--json', '--db', {str(db)!r}])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('analyzer.parsers', 'sqlite_utils', 'watchdog', 'analyzer.plugins.quota.http'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_entry_points_are_found_without_importlib_metadata(tmp_path, monkeypatch):
    dist = tmp_path / "demo_plugin-1.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-plugin\nVersion: 1.2\n\n")
    (dist / "entry_points.txt").write_text("[console_scripts]\nx = y:z\n\n[analyzer]\ndemo = demo_module:plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert ("demo-plugin", "1.2", "demo", "demo_module:plugin") in entry_points()
    assert installed_version("demo-plugin") == "1.2"
    assert installed_version("no-such-distribution") is None


def test_schema_stamp_skips_the_migration_check_until_the_code_changes(tmp_path, monkeypatch):
    path = tmp_path / "s.db"
    db = store.open_db(path)
    stamp = store.get_meta(db, "schema_stamp")
    assert stamp == store.schema_stamp()
    calls = []
    monkeypatch.setattr(store, "migrate_db", lambda db: calls.append(db))
    store.open_db(path)
    assert calls == []
    monkeypatch.setattr(store, "schema_stamp", lambda: "changed")
    store.open_db(path)
    assert len(calls) == 1
    assert Path(path).exists()
