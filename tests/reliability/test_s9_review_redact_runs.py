"""A review of the runs read in one RE2 match (bearer tokens, glued URL passwords, ``+``
phone numbers, emails mixed with ``+`` phone numbers), as a hostile user would write
them: unusual whitespace and JSON escapes between values, runs longer than RE2's first
windows with a value needing the splitter anywhere, cut into several strings, and in
every field of a record. The engine must replace what reading each value alone does."""

from __future__ import annotations

import dataclasses
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard.redact import DEFAULT, Patterns

ONE_BY_ONE = Patterns(
    {
        name: (re.compile(f"(?:{pattern.pattern})", re.A), validator)
        for name, (pattern, validator) in DEFAULT.patterns.items()
    }
)

DIGITS = "0123456789"
EMAILS = st.one_of(
    st.from_regex(
        r"[a-zA-Z0-9._%+'-]{1,6}@[a-z0-9-]{1,3}\.(io|co|co\.uk|b-c\.com)", fullmatch=True
    ),
    st.sampled_from(["a@b.co", "5@b.co", "+x@b.co", "a+1@b.io", "o'b@x.io", "+12345678@b.co"]),
)
PLUS = st.one_of(
    st.text(DIGITS, min_size=5, max_size=17).map(lambda digits: "+" + digits),
    st.tuples(
        st.text(DIGITS, min_size=1, max_size=3),
        st.lists(st.text(DIGITS, min_size=1, max_size=11), min_size=1, max_size=6),
        st.sampled_from([" ", " ", "-", "."]),
    ).map(lambda parts: parts[2].join(["+" + parts[0], *parts[1]])),
    st.sampled_from(["+1 (415) 555-2671", "+12345678+9", "+1 415 4111 1111 1111 1111"]),
)
OTHERS = st.sampled_from(
    [
        "(415) 555-2671", "415-555-2671", "020 7946 0958", "4155552671", "4111111111111111",
        "4111 1111 1111 1111", "4111111111111112", "078-05-1120", "sk-" + "a1" * 12,
        "ghp_" + "A1" * 18, "AKIAIOSFODNN7EXAMPLE", "110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsaw",
        "GB82 WEST 1234 5698 7654 32",
    ]
)  # fmt: skip
BEARERS = st.tuples(
    st.sampled_from(["Bearer", "bearer", "BEARER"]),
    st.sampled_from([" ", "\t", "  "]),
    st.one_of(OTHERS, st.text("abcXYZ019._~+/-=:", min_size=1, max_size=12)),
).map("".join)
URLS = st.tuples(
    st.sampled_from(["postgres", "https", "jdbc:mysql", "redis", "xyz"]),
    st.text("ab1._%-+", max_size=4),
    st.sampled_from([":", ""]),
    st.text("pw9.!$%-_~", max_size=6),
    st.sampled_from(["@", "@", "@h", "@ "]),
).map(lambda parts: parts[0] + "://" + "".join(parts[1:]))
FAMILIES = st.sampled_from(
    [
        EMAILS, PLUS, BEARERS, URLS, st.one_of(EMAILS, PLUS), st.one_of(EMAILS, PLUS, OTHERS),
        st.one_of(BEARERS, OTHERS), st.one_of(PLUS, OTHERS),
    ]
)  # fmt: skip
# What may stand between two values, besides the one space of a run.
ODD = st.sampled_from(
    [
        "\t", "\r", "\n", "\r\n", "\x0b", "\x0c", "  ", "", ",", "x", "(", "-", ".", "'", "+",
        "@", ":", "5", " 5", " (", '"', "\\n", "\\t", "\\u00a0", "\\\\n", "\\",
    ]
)  # fmt: skip


@st.composite
def runs(draw: st.DrawFn, most: int) -> str:
    """Values of one family, mostly a space apart, some other text between a few."""
    family = draw(FAMILIES)
    pieces = []
    for _ in range(draw(st.integers(1, most))):
        pieces.append(draw(family))
        pieces.append(draw(ODD) if draw(st.integers(0, 4)) == 0 else " ")
    return draw(st.sampled_from(["", " ", "x ", "\\n", "("])) + "".join(pieces)


def _cut(text: str, cuts: list[int]) -> list[str]:
    at = sorted({cut % (len(text) + 1) for cut in cuts})
    return [text[a:b] for a, b in zip([0, *at], [*at, len(text)], strict=True)]


def _same_as_one_by_one(texts: list[str]) -> None:
    for text in texts:
        assert DEFAULT.redact(text) == ONE_BY_ONE.redact(text), text
    redacted = DEFAULT.redact_many(texts)
    assert redacted == ONE_BY_ONE.redact_many(texts), texts


@settings(max_examples=60, deadline=None)
@given(runs(30), st.lists(st.integers(0, 1000), max_size=3))
def test_runs_between_odd_whitespace_and_escapes_come_out_as_read_one_by_one(
    text: str, cuts: list[int]
) -> None:
    """Whitespace a run does not take (\\x0b, \\x0c), JSON escapes, glued values, values at
    the very start and end of a string (the text cut into several)."""
    _same_as_one_by_one([text, *_cut(text, cuts)])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    st.lists(st.one_of(ODD, PLUS, OTHERS, EMAILS), min_size=1, max_size=3),
    st.integers(30, 150),
)
def test_long_runs_come_out_as_read_one_by_one(
    data: st.DataObject, breakers: list[str], repeats: int
) -> None:
    """A unit of one family repeated past RE2's first windows (512 bytes, then twice as
    many each time), other text or a value needing the splitter cutting in anywhere."""
    family = data.draw(FAMILIES)
    unit = " ".join(data.draw(st.lists(family, min_size=1, max_size=3))) + " "
    text = unit * repeats
    for breaker in breakers:
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + breaker + text[at:]
    _same_as_one_by_one([text, "x " + text + "end"])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(1, 3))
def test_runs_in_every_field_of_records_come_out_as_read_one_by_one(
    data: st.DataObject, count: int
) -> None:
    """Runs in a record's name, tags, model, error message, input and output (dictionary
    keys, bytes, lists), metadata: a batch redacts each record as the one-by-one engine
    does, and as the record redacted alone."""
    text = runs(12)

    def record() -> lg.Record:
        return lg.Record(
            trace_id="t" * 32, span_id="s" * 16, name=data.draw(text), start="s", end="e",
            duration_ms=1.0, tags=tuple(data.draw(st.lists(text, max_size=2))),
            model=data.draw(text), error_message=data.draw(st.one_of(st.none(), text)),
            input={data.draw(text): data.draw(text), "b": data.draw(text).encode()},
            output=[data.draw(text), 14155552671], metadata={data.draw(text): data.draw(text)},
        )  # fmt: skip

    records = [record() for _ in range(count)]
    batch = DEFAULT.redact_records(records)
    assert list(map(dataclasses.asdict, batch)) == list(
        map(dataclasses.asdict, ONE_BY_ONE.redact_records(records))
    )
    assert list(map(dataclasses.asdict, batch)) == [
        dataclasses.asdict(DEFAULT(one)) for one in records
    ]
