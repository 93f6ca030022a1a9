"""Whole numbers from text (a path's seq, a query parameter, a form field): ASCII digits only.

`str.isdigit` and `int()` accept far more than `0-9`: `int("١")` (Arabic-Indic one)
is 1, `"²".isdigit()` is true but `int("²")` raises, and `int()` refuses 5,000 digits
with a ValueError of its own. Every seq and count a client sends is read here, so
each is either plain digits within its range or a 400 that says what to send.
"""

from __future__ import annotations

from threadkeeper.errors import InvalidInput

MAX_SEQ = 2**53  # far past any thread (THREADKEEPER_MAX_TURNS), inside Redis stream IDs
MAX_WHOLE = 2**63 - 1
_SHOWN = 24  # characters of a refused value repeated in the answer


def is_plain_digits(raw: str) -> bool:
    """`0`-`9` only, at least one: what `int(raw)` reads the same way in any locale."""
    return raw.isascii() and raw.isdigit()


def parse_whole(
    raw: str, what: str, *, low: int = 0, high: int = MAX_WHOLE, field: str | None = None
) -> int:
    """`raw` as a whole number from `low` to `high`, or a 400 naming `what` and the range."""
    # A value with more digits than `high` is out of range: refused before int() reads it.
    if not is_plain_digits(raw) or len(raw.lstrip("0")) > len(str(high)):
        raise _refused(raw, what, low, high, field)
    value = int(raw)
    if not low <= value <= high:
        raise _refused(raw, what, low, high, field)
    return value


def _refused(raw: str, what: str, low: int, high: int, field: str | None) -> InvalidInput:
    shown = raw if len(raw) <= _SHOWN else raw[:_SHOWN] + "…"
    return InvalidInput(
        f"{what} {shown!r} must be a whole number from {low} to {high}, written in the digits 0-9",
        field=field,
    )
