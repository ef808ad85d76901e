"""Session 10's new kinds, attacked: variants a hostile text writes them in (JSON escapes
or a no-break space after ``Basic``/``Bearer``, any letter case, curl's glued, quoted and
argument-list forms, a password holding ``=`` or spaces, upper-case URL schemes, AWS
settings spelled with dashes and dots or set by a command) are replaced whole; harmless
text that looks like them stays; runs of them read as value by value, in linear work."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT, Patterns, redact_text
from tests._helpers.redaction import counting_re2

# The default kinds each wrapped in a group: not llmguard's own to the engine, which
# then reads every value alone (no runs, no memos).
ONE_BY_ONE = Patterns(
    {
        name: (re.compile(f"(?:{pattern.pattern})", re.A), validator)
        for name, (pattern, validator) in DEFAULT.patterns.items()
    }
)

BASIC = base64.b64encode(b"alice:wonderland-42").decode()
AWS = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SET = "aws configure set aws_secret_access_key"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # between the scheme's name and the value: JSON escapes, a no-break space, %20
        (f'{{"Authorization": "Basic\\t{BASIC}"}}', '{"Authorization": "[basic_auth]"}'),
        (f'{{"Authorization": "Basic\\n{BASIC}"}}', '{"Authorization": "[basic_auth]"}'),
        (f'{{"Authorization": "Basic\\u00a0{BASIC}"}}', '{"Authorization": "[basic_auth]"}'),
        (f"Authorization: Basic\u00a0{BASIC}", "Authorization: [basic_auth]"),
        (f"?auth=Basic%20{BASIC}&x=1", "?auth=[basic_auth]&x=1"),
        ('{"Authorization": "Bearer\\tabc123def"}', '{"Authorization": "[bearer_token]"}'),
        ('{"Authorization": "Bearer\\u00a0abc123def"}', '{"Authorization": "[bearer_token]"}'),
        ("Authorization: Bearer\u00a0abc123def", "Authorization: [bearer_token]"),
        # any letter case: HTTP's schemes are case-insensitive
        (f"authorization: bAsIc {BASIC}", "authorization: [basic_auth]"),
        ("AUTHORIZATION: BEARER abc123def", "AUTHORIZATION: [bearer_token]"),
        # curl's user:password: glued, quoted with spaces, with = or JSON-escaped quotes
        ("curl -uadmin:s3cret https://x", "curl [basic_auth] https://x"),
        ("curl -u'admin:s3cret' https://x", "curl [basic_auth]' https://x"),
        ("curl --user 'admin:two words' https://x", "curl [basic_auth]' https://x"),
        ('curl -u "admin:two words" https://x', 'curl [basic_auth]" https://x'),
        ("curl -u admin:pa=ss https://x", "curl [basic_auth] https://x"),
        ("curl --user=admin:pa=ss==", "curl [basic_auth]"),
        ('{"cmd": "curl -u \\"admin:s3cret\\" https://x"}', '{"cmd": "curl [basic_auth]\\" https://x"}'),
        ('{"cmd": "curl -u admin:s3cret\\nnext"}', '{"cmd": "curl [basic_auth]\\nnext"}'),
        # an argument list, as subprocess calls are logged
        ("['curl', '-u', 'admin:s3cret', 'https://x']", "['curl', '[basic_auth]', 'https://x']"),
        ('["curl", "--user", "admin:s3cret"]', '["curl", "[basic_auth]"]'),
        # URL schemes in capitals
        ("HTTPS://user:s3cret@example.com", "HTTPS://user:[url_password]@example.com"),
        ("Postgres://app:s3cret@db:5432/x", "Postgres://app:[url_password]@db:5432/x"),
        ("SMTP://me@mail.com:s3cret@localhost", "SMTP://[url_credentials]@localhost"),
        # AWS secret keys after the setting's name spelled otherwise, or set by a command
        (f"aws-secret-access-key: {AWS}", "aws-secret-access-key: [aws_secret_key]"),
        (f"aws.secret.access.key={AWS}", "aws.secret.access.key=[aws_secret_key]"),
        (f"aws configure set aws_secret_access_key {AWS}", f"{SET} [aws_secret_key]"),
        (f"--aws-secret-access-key {AWS} -x", "--aws-secret-access-key [aws_secret_key] -x"),
        (f"AWS_SECRET_ACCESS_KEY := {AWS}", "AWS_SECRET_ACCESS_KEY := [aws_secret_key]"),
    ],
)  # fmt: skip
def test_variants_of_the_new_kinds_are_replaced_whole(text: str, expected: str) -> None:
    """No part of the secret reaches the sink, whichever way the text writes it."""
    assert redact_text(text)[0] == expected
    assert ONE_BY_ONE.redact(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "Basic idea: keep it simple",
        "Basic Zm9vYmFy",  # base64 of foobar: no colon
        "docker run -u 1000:1000 image",
        '["docker", "run", "-u", "1000:1000", "image"]',
        "docker run -u1000:1000 image",
        "python -u script.py",
        "Update: -Use the new client",
        # names in code with the shape of a Discord bot token
        "NotificationServiceClient.notify.handleIncomingMessageFromQueue",
        "OrderProcessingWorkerPool.submit.withRetryPolicyAndExponentialBackoff",
        # a git SHA and base64 in settings that are not AWS secrets
        "commit = 0123456789abcdef0123456789abcdef01234567",
        "checksum: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "HTTPS://example.com/path",
        # a URL-encoded sentence: %20 before a bearer token is no gap (its escapes are its own)
        "q=bearer%20bonds%20yield%202024",
    ],
)
def test_harmless_lookalikes_stay(text: str) -> None:
    """Prose, uid:gid pairs, code names and other settings' values are not secrets."""
    assert redact_text(text) == (text, {})
    assert ONE_BY_ONE.redact(text) == (text, {})


_PASSWORD = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="'\"\\"),
    min_size=1,
    max_size=20,
)


@settings(max_examples=100, deadline=None)
@given(
    password=_PASSWORD,
    form=st.sampled_from(
        ["-u admin:{}", "-uadmin:{}", "--user=admin:{}", "-u 'admin:{} x'", '-u "admin:{} x"']
    ),
)
def test_no_curl_password_leaks(password: str, form: str) -> None:
    """Any printable password (with = @ : % ...) in any of curl's forms is replaced whole."""
    option = form.format(password)
    redacted = redact_text(f"curl -s {option} https://example.com")[0]
    closing = option[-1] if option[-1] in "'\"" else ""
    assert redacted == f"curl -s [basic_auth]{closing} https://example.com"


@settings(max_examples=100, deadline=None)
@given(
    scheme=st.sampled_from(["Basic", "basic", "BASIC", "bAsIc"]),
    gap=st.sampled_from([" ", "\t", "\u00a0", "\\t", "\\n", "\\u00a0", "%20", " \\t"]),
    user=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=8).filter(
        lambda user: ":" not in user
    ),
    password=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
)
def test_no_basic_credential_leaks(scheme: str, gap: str, user: str, password: str) -> None:
    """Any user:password, after any letter case of Basic and any gap, is replaced whole."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    if token == "Og==":  # an empty user and password: nothing to hide
        return
    assert redact_text(f'"{scheme}{gap}{token}"')[0] == '"[basic_auth]"'


# -- runs read as value by value ----------------------------------------------------------

_WORDS = st.sampled_from(
    [
        f"Basic {BASIC}", "Basic YTpi", "BASIC YTpi", "bAsIc YTpi", "Basic\\tYTpi",
        "Basic\u00a0YTpi", "Basic%20YTpi", "Basic idea", "Basic", "-u a:b", "-ua:b", "-u a:b=c",
        "-u 'a:b c'",
        '-u \\"a:b\\"', "-u a:b\\n", "-u 1000:1000", "--user a:b", "--user=a:b", '"-u", "a:b"',
        "Bearer abc123", "BEARER abc123", "Bearer\\tabc123", "bearer x", "HTTPS://u:p@h",
        "postgres://u:p@", "Postgres://u:p@", "a@b.io", "+12345678", "4111 1111 1111 1111", "é",
        f"aws_secret_access_key {AWS}", "x", "",
    ]
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(
        st.tuples(_WORDS, st.sampled_from([" ", " ", " ", "\n", "\t", "  ", "", "'", "\\n"])),
        max_size=30,
    )
)
def test_runs_of_the_variants_read_as_value_by_value(pieces: list[tuple[str, str]]) -> None:
    """The variants one after another, among other kinds, come out as each read alone."""
    text = "".join(value + separator for value, separator in pieces)
    assert DEFAULT.redact(text) == ONE_BY_ONE.redact(text), text
    many = [text, text[1:], "x " + text]
    assert DEFAULT.redact_many(many) == ONE_BY_ONE.redact_many(many), text


# -- linear work, counted -----------------------------------------------------------------


FLOODS = [
    "Basic\\tYTpi ", "Basic\u00a0YTpi ", "bAsIc YTpi ", "Basic%20", "Basic\\t", "Basic Basic ",
    "-uadmin:pw ", "-u 'a:b ", "-u \"a:b c\" ", '"-u", "a:b", ', "-u a:b=", "-u a:b\\n",
    "-u \\'", "--user=", "BEARER abc123 ", "Bearer\\t", "Bearer\u00a0x ", "HTTPS://u:p@",
    "POSTGRES://u:p@@", "aws_secret_access_key ", f"aws-secret-access-key {AWS} ",
    f"aws.secret.key {AWS[:39]} ", "MTk4NjIy.Cl2FMQ.", "Nzk5MjgxNDk0NDc2NDU1OTg3.YABS5g.",
    "NotificationServiceClient.notify.handleIncomingMessageFromQueue ",
    # a scheme's name twice (test_s10_review_redact_schemes)
    "Bearer Bearer ", "Bearer abc123 Bearer Bearer abc123 ", "Basic YTpi Basic Basic YTpi ",
    "Bearer Bearer\t", "bearer xbearer ",
    # emails written with %40 among + numbers (test_s10_review_redact_runs)
    "+2345678 a%40b.io +8 @ ", "a%40b.io +12 ",
    # URLs in JSON with escaped slashes (test_s10_review_redact_url)
    "postgres:\\/\\/u:p@", "https:\\/\\/u:", "https:\\/\\/u:p@@",
    # glued URLs whose passwords hold a curl option: its password reads to the end of the
    # text, from each one: it was read again from each (quadratic)
    "postgres://u:p@@:--user=@", "https://u:p@:-u=@", "redis://u:p@:-ua:@",
]  # fmt: skip
KB = 1024


@pytest.mark.parametrize("unit", FLOODS)
def test_floods_of_the_variants_take_linear_work(unit: str) -> None:
    """8 KB then 64 KB of a variant or near miss, repeated, ending alike: at most about
    eight times the RE2 calls and bytes read. (Reading the flood once a value, as the
    glued URLs holding a curl option were read, costs some 50 times the bytes at eight
    times the text: 8 KB shows it as well as 64 KB did.)"""
    small_text = unit * (8 * KB // len(unit))
    with counting_re2() as small:
        DEFAULT.redact(small_text)
    with counting_re2() as large:
        DEFAULT.redact(unit * (7 * 8 * KB // len(unit)) + small_text)
    assert large[0] <= 9 * small[0] + 64, f"RE2 calls {small[0]} then {large[0]}"
    assert large[1] <= 9 * small[1] + 16 * KB, f"bytes read {small[1]} then {large[1]}"


# The first bytes of the new kinds' values and of their variants, near misses included.
STARTS = [
    "Basic ", "Basic\\t", "bAsIc YTpi", "Basic Basic ", "-u", "-ua:", "-u 'a:", '"-u", "',
    "--user=", "Bearer ", "BEARER x1", "Bearer Bearer ", "HTTPS://u:", "https:\\/\\/u:p@",
    "postgres://u:p@@", "aws_secret_access_key ", "aws-secret-key=", AWS, "MTk4NjIy.",
    "Nzk5MjgxNDk0NDc2NDU1OTg3.YABS5g.", "a%40b.io", "+2345678", "+8", "@", ":", "x",
]  # fmt: skip


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(STARTS), min_size=1, max_size=3),
    st.lists(st.sampled_from([" ", "", "\n", "'", "@", ":", "\\n"]), min_size=3, max_size=3),
)
def test_floods_of_the_new_kinds_starts_take_linear_work(
    starts: list[str], gaps: list[str]
) -> None:
    """A unit of one to three of the new kinds' starts, repeated: eight times the text
    (ending alike) costs at most about eight times the RE2 calls and bytes read."""
    unit = "".join(start + gap for start, gap in zip(starts, gaps, strict=False))
    small_text = unit * (16 * KB // len(unit))
    with counting_re2() as small:
        DEFAULT.redact(small_text)
    with counting_re2() as large:
        DEFAULT.redact(unit * (7 * 16 * KB // len(unit)) + small_text)
    assert large[0] <= 9 * small[0] + 16, f"RE2 calls {small[0]} then {large[0]}"
    assert large[1] <= 9 * small[1] + 16 * KB, f"bytes read {small[1]} then {large[1]}"
