"""The input of an OpenAI Responses API call (``input=``, a string or a list of items,
with ``instructions=``) is counted before the call, as ``messages`` are: a guard's
``max_input_tokens`` refuses it before anything is paid (it was refused at decoration:
"takes neither messages nor prompt"), and a budget reserves it (the reservation held the
output cap alone, so a long input crossed the budget unseen)."""

from __future__ import annotations

from typing import Any

import pytest

import llmguard as lg
from tests._helpers.sdk_mocks import openai_client, responses_response

LONG = "crash " * 1000
MESSAGE = {"type": "message", "id": "m", "role": "assistant", "status": "completed"} | {
    "content": [{"type": "output_text", "text": "ok", "annotations": []}]
}


@pytest.mark.parametrize(
    "given",
    [LONG, [{"role": "user", "content": LONG}]],
    ids=["string", "items"],
)
def test_max_input_tokens_refuses_a_long_responses_input_before_the_call(given: Any) -> None:
    client, sent = openai_client([responses_response([MESSAGE])])

    @lg.guard(model="gpt-4o-mini", max_input_tokens=100)
    def ask(input: Any, instructions: str | None = None) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input)

    with pytest.raises(lg.TokenLimitExceeded) as refused:
        ask(given)
    assert refused.value.limit == "max_input_tokens"
    assert refused.value.used is not None
    assert refused.value.used > 100
    assert sent == []


def test_instructions_are_counted_with_the_input() -> None:
    client, sent = openai_client([responses_response([MESSAGE])])

    @lg.guard(model="gpt-4o-mini", max_input_tokens=100)
    def ask(input: Any, instructions: str | None = None) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, instructions=instructions)

    with pytest.raises(lg.TokenLimitExceeded):
        ask("short", instructions=LONG)
    assert sent == []


def test_a_budget_reserves_a_responses_input_before_the_call() -> None:
    client, sent = openai_client([responses_response([MESSAGE])])

    @lg.guard(model="gpt-4o-mini", max_output_tokens=50)
    def ask(input: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input)

    with lg.budget(max_tokens=500), pytest.raises(lg.BudgetExceeded):
        ask(LONG)
    assert sent == []


def test_a_short_responses_input_passes_with_its_count_recorded() -> None:
    client, sent = openai_client([responses_response([MESSAGE])])

    @lg.guard(model="gpt-4o-mini", max_input_tokens=100)
    def ask(input: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input)

    with lg.testing.capture() as records:
        ask([{"role": "user", "content": "It crashes"}])
    assert len(sent) == 1
    [attempt] = [r for r in records if r.kind == "attempt"]
    assert attempt.metadata is not None
    assert 0 < attempt.metadata["counted_input_tokens"] < 100
