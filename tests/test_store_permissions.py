"""The data directory and backups hold webhook secrets: owner-only (0700 directories, 0600 files).

Every test runs under the common umask 022, which would leave RocksDB's files world-readable, and
checks the modes with os.stat after a real open, checkpoint, CLI backup/restore or served backup.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.store import open_store
from tests.processes import ROOT, MempoolsProcess


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _modes(directory: Path) -> dict[str, int]:
    """Mode bits of `directory` ("." ) and of everything in it."""
    found = {".": stat.S_IMODE(directory.stat().st_mode)}
    for entry in directory.rglob("*"):
        found[str(entry.relative_to(directory))] = stat.S_IMODE(entry.lstat().st_mode)
    return found


def _assert_owner_only(directory: Path) -> None:
    modes = _modes(directory)
    assert modes.pop(".") == 0o700, f"{directory} is {oct(stat.S_IMODE(directory.stat().st_mode))}"
    assert modes, f"{directory} is empty"
    loose = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert not loose, f"readable by group or others in {directory}: {loose}"


def _mempools(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMPOOLS_")}
    return subprocess.run(
        [sys.executable, "-m", "mempools", *args],
        cwd=ROOT,
        env={**env, "MEMPOOLS_STORE__PATH": str(data)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_new_data_directory_and_its_files_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = open_store(data)
    try:
        store.put(b"dst\x00secret", b"whsec_...")
    finally:
        store.close()
    _assert_owner_only(data)


def test_a_loose_existing_data_directory_is_warned_about_and_its_files_tightened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    open_store(data).close()
    os.chmod(data, 0o755)
    for entry in data.iterdir():
        os.chmod(entry, 0o644)  # as an older mempools left them
    with caplog.at_level(logging.WARNING, logger="mempools.store"):
        open_store(data).close()
    (record,) = [r for r in caplog.records if r.name == "mempools.store"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"data directory {data} is accessible by group or others (mode 0755) and holds webhook secrets: "
        f"chmod 700 {data}"
    )
    assert stat.S_IMODE(data.stat().st_mode) == 0o755  # the operator's choice is left, but said out loud
    assert all(stat.S_IMODE(e.stat().st_mode) == 0o600 for e in data.iterdir())


def test_a_checkpoint_is_owner_only(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data")
    try:
        store.put(b"dst\x00secret", b"whsec_...")
        store.checkpoint(tmp_path / "backup")
    finally:
        store.close()
    _assert_owner_only(tmp_path / "backup")


def test_cli_backup_and_restore_write_owner_only_directories(tmp_path: Path) -> None:
    data, backup, restored = tmp_path / "data", tmp_path / "backup", tmp_path / "restored"
    store = open_store(data)
    store.put(b"dst\x00secret", b"whsec_...")
    store.close()
    done = _mempools("backup", str(backup), data=data)
    assert done.returncode == 0, done.stderr
    _assert_owner_only(backup)
    done = _mempools("restore", str(backup), data=restored)
    assert done.returncode == 0, done.stderr
    _assert_owner_only(restored)
    # A backup written by an older mempools (0755 / 0644) still restores owner-only, without a warning.
    os.chmod(backup, 0o755)
    for entry in backup.iterdir():
        os.chmod(entry, 0o644)
    again = tmp_path / "again"
    done = _mempools("restore", str(backup), data=again)
    assert done.returncode == 0 and "chmod 700" not in done.stderr, done.stderr
    _assert_owner_only(again)


def test_serving_process_files_socket_and_online_backup_are_owner_only(tmp_path: Path) -> None:
    data, backup = tmp_path / "data", tmp_path / "backup"
    server = MempoolsProcess("serve", env={"MEMPOOLS_STORE__PATH": str(data), "MEMPOOLS_API__PORT": "0"})
    try:
        server.api_url()
        done = _mempools("backup", str(backup), data=data)
        assert done.returncode == 0, done.stderr + server.output
        assert "backup of the running instance written to" in done.stdout
        assert stat.S_IMODE((data / "control.sock").lstat().st_mode) == 0o600
        _assert_owner_only(data)
        _assert_owner_only(backup)
    finally:
        assert server.stop() == 0, server.output
