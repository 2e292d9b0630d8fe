"""The evaluator against CometBFT's semantics: shared vectors, one test group per rule, and a
property test against a literal transliteration of Go's matching loop."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.query import EventView, compile_query, matches
from core.query.compiler import compile_condition
from core.query.numbers import parse_literal, parse_value, round_to_precision
from core.query.timestamps import parse_date, parse_time

CASES = json.loads((Path(__file__).parent / "fixtures" / "cometbft" / "query_cases.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['query']}->{c['match']}")
def test_shared_match_vectors(case: dict) -> None:
    assert matches(case["query"], case["events"]) is case["match"]


def m(query: str, events: Mapping[str, Sequence[str]]) -> bool:
    return compile_query(query, max_length=None).matches(events)


# -- structure: any value, independence, keys, types ---------------------------------------------


def test_empty_map_never_matches() -> None:
    for q in ("a.b EXISTS", "a = ''", "a CONTAINS ''", "tm.event = 'Tx'"):
        assert not m(q, {})


def test_any_value_satisfies() -> None:
    ev = {"coin_received.receiver": ["cosmos1a", "cosmos1b", "cosmos1c"]}
    assert m("coin_received.receiver = 'cosmos1c'", ev)
    assert not m("coin_received.receiver = 'cosmos1d'", ev)
    assert m("coin_received.receiver CONTAINS '1b'", ev)


def test_conditions_are_independent() -> None:
    ev = {
        "transfer.recipient": ["bob", "carol"],
        "transfer.sender": ["alice", "dave"],
        "transfer.amount": ["5x", "500x"],
    }
    # alice->bob 5, dave->carol 500: still "alice AND carol AND >= 100" holds, as on a node
    assert m("transfer.sender = 'alice' AND transfer.recipient = 'carol' AND transfer.amount >= 100", ev)
    assert m("transfer.amount < 10 AND transfer.amount > 100", ev)
    assert not m("transfer.sender = 'alice' AND transfer.recipient = 'zed'", ev)


def test_type_only_tags() -> None:
    ev = {"transfer.amount": ["5uatom"], "message.sender": ["x"], "rewards.withdraw.address": ["v"]}
    assert m("transfer = ''", ev)
    assert m("transfer EXISTS", ev)
    assert m("message EXISTS", ev)
    assert m("transfer CONTAINS ''", ev)
    assert not m("transfer CONTAINS 'a'", ev)
    assert not m("transfer = 'x'", ev)
    assert not m("transfer >= 0", ev)  # "" is not a number
    assert not m("transfer = 0", ev)
    assert not m("transfer < DATE 2999-01-01", ev)
    assert not m("transfer < TIME 2999-01-01T00:00:00Z", ev)
    assert m("rewards.withdraw EXISTS", ev)  # last-dot split: type rewards.withdraw
    assert m("rewards.withdraw = ''", ev)
    assert not m("rewards EXISTS", ev)  # no prefix matching of types
    assert not m("trans EXISTS", ev)
    assert not m("slash EXISTS", ev)


def test_type_exists_even_with_no_values() -> None:
    ev = {"transfer.amount": []}
    assert m("transfer EXISTS", ev)
    assert not m("transfer.amount EXISTS", ev)
    assert not m("transfer.amount = ''", ev)


def test_last_dot_split_full_keys() -> None:
    ev = {"rewards.withdraw.address": ["cosmos1v"], "a.b.c.d": ["1"]}
    assert m("rewards.withdraw.address = 'cosmos1v'", ev)
    assert m("a.b.c.d = 1", ev)
    assert m("a.b.c EXISTS", ev)
    assert not m("a.b EXISTS", ev)
    assert not m("a EXISTS", ev)


def test_key_and_type_of_same_tag() -> None:
    # "a.b" is a key (type a) AND a type (of "a.b.c"): both readings are tried, as in Go.
    ev = {"a.b": ["x"], "a.b.c": ["y"]}
    assert m("a.b = 'x'", ev)
    assert m("a.b = ''", ev)  # via the type a.b
    assert m("a.b CONTAINS 'x'", ev)


def test_dotless_keys_never_match() -> None:
    ev = {"foo": ["x"], "tm.event": ["Tx"]}
    assert not m("foo = 'x'", ev)
    assert not m("foo EXISTS", ev)
    assert m("tm.event = 'Tx'", ev)


def test_trailing_dot_key() -> None:
    ev = {"transfer.": ["x"]}
    assert m("transfer. = 'x'", ev)
    assert m("transfer EXISTS", ev)


def test_string_equality_is_exact() -> None:
    ev = {"a.b": ["Tx ", "tx", "100"]}
    assert not m("a.b = 'Tx'", ev)
    assert m("a.b = 'tx'", ev)
    assert m("a.b = '100'", ev)
    assert not m("a.b = '100.0'", ev)
    assert m("a.b = 100.0", ev)  # numeric equality reads the value as a number


def test_contains_is_case_sensitive_substring() -> None:
    ev = {"message.action": ["/cosmos.bank.v1beta1.MsgSend"]}
    assert m("message.action CONTAINS 'MsgSend'", ev)
    assert not m("message.action CONTAINS 'msgsend'", ev)
    assert m("message.action CONTAINS ''", ev)
    assert m("message.action CONTAINS '/cosmos.bank.v1beta1.MsgSend'", ev)
    assert not m("message.action CONTAINS '/cosmos.bank.v1beta1.MsgSend '", ev)


def test_exists() -> None:
    ev = {"a.b": [""], "c.d": []}
    assert m("a.b EXISTS", ev)  # an empty value is still an attribute
    assert not m("c.d EXISTS", ev)
    assert m("c EXISTS", ev)
    assert not m("e.f EXISTS", ev)


# -- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100", 100),
        ("100uatom", 100),
        ("100uatom,5uosmo", 100),
        ("8.045stake", Fraction(8045, 1000)),
        ("007", 7),
        ("0", 0),
        ("1e5", 1),
        ("0x10", 0),
        ("5.", 5),
        ("5.x", 5),
        ("3.5.6", Fraction(7, 2)),
        ("-5", None),
        ("+5", None),
        (" 100", None),
        ("", None),
        ("cosmos1bob", None),
        (".5", None),
        ("\u0661\u0662", None),  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_leading_number(value: str, expected: object) -> None:
    got = parse_value(value)
    if expected is None:
        assert got is None
    else:
        assert got is not None and abs(Fraction(got) - Fraction(expected)) < Fraction(1, 10**30)


def test_non_numbers_never_satisfy_numeric_conditions() -> None:
    ev = {"x.v": ["-5", " 100", "", "cosmos1bob", "abc", ".5"]}
    for q in ("x.v > 0", "x.v < 1000000", "x.v = 5", "x.v >= 0", "x.v <= 999999999"):
        assert not m(q, ev)


def test_numeric_operators() -> None:
    ev = {"x.v": ["10uatom"]}
    table = {"=": (10, 11), "<": (11, 10), "<=": (10, 9), ">": (9, 10), ">=": (10, 11)}
    for op, (yes, no) in table.items():
        assert m(f"x.v {op} {yes}", ev), op
        assert not m(f"x.v {op} {no}", ev), op


def test_huge_integers_are_exact() -> None:
    big = "1" + "0" * 40  # beyond 64 and 125 bits
    assert m(f"x.v = {big}", {"x.v": [big]})
    assert m(f"x.v > {big}", {"x.v": [big[:-1] + "1"]})
    assert not m(f"x.v > {big}", {"x.v": [big]})
    assert m("big.value <= 18446744073709551615", {"big.value": ["18446744073709551615"]})
    assert m("big.value > 18446744073709551615", {"big.value": ["18446744073709551616"]})
    assert not m("big.value = 18446744073709551615", {"big.value": ["18446744073709551616"]})
    huge = "9" * 5000  # longer than CPython's int/str conversion limit
    assert m(f"x.v > {huge[:-1]}", {"x.v": [huge]})
    assert m(f"x.v = {huge}", {"x.v": [huge]})


def test_values_with_a_suffix_are_rounded_to_125_bits_like_go() -> None:
    # Go parses "…uatom" with 125-bit precision: 10^40 + 1 rounds to 10^40, while the pure
    # integer string is exact. This is what a node answers.
    big = 10**40
    assert m(f"x.v > {big}", {"x.v": [str(big + 1)]})
    assert not m(f"x.v > {big}", {"x.v": [f"{big + 1}uatom"]})
    assert m(f"x.v = {big}", {"x.v": [f"{big + 1}uatom"]})
    # but below 2^125 a suffix changes nothing
    assert m("x.v > 18446744073709551615", {"x.v": ["18446744073709551616uatom"]})


def test_decimals() -> None:
    assert m("x.v = 0.1", {"x.v": ["0.1"]})
    assert m("x.v = 0.13", {"x.v": ["0.130000000000000000"]})
    assert not m("x.v > 0.13", {"x.v": ["0.130000000000000000"]})
    assert m("x.v > 0.13", {"x.v": ["0.130000000000000001"]})
    assert m("x.v = 5.0", {"x.v": ["5"]})
    assert m("x.v = 5", {"x.v": ["5.000stake"]})
    assert m("x.v < 100.5", {"x.v": ["100uatom"]})
    assert m("x.v > 3071.786589140670775763", {"x.v": ["3071.786589140670775764uosmo"]})
    assert m("x.v = 5.", {"x.v": ["5"]})


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=10**60), st.integers(min_value=1, max_value=10**60))
def test_round_to_precision_matches_correctly_rounded_floats(num: int, den: int) -> None:
    # CPython's int/int division is correctly rounded to 53 bits, ties to even.
    assert round_to_precision(num, den, 53) == Fraction(num / den)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**45), st.integers(0, 10**45), st.integers(0, 3))
def test_literal_and_value_agree(whole: int, frac: int, zeros: int) -> None:
    # the same decimal digits mean the same number, in the query or in a value with a suffix
    text = f"{whole}.{'0' * zeros}{frac}"
    assert parse_literal(text) == parse_value(text + "uatom") == parse_value(text)
    # integers: exact in both places when the value is a plain integer
    assert parse_literal(str(whole)) == parse_value(str(whole)) == whole


# -- dates and times ------------------------------------------------------------------------------


def test_date_conditions() -> None:
    ev = {"tx.date": ["2018-05-03"]}
    assert m("tx.date > DATE 2017-01-01", ev)
    assert m("tx.date = DATE 2018-05-03", ev)
    assert m("tx.date <= DATE 2018-05-03", ev)
    assert not m("tx.date < DATE 2018-05-03", ev)
    assert m("tx.date >= DATE 2018-05-03", ev)


@pytest.mark.parametrize(
    "value",
    ["2018-05-03T00:00:00Z", "2018-5-03", "18-05-03", "2018-05-03 ", " 2018-05-03", "2018/05/03", "2018-02-30", ""],
)
def test_date_conditions_need_exact_dates(value: str) -> None:
    for op in ("=", "<", "<=", ">", ">="):
        for lit in ("1900-01-01", "2018-05-03", "2999-12-31"):
            assert not m(f"x.d {op} DATE {lit}", {"x.d": [value]})


def test_time_conditions_compare_instants() -> None:
    assert m("tx.time >= TIME 2013-05-03T14:45:00Z", {"tx.time": ["2024-01-01T00:00:00Z"]})
    assert m("tx.time = TIME 2013-05-03T14:45:00+07:00", {"tx.time": ["2013-05-03T07:45:00Z"]})
    assert m("tx.time = TIME 2013-05-03T07:45:00Z", {"tx.time": ["2013-05-03T09:15:00+01:30"]})
    assert m("tx.time > TIME 2013-05-03T07:45:00Z", {"tx.time": ["2013-05-03T07:45:00.000000001Z"]})
    assert not m("tx.time > TIME 2013-05-03T07:45:00Z", {"tx.time": ["2013-05-03T07:45:00.0000000009Z"]})
    assert m("tx.time < TIME 2013-05-03T07:45:00Z", {"tx.time": ["2013-05-03T03:45:00-03:59"]})
    # a date value is not an RFC3339 time, and vice versa
    assert not m("tx.time >= TIME 2000-01-01T00:00:00Z", {"tx.time": ["2024-01-01"]})
    assert not m("tx.time >= DATE 2000-01-01", {"tx.time": ["2024-01-01T00:00:00Z"]})


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2024-01-01T00:00:00Z", True),
        ("2024-01-01T00:00:00.123456789Z", True),
        ("2024-01-01T00:00:00,5Z", True),  # Go accepts a comma too
        ("2024-01-01T1:00:00Z", True),  # Go's hour is not fixed-width
        ("2024-02-29T00:00:00Z", True),
        ("2023-02-29T00:00:00Z", False),
        ("2024-01-01T24:00:00Z", False),
        ("2024-01-01T00:60:00Z", False),
        ("2024-01-01T00:00:60Z", False),
        ("2024-01-01T00:00:00", False),
        ("2024-01-01T00:00:00z", False),
        ("2024-01-01t00:00:00Z", False),
        ("2024-01-01 00:00:00Z", False),
        ("2024-01-01T00:00:00+0100", False),
        ("2024-01-01T00:00:00+01:00 ", False),
        ("2024-01-01T00:00:00.Z", False),
        ("2024-01-01T00:00:00+24:00", True),  # Go's range test is > 24
        ("2024-01-01T00:00:00+25:00", False),
        ("0001-01-01T00:00:00Z", True),
    ],
)
def test_rfc3339_values(value: str, ok: bool) -> None:
    assert (parse_time(value) is not None) is ok


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2999, 12, 31)),
    st.integers(min_value=-23 * 60, max_value=23 * 60),
)
def test_parse_time_matches_python_instants(dt: datetime, offset_min: int) -> None:
    tz = timezone(timedelta(minutes=offset_min))
    aware = dt.replace(tzinfo=tz)
    text = aware.isoformat()
    ns = parse_time(text)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    delta = aware - epoch
    expected = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    assert ns == expected
    day = dt.date().isoformat()
    assert parse_date(day) == (dt.date() - epoch.date()).days * 86_400 * 10**9


# -- a literal port of Go's matching loop, as the reference ---------------------------------------


def go_matches(query: str, flat: Mapping[str, Sequence[str]]) -> bool:
    """query.go: ExpandEvents, then for every condition, any event, findAttr, match."""
    events = []
    for composite, values in flat.items():
        tokens = composite.split(".")
        events.append((".".join(tokens[:-1]), [(tokens[-1], v) for v in values]))
    compiled = compile_query(query, max_length=None)
    for cc in compiled.query.conditions:
        cond = compile_condition(cc)
        view = EventView({})

        def match(s: str, cond: object = cond, view: EventView = view) -> bool:
            return cond.any_value([s], view)  # type: ignore[attr-defined]

        def matches_event(etype: str, attrs: list, tag: str = cc.tag, match: Callable = match) -> bool:
            if not tag.startswith(etype):
                return False
            if len(tag) == len(etype):
                return match("")
            vals = [v for k, v in attrs if etype + "." + k == tag]
            return any(match(v) for v in vals)

        if not any(matches_event(t, a) for t, a in events):
            return False
    return len(events) != 0


_TYPES = ["a", "a.b", "tm", "transfer", "rewards.withdraw", "x-y", "wasm-swap", "_"]
_ATTRS = ["b", "c", "amount", "event", ""]
_KEYS = [f"{t}.{a}" for t in _TYPES for a in _ATTRS] + ["a", "transfer", "noDot", ".b"]
_VALUES = [
    "",
    "0",
    "5",
    "007",
    "100uatom",
    "100",
    "8.045stake",
    "-5",
    " 5",
    "cosmos1bob",
    "Tx",
    "tx",
    "2018-05-03",
    "2024-01-01T00:00:00Z",
    "2013-05-03T14:45:00+07:00",
    "1e5",
    "a",
    "b",
    "ab",
    "18446744073709551616",
    "0.13",
]
_TAG_POOL = _KEYS + _TYPES + ["trans", "rewards", "withdraw"]
_STR_ARGS = ["", "a", "b", "Tx", "5", "100uatom", "cosmos1bob", "uatom", "2018"]
_NUM_ARGS = ["0", "5", "7", "100", "100.5", "8.045", "0.13", "18446744073709551615", "5."]
_DATE_ARGS = ["DATE 2018-05-03", "DATE 2000-01-01", "TIME 2013-05-03T07:45:00Z", "TIME 2024-01-01T00:00:00Z"]


_CONDITIONS = (
    [f"{t} EXISTS" for t in _TAG_POOL]
    + [f"{t} CONTAINS '{a}'" for t in _TAG_POOL for a in _STR_ARGS]
    + [f"{t} = '{a}'" for t in _TAG_POOL for a in _STR_ARGS]
    + [f"{t} {op} {a}" for t in _TAG_POOL for op in ("=", "<", "<=", ">", ">=") for a in _NUM_ARGS + _DATE_ARGS]
)
#: 1 to 3 conditions drawn from the pools above (few draws: fast to generate)
queries = st.lists(st.sampled_from([c for c in _CONDITIONS if not c.startswith(".")]), min_size=1, max_size=3).map(
    " AND ".join
)

event_maps = st.dictionaries(st.sampled_from(_KEYS), st.lists(st.sampled_from(_VALUES), max_size=3), max_size=6)


@settings(max_examples=300, deadline=None)
@given(queries, event_maps)
def test_evaluator_agrees_with_go_transliteration(query: str, events: dict[str, list[str]]) -> None:
    assert m(query, events) is go_matches(query, events)


def test_view_is_reusable_across_queries() -> None:
    view = EventView({"transfer.amount": ["100uatom"], "tm.event": ["Tx"]})
    assert compile_query("transfer.amount > 50").matches(view)
    assert compile_query("transfer.amount < 150 AND tm.event = 'Tx'").matches(view)
    assert not compile_query("transfer.amount > 150").matches(view)
    assert "transfer" in view.types and "tm" in view.types
