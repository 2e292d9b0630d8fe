"""Governance monitoring block by block: a new proposal with its title and link, reminders by block
time (once each, the most urgent when a night of catching up crosses several), "has not voted" only
for those who have not, a watched vote, the result with the tally, hostile titles
(tests/monitorkit.py builds the blocks and the rig)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from core.models import Notification
from core.monitor.models import GovernanceWatch, VoterWatch
from core.store import RocksStore, open_store
from tests.monitorkit import T0, Proposal, Rig, ScriptedChain, Tally, block, event, time_of

VOTER = "cosmos1qqqsyqcyq5rqwzqfpg9scrgwpugpzysn8u2p0w"  # 20 bytes 00..13, bech32
OTHER = "cosmos1zg69v7ys40x77y352eufp27daufrg4ncm0k9zx"
END = T0 + timedelta(days=2)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RocksStore]:
    s = open_store(tmp_path / "data")
    yield s
    s.close()


def alerts(notes: list[Notification]) -> list[tuple[int, str, str]]:
    return sorted((n.height, n.alert.kind, n.subscription_id) for n in notes if n.alert is not None)


def submit(pid: int) -> tuple:
    return (event("submit_proposal", proposal_id=str(pid)), event("message", action="/cosmos.gov.v1.MsgSubmitProposal"))


def vote(pid: int, voter: str, option: str) -> tuple:
    return (event("proposal_vote", option=option, proposal_id=str(pid), voter=voter),)


async def test_a_proposal_from_submission_to_result(store) -> None:
    chain = ScriptedChain()
    chain.proposals[7] = Proposal(id=7, title="Raise the  block\\n size", voting_end=END)
    rig = Rig(store, chain, proposal_url=lambda pid: f"https://explorer.example/proposals/{pid}")
    await rig.subscribe("sub_gov", GovernanceWatch(remind_before=(86400, 3600)))
    await rig.subscribe("sub_voter", VoterWatch(voter=VOTER, remind_before=(86400, 3600)))
    await rig.subscribe("sub_other", VoterWatch(voter=OTHER, remind_before=(3600,)))
    blocks = [
        block(2, txs=(submit(7),)),
        block(3, txs=(vote(7, OTHER, '[{"option":1,"weight":"1.000000000000000000"}]'),)),
        block(4, at=END - timedelta(hours=23)),  # a day before: the 24 h reminders
        block(5, at=END - timedelta(hours=22)),  # nothing new
        block(6, at=END - timedelta(minutes=50)),  # the 1 h reminders
    ]
    notes = await rig.run(blocks)
    assert alerts(notes) == [
        (2, "proposal_new", "sub_gov"),
        (2, "proposal_new", "sub_other"),
        (2, "proposal_new", "sub_voter"),
        (3, "vote_cast", "sub_other"),
        (4, "not_voted", "sub_voter"),
        (4, "proposal_ending", "sub_gov"),
        (6, "not_voted", "sub_voter"),
        (6, "proposal_ending", "sub_gov"),
    ]
    new = next(n for n in notes if n.subscription_id == "sub_voter" and n.alert and n.alert.kind == "proposal_new")
    assert new.summary.startswith("🗳 New proposal #7 “Raise the block\\n size”: voting until")
    assert new.alert is not None and new.alert.url == "https://explorer.example/proposals/7"
    assert new.silent  # governance news does not ring
    reminder = next(n for n in notes if n.height == 6 and n.subscription_id == "sub_voter")
    assert reminder.summary.startswith("⏰ cosmos1qqqs…2p0w has not voted on proposal #7")
    assert reminder.summary.endswith("voting ends in 50 min") and not reminder.silent
    cast = next(n for n in notes if n.alert and n.alert.kind == "vote_cast")
    assert cast.summary == "🗳 cosmos1zg69…k9zx voted Yes on proposal #7 “Raise the block\\n size”"

    chain.proposals[7] = Proposal(
        id=7, title="Raise the block size", status="passed", final_tally=Tally(yes=700, no=200, abstain=100)
    )
    ended = event("active_proposal", proposal_id="7", proposal_result="proposal_passed")
    notes = await rig.run([block(7, at=END + timedelta(seconds=5), events=(ended,))])
    results = [n for n in notes if n.height == 7]
    assert {n.subscription_id for n in results} == {"sub_gov", "sub_voter", "sub_other"}
    mine = next(n for n in results if n.subscription_id == "sub_other")
    assert mine.summary == "🏛 Proposal #7 “Raise the block size” ✅ passed"
    assert mine.alert is not None and mine.alert.details["voted"] == "yes"
    assert rig.repos.proposal_states.of_chain("devnet-1") == []  # an ended proposal is forgotten


async def test_catching_up_over_both_reminders_tells_only_the_urgent_one(store) -> None:
    chain = ScriptedChain()
    chain.proposals[3] = Proposal(id=3, title="x", voting_end=END)
    rig = Rig(store, chain)
    await rig.subscribe("sub_gov", GovernanceWatch(remind_before=(86400, 3600)))
    notes = await rig.run([block(2, txs=(submit(3),)), block(3, at=END - timedelta(minutes=30))], per_commit=2)
    assert alerts(notes) == [(2, "proposal_new", "sub_gov"), (3, "proposal_ending", "sub_gov")]
    assert notes[-1].summary.endswith("ends in 30 min")


async def test_a_voter_who_voted_before_watching_gets_no_reminder(store) -> None:
    chain = ScriptedChain()
    chain.proposals[4] = Proposal(id=4, title="y", voting_end=END)
    chain.votes[(4, VOTER)] = "no"
    rig = Rig(store, chain)
    await rig.subscribe("sub_voter", VoterWatch(voter=VOTER, remind_before=(3600,)))
    notes = await rig.run([block(2), block(3, at=END - timedelta(minutes=10))])
    assert alerts(notes) == []  # already open when watching began (no "new"), voted (no reminder)
    state = rig.repos.proposal_states.get("devnet-1", 4)
    assert state is not None and state.votes == {VOTER: "no"}


async def test_a_hostile_title_is_cut_and_its_invisible_characters_shown(store) -> None:
    chain = ScriptedChain()
    chain.proposals[9] = Proposal(id=9, title="<b>Free</b> \u202eATOM\u200b " + "x" * 5000, voting_end=END)
    rig = Rig(store, chain)
    await rig.subscribe("sub_gov", GovernanceWatch())
    notes = await rig.run([block(2, txs=(submit(9),))])
    (note,) = notes
    assert note.alert is not None and len(note.alert.title or "") <= 200
    assert "\u202e" not in note.summary and "\u200b" not in note.summary and len(note.summary) <= 280
    assert "<b>Free</b>" in note.summary  # text, escaped by each channel (tests/test_render_hostile.py)


async def test_a_failing_proposal_query_still_tells_by_id_and_says_which_query(store) -> None:
    chain = ScriptedChain()
    chain.failing.add("proposal")
    rig = Rig(store, chain)
    await rig.subscribe("sub_gov", GovernanceWatch())
    notes = await rig.run([block(2, txs=(submit(11),))])
    assert [n.summary for n in notes] == [
        "🗳 New proposal #11: its title and dates could not be read from the chain (its REST API did not answer)"
    ]
    assert rig.monitor.problems == {"GET proposal 11": "proposal: HTTP 500"}


async def test_reminders_already_due_at_the_announcement_are_not_told_on_top(store) -> None:
    chain = ScriptedChain()
    chain.proposals[5] = Proposal(id=5, title="short vote", voting_end=time_of(2) + timedelta(hours=2))
    rig = Rig(store, chain)
    await rig.run([])
    await rig.subscribe("sub_voter", VoterWatch(voter=VOTER, remind_before=(86400, 3600)))
    await rig.subscribe("sub_other", VoterWatch(voter=OTHER, remind_before=(3600,)))
    end = time_of(2) + timedelta(hours=2)
    notes = await rig.run(
        [
            block(2, txs=(submit(5),)),  # the 24 h reminder is already due: the announcement says when it ends
            block(3, at=end - timedelta(minutes=30), txs=(vote(5, OTHER, "VOTE_OPTION_NO"),)),
        ]
    )
    assert alerts(notes) == [
        (2, "proposal_new", "sub_other"),
        (2, "proposal_new", "sub_voter"),
        (3, "not_voted", "sub_voter"),  # the 1 h reminder; OTHER voted in that very block
        (3, "vote_cast", "sub_other"),
    ]


async def test_voting_that_opens_after_the_deposit_period_is_told(store) -> None:
    chain = ScriptedChain()
    chain.proposals[8] = Proposal(id=8, title="deposit first", status="deposit")
    rig = Rig(store, chain)
    await rig.run([])
    await rig.subscribe("sub_gov", GovernanceWatch())
    notes = await rig.run([block(2, txs=(submit(8),))])
    assert [n.summary for n in notes] == ["🗳 New proposal #8 “deposit first”: in its deposit period"]
    chain.proposals[8] = Proposal(id=8, title="deposit first", voting_end=END)
    deposit = (event("proposal_deposit", amount="10000000uatom", proposal_id="8", voting_period_start="8"),)
    notes = await rig.run([block(3, txs=(deposit,))])
    assert [n.summary for n in notes if n.height == 3] == [
        "🗳 Voting opened on proposal #8 “deposit first” until Dec 3, 00:00 UTC"
    ]
