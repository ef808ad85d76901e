"""A streamed Responses API answer that ends before its final event (``response.completed``,
``response.incomplete`` or ``response.failed``) was cut: its text is not the whole answer,
so json-repair must not close it into a shorter value. It reads as ``incomplete``, the
finish reason of a non-streamed answer that did not complete, and is re-asked."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import llmguard as lg
from llmguard.adapters import OpenAIResponsesStream
from tests._helpers.sdk_mocks import openai_client, responses_events


class Step(BaseModel):
    n: int


FULL = json.dumps([{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}])


def _without_final(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] != "response.completed"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=9, max_value=len(FULL) - 1))
def test_a_responses_stream_without_its_final_event_is_reasked_not_repaired(cut: int) -> None:
    """The cut stream's text is never repaired into a value: the answer is re-asked, and
    the second, whole answer is the one returned."""
    text = FULL[:cut]
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    client, sent = openai_client(
        [_without_final(responses_events(pieces)), responses_events([FULL])]
    )

    @lg.guard(schema=list[Step], retries=1, reask=lambda call, attempt: call)
    def plan(input: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    with lg.testing.capture() as records:
        assert plan("Plan four steps") == [Step(n=n) for n in (1, 2, 3, 4)]
    assert len(sent) == 2
    attempts = [r for r in records if r.kind == "attempt"]
    assert attempts[0].attempt is not None
    assert attempts[0].attempt["outcome"] == "invalid"
    assert "repair" not in attempts[0].attempt
    assert attempts[0].finish_reason == "incomplete"


def test_a_cut_responses_stream_reads_as_incomplete() -> None:
    """The accumulator's reply of a stream with no final event says ``incomplete``."""
    accumulator = OpenAIResponsesStream()
    for event in _without_final(responses_events(['[{"n": 1}, {"n": 2},'])):
        accumulator.feed(event)
    reply = accumulator.reply()
    assert reply.text == '[{"n": 1}, {"n": 2},'
    assert reply.finish_reason == "incomplete"
