"""A whole response in which the provider reported a transient failure (a Responses API
response that ``failed`` with a ``server_error``, whose usage says what it billed) is
retried. What it billed is what its usage says: a budget and the records see each
attempt once, at its reported usage, whether anything held tokens for it or not. With
a cap or a budget it was charged as a stream cut mid-answer (the whole reservation:
input estimate plus output cap): the budget grew by the cap for every failure, and the
failed attempts had no cost, so the call's cost left them out (without a cap or a
budget they were priced from their usage)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    async_openai_client,
    openai_client,
    responses_response,
)

GOOD = '{"category": "bug", "urgency": 2}'
MESSAGE = {
    "type": "message",
    "id": "msg_1",
    "role": "assistant",
    "status": "completed",
    "content": [{"type": "output_text", "text": GOOD, "annotations": []}],
}


def _no_wait(seconds: float) -> None:
    return None


def _failed(usage: tuple[int, int] | None = (40, 0)) -> dict[str, Any]:
    body = responses_response([], status="failed", usage=usage)
    return {**body, "error": {"code": "server_error", "message": "The server had an error"}}


def _run(schema: Any, with_budget: bool, asynchronous: bool) -> tuple[list[lg.Record], int]:
    script = [_failed(), _failed(), responses_response([MESSAGE], usage=(40, 12))]
    make = async_openai_client if asynchronous else openai_client
    client, sent = make(script)
    cap = 1000 if with_budget else None  # no cap, no budget: nothing holds tokens
    guard = lg.guard(schema=schema, max_output_tokens=cap, transient_retries=2, sleep=_no_wait)

    def respond(input: str, max_output_tokens: int | None = None) -> Any:
        return client.responses.create(
            model="gpt-4o-mini", input=input, max_output_tokens=max_output_tokens
        )

    async def arespond(input: str, max_output_tokens: int | None = None) -> Any:
        return await client.responses.create(
            model="gpt-4o-mini", input=input, max_output_tokens=max_output_tokens
        )

    opened = lg.budget(max_tokens=100_000) if with_budget else contextlib.nullcontext()
    with lg.testing.capture() as records, opened as budget:
        if asynchronous:
            asyncio.run(guard(arespond)("It crashes"))
        else:
            guard(respond)("It crashes")
    assert len(sent) == 3
    used = budget.used if isinstance(budget, lg.Budget) else -1
    return records, used


@pytest.mark.parametrize("schema", [None, Ticket])
@pytest.mark.parametrize("asynchronous", [False, True])
def test_each_failed_attempt_is_charged_its_reported_usage_once(
    schema: Any, asynchronous: bool
) -> None:
    """40 + 40 + 52 tokens reach the budget and the call's record, whatever was held."""
    records, used = _run(schema, True, asynchronous)
    attempts = [r for r in records if r.kind == "attempt"]
    assert [a.attempt["outcome"] for a in attempts if a.attempt] == [
        "transient_error",
        "transient_error",
        "ok",
    ]
    assert [a.usage.total if a.usage else None for a in attempts] == [40, 40, 52]
    (call,) = [r for r in records if r.kind == "llm"]
    assert call.usage is not None
    assert call.usage.total == 132
    assert used == 132


@pytest.mark.parametrize("schema", [None, Ticket])
def test_the_cost_is_the_same_with_a_budget_open_or_not(schema: Any) -> None:
    """The attempts' and the call's cost come from the usage, not from what was held:
    the same with a cap and a budget as with neither."""
    free, _ = _run(schema, False, False)
    held, _ = _run(schema, True, False)

    def costs(records: list[lg.Record]) -> list[Any]:
        return [(r.kind, r.cost_usd) for r in records if r.kind in ("attempt", "llm")]

    assert costs(held) == costs(free)
    assert all(cost is not None for _, cost in costs(free))


def test_a_failed_response_with_no_usage_is_charged_what_was_held() -> None:
    """No usage reported: nothing says what was billed, so the budget keeps the hold."""
    client, sent = openai_client([_failed(None), responses_response([MESSAGE], usage=(40, 12))])

    @lg.guard(max_output_tokens=1000, sleep=_no_wait)
    def respond(input: str, max_output_tokens: int | None = None) -> Any:
        return client.responses.create(
            model="gpt-4o-mini", input=input, max_output_tokens=max_output_tokens
        )

    with lg.budget(max_tokens=100_000) as budget:
        respond("It crashes")
    assert len(sent) == 2
    assert budget.used > 1000 + 52
