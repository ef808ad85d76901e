"""examples/anthropic_token_counter.py: Anthropic's count decides the guard's input cap."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "anthropic_token_counter.py"


def test_the_providers_count_lets_one_call_through_and_refuses_the_other(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The count endpoint gets the whole request (system, tools, messages); 812 tokens
    pass a 1,000 cap and are refused by a 500 one before the message is sent."""
    namespace = runpy.run_path(str(EXAMPLE), run_name="anthropic_token_counter_example")
    answered, refused, sent = namespace["main"]()
    assert answered == "Refunds take five working days."
    assert "the input is 812 tokens, over max_input_tokens=500" in refused
    assert "estimated" not in refused
    assert [path for path, _ in sent] == [
        "/v1/messages/count_tokens",
        "/v1/messages",
        "/v1/messages/count_tokens",
    ]
    counted = sent[0][1]
    assert counted["model"] == "claude-haiku-4-5"
    assert counted["system"] == "You answer customers of an online shop."
    assert counted["tools"][0]["name"] == "order_status"
    assert counted["messages"] == [{"role": "user", "content": "How long do refunds take?"}]
    assert "capped at 500: " in capsys.readouterr().out
