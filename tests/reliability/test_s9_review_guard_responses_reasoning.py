"""A reasoning model's function call re-asked through the Responses API ``input=`` goes
back with the reasoning items that led to it, as OpenAI requires (a call sent without its
reasoning item, or a reasoning item without the item after it, is refused with a 400):
in the response's order, each call with its item id, the encrypted reasoning whole under
``store=False``. A reasoning item that cannot be sent back (``store=False`` without
``include=["reasoning.encrypted_content"]``) is left out with the call ids."""

from __future__ import annotations

from typing import Any

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import openai_client, responses_response

GOOD = '{"category": "bug", "urgency": 2}'
BAD = '{"category": "bug", "urgency": 9}'
QUESTION = [
    {
        "role": "user",
        "content": [
            {"type": "input_text", "text": "It crashes"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0K"},
        ],
    }
]
TOOLS = [{"type": "function", "name": "Ticket", "parameters": {"type": "object"}}]


def _reasoning(encrypted: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "reasoning", "id": "rs_1", "summary": []}
    return item if encrypted is None else item | {"encrypted_content": encrypted}


def _call(arguments: str) -> dict[str, Any]:
    return {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "Ticket"} | {
        "arguments": arguments, "status": "completed"
    }  # fmt: skip


def _preamble() -> dict[str, Any]:
    content = [{"type": "output_text", "text": "Filing it.", "annotations": []}]
    return {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed"} | {
        "content": content
    }


def _reask(first: list[dict[str, Any]], **options: Any) -> list[Any]:
    """The ``input`` of the re-ask after a bad call given with ``first``'s items."""
    stored = {"store": options.get("store", True)}  # the response says if it was stored
    answers = [responses_response([*first, _call(BAD)]), responses_response([_call(GOOD)])]
    answers = [answer | stored for answer in answers]
    client, sent = openai_client(answers)

    @lg.guard(schema=Ticket, retries=1)
    def triage(input: list[dict[str, Any]]) -> Any:
        return client.responses.create(model="o4-mini", input=input, tools=TOOLS, **options)

    assert triage(QUESTION) == Ticket(category="bug", urgency=2)
    assert len(sent) == 2
    body: list[Any] = sent[1].json["input"]
    assert body[: len(QUESTION)] == QUESTION
    return body[len(QUESTION) :]


def test_encrypted_reasoning_goes_back_before_its_call() -> None:
    """store=False with encrypted reasoning: the reasoning item whole, then the call with
    its id, then its output."""
    options = {"store": False, "include": ["reasoning.encrypted_content"]}
    reasoning, call, output = _reask([_reasoning("gAAAAB-opaque")], **options)
    assert reasoning == _reasoning("gAAAAB-opaque")
    assert call == {"type": "function_call", "id": "fc_1", "call_id": "call_1"} | {
        "name": "Ticket", "arguments": BAD
    }  # fmt: skip
    assert output["type"] == "function_call_output"
    assert output["call_id"] == "call_1"
    assert "$.urgency" in output["output"]


def test_stored_reasoning_and_a_message_keep_the_response_order() -> None:
    """Stored responses (the default): reasoning, the text before the call and the call
    go back in the order they came, then the call's output."""
    reasoning, message, call, output = _reask([_reasoning(None), _preamble()])
    assert reasoning == _reasoning(None)
    assert message["id"] == "msg_1"
    assert message["content"][0]["text"] == "Filing it."
    assert (call["id"], call["call_id"], call["arguments"]) == ("fc_1", "call_1", BAD)
    assert output["call_id"] == "call_1"


def test_reasoning_that_cannot_go_back_is_left_out_with_the_ids() -> None:
    """store=False without the encrypted content: a reasoning item by reference would be
    refused, so the call goes alone, without its item id (which would ask for it)."""
    call, output = _reask([_reasoning(None)], store=False)
    assert call == {"type": "function_call", "call_id": "call_1", "name": "Ticket"} | {
        "arguments": BAD
    }  # fmt: skip
    assert output["type"] == "function_call_output"


def _streamed(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Responses API events ending with a completed response holding ``output``."""
    head = responses_response([], status="in_progress", usage=None)
    events: list[dict[str, Any]] = [{"type": "response.created", "response": head}]
    for index, item in enumerate(output):
        events.append({"type": "response.output_item.added", "output_index": index} | {
            "item": item
        })  # fmt: skip
        events.append({"type": "response.output_item.done", "output_index": index} | {
            "item": item
        })  # fmt: skip
    whole = responses_response(output) | {"store": False}
    events.append({"type": "response.completed", "response": whole})
    return [event | {"sequence_number": number} for number, event in enumerate(events)]


def test_a_streamed_call_goes_back_with_its_encrypted_reasoning() -> None:
    """Streamed to its final event, the answer's reasoning is read from the response
    that event holds: the same re-ask as for a whole response."""
    answers = [_streamed([_reasoning("gAAAAB-opaque"), _call(BAD)]), _streamed([_call(GOOD)])]
    client, sent = openai_client(answers)

    @lg.guard(schema=Ticket, retries=1)
    def triage(input: list[dict[str, Any]]) -> Any:
        return client.responses.create(
            model="o4-mini",
            input=input,
            tools=TOOLS,
            store=False,
            include=["reasoning.encrypted_content"],
            stream=True,
        )

    assert triage(QUESTION) == Ticket(category="bug", urgency=2)
    reasoning, call, output = sent[1].json["input"][len(QUESTION) :]
    assert reasoning == _reasoning("gAAAAB-opaque")
    assert (call["id"], call["call_id"], call["arguments"]) == ("fc_1", "call_1", BAD)
    assert output["call_id"] == "call_1"


def test_guard_stream_reasks_a_streamed_call_with_its_reasoning() -> None:
    """guard.stream's partial reader hands the final response over the same way."""
    answers = [_streamed([_reasoning("gAAAAB-opaque"), _call(BAD)]), _streamed([_call(GOOD)])]
    client, sent = openai_client(answers)

    def triage(input: list[dict[str, Any]]) -> Any:
        return client.responses.create(model="o4-mini", input=input, tools=TOOLS, stream=True)

    partials = list(lg.guard(schema=Ticket, retries=1).stream(triage, QUESTION))
    assert partials[-1].final
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    reasoning, call, _ = sent[1].json["input"][len(QUESTION) :]
    assert reasoning == _reasoning("gAAAAB-opaque")
    assert call["id"] == "fc_1"
