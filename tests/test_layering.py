"""The package's shape, as tests: no import cycles, rooms import only the rooms below them,
parsers and plugins see only the plugin API.

``analyzer/__init__.py`` describes the rooms; ``LAYERS`` is the same list, lowest first.
A room may import its own modules and any room of a lower layer, never a higher one.
"""

from __future__ import annotations

from pathlib import Path

from .import_graph import ROOT, imports, modules

LAYERS = [
    ("analyzer", "analyzer.contract", "analyzer.api", "analyzer.sample"),
    ("analyzer.registry",),
    ("analyzer.parsers", "analyzer.store"),
    ("analyzer.pricing", "analyzer.accounts"),
    ("analyzer.ingest", "analyzer.sync", "analyzer.reports", "analyzer.windows", "analyzer.plans"),
    ("analyzer.inference",),
    ("analyzer.simulate", "analyzer.daemon"),
    ("analyzer.commands", "analyzer.plugins"),
    ("analyzer.cli", "analyzer.__main__"),
]

GRAPH = imports()


def layer_of(module: str) -> tuple[int, str]:
    """(layer, room) of a module: the room with the longest name that contains it."""
    best = None
    for i, rooms in enumerate(LAYERS):
        for room in rooms:
            if module == room or module.startswith(room + "."):
                if best is None or len(room) > len(best[1]):
                    best = (i, room)
    assert best is not None, f"{module} is in no room: add it to LAYERS and to analyzer/__init__.py"
    return best


def test_no_import_cycles():
    from .import_graph import cycles

    assert cycles(GRAPH) == []


def test_every_module_is_in_a_room():
    for module in modules():
        layer_of(module)


def test_rooms_import_only_rooms_below_them():
    upward = []
    for module, deps in sorted(GRAPH.items()):
        mine = layer_of(module)
        for dep in sorted(deps):
            theirs = layer_of(dep)
            if theirs[0] > mine[0]:
                upward.append(f"{module} ({mine[1]}) imports {dep} ({theirs[1]})")
    assert upward == []


def test_parsers_use_only_the_plugin_api():
    """Built-in parsers are written as a third-party parser would be: against ``analyzer.api``."""
    for module, deps in GRAPH.items():
        if module.startswith("analyzer.parsers"):
            outside = {
                d for d in deps if not d.startswith("analyzer.parsers") and d not in ("analyzer", "analyzer.api")
            }
            assert outside == set(), module


def test_the_example_plugin_uses_only_the_plugin_api():
    source = (ROOT / "plugins" / "examples" / "analyzer-example-parser" / "analyzer_example_parser.py").read_text()
    imported = {
        line.split()[1] for line in source.splitlines() if line.startswith(("from analyzer", "import analyzer"))
    }
    assert imported == {"analyzer.api"}


def test_the_room_list_in_the_package_docstring_names_every_room():
    described = Path(ROOT / "analyzer" / "__init__.py").read_text()
    for rooms in LAYERS:
        for room in rooms:
            if room != "analyzer":
                assert f"``{room.removeprefix('analyzer.')}``" in described, room


def test_the_plugin_api_exports_every_name_it_maps_and_imports_nothing_heavy():
    import subprocess
    import sys

    import analyzer.api as api

    assert set(api.__all__) == set(api._WHERE)
    for name in api.__all__:
        assert getattr(api, name) is not None
    code = "import sys; from analyzer.api import hookimpl; print(sorted(m for m in sys.modules if m.startswith('analyzer')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "records" not in loaded and "parsing" not in loaded  # hookimpl alone costs no more than its module
