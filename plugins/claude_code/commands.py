"""Commands of the Claude Code integration: ``statusline``, ``integrate claude-code``, the hook.

``statusline`` and ``claude-code-hook`` normally never reach click:
``analyzer.__main__`` runs them directly. These definitions give them
``--help`` and handle any spelling the fast path does not.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from analyzer.api import hookimpl


@click.command(name="statusline")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    envvar="ANALYZER_DB",
    help="SQLite store (default: ANALYZER_DB, else the user data folder).",
)
@click.option(
    "--then",
    "then",
    metavar="COMMAND",
    help="Another status line command to run first with the same input; its line is printed above ours.",
)
def statusline(db_path, then):
    """Claude Code status line: 5-hour usage, weekly %, cache ratio; records the quota readings.

    Claude Code runs it with a JSON object on stdin. It prints one line and
    always exits 0: bad input or an unavailable store give a short line.
    Set it up with `analyzer integrate claude-code`.
    """
    from analyzer.plugins.claude_code.statusline import main

    raise SystemExit(main(db_path, then))


@click.command(name="claude-code-hook", hidden=True)
@click.option("--db", "db_path", type=click.Path(dir_okay=False), envvar="ANALYZER_DB", help="SQLite store.")
@click.option("--run", is_flag=True, help="Ingest now (the detached side); without it, start that and return.")
def claude_code_hook(db_path, run):
    """Claude Code Stop/SessionEnd hook: start a background ingest and return at once."""
    from analyzer.plugins.claude_code import hook

    raise SystemExit(hook.run(db_path) if run else hook.trigger(db_path))


@click.group(name="integrate")
def integrate():
    """Connect the analyser to other programs (Claude Code)."""


@integrate.command(name="claude-code")
@click.option("--uninstall", is_flag=True, help="Remove exactly what integrate added (restoring the file's bytes).")
@click.option("--chain", is_flag=True, help="If you already have a status line, wrap it: yours first, then ours.")
@click.option(
    "--settings",
    "settings_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (default: $CLAUDE_CONFIG_DIR/settings.json, else ~/.claude/settings.json).",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    help="Store the status line and hooks should use (default: theirs, i.e. ANALYZER_DB or the default).",
)
def integrate_claude_code(uninstall, chain, settings_file, db_path):
    """Add the status line and the ingest hooks to Claude Code's settings (or remove them).

    \b
    Adds:   statusLine         -> analyzer statusline (records the 5h/7d quota readings)
            hooks.Stop         -> analyzer claude-code-hook (background ingest after each turn)
            hooks.SessionEnd   -> the same, when a session ends
    Keeps everything else. A status line you already have is kept; --chain
    shows yours, then ours. The file is backed up first; running it twice
    changes nothing; --uninstall puts the file back as it was.
    """
    from analyzer.plugins.claude_code.settings import SettingsError, analyzer_argv, integrate, remove, settings_path

    path = settings_file or settings_path(os.environ)
    try:
        if uninstall:
            notes = remove(path)
        else:
            db = str(Path(db_path).expanduser().resolve()) if db_path else None
            notes = integrate(path, analyzer_argv(), db=db, chain=chain)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot update {path}: {exc.strerror or exc}") from exc
    for note in notes:
        click.echo(note)
    if not uninstall:
        click.echo("Restart Claude Code (or open /hooks) for the change to take effect.")


@hookimpl
def register_commands(cli):
    "The commands of this module."
    cli.add_command(statusline)
    cli.add_command(claude_code_hook)
    cli.add_command(integrate)
