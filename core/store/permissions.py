"""Owner-only modes for the data directory and backups: they hold webhook signing secrets.

RocksDB has no option for file modes: it creates every file (SST, WAL, MANIFEST, OPTIONS, LOG)
with the process umask, at open and later from its background threads. So the store tightens
what exists after an open or a checkpoint (`restrict_files`), and the `mempools` command sets a
umask of 077 for its whole process (mempools/cli.py) so files RocksDB makes later are born
owner-only too. A library function must not change a process-wide umask behind its caller's
back, and a temporary umask around `open` would race with every other thread of the process.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
PRIVATE_UMASK = 0o077


def create_private_dir(path: Path) -> bool:
    """Create `path` (and missing parents) as 0700; False if it already existed (left as it is)."""
    try:
        path.mkdir(mode=PRIVATE_DIR, parents=True)
    except FileExistsError:
        return False
    os.chmod(path, PRIVATE_DIR)  # mkdir's mode is filtered by the umask; say it exactly
    return True


def loose_mode(path: Path) -> int | None:
    """`path`'s permission bits if group or others have any, else None."""
    mode = stat.S_IMODE(path.stat().st_mode)
    return mode if mode & 0o077 else None


def restrict_files(directory: Path) -> None:
    """Every regular file directly in `directory` to 0600 (RocksDB directories are flat)."""
    for entry in os.scandir(directory):
        if entry.is_file(follow_symlinks=False) and stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode) & 0o077:
            os.chmod(entry.path, PRIVATE_FILE)


def make_private(directory: Path) -> None:
    """A directory we just wrote (a backup): 0700 itself, 0600 its files."""
    os.chmod(directory, PRIVATE_DIR)
    restrict_files(directory)
