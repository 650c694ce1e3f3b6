"""Packaging that pyproject.toml cannot say: one installed package, ``analyzer``.

The repository keeps the design card's top-level folders (``parsers/``, ``plugins/``,
``fixtures/sample/``) but installs them inside ``analyzer`` (``analyzer.parsers``,
``analyzer.plugins``, ``analyzer.sample``), so no generic top-level name ever meets another
project's. The package list is found, not written: a new parser subpackage needs no entry here.
"""

import os

from setuptools import find_packages, setup

MAPPED = {"analyzer.parsers": "parsers", "analyzer.plugins": "plugins", "analyzer.sample": "fixtures/sample"}


def packages() -> list[str]:
    found = find_packages(include=["analyzer", "analyzer.*"])
    for name, folder in MAPPED.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(where=folder)]
    return found


def sample_files() -> list[str]:
    """Every file of the sample home, hidden folders included (globs would skip them)."""
    root = os.path.join("fixtures", "sample")
    return [
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _, names in os.walk(os.path.join(root, "home"))
        for name in names
    ]


setup(
    packages=packages(),
    package_dir=MAPPED,
    package_data={
        "analyzer.pricing": ["prices.json"],
        "analyzer.plans": ["plans.json"],
        "analyzer.sample": sample_files(),
        "analyzer.plugins.claude_code": ["hooks/*.json", "commands/*.md", ".claude-plugin/*.json"],
    },
)
