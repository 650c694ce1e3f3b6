"""The parsers every plugin registered, by name."""

from __future__ import annotations

import warnings

from analyzer.registry.manager import BrokenPlugin, broken_plugins, call_register

REQUIRED = ("name", "agent", "roots", "candidate", "recognise")


def get_parsers() -> dict[str, object]:
    """Registered parsers by name; the first registration of a name wins."""
    parsers: dict[str, object] = {}
    for parser in call_register("register_parsers"):
        name = getattr(parser, "name", None)
        missing = [attr for attr in REQUIRED if not hasattr(parser, attr)]
        mode = getattr(parser, "mode", "lines")
        missing += [m for m in ("parse",) if mode == "lines" and not hasattr(parser, m)]
        missing += [m for m in ("parse_file",) if mode == "file" and not hasattr(parser, m)]
        if missing or not name:
            broken_plugins.append(
                BrokenPlugin(str(name or parser), None, f"parser lacks {', '.join(missing) or 'a name'}")
            )
            continue
        if name in parsers:
            warnings.warn(f"two parsers are named {name!r}; keeping the first", stacklevel=2)
            continue
        parsers[name] = parser
    return parsers


def agents() -> list[str]:
    """The agent names the registered parsers read, sorted."""
    return sorted({p.agent for p in get_parsers().values()})


def agent_environment() -> list[str]:
    """Every environment variable a registered parser reads to find its logs (``env_vars``)."""
    return sorted({v for p in get_parsers().values() for v in getattr(p, "env_vars", ())})
