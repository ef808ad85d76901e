"""Tokens detect-secrets finds that the default redactor missed: GitLab, npm, PyPI,
SendGrid, Twilio, Mailchimp, Square and Azure storage keys. Each is replaced
inside text; lookalikes without the token's shape stay."""

from __future__ import annotations

import pytest

from llmguard.redact import DEFAULT

PYPI = (
    "pypi-AgEIcHlwaS5vcmcCJDU3OTM1MjliLWIyYTYtNDEwOC05NzRkLTM0MjNiNmEwNWIzYwACF1sxLFsiZm9vIl1dAA"
    "IsWzIsWyJiYXIiXV0AAAYg"
)
AZURE = (
    "AccountKey=lJzRc1YdHaAA2KCNJJ1tkYwF/+mKK6Ygw0NGe170Xu592euJv2wYUtBlV8z+qnlcNQSnIYVTkLWntUO1"
    "F8j8rQ=="
)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("glpat-xxxxxxxxxxxxxxxxxxxx", "gitlab_token"),
        ("glpat-Abc123_-Abc123_-AbcD", "gitlab_token"),
        ("gldt-" + "a1B2c3D4e5F6g7H8i9J0", "gitlab_token"),
        ("npm_" + "a" * 30 + "123456", "npm_token"),
        (PYPI, "pypi_token"),
        ("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", "sendgrid_key"),
        ("SK" + "0123456789abcdef" * 2, "twilio_key"),
        ("0123456789abcdef0123456789abcdef-us6", "mailchimp_key"),
        ("sq0csp-" + "A" * 20 + "0123456789_-abcdefghijk", "square_token"),
        ("sq0atp-" + "B" * 22, "square_token"),
    ],
)
def test_each_token_kind_is_replaced(text: str, kind: str) -> None:
    redacted, counts = DEFAULT.redact(f"token: {text} (rotate it)")
    assert redacted == f"token: [{kind}] (rotate it)"
    assert counts == {kind: 1}


def test_an_azure_storage_key_goes_and_its_name_stays() -> None:
    text = f"DefaultEndpointsProtocol=https;AccountName=app;{AZURE};EndpointSuffix=core"
    redacted, counts = DEFAULT.redact(text)
    assert redacted == (
        "DefaultEndpointsProtocol=https;AccountName=app;AccountKey=[azure_storage_key];"
        "EndpointSuffix=core"
    )
    assert counts == {"azure_storage_key": 1}


@pytest.mark.parametrize(
    "text",
    [
        "glpat-short",
        "the glpat- prefix",
        "npm_install_the_package",
        "pypi-package-name",
        "SG.short.token",
        "SKU0123456789abcdef0123456789abcdef1",  # a longer word: not a key's shape
        "SK0123456789",
        "0123456789abcdef-us6",
        "sq0csp-short",
        "AccountKey is short",  # AccountKey=short goes as a secret under its name
        "release v1.2.3 on 2026-12-07, build 1234567",
    ],
)
def test_lookalikes_of_the_token_kinds_stay(text: str) -> None:
    assert DEFAULT.redact(text) == (text, {})


def test_redacting_twice_changes_nothing_more() -> None:
    text = f"keys: glpat-xxxxxxxxxxxxxxxxxxxx {PYPI} {AZURE}"
    once, _ = DEFAULT.redact(text)
    assert DEFAULT.redact(once) == (once, {})
