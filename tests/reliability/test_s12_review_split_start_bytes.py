"""`start_bytes` against RE2 itself: no byte a match owes to the text's start is left out.

Where a text starts again after a value, a part's earlier answer (read with a byte
before that start) is trusted at the new first byte unless the byte is in the part's
`start_bytes`. A set too small misses a value there: a match that holds at the start of
a text but not after some other byte must begin with a byte of the set.
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmguard.redact import Patterns
from llmguard.redact._patterns import DEFAULT_PATTERNS
from llmguard.redact._search import RE2, compile_regex, start_bytes

# Characters whose case folds reach past ASCII (the long s, the Kelvin sign) or back.
_LETTERS = ["a", "A", "s", "S", "k", "K", "\u017f", "\u212a", "é", "É"]
_ATOMS = [
    *_LETTERS, '"', "-", "_", "0", " ", "\\n", "#",
    "[a-c]", "[A-C]", "[s-t]", "[[:alpha:]]", "[[:punct:]]", "[[:digit:]]", "[[:^alpha:]]",
    "\\d", "\\w", "\\s", "\\W", ".", "[^a]", "[é-ü]", "[\u017f]",
]  # fmt: skip
_ASSERTIONS = ["^", "(?m:^)", "\\b", "\\B", "\\A"]
_TEXT = 'aAsSkK\u017f\u212aéÉ"-_0 \n#xZ:'
_BEFORE = ["x", " ", "\n", "0", "é", '"', "#"]


def _regexes() -> st.SearchStrategy[str]:
    leaf = st.sampled_from(_ATOMS + _ASSERTIONS)
    tree = st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=4).map("".join),
            st.tuples(inner, inner).map(lambda pair: f"(?:{pair[0]}|{pair[1]})"),
            inner.map(lambda r: f"(?i:{r})"),
            inner.map(lambda r: f"(?-i:{r})"),
            st.tuples(inner, st.sampled_from(["*", "+", "?", "{0,2}", "{2}"])).map(
                lambda pair: f"(?:{pair[0]}){pair[1]}"
            ),
        ),
        max_leaves=6,
    )
    return st.tuples(st.sampled_from(["", "(?i)"]), tree).map("".join)


def _matches(regex: Any, data: bytes, pos: int) -> bool:
    return bool(regex.Match(RE2.anchor_start, data, pos, len(data))[0][0] >= 0)


def _owed(source: str, texts: list[str]) -> list[tuple[str, str]]:
    """The (text, byte before) where ``source`` matches at the text's start but not past
    that byte, the text's first byte missing from its `start_bytes`."""
    firsts = start_bytes(source)
    if firsts is None:
        return []
    regex = compile_regex(source, False)
    missed = []
    for text in texts:
        data = text.encode()
        if not data or data[0] in firsts or not _matches(regex, data, 0):
            continue
        for before in _BEFORE:
            if not _matches(regex, before.encode() + data, len(before.encode())):
                missed.append((text, before))
    return missed


def _compiles(source: str) -> bool:
    try:
        compile_regex(source, False)
    except Exception:
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(_regexes().filter(_compiles), st.lists(st.text(_TEXT, min_size=1, max_size=6), max_size=12))
@example("^[[:punct:]]x", ['"x'])  # RE2's POSIX class, which Python's re reads as a set
@example("^[[:alpha:]]", ["Z"])
@example("(?i)^k", ["K"])  # a flag for the whole regex, at its start
@example("(?i:^\u017f)", ["s", "S"])  # the long s folds to an ASCII s
@example("(?i:^\u212a)", ["k", "K"])  # the Kelvin sign to an ASCII k
@example("(?i)\\bs", ["S"])
def test_a_match_owed_to_the_start_begins_with_one_of_its_start_bytes(
    source: str, texts: list[str]
) -> None:
    assert _owed(source, [*texts, *_LETTERS, *_TEXT]) == []


def test_a_pattern_of_posix_classes_is_found_right_after_a_password() -> None:
    """End to end: the name kinds beside a pattern that starts with RE2's ``[[:punct:]]``.
    After the password's value the text starts again at the quote, where that pattern
    matches; the other part had looked there with a byte before it, and the quote was
    not among its first bytes (Python's re reads ``[[:punct:]]`` as ``[[:punct]``)."""
    patterns = Patterns(
        {
            "password": DEFAULT_PATTERNS["password"],
            "secret": DEFAULT_PATTERNS["secret"],
            "ticket": r"^[[:punct:]]tok_[a-z]+",
        }
    )
    assert patterns.redact('password=abc"tok_abc') == (
        "password=[password][ticket]",
        {"password": 1, "ticket": 1},
    )
    assert patterns.redact('x password=abc"tok_abc  "tok_abc') == (
        'x password=[password][ticket]  "tok_abc',
        {"password": 1, "ticket": 1},
    )
