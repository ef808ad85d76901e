"""A list schema answered by one tool call with blank arguments (``""``, read as the
empty object since 214a877) or ``{}``: the object was read as a list of one item, so the
re-ask named the fields of an item the model never wrote (``$[0].category: Field
required``), or a list of one default item was accepted. Nothing in it is an item: the
answer is empty where a list was expected, and the re-ask says so. A call named after
the list's item model is still that item."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import llmguard as lg
from llmguard._core.reply import ToolCall
from llmguard._guard.schema import compile_schema, extract_calls
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    chat_completion,
    openai_client,
    tool_call,
)

USER = [{"role": "user", "content": "File the tickets"}]
GOOD = '{"response": [{"category": "bug", "urgency": 2}]}'


class Note(BaseModel):
    text: str | None = None


def _call(name: str, arguments: str) -> dict[str, Any]:
    return chat_completion(
        None, tool_calls=[tool_call(0, name, arguments)], finish_reason="tool_calls"
    )


def _guarded(client: Any, schema: Any) -> Any:
    @lg.guard(schema=schema, retries=1)
    def ask(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    return ask


@pytest.mark.parametrize("arguments", ["", "  ", "{}"])
@pytest.mark.parametrize("name", ["list_Ticket", "final_result"])
def test_an_empty_call_is_reasked_as_an_empty_list_answer(arguments: str, name: str) -> None:
    """The tool result tells the model its answer is empty where a list was expected,
    and names no field of a made-up item."""
    client, sent = openai_client([_call(name, arguments), chat_completion(GOOD)])
    assert _guarded(client, list[Ticket])(list(USER)) == [Ticket(category="bug", urgency=2)]
    assert len(sent) == 2
    result = sent[1].json["messages"][2]
    assert result["role"] == "tool"
    assert result["tool_call_id"] == "call_0"
    assert "$[0]" not in result["content"]
    assert "empty" in result["content"]
    assert "list" in result["content"]


def test_an_empty_call_is_no_list_of_one_default_item() -> None:
    """Every field of the item optional: a list of one ``Note()`` was accepted."""
    answer = '{"response": [{"text": "hi"}]}'
    client, sent = openai_client([_call("list_Note", ""), chat_completion(answer)])
    assert _guarded(client, list[Note])(list(USER)) == [Note(text="hi")]
    assert len(sent) == 2


def test_a_scalar_list_is_told_the_same() -> None:
    client, sent = openai_client([_call("response", ""), chat_completion("[1, 2]")])
    assert _guarded(client, list[int])(list(USER)) == [1, 2]
    content = sent[1].json["messages"][2]["content"]
    assert "$[0]" not in content
    assert "empty" in content


def test_a_call_named_after_the_item_model_is_still_that_item() -> None:
    """``Note`` called with nothing is one ``Note()``; ``Ticket`` with nothing is an
    item missing its fields, at ``$[0]``."""
    client, sent = openai_client([_call("Note", "")])
    assert _guarded(client, list[Note])(list(USER)) == [Note()]
    assert len(sent) == 1
    found = extract_calls([ToolCall("c", "Ticket", "")], compile_schema(list[Ticket]))
    assert [e.path for e in found.errors] == ["$[0].category", "$[0].urgency"]


def test_an_anthropic_tool_use_with_an_empty_input_is_told_the_same() -> None:
    block = {"type": "tool_use", "id": "toolu_1", "name": "list_Ticket", "input": {}}
    good = {"type": "tool_use", "id": "toolu_2", "name": "list_Ticket", "input": {"response": []}}
    client, sent = anthropic_client(
        [anthropic_message([block], stop_reason="tool_use"), anthropic_message([good])]
    )

    @lg.guard(schema=list[Ticket], retries=1)
    def ask(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=messages)

    assert ask(list(USER)) == []
    (result,) = sent[1].json["messages"][2]["content"]
    assert result["type"] == "tool_result"
    assert "$[0]" not in str(result["content"])
    assert "empty" in str(result["content"])


@settings(max_examples=40, deadline=None)
@given(arguments=st.sampled_from(["", " ", "\n\t", "{}", " {} "]), name=st.text(max_size=12))
def test_whatever_the_tool_is_called_an_empty_call_is_no_item(arguments: str, name: str) -> None:
    """Unless named after the item model, an empty call holds no item, for any schema
    whose root is a list."""
    for schema in (list[Ticket], list[Note], list[int], tuple[str, ...]):
        compiled = compile_schema(schema)
        found = extract_calls([ToolCall("c", name, arguments)], compiled)
        if compiled.item_schema(name) is None:
            assert not found.ok
            assert [e.path for e in found.errors] == ["$"]
