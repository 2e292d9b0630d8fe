"""`mempools backup DIR` and `mempools restore DIR`: consistent copies of the data directory.

A backup of a running instance is taken by that instance (through the control socket), since
only it sees what is not yet flushed; a stopped instance's store is opened and checkpointed
directly. Restoring needs the instance stopped.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from core.config import load_config
from core.errors import StoreError, StoreLockedError
from core.store import RocksStore, open_store
from core.store.permissions import make_private
from core.store.schema import SCHEMA_KEY, SCHEMA_VERSION
from mempools.control import call, socket_path


def register(sub: argparse._SubParsersAction) -> None:
    backup = sub.add_parser("backup", help="write a consistent copy of the data directory (works while serving)")
    backup.add_argument("target", metavar="DIR", help="new directory to write the backup to")
    backup.add_argument("--config", metavar="PATH", help="TOML config file (default: built-in defaults)")
    backup.set_defaults(handler=_backup)
    restore = sub.add_parser("restore", help="replace the data directory with a backup (mempools must be stopped)")
    restore.add_argument("source", metavar="DIR", help="a directory written by `mempools backup`")
    restore.add_argument("--config", metavar="PATH", help="TOML config file (default: built-in defaults)")
    restore.add_argument("--force", action="store_true", help="move an existing data directory aside first")
    restore.set_defaults(handler=_restore)


def _backup(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    target = Path(args.target).resolve()
    if target.exists():
        raise StoreError(f"backup target {target} already exists")
    try:
        store = open_store(config.store.path)
    except StoreLockedError:
        call(socket_path(config.store.path), "backup", path=str(target))
        print(f"backup of the running instance written to {target}")
        return 0
    try:
        store.checkpoint(target)
    finally:
        store.close()
    print(f"backup written to {target}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    source = Path(args.source)
    _check_backup(source)
    data = Path(config.store.path)
    store = None
    if data.exists():
        store = open_store(data)  # raises the "in use by another mempools process" error if running
        store.close()
        if any(data.iterdir()):
            if not args.force:
                raise StoreError(f"data directory {data} is not empty: pass --force to move it aside")
            aside = data.with_name(f"{data.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
            data.rename(aside)
            print(f"moved the old data directory to {aside}")
        else:
            data.rmdir()
    shutil.copytree(source, data)
    make_private(data)  # a backup from an older mempools may be 0755/0644: the new directory is ours
    open_store(data).close()
    print(f"restored {source} into {data}")
    return 0


def _check_backup(source: Path) -> None:
    if not (source / "CURRENT").is_file():
        raise StoreError(f"{source} is not a mempools backup (no RocksDB files)")
    store = RocksStore(source, read_only=True)
    try:
        raw = store.get(SCHEMA_KEY)
    finally:
        store.close()
    if raw is None:
        raise StoreError(f"{source} is not a mempools backup (no schema version)")
    if int(raw) > SCHEMA_VERSION:
        raise StoreError(f"{source} was written by a newer mempools (schema version {int(raw)}): upgrade first")
