"""The ``analyzer`` command group. Commands come from plugins' ``register_commands``.

The built-in commands live in ``analyzer.commands.*`` modules, which are plugins
like any other, so a third-party plugin adds commands the same way.

Faults are handled here, once, for every command: whatever a command raises
(a locked, read-only, full or damaged store, an unreadable file, a bug) is
printed as one sentence (``analyzer.store.faults``) with a non-zero exit, never
a traceback. ``analyzer --debug COMMAND`` (or ``ANALYZER_DEBUG=1``) shows the
traceback instead.
"""

from __future__ import annotations

import errno
import os

import click

from analyzer import __version__
from analyzer.registry.manager import load_plugins, pm


class FaultGroup(click.Group):
    """A command group that turns any exception of a command into one sentence."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug") or os.environ.get("ANALYZER_DEBUG"):
                raise
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                raise  # `analyzer report | head`: click closes quietly
            from analyzer.store.database import opened_path
            from analyzer.store.faults import describe_fault

            raise click.ClickException(describe_fault(exc, opened_path())) from exc


@click.group(cls=FaultGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="analyzer")
@click.option("--debug", is_flag=True, hidden=True, help="Show the traceback of a fault instead of one sentence.")
def cli(debug):
    """Read coding agents' session logs into SQLite and tell what your plan counts.

    \b
    First run:   analyzer start          (ingest your logs, print the daily report)
    Daemon:      analyzer watch          (follow the logs as they grow)
    Reports:     analyzer report daily|session|blocks [--json]
    The store:   analyzer db path|status

    Every command takes --db PATH (or the ANALYZER_DB environment variable).
    """


load_plugins("register_commands")
pm.hook.register_commands(cli=cli)
