"""Open gap, kept as a reproducer: a Responses API stream that ends with an ``error``
event (or ``response.failed``) for a server error is not raised by the OpenAI SDK, so
the guard judges the cut answer as the model's: it spends a corrective retry and sends a
re-ask telling the model its half answer was invalid JSON, where the right move is the
transient retry an HTTP 500 gets. Fixing it needs an error type for "the provider failed
inside a stream" that the application may see once retries run out: a public API
decision, left to the lead."""

from __future__ import annotations

from typing import Any

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import openai_client, responses_events

GOOD = '{"category": "bug", "urgency": 2}'


def test_a_server_error_event_in_a_responses_stream_is_retried_unchanged() -> None:
    cut = responses_events(['{"category": '])[:3]
    cut.append({"type": "error", "code": "server_error", "message": "The server had an error"})
    cut[-1]["param"], cut[-1]["sequence_number"] = None, 3
    client, sent = openai_client([cut, responses_events([GOOD])])

    @lg.guard(schema=Ticket, retries=1, transient_retries=1, sleep=lambda seconds: None)
    def triage(input: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    assert triage("It crashes") == Ticket(category="bug", urgency=2)
    assert sent[1].json["input"] == sent[0].json["input"]  # the same request again
