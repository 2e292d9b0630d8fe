"""`mempools demo` headless: it starts, notifications arrive signed, and it stops by itself."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

from tests.processes import ROOT, MempoolsProcess


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


def test_demo_on_a_taken_port_says_so_and_exits_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "mempools", "demo", "--port", str(port), "--seconds", "30"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""  # no banner pointing at the other program, no "0 notifications received"
    assert proc.stderr.splitlines() == [
        f"mempools: demo: port {port} on 127.0.0.1 is already in use (another program listens there); "
        "pick another with --port N (--port 0 picks a free one)"
    ]


def test_demo_prints_a_curl_that_works_pasted_into_a_shell_and_labels_its_columns(tmp_path: Path) -> None:
    demo = MempoolsProcess("demo", "--port", "0", "--seconds", "60", "--block-time", "0.3")
    try:
        curl = demo.wait_for(r"^  try      (curl .*)$", timeout=60).group(1)
        assert re.fullmatch(
            r"curl -H 'Authorization: Bearer mp_\S+' 'http://127\.0\.0\.1:\d+/v1/notifications\?limit=5'", curl
        )
        header = demo.wait_for(r"^  height ", timeout=30).group(0)
        row = demo.wait_for(r"^  #\d+ .*\[signature ok\]$", timeout=60).group(0)
        lines = demo.output.splitlines()
        header_line = next(line for line in lines if line.startswith(header))
        assert header_line.split() == ["height", "subscription", "what", "happened", "[signature]"]
        # The columns line up: the height under "height", the subscription under "subscription".
        assert header_line.index("height") == row.index("#") == 2
        column = header_line.index("subscription")
        assert row[column - 1] == " " and row[column] != " ", (header_line, row)
        # zsh refuses an unquoted `?` ("no matches found"): bash with failglob fails the same way.
        for shell in (["sh", "-c"], ["bash", "-O", "failglob", "-c"]):
            ran = subprocess.run(
                [*shell, curl + " --silent --show-error --fail"], cwd=tmp_path, capture_output=True, timeout=30
            )
            assert ran.returncode == 0, (shell, ran.stderr)
            assert isinstance(json.loads(ran.stdout), (dict, list))
    finally:
        demo.stop()
