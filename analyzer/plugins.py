"""The plugin manager: built-in plugins first, then third-party entry points.

Every parser, including the built-in ones, reaches the analyser through the
``register_parsers`` hook. Built-ins are the modules in ``DEFAULT_PLUGINS``;
third-party distributions declare an entry point in the ``analyzer`` group.
A third-party plugin that fails to import or register is reported by
``analyzer plugins`` and in warnings, and never stops the tool.

``ANALYZER_LOAD_PLUGINS`` (comma-separated distribution names) restricts which
third-party plugins load; set it to an empty string to load none.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from dataclasses import dataclass

import pluggy

from . import hookspecs

DEFAULT_PLUGINS = (
    "parsers.claude_code",
    "parsers.kimi_code",
    "parsers.gemini_cli",
    "parsers.qwen_code",
    "parsers.codex",
    "parsers.opencode",
    "analyzer.commands.ingest",
    "analyzer.commands.report",
    "analyzer.commands.db",
    "analyzer.analysis_schema",
    "analyzer.commands.analysis",
    "analyzer.commands.watch",
    "plugins.claude_code.commands",
    "plugins.quota.claude",
    "plugins.quota.codex",
    "plugins.quota.kimi",
    "plugins.quota.glm",
    "plugins.quota.minimax",
    "plugins.quota.commands",
    "analyzer.commands.infer",
)

ENTRY_POINT_GROUP = "analyzer"

pm = pluggy.PluginManager("analyzer")
pm.add_hookspecs(hookspecs)


@dataclass
class BrokenPlugin:
    name: str
    distribution: str | None
    error: str


broken_plugins: list[BrokenPlugin] = []
_distributions: dict[str, tuple[str, str]] = {}
_loaded = False


def load_plugins() -> None:
    """Register built-in plugins and third-party entry points, once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        pm.register(module, module_name)
    _load_entry_points()


def _load_entry_points() -> None:
    allowed = os.environ.get("ANALYZER_LOAD_PLUGINS")
    allowed_names = None
    if allowed is not None:
        allowed_names = {name.strip() for name in allowed.split(",") if name.strip()}
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"]
        if allowed_names is not None and dist_name not in allowed_names:
            continue
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP or pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
                pm.register(plugin, name=ep.name)
            except Exception as exc:  # a broken plugin must never stop the tool
                broken_plugins.append(BrokenPlugin(ep.name, dist_name, f"{type(exc).__name__}: {exc}"))
                continue
            _distributions[ep.name] = (dist_name, dist.version)


def get_plugins() -> list[dict]:
    """Describe every plugin: name, hooks it implements, version, and why it failed if it did."""
    load_plugins()
    _run_registrations()
    errors: dict[str, BrokenPlugin] = {}
    for broken in broken_plugins:
        errors.setdefault(broken.name, broken)
    described = []
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        entry = {"name": name, "hooks": hooks, "builtin": name in DEFAULT_PLUGINS}
        if name in _distributions:
            entry["distribution"], entry["version"] = _distributions[name]
        if name in errors:
            entry["error"] = errors.pop(name).error
        described.append(entry)
    for broken in errors.values():
        described.append(
            {"name": broken.name, "distribution": broken.distribution, "error": broken.error, "builtin": False}
        )
    return sorted(described, key=lambda p: (not p["builtin"], p["name"]))


def _run_registrations() -> None:
    """Run the ``register_*`` hooks, so that a plugin whose hook raises is listed as broken."""
    from .registry import get_parsers

    get_parsers()
    for hook_name in ("register_quota_readers", "register_migrations"):
        call_register(hook_name)


def call_register(hook_name: str) -> list:
    """Call a ``register_*`` hook and return what the plugins registered, in order.

    A third-party hook implementation that raises is recorded as broken and
    skipped; the others still register.
    """
    load_plugins()
    registered: list = []
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():  # registration order: built-ins first
        try:
            impl.function(register=registered.append)
        except Exception as exc:
            if impl.plugin_name in DEFAULT_PLUGINS:
                raise
            broken_plugins.append(BrokenPlugin(impl.plugin_name, None, f"{hook_name}: {type(exc).__name__}: {exc}"))
    return registered
