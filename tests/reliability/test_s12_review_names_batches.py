"""Strings read together (`redact_many`, the search `redact_records` makes) come out as
each read alone, with this session's runs of settings lines and name=value pairs: a run
never reads on from one string into the next, whose start is a line of its own."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT

PIECES = [
    "password: a b c",
    "GITHUB_TOKEN=x",
    "x y z",
    "  more words",
    "secret=",
    "password:",
    "pwd: |",
    "  indented line",
    "\u017fecret=c " + "a" * 58,
    " passwd = tok_abcd1234",
    "x password=a pwd: b",
    "api_key=abc secret: def",
    "password=null",
    "pwd: \\n X_PAT=",
    '"a b"',
    "<password>",
    "hunter2</password>",
    "\n",
    "%26",
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("\n".join),
        min_size=2,
        max_size=5,
    )
)
@example(["password: a b c", "more words here"])
@example(["GITHUB_TOKEN=x", "  indented line", "password:"])
@example(["pwd: |", "  indented line"])
@example(["pwd: \\n X_PAT=", '"a b"'])
@example(["<password>", "hunter2</password>"])
def test_strings_read_together_come_out_as_alone(texts: list[str]) -> None:
    assert DEFAULT.redact_many(texts) == [DEFAULT.redact(text)[0] for text in texts]
