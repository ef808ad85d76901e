"""Review of the ``password`` and ``secret`` kinds: what still reached a sink, and what prose lost.

A hostile reading: every spelling of a secret after its name goes whole (a long quoted
value, JSON escapes inside it, a settings line of several words, a list, XML, an
``Authorization`` scheme), a value of a vendor's format keeps its own kind under any name
(so a private key's lines after ``private_key:`` go too), and ordinary prose and
llmguard's own usage fields stay. Floods of each new form take linear work.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import llmguard as lg
from llmguard.redact import DEFAULT
from llmguard.sinks import MemorySink
from llmguard.testing import FakeLLM
from tests._helpers.redaction import assert_linear_work

_LONG = "correct horse battery staple " * 6 + "tail-of-the-secret"


_WHOLE = [
    # a. a quoted value far longer than the 64 characters read after its first word
    (f'{{"password": "{_LONG}", "user": "bob"}}', '{"password": "[password]", "user": "bob"}'),
    (f"password='{_LONG}'", "password='[password]'"),
    (f'secret: "{_LONG}', 'secret: "[secret]'),  # never closed: to the line's end
    (f'"password": "{_LONG}\nuser: bob', '"password": "[password]\nuser: bob'),
    # b. JSON in a JSON string, the value holding an escaped quote or a backslash
    (
        json.dumps({"arguments": json.dumps({"password": 'a"b c tail', "u": 1})}),
        json.dumps({"arguments": json.dumps({"password": "[password]", "u": 1})}),
    ),
    (
        json.dumps({"arguments": json.dumps({"password": "a\\b c tail", "u": 1})}),
        json.dumps({"arguments": json.dumps({"password": "[password]", "u": 1})}),
    ),
    ('"password": "a\\"b tail"', '"password": "[password]"'),
    # d. a settings line: an unquoted value runs to the end of its line
    (
        "password: correct horse battery staple\nuser: bob",
        "password: [password]\nuser: bob",
    ),
    ("  DB_PASSWORD = two words\r\nHOST=db", "  DB_PASSWORD = [password]\r\nHOST=db"),
    ("export SECRET=abc && run\n", "export SECRET=[secret] && run\n"),
    ("set PASSWORD=a b\n", "set PASSWORD=[password]\n"),
    ("- api_key: one two\n- x: 1", "- api_key: [secret]\n- x: 1"),
    ("password: one two\\nuser: bob", "password: [password]\\nuser: bob"),
    # a list, XML, Authorization schemes other than Bearer and Basic
    ('{"passwords": ["a1", "b2"], "user": "bob"}', '{"passwords": [password], "user": "bob"}'),
    ('{"api_keys": [["a1", "b2"], ["c3"]]}', '{"api_keys": [secret]}'),
    ('"passwords": [\n  "a1",\n  "b2"\n],\n"u": 1', '"passwords": [password],\n"u": 1'),
    ("<password>hunter2</password>", "<password>[password]</password>"),
    ("<db:Password>two words</db:Password>", "<db:Password>[password]</db:Password>"),
    ("Authorization: token abc123def", "Authorization: token [secret]"),
    ("Authorization: Api-Key abc123def", "Authorization: Api-Key [secret]"),
    ('"Authorization": "Token abc123def"', '"Authorization": "Token [secret]"'),
    # a value that merely looks like code's start is still a value
    ("password = hunter2(2024)", "password = [password]"),
    ("password=Summer(2024)!", "password=[password]"),
]


@pytest.mark.parametrize(("text", "expected"), _WHOLE)
def test_the_whole_value_goes(text: str, expected: str) -> None:
    """Each form that left a tail (or all) of a secret behind: the value goes whole."""
    assert DEFAULT.redact(text)[0] == expected


_MORE = [
    ("password='a\\'b tail'", "password='[password]'"),
    ("password: 'it''s mine'", "password: '[password]'"),
    ('<add key="Password" value="two words"/>', '<add key="Password" value="[password]"/>'),
    ('<entry name="password">hunter2</entry>', '<entry name="password">[password]</entry>'),
    ("machine db login bob password hunter2", "machine db login bob password [password]"),
    ("sshpass -p hunter2 ssh host", "sshpass -p [password] ssh host"),
    ("mysql -h db -u root -phunter2 app", "mysql -h db -u root -p[password] app"),
    ("mysqldump -u root -p'two words' app", "mysqldump -u root -p'[password]' app"),
    ("secret_token=abc", "secret_token=[secret]"),
    ('"clientToken": "abc"', '"clientToken": "[secret]"'),
    ("Cookie: session=abc123; theme=dark", "Cookie: [secret]"),
    ('"Set-Cookie": "sid=abc; Path=/"', '"Set-Cookie": "[secret]"'),
    ("password: |\n  line one\n  line two\nhost: db", "password: [password]\nhost: db"),
    (
        "db:\n  password: >-\n    folded\n    secret\n  host: db",
        "db:\n  password: [password]\n  host: db",
    ),
]


@pytest.mark.parametrize(("text", "expected"), _MORE)
def test_more_spellings_go(text: str, expected: str) -> None:
    """Escaped and doubled single quotes, XML attributes, .netrc, sshpass and mysql -p,
    more *token names, cookies, YAML block scalars: the value goes whole."""
    assert DEFAULT.redact(text)[0] == expected


def test_redacting_the_new_forms_again_changes_nothing() -> None:
    """Each redacted form read again is the same: its placeholder is no value."""
    for case in [*_WHOLE, *_MORE]:
        text = case.values[0] if hasattr(case, "values") else case[0]  # a pytest.param
        once, _counts = DEFAULT.redact(text)
        assert DEFAULT.redact(once) == (once, {}), once


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        # c. an uppercase setting ending in _TOKEN, _SECRET or _KEY, whatever its value
        ("GITHUB_TOKEN=abcdef123456", "GITHUB_TOKEN=[secret]", "secret"),
        ("HF_TOKEN=hf_abcdefgh\nX=1", "HF_TOKEN=[secret]\nX=1", "secret"),
        ("STRIPE_KEY=abc", "STRIPE_KEY=[secret]", "secret"),
        ("export OPENAI_ORG_SECRET='x y'", "export OPENAI_ORG_SECRET='[secret]'", "secret"),
        ("MY_APP_PAT: abc", "MY_APP_PAT: [secret]", "secret"),
        # a vendor's format keeps its own kind under any name
        (
            "DISCORD_TOKEN=MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz1234",
            "DISCORD_TOKEN=[discord_bot_token]",
            "discord_bot_token",
        ),
        (
            "OPENAI_API_KEY=sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e",
            "OPENAI_API_KEY=[api_key]",
            "api_key",
        ),
        ('"api_key": "sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e"', '"api_key": "[api_key]"', "api_key"),
        (
            "private_key: -----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----",
            "private_key: [private_key]",
            "private_key",
        ),
    ],
)
def test_settings_and_vendor_kinds(text: str, expected: str, kind: str) -> None:
    """Any value of an uppercase secret's setting goes; a vendor's format keeps its kind."""
    assert DEFAULT.redact(text) == (expected, {kind: 1})


@pytest.mark.parametrize(
    "text",
    [
        "the password field is required",
        "password_hint: your first pet",
        '{"token_count": 17, "max_tokens": 500, "secret_santa": true}',
        '{"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}',
        "MAX_TOKENS=500\nTOKEN_LIMIT=9",
        "PRIMARY_KEYS=id",
        "Passwords must be 8 characters long.",
        # code reading a secret from elsewhere holds none
        "password = get_password()",
        'password = os.environ["DB_PASSWORD"]',
        "  api_key = os.getenv('OPENAI_API_KEY')",
        'connect(password=getpass.getpass("Password: "))',
        'pw = input("Password: ")\ny = 1',
        'PASSWORD = config["db"]["password"]',
    ],
)
def test_prose_and_usage_stay(text: str) -> None:
    """Prose about passwords and llmguard's token counts are no secrets."""
    assert DEFAULT.redact(text) == (text, {})


_WORDS = st.sampled_from(
    ["the", "password", "Password", "passwords", "secret", "token", "tokens", "api", "key",
     "keys", "is", "required", "field", "reset", "your", "cookie", "max_tokens", "hint",
     "pass", "bypass", "Secret", "TOKEN", "KEY", "(", ")", ",", ".", "\n"]
)  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(words=st.lists(_WORDS, max_size=30))
def test_prose_about_secrets_without_a_value_stays(words: list[str]) -> None:
    """Sentences that name passwords, secrets and tokens but give none stay as written."""
    text = " ".join(words)
    assert DEFAULT.redact(text) == (text, {})


_VALUE = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.characters(min_codepoint=0xA1),
    min_size=1,
    max_size=90,
)


def _real(value: str) -> bool:
    return (
        value.strip().lower() not in {"", "null", "none", "nil", "true", "false", "undefined"}
        and re.fullmatch(r"\[\w*\]|\*+|<\w*>", value.strip()) is None
    )


@settings(max_examples=80, deadline=None)
@given(value=_VALUE, name=st.sampled_from(["password", "client_secret", "apiKey", "passwords"]))
def test_json_and_json_in_a_string_keep_no_part_of_the_value(value: str, name: str) -> None:
    """Any value, quotes, backslashes and spaces included, in JSON and in JSON in a string."""
    assume(_real(value))
    text = json.dumps({name: value, "user": "bob"})
    for redacted in (
        DEFAULT.redact(text)[0],
        json.loads(DEFAULT.redact(json.dumps({"arguments": text}))[0])["arguments"],
    ):
        data = json.loads(redacted)
        assert data["user"] == "bob"
        assert data[name] in ("[password]", "[secret]"), (text, redacted)


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(st.from_regex(r"[A-Za-z0-9!#$%*+./:@^_~-]{1,12}", fullmatch=True), min_size=1),
    form=st.sampled_from(["password: {}", "DB_PASSWORD={}", "  secret = {}", "set API_KEY={}"]),
)
def test_a_settings_line_keeps_no_word_of_its_value(words: list[str], form: str) -> None:
    """An unquoted value of several words on a settings line goes to the line's end."""
    value = " ".join(words)
    assume(_real(value) and not value.startswith(("=", ":", "[", "{")))
    redacted, _ = DEFAULT.redact(form.format(value) + "\nnext: 1")
    assert redacted.endswith("]\nnext: 1"), redacted
    assert redacted.split("\n")[0].rstrip() in (
        form.format("[password]"),
        form.format("[secret]"),
    ), redacted


class _Answer(BaseModel):
    secret_santa: bool
    token_count: int


def test_a_guarded_calls_records_keep_their_usage_and_cost() -> None:
    """End to end with DEFAULT: usage, cost and fields named like secrets' cousins stay."""
    memory = MemorySink()
    lg.configure(sinks=[memory], redact=[lg.redact.DEFAULT])
    model = FakeLLM(['{"secret_santa": true, "token_count": 17}'], model="gpt-4o-mini")

    @lg.guard(schema=_Answer)
    def ask(messages: Any, max_tokens: int = 500) -> Any:
        return model(model="gpt-4o-mini", messages=messages, max_tokens=max_tokens)

    try:
        assert ask([{"role": "user", "content": "my password: hunter2 please"}]) == _Answer(
            secret_santa=True, token_count=17
        )
        lg.flush()
    finally:
        lg.configure(sinks=[], redact=[lg.redact.DEFAULT])
    llm = next(record for record in memory.records if record.kind == "llm")
    assert "hunter2" not in json.dumps(llm.to_dict(), default=str)
    assert llm.input == [{"role": "user", "content": "my password: [password] please"}]
    assert llm.output == {"secret_santa": True, "token_count": 17}
    assert llm.to_dict()["usage"] == {"input": 15, "output": 10, "total": 25, "estimated": False}
    assert llm.cost_usd is not None
    assert llm.cost_usd > 0
    assert llm.metadata["llmguard.redacted"] == {"password": 1}


KB = 1024
FLOODS = [
    '"password": "' + "w " * 40 + '", ',
    "password: a b c\n",
    '{\\"secret\\": \\"a\\\\\\"b c\\", ',
    '"passwords": ["a", "b"], ',
    '"passwords": [',
    "<password>a b</password>",
    "Authorization: token abc ",
    "GITHUB_TOKEN=x\n",
    'password: "',
    "mysql -u x -pX ",
    "mysql 123-45-6789 ",
    "login x password y ",
    "password: |\n  a\n",
    "Cookie: a=b\n",
    '<add key="password" value="a b"/>',
]


@pytest.mark.parametrize("unit", FLOODS)
def test_floods_of_the_new_forms_take_linear_work(unit: str) -> None:
    """Eight times the text: at most about eight times the RE2 calls and the bytes read."""
    assert_linear_work(unit, 16 * KB)
