"""`mempools serve` (`make run`) on a machine that cannot reach any RPC endpoint.

A real process with a config whose only endpoint is a closed loopback port: the log says what
to check and points at `mempools demo`, and /v1/chains says the chain is unreachable and why
instead of "starting" forever.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import MempoolsProcess, write_devnet_config


def _closed_port() -> int:
    """A loopback port nothing listens on (bound then released, never listened)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def offline_server(tmp_path: Path) -> Iterator[tuple[MempoolsProcess, str]]:
    """`mempools serve` whose one chain's only endpoint is a closed loopback port; and that URL."""
    rpc = f"http://127.0.0.1:{_closed_port()}"
    config = write_devnet_config(tmp_path / "config.toml", tmp_path / "data", rpc, "offline-1")
    server = MempoolsProcess("serve", "--config", str(config))
    try:
        yield server, rpc
    finally:
        assert server.stop() == 0, server.output


def test_serve_offline_log_points_at_the_demo(offline_server: tuple[MempoolsProcess, str]) -> None:
    server, _ = offline_server
    line = server.wait_for(r"offline-1: no RPC endpoint can be reached.*", timeout=30).group(0)
    assert "is this machine online, are [[chains]] rpc URLs right?" in line
    assert "to try Mempools offline, run `mempools demo`" in line


def test_chains_say_an_unreachable_chain_is_unreachable_and_why(offline_server: tuple[MempoolsProcess, str]) -> None:
    server, rpc = offline_server
    base = server.api_url()
    server.wait_for(r"offline-1: no RPC endpoint can be reached", timeout=30)  # the watcher's first failure
    deadline = time.monotonic() + 30
    while True:  # the log line comes from the same failure that sets the status; allow for the order
        chain = httpx.get(f"{base}/v1/chains", timeout=5).json()["items"][0]
        if chain["status"] != "starting" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert chain["id"] == "offline-1"
    assert chain["status"] == "unreachable", chain
    assert chain["status_detail"].startswith("no RPC endpoint answered yet: "), chain
    assert rpc in chain["status_detail"], chain
    assert chain["tip"] == 0
