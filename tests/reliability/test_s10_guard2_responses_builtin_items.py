"""A reasoning model's function call re-asked through the Responses API goes back with
every item of its output in place -- the built-in tools' calls too (``web_search_call``,
``file_search_call``...), not only reasoning and messages: a reasoning item sent without
the web search that followed it is refused ("Item 'rs_...' of type 'reasoning' was
provided without its required following item", vercel/ai#7099 with web search). Checked
on the request body the real OpenAI SDK sent."""

from __future__ import annotations

from typing import Any

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import openai_client, responses_response

GOOD = '{"category": "bug", "urgency": 2}'
BAD = '{"category": "bug", "urgency": 9}'
TOOLS = [
    {"type": "function", "name": "Ticket", "parameters": {"type": "object"}},
    {"type": "web_search"},
]
SEARCH = {
    "type": "web_search_call",
    "id": "ws_1",
    "status": "completed",
    "action": {"type": "search", "query": "app crashes on start"},
}


def _reasoning(id: str) -> dict[str, Any]:
    return {"type": "reasoning", "id": id, "summary": []}


def _call(arguments: str, id: str = "fc_1", call_id: str = "call_1") -> dict[str, Any]:
    return {"type": "function_call", "id": id, "call_id": call_id, "name": "Ticket"} | {
        "arguments": arguments, "status": "completed"
    }  # fmt: skip


def test_a_web_search_between_reasoning_items_goes_back_in_place() -> None:
    """Reasoning, the search it led to, more reasoning, the call: all four, in order."""
    first = [_reasoning("rs_1"), SEARCH, _reasoning("rs_2"), _call(BAD)]
    client, sent = openai_client(
        [responses_response(first), responses_response([_call(GOOD, "fc_2", "call_2")])]
    )

    @lg.guard(schema=Ticket, retries=1)
    def triage(input: Any) -> Any:
        return client.responses.create(model="o4-mini", input=input, tools=TOOLS)

    assert triage("It crashes") == Ticket(category="bug", urgency=2)
    items = sent[1].json["input"]
    assert [item.get("type") or item["role"] for item in items] == [
        "user",
        "reasoning",
        "web_search_call",
        "reasoning",
        "function_call",
        "function_call_output",
    ]
    assert items[2] == SEARCH
    assert (items[4]["id"], items[4]["call_id"]) == ("fc_1", "call_1")
    assert items[5]["call_id"] == "call_1"


def test_without_reasoning_the_calls_still_go_alone() -> None:
    """No reasoning item: nothing requires the search, so the call goes back alone, as
    before."""
    client, sent = openai_client(
        [responses_response([SEARCH, _call(BAD)]), responses_response([_call(GOOD)])]
    )

    @lg.guard(schema=Ticket, retries=1)
    def triage(input: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, tools=TOOLS)

    assert triage("It crashes") == Ticket(category="bug", urgency=2)
    kinds = [item.get("type") or item["role"] for item in sent[1].json["input"]]
    assert kinds == ["user", "function_call", "function_call_output"]
