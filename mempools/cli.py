"""The `mempools` command line.

Each sub-command lives in its own module under `mempools.commands` and exposes
`register(subparsers)`; this module only assembles them, so adding a command never
means editing another one's code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core.errors import MempoolsError
from mempools.commands import COMMAND_MODULES


class CommandError(MempoolsError):
    """A user-facing failure: printed as one line, exit code 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mempools",
        description="Notifications for Cosmos (CometBFT) chains.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except MempoolsError as exc:
        print(f"mempools: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
