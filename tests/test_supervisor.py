"""The supervisor: a failing part is restarted with backoff and reported; the others go on."""

from __future__ import annotations

import asyncio

import pytest

from mempools.supervisor import Supervisor


async def test_a_failing_part_is_restarted_and_reported_while_others_run(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    runs = {"flaky": 0, "steady": 0}
    recovered = asyncio.Event()

    async def flaky(stop: asyncio.Event) -> None:
        runs["flaky"] += 1
        if runs["flaky"] <= 2:
            raise RuntimeError(f"boom {runs['flaky']}")
        recovered.set()
        await stop.wait()

    async def steady(stop: asyncio.Event) -> None:
        runs["steady"] += 1
        await stop.wait()

    supervisor = Supervisor(min_backoff=0.05, max_backoff=0.2)
    supervisor.start("flaky", flaky, stop)
    supervisor.start("steady", steady, stop)
    await asyncio.wait_for(recovered.wait(), 5)
    state = supervisor.parts["flaky"]
    assert state.status == "running" and state.restarts == 2 and state.last_error == "RuntimeError: boom 2"
    assert runs["steady"] == 1 and supervisor.parts["steady"].restarts == 0
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert [e.split(";")[0] for e in errors] == [
        "flaky failed (RuntimeError: boom 1)",
        "flaky failed (RuntimeError: boom 2)",
    ]
    stop.set()
    await supervisor.wait(timeout=2)
    assert {p.status for p in supervisor.parts.values()} == {"stopped"}


async def test_a_part_that_ignores_stop_is_cancelled_at_the_deadline() -> None:
    stop, running = asyncio.Event(), asyncio.Event()

    async def stubborn(stop: asyncio.Event) -> None:
        running.set()
        await asyncio.sleep(3600)

    supervisor = Supervisor()
    supervisor.start("stubborn", stubborn, stop)
    await asyncio.wait_for(running.wait(), 5)
    stop.set()
    await asyncio.wait_for(supervisor.wait(timeout=0.2), 2)
