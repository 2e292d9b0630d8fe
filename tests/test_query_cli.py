"""`mempools query ...`: check, eval (JSON lines), presets."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mempools.cli import main
from mempools.commands.query import run_eval

MEMPOOLS = Path(sys.executable).parent / "mempools"


def test_check_prints_normal_form(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "check", "tm.event='Tx' AND transfer.amount>=100"]) == 0
    out, err = capsys.readouterr()
    assert out == "tm.event = 'Tx' AND transfer.amount >= 100\n" and err == ""


def test_check_reports_position_and_caret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "check", "tm.event = 'Tx' AND transfer.amount >= 'x'"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("invalid query: expected a number") and lines[0].endswith(" at 39")
    assert lines[1] == "tm.event = 'Tx' AND transfer.amount >= 'x'"
    assert lines[2] == " " * 39 + "^"


def test_check_length_limit(capsys: pytest.CaptureFixture[str]) -> None:
    long = "a.b = '" + "x" * 600 + "'"
    assert main(["query", "check", long]) == 2
    assert "longer than 512 bytes" in capsys.readouterr().err
    assert main(["query", "check", "--no-length-limit", long]) == 0


def _eval(data: bytes) -> list[dict]:
    out = io.BytesIO()
    assert run_eval(io.BytesIO(data), out) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_eval_answers_every_line_in_order() -> None:
    lines = [
        {"query": "tm.event = 'Tx'", "events": {"tm.event": ["Tx"]}},
        {"query": "transfer.amount > 100", "events": {"transfer.amount": ["100uatom"]}},
        {"query": "transfer.amount >", "events": {}},
        {"query": "message EXISTS", "events": {"message.sender": ["x"]}},
        {"query": "a.b EXISTS", "events": {"a.b": "not-a-list"}},
        {"events": {}},
        {"query": "a.b EXISTS", "events": {"a.b": ["1"]}, "extra": "ignored"},
    ]
    data = b"\n".join(json.dumps(x).encode() for x in lines)
    data += b"\n\n   \r\nnot json\n[1,2]\n" + json.dumps(lines[0]).encode() + b"\r\n"
    got = _eval(data)
    assert len(got) == 12
    assert got[0] == {"match": True}
    assert got[1] == {"match": False}
    assert got[2]["error"].startswith("invalid query: expected a number") and got[2]["error"].endswith("at 17")
    assert got[3] == {"match": True}
    assert got[4]["error"].startswith("malformed line")
    assert got[5]["error"].startswith("malformed line") and "query" in got[5]["error"]
    assert got[6] == {"match": True}
    assert got[7]["error"].startswith("blank line") and got[8]["error"].startswith("blank line")
    assert got[9]["error"].startswith("malformed line") and got[10]["error"].startswith("malformed line")
    assert got[11] == {"match": True}


def test_eval_survives_hostile_lines() -> None:
    data = (
        b'{"query": "a.b = \'\\u0000\'", "events": {"a.b": ["\\u0000"]}}\n'
        + b"\xff\xfe garbage\n"
        + json.dumps({"query": "a.b EXISTS AND " * 2000 + "a.b EXISTS", "events": {"a.b": ["1"]}}).encode()
        + b"\n"
        + json.dumps({"query": "a.b = '" + "x" * 10_000, "events": {}}).encode()
    )
    got = _eval(data)
    assert got[0] == {"match": True}
    assert "malformed" in got[1]["error"]
    assert "longer than 512 bytes" in got[2]["error"]
    assert "longer than 512 bytes" in got[3]["error"]


def test_eval_entry_point_flushes_each_answer() -> None:
    proc = subprocess.Popen(
        [str(MEMPOOLS), "query", "eval"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for query, expected in (("a.b = 1", True), ("a.b = 2", False), ("a.b =", None)):
            line = json.dumps({"query": query, "events": {"a.b": ["1"]}}) + "\n"
            proc.stdin.write(line.encode())
            proc.stdin.flush()
            answer = json.loads(proc.stdout.readline())  # would block if not flushed
            assert answer == ({"match": expected} if expected is not None else answer) and (
                expected is not None or "error" in answer
            )
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()


def test_presets_listing_and_generation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "presets"]) == 0
    out = capsys.readouterr().out
    assert "funds_received: Funds received" in out and "address [address, required]" in out
    addr = "osmo1ddl9hnacgqfls5xgm7jy30uvc3lll4jdrdk35n"
    assert main(["query", "preset", "funds_received", f"address={addr}", "--prefix", "osmo"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"transfer.recipient = '{addr}'",
        f"fungible_token_packet.receiver = '{addr}'",
        f'post-filter: {{"recipient":"{addr}","exclude_recipient":"osmo17xpfvakm2amg962yls6f84z3kell8c5lczssa0",'
        '"also_keys":["fungible_token_packet.receiver"]}',
    ]
    assert main(["query", "preset", "funds_received", f"address={addr}", "min_amount=5", "denom=uosmo"]) == 0
    assert "post-filter:" in capsys.readouterr().out
    assert main(["query", "preset", "funds_received", f"address={addr}", "--prefix", "cosmos"]) == 2
    assert "cosmos1" in capsys.readouterr().err
    assert main(["query", "preset", "funds_received", "address"]) == 2
    assert main(["query", "preset", "nope"]) == 2
