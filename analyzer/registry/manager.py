"""The pluggy plugin manager: built-in plugins first, then third-party entry points.

Every parser and command, including the built-in ones, reaches the analyser
through a hook (``analyzer.contract.hookspecs``). Built-ins are the modules of
``analyzer.registry.builtins``; third-party distributions declare an entry point
in the ``analyzer`` group. Plugins load per hook, each once: a command that only
calls ``register_commands`` imports no parser. A third-party plugin that fails to
import or register is reported by ``analyzer plugins`` and in warnings, and
never stops the tool; a built-in one that fails is a bug and raises.

``ANALYZER_LOAD_PLUGINS`` (comma-separated distribution names) restricts which
third-party plugins load; set it to an empty string to load none.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

import pluggy

from analyzer.contract import hookspecs
from analyzer.registry.builtins import builtin_plugins
from analyzer.registry.entry_points import entry_points

pm = pluggy.PluginManager("analyzer")
pm.add_hookspecs(hookspecs)


@dataclass
class BrokenPlugin:
    name: str
    distribution: str | None
    error: str


broken_plugins: list[BrokenPlugin] = []
_distributions: dict[str, tuple[str, str]] = {}  # plugin name -> (distribution, version)
_builtins: list[str] = []  # built-in plugins registered so far, in registration order
_entry_points_loaded = False


def load_plugins(*hooks: str) -> None:
    """Register the built-in plugins implementing ``hooks`` (every one when none is
    named) and the third-party plugins, each once."""
    for hook in hooks or (None,):
        for module_name in builtin_plugins(hook):
            if module_name in _builtins:
                continue
            pm.register(importlib.import_module(module_name), module_name)
            _builtins.append(module_name)
    _load_entry_points()


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    allowed = os.environ.get("ANALYZER_LOAD_PLUGINS")
    allowed_names = None
    if allowed is not None:
        allowed_names = {name.strip() for name in allowed.split(",") if name.strip()}
        if not allowed_names:
            return
    for entry in entry_points():
        if allowed_names is not None and entry.distribution not in allowed_names:
            continue
        if pm.has_plugin(entry.name):
            continue
        try:
            module_name, _, attr = entry.target.partition(":")
            plugin = importlib.import_module(module_name.strip())
            for part in filter(None, attr.strip().split(".")):
                plugin = getattr(plugin, part)
            pm.register(plugin, name=entry.name)
        except Exception as exc:  # a broken plugin must never stop the tool
            broken_plugins.append(BrokenPlugin(entry.name, entry.distribution, f"{type(exc).__name__}: {exc}"))
            continue
        _distributions[entry.name] = (entry.distribution, entry.version)


def third_party_names() -> list[str]:
    """Names of the registered plugins that are not built in, sorted."""
    return sorted(name for name, _ in pm.list_name_plugin() if name not in _builtins)


def call_register(hook_name: str) -> list:
    """Call a ``register_*`` hook and return what the plugins registered, in order.

    Built-ins register first, in their declared order, then third-party plugins.
    A third-party hook implementation that raises is recorded as broken and
    skipped; the others still register.
    """
    load_plugins(hook_name)
    order = {name: i for i, name in enumerate(builtin_plugins(hook_name))}
    registered: list = []
    hook = getattr(pm.hook, hook_name)
    for impl in sorted(hook.get_hookimpls(), key=lambda impl: order.get(impl.plugin_name, len(order))):
        try:
            impl.function(register=registered.append)
        except Exception as exc:
            if impl.plugin_name in order:
                raise
            broken_plugins.append(BrokenPlugin(impl.plugin_name, None, f"{hook_name}: {type(exc).__name__}: {exc}"))
    return registered
