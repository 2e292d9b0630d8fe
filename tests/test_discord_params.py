"""Preset parameters typed into `/mempools subscribe params:` (pure parsing, no Discord)."""

from __future__ import annotations

import pytest

from bot.discord.params import parse_params
from core.errors import ValidationError
from core.query.presets import get_preset

FUNDS = get_preset("funds_received").spec
CONTRACT = get_preset("contract_events").spec


def test_pairs_split_at_spaces_commas_or_semicolons() -> None:
    assert parse_params("address=cosmos1abc min_amount=5", FUNDS) == {"address": "cosmos1abc", "min_amount": "5"}
    assert parse_params("address = cosmos1abc,  min_amount=5;denom=uatom", FUNDS) == {
        "address": "cosmos1abc",
        "min_amount": "5",
        "denom": "uatom",
    }


def test_a_value_keeps_its_commas_when_no_parameter_name_follows() -> None:
    parsed = parse_params("contract=cosmos1xyz attributes=action=swap,pair=x", CONTRACT)
    assert parsed == {"contract": "cosmos1xyz", "attributes": "action=swap,pair=x"}


def test_a_bare_value_is_the_single_required_parameter() -> None:
    assert parse_params("  cosmos1abc ", FUNDS) == {"address": "cosmos1abc"}
    assert parse_params(None, FUNDS) == {} and parse_params("  ", FUNDS) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("adress=cosmos1abc", "no parameter 'adress'"),
        ("address=a address=b", "given twice"),
        ("cosmos1abc min_amount=5", "is not name=value"),
        ("x" * 1001, "at most 1000"),
    ],
)
def test_bad_params_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_params(text, FUNDS)
