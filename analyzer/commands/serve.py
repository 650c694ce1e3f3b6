"""``analyzer serve``: browse the store in Datasette, with the project's metadata and dashboard.

Datasette is an optional dependency (the ``datasette`` extra); this module
imports it only when the command runs. The store is served **mutable** (never
``--immutable``): the daemon keeps writing, and Datasette then reads it
read-only through SQLite's normal locking, seeing each commit as it lands.
Before serving, the derived tables (prices of newly seen models, the plans
catalogue) are brought up to date, so Datasette shows what the CLI would.
"""

from __future__ import annotations

from pathlib import Path

import click

from analyzer.api import hookimpl
from analyzer.commands.options import db_option, open_store

HOST = "127.0.0.1"
# Local use: give the window queries time on a large store, and charts every row of a year of windows.
SETTINGS = {"sql_time_limit_ms": 20000, "max_returned_rows": 10000, "facet_time_limit_ms": 1000}
INSTALL_HINT = (
    "Datasette is missing from this installation (it is a dependency): reinstall coding-plan-analyzer,"
    " or pip install 'datasette>=0.65.2,<1.0' datasette-dashboards into its environment."
)


def require_datasette() -> None:
    """Raise a clear error when Datasette or datasette-dashboards is missing."""
    try:
        import datasette  # noqa: F401
        import datasette_dashboards  # noqa: F401
    except ImportError as exc:
        raise click.ClickException(f"{INSTALL_HINT} ({exc})") from exc


def parse_settings(pairs: tuple[tuple[str, str], ...]) -> dict:
    """``--setting NAME VALUE`` pairs, checked and typed against Datasette's own defaults."""
    from datasette.app import DEFAULT_SETTINGS

    settings = dict(SETTINGS)
    for name, value in pairs:
        if name not in DEFAULT_SETTINGS:
            raise click.BadParameter(
                f"{name!r} is not a Datasette setting (see `datasette --help-settings`)", param_hint="--setting"
            )
        default = DEFAULT_SETTINGS[name]
        try:
            if isinstance(default, bool):
                if value.lower() not in ("on", "off", "true", "false", "1", "0"):
                    raise ValueError(value)
                settings[name] = value.lower() in ("on", "true", "1")
            elif isinstance(default, int):
                settings[name] = int(value)
            else:
                settings[name] = value
        except ValueError:
            raise click.BadParameter(
                f"{name} needs a {type(default).__name__}, not {value!r}", param_hint="--setting"
            ) from None
    return settings


def build(db_file: Path, settings: dict | None = None):
    """A Datasette instance over ``db_file`` with this project's plugin registered."""
    from datasette.app import Datasette
    from datasette.plugins import pm

    import analyzer.plugins.datasette as plugin

    if not pm.is_registered(plugin):  # e.g. run from a checkout whose entry points are not installed
        pm.register(plugin, name="analyzer")
    return Datasette([str(db_file)], settings=settings if settings is not None else dict(SETTINGS))


def refresh_derived(db_path: Path | None) -> Path:
    """Open the store (migrations, views), refresh prices and the plans catalogue; return its file."""
    from analyzer.plans.catalogue import sync_catalogue
    from analyzer.reports.usage import ensure_prices

    db = open_store(db_path)
    ensure_prices(db)
    sync_catalogue(db)
    path = Path(db.conn.execute("pragma database_list").fetchone()[2])
    db.conn.close()
    return path


def check_port(port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {HOST}:{port} ({exc.strerror}); choose another --port"
            ) from exc


@click.command(name="serve")
@click.option("-p", "--port", default=8001, show_default=True, type=click.IntRange(1, 65535), help="Port on 127.0.0.1.")
@click.option("-o", "--open", "open_browser", is_flag=True, help="Open the dashboard in a web browser.")
@click.option(
    "--setting",
    "settings",
    type=(str, str),
    multiple=True,
    metavar="NAME VALUE",
    help="A Datasette setting (repeatable), e.g. --setting sql_time_limit_ms 60000.",
)
@db_option
def serve(port, open_browser, settings, db_path):
    """Browse the store in Datasette on 127.0.0.1: tables, canned queries, the dashboard.

    \b
    The same titles, queries and dashboard appear in `datasette "$(analyzer db path)"`
    run by hand, through this project's Datasette plugin. The store stays live:
    `analyzer watch` can keep writing while you browse. Ctrl-C stops the server.
    """
    require_datasette()
    chosen = parse_settings(settings)
    check_port(port)
    db_file = refresh_derived(db_path)
    ds = build(db_file, chosen)
    name = next(iter(ds.databases.keys() - {"_internal", "_memory"}))
    url = f"http://{HOST}:{port}/-/dashboards/{name}"
    click.echo(f"Serving {db_file} at http://{HOST}:{port}/  (dashboard: {url})", err=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    import uvicorn

    uvicorn.run(ds.app(), host=HOST, port=port, log_level="warning", lifespan="on", workers=1)


@hookimpl
def register_commands(cli):
    "The commands of this module."
    cli.add_command(serve)
