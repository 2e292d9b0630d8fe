"""`mempools demo` headless: it starts, notifications arrive signed, and it stops by itself."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.processes import ROOT


def test_demo_runs_headless_and_receives_notifications() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mempools", "demo", "--port", "0", "--seconds", "8", "--block-time", "0.4"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Mempools demo: a local chain, the server and a webhook receiver, all offline." in out
    assert re.search(r"key: mp_\S+", out)
    lines = [line for line in out.splitlines() if line.endswith("[signature ok]")]
    assert len(lines) >= 3, out
    assert any(" ATOM " in line for line in lines)  # amounts in display denom
    assert "SIGNATURE INVALID" not in out
    received = int(re.search(r"demo stopped: (\d+) notifications received", out).group(1))  # type: ignore[union-attr]
    assert received == len(lines)
    assert "Traceback" not in proc.stderr
