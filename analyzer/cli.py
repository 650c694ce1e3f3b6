"""The ``analyzer`` command group. Commands come from plugins' ``register_commands``.

The built-in commands live in ``analyzer.commands.*`` modules, which are plugins
like any other, so a third-party plugin adds commands the same way.
"""

from __future__ import annotations

import click

from analyzer import __version__
from analyzer.registry.manager import load_plugins, pm


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="analyzer")
def cli():
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
