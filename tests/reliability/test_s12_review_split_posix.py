"""Patterns with RE2's POSIX classes (``[[:digit:]]``), which Python's re reads otherwise.

Python's re reads ``[[:digit:]]`` as a set of ``[:digt`` followed by a ``]`` (and warns
of a possible nested set): the kind of a match, which `Search.read` asks Python's re
about, must come from RE2 for such patterns, and building the readers must not warn
(an application testing with warnings as errors would get one from llmguard's own
regexes, at construction or at the first text with a kind hidden).
"""

from __future__ import annotations

import warnings

from hypothesis import given, settings
from hypothesis import strategies as st

from llmguard.redact import Patterns


def test_a_match_of_the_second_kind_is_not_named_after_the_first() -> None:
    """RE2's ``x[[:digit:]]`` needs a digit after the x; Python's re read it as
    ``x[[:digt]\\]``, which matches ``x:]``, the second kind's match."""
    patterns = Patterns({"first": r"x[[:digit:]]", "second": r"x:]"})
    assert patterns.redact("a x:] b") == ("a [second] b", {"second": 1})
    assert patterns.redact("x7 x:]") == ("[first] [second]", {"first": 1, "second": 1})


def test_no_warning_from_llmguard_at_construction_or_redaction() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        patterns = Patterns(
            {
                "code": (r"[[:upper:]]{3}-[[:digit:]]+", lambda value: not value.endswith("0")),
                "email": r"[[:alnum:]]+@[[:alnum:]]+\.io",
            }
        )
        # a rejected code hides its kind: another search, built now
        assert patterns.redact("ABC-10 ABC-12 a@b.io") == (
            "ABC-10 [code] [email]",
            {"code": 1, "email": 1},
        )


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="x:]7[ dgit", max_size=30))
def test_the_kinds_named_are_re2s(text: str) -> None:
    """Against each kind alone, with RE2 (the same patterns spelled without POSIX
    classes): the same replacements."""
    posix = Patterns({"first": r"x[[:digit:]]", "second": r"x:]"})
    plain = Patterns({"first": r"x[0-9]", "second": r"x:]"})
    assert posix.redact(text) == plain.redact(text)


def test_a_pattern_with_a_flag_for_all_of_it_beside_the_defaults_warns_nothing() -> None:
    """A `(?i)` for a whole pattern of one's own lands inside the combined Python regex:
    Python 3.11 refuses it there, and 3.10 warned (a DeprecationWarning raised out of
    `Patterns(...)` under -W error) and applied it to every kind. Such kinds are read by
    RE2 alone, on every Python."""
    import warnings

    from llmguard.redact import Patterns
    from llmguard.redact._patterns import DEFAULT_PATTERNS

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        patterns = Patterns({**DEFAULT_PATTERNS, "ticket": r"(?i)\btick-[0-9]{4,}"})
        redacted, counts = patterns.redact("see TICK-12345 and password=hunter2 now")
    assert redacted == "see [ticket] and password=[password] now"
    assert counts == {"ticket": 1, "password": 1}
