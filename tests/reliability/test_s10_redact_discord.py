"""Discord bot tokens, a new default kind: detect-secrets' tokens are replaced in text,
headers, code, env and JSON; wrong lengths and tokens glued to a word stay."""

from __future__ import annotations

import re

import pytest

from llmguard.redact import DEFAULT, Patterns, redact_text

# The default kinds each wrapped in a group: not llmguard's own to the engine, which
# then reads every value alone (no runs, no memos).
ONE_BY_ONE = Patterns(
    {
        name: (re.compile(f"(?:{pattern.pattern})", re.A), validator)
        for name, (pattern, validator) in DEFAULT.patterns.items()
    }
)

# -- Discord bot tokens -------------------------------------------------------------------

DISCORD = [
    # detect-secrets' DiscordBotTokenDetector cases
    "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
    "Nzk5MjgxNDk0NDc2NDU1OTg3.YABS5g.2lmzECVlZv3vv6miVnUaKPQi2wI",
    "MZ1yGvKTjE0rY0cV8i47CjAa.uRHQPq.Xb1Mk2nEhe-4iUcrGOuegj57zMC",
    # a 26-character id part, and the 38-character HMAC of newer tokens
    "OTAxMjM0NTY3ODkwMTIzNDU2Nz.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB",
]


@pytest.mark.parametrize("token", DISCORD)
@pytest.mark.parametrize(
    "template",
    ["{}", "Authorization: Bot {}", 'client.run("{}")', "DISCORD_TOKEN={}", '{{"token": "{}"}}'],
)
def test_discord_bot_tokens_are_replaced(token: str, template: str) -> None:
    """detect-secrets' tokens, alone, in a header, in code, in env and in JSON."""
    assert redact_text(template.format(token)) == (
        template.format("[discord_bot_token]"),
        {"discord_bot_token": 1},
    )


@pytest.mark.parametrize(
    "text",
    [
        # detect-secrets' negative cases
        "MZ1yGvKTj0rY0cV8i47CjAa.uHQPq.Xb1Mk2nEhe-4icrGOuegj57zMC",
        "SZ1yGvKTj0rY0cV8i47CjAa.uHQPq.Xb1Mk2nEhe-4icrGOuegj57zMC",
        "MZ1yGvKTj0rY0cV8i47CjAa.uHQPq.Xb1Mk2nEhe-4icrGOuegj57zM",
        # an id part too long, a third part too short, glued to a word
        "MTk4NjIyNDgzNDcxOTI1MjQ4MTk4NjIy.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
        "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kK",
        "xMTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs",
        "Module.method.call_something_here_and_there_now",
    ],
)
def test_lookalikes_of_discord_tokens_stay(text: str) -> None:
    """Wrong lengths, another first letter, or a token glued to a word, stay."""
    assert redact_text(text) == (text, {})


def test_the_new_kinds_are_counted_in_a_record() -> None:
    """A record's counts name the new kinds."""
    import llmguard as lg

    record = lg.Record(
        trace_id="t" * 32, span_id="s" * 16, name="call", start="s", end="e", duration_ms=1.0,
        input={"h": "Authorization: Basic YWxpY2U6d29uZGVybGFuZC00Mg==", "t": f"Bot {DISCORD[0]}"},
    )  # fmt: skip
    redacted = DEFAULT(record)
    assert redacted.input == {"h": "Authorization: [basic_auth]", "t": "Bot [discord_bot_token]"}
    assert redacted.metadata[lg.redact.METADATA_KEY] == {"basic_auth": 1, "discord_bot_token": 1}
