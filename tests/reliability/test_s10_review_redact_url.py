"""URL credentials in JSON whose encoder escapes its slashes (PHP's ``json_encode``
writes ``https:\\/\\/user:pw@host``) reached the sinks: ``url_password`` and
``url_credentials`` read ``:\\/\\/`` as ``://``; glued URLs so written read as value by
value, in linear work."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT, Patterns, redact_text

# The default kinds each wrapped in a group: not llmguard's own to the engine, which
# then reads every value alone (no runs, no memos).
ONE_BY_ONE = Patterns(
    {
        name: (re.compile(f"(?:{pattern.pattern})", re.A), validator)
        for name, (pattern, validator) in DEFAULT.patterns.items()
    }
)


def _php_json(value: object) -> str:
    """JSON as PHP's json_encode writes it by default: slashes escaped."""
    return json.dumps(value).replace("/", "\\/")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:s3cret@host/x", "https://user:[url_password]@host/x"),
        ("postgres://app:p@ss@db:5432/x", "postgres://app:[url_password]@db:5432/x"),
        ("smtp://me@mail.com:s3cret@localhost", "smtp://[url_credentials]@localhost"),
        ("HTTPS://user:s3cret@[::1]:8443/", "HTTPS://user:[url_password]@[::1]:8443/"),
    ],
)
def test_urls_in_json_with_escaped_slashes_keep_no_password(url: str, expected: str) -> None:
    """The password (and an email user with it) is replaced, the JSON still reads."""
    text = _php_json({"url": url})
    redacted = redact_text(text)[0]
    assert redacted == _php_json({"url": expected})
    assert json.loads(redacted) == {"url": expected}
    assert ONE_BY_ONE.redact(text)[0] == redacted


@given(
    user=st.text("abcdefgh0123456789._-", min_size=1, max_size=10),
    password=st.text("abcdefgh0123456789!$&()*+,;=._~-", min_size=1, max_size=16),
)
@settings(max_examples=100, deadline=None)
def test_any_password_in_escaped_json_is_replaced(user: str, password: str) -> None:
    """Any password of a URL's characters, in JSON with escaped slashes."""
    text = _php_json({"dsn": f"mysql://{user}:{password}@db.internal/app"})
    assert json.loads(redact_text(text)[0]) == {
        "dsn": f"mysql://{user}:[url_password]@db.internal/app"
    }


_PIECES = st.tuples(
    st.sampled_from(["postgres", "HTTPS", "https", "redis", "xyz", ""]),
    st.sampled_from([":\\/\\/", "://", ":\\/", "\\/\\/"]),
    st.text("ab1._%-@", max_size=4),
    st.sampled_from([":", ":", ""]),
    st.text("pw9.!$%-_~@\\", max_size=6),
    st.sampled_from(["@", "@", "@@", "@h\\/", "@ ", ""]),
).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(_PIECES, _PIECES, st.sampled_from(["a@b.io", " ", "\\n", "x"])), max_size=30)
)
def test_glued_escaped_urls_read_as_value_by_value(pieces: list[str]) -> None:
    """URLs with escaped slashes glued together, among plain ones: as each read alone."""
    text = "".join(pieces)
    assert DEFAULT.redact(text) == ONE_BY_ONE.redact(text), text
    many = [text, text[1:], "x " + text]
    assert DEFAULT.redact_many(many) == ONE_BY_ONE.redact_many(many), text


@pytest.mark.parametrize("unit", ["postgres:\\/\\/u:p@", "https:\\/\\/u:p@@", "https:\\/\\/u:"])
def test_floods_of_escaped_urls_are_redacted_as_one_by_one(unit: str) -> None:
    """Thousands of them glued together."""
    text = unit * 2000 + "end"
    assert DEFAULT.redact(text) == ONE_BY_ONE.redact(text)
