"""Console entry point: ``analyzer`` and ``python -m analyzer``.

``analyzer statusline`` and the Claude Code hook run on every render or turn of
the agent, so they are dispatched here, before click and pluggy are imported;
anything they do not handle themselves (``--help``, unknown options) falls
through to the click command of the same name.
"""

import sys

FAST_COMMANDS = ("statusline", "claude-code-hook")


def main() -> int | None:
    argv = sys.argv[1:]
    if argv and argv[0] in FAST_COMMANDS:
        from analyzer.plugins.claude_code.fast import dispatch

        code = dispatch(argv)
        if code is not None:
            return code
    from analyzer.cli import cli

    cli()
    return None


if __name__ == "__main__":
    sys.exit(main())
