"""The lexer of the query language, a faithful port of CometBFT's `query/syntax/scanner.go`.

Rules that surprise people, all inherited from CometBFT v0.38+:

- whitespace between tokens is optional (`a.b='x'AND c.d EXISTS` is fine) and is Go's
  `unicode.IsSpace` set;
- a token starting with an ASCII digit is a number (`\\d+(\\.\\d*)?`), so a tag cannot start with
  one; tags start with a letter, a (non-ASCII) digit or `_` and go on with letters, digits, `.`,
  `_`, `-` (Unicode letters and digits included, as in Go);
- `DATE` / `TIME` followed by exactly one space introduce a literal; otherwise they are tags;
- `AND`, `CONTAINS`, `EXISTS` are keywords only when the whole word matches, case-sensitively;
- strings are single-quoted with no escapes, so a string cannot contain `'`.

The scanner walks the text with an index (no recursion, no regex backtracking), so hostile input
costs linear time and never overflows a stack.
"""

from __future__ import annotations

import enum
import re
import sys

from core.query.errors import QuerySyntaxError
from core.query.timestamps import date_year, parse_date, parse_time

# Go's unicode.IsSpace: Latin-1 spaces plus the Unicode White_Space property.
_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_TIME_RUNES = frozenset("0123456789-T:+Z")
_DATE_RUNES = frozenset("0123456789-")
_KEYWORDS = {"AND", "CONTAINS", "EXISTS"}
_ASCII_TAG_RUN = re.compile(r"[A-Za-z0-9_.\-]*")
#: Literal years CometBFT accepts in DATE / TIME operands.
MIN_YEAR, MAX_YEAR = 1900, 2999


class Tok(enum.Enum):
    EOF = "end of query"
    TAG = "tag"
    STRING = "string"
    NUMBER = "number"
    DATE = "DATE"
    TIME = "TIME"
    AND = "AND"
    CONTAINS = "CONTAINS"
    EXISTS = "EXISTS"
    EQ = "="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


class Token:
    __slots__ = ("kind", "start", "text")

    def __init__(self, kind: Tok, text: str, start: int) -> None:
        self.kind = kind
        self.text = text
        self.start = start

    def describe(self) -> str:
        """How the token is named in error messages ("found tag 'foo'")."""
        if self.kind is Tok.EOF:
            return "end of query"
        if self.kind is Tok.TAG:
            return f"tag {_short(self.text)!r}"
        if self.kind is Tok.STRING:
            return f"string '{_short(self.text)}'"
        if self.kind is Tok.NUMBER:
            return f"number {_short(self.text)}"
        if self.kind in (Tok.DATE, Tok.TIME):
            return f"{self.kind.value} {self.text}"
        return f"'{self.kind.value}'"


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _is_first_tag_char(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or ch.isdecimal()


def _is_tag_char(ch: str) -> bool:
    return ch in "._-" or ch.isalpha() or ch.isdecimal()


def _describe_char(ch: str) -> str:
    if ch.isprintable() and not ch.isspace():
        return repr(ch)
    return f"U+{ord(ch):04X}"


class Scanner:
    """Yields tokens of `text` one at a time through `next()`; raises `QuerySyntaxError`."""

    __slots__ = ("_i", "_n", "_s")

    def __init__(self, text: str) -> None:
        self._s = text
        self._n = len(text)
        self._i = 0

    def _fail(self, reason: str, position: int) -> QuerySyntaxError:
        return QuerySyntaxError(reason, position, self._s)

    def next(self) -> Token:
        s, n, i = self._s, self._n, self._i
        while i < n and s[i] in _SPACE:
            i += 1
        if i >= n:
            self._i = i
            return Token(Tok.EOF, "", i)
        ch = s[i]
        if "0" <= ch <= "9":
            tok, self._i = self._number(i)
        elif _is_first_tag_char(ch):
            tok, self._i = self._word(i)
        elif ch == "'":
            end = s.find("'", i + 1)
            if end < 0:
                raise self._fail("unterminated string (no closing ')", i)
            tok, self._i = Token(Tok.STRING, s[i + 1 : end], i), end + 1
        elif ch in "<>":
            if i + 1 < n and s[i + 1] == "=":
                tok, self._i = Token(Tok.LE if ch == "<" else Tok.GE, ch + "=", i), i + 2
            else:
                tok, self._i = Token(Tok.LT if ch == "<" else Tok.GT, ch, i), i + 1
        elif ch == "=":
            tok, self._i = Token(Tok.EQ, "=", i), i + 1
        else:
            hint = " (use single quotes)" if ch in '"\u2018\u2019\u201c\u201d' else ""
            if ch == "!":
                hint = " (there is no != operator)"
            raise self._fail(f"unexpected character {_describe_char(ch)}{hint}", i)
        return tok

    def _number(self, i: int) -> tuple[Token, int]:
        s, n = self._s, self._n
        j = i + 1
        while j < n and "0" <= s[j] <= "9":
            j += 1
        if j < n and s[j] == ".":
            j += 1
            while j < n and "0" <= s[j] <= "9":
                j += 1
        return Token(Tok.NUMBER, s[i:j], i), j

    def _word(self, i: int) -> tuple[Token, int]:
        s, n = self._s, self._n
        j = _ASCII_TAG_RUN.match(s, i + 1).end()  # type: ignore[union-attr]  # always matches
        while j < n and _is_tag_char(s[j]):  # non-ASCII letters and digits, as in Go
            j = _ASCII_TAG_RUN.match(s, j + 1).end()  # type: ignore[union-attr]  # likewise
        word = s[i:j]
        if word in ("DATE", "TIME") and j < n and s[j] == " ":
            return self._stamp(word, i, j + 1)
        if word in _KEYWORDS:
            return Token(Tok[word], word, i), j
        return Token(Tok.TAG, sys.intern(word), i), j  # tags repeat across queries: share them

    def _stamp(self, word: str, start: int, lit_start: int) -> tuple[Token, int]:
        s, n = self._s, self._n
        allowed = _TIME_RUNES if word == "TIME" else _DATE_RUNES
        j = lit_start
        while j < n and s[j] in allowed:
            j += 1
        text = s[lit_start:j]
        if word == "TIME":
            ok = parse_time(text) is not None
            shape = "an RFC3339 time such as 2006-01-02T15:04:05Z or ...+07:00"
        else:
            ok = parse_date(text) is not None
            shape = "a date YYYY-MM-DD"
        if not ok:
            raise self._fail(f"invalid {word} literal {_short(text)!r}: expected {shape}", lit_start)
        if not MIN_YEAR <= date_year(text) <= MAX_YEAR:
            raise self._fail(f"{word} year must be between {MIN_YEAR} and {MAX_YEAR}", lit_start)
        return Token(Tok.DATE if word == "DATE" else Tok.TIME, text, start), j
