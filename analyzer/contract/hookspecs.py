"""Hook specifications: the whole contract between the analyser and its plugins.

Built-in parsers and commands are plugins too: they implement these hooks in
the modules of ``analyzer.registry.builtins``. Third-party plugins publish an
entry point in the ``analyzer`` group and implement the same hooks, importing
``hookimpl`` from ``analyzer.api``. Registration hooks receive a ``register``
callback, as in llm and datasette. Every hook is described in the README
(``tests/test_docs.py`` checks it).
"""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("analyzer")
hookimpl = HookimplMarker("analyzer")


@hookspec
def register_parsers(register):
    "Register log parsers, e.g. register(ClaudeCodeParser())"


@hookspec
def register_commands(cli):
    "Add commands to the analyzer command-line group"


@hookspec
def register_quota_readers(register):
    "Register readers of vendors' quota endpoints, e.g. register(KimiQuotaReader())"


@hookspec
def register_migrations(register):
    "Register sqlite_utils.Migrations sets for tables a plugin owns"


@hookspec
def prepare_connection(conn):
    "Modify a SQLite connection the analyser opened, e.g. add SQL functions"


@hookspec
def register_watch_tasks(register):
    "Register periodic tasks for `analyzer watch`, e.g. register(WatchTask('quota-poll', 300, poll))"
