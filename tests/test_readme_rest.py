"""The README's REST walkthrough works pasted as written (issue #14, item 3).

The block after `<!-- rest-walkthrough -->` is run by a real bash with the real curl against a
real `mempools serve` on loopback. Only the two values a reader replaces with their own are
changed: the API address (the server listens on a free port) and the webhook URL (a loopback
one, which this server's config allows; it is never called). A `curl` shell function around the
real one writes each answer's HTTP status to stderr, so every step's status is checked.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.processes import ROOT, MempoolsProcess, write_devnet_config

README = ROOT / "README.md"
MARK = "<!-- rest-walkthrough -->"
# Each status curl answered, on stderr, in order (`%{stderr}` switches --write-out's stream). It
# comes last to win over the README's `-w "\n"`, whose newline it keeps.
STATUS_CURL = "curl() { command curl \"$@\" --write-out '\\n%{stderr}HTTP %{http_code}\\n'; }\n"
EXPECTED = [201, 201, 201, 201, 201, 200, 200, 200]  # sign-up, login, key, webhook, subscription, 3 lists


def walkthrough() -> str:
    text = README.read_text()
    assert MARK in text, f"README.md has no {MARK} block"
    m = re.search(re.escape(MARK) + r"\n```sh\n(.*?)\n```\n", text, re.S)
    assert m, f"{MARK} is not followed by a ```sh block"
    return m.group(1)


def _set(script: str, name: str, value: str) -> str:
    """The script with the value of its `NAME=...` line replaced (the one the reader edits)."""
    script, count = re.subn(rf"^{name}=\S+", f"{name}={value}", script, count=1, flags=re.M)
    assert count == 1, f"the walkthrough sets no {name}="
    return script


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (the walkthrough is curl commands)")
@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_readme_rest_walkthrough_runs_as_written(tmp_path: Path) -> None:
    config = write_devnet_config(
        tmp_path / "config.toml",
        tmp_path / "data",
        "http://127.0.0.1:9",  # no chain behind it: the walkthrough only talks to the API
        "cosmoshub-4",
        extra="[webhooks]\nallow_private_networks = true\n",
    )
    server = MempoolsProcess("serve", "--config", str(config))
    try:
        api = server.api_url()
        script = _set(_set(walkthrough(), "API", api), "HOOK", "http://127.0.0.1:9/hook")
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", STATUS_CURL + script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        statuses = [int(s) for s in re.findall(r"^HTTP (\d{3})$", done.stderr, re.M)]
        assert done.returncode == 0 and statuses == EXPECTED, (done.returncode, statuses, done.stdout, done.stderr)
    finally:
        assert server.stop() == 0, server.output

    assert (tmp_path / "cookies").read_text().count("mp_session") == 1
    destination = json.loads((tmp_path / "destination.json").read_text())
    assert destination["kind"] == "webhook" and destination["secret"].startswith("whsec_")
    answers, key = _answers(done.stdout)
    assert key.startswith("mp_")  # the echoed key
    assert answers[-1] == {"items": [], "next_cursor": None}  # no notifications yet
    assert [d["id"] for d in answers[-2]["items"]] == [destination["id"]]
    assert [(s["name"], s["preset"], s["destination_ids"]) for s in answers[-3]["items"]] == [
        ("my wallet", "funds_either", [destination["id"]])
    ]


def _answers(stdout: str) -> tuple[list[dict], str]:
    """The JSON bodies curl printed (one after another, as on a terminal) and the echoed key line."""
    key = re.search(r"^(mp_\S+)$", stdout, re.M)
    assert key, stdout
    rest = stdout.replace(key.group(0), "")
    decoder, answers, at = json.JSONDecoder(), [], 0
    while (at := _skip_space(rest, at)) < len(rest):
        value, at = decoder.raw_decode(rest, at)
        answers.append(value)
    return answers, key.group(1)


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at
