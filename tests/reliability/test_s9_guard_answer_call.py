"""The tool call read as the answer is one rule (`CompiledSchema.answer_call`: the call
named for the schema among calls to other tools): `Attempt.tool_call` and the partials of
``guard.stream`` follow it, as the extraction and the re-ask already did."""

from __future__ import annotations

from typing import Any

import pytest

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import chat_completion, openai_client

SEARCH = '{"query": "refund policy", "category": "other"}'
GOOD = '{"category": "bug", "urgency": 2}'
MESSAGES = [{"role": "user", "content": "It crashes"}]


def _call(name: str, arguments: str, call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_attempt_tool_call_is_the_call_named_for_the_schema() -> None:
    """With ``[search_docs, Ticket]`` the attempt's ``tool_call`` is the Ticket call whose
    arguments failed, not the search the model made first."""
    answer = [_call("search_docs", SEARCH, "call_1"), _call("Ticket", '{"category": "bug"}', "c2")]
    client, _ = openai_client([chat_completion(None, tool_calls=answer)])

    @lg.guard(schema=Ticket, retries=0)
    def ask(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with pytest.raises(lg.SchemaViolation) as failed:
        ask(MESSAGES)
    [attempt] = failed.value.attempts
    assert attempt.tool_call is not None
    assert (attempt.tool_call.id, attempt.tool_call.name) == ("c2", "Ticket")
    assert attempt.answer_index == 1


def _chunks(calls: list[tuple[str, str, str]], piece: int = 4) -> list[dict[str, Any]]:
    """Chat Completions stream chunks of tool calls ``(id, name, arguments)`` in order,
    each call's arguments in pieces of ``piece`` characters."""
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1}
    head["model"] = "gpt-4o-mini"
    chunks: list[dict[str, Any]] = []
    for index, (call_id, name, arguments) in enumerate(calls):
        start = {"index": index, "id": call_id, "type": "function"}
        start["function"] = {"name": name, "arguments": ""}
        deltas = [start] + [
            {"index": index, "function": {"arguments": arguments[i : i + piece]}}
            for i in range(0, len(arguments), piece)
        ]
        chunks += [
            {**head, "choices": [{"index": 0, "delta": {"tool_calls": [d]}, "finish_reason": None}]}
            for d in deltas
        ]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    return chunks


def _shown(partials: list[lg.Partial[Any]]) -> list[tuple[Any, Any]]:
    return [(p.value.category, p.value.urgency) for p in partials if not p.final]


def test_stream_partials_come_from_the_call_named_for_the_schema() -> None:
    """Streamed ``[search_docs, Ticket]``: once the Ticket call begins, the partials are
    read from its arguments (the search's ``category`` is dropped with a reset), and
    the last one shows the whole Ticket."""
    calls = [("call_1", "search_docs", SEARCH), ("call_2", "Ticket", GOOD)]
    client, _ = openai_client([_chunks(calls)])

    def ask(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    partials = list(lg.guard(schema=Ticket).stream(ask, MESSAGES))
    assert partials[-1].final
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    shown = _shown(partials)
    assert shown[-1] == ("bug", 2)
    switch = next(i for i, p in enumerate(partials) if p.reset)
    assert all(value != ("other", None) for value in shown[switch:])
    assert ("bug", None) in shown[switch:]  # the Ticket's fields, as they arrived


def _responses_events(calls: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """Responses API stream events of function calls ``(call_id, name, arguments)``."""
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "resp_1", "model": "gpt-4o-mini"}}
    ]
    done = []
    for index, (call_id, name, arguments) in enumerate(calls):
        item = {"type": "function_call", "id": f"fc_{index}", "call_id": call_id, "name": name}
        events.append(
            {"type": "response.output_item.added", "output_index": index}
            | {"item": {**item, "arguments": "", "status": "in_progress"}}
        )
        events += [
            {"type": "response.function_call_arguments.delta", "item_id": f"fc_{index}"}
            | {"output_index": index, "delta": arguments[i : i + 4]}
            for i in range(0, len(arguments), 4)
        ]
        finished = {**item, "arguments": arguments, "status": "completed"}
        done.append(finished)
        events.append(
            {"type": "response.output_item.done", "output_index": index, "item": finished}
        )
    response = {"id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-4o-mini"}
    response |= {"status": "completed", "output": done, "parallel_tool_calls": True}
    response |= {"tool_choice": "auto", "tools": []}
    events.append({"type": "response.completed", "response": response})
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def test_responses_stream_partials_come_from_the_call_named_for_the_schema() -> None:
    """The same with the Responses API, whose call arguments stream by output index:
    the partials never glue the search's arguments to the Ticket's."""
    calls = [("call_1", "search_docs", SEARCH), ("call_2", "Ticket", GOOD)]
    client, _ = openai_client([_responses_events(calls)])

    def ask(input: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    partials = list(lg.guard(schema=Ticket, retries=0).stream(ask, "It crashes"))
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    shown = _shown(partials)
    assert shown[-1] == ("bug", 2)
    switch = next(i for i, p in enumerate(partials) if p.reset)
    assert ("bug", None) in shown[switch:]
