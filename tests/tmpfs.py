"""A small real tmpfs for disk-full tests, and a ballast file that fills it.

Mounting needs root (CI runs as root); elsewhere the tests that need it skip with the reason.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import StoreUnavailableError
from core.store import KVStore


@contextlib.contextmanager
def small_tmpfs(where: Path, megabytes: int) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(where)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path) -> Path:
    """Write a ballast file until the filesystem has no space left; returns it (delete to free)."""
    ballast = directory / "ballast"
    with ballast.open("wb", buffering=0) as f:
        for size in (1 << 20, 65536, 4096, 1):  # big chunks first, then the last partial pages
            with contextlib.suppress(OSError):
                while True:
                    f.write(bytes(size))
    return ballast


def fill_until_refused(directory: Path, store: KVStore) -> Path:
    """`fill`, then make sure `store` has met the full disk; returns the ballast.

    Right after `fill` the last page of RocksDB's log may still take a small write or two; a
    1 MiB write cannot fit, so it is refused (and, being refused, leaves nothing behind).
    """
    ballast = fill(directory)
    with pytest.raises(StoreUnavailableError):
        store.put(b"\xffdisk-full-probe", bytes(1 << 20))
    return ballast
