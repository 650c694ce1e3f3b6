"""What is installed: every plugin, the hooks it implements, its version, and why it failed if it did."""

from __future__ import annotations

from analyzer.registry.builtins import builtin_plugins
from analyzer.registry.manager import BrokenPlugin, _distributions, broken_plugins, call_register, load_plugins, pm
from analyzer.registry.parsers import get_parsers


def get_plugins() -> list[dict]:
    """Describe every plugin: name, hooks it implements, version, and why it failed if it did."""
    load_plugins()
    _run_registrations()
    builtins = set(builtin_plugins())
    errors: dict[str, BrokenPlugin] = {}
    for broken in broken_plugins:
        errors.setdefault(broken.name, broken)
    described = []
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        entry = {"name": name, "hooks": hooks, "builtin": name in builtins}
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
    get_parsers()
    for hook_name in ("register_quota_readers", "register_migrations", "register_watch_tasks"):
        call_register(hook_name)
