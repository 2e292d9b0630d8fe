"""`mempools` as a user runs it: help, serve, clean stop on signals, clear startup errors."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import ROOT, MempoolsProcess

NO_CHAINS = "chains = []\n"


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'{NO_CHAINS}[api]\nport = 0\n[store]\npath = "{tmp_path / "data"}"\n{extra}')
    return path


def test_help_lists_the_commands() -> None:
    proc = subprocess.run([sys.executable, "-m", "mempools", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("serve", "query", "devnet"):
        assert command in proc.stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_health_and_stops_cleanly(tmp_path: Path, sig: int) -> None:
    server = MempoolsProcess("serve", "--config", str(_config(tmp_path)))
    try:
        url = server.api_url()
        health = httpx.get(f"{url}/health", timeout=5)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        started = time.monotonic()
        rc = server.stop(sig)
        assert rc == 0, server.output
        assert time.monotonic() - started < 5
        assert "Traceback" not in server.output
    finally:
        server.kill()
    # The data directory was released: a new process can open it at once.
    again = MempoolsProcess("serve", "--config", str(_config(tmp_path)))
    try:
        again.api_url()
    finally:
        assert again.stop() == 0


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = _config(tmp_path).read_text().replace("port = 0", f"port = {port}")
        (tmp_path / "config.toml").write_text(config)
        proc = subprocess.run(
            [sys.executable, "-m", "mempools", "serve", "--config", str(tmp_path / "config.toml")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2
    assert f"api: cannot listen on 127.0.0.1:{port}: Address already in use" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_command_is_a_usage_error() -> None:
    proc = subprocess.run([sys.executable, "-m", "mempools", "frobnicate"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
