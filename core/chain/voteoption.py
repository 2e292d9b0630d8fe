"""Vote options in every spelling chains use, as `VoteChoice`s.

The `proposal_vote.option` event attribute changed format across SDK versions, and REST answers
use enum names, so one parser reads them all:

- `VOTE_OPTION_YES`, `yes`, `Yes`, `NoWithVeto`, `no_with_veto`, `1`          (one option)
- `{"option":1,"weight":"1.000000000000000000"}`                             (SDK 0.46+ event)
- `[{"option":1,"weight":"0.5"},{"option":"VOTE_OPTION_NO","weight":"0.5"}]`  (weighted, JSON)
- `option:VOTE_OPTION_YES weight:"1.000000000000000000"` (SDK 0.44/0.45 event: protobuf text,
  one line per option for weighted votes)

Numbers are the gov enum: 1 yes, 2 abstain, 3 no, 4 no_with_veto. Unspecified (0) and anything
unknown raise ValueError: a vote whose meaning we do not know must not be shown as some vote.
"""

from __future__ import annotations

import json
import re
from typing import Any

from core.chain.chainstate import VoteChoice

_BY_NUMBER = {1: "yes", 2: "abstain", 3: "no", 4: "no_with_veto"}
_BY_NAME = {
    "yes": "yes",
    "abstain": "abstain",
    "no": "no",
    "no_with_veto": "no_with_veto",
    "nowithveto": "no_with_veto",
    "veto": "no_with_veto",
}
_FULL_WEIGHT = "1.000000000000000000"
_TEXT_ENTRY = re.compile(r'option:\s*"?([A-Za-z_0-9]+)"?\s+weight:\s*"?([0-9.]+)"?')
_WEIGHT = re.compile(r"[0-9]+(\.[0-9]+)?")


def option_name(value: Any) -> str:
    """One option (enum name, short name or number) -> "yes" | "no" | "abstain" | "no_with_veto"."""
    if isinstance(value, bool):
        raise ValueError(f"not a vote option: {value!r}")
    if isinstance(value, int):
        if value in _BY_NUMBER:
            return _BY_NUMBER[value]
        raise ValueError(f"not a vote option: {value!r}")
    if not isinstance(value, str):
        raise ValueError(f"not a vote option: {value!r}")
    text = value.strip()
    if text.isdigit():
        return option_name(int(text))
    key = text.lower()
    if key.startswith("vote_option_"):
        key = key[len("vote_option_") :]
    key = key.replace(" ", "_").replace("-", "_")
    if key in _BY_NAME:
        return _BY_NAME[key]
    raise ValueError(f"not a vote option: {value!r}")


def _weight(value: Any) -> str:
    text = str(value).strip() if value is not None else _FULL_WEIGHT
    if not _WEIGHT.fullmatch(text):
        raise ValueError(f"not a vote weight: {value!r}")
    return text


def _from_json(obj: Any) -> tuple[VoteChoice, ...]:
    if isinstance(obj, dict):
        obj = [obj]
    if not isinstance(obj, list) or not obj:
        return (VoteChoice(option_name(obj), _FULL_WEIGHT),)
    out: list[VoteChoice] = []
    for entry in obj:
        if not isinstance(entry, dict) or "option" not in entry:
            raise ValueError(f"not a weighted vote option: {entry!r}")
        out.append(VoteChoice(option_name(entry["option"]), _weight(entry.get("weight"))))
    return tuple(out)


def parse_vote_option(value: str) -> tuple[VoteChoice, ...]:
    """Every format of a vote's option(s) -> the choices; ValueError when it is none of them."""
    text = value.strip()
    if not text:
        raise ValueError("empty vote option")
    if text[0] in "[{":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(f"not a vote option: {value[:80]!r}") from None
        return _from_json(obj)
    if text.startswith("option:"):
        entries = _TEXT_ENTRY.findall(text)
        if not entries:
            raise ValueError(f"not a vote option: {value[:80]!r}")
        return tuple(VoteChoice(option_name(opt), _weight(w)) for opt, w in entries)
    return (VoteChoice(option_name(text), _FULL_WEIGHT),)
