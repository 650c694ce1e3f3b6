"""Argument handling for the commands ``analyzer.__main__`` runs before click is imported.

Only the plain forms are handled here (``--db PATH``, ``--db=PATH`` and each
command's own options); anything else, ``--help`` included, returns None and
the click command of the same name takes over.
"""

from __future__ import annotations

OPTIONS = {
    "statusline": {"--db": True, "--then": True},
    "claude-code-hook": {"--db": True, "--run": False},
}


def parse(command: str, args: list[str]) -> dict | None:
    """``{"--db": "x", "--run": True}`` for known options, None for anything else."""
    known = OPTIONS[command]
    out: dict = {}
    i = 0
    while i < len(args):
        name, eq, value = args[i].partition("=")
        if name not in known:
            return None
        if known[name]:
            if not eq:
                if i + 1 >= len(args):
                    return None
                i += 1
                value = args[i]
            out[name] = value
        elif eq:
            return None
        else:
            out[name] = True
        i += 1
    return out


def dispatch(argv: list[str]) -> int | None:
    """Run a fast command; None means "let click handle these arguments"."""
    command = argv[0]
    opts = parse(command, argv[1:])
    if opts is None:
        return None
    if command == "statusline":
        from analyzer.plugins.claude_code.statusline import main

        return main(opts.get("--db"), opts.get("--then"))
    from analyzer.plugins.claude_code import hook

    if opts.get("--run"):
        return hook.run(opts.get("--db"))
    return hook.trigger(opts.get("--db"))
