"""Anthropic's prefill, its documented way to hold Claude to JSON: the caller's last turn
is an assistant turn (``{``) that the answer continues. The answer is read with it, as
the text the model wrote, instead of being re-asked as "no JSON value found"."""

from __future__ import annotations

from typing import Any

import pytest

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    chat_completion,
    openai_client,
)

USER = {"role": "user", "content": "The app crashes on start"}
TEXT_PREFILL = {"role": "assistant", "content": "{"}
BLOCK_PREFILL = {"role": "assistant", "content": [{"type": "text", "text": '{"category":'}]}


def _triage(answers: list[Any], **options: Any) -> tuple[Any, list[Any]]:
    client, sent = anthropic_client(answers)

    @lg.guard(schema=Ticket, **options)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(model="claude-haiku-4-5", max_tokens=200, messages=messages)

    return triage, sent


@pytest.mark.parametrize(
    ("prefill", "answer"),
    [
        (TEXT_PREFILL, '"category": "bug", "urgency": 2}'),
        (BLOCK_PREFILL, ' "bug", "urgency": 2}'),
    ],
)
def test_an_answer_that_continues_a_prefill_is_read_with_it(
    prefill: dict[str, Any], answer: str
) -> None:
    triage, sent = _triage([anthropic_message(answer)], retries=0)
    with lg.testing.capture() as records:
        assert triage([USER, prefill]) == Ticket(category="bug", urgency=2)
    assert len(sent) == 1
    (attempt,) = [r for r in records if r.kind == "attempt"]
    assert attempt.output == prefill_text(prefill) + answer


def prefill_text(prefill: dict[str, Any]) -> str:
    content = prefill["content"]
    return content if isinstance(content, str) else content[0]["text"]


def test_a_reask_after_a_prefill_shows_the_whole_answer_and_prefills_again() -> None:
    bad, good = '"category": "bug", "urgency": 9}', '"category": "bug", "urgency": 3}'
    triage, sent = _triage([anthropic_message(bad), anthropic_message(good)], retries=1)
    caller = [USER, TEXT_PREFILL]
    assert triage(caller) == Ticket(category="bug", urgency=3)
    reask = sent[1].json["messages"]
    assert reask[0] == USER
    assert reask[1] == {"role": "assistant", "content": "{" + bad}
    assert reask[2]["role"] == "user"
    assert "$.urgency" in reask[2]["content"]
    assert reask[3] == TEXT_PREFILL  # the retry is held to JSON the same way
    assert caller == [USER, TEXT_PREFILL]


def test_an_answer_that_starts_afresh_after_a_prefill_is_still_read() -> None:
    """A model that ignores the prefill and writes the whole object is not broken by it."""
    triage, _ = _triage([anthropic_message('{"category": "bug", "urgency": 2}')], retries=0)
    assert triage([USER, TEXT_PREFILL]) == Ticket(category="bug", urgency=2)


def test_an_openai_call_ending_with_an_assistant_turn_is_read_as_it_was() -> None:
    """OpenAI answers a new message, never a continuation: nothing is prepended."""
    client, _ = openai_client([chat_completion('{"category": "bug", "urgency": 2}')])

    @lg.guard(schema=Ticket, retries=0)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with lg.testing.capture() as records:
        assert triage([USER, TEXT_PREFILL]) == Ticket(category="bug", urgency=2)
    (attempt,) = [r for r in records if r.kind == "attempt"]
    assert attempt.output == '{"category": "bug", "urgency": 2}'
