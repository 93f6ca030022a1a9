"""How deeply a JSON body nests, found before anything decodes it.

A decoder recurses once per level, so a body of 5,000 `[` would reach Python's
recursion limit inside msgspec (a RecursionError, not a refusal). The depth is
measured on the bytes instead, with C-speed bytes methods only: strings are cut
out (escapes first, so `"\\""` cannot fool it), every byte but the brackets is
dropped (braces counted as brackets), and innermost pairs are removed one level
per pass. A body deeper than the limit is refused naming THREADKEEPER_MAX_JSON_DEPTH;
one that is not JSON is left for the decoder to describe.
"""

from __future__ import annotations

from threadkeeper.errors import InvalidInput

SETTING = "THREADKEEPER_MAX_JSON_DEPTH"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_ONE_KIND = bytes.maketrans(b"{}", b"[]")  # depth is the same whatever the kind


def nesting_over(raw: bytes, limit: int) -> bool:
    """True if the JSON text `raw` nests more than `limit` arrays and objects deep."""
    if raw.count(b"[") + raw.count(b"{") <= limit:  # most bodies: too few to nest deeper
        return False
    brackets = _brackets(raw)
    if len(brackets) <= 2 * limit:  # too few brackets to nest any deeper
        return False
    for _ in range(limit):
        inner = brackets.replace(b"[]", b"")
        if not inner or len(inner) == len(brackets):  # shallow enough, or not JSON
            return False
        brackets = inner
    return True


def _brackets(raw: bytes) -> bytes:
    """The structural brackets of `raw`, in order: everything inside strings dropped."""
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    return outside_strings.translate(_ONE_KIND, _NOT_BRACKETS)


def too_deep(limit: int) -> InvalidInput:
    return InvalidInput(
        f"the request body nests deeper than {limit} levels of arrays and objects "
        f"({SETTING}): send flatter JSON (a deeply nested value as a string)",
        limit=limit,
        setting=SETTING,
    )


def check_nesting(raw: bytes, limit: int) -> None:
    if nesting_over(raw, limit):
        raise too_deep(limit)
