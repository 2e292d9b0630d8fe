"""One scope's flat event map, prepared once and shared by every query evaluated against it.

CometBFT expands the map `"type.attr" -> [values]` back into events by splitting each key at its
LAST dot, then a condition's tag matches either a full key (`transfer.amount`) or an event type
(`transfer`, `rewards.withdraw`). `EventView` precomputes that set of types and caches parsed
numbers/dates/times per value, so a block matched against thousands of candidate queries parses
each value at most once per kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.query.numbers import Number, parse_value
from core.query.timestamps import parse_date, parse_time

EventMap = Mapping[str, Sequence[str]]


class EventView:
    """A read-only wrapper of an event map with its derived event types and value caches."""

    __slots__ = ("_dates", "_numbers", "_times", "events", "types")

    def __init__(self, events: EventMap) -> None:
        self.events = events
        # Go's ExpandEvents: type = everything before the last dot. A key without a dot has the
        # empty type, which no tag can equal, so it is left out.
        self.types: frozenset[str] = frozenset(k.rpartition(".")[0] for k in events if "." in k)
        self._numbers: dict[str, Number | None] = {}
        self._dates: dict[str, int | None] = {}
        self._times: dict[str, int | None] = {}

    def __bool__(self) -> bool:
        return bool(self.events)

    def number(self, value: str) -> Number | None:
        try:
            return self._numbers[value]
        except KeyError:
            n = self._numbers[value] = parse_value(value)
            return n

    def date(self, value: str) -> int | None:
        try:
            return self._dates[value]
        except KeyError:
            d = self._dates[value] = parse_date(value)
            return d

    def time(self, value: str) -> int | None:
        try:
            return self._times[value]
        except KeyError:
            t = self._times[value] = parse_time(value)
            return t


def as_view(events: EventMap | EventView) -> EventView:
    return events if isinstance(events, EventView) else EventView(events)
