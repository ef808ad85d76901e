"""A settings line whose name holds letters past ASCII is read to its end.

RE2 folds the long s to s, so ``\\u017fecret=`` names a secret; a value too long to be
one word goes to the check, which reads ``\\u017fecret=`` as a settings line (Python's
``\\w`` takes the long s) and so reads the value to the line's end. But what the check
was given to read was decided over bytes, where ``\\w`` is ASCII alone: no settings line,
64 bytes past the value. The value ended there, and the rest of the line stayed
(``tok_abcd1234`` after ``passwd =``, whose name fell inside the value). Other letters
past ASCII in a setting's name did the same (``ÉCLAT_TOKEN=``, ``café_password:``).
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT

SECRET = "tok_abcd1234"


@pytest.mark.parametrize("pad", [0, 30, 45, 53, 54, 58, 62, 63, 80])
def test_the_long_s_settings_line_is_replaced_to_its_end(pad: str) -> None:
    text = "\u017fecret=c " + "a" * int(pad) + " passwd = " + SECRET
    assert DEFAULT.redact(text) == ("\u017fecret=[secret]", {"secret": 1})


@pytest.mark.parametrize(
    ("name", "kind"),
    [("\u00c9CLAT_TOKEN", "secret"), ("caf\u00e9_password", "password"), ("\u017fecret", "secret")],
)
def test_names_past_ascii_on_settings_lines(name: str, kind: str) -> None:
    text = f"x\n{name}: two words " + "b" * 70 + " " + SECRET + "\nnext line"
    out, counts = DEFAULT.redact(text)
    assert out == f"x\n{name}: [{kind}]\nnext line"
    assert counts == {kind: 1}


@settings(max_examples=40, deadline=None)
@given(
    st.text(st.sampled_from("\u00e9\u00c9\u00df\u017f\u00f1\u0430\u4e2d"), min_size=1, max_size=3),
    st.sampled_from(["_TOKEN", "_password", "secret", "_api_key"]),
    st.sampled_from(["=", ": ", " = ", ":="]),
    st.integers(min_value=0, max_value=120),
    st.sampled_from(["", "\n", "\r\n", "\nnext: line"]),
)
@example("\u017f", "ecret", "=", 58, "")
def test_a_settings_value_never_reaches_the_output_whatever_the_names_letters(
    letters: str, name: str, separator: str, pad: int, tail: str
) -> None:
    text = f"{letters}{name}{separator}c " + "a" * pad + f" passwd = {SECRET}{tail}"
    out, _ = DEFAULT.redact(text)
    assert SECRET not in out
    assert out.endswith(tail)
