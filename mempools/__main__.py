import sys

from mempools.cli import run

sys.exit(run())
