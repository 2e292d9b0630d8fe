"""Start real `mempools` processes for tests, read their port from the log, stop or kill them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_SERVING = re.compile(r"serving the API on http://([\d.]+):(\d+)")


class MempoolsProcess:
    """`python -m mempools ARGS` with its stderr collected in the background."""

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, preexec_fn: Callable[[], None] | None = None
    ) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("MEMPOOLS_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mempools", *args],
            cwd=ROOT,
            env={**base, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=preexec_fn,  # e.g. lower a resource limit of the child only
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if m := regex.search(line):
                    return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not seen; output so far:\n{self.output}")

    def api_url(self, timeout: float = 30) -> str:
        m = self.wait_for(_SERVING.pattern, timeout)
        return f"http://{m.group(1)}:{m.group(2)}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._reader.join(5)


def write_devnet_config(
    path: Path, data: Path, rpc: str, chain_id: str, *, extra: str = "", chain_extra: str = ""
) -> Path:
    """A config for `mempools serve` watching one devnet chain from height 1, API on a free port.

    `extra` adds top-level tables; `chain_extra` adds keys to the chain's table."""
    path.write_text(
        f'[api]\nport = 0\n[store]\npath = "{data}"\n{extra}'
        f'[[chains]]\nid = "{chain_id}"\nname = "Devnet"\nrpc = ["{rpc}"]\n'
        f'bech32_prefix = "cosmos"\nstart_height = 1\n{chain_extra}'
        '[[chains.denoms]]\nbase = "uatom"\ndisplay = "ATOM"\nexponent = 6\n'
    )
    return path


class DevnetProcess(MempoolsProcess):
    """`mempools devnet` with a fixed history and seed, made at once (block time 0), on a free port.

    `reference()` is the same chain in-process, to compute what a correct watcher must produce.
    """

    def __init__(self, chain_id: str, *, history: int, seed: int, txs_per_block: int) -> None:
        super().__init__(
            "devnet", "--port", "0", "--block-time", "0", "--history", str(history), "--seed", str(seed),
            "--txs-per-block", str(txs_per_block), "--chain-id", chain_id,
        )  # fmt: skip
        self.config = (chain_id, history, seed, txs_per_block)

    def url(self, timeout: float = 30) -> str:
        return self.wait_for(r"serving (http://\S+)", timeout).group(1)

    def reference(self):  # -> mempools.devnet.chain.DevnetChain
        from mempools.devnet.chain import ChainConfig, DevnetChain

        chain_id, history, seed, txs = self.config
        return DevnetChain(ChainConfig(chain_id=chain_id, block_time=0, history=history, txs_per_block=txs, seed=seed))
