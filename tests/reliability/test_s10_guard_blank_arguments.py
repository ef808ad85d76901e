"""A tool call with blank arguments (``""``, which OpenAI-compatible servers send for a
call without arguments) is a call with none: the empty object, as pydantic-ai reads it.
It was read as an empty answer, so a schema whose fields are all optional was re-asked
for nothing, and a re-ask told the model its answer was empty instead of which fields
were missing."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import chat_completion, openai_client, tool_call

USER = [{"role": "user", "content": "Any notes?"}]


class Notes(BaseModel):
    note: str | None = None
    tags: list[str] = []


def _blank(arguments: str, name: str) -> dict[str, Any]:
    calls = [tool_call(0, name, arguments)]
    return chat_completion(None, tool_calls=calls, finish_reason="tool_calls")


@pytest.mark.parametrize("arguments", ["", "  ", "\n"])
def test_blank_arguments_are_the_empty_object(arguments: str) -> None:
    client, sent = openai_client([_blank(arguments, "Notes")])

    @lg.guard(schema=Notes, retries=1)
    def notes(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert notes(list(USER)) == Notes()
    assert len(sent) == 1


def test_a_reask_of_blank_arguments_names_the_missing_fields() -> None:
    good = chat_completion('{"category": "bug", "urgency": 2}')
    client, sent = openai_client([_blank("", "Ticket"), good])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    result = sent[1].json["messages"][2]
    assert result["role"] == "tool"
    assert "$.category" in result["content"]
    assert "$.urgency" in result["content"]
