"""An XML element's text under a secret's name is replaced, in linear time.

Session 11 took the element form out: its value was read by the regex to the next
whitespace and cut at the next ``<`` by the check, so a line of
``+14155552671(<password>`` repeated was read to its end once per value (64 KB took
8.5 s). The regex's value now ends right after its first ``<``; a value that holds one
elsewhere (``password=a<b``) is read on past it by the check, as before.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT
from tests._helpers.redaction import assert_linear_work, least_seconds

_ELEMENTS = [
    ("<password>hunter2</password>", "<password>[password]</password>", "password"),
    ("<db:Password>two words</db:Password>", "<db:Password>[password]</db:Password>", "password"),
    ('<entry name="password">x</entry>', '<entry name="password">[password]</entry>', "password"),
    ("<client_secret>s3cr3t</client_secret>", "<client_secret>[secret]</client_secret>", "secret"),
    ("<password>a&lt;b</password>", "<password>[password]</password>", "password"),
    ('{"xml": "<password>x</password>"}', '{"xml": "<password>[password]</password>"}', "password"),
    ("<db>\n <password>p@ss w0rd</password>", "<db>\n <password>[password]</password>", "password"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected", "kind"), _ELEMENTS)
def test_an_elements_text_under_a_secrets_name_goes(text: str, expected: str, kind: str) -> None:
    """The text of <password>, <db:Password>, <entry name="password">...: replaced, tags kept."""
    assert DEFAULT.redact(text) == (expected, {kind: 1})


@pytest.mark.parametrize(
    "text",
    [
        "<password></password>",
        "<password> </password>",
        "<password>***</password>",
        "<password>null</password>",
        "<password_hint>my dog</password_hint>",
    ],
)
def test_empty_or_placeholder_element_text_stays(text: str) -> None:
    """No value, a placeholder, a null, or another name's element: nothing replaced."""
    assert DEFAULT.redact(text) == (text, {})


_HOLDING_LT = [
    ("password=a<b", "password=[password]"),
    ("url ?password=P@ss<w0rd&user=bob", "url ?password=[password]&user=bob"),
    ("run password=a<b c", "run password=[password] c"),
    ("run password=<x>y b", "run password=[password] b"),
    ("run password=<x> b", "run password=<x> b"),
    ('"password": "a<b c", "u": 1', '"password": "[password]", "u": 1'),
    ("db:\n  password: a<b c\n  host: x", "db:\n  password: [password]\n  host: x"),
    ("--password x<y<z next", "--password [password] next"),
    ("password=>x<y", "password=>[password]"),
    ('<add key="Password" value="a<b"/>', '<add key="Password" value="[password]"/>'),
]


@pytest.mark.parametrize(("text", "expected"), _HOLDING_LT)
def test_a_value_holding_a_lt_elsewhere_still_goes_whole(text: str, expected: str) -> None:
    """Outside an element, a < inside a value is part of it: the value goes whole."""
    assert DEFAULT.redact(text)[0] == expected


_LT_VALUE = st.text(alphabet="ab1<>=:/.-+!@#x", min_size=1, max_size=40).filter(
    lambda value: "<" in value and value[-1] not in ",)}]" and not value.startswith(("<", ">"))
)


@settings(max_examples=60, deadline=None)
@given(_LT_VALUE, st.sampled_from(["password=", "secret=", "api_key: ", "--password ", "Pwd="]))
@example("a<b<c", "password=")
@example("x<", "--password ")
def test_an_unquoted_value_holding_lt_goes_whole(value: str, name: str) -> None:
    """Any unquoted word holding a < after a secret's name is replaced whole, up to the space."""
    redacted, counts = DEFAULT.redact(f"say {name}{value} done")
    kind = "secret" if "secret" in name or "key" in name else "password"
    assert redacted == f"say {name}[{kind}] done"
    assert counts == {kind: 1}


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab1 =:/.-+!@#x&;", min_size=1, max_size=40).filter(str.strip))
@example("two words")
def test_any_element_text_goes_whole(text: str) -> None:
    """Element text with no < in it is replaced whole (its spaces at the end aside)."""
    redacted, counts = DEFAULT.redact(f"<password>{text}</password>")
    if text.strip().lower() in ("null", "none", "nil", "true", "false", "undefined"):
        return
    assert redacted.endswith("[password]" + text[len(text.rstrip()) :] + "</password>")
    assert redacted.startswith("<password>[password]")
    assert counts == {"password": 1}


FLOODS = [
    "+14155552671(<password>",
    "4111111111111111(<password>",
    "+14155552671(password=>x<",
    '+14155552671(<entry name="password">',
    "<password>a<",
    "<password>a b <",
    "password=a<b<",
    "+14155552671(password=f()<",
    "<api_key>f()<",
]


@pytest.mark.parametrize("unit", FLOODS)
def test_element_floods_take_linear_work(unit: str) -> None:
    """RE2 calls and bytes read at n and 8n."""
    assert_linear_work(unit, 4096)


@pytest.mark.parametrize("unit", FLOODS[:4])
def test_element_floods_take_linear_time(unit: str) -> None:
    """Timed (RE2's counter cannot see a read past a match): 16x the text, well under 48x."""
    DEFAULT.redact(unit)
    small = least_seconds(lambda: DEFAULT.redact(unit * (8 * 1024 // len(unit))))
    large = least_seconds(lambda: DEFAULT.redact(unit * (128 * 1024 // len(unit))))
    assert large < 48 * small + 0.05, (small, large)
