"""The parsed form of a query: a conjunction of `tag OP [argument]` conditions.

These are plain data (msgspec Structs) so that they can be stored, compared and sent over the
API. They hold only strings and enums (no cycles), so they opt out of the garbage collector's
tracking (`gc=False`): an index keeps hundreds of thousands of them. `str(query)` is the
normalised text, identical to what CometBFT's own `Query.String()` prints: `tag OP value` joined
by ` AND `, single spaces, arguments kept verbatim.
"""

from __future__ import annotations

import enum

from msgspec import Struct


class Op(enum.Enum):
    EQ = "="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    CONTAINS = "CONTAINS"
    EXISTS = "EXISTS"


class ArgKind(enum.Enum):
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    TIME = "time"


class Argument(Struct, frozen=True, gc=False):
    """An operand as written: `text` excludes quotes and the `DATE `/`TIME ` word."""

    kind: ArgKind
    text: str

    def __str__(self) -> str:
        if self.kind is ArgKind.STRING:
            return f"'{self.text}'"
        if self.kind is ArgKind.DATE:
            return f"DATE {self.text}"
        if self.kind is ArgKind.TIME:
            return f"TIME {self.text}"
        return self.text


class Condition(Struct, frozen=True, gc=False):
    tag: str
    op: Op
    arg: Argument | None = None

    def __str__(self) -> str:
        if self.arg is None:
            return f"{self.tag} {self.op.value}"
        return f"{self.tag} {self.op.value} {self.arg}"


class Query(Struct, frozen=True, gc=False):
    """One or more conditions, all of which must hold."""

    conditions: tuple[Condition, ...]

    def __str__(self) -> str:
        return " AND ".join(str(c) for c in self.conditions)

    @property
    def normalized(self) -> str:
        return str(self)
