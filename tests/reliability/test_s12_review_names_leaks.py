"""Values of the password and secret kinds that reached the output after this session's
changes, where the code before them (56f34c7) replaced them.

A rejected value (a null, an escape) that held a later secret's name was replaced whole,
so that the name was not passed over; but the value ended inside that name's own value
(``pwd: \\n X_PAT="a b"``: the value ``\\n X_PAT=`` went, ``a b`` stayed). Before,
``cookie`` and ``X_PAT`` were not among the later names looked for, and were found as
names of their own. Now only what comes before the later name goes, and the search reads
on from the name.

An XML element named by ``pass`` alone took its name across a line break or a space
(``<pwd:abc\\npass>``), and its text (empty, rejected) hid the ``pwd:abc`` inside it.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT
from tests._helpers.redaction import least_seconds

LATER = [
    ('pwd: \\n X_PAT="a1b2 c3d4, \r\n&', "a1b2 c3d4"),
    ("pwd = ''nullX_PAT=\"None tok_abcd1234", "tok_abcd1234"),
    ('pwd: \\n cookie="sess9f8e7d, \r\n', "sess9f8e7d"),
    ("--password=&cookie\t=abc9<pass\n", "abc9<pass"),
    ("pwd: \\n GITHUB_TOKEN='a(b9z8'", "a(b9z8"),
    ("password:''&X_PAT= s3cr3t", "s3cr3t"),
]


@pytest.mark.parametrize(("text", "secret"), LATER)
def test_a_name_in_a_rejected_value_keeps_its_value_replaced(text: str, secret: str) -> None:
    out, counts = DEFAULT.redact(text)
    assert secret not in out
    assert counts.get("secret", 0) + counts.get("password", 0) >= 1


@pytest.mark.parametrize(
    "text",
    [
        "x,<pwd:abc9\npass><redacted>%22x\n",
        "x<pwd:abc9\npass>y",
        "x<pwd:abc9 pass>y",
        "x<pwd:abc9\tpass>y",
    ],
)
def test_an_element_name_takes_no_line_break_or_space(text: str) -> None:
    out, _ = DEFAULT.redact(text)
    assert "abc9" not in out
    assert "<pwd:[password]" in out


def test_elements_named_by_pass_alone_still_read() -> None:
    assert DEFAULT.redact("<db_pass>hunter2</db_pass>")[0] == "<db_pass>[password]</db_pass>"
    assert DEFAULT.redact("<db.pass>hunter2<")[0] == "<db.pass>[password]<"
    entry = '<entry name="db_pass">'
    assert DEFAULT.redact(entry + "hunter2<")[0] == entry + "[password]<"


FIRST = ["pwd: ", "password=", "--password=", "passwd = ", "secret: ", "api_key="]
NOTHING = ["\\n ", "''", "null ", "\\n", "None ", "&", "\\t"]
LATER_NAMES = ["X_PAT", "cookie", "GITHUB_TOKEN", "api_key", "password", "client_secret"]
SEPARATORS = ["=", ": ", '="', "='", '": "', "\t="]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(FIRST),
    st.sampled_from(NOTHING),
    st.sampled_from(LATER_NAMES),
    st.sampled_from(SEPARATORS),
    st.from_regex(re.compile(r"[a-z][a-z0-9]{5,11}"), fullmatch=True),
    st.sampled_from(["", " ", "\n", ", x", '"', "<b"]),
)
@example("pwd: ", "\\n ", "X_PAT", '="', "abcdef1", ", ")
@example("pwd: ", "\\n", "password", ": ", "a00000", "")
@example("pwd: ", "\\n ", "password", ": ", "a00000", "")
def test_a_later_names_value_never_reaches_the_output(
    first: str, nothing: str, name: str, separator: str, value: str, tail: str
) -> None:
    """Whatever the rejected value before it, a later name's value is replaced."""
    out, _ = DEFAULT.redact(first + nothing + name + separator + value + tail)
    assert value not in out


# Values read on to the end of a run of glued pieces (no whitespace), each holding the
# next name: cut at every name, each was read to the run's end again (64 KB of
# "<pwd:%26" 18 s); they go whole, as before. (RE2's work counter misses it: the reads
# on are Python's.)
FLOODS = ["<pwd:%26", "%26--password=", "%26\u017fecret=", "pwd=%26X_PAT=%26"]


@pytest.mark.parametrize("unit", FLOODS)
def test_glued_values_holding_names_take_linear_time(unit: str) -> None:
    def seconds(size: int) -> float:
        text = (unit * (size // len(unit) + 1))[:size]
        return least_seconds(lambda: DEFAULT.redact(text))

    small, large = seconds(2048), seconds(32768)
    assert large <= 48 * max(small, 0.001), f"{small:.4f} s then {large:.4f} s"


@pytest.mark.xfail(
    strict=True,
    reason="known gap: the value's regex ends an element's text at a double quote, and the "
    "check, which reads an element's text to its <, sees only values it rejects",
)
def test_an_elements_text_holding_a_double_quote_goes_whole() -> None:
    out, _ = DEFAULT.redact('<password>pa"ss word</password>')
    assert out == "<password>[password]</password>"
