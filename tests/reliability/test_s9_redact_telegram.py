"""Telegram bot tokens, a default kind: detect-secrets' examples are replaced in text,
its lookalikes stay, and a megabyte of colon-free or near-miss text stays cheap to read."""

from __future__ import annotations

import pytest

from llmguard.redact import DEFAULT, redact_text

# detect-secrets' TelegramBotTokenDetector cases (bot ids of 9 and 10 digits).
TOKENS = [
    "110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsaw",
    "7213808860:AAH1bjqpKKW3maRSPAxzIU-0v6xNuq2-NjM",
]


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize(
    "template", ["{}", "TELEGRAM_TOKEN={}", "bot token: {} (rotate it)", '{{"token": "{}"}}']
)
def test_telegram_bot_tokens_are_replaced(token: str, template: str) -> None:
    """A bot token alone, after ``=``, in prose or in JSON becomes ``[telegram_bot_token]``."""
    redacted, counts = redact_text(template.format(token))
    assert redacted == template.format("[telegram_bot_token]")
    assert counts == {"telegram_bot_token": 1}


@pytest.mark.parametrize(
    "text",
    [
        "bot110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsaw",  # glued to a word
        "foo:AAH1bjqpKKW3maRSPAxzIU-0v6xNuq2-NjM",  # no bot id
        "arn:aws:sns:aaa:111122223333:aaaaaaaaaaaaaaaaaaassssssddddddddddddd",  # 12 digits
        "1234567:AAH1bjqpKKW3maRSPAxzIU-0v6xNuq2-NjM",  # 7 digits
        "110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsawx",  # 36 characters
        "110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsa",  # 34
        "at 12:30:45 on 2026-12-07",  # a time
    ],
)
def test_lookalikes_of_telegram_tokens_stay(text: str) -> None:
    """detect-secrets' negative cases, and tokens a character too long or short, stay."""
    assert redact_text(text) == (text, {})


def test_a_telegram_token_in_a_record_is_counted() -> None:
    """The record's counts name the kind."""
    import llmguard as lg

    record = lg.Record(
        trace_id="t" * 32, span_id="s" * 16, name="call", start="s", end="e",
        duration_ms=1.0, input={"env": f"TELEGRAM_TOKEN={TOKENS[0]}"},
    )  # fmt: skip
    redacted = DEFAULT(record)
    assert redacted.input == {"env": "TELEGRAM_TOKEN=[telegram_bot_token]"}
    assert redacted.metadata[lg.redact.METADATA_KEY] == {"telegram_bot_token": 1}
