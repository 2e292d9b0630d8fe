"""`mempools devnet --help` says the default of every option that has one."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

from mempools.cli import build_parser
from tests.processes import ROOT


def _devnet_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["devnet"]


def test_devnet_help_shows_every_default() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mempools", "devnet", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    # One entry per option: a line starting "  -" and its wrapped continuation lines.
    entries = re.split(r"\n(?=  -)", proc.stdout.split("options:", 1)[1])
    helps = {entry.split()[0].rstrip(","): " ".join(entry.split()) for entry in entries if entry.strip()}
    options = [a for a in _devnet_parser()._actions if a.option_strings and a.nargs != 0]
    assert len(options) >= 15
    for action in options:
        shown = helps[action.option_strings[0]]
        assert "(default: " in shown, shown
        if action.default not in (None, []):
            assert f"(default: {action.default}" in shown, shown
    text = " ".join(proc.stdout.split())
    for shown in ("(default: 26657", "(default: devnet-1)", "(default: 1.0)", "(default: 127.0.0.1)"):
        assert shown in text
