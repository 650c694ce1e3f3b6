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
import os
import sys
from dataclasses import dataclass

import pluggy

from analyzer.contract import hookspecs

DEFAULT_PLUGINS = (
    "analyzer.parsers.claude_code",
    "analyzer.parsers.kimi_code",
    "analyzer.parsers.gemini_cli",
    "analyzer.parsers.qwen_code",
    "analyzer.parsers.codex",
    "analyzer.parsers.opencode",
    "analyzer.commands.ingest",
    "analyzer.commands.report",
    "analyzer.commands.db",
    "analyzer.store.schema_analysis",
    "analyzer.store.schema_reports",
    "analyzer.commands.analysis",
    "analyzer.commands.watch",
    "analyzer.plugins.claude_code.commands",
    "analyzer.plugins.quota.claude",
    "analyzer.plugins.quota.codex",
    "analyzer.plugins.quota.kimi",
    "analyzer.plugins.quota.glm",
    "analyzer.plugins.quota.minimax",
    "analyzer.plugins.quota.commands",
    "analyzer.commands.infer",
    "analyzer.commands.serve",
)

# The hooks each built-in implements, so that a command imports only what it uses
# (a report needs no parser, the statusline nothing at all). A module missing here
# is loaded for every hook; tests/test_plugins.py checks that the table is true.
PLUGIN_HOOKS: dict[str, tuple[str, ...]] = {
    "analyzer.parsers.claude_code": ("register_parsers",),
    "analyzer.parsers.kimi_code": ("register_parsers",),
    "analyzer.parsers.gemini_cli": ("register_parsers",),
    "analyzer.parsers.qwen_code": ("register_parsers",),
    "analyzer.parsers.codex": ("register_parsers",),
    "analyzer.parsers.opencode": ("register_parsers",),
    "analyzer.commands.ingest": ("register_commands",),
    "analyzer.commands.report": ("register_commands",),
    "analyzer.commands.db": ("register_commands",),
    "analyzer.store.schema_analysis": ("register_migrations",),
    "analyzer.store.schema_reports": ("register_migrations",),
    "analyzer.commands.analysis": ("register_commands",),
    "analyzer.commands.watch": ("register_commands",),
    "analyzer.plugins.claude_code.commands": ("register_commands",),
    "analyzer.plugins.quota.claude": ("register_quota_readers",),
    "analyzer.plugins.quota.codex": ("register_quota_readers",),
    "analyzer.plugins.quota.kimi": ("register_quota_readers",),
    "analyzer.plugins.quota.glm": ("register_quota_readers",),
    "analyzer.plugins.quota.minimax": ("register_quota_readers",),
    "analyzer.plugins.quota.commands": ("register_commands",),
    "analyzer.commands.infer": ("register_commands", "register_migrations"),
    "analyzer.commands.serve": ("register_commands",),
}

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
_registered: set[str] = set()
_entry_points_loaded = False


def load_plugins(*hooks: str) -> None:
    """Register the built-in plugins implementing ``hooks`` (every one when none is
    named) and the third-party plugins, each once."""
    wanted = set(hooks)
    for module_name in DEFAULT_PLUGINS:
        if module_name in _registered:
            continue
        declared = PLUGIN_HOOKS.get(module_name)
        if wanted and declared is not None and not wanted & set(declared):
            continue
        module = importlib.import_module(module_name)
        pm.register(module, module_name)
        _registered.add(module_name)
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
    for dist_name, version, name, target in _entry_points():
        if allowed_names is not None and dist_name not in allowed_names:
            continue
        if pm.has_plugin(name):
            continue
        try:
            module_name, _, attr = target.partition(":")
            plugin = importlib.import_module(module_name.strip())
            for part in filter(None, attr.strip().split(".")):
                plugin = getattr(plugin, part)
            pm.register(plugin, name=name)
        except Exception as exc:  # a broken plugin must never stop the tool
            broken_plugins.append(BrokenPlugin(name, dist_name, f"{type(exc).__name__}: {exc}"))
            continue
        _distributions[name] = (dist_name, version)


def _entry_points() -> list[tuple[str, str, str, str]]:
    """(distribution, version, name, target) of every ``analyzer`` entry point.

    A direct look at the installed distributions' ``entry_points.txt``: it
    finds the same entry points as ``importlib.metadata`` in a fraction of its
    start-up time, which every command pays.
    """
    found = []
    seen: set[str] = set()
    for folder, entry in _metadata_dirs():
        meta_dir = os.path.join(folder, entry)
        try:
            with open(os.path.join(meta_dir, "entry_points.txt"), encoding="utf-8") as f:
                text = f.read()
        except OSError:
            continue
        if f"[{ENTRY_POINT_GROUP}]" not in text:
            continue
        dist_name, version = _dist_name_version(meta_dir, entry)
        if dist_name.lower() in seen:
            continue  # the first on sys.path wins, as imports do
        seen.add(dist_name.lower())
        section = None
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]").strip()
            elif section == ENTRY_POINT_GROUP and "=" in line:
                name, _, target = line.partition("=")
                found.append((dist_name, version, name.strip(), target.strip()))
    return found


def installed_version(distribution: str) -> str | None:
    """The version of an installed distribution, from its ``.dist-info`` folder name
    (what ``importlib.metadata.version`` answers, without its import cost)."""
    wanted = _normal(distribution)
    for _, entry in _metadata_dirs():
        if entry.endswith(".dist-info"):
            name, _, version = entry[: -len(".dist-info")].partition("-")
            if _normal(name) == wanted:
                return version
    return None


def _normal(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _metadata_dirs():
    """(folder, entry) of every ``*.dist-info`` / ``*.egg-info`` folder on ``sys.path``, in path order."""
    for folder in sys.path:
        folder = folder or "."
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for entry in names:
            if entry.endswith((".dist-info", ".egg-info")):
                yield folder, entry


def _dist_name_version(meta_dir: str, entry: str) -> tuple[str, str]:
    name = version = None
    for meta in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(meta_dir, meta), encoding="utf-8") as f:
                for line in f:
                    if line.startswith("Name:"):
                        name = line[5:].strip()
                    elif line.startswith("Version:"):
                        version = line[8:].strip()
                    elif not line.strip():
                        break
            break
        except OSError:
            continue
    stem = entry.rsplit(".", 1)[0]
    guess_name, _, guess_version = stem.partition("-")
    return name or guess_name, version or guess_version.split("-")[0] or "?"


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
    from analyzer.registry.parsers import get_parsers

    get_parsers()
    for hook_name in ("register_quota_readers", "register_migrations"):
        call_register(hook_name)


def _builtin_order(impl) -> int:
    name = impl.plugin_name
    return DEFAULT_PLUGINS.index(name) if name in DEFAULT_PLUGINS else len(DEFAULT_PLUGINS)


def call_register(hook_name: str) -> list:
    """Call a ``register_*`` hook and return what the plugins registered, in order.

    A third-party hook implementation that raises is recorded as broken and
    skipped; the others still register.
    """
    load_plugins(hook_name)
    registered: list = []
    hook = getattr(pm.hook, hook_name)
    for impl in sorted(hook.get_hookimpls(), key=_builtin_order):  # built-ins first, in their declared order
        try:
            impl.function(register=registered.append)
        except Exception as exc:
            if impl.plugin_name in DEFAULT_PLUGINS:
                raise
            broken_plugins.append(BrokenPlugin(impl.plugin_name, None, f"{hook_name}: {type(exc).__name__}: {exc}"))
    return registered
