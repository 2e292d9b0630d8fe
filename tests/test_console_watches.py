"""The console shows a watch (a validator, voter or governance preset) by what it watches and
tells, in the bots' words, on the list and on its page."""

from __future__ import annotations

from tests.apikit import BOB, CHAIN
from tests.consolekit import ConsoleUser, texts_by_testid


async def test_a_voter_watch_reads_as_one_on_the_list_and_its_page(alice: ConsoleUser) -> None:
    r = await alice.post("/console/destinations/new", {"url": "https://127.0.0.1:9/hook", "name": "hook"})
    dest = str(r.headers["location"]).rsplit("/", 1)[1]
    r = await alice.post(
        "/console/subscriptions/new",
        {
            "mode": "preset",
            "preset": "voter",
            "name": "Treasury votes",
            "chain_id": CHAIN,
            "param_voter": BOB,
            "destination_ids": [dest],
        },
    )
    assert r.status_code == 303, r.text
    sub_id = str(r.headers["location"]).rsplit("/", 1)[1]
    listing = (await alice.get("/console/subscriptions")).text
    assert texts_by_testid(listing, "watch-summary") == ["🗳 cosmos1xv9t…xxe5: reminders 24 h, 1 h"]
    page = await alice.get(f"/console/subscriptions/{sub_id}")
    assert page.status_code == 200
    assert texts_by_testid(page.text, "watch-summary") == ["🗳 cosmos1xv9t…xxe5: reminders 24 h, 1 h"]
    assert texts_by_testid(page.text, "watch-told") == ["each new proposal, with its link"]  # the first item
    assert "<li>reminders 24 h and 1 h before voting ends while it has not voted</li>" in page.text
    assert "Would it have matched?" not in page.text  # a watch keeps state: one block cannot show it
