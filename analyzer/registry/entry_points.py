"""Third-party plugins: the ``analyzer`` entry points of the installed distributions.

Every command pays for this look-up at start-up, so it reads the installed
distributions' ``entry_points.txt`` files directly (an INI file, read by
``configparser``) instead of through ``importlib.metadata``, whose import alone
costs tens of milliseconds. The first distribution of a name on ``sys.path``
wins, as imports do.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import NamedTuple

GROUP = "analyzer"


class EntryPoint(NamedTuple):
    """``name = target`` in the ``analyzer`` group of a distribution."""

    distribution: str
    version: str
    name: str
    target: str  # "module:attribute.path"


def entry_points() -> list[EntryPoint]:
    """Every ``analyzer`` entry point of the distributions on ``sys.path``."""
    found = []
    seen: set[str] = set()
    for folder, entry in _metadata_dirs():
        try:
            with open(os.path.join(folder, entry, "entry_points.txt"), encoding="utf-8") as f:
                text = f.read()
        except OSError:
            continue
        if f"[{GROUP}]" not in text:
            continue
        name, version = _declared_name(os.path.join(folder, entry)) or _name_version(entry)
        if _normal(name) in seen:
            continue
        seen.add(_normal(name))
        from configparser import ConfigParser, Error  # only once a distribution has plugins

        parser = ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # entry point names are case-sensitive
        try:
            parser.read_string(text)
        except Error:
            continue
        found.extend(EntryPoint(name, version, key, value) for key, value in parser.items(GROUP))
    return found


def installed_version(distribution: str) -> str | None:
    """The version of an installed distribution (what ``importlib.metadata.version`` answers)."""
    wanted = _normal(distribution)
    for _, entry in _metadata_dirs():
        name, version = _name_version(entry)
        if _normal(name) == wanted:
            return version
    return None


def _name_version(entry: str) -> tuple[str, str]:
    """Name and version from a ``name-version.dist-info`` (or ``.egg-info``) folder name."""
    stem = entry.rsplit(".", 1)[0]
    name, _, version = stem.partition("-")
    return name, version.split("-")[0] or "?"


def _declared_name(meta_dir: str) -> tuple[str, str] | None:
    """Name and version as the distribution spells them (its METADATA or PKG-INFO header)."""
    for meta in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(meta_dir, meta), encoding="utf-8") as f:
                header = {}
                for line in f:
                    if not line.strip():
                        break
                    key, _, value = line.partition(":")
                    header[key.strip()] = value.strip()
        except OSError:
            continue
        if header.get("Name"):
            return header["Name"], header.get("Version", "?")
    return None


def _normal(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _metadata_dirs() -> Iterator[tuple[str, str]]:
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
