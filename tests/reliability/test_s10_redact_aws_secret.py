"""AWS secret access keys, which have no prefix, are replaced after the name of the
setting that holds them (env, INI, YAML, JSON, Python); the name stays."""

from __future__ import annotations

import pytest

from llmguard.redact import redact_text

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documented example key


@pytest.mark.parametrize(
    "template",
    [
        "AWS_SECRET_ACCESS_KEY={}",
        "export AWS_SECRET_ACCESS_KEY={}",
        "aws_secret_access_key = {}",
        "aws_secret_access_key: {}\n",
        '{{"SecretAccessKey": "{}"}}',
        "{{'aws_secret_key': '{}'}}",
        "secret_access_key => '{}'",
        "AWS_SECRET_KEY={};next",
        '\\"SecretAccessKey\\":\\"{}\\"',
    ],
)
def test_aws_secret_access_keys_are_replaced(template: str) -> None:
    """The key goes, the setting's name and the text around it stay."""
    assert redact_text(template.format(SECRET)) == (
        template.format("[aws_secret_key]"),
        {"aws_secret_key": 1},
    )


@pytest.mark.parametrize(
    "text",
    [
        f"{SECRET}",  # no name before it: 40 base64 characters are no proof
        f"aws_secret_access_key = {SECRET}X",  # 41 characters
        f"aws_secret_access_key = {SECRET[:-1]}",  # 39
        "aws_secret_access_key = <your secret key>",
        f"my_secret_access_keys = {SECRET}",
    ],
)
def test_lookalikes_of_aws_secret_keys_stay(text: str) -> None:
    """Without the setting's name, or with a length other than 40, the text stays."""
    assert redact_text(text) == (text, {})
