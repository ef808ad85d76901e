"""Review of the SSE error events read as transient (7d5220c), as a demanding user behind
OpenRouter. OpenRouter reports a failure after the stream's 200 as a chunk holding
``{"error": {"code": 502, "message": ...}}``: its codes are HTTP statuses, as numbers.
The OpenAI SDK raises ``APIError`` for that chunk, with the error as its body and no
status; only string types and codes were read, so a 502 or a 429 in mid-stream was
raised at once instead of retried unchanged like the same status before the stream."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import async_openai_client, chat_chunks, openai_client

GOOD = '{"category": "bug", "urgency": 2}'
USER = [{"role": "user", "content": "It crashes"}]


def _failing(code: Any) -> list[dict[str, Any]]:
    """A stream that starts answering, then reports OpenRouter's error chunk."""
    started = chat_chunks(['{"category": '], usage=None)[:2]
    head = {key: started[0][key] for key in ("id", "object", "created", "model")}
    error = {"code": code, "message": "Provider returned error"}
    choice = {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
    return [*started, {**head, "error": error, "choices": [choice]}]


def _triage(client: Any, retries: int = 2) -> Any:
    @lg.guard(schema=Ticket, transient_retries=retries, sleep=lambda seconds: None)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="m", messages=messages, stream=True)

    return triage


@pytest.mark.parametrize("code", [502, 503, 429, 408, "502"])
def test_a_numeric_status_in_a_mid_stream_error_is_retried_unchanged(code: Any) -> None:
    client, sent = openai_client([_failing(code), chat_chunks([GOOD])])
    with lg.testing.capture() as records:
        assert _triage(client)(list(USER)) == Ticket(category="bug", urgency=2)
    assert len(sent) == 2
    assert sent[1].json == sent[0].json  # retried unchanged: no correction written
    attempts = [r for r in records if r.kind == "attempt"]
    assert [a.status for a in attempts] == ["error", "ok"]


@pytest.mark.parametrize("code", [400, 401, 402, 403, True, "forbidden"])
def test_a_refusal_in_a_mid_stream_error_is_raised_at_once(code: Any) -> None:
    client, sent = openai_client([_failing(code), chat_chunks([GOOD])])
    with pytest.raises(openai.APIError):
        _triage(client)(list(USER))
    assert len(sent) == 1


def test_when_the_transient_retries_run_out_the_sdk_error_is_raised() -> None:
    client, sent = openai_client([_failing(502)] * 3)
    with pytest.raises(openai.APIError) as raised:
        _triage(client, retries=2)(list(USER))
    assert raised.value.body == {"code": 502, "message": "Provider returned error"}
    assert len(sent) == 3


def test_async_too() -> None:
    client, sent = async_openai_client([_failing(502), chat_chunks([GOOD])])

    @lg.guard(schema=Ticket, transient_retries=1, sleep=lambda seconds: None)
    async def triage(messages: list[dict[str, Any]]) -> Any:
        return await client.chat.completions.create(model="m", messages=messages, stream=True)

    assert asyncio.run(triage(list(USER))) == Ticket(category="bug", urgency=2)
    assert len(sent) == 2
