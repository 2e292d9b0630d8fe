"""The `mempools` command line.

Each sub-command lives in its own module under `mempools.commands` and exposes
`register(subparsers)`; this module only assembles them, so adding a command never
means editing another one's code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from core.errors import MempoolsError, UserError
from core.store.permissions import PRIVATE_UMASK
from mempools.commands import COMMAND_MODULES


class CommandError(UserError):
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


def run() -> int:
    """The process entry point (`mempools`, `python -m mempools`): owner-only files, then `main`.

    RocksDB creates its files (from background threads, at any time) with the process umask and
    offers no mode option, and they and the backups hold webhook secrets, so the whole process
    runs with umask 077. Only the entry point may change such a process-wide setting: `main`
    stays callable in-process (tests, embedding) without touching the caller's umask.
    """
    os.umask(PRIVATE_UMASK)
    return main()


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
    sys.exit(run())
