"""Console entry point: ``analyzer`` and ``python -m analyzer``."""

import sys


def main() -> None:
    from .cli import cli

    cli()


if __name__ == "__main__":
    sys.exit(main())
