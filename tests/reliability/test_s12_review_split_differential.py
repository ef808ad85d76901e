"""The split search against one regex, beyond DEFAULT's own order and kinds.

The name kinds are split off by their source, whatever else a redactor holds: in other
orders (where both parts match at one start, the first kind wins, so the names first
and last), beside a pattern of one's own (then no kind has runs or contexts), or with a
few other kinds only (where a part's first bytes are few, so its earlier answers are
trusted more often). Batches (`redact_many`, `redact_records`: strings joined by line
breaks, dictionary keys and values) must come out the same too.
"""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard.redact import Patterns, _engine, _patterns
from llmguard.redact._patterns import DEFAULT_PATTERNS, PatternSpec
from tests.reliability.test_s12_redact_split_search import PIECES


def _pair(patterns: dict[str, PatternSpec]) -> tuple[Patterns, Patterns]:
    """The same kinds with the name kinds split off, and in one regex."""
    made = []
    for apart in (_patterns.APART, frozenset()):
        with mock.patch.object(_engine, "APART", apart):
            made.append(Patterns(patterns))
    return made[0], made[1]


_NAMES = ("password", "secret")
_REST = [kind for kind in DEFAULT_PATTERNS if kind not in _NAMES]
_CONFIGS = {
    "names first": [*_NAMES[::-1], *_REST],
    "names last": [*_REST, *_NAMES],
    "few": ["password", "email", "secret", "phone", "card", "url_credentials"],
    "names only": list(_NAMES),
}
_PAIRS = {name: _pair({k: DEFAULT_PATTERNS[k] for k in kinds}) for name, kinds in _CONFIGS.items()}
_PAIRS["own"] = _pair({**DEFAULT_PATTERNS, "ticket": r"(?i)\btick-[0-9]{4,}"})
_PAIRS["own first"] = _pair({"ticket": r"(?m:^)[A-Z]{3}-\d+", **DEFAULT_PATTERNS})
_PAIRS["names and own"] = _pair(
    {
        "password": DEFAULT_PATTERNS["password"],
        "ticket": r"^[[:punct:]]tok_[a-z]+",
        "secret": DEFAULT_PATTERNS["secret"],
    }
)

_MORE = [
    "TICK-12345", "ABC-123", '"tok_abc', "4111 1111 1111 1112", "+1 415 555 2671", "a@b.pass=",
    "x@y.secrets:", "%22password%22%3A%22", "\\u0022secret\\u0022:", "\u017fecret=", "\u212a",
    "\r\n", "passphrase:", "ID_TOKEN=",
]  # fmt: skip
_TEXTS = st.lists(st.sampled_from(PIECES + _MORE), max_size=20).map("".join)


@pytest.mark.parametrize("config", sorted(_PAIRS))
@settings(max_examples=20, deadline=None)
@given(texts=st.lists(_TEXTS, min_size=1, max_size=4))
@example(texts=['password=abc"tok_abc', "4111 1111 1111 1112password=x\nABC-12"])
@example(texts=["a@b.pass=" * 5, "x@y.secrets:é" * 3])
def test_the_split_search_replaces_what_one_regex_replaces(config: str, texts: list[str]) -> None:
    split, whole = _PAIRS[config]
    assert [split.redact(text) for text in texts] == [whole.redact(text) for text in texts]
    assert split.redact_many(texts) == whole.redact_many(texts)
    record = lg.Record(
        trace_id="t" * 32, span_id="s" * 16, name="call", start="2026-01-01T00:00:00.000000Z",
        end="2026-01-01T00:00:01.000000Z", duration_ms=1.0,
        input={"messages": [{"role": "user", "content": text} for text in texts],
               texts[0]: texts[-1], "nested": {"password": texts[0], "k": texts}},
    )  # fmt: skip
    assert split.redact_records([record, record]) == whole.redact_records([record, record])
