"""Reproducer of a gap in the ``<think>`` skipping (885fb95): a reasoning model served
raw behind an OpenAI-compatible server whose chat template opens the reasoning in the
prompt (DeepSeek-R1's template ends the prompt with ``<think>\\n``, QwQ's too) answers
``reasoning...</think>\\n\\nanswer``, with no opening tag. The skip looked for a leading
opening tag only, so a value drafted in that reasoning was taken (the first valid value
wins). Now the answer is read from after the last closing tag no opening tag comes
before, when the whole answer is not JSON (tests/reliability/test_s10_guard3_lone_close.py
holds the rest)."""

from __future__ import annotations

from typing import Any

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import chat_completion, openai_client

DRAFT = '{"category": "billing", "urgency": 1}'
GOOD = '{"category": "bug", "urgency": 2}'


def test_reasoning_opened_by_the_template_is_not_read_as_the_answer() -> None:
    text = f"A first guess: {DRAFT}. No, it crashes: a bug.\n</think>\n\n{GOOD}"
    client, _ = openai_client([chat_completion(text)])

    @lg.guard(schema=Ticket, retries=0)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="deepseek-r1", messages=messages)

    assert triage([{"role": "user", "content": "It crashes"}]) == Ticket(category="bug", urgency=2)
