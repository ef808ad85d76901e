"""``guard.stream`` of an Anthropic answer that continues a prefill (the caller's last turn
is an assistant ``{``): the partials are read from the prefill and the streamed text
together, as the final check reads the answer, so they grow while it streams (without
the prefill the text is no JSON, and nothing showed until the final value)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import anthropic_client, anthropic_events, async_anthropic_client

USER = {"role": "user", "content": "The app crashes on start"}
TEXT_PREFILL = {"role": "assistant", "content": "{"}
BLOCK_PREFILL = {"role": "assistant", "content": [{"type": "text", "text": '{"category":'}]}


def _shown(partials: list[lg.Partial[Any]]) -> list[tuple[Any, Any]]:
    return [(p.value.category, p.value.urgency) for p in partials if not p.final]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.integers(min_value=1, max_value=8))
def test_partials_of_a_prefilled_answer_grow_while_it_streams(size: int) -> None:
    answer = '"category": "bug", "urgency": 2}'
    pieces = [answer[i : i + size] for i in range(0, len(answer), size)]
    client, _ = anthropic_client([anthropic_events(pieces)])

    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=200, messages=messages, stream=True
        )

    partials = list(lg.guard(schema=Ticket, retries=0).stream(triage, [USER, TEXT_PREFILL]))
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    shown = _shown(partials)
    assert ("bug", None) in shown
    assert shown[-1] == ("bug", 2)


def test_partials_of_an_answer_after_a_block_prefill_grow_async() -> None:
    answer = ' "bug", "urgency": 2}'
    pieces = [answer[i : i + 3] for i in range(0, len(answer), 3)]
    client, _ = async_anthropic_client([anthropic_events(pieces)])

    async def triage(messages: list[dict[str, Any]]) -> Any:
        return await client.messages.create(
            model="claude-haiku-4-5", max_tokens=200, messages=messages, stream=True
        )

    async def read() -> list[lg.Partial[Any]]:
        stream = lg.guard(schema=Ticket, retries=0).stream(triage, [USER, BLOCK_PREFILL])
        return [partial async for partial in stream]

    partials = asyncio.run(read())
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    assert ("bug", None) in _shown(partials)
