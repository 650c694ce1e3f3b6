"""``analyzer watch`` (the daemon) and ``analyzer service install|uninstall|status``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from analyzer.api import hookimpl
from analyzer.commands.options import db_option, open_store
from analyzer.daemon.lifecycle import (
    LOG_LEVELS,
    AlreadyRunning,
    DaemonLock,
    WatchSettings,
    logging_to_stderr,
    stop_on_signals,
)
from analyzer.store import database as store

defaults = WatchSettings()


@click.command(name="watch")
@click.option("--once", is_flag=True, help="One catch-up pass over every folder, then exit.")
@click.option(
    "--polling",
    is_flag=True,
    help="Poll the folders instead of using the system's file events (network drives, WSL2 /mnt, "
    "Docker bind mounts). Used automatically when file events are unavailable.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    default=defaults.poll_interval,
    show_default=True,
    help="Seconds between two looks when polling.",
)
@click.option(
    "--debounce",
    type=click.FloatRange(min=0),
    default=defaults.debounce,
    show_default=True,
    help="Seconds a file must be quiet before it is read.",
)
@click.option(
    "--max-wait",
    type=click.FloatRange(min=0),
    default=defaults.max_wait,
    show_default=True,
    help="Seconds after which a file still being written is read anyway.",
)
@click.option(
    "--rescan-interval",
    type=click.FloatRange(min=1),
    default=defaults.rescan_interval,
    show_default=True,
    help="Seconds between two full rescans (they catch dropped events).",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    help="Log level (default: info; -v means debug).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every flush (the same as --log-level debug).")
@click.option(
    "--quota-every",
    type=click.FloatRange(min=1),
    metavar="MINUTES",
    help="Also read the vendors' usage endpoints (`analyzer quota poll`) every MINUTES minutes. "
    "Off by default: nothing leaves the machine unless you ask.",
)
@click.option(
    "--sync-every",
    type=click.FloatRange(min=1),
    metavar="MINUTES",
    help="Also run `analyzer sync` every MINUTES minutes (the folder it remembers, or ANALYZER_SYNC_FOLDER).",
)
@db_option
def watch(
    once,
    polling,
    poll_interval,
    debounce,
    max_wait,
    rescan_interval,
    log_level,
    verbose,
    quota_every,
    sync_every,
    db_path,
):
    """Follow the agents' logs and ingest new lines as they are written.

    Catches up on what changed while it was not running, then reads each
    file shortly after the agent writes to it (after --debounce seconds of
    quiet, at most --max-wait seconds late), and rescans every folder now
    and then. Folders that do not exist yet are picked up when they appear.
    One daemon per store; SIGTERM or Ctrl-C stops it after the current
    transaction. Reports, Datasette and the statusline can read the store
    while it runs. `analyzer service install` runs it at login.
    """
    if max_wait < debounce:
        raise click.BadParameter("must be at least --debounce", param_hint="--max-wait")
    settings = WatchSettings(
        debounce=debounce,
        max_wait=max_wait,
        rescan_interval=rescan_interval,
        polling=polling,
        poll_interval=poll_interval,
    )
    db_file = db_path or store.default_db_path()
    with logging_to_stderr(log_level or ("debug" if verbose else "info")):
        try:
            lock = DaemonLock(db_file).acquire()
        except AlreadyRunning as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:
            raise click.ClickException(f"cannot create the lock file next to {db_file}: {exc}") from exc
        try:
            db = open_store(db_file, create=True)
            from analyzer.daemon.watcher import Watcher, watch_tasks

            tasks = watch_tasks()
            if quota_every:
                from analyzer.plugins.quota.poll import watch_task

                tasks.append(watch_task(quota_every))
            if sync_every:
                from analyzer.sync import watch_task as sync_task

                tasks.append(sync_task(sync_every))
            watcher = Watcher(db, settings=settings, tasks=tasks)
            with stop_on_signals(watcher.request_stop):
                if once:
                    stats = watcher.run_once()
                    if stats is None:
                        raise click.ClickException("the pass did not finish (see the log above)")
                else:
                    watcher.run()
        finally:
            lock.release()


@click.group(name="service")
def service_group():
    """Run `analyzer watch` in the background from login (systemd on Linux, launchd on macOS)."""


@service_group.command(name="install")
@click.option("--dry-run", is_flag=True, help="Print the service file and the commands; change nothing.")
@click.option(
    "--quota-every",
    type=click.FloatRange(min=1),
    metavar="MINUTES",
    help="The daemon also reads the vendors' usage endpoints every MINUTES minutes (off by default).",
)
@click.option(
    "--sync-every",
    type=click.FloatRange(min=1),
    metavar="MINUTES",
    help="The daemon also runs `analyzer sync` every MINUTES minutes (with the folder it remembers).",
)
@db_option
def service_install(dry_run, quota_every, sync_every, db_path):
    """Install, enable and start the service for this store (--db)."""
    args = ["--quota-every", f"{quota_every:g}"] if quota_every else []
    args += ["--sync-every", f"{sync_every:g}"] if sync_every else []
    service = _service(db_path, args)
    if dry_run:
        click.echo(f"# {service.path}")
        click.echo(service.render())
        for cmd in service.install_commands(was_running=False):
            click.echo(" ".join(cmd))
        return
    status = _do(service.install)
    click.echo(f"Installed {status.path}")
    click.echo(f"It runs: {' '.join(service.program())}")
    click.echo(("Running. " if status.running else "Not running yet. ") + status.detail)


@service_group.command(name="uninstall")
@db_option
def service_uninstall(db_path):
    """Stop and disable the service and remove its file."""
    service = _service(db_path)
    if _do(service.uninstall):
        click.echo(f"Removed {service.path}")
    else:
        click.echo(f"Not installed ({service.path} does not exist).")


@service_group.command(name="status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def service_status(as_json, db_path):
    """Say whether the service is installed and running."""
    status = _do(_service(db_path).status)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "installed": status.installed,
                    "running": status.running,
                    "path": str(status.path),
                    "command": status.command,
                    "detail": status.detail,
                },
                indent=2,
            )
        )
        return
    click.echo(f"{'Installed' if status.installed else 'Not installed'}: {status.path}")
    if status.command:
        click.echo(f"Runs: {' '.join(status.command)}")
    click.echo(f"{'Running' if status.running else 'Not running'} ({status.detail})")


@hookimpl
def register_commands(cli):
    "The commands of this module."
    cli.add_command(watch)
    cli.add_command(service_group)


def _service(db_path: Path | None, watch_args: list[str] | None = None):
    from analyzer.daemon.service import ServiceError, service_for

    try:
        return service_for(db_path or store.default_db_path(), watch_args=watch_args or [])
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from exc


def _do(action):
    from analyzer.daemon.service import ServiceError

    try:
        return action()
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"the service file: {exc}") from exc
