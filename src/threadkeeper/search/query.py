"""What a user types -> an FTS5 query: words, "phrases" and prefix* terms, all required.

The user's text is never handed to FTS5's own syntax (its column filters, NEAR and
parentheses would let a query reach past the tenant's scope, and a stray quote would
be a syntax error): each term is quoted here, and the terms are ANDed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from threadkeeper.errors import InvalidInput

_TERM = re.compile(r'"([^"]*)"?|(\S+)')
# Control characters separate words: FTS5 reads its query as a C string, so a NUL would
# cut it short (an unterminated phrase: a SQLite error, not a 400).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Query:
    text: str  # as typed
    match: str  # the FTS5 MATCH expression over the body column


def _quoted(words: str) -> str:
    return '"' + words.replace('"', '""') + '"'


def _has_word(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _terms(text: str) -> list[str]:
    terms = []
    for phrase, word in _TERM.findall(_CONTROL.sub(" ", text)):
        if phrase and _has_word(phrase):
            terms.append(_quoted(phrase))
        elif word:
            stem = word.strip('"').rstrip("*")
            prefix = word.endswith("*") and len(stem) > 0
            if _has_word(stem):
                terms.append(_quoted(stem) + ("*" if prefix else ""))
    return terms


def parse_query(text: str | None, max_chars: int, max_terms: int) -> Query:
    """A query's FTS5 form; 400 for an empty one or one past the limits (settings)."""
    text = (text or "").strip()
    if len(text) > max_chars:
        raise InvalidInput(
            f"the search query is {len(text)} characters, over {max_chars} "
            "(THREADKEEPER_MAX_SEARCH_QUERY): search for fewer words",
            limit=max_chars,
            setting="THREADKEEPER_MAX_SEARCH_QUERY",
        )
    terms = _terms(text)
    if not terms:
        raise InvalidInput(
            'q is empty: give words to find, a "quoted phrase" or a prefix* '
            f"(at most {max_chars} characters, THREADKEEPER_MAX_SEARCH_QUERY)",
            field="q",
        )
    if len(terms) > max_terms:
        raise InvalidInput(
            f"the search query has {len(terms)} terms, over {max_terms} "
            "(THREADKEEPER_MAX_SEARCH_TERMS): search for fewer words",
            limit=max_terms,
            setting="THREADKEEPER_MAX_SEARCH_TERMS",
        )
    return Query(text, " AND ".join(terms))
