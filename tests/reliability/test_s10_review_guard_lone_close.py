"""Reproducer of an open gap in the ``<think>`` skipping (885fb95): a reasoning model
served raw behind an OpenAI-compatible server whose chat template opens the reasoning
in the prompt (DeepSeek-R1's template ends the prompt with ``<think>\\n``, QwQ's too)
answers ``reasoning...</think>\\n\\nanswer``, with no opening tag. The skip looks for a
leading opening tag only, so a value drafted in that reasoning is taken (the first
valid value wins). vLLM's R1 reasoning parser cuts at the first ``</think>``.

Not fixed: cutting at a closing tag with no opening one changes what a ``str`` answer
that merely mentions ``</think>`` returns, and a JSON value in prose holding that text
in a string would be re-asked; which way to go is a design decision (see the report)."""

from __future__ import annotations

from typing import Any

import pytest

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import chat_completion, openai_client

DRAFT = '{"category": "billing", "urgency": 1}'
GOOD = '{"category": "bug", "urgency": 2}'


@pytest.mark.xfail(strict=True, reason="open: reasoning whose opening tag was in the prompt")
def test_reasoning_opened_by_the_template_is_not_read_as_the_answer() -> None:
    text = f"A first guess: {DRAFT}. No, it crashes: a bug.\n</think>\n\n{GOOD}"
    client, _ = openai_client([chat_completion(text)])

    @lg.guard(schema=Ticket, retries=0)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="deepseek-r1", messages=messages)

    assert triage([{"role": "user", "content": "It crashes"}]) == Ticket(category="bug", urgency=2)
