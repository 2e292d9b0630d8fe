"""Parse query text into a `Query`: the CometBFT v0.38+ grammar, exactly.

    query     = condition { "AND" condition }
    condition = tag ( "=" (number | date | time | string)
                    | ("<" | "<=" | ">" | ">=") (number | date | time)
                    | "CONTAINS" string
                    | "EXISTS" )

The loop is iterative (a query of 10,000 conditions is just a longer loop) and every failure is a
`QuerySyntaxError` naming what was expected, what was found and where. One deliberate deviation
from CometBFT: Go's parser silently drops an unterminated string that follows a complete
condition (`a.b EXISTS 'x` parses as `a.b EXISTS`, an artefact of it treating the scanner's EOF
as "no more input"); we refuse it.
"""

from __future__ import annotations

from core.query.errors import NO_OR_HINT, QuerySyntaxError, QueryTooLongError
from core.query.scanner import Scanner, Tok, Token
from core.query.syntax import ArgKind, Argument, Condition, Op, Query

#: The RPC's `maxQueryLength` (rpc/core/events.go): a node refuses longer subscribe queries.
MAX_QUERY_LENGTH = 512

_OPS = {
    Tok.EQ: Op.EQ,
    Tok.LT: Op.LT,
    Tok.LE: Op.LE,
    Tok.GT: Op.GT,
    Tok.GE: Op.GE,
    Tok.CONTAINS: Op.CONTAINS,
    Tok.EXISTS: Op.EXISTS,
}
_ARG_KINDS = {Tok.STRING: ArgKind.STRING, Tok.NUMBER: ArgKind.NUMBER, Tok.DATE: ArgKind.DATE, Tok.TIME: ArgKind.TIME}
_ALLOWED = {
    Op.EQ: (frozenset({Tok.NUMBER, Tok.DATE, Tok.TIME, Tok.STRING}), "a number, DATE, TIME or quoted string"),
    Op.CONTAINS: (frozenset({Tok.STRING}), "a quoted string"),
}
_ORDERED = (frozenset({Tok.NUMBER, Tok.DATE, Tok.TIME}), "a number, DATE or TIME (no strings)")


def _byte_limit_position(text: str, limit: int) -> int | None:
    """The character offset where the UTF-8 size of `text` first exceeds `limit`, or None."""
    if len(text) <= limit // 4:
        return None  # even 4-byte characters would fit
    size = 0
    for i, ch in enumerate(text):
        c = ord(ch)
        size += 1 if c < 0x80 else 2 if c < 0x800 else 3 if c < 0x10000 else 4
        if size > limit:
            return i
    return None


def parse(text: str, *, max_length: int | None = MAX_QUERY_LENGTH) -> Query:
    """Parse `text`; raise `QuerySyntaxError` (or `QueryTooLongError`) if it is not a query.

    `max_length` is in UTF-8 bytes, like the node's limit; pass None to parse without it (tests,
    tooling). A non-`str` argument is refused with the same exception type.
    """
    if not isinstance(text, str):
        raise QuerySyntaxError(f"a query must be text, not {type(text).__name__}", 0, "")
    if max_length is not None:
        pos = _byte_limit_position(text, max_length)
        if pos is not None:
            raise QueryTooLongError(f"query is longer than {max_length} bytes", pos, text)
    if not text.strip():
        raise QuerySyntaxError("empty query: expected a condition such as tm.event = 'Tx'", 0, text)

    scanner = Scanner(text)
    conditions: list[Condition] = []
    tok = scanner.next()
    while True:
        if tok.kind is not Tok.TAG:
            where = "after 'AND'" if conditions else "at the start of the query"
            raise _unexpected(text, f"expected a tag {where}", tok)
        tag = tok.text
        op_tok = scanner.next()
        op = _OPS.get(op_tok.kind)
        if op is None:
            raise _unexpected(
                text, f"expected an operator (=, <, <=, >, >=, CONTAINS or EXISTS) after tag {tag!r}", op_tok
            )
        arg: Argument | None = None
        if op is not Op.EXISTS:
            allowed, wanted = _ALLOWED.get(op, _ORDERED)
            arg_tok = scanner.next()
            if arg_tok.kind not in allowed:
                raise _unexpected(text, f"expected {wanted} after '{op.value}'", arg_tok)
            arg = Argument(kind=_ARG_KINDS[arg_tok.kind], text=arg_tok.text)
        conditions.append(Condition(tag=tag, op=op, arg=arg))
        tok = scanner.next()
        if tok.kind is Tok.EOF:
            return Query(conditions=tuple(conditions))
        if tok.kind is not Tok.AND:
            raise _unexpected(text, "expected 'AND' or the end of the query", tok)
        tok = scanner.next()


def _unexpected(text: str, expected: str, found: Token) -> QuerySyntaxError:
    """The error at `found`; at an `OR` (any case) it also says how to get "either" without one.

    The hint is in the reason, not only in the CLI's output, so that every front door (API
    problem, Telegram and Discord replies) shows it.
    """
    reason = f"{expected}, found {found.describe()}"
    if found.kind is Tok.TAG and found.text.upper() == "OR":
        reason += f" ({NO_OR_HINT})"
    return QuerySyntaxError(reason, found.start, text)


def normalize(text: str, *, max_length: int | None = MAX_QUERY_LENGTH) -> str:
    """The canonical text of a query (`tag OP value` joined by ` AND `), or QuerySyntaxError."""
    return str(parse(text, max_length=max_length))
