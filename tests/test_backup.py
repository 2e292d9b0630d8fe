"""`mempools backup` under load and `mempools restore` into a working instance."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from core.store import open_store
from core.store.repositories import Repositories
from tests.processes import ROOT, DevnetProcess, MempoolsProcess, write_devnet_config
from tests.test_watcher import CHAIN_ID, expected_notifications
from tests.test_watcher_crash import _seed_store

HISTORY = 2500
SEED = 5


def _mempools(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mempools", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def _processed_height(url: str) -> int:
    """The chain's last fully processed height, as /metrics shows it (0 before the first block)."""
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=5).text):
        for sample in family.samples:
            if sample.name == "mempools_chain_height" and sample.labels.get("chain") == CHAIN_ID:
                return int(sample.value)
    return 0


def _config(tmp_path: Path, name: str, data: Path, rpc: str) -> Path:
    return write_devnet_config(tmp_path / name, data, rpc, CHAIN_ID)


def test_backup_under_load_restores_to_a_working_instance(tmp_path: Path) -> None:
    devnet = DevnetProcess(CHAIN_ID, history=HISTORY, seed=SEED, txs_per_block=4)
    try:
        rpc = devnet.url()
        reference = devnet.reference()
        data = tmp_path / "data"
        subs = _seed_store(data, reference)
        config = _config(tmp_path, "a.toml", data, rpc)
        server = MempoolsProcess("serve", "--config", str(config))
        backup = tmp_path / "backup"
        try:
            url = server.api_url()
            deadline = time.monotonic() + 60
            while _processed_height(url) < 50:  # catching up: writes are flowing
                assert time.monotonic() < deadline, server.output
                time.sleep(0.05)
            done = _mempools("backup", str(backup), "--config", str(config))
            assert done.returncode == 0, done.stderr
            assert "backup of the running instance written to" in done.stdout
            again = _mempools("backup", str(backup), "--config", str(config))
            assert again.returncode == 2 and "already exists" in again.stderr
            # Restoring over a running instance is refused with the usual lock message.
            busy = _mempools("restore", str(backup), "--config", str(config), "--force")
            assert busy.returncode == 2 and "in use by another mempools process" in busy.stderr
        finally:
            assert server.stop() == 0

        restored = tmp_path / "restored"
        config_b = _config(tmp_path, "b.toml", restored, rpc)
        done = _mempools("restore", str(backup), "--config", str(config_b))
        assert done.returncode == 0, done.stderr
        store = open_store(restored)
        try:
            repos = Repositories(store)
            at = repos.cursors.get(CHAIN_ID).height
            assert at > 1
            # The backup is consistent: exactly the notifications of the heights it had processed.
            assert {n.id for n in repos.notifications.scan()} == expected_notifications(
                reference, subs, range(1, at + 1)
            )
        finally:
            store.close()

        # ...and the restored instance runs on from there.
        second = MempoolsProcess("serve", "--config", str(config_b))
        try:
            url = second.api_url()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(second.output)
        finally:
            assert second.stop() == 0
    finally:
        devnet.kill()


def test_backup_of_a_stopped_instance_and_restore_rules(tmp_path: Path) -> None:
    data = tmp_path / "data"
    open_store(data).close()
    config = tmp_path / "c.toml"
    config.write_text(f'chains = []\n[store]\npath = "{data}"\n')
    assert _mempools("backup", str(tmp_path / "b1"), "--config", str(config)).returncode == 0
    refused = _mempools("restore", str(tmp_path / "b1"), "--config", str(config))
    assert refused.returncode == 2 and "--force" in refused.stderr
    forced = _mempools("restore", str(tmp_path / "b1"), "--config", str(config), "--force")
    assert forced.returncode == 0 and "moved the old data directory" in forced.stdout
    bogus = tmp_path / "bogus"
    bogus.mkdir()
    bad = _mempools("restore", str(bogus), "--config", str(config), "--force")
    assert bad.returncode == 2 and "is not a mempools backup" in bad.stderr
