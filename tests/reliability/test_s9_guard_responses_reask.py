"""A function that calls the OpenAI Responses API with ``input=`` (no ``messages``) has a
default re-ask, as Instructor gives it: the original input, then the failed answer's output
items (its message, or its function calls with their ``call_id``), then the correction (a
``function_call_output`` per call for a tool answer, a user message otherwise).
``instructions=`` and the caller's input are left as they were, and only the last failed
attempt is sent, however many came before."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    async_openai_client,
    chat_completion,
    openai_client,
    responses_events,
    responses_response,
)

GOOD = '{"category": "bug", "urgency": 2}'
BAD = '{"category": "bug", "urgency": 9}'
WORSE = '{"category": "bug"}'
INSTRUCTIONS = "Triage support tickets."


def _message(text: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}]
    return {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed"} | {
        "content": content
    }


def _function_call(name: str, arguments: str, call_id: str) -> dict[str, Any]:
    return {"type": "function_call", "id": f"fc_{call_id}", "call_id": call_id} | {
        "name": name, "arguments": arguments, "status": "completed"
    }  # fmt: skip


def _text_answers() -> list[dict[str, Any]]:
    return [
        responses_response([_message(BAD)]),
        responses_response([_message(WORSE)]),
        responses_response([_message(GOOD)]),
    ]


def _check_text_reasks(sent: list[Any], original: list[dict[str, Any]]) -> None:
    assert len(sent) == 3
    for request, failed in ((sent[1], BAD), (sent[2], WORSE)):
        body = request.json
        assert request.path == "/v1/responses"
        assert body["instructions"] == INSTRUCTIONS
        assert body["input"][: len(original)] == original
        previous, fix = body["input"][len(original) :]
        assert previous == {"role": "assistant", "content": failed}
        assert fix["role"] == "user"
        assert "did not match the required schema" in fix["content"]
    assert "$.urgency" in sent[2].json["input"][-1]["content"]
    assert "Field required" in sent[2].json["input"][-1]["content"]


def test_a_text_answer_is_reasked_through_input() -> None:
    """Two bad text answers: each re-ask holds the original input, the last bad answer
    and one correction; the caller's list is unchanged."""
    original = [{"role": "user", "content": "It crashes"}]
    kept = copy.deepcopy(original)
    client, sent = openai_client(_text_answers())

    @lg.guard(schema=Ticket, retries=2)
    def triage(input: list[dict[str, Any]]) -> Any:
        return client.responses.create(model="gpt-4o-mini", instructions=INSTRUCTIONS, input=input)

    assert triage(original) == Ticket(category="bug", urgency=2)
    assert original == kept
    _check_text_reasks(sent, kept)


def test_an_async_text_answer_is_reasked_through_input() -> None:
    original = [{"role": "user", "content": "It crashes"}]
    client, sent = async_openai_client(_text_answers())

    @lg.guard(schema=Ticket, retries=2)
    async def triage(input: list[dict[str, Any]]) -> Any:
        return await client.responses.create(
            model="gpt-4o-mini", instructions=INSTRUCTIONS, input=input
        )

    assert asyncio.run(triage(original)) == Ticket(category="bug", urgency=2)
    _check_text_reasks(sent, original)


def test_a_string_input_becomes_the_first_user_message() -> None:
    """``input="..."`` is kept as the user turn it stands for, ahead of the re-ask."""
    client, sent = openai_client(_text_answers()[1:])

    @lg.guard(schema=Ticket, retries=1)
    def triage(input: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input)

    assert triage("It crashes") == Ticket(category="bug", urgency=2)
    assert sent[1].json["input"][0] == {"role": "user", "content": "It crashes"}
    assert sent[1].json["input"][1] == {"role": "assistant", "content": WORSE}


def _call_answers() -> list[dict[str, Any]]:
    return [
        responses_response([_function_call("Ticket", BAD, "call_1")]),
        responses_response([_function_call("Ticket", GOOD, "call_2")]),
    ]


def _check_call_reask(body: dict[str, Any], original: list[dict[str, Any]]) -> None:
    assert body["instructions"] == INSTRUCTIONS
    assert body["input"][:1] == original
    call, output = body["input"][1:]
    assert call == {
        "type": "function_call", "call_id": "call_1", "name": "Ticket", "arguments": BAD
    }  # fmt: skip
    assert output["type"] == "function_call_output"
    assert output["call_id"] == "call_1"
    assert "The arguments of your call to Ticket did not match" in output["output"]
    assert "$.urgency" in output["output"]


def test_a_function_call_answer_is_answered_with_a_function_call_output() -> None:
    original = [{"role": "user", "content": "It crashes"}]
    client, sent = openai_client(_call_answers())

    @lg.guard(schema=Ticket, retries=1)
    def triage(input: list[dict[str, Any]]) -> Any:
        return client.responses.create(
            model="gpt-4o-mini", instructions=INSTRUCTIONS, input=input, tools=[]
        )

    assert triage(original) == Ticket(category="bug", urgency=2)
    _check_call_reask(sent[1].json, original)


def test_an_async_function_call_answer_is_answered_with_a_function_call_output() -> None:
    original = [{"role": "user", "content": "It crashes"}]
    client, sent = async_openai_client(_call_answers())

    @lg.guard(schema=Ticket, retries=1)
    async def triage(input: list[dict[str, Any]]) -> Any:
        return await client.responses.create(
            model="gpt-4o-mini", instructions=INSTRUCTIONS, input=input, tools=[]
        )

    assert asyncio.run(triage(original)) == Ticket(category="bug", urgency=2)
    _check_call_reask(sent[1].json, original)


def test_every_call_of_an_answer_gets_its_output() -> None:
    """``[search_docs, Ticket]``: both calls go back, each with an output; the errors go
    to the Ticket call, read as the answer."""
    answer = [
        _function_call("search_docs", '{"query": "x"}', "call_1"),
        _function_call("Ticket", WORSE, "call_2"),
    ]
    client, sent = openai_client([responses_response(answer), responses_response([_message(GOOD)])])

    @lg.guard(schema=Ticket, retries=1)
    def triage(input: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input)

    assert triage("It crashes") == Ticket(category="bug", urgency=2)
    items = sent[1].json["input"][1:]
    assert [(i["type"], i["call_id"]) for i in items] == [
        ("function_call", "call_1"),
        ("function_call", "call_2"),
        ("function_call_output", "call_1"),
        ("function_call_output", "call_2"),
    ]
    assert "No error was found" in items[2]["output"]
    assert "$.urgency: Field required" in items[3]["output"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=st.text(max_size=40))
def test_any_text_answer_reasks_with_input_the_sdk_sends(answer: str) -> None:
    """Whatever the model wrote (lone surrogates, blanks), the re-ask is sent: a blank
    answer adds no assistant turn, and the correction is always last."""
    content = [{"type": "output_text", "text": answer, "annotations": []}]
    first = {"type": "message", "id": "m", "role": "assistant", "status": "completed"}
    client, sent = openai_client(
        [responses_response([first | {"content": content}]), responses_response([_message(GOOD)])]
    )

    @lg.guard(schema=Ticket, retries=1)
    def triage(input: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input)

    assert triage("It crashes") == Ticket(category="bug", urgency=2)
    items = sent[1].json["input"]
    assert items[-1]["role"] == "user"
    assert len(items) == (3 if answer.strip() else 2)
    json.dumps(items)


def test_an_input_string_of_another_api_is_reasked_as_a_prompt() -> None:
    """A function whose ``input`` is its own text (here sent to Chat Completions) gets
    the prompt's re-ask, a string: never a list of Responses API items."""
    client, sent = openai_client([chat_completion(BAD), chat_completion(GOOD)])

    @lg.guard(schema=Ticket, retries=1)
    def triage(input: str) -> Any:
        messages = [{"role": "user", "content": input}]
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert triage("It crashes") == Ticket(category="bug", urgency=2)
    [turn] = sent[1].json["messages"]
    assert turn["content"].startswith(f"It crashes\n\nYour previous answer:\n{BAD}\n\n")


def test_a_streamed_answer_to_an_input_string_is_reasked_through_items() -> None:
    """A Responses API stream read to its final event holds the whole response, so a
    string ``input`` is re-asked as the user message it stands for, then the answer and
    the correction, as for a whole response."""
    client, sent = openai_client([responses_events([BAD]), responses_events([GOOD])])

    @lg.guard(schema=Ticket, retries=1)
    def triage(input: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    assert triage("It crashes") == Ticket(category="bug", urgency=2)
    question, previous, fix = sent[1].json["input"]
    assert question == {"role": "user", "content": "It crashes"}
    assert previous == {"role": "assistant", "content": BAD}
    assert fix["role"] == "user"
    assert "$.urgency" in fix["content"]


def test_a_stream_cut_before_its_final_event_reasks_an_input_string_as_a_prompt() -> None:
    """Without the final event nothing says which API answered: a string ``input``
    stays a string, the answer and the correction appended."""
    cut = responses_events(['{"category": "bug", "urgency": 2'])[:-1]
    client, sent = openai_client([cut, responses_events([GOOD])])

    @lg.guard(schema=Ticket, retries=1)
    def triage(input: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    assert triage("It crashes") == Ticket(category="bug", urgency=2)
    assert sent[1].json["input"].startswith("It crashes\n\nYour previous answer:\n")
