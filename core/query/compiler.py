"""Compiled queries: each condition turned once into a small predicate over an `EventView`.

Matching follows CometBFT v0.38+ (`libs/pubsub/query/query.go`) exactly:

- a query matches when EVERY condition holds, and the map is not empty;
- a condition holds when ANY value under its tag satisfies it (conditions are independent: two
  conditions may be met by values from different events);
- a tag that equals an event type (`transfer`, `message`) holds when the operator accepts the
  empty string, which is what Go tests in that case: `EXISTS`, `= ''`, `CONTAINS ''` hold,
  numeric, DATE and TIME comparisons do not;
- a tag without a dot never matches a value (Go gives a dot-less key the empty type);
- `=` with a string is exact string equality; `CONTAINS` a case-sensitive substring test;
  numbers, DATEs and TIMEs are parsed from each value (see `numbers`, `timestamps`) and values
  that do not parse never satisfy the condition.

Operands are converted at compile time; evaluation only parses event values (cached per view).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from core.query.events import EventMap, EventView, as_view
from core.query.numbers import parse_literal
from core.query.parser import MAX_QUERY_LENGTH, parse
from core.query.syntax import ArgKind, Condition, Op, Query
from core.query.timestamps import parse_date, parse_time

_CMP: dict[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: operator.eq,
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.GT: operator.gt,
    Op.GE: operator.ge,
}


class CompiledCondition:
    """One condition, ready to evaluate against an `EventView`."""

    __slots__ = ("condition", "dotted", "empty_ok", "tag")

    def __init__(self, condition: Condition) -> None:
        self.condition = condition
        self.tag = condition.tag
        self.dotted = "." in condition.tag
        self.empty_ok = self._accepts_empty()

    def _accepts_empty(self) -> bool:
        return False

    def any_value(self, values: Any, view: EventView) -> bool:
        raise NotImplementedError

    def holds(self, view: EventView) -> bool:
        if self.dotted:
            values = view.events.get(self.tag)
            if values and self.any_value(values, view):
                return True
        return self.empty_ok and self.tag in view.types

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.condition}>"


class _Exists(CompiledCondition):
    __slots__ = ()

    def _accepts_empty(self) -> bool:
        return True

    def any_value(self, values: Any, view: EventView) -> bool:
        return True


class _StringEq(CompiledCondition):
    __slots__ = ("value",)

    def __init__(self, condition: Condition) -> None:
        assert condition.arg is not None
        self.value = condition.arg.text
        super().__init__(condition)

    def _accepts_empty(self) -> bool:
        return self.value == ""

    def any_value(self, values: Any, view: EventView) -> bool:
        return self.value in values


class _Contains(CompiledCondition):
    __slots__ = ("needle",)

    def __init__(self, condition: Condition) -> None:
        assert condition.arg is not None
        self.needle = condition.arg.text
        super().__init__(condition)

    def _accepts_empty(self) -> bool:
        return self.needle == ""

    def any_value(self, values: Any, view: EventView) -> bool:
        needle = self.needle
        return any(needle in v for v in values)


class _Compare(CompiledCondition):
    """Ordered or equality comparison of a number, DATE or TIME operand with parsed values."""

    __slots__ = ("cmp", "kind", "operand")

    def __init__(self, condition: Condition) -> None:
        arg = condition.arg
        assert arg is not None
        self.kind = arg.kind
        self.cmp = _CMP[condition.op]
        if arg.kind is ArgKind.NUMBER:
            self.operand: Any = parse_literal(arg.text)
        elif arg.kind is ArgKind.DATE:
            self.operand = parse_date(arg.text)
        else:
            self.operand = parse_time(arg.text)
        super().__init__(condition)

    def any_value(self, values: Any, view: EventView) -> bool:
        read = view.number if self.kind is ArgKind.NUMBER else view.date if self.kind is ArgKind.DATE else view.time
        cmp, operand = self.cmp, self.operand
        for v in values:
            x = read(v)
            if x is not None and cmp(x, operand):
                return True
        return False


def compile_condition(condition: Condition) -> CompiledCondition:
    if condition.op is Op.EXISTS:
        return _Exists(condition)
    assert condition.arg is not None
    if condition.op is Op.CONTAINS:
        return _Contains(condition)
    if condition.op is Op.EQ and condition.arg.kind is ArgKind.STRING:
        return _StringEq(condition)
    return _Compare(condition)


class CompiledQuery:
    """A parsed and compiled query. Immutable; safe to share between subscriptions and indexes.

    Kept small (an index may hold hundreds of thousands): the compiled conditions, which keep
    their syntax nodes, and the normalised text. `query` rebuilds the syntax tree on demand.
    """

    __slots__ = ("conditions", "text")

    def __init__(self, query: Query) -> None:
        self.conditions: tuple[CompiledCondition, ...] = tuple(compile_condition(c) for c in query.conditions)
        self.text = str(query)

    @property
    def query(self) -> Query:
        return Query(conditions=tuple(c.condition for c in self.conditions))

    def matches(self, events: EventMap | EventView) -> bool:
        """True if the query matches the scope's event map (CometBFT v0.38+ semantics)."""
        view = as_view(events)
        if not view.events:
            return False
        return all(cond.holds(view) for cond in self.conditions)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"CompiledQuery({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompiledQuery) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def compile_query(query: str | Query | CompiledQuery, *, max_length: int | None = MAX_QUERY_LENGTH) -> CompiledQuery:
    """Parse (if text) and compile a query. Raises `QuerySyntaxError` for invalid text."""
    if isinstance(query, CompiledQuery):
        return query
    if isinstance(query, Query):
        return CompiledQuery(query)
    return CompiledQuery(parse(query, max_length=max_length))


@lru_cache(maxsize=1024)
def _cached(text: str) -> CompiledQuery:
    return compile_query(text)


def matches(query: str | Query | CompiledQuery, events: EventMap | EventView) -> bool:
    """Does `query` match this scope's `type.attr -> [values]` map? Text queries are compiled
    (and cached) on the way; invalid text raises `QuerySyntaxError`."""
    compiled = _cached(query) if isinstance(query, str) else compile_query(query)
    return compiled.matches(events)


#: Alias of `matches`, for callers that think of it as "evaluate this query on this scope".
evaluate = matches
