"""Numbers read exactly the way CometBFT v0.38+ reads them (`libs/pubsub/query/query.go`).

A value is a number if it STARTS with `[0-9]+(\\.[0-9]+)?`; the rest (`uatom`, `stake`,
`,5uosmo`) is ignored. Go converts that prefix to a `big.Float` whose precision depends on the
whole value: when the whole value is a plain integer the precision is its bit length (exact, no
matter how large); otherwise it is 125 bits, rounded to nearest-even. Operands follow the same
rule (integer literals exact, decimal literals rounded to 125 bits). We compute the very same
rounded values with Python ints and Fractions, so answers agree with a node bit for bit, and never
go through a float. Values that do not start with an ASCII digit (`-5`, ` 100`, `""`, `cosmos1..`)
are not numbers: the condition simply does not hold for them.
"""

from __future__ import annotations

import re
from fractions import Fraction

#: Mantissa bits Go uses for non-integer text (`big.ParseFloat(..., 125, big.ToNearestEven)`).
GO_FLOAT_PRECISION = 125

Number = int | Fraction

_LEADING = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_INT_CHUNK = 4000  # below CPython's int/str conversion limit (4300 digits)


def _to_int(digits: str) -> int:
    """int() of an ASCII digit string of any length (CPython refuses > 4300 digits at once)."""
    if len(digits) <= _INT_CHUNK:
        return int(digits)
    mid = len(digits) // 2
    return _to_int(digits[:mid]) * 10 ** (len(digits) - mid) + _to_int(digits[mid:])


def round_to_precision(num: int, den: int, prec: int = GO_FLOAT_PRECISION) -> Number:
    """num/den (both > 0, or num == 0) rounded to `prec` mantissa bits, ties to even."""
    if num == 0:
        return 0
    if den == 1 and num.bit_length() <= prec:
        return num
    lo, hi = 1 << (prec - 1), 1 << prec
    e = num.bit_length() - den.bit_length() - prec
    while True:
        n, d = (num, den << e) if e >= 0 else (num << -e, den)
        q, r = divmod(n, d)
        if q >= hi:
            e += 1
        elif q < lo:
            e -= 1
        else:
            break
    if 2 * r > d or (2 * r == d and q & 1):
        q += 1
    return q << e if e >= 0 else Fraction(q, 1 << -e)


def _decimal(text: str, exact_integer: bool) -> Number:
    whole, _, frac = text.partition(".")
    if not frac:
        n = _to_int(whole)
        return n if exact_integer else round_to_precision(n, 1)
    return round_to_precision(_to_int(whole + frac), 10 ** len(frac))


def parse_value(value: str) -> Number | None:
    """The number a value stands for under a numeric condition, or None if it is not one."""
    m = _LEADING.match(value)
    if m is None:
        return None
    text = m.group()
    return _decimal(text, exact_integer=m.end() == len(value) and "." not in text)


def parse_literal(text: str) -> Number:
    """The value of a number operand as scanned (`\\d+(\\.\\d*)?`, e.g. `100`, `0.13`, `5.`)."""
    if "." not in text:
        return _to_int(text)
    return _decimal(text.rstrip(".") if text.endswith(".") else text, exact_integer=False)
