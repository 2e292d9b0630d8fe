"""`mempools query`: not wired yet."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # pragma: no cover - placeholder
    sub.add_parser("query", help="(not available yet)").set_defaults(handler=lambda args: 2)
