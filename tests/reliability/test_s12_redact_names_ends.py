"""Where a value under a secret's name ends (its closing quote, its line's end) is read by
Python's re written as runs of plain characters between escapes: the same ends as the
one-character-at-a-time alternations they replace, which took 80 ms a megabyte (a
settings line's value of a megabyte was read three times: 250 ms; now 10 ms)."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmguard.redact import _patterns

# The alternations as they were written before, one character or escape at a time.
_PLAIN = {
    _patterns._DOUBLE_QUOTED: r'(?:[^"\\\r\n]|\\[^\r\n])*',
    _patterns._SINGLE_QUOTED: r"(?:[^'\\\r\n]|\\[^\r\n]|'')*",
    _patterns._JSON_IN_STRING: r'(?:[^\\\r\n]|\\[^"\\\r\n]|\\\\(?:[^\\\r\n]|\\[^\r\n]))*',
    _patterns._LINE: r"(?:[^\\\r\n]|\\[^nr\r\n])*",
}
_TEXT = st.lists(
    st.sampled_from(["a", " ", "\\", "\\\\", "n", "r", "t", '"', "'", "''", "\r", "\n", "é"]),
    max_size=16,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(_TEXT)
@example('a\\"b"c')
@example("it''s' x")
@example('\\\\\\"x\\"')
@example("a\\nb\nc")
def test_value_ends_read_as_the_alternations_did(text: str) -> None:
    """Every ending regex, on text and on its UTF-8 bytes, ends where the old one did."""
    for source, plain in _PLAIN.items():
        pairs: list[tuple[Any, Any, Any]] = [
            (_patterns._ENDS[source], re.compile(plain), text),
            (_patterns._BYTE_ENDS[source], re.compile(plain.encode()), text.encode()),
        ]
        for new, old, data in pairs:
            found, expected = new.match(data), old.match(data)
            assert found is not None
            assert expected is not None
            assert found.end() == expected.end(), (source, text)
