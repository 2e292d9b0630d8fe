"""Sub-commands of the `mempools` CLI, one module each, each exposing `register(subparsers)`."""

from __future__ import annotations

from mempools.commands import backup, cluster, demo, devnet, query, serve

COMMAND_MODULES = (serve, demo, query, devnet, backup, cluster)
