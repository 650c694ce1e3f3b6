"""The documentation keeps up with the code (after datasette's test_docs): every hook and every
command is described where a user looks for it."""

from __future__ import annotations

import re

from click import Group

from analyzer.cli import cli
from analyzer.contract import hookspecs
from analyzer.registry.manager import load_plugins

from .import_graph import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def hook_names() -> list[str]:
    return sorted(n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "analyzer_spec"))


def test_every_hook_is_described_in_the_readme():
    section = README.split("### Plugin hooks", 1)[1].split("\n### ", 1)[0]
    described = set(re.findall(r"^\| `(\w+)\(", section, flags=re.M))
    assert described == set(hook_names())
    assert len(hook_names()) >= 6


def test_every_command_has_help():
    load_plugins("register_commands")

    def walk(group: Group, prefix: str):
        for name, command in group.commands.items():
            yield f"{prefix}{name}", command
            if isinstance(command, Group):
                yield from walk(command, f"{prefix}{name} ")

    for name, command in walk(cli, ""):
        if not command.hidden:
            assert (command.help or "").strip(), f"`analyzer {name}` has no --help text"


def test_every_top_level_command_is_in_the_readme_table():
    table = README.split("## Commands", 1)[1].split("\n## ", 1)[0]
    for name, command in cli.commands.items():
        if not command.hidden:
            assert f"`analyzer {name}" in table, f"`analyzer {name}` is missing from the README's Commands table"
