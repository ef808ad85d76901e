"""Values under a secret's name: ``password=...``, ``"client_secret": "..."``, ``--password ...``.

The name stays and the value goes, whatever its format: these values have no prefix of
their own for a vendor's pattern to find. Attack tests: every spelling a configuration
file, a query string, a command line, JSON or Python writes, any printable value in
each, the values that are no secret (null, booleans, placeholders), and floods of such
pairs read in linear work.
"""

from __future__ import annotations

import json
import re
import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT
from tests._helpers.redaction import assert_linear_work


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ('{"password": "hunter2"}', '{"password": "[password]"}', "password"),
        ("password=hunter2", "password=[password]", "password"),
        ("DB_PASSWORD=hunter2\nDB_HOST=db", "DB_PASSWORD=[password]\nDB_HOST=db", "password"),
        ("/login?user=a&password=hunter2&x=1", "/login?user=a&password=[password]&x=1", "password"),
        (
            'db:\n  password: hunter2\n  host: db',
            'db:\n  password: [password]\n  host: db',
            'password',
        ),
        ("mysql --password hunter2 -h db", "mysql --password [password] -h db", "password"),
        ("mysql --password=hunter2 -h db", "mysql --password=[password] -h db", "password"),
        ('connect(password="hunter2")', 'connect(password="[password]")', "password"),
        ("connect(password=hunter2)", "connect(password=[password])", "password"),
        (
            "{'passwd': 'hunter2', 'user': 'bob'}",
            "{'passwd': '[password]', 'user': 'bob'}",
            'password',
        ),
        ("Server=db;Pwd=hunter2;Database=app", "Server=db;Pwd=[password];Database=app", "password"),
        ('"userPassword":"hunter2"', '"userPassword":"[password]"', "password"),
        ('"passphrase": "correct horse battery staple"', '"passphrase": "[password]"', "password"),
        (
            '{"password": 12345678, "user": "bob"}',
            '{"password": [password], "user": "bob"}',
            'password',
        ),
        ('"client_secret": "d8e8fca2dc0f896f"', '"client_secret": "[secret]"', "secret"),
        ('api_key = "zq-123-abc"', 'api_key = "[secret]"', "secret"),
        ("x-api-key: abcd1234", "x-api-key: [secret]", "secret"),
        (
            '{"accessToken":"a.b.c","refresh_token":"r1"}',
            '{"accessToken":"[secret]","refresh_token":"[secret]"}',
            'secret',
        ),
        ("SECRET_KEY=django-insecure-x", "SECRET_KEY=[secret]", "secret"),
        ("private_key: abc/def+g==", "private_key: [secret]", "secret"),
        # JSON inside a JSON string (a tool call's arguments): the escapes stay
        (
            '{\\"password\\": \\"hun ter2\\", \\"u\\": 1}',
            '{\\"password\\": \\"[password]\\", \\"u\\": 1}',
            'password',
        ),
        ("password: hunter2\\nuser: bob", "password: [password]\\nuser: bob", "password"),
        # pass as a word of its own, and a form's fields percent-encoded in a URL
        ("pass=hunter2", "pass=[password]", "password"),
        ("db_pass: hunter2", "db_pass: [password]", "password"),
        (
            "next=%2Flogin%3Fpassword%3Dhunter2%26x%3D1",
            "next=%2Flogin%3Fpassword%3D[password]%26x%3D1",
            "password",
        ),
        ("q=%7B%22api_key%22%3A%22k1%22%7D", "q=%7B%22api_key%22%3A%22[secret]%22%7D", "secret"),
    ],
)  # fmt: skip
def test_a_value_under_a_secrets_name_goes(text: str, expected: str, kind: str) -> None:
    """The name and what surrounds the value stay; the value goes, counted once a value."""
    redacted, counts = DEFAULT.redact(text)
    assert redacted == expected
    assert counts == {kind: expected.count(f"[{kind}]")}


@pytest.mark.parametrize(
    "text",
    [
        '"password": null', "password: None", '{"password": true}', '"secret": false',
        '"password": ""', "password=", 'password: "***"', "password: [password]",
        "password_hint: the dog's name", "max_tokens=1024", '{"token": "Hello", "logprob": -0.1}',
        '{"eos_token": "</s>"}', "access_key=AKIDEXAMPLE", "secret_name: prod-db",
        "the password is set", "bypass=1", "compass: north", "Passwords must be 8 characters long.",
    ],
)  # fmt: skip
def test_no_value_and_other_names_stay(text: str) -> None:
    """Null, booleans, empty values and placeholders are no secrets; nor are other names."""
    assert DEFAULT.redact(text) == (text, {})


@pytest.mark.parametrize(
    "text",
    [
        'password="hunter2"',
        "password=hunter2",
        '{"password": "x y"}',
        "--password=a&b",
        "password: a, b",
        "DB_PASSWORD=s3cr3t!@#",
        "secret=abc def",
    ],
)
def test_redaction_is_idempotent(text: str) -> None:
    """A redacted text redacted again is the same: ``[password]`` is no value."""
    once, _ = DEFAULT.redact(text)
    assert DEFAULT.redact(once) == (once, {})


def test_a_null_before_another_secret_on_one_line_hides_nothing() -> None:
    """``password: None secret=x``: the null does not hide the secret after it."""
    redacted, _ = DEFAULT.redact("password: None secret=topsecret1")
    assert "topsecret1" not in redacted


_NAMES = st.sampled_from(
    ["password", "PASSWORD", "db_password", "DB_PASS" + "WORD", "passwd", "pwd", "passphrase",
     "secret", "client_secret", "clientSecret", "api_key", "apiKey", "API-KEY", "access_token",
     "refreshToken", "auth_token", "secret_key", "private_key", "aws_session_token", "SessionToken"]
)  # fmt: skip
_PRINTABLE = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.characters(min_codepoint=0xA1),
    min_size=1,
    max_size=24,
)
_UNQUOTED = st.text(
    st.sampled_from(string.ascii_letters + string.digits + "!#$%*+-./:<=>?@^_`|~"),
    min_size=1,
    max_size=24,
)


def _real(value: str) -> bool:
    """Not null, a boolean or a placeholder (``***``, ``[kind]``, ``<kind>``)."""
    return (
        value.strip().lower() not in {"", "null", "none", "nil", "true", "false", "undefined"}
        and re.fullmatch(r"\[\w*\]|\*+|<\w*>", value) is None
    )


@settings(max_examples=60, deadline=None)
@given(name=_NAMES, value=_PRINTABLE, spaced=st.booleans())
def test_any_value_in_json_goes(name: str, value: str, spaced: bool) -> None:
    """Any printable value (quotes, backslashes, spaces) in JSON, and in JSON in a string."""
    assume(_real(value))
    data = {name: value, "user": "bob"}
    text = json.dumps(data) if spaced else json.dumps(data, separators=(",", ":"))
    redacted, _ = DEFAULT.redact(text)
    assert json.loads(redacted)["user"] == "bob"
    assert json.loads(redacted)[name].startswith("[")
    inner = json.dumps({"arguments": text})
    redacted, _ = DEFAULT.redact(inner)
    assert json.loads(json.loads(redacted)["arguments"])[name].startswith("[")


@settings(max_examples=60, deadline=None)
@given(
    name=_NAMES,
    value=_UNQUOTED,
    form=st.sampled_from(
        ["{}={}", "{}: {}", "{} = {}", "export {}={} && run", "?a=1&{}={}&b=2", "--{} {} -v",
         "--{}={} -v", "{}:={}", "{} => {},", "f({}={})", "{}='{}'", '{}="{}"']
    ),
)  # fmt: skip
def test_any_unquoted_value_goes(name: str, value: str, form: str) -> None:
    """Any value of a command line's or a URL's characters, in every form, goes whole."""
    assume(_real(value) and not value.startswith(("=", ">", ":")))
    text = form.format(name, value)
    redacted, _ = DEFAULT.redact(text)
    kind = "password" if "pass" in name.lower() or name.lower() == "pwd" else "secret"
    assert redacted == form.format(name, f"[{kind}]"), (text, redacted)


KB = 1024
FLOODS = [
    "password=hunter2 ",
    "password=a password=b ",
    '"password": "x y", ',
    '{\\"secret\\": \\"a b\\", ',
    "password: null ",
    "password=None ",
    "password ",
    "passwordpassword=",
    "--password --password ",
    "password: a b c d e f g h i j k l m n o p q r s t u v w ",
    "api_key=",
    "x=1&secret=",
]


@pytest.mark.parametrize("unit", FLOODS)
def test_floods_of_names_and_values_take_linear_work(unit: str) -> None:
    """Eight times the text: at most about eight times the RE2 calls and the bytes read."""
    assert_linear_work(unit, 16 * KB)
