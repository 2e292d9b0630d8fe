"""Why a query was refused, with the exact place, so a user can fix it without guessing.

Every failure of the parser is a `QuerySyntaxError` (a `UserError`, so the front doors turn it
into a 4xx, a chat reply or exit code 2). It carries the character offset of the problem and can
draw a caret under the query; nothing else ever escapes the parser, whatever the input.
"""

from __future__ import annotations

from core.errors import UserError

#: Added to an error found at an `OR`: people reach for it to match either of two things.
NO_OR_HINT = (
    "CometBFT queries have no OR; give a subscription several queries instead: it matches when any of them does"
)

#: How much of a long query `caret_lines` shows on each side of the error.
_CONTEXT = 60


class QuerySyntaxError(UserError):
    """The text is not a query of the CometBFT (v0.38+) grammar.

    `position` is a 0-based character offset into `query` (the end of the text for "ended too
    early"); `reason` is the message without the position; `str(exc)` is `"<reason> at <position>"`.
    """

    status = 422
    slug = "query-syntax"

    def __init__(self, reason: str, position: int, query: str) -> None:
        self.reason = reason
        self.position = position
        self.query = query
        super().__init__(f"{reason} at {position}")

    @property
    def caret_lines(self) -> str:
        """Two lines: the query (or a window of it) and a `^` under the offending character.

        Control characters are shown as spaces or `?` so that the caret stays aligned; queries
        longer than a line are cut around the error with `...` on the cut sides.
        """
        start = max(0, self.position - _CONTEXT)
        end = min(len(self.query), self.position + _CONTEXT)
        shown = "".join(_printable(ch) for ch in self.query[start:end])
        prefix = "..." if start > 0 else ""
        suffix = "..." if end < len(self.query) else ""
        caret = " " * (len(prefix) + self.position - start) + "^"
        return f"{prefix}{shown}{suffix}\n{caret}"

    @property
    def caret_line(self) -> str:
        """Just the `   ^` line of `caret_lines` (aligned with its first line)."""
        return self.caret_lines.split("\n", 1)[1]

    def render(self) -> str:
        """The message followed by the caret lines: what a CLI or chat reply shows."""
        return f"{self}\n{self.caret_lines}"


class QueryTooLongError(QuerySyntaxError):
    """The query exceeds the 512-byte limit of a CometBFT node's RPC (`maxQueryLength`)."""


def _printable(ch: str) -> str:
    if ch in "\t\n\r\v\f":
        return " "
    if not ch.isprintable():
        return "?"
    return ch
