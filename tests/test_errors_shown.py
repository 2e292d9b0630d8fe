"""A failure that is nobody's input (a bug, a store that went away) as each front door shows it.

The API, the Telegram bot and the Discord bot all say "something went wrong on our side (error
id X); please try again", never a 400, and the same id is in the log line with the traceback, so
support can find it. The failure is real: the RocksDB store is closed under the running front door,
so the next read raises rocksdict's `DbClosedError` (not a `MempoolsError`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx
import pytest

from tests.apikit import BOB, Env, assert_problem, signup
from tests.fakes.discord_bot import DiscordBotWorld
from tests.fakes.telegram_api import FakeTelegramApi
from tests.loopback_api import serve_api
from tests.telegram_kit import running_rig
from tests.test_discord_commands import IN_DM

_SAID = re.compile(r"Something went wrong on our side \(error id ([0-9a-f]{12})\); please try again\.")


def _logged_once(caplog: pytest.LogCaptureFixture, error_id: str) -> logging.LogRecord:
    """The one log record of the failure: it carries the id (as text and as `error_id`) and the traceback."""
    records = [r for r in caplog.records if error_id in r.getMessage()]
    assert len(records) == 1, [r.getMessage() for r in caplog.records]
    [record] = records
    assert getattr(record, "error_id", None) == error_id
    assert record.exc_info is not None and record.exc_info[0] is not None
    assert "DbClosedError" in record.exc_info[0].__name__
    return record


async def test_api_answers_a_failure_of_ours_with_a_500_problem_whose_error_id_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = Env(tmp_path)
    try:
        async with serve_api(env.app) as url, httpx.AsyncClient(base_url=url) as http:
            _, auth = await signup(http, "ops@example.com")
            env.store.close()
            with caplog.at_level(logging.ERROR):
                r = await http.get("/v1/subscriptions", headers=auth)
            problem = assert_problem(r, 500)
            assert problem["type"] == "/problems/internal"
            said = _SAID.fullmatch(problem["detail"])
            assert said is not None, problem
            assert problem["error_id"] == said.group(1)
            assert "DbClosed" not in r.text  # nothing of the failure itself leaks
            _logged_once(caplog, said.group(1))
    finally:
        env.close()


async def test_telegram_says_the_same_with_the_logged_error_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeTelegramApi() as api, running_rig(tmp_path, api) as rig:
        await rig.say("/start")
        rig.env.store.close()
        with caplog.at_level(logging.ERROR):
            [reply] = await rig.say(f"/watch {BOB}")
        said = _SAID.search(reply.text)
        assert said is not None, reply.text
        assert reply.text.startswith("⚠️ ")
        _logged_once(caplog, said.group(1))


async def test_discord_says_the_same_with_the_logged_error_id(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with DiscordBotWorld(tmp_path) as world:
        assert world.store is not None
        world.store.close()
        with caplog.at_level(logging.ERROR):
            reply = await world.discord.slash("list", {}, **IN_DM)
        said = _SAID.search(reply.content)
        assert said is not None, reply.content
        assert reply.ephemeral and reply.content.startswith("⚠️ ")
        _logged_once(caplog, said.group(1))
