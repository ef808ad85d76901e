"""Chat Completions streams as servers really end them are read as finished, so an
answer json-repair can mend is mended, not re-asked: OpenAI's ``include_usage`` last
chunk with no choices, the finish reason on the last content chunk with no usage chunk
(vLLM, Ollama), Azure's leading chunk of prompt filter results with empty fields; and
one that stops without a finish reason is re-asked. Real OpenAI SDK over SSE."""

from __future__ import annotations

from typing import Any

import pytest

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import openai_client

NEAR = '{"category": "bug", "urgency": 2,}'  # a trailing comma: repaired when finished
HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
USAGE = {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16}


def _chunk(content: str | None, finish: str | None = None) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {**HEAD, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


OPENAI_USAGE = [
    _chunk(NEAR[:12]),
    _chunk(NEAR[12:]),
    _chunk(None, "stop"),
    {**HEAD, "choices": [], "usage": USAGE},
]
LAST_CONTENT = [_chunk(NEAR[:12]), _chunk(NEAR[12:], "stop")]
AZURE = [
    {"id": "", "object": "", "created": 0, "model": "", "choices": []}
    | {"prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]},
    *LAST_CONTENT,
]


@pytest.mark.parametrize(
    "chunks", [OPENAI_USAGE, LAST_CONTENT, AZURE], ids=["include_usage", "last_chunk", "azure"]
)
def test_a_finished_stream_is_repaired_without_a_reask(chunks: list[Any]) -> None:
    """One request: the finish reason was read, so the trailing comma is mended."""
    client, sent = openai_client([chunks])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="m", messages=messages, stream=True)

    assert triage([{"role": "user", "content": "x"}]) == Ticket(category="bug", urgency=2)
    assert len(sent) == 1


def test_a_stream_without_a_finish_reason_is_reasked() -> None:
    """The same pieces and no finish reason: unfinished, so re-asked, not mended."""
    good = [_chunk('{"category": "bug", "urgency": 3}', "stop")]
    client, sent = openai_client([[_chunk(NEAR[:12]), _chunk(NEAR[12:])], good])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="m", messages=messages, stream=True)

    assert triage([{"role": "user", "content": "x"}]) == Ticket(category="bug", urgency=3)
    assert len(sent) == 2
