"""PLACEHOLDER until the formats branch lands (core/chain/rest.py has the real parse_vote_option)."""

from __future__ import annotations

import msgspec

_NAMES = {"1": "yes", "2": "abstain", "3": "no", "4": "no_with_veto"}


class VoteChoice(msgspec.Struct, frozen=True):
    option: str
    weight: str


def parse_vote_option(value: str) -> tuple[VoteChoice, ...]:
    import json

    text = value.strip()
    if text.startswith(("[", "{")):
        doc = json.loads(text)
        items = doc if isinstance(doc, list) else [doc]
        return tuple(VoteChoice(_name(str(i.get("option"))), str(i.get("weight", "1"))) for i in items)
    if text.startswith("option:"):
        return (VoteChoice(_name(text.split()[0].removeprefix("option:")), "1"),)
    return (VoteChoice(_name(text), "1"),)


def _name(raw: str) -> str:
    raw = raw.strip()
    if raw in _NAMES:
        return _NAMES[raw]
    name = raw.removeprefix("VOTE_OPTION_").lower()
    if name not in _NAMES.values():
        raise ValueError(raw)
    return name
