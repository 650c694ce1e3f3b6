"""The built-in plugins: modules of this package that implement hooks, as a third-party plugin does.

Parsers are found, not listed: every public module or subpackage of
``analyzer.parsers`` is a parser plugin and implements ``register_parsers``
and no other hook (helpers shared by several parsers are ``_private``), so adding
an agent is adding a module there. Every other built-in plugin is in ``TABLE``
with the hooks it implements, so that a command imports only the plugins of the
hooks it calls (a report needs no parser). ``tests/test_plugins.py`` checks both
against the modules.
"""

from __future__ import annotations

from functools import cache

PARSERS_PACKAGE = "analyzer.parsers"

TABLE: dict[str, tuple[str, ...]] = {
    "analyzer.commands.ingest": ("register_commands",),
    "analyzer.commands.report": ("register_commands",),
    "analyzer.commands.db": ("register_commands",),
    "analyzer.commands.stats": ("register_commands",),
    "analyzer.commands.plans": ("register_commands",),
    "analyzer.commands.status": ("register_commands",),
    "analyzer.commands.infer": ("register_commands",),
    "analyzer.commands.accounts": ("register_commands",),
    "analyzer.commands.sync": ("register_commands",),
    "analyzer.commands.watch": ("register_commands",),
    "analyzer.commands.serve": ("register_commands",),
    "analyzer.commands.doctor": ("register_commands",),
    "analyzer.plugins.claude_code.commands": ("register_commands",),
    "analyzer.plugins.quota.commands": ("register_commands",),
    "analyzer.plugins.quota.claude": ("register_quota_readers",),
    "analyzer.plugins.quota.codex": ("register_quota_readers",),
    "analyzer.plugins.quota.kimi": ("register_quota_readers",),
    "analyzer.plugins.quota.glm": ("register_quota_readers",),
    "analyzer.plugins.quota.minimax": ("register_quota_readers",),
}


@cache
def parser_modules() -> tuple[str, ...]:
    """The parser plugins: public modules and subpackages of ``analyzer.parsers``, by name."""
    import pkgutil
    from importlib.util import find_spec

    folders = find_spec(PARSERS_PACKAGE).submodule_search_locations  # the folder, without importing the package
    return tuple(
        sorted(f"{PARSERS_PACKAGE}.{m.name}" for m in pkgutil.iter_modules(folders) if not m.name.startswith("_"))
    )


def builtin_plugins(hook: str | None = None) -> list[str]:
    """Built-in plugin modules implementing ``hook`` (every one when None): parsers first, then the table's order."""
    parsers = list(parser_modules()) if hook in (None, "register_parsers") else []
    return parsers + [name for name, hooks in TABLE.items() if hook is None or hook in hooks]


def hooks_of(module: str) -> tuple[str, ...]:
    """The hooks a built-in plugin module implements."""
    if module.startswith(PARSERS_PACKAGE + "."):
        return ("register_parsers",)
    return TABLE[module]
