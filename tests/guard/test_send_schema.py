"""Tests for ``send_schema=``: the schema reaches the model in each provider's own way.

The calls go through the real ``openai`` and ``anthropic`` SDKs on a mock transport
(tests/_helpers/sdk_mocks.py), and the tests read back the request bodies the SDKs sent.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import re
from collections.abc import Iterator, Sequence
from enum import Enum
from typing import Annotated, Any, Literal, Optional, Union

import pydantic
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

import llmguard as lg
from llmguard import Record
from llmguard._guard.schema import compile_schema
from llmguard._guard.structured import SchemaRequest, object_root, strict_schema, tool_name
from llmguard.testing import capture
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_events,
    anthropic_message,
    async_anthropic_client,
    async_openai_client,
    chat_chunks,
    chat_completion,
    openai_client,
    responses_response,
)


class Ticket(BaseModel):
    """A classified support ticket."""

    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)


GOOD = '{"category": "bug", "urgency": 4}'
TICKET = Ticket(category="bug", urgency=4)
MESSAGES: Any = [
    {"role": "system", "content": "Classify the support ticket."},
    {"role": "user", "content": "The app crashes when I open settings."},
]
USER_ONLY: Any = [{"role": "user", "content": "The app crashes when I open settings."}]

TICKET_STRICT = {
    "description": "A classified support ticket.",
    "type": "object",
    "properties": {
        "category": {"enum": ["billing", "bug", "other"], "type": "string"},
        "urgency": {"maximum": 5, "minimum": 1, "type": "integer"},
    },
    "required": ["category", "urgency"],
    "additionalProperties": False,
}
TICKET_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "Ticket",
        "schema": TICKET_STRICT,
        "description": "A classified support ticket.",
        "strict": True,
    },
}


def schema_sent(records: Sequence[Record]) -> list[Any]:
    """What each attempt record says was sent with the call."""
    return [r.metadata.get("schema_sent") for r in records if r.kind == "attempt"]


def tool_use(name: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "tool_use", "id": "toolu_1", "name": name, "input": arguments}]


def chat_tool_call(name: str, arguments: str) -> list[dict[str, Any]]:
    function = {"name": name, "arguments": arguments}
    return [{"id": "call_1", "type": "function", "function": function}]


# -- OpenAI Chat Completions -------------------------------------------------------------


def test_chat_completions_get_a_strict_response_format() -> None:
    """A function taking response_format gets OpenAI's strict json_schema for the schema."""
    client, sent = openai_client([chat_completion(GOOD)])

    @lg.guard(schema=Ticket, send_schema=True)
    def triage(messages: Any, response_format: Any = None) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, response_format=response_format
        )

    with capture() as records:
        assert triage(MESSAGES) == TICKET
    assert sent[0].json["response_format"] == TICKET_FORMAT
    assert sent[0].json["messages"] == MESSAGES
    assert schema_sent(records) == ["json_schema"]


def test_the_caller_s_own_response_format_is_left_alone() -> None:
    """A response_format the caller passes is sent as it is, and the record says so."""
    client, sent = openai_client([chat_completion(GOOD)])
    own: Any = {"type": "json_object"}

    @lg.guard(schema=Ticket, send_schema=True)
    def triage(messages: Any, response_format: Any = None) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, response_format=response_format
        )

    with capture() as records:
        assert triage(MESSAGES, response_format=own) == TICKET
    assert sent[0].json["response_format"] == {"type": "json_object"}
    assert own == {"type": "json_object"}
    assert schema_sent(records) == ["caller"]


def test_a_reask_keeps_the_response_format() -> None:
    """The corrective re-ask sends the same response_format with the correction."""
    bad = '{"category": "bug", "urgency": 9}'
    client, sent = openai_client([chat_completion(bad), chat_completion(GOOD)])

    @lg.guard(schema=Ticket, send_schema=True, retries=1)
    def triage(messages: Any, response_format: Any = None) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, response_format=response_format
        )

    messages = copy.deepcopy(MESSAGES)
    with capture() as records:
        assert triage(messages) == TICKET
    assert messages == MESSAGES
    assert [r.json["response_format"] for r in sent] == [TICKET_FORMAT, TICKET_FORMAT]
    *original, answer, correction = sent[1].json["messages"]
    assert original == MESSAGES
    assert answer == {"role": "assistant", "content": bad}
    assert "$.urgency" in correction["content"]
    assert schema_sent(records) == ["json_schema", "json_schema"]


def test_a_positional_response_format_parameter_is_filled_in_place() -> None:
    """A response_format parameter before others is given the format by position."""
    client, sent = openai_client([chat_completion(GOOD)])

    @lg.guard(schema=Ticket, send_schema="json_schema")
    def triage(response_format: Any, messages: Any) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, response_format=response_format
        )

    assert triage(None, MESSAGES) == TICKET
    assert sent[0].json["response_format"] == TICKET_FORMAT


def test_async_chat_completions_get_the_response_format() -> None:
    """The async SDK gets the same parameter, and the answer is validated."""
    client, sent = async_openai_client([chat_completion(GOOD)])

    @lg.guard(schema=Ticket, send_schema=True)
    async def triage(messages: Any, response_format: Any = None) -> Any:
        return await client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, response_format=response_format
        )

    async def main() -> Ticket:
        return await triage(MESSAGES)

    assert asyncio.run(main()) == TICKET
    assert sent[0].json["response_format"] == TICKET_FORMAT


def test_with_a_budget_the_flow_sends_the_format_too() -> None:
    """Under a token cap (the full flow, not the direct path) the format is sent as well."""
    client, sent = openai_client([chat_completion(GOOD)])

    @lg.guard(schema=Ticket, send_schema=True, max_output_tokens=50)
    def triage(
        messages: Any, response_format: Any = None, max_completion_tokens: Any = None
    ) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            response_format=response_format,
            max_completion_tokens=max_completion_tokens,
        )

    with capture() as records:
        assert triage(MESSAGES) == TICKET
    assert sent[0].json["response_format"] == TICKET_FORMAT
    assert sent[0].json["max_completion_tokens"] == 50
    assert schema_sent(records) == ["json_schema"]


def test_a_context_callable_gets_the_caller_s_arguments_only() -> None:
    """A context= callable is called with what the caller passed, not the sent format."""
    client, _ = openai_client([chat_completion(GOOD)])
    seen: list[dict[str, Any]] = []

    def context(messages: Any, **kwargs: Any) -> dict[str, Any]:
        seen.append(kwargs)
        return {}

    @lg.guard(schema=Ticket, send_schema=True, context=context, max_output_tokens=50)
    def triage(messages: Any, response_format: Any = None) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, response_format=response_format
        )

    assert triage(MESSAGES) == TICKET
    assert seen == [{}]


# -- OpenAI Responses API -------------------------------------------------------------------


def responses_text(text: str) -> dict[str, Any]:
    item = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    return responses_response([item])


def test_responses_api_gets_text_format() -> None:
    """A function taking text gets text={"format": {...json_schema, strict}}."""
    client, sent = openai_client([responses_text(GOOD)])

    @lg.guard(schema=Ticket, send_schema=True, retries=0)
    def triage(input: Any, text: Any = None) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, text=text)

    assert triage(MESSAGES) == TICKET
    assert sent[0].path.endswith("/responses")
    assert sent[0].json["text"] == {
        "format": {
            "type": "json_schema",
            "name": "Ticket",
            "schema": TICKET_STRICT,
            "description": "A classified support ticket.",
            "strict": True,
        }
    }


def test_responses_text_options_of_the_caller_keep_and_gain_the_format() -> None:
    """A caller's text options without a format keep theirs and get the format added."""
    client, sent = openai_client([responses_text(GOOD), responses_text(GOOD)])

    @lg.guard(schema=Ticket, send_schema=True, retries=0)
    def triage(input: Any, text: Any = None) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, text=text)

    options: Any = {"verbosity": "low"}
    assert triage(MESSAGES, text=options) == TICKET
    assert sent[0].json["text"]["verbosity"] == "low"
    assert sent[0].json["text"]["format"]["name"] == "Ticket"
    assert options == {"verbosity": "low"}
    own: Any = {"format": {"type": "json_object"}}
    assert triage(MESSAGES, text=own) == TICKET
    assert sent[1].json["text"] == {"format": {"type": "json_object"}}


# -- tools ------------------------------------------------------------------------------------


def test_anthropic_gets_a_forced_tool_and_its_input_is_the_answer() -> None:
    """A claude function taking tools gets a tool from the schema and tool_choice forcing it."""
    answer = anthropic_message(
        tool_use("Ticket", {"category": "bug", "urgency": 4}), stop_reason="tool_use"
    )
    client, sent = anthropic_client([answer])

    @lg.guard(schema=Ticket, send_schema=True)
    def triage(
        messages: Any, model: str = "claude-haiku-4-5", tools: Any = None, tool_choice: Any = None
    ) -> Any:
        return client.messages.create(
            model=model, max_tokens=300, messages=messages, tools=tools, tool_choice=tool_choice
        )

    with capture() as records:
        assert triage(USER_ONLY) == TICKET
    (tool,) = sent[0].json["tools"]
    assert tool["name"] == "Ticket"
    assert tool["description"] == "A classified support ticket."
    assert tool["input_schema"] == Ticket.model_json_schema()
    assert sent[0].json["tool_choice"] == {"type": "tool", "name": "Ticket"}
    assert schema_sent(records) == ["tool"]


def test_anthropic_bad_tool_input_is_reasked_with_the_tool_kept() -> None:
    """A tool answer that fails the schema is re-asked; the tool and tool_choice stay."""
    bad = anthropic_message(
        tool_use("Ticket", {"category": "bug", "urgency": 7}), stop_reason="tool_use"
    )
    good = anthropic_message(
        tool_use("Ticket", {"category": "bug", "urgency": 4}), stop_reason="tool_use"
    )
    client, sent = anthropic_client([bad, good])

    @lg.guard(schema=Ticket, send_schema="tool", provider="anthropic")
    def triage(messages: Any, tools: Any = None, tool_choice: Any = None) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=300,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice,
        )

    assert triage(USER_ONLY) == TICKET
    assert sent[0].json["tools"] == sent[1].json["tools"]
    assert sent[1].json["tool_choice"] == {"type": "tool", "name": "Ticket"}
    result = sent[1].json["messages"][-1]["content"][0]
    assert result["type"] == "tool_result"
    assert result["is_error"] is True


def test_async_anthropic_gets_the_tool() -> None:
    """The async Anthropic SDK gets the tool too."""
    answer = anthropic_message(
        tool_use("Ticket", {"category": "bug", "urgency": 4}), stop_reason="tool_use"
    )
    client, sent = async_anthropic_client([answer])

    @lg.guard(schema=Ticket, send_schema=True, model="claude-haiku-4-5")
    async def triage(messages: Any, tools: Any = None, tool_choice: Any = None) -> Any:
        return await client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=300,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice,
        )

    async def main() -> Ticket:
        return await triage(USER_ONLY)

    assert asyncio.run(main()) == TICKET
    assert sent[0].json["tool_choice"] == {"type": "tool", "name": "Ticket"}


def test_the_caller_s_own_tools_are_left_alone() -> None:
    """With tools of the caller's, no tool is added and tool_choice is not forced."""
    client, sent = anthropic_client([anthropic_message(GOOD)])
    own: Any = [{"name": "search", "description": "Search.", "input_schema": {"type": "object"}}]

    @lg.guard(schema=Ticket, send_schema=True, provider="anthropic")
    def triage(messages: Any, tools: Any = None, tool_choice: Any = None) -> Any:
        kwargs = {"tool_choice": tool_choice} if tool_choice else {}
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=300, messages=messages, tools=tools, **kwargs
        )

    with capture() as records:
        assert triage(USER_ONLY, tools=own) == TICKET
    assert sent[0].json["tools"] == own
    assert "tool_choice" not in sent[0].json
    assert schema_sent(records) == ["caller"]


def test_a_forced_tool_on_openai_is_a_strict_function() -> None:
    """send_schema="tool" on Chat Completions: a strict function tool, forced, and its
    call's arguments are the answer."""
    answer = chat_completion(None, tool_calls=chat_tool_call("Ticket", GOOD))
    client, sent = openai_client([answer])

    @lg.guard(schema=Ticket, send_schema="tool")
    def triage(
        messages: Any, model: str = "gpt-4o-mini", tools: Any = None, tool_choice: Any = None
    ) -> Any:
        return client.chat.completions.create(
            model=model, messages=messages, tools=tools, tool_choice=tool_choice
        )

    assert triage(MESSAGES) == TICKET
    assert sent[0].json["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "Ticket",
                "description": "A classified support ticket.",
                "parameters": TICKET_STRICT,
                "strict": True,
            },
        }
    ]
    assert sent[0].json["tool_choice"] == {"type": "function", "function": {"name": "Ticket"}}


def test_a_list_schema_is_wrapped_in_a_response_object_for_the_tool() -> None:
    """A non-object schema goes out as the "response" property of an object."""
    client, sent = anthropic_client([anthropic_message(GOOD)])

    @lg.guard(
        schema=list[Ticket], send_schema="tool", provider="anthropic", retries=0, on_fail="return"
    )
    def triage(messages: Any, tools: Any = None, tool_choice: Any = None) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=300,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice,
        )

    triage(USER_ONLY)
    (tool,) = sent[0].json["tools"]
    schema = tool["input_schema"]
    assert tool["name"] == "list_Ticket"
    assert schema["type"] == "object"
    assert schema["required"] == ["response"]
    assert schema["properties"]["response"] == {
        "type": "array",
        "items": {"$ref": "#/$defs/Ticket"},
    }
    assert "Ticket" in schema["$defs"]


# -- kwargs and the provider -------------------------------------------------------------


def test_a_kwargs_function_gets_what_the_model_s_provider_takes() -> None:
    """A function taking **kwargs: response_format for gpt models, a tool for claude."""
    openai, openai_sent = openai_client([chat_completion(GOOD)])
    claude, claude_sent = anthropic_client(
        [anthropic_message(tool_use("Ticket", json.loads(GOOD)), stop_reason="tool_use")]
    )

    @lg.guard(schema=Ticket, send_schema=True)
    def triage(model: str, messages: Any, **kwargs: Any) -> Any:
        if model.startswith("claude"):
            return claude.messages.create(model=model, max_tokens=300, messages=messages, **kwargs)
        return openai.chat.completions.create(model=model, messages=messages, **kwargs)

    assert triage("gpt-4o-mini", MESSAGES) == TICKET
    assert triage("claude-haiku-4-5", USER_ONLY) == TICKET
    assert openai_sent[0].json["response_format"] == TICKET_FORMAT
    assert claude_sent[0].json["tool_choice"] == {"type": "tool", "name": "Ticket"}


def test_an_unknown_provider_behind_kwargs_gets_the_prompt_instruction() -> None:
    """When nothing tells the provider, the schema goes into the messages as words."""
    seen: list[Any] = []

    @lg.guard(schema=Ticket, send_schema=True)
    def triage(messages: Any, **kwargs: Any) -> str:
        seen.append((messages, kwargs))
        return GOOD

    assert triage(MESSAGES, model="local-llama") == TICKET
    ((messages, kwargs),) = seen
    assert kwargs == {"model": "local-llama"}
    assert messages[1] == MESSAGES[1]
    assert messages[0]["content"].startswith("Classify the support ticket.\n\nAnswer with only")


# -- prompt mode ------------------------------------------------------------------------


def test_prompt_mode_appends_the_schema_to_the_system_message() -> None:
    """A function taking only messages gets the JSON Schema in its system message."""
    client, sent = openai_client([chat_completion(GOOD)])

    @lg.guard(schema=Ticket, send_schema=True)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    messages = copy.deepcopy(MESSAGES)
    with capture() as records:
        assert triage(messages) == TICKET
    assert messages == MESSAGES
    system, user = sent[0].json["messages"]
    assert user == MESSAGES[1]
    head, schema = system["content"].split("\n", 2)[0], system["content"].split(":\n", 1)[1]
    assert head == "Classify the support ticket."
    assert json.loads(schema) == Ticket.model_json_schema()
    assert "response_format" not in sent[0].json
    assert schema_sent(records) == ["prompt"]


def test_prompt_mode_without_a_system_message_uses_the_last_user_turn() -> None:
    """With no system message, the instruction ends the last user message; a re-ask keeps it."""
    client, sent = anthropic_client([anthropic_message("no json"), anthropic_message(GOOD)])

    @lg.guard(schema=Ticket, send_schema="prompt")
    def triage(messages: Any) -> Any:
        return client.messages.create(model="claude-haiku-4-5", max_tokens=300, messages=messages)

    assert triage(USER_ONLY) == TICKET
    first = sent[0].json["messages"]
    assert len(first) == 1
    assert first[0]["content"].startswith(USER_ONLY[0]["content"] + "\n\nAnswer with only")
    assert sent[1].json["messages"][0] == first[0]
    assert "tools" not in sent[0].json


def test_prompt_mode_uses_an_anthropic_system_parameter() -> None:
    """A string system= argument gets the instruction; the messages stay as they are."""
    client, sent = anthropic_client([anthropic_message(GOOD)])

    @lg.guard(schema=Ticket, send_schema="prompt")
    def triage(messages: Any, system: str = "") -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=300, system=system, messages=messages
        )

    assert triage(USER_ONLY, system="Classify.") == TICKET
    assert sent[0].json["system"].startswith("Classify.\n\nAnswer with only a JSON value")
    assert sent[0].json["messages"] == USER_ONLY


def test_prompt_mode_adds_a_text_block_to_a_list_of_blocks() -> None:
    """A last user message made of content blocks gets one more text block."""
    seen: list[Any] = []
    blocks: Any = [{"role": "user", "content": [{"type": "text", "text": "Classify."}]}]

    @lg.guard(schema=Ticket, send_schema="prompt")
    def triage(messages: Any) -> str:
        seen.append(messages)
        return GOOD

    assert triage(blocks) == TICKET
    ((message,),) = seen
    assert message["content"][0] == {"type": "text", "text": "Classify."}
    assert message["content"][1]["text"].startswith("Answer with only a JSON value")
    assert len(blocks[0]["content"]) == 1


def test_prompt_mode_appends_to_a_prompt_string() -> None:
    """A function taking prompt: str gets the instruction after its prompt."""
    seen: list[str] = []

    @lg.guard(schema=Ticket, send_schema=True)
    def triage(prompt: str) -> str:
        seen.append(prompt)
        return GOOD

    assert triage("Classify: it crashes.") == TICKET
    assert seen[0].startswith("Classify: it crashes.\n\nAnswer with only a JSON value")
    assert '"urgency"' in seen[0]


def test_the_inline_form_gets_the_instruction_in_its_messages() -> None:
    """guard.attempts(messages): attempt.messages carry the schema instruction."""
    guard = lg.guard(schema=Ticket, send_schema=True)
    sent: list[Any] = []
    for attempt in guard.attempts(MESSAGES):
        with attempt:
            sent.append(attempt.messages)
            attempt.submit(GOOD)
    assert attempt.value == TICKET
    assert sent[0] is not None
    assert "Answer with only a JSON value" in sent[0][0]["content"]


def test_a_fallback_gets_the_schema_its_own_way() -> None:
    """A fallback that takes no response_format gets the prompt instruction instead."""
    client, sent = openai_client([chat_completion("no"), chat_completion(GOOD)])

    def small(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    @lg.guard(schema=Ticket, send_schema=True, retries=0, fallbacks=[small])
    def triage(messages: Any, response_format: Any = None) -> Any:
        return client.chat.completions.create(
            model="gpt-4o", messages=messages, response_format=response_format
        )

    assert triage(MESSAGES) == TICKET
    assert sent[0].json["response_format"] == TICKET_FORMAT
    assert "response_format" not in sent[1].json
    assert "Answer with only a JSON value" in sent[1].json["messages"][0]["content"]


# -- misuse, at decoration time ------------------------------------------------------------


def test_a_forced_mode_the_function_cannot_take_is_refused_naming_it() -> None:
    """Forcing json_schema, tool or prompt on a function without the parameter fails early."""

    def triage(messages: Any) -> Any: ...

    def bare(question: str) -> Any: ...

    def tools(messages: Any, tools: Any = None) -> Any: ...

    with pytest.raises(lg.ConfigurationError, match=r"'json_schema': .*triage.*response_format"):
        lg.guard(schema=Ticket, send_schema="json_schema")(triage)
    with pytest.raises(lg.ConfigurationError, match=r"'tool': .*triage.* no tools"):
        lg.guard(schema=Ticket, send_schema="tool")(triage)
    with pytest.raises(lg.ConfigurationError, match=r"'tool': .*tools.* Anthropic or OpenAI"):
        lg.guard(schema=Ticket, send_schema="tool")(tools)
    with pytest.raises(lg.ConfigurationError, match=r"'prompt': .*bare.*messages nor prompt"):
        lg.guard(schema=Ticket, send_schema="prompt", retries=0)(bare)
    with pytest.raises(lg.ConfigurationError, match=r"True: .*bare.* takes none of"):
        lg.guard(schema=Ticket, send_schema=True, retries=0)(bare)


def test_a_fallback_that_cannot_take_a_forced_mode_is_refused_when_the_guard_is_made() -> None:
    """The fallbacks are checked as the guard is built."""

    def small(messages: Any) -> Any: ...

    with pytest.raises(lg.ConfigurationError, match="small"):
        lg.guard(schema=Ticket, send_schema="json_schema", fallbacks=[small])


def test_a_schema_without_json_schema_cannot_be_sent() -> None:
    """A type pydantic validates but cannot describe is refused at decoration time."""
    from collections.abc import Callable

    with pytest.raises(lg.ConfigurationError, match="cannot be described as JSON Schema"):
        lg.guard(schema=Callable[[int], int], send_schema=True)


# -- the strict schema ----------------------------------------------------------------------


class Color(Enum):
    RED = "red"
    GREEN = "green"


class Address(BaseModel):
    street: str = Field(min_length=3, max_length=80, description="Street and number")
    zip: str = Field(pattern=r"^\d{5}$")
    tags: list[str] = Field(default_factory=list, max_length=5)


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = 9


class Dog(BaseModel):
    kind: Literal["dog"]


class Person(BaseModel):
    name: str
    nickname: str | None = None
    color: Color = Color.RED
    home: Address = Field(description="Where they live")
    pet: Cat | Dog = Field(discriminator="kind")
    score: int | str
    email: str = Field(json_schema_extra={"format": "email"})
    code: str = Field(json_schema_extra={"pattern": r"^(?!x)\w+$"})  # pydantic has no lookaround


class Node(BaseModel):
    value: int
    children: list[Node] = []


def objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema object in ``node`` that describes a JSON object."""
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield node
        for value in node.values():
            yield from objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from objects(item)


def assert_strict(schema: dict[str, Any]) -> None:
    """OpenAI's strict-mode rules on a whole schema."""
    assert schema["type"] == "object"
    for obj in objects(schema):
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])
    text = json.dumps(schema)
    for refused in ('"title"', '"default"', '"oneOf"', '"discriminator"', '"minLength"'):
        assert refused not in text
    for node in nodes(schema):
        if "$ref" in node:
            assert list(node) == ["$ref"]


def nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key not in ("properties", "$defs"):
                yield from nodes(value)
            elif isinstance(value, dict):
                for sub in value.values():
                    yield from nodes(sub)
    elif isinstance(node, list):
        for item in node:
            yield from nodes(item)


def test_nested_models_optionals_enums_and_unions_meet_the_strict_rules() -> None:
    """Every object closed and fully required, refused keywords moved to descriptions."""
    strict = strict_schema(Person.model_json_schema())
    schema = strict.schema
    assert strict.strict
    assert not strict.wrapped
    assert_strict(schema)
    props = schema["properties"]
    assert props["nickname"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert props["color"] == {"description": 'default: "red"', "anyOf": [{"$ref": "#/$defs/Color"}]}
    assert schema["$defs"]["Color"]["enum"] == ["red", "green"]
    assert props["home"] == {
        "description": "Where they live",
        "anyOf": [{"$ref": "#/$defs/Address"}],
    }
    assert props["pet"] == {"anyOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]}
    assert props["score"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["email"] == {"format": "email", "type": "string"}
    assert props["code"] == {"description": 'pattern="^(?!x)\\\\w+$"', "type": "string"}
    address = schema["$defs"]["Address"]["properties"]
    assert address["street"] == {
        "description": "Street and number (maxLength=80; minLength=3)",
        "type": "string",
    }
    assert address["zip"] == {"pattern": r"^\d{5}$", "type": "string"}
    assert address["tags"] == {"maxItems": 5, "type": "array", "items": {"type": "string"}}
    assert schema["$defs"]["Cat"]["properties"]["lives"] == {
        "type": "integer",
        "description": "default: 9",
    }


def test_an_optional_field_without_null_keeps_its_type_and_says_its_default() -> None:
    """`lives: int = 9` becomes required, not nullable: pydantic would refuse a null."""
    schema = strict_schema(Cat.model_json_schema()).schema
    assert schema["required"] == ["kind", "lives"]
    assert schema["properties"]["lives"]["type"] == "integer"
    assert Cat.model_validate_json('{"kind": "cat", "lives": 9}').lives == 9


def test_a_recursive_model_refers_to_the_root() -> None:
    """A root $ref is inlined, and the recursion points at "#"."""
    schema = strict_schema(Node.model_json_schema()).schema
    assert_strict(schema)
    assert "$defs" not in schema
    assert schema["properties"]["children"]["items"] == {"$ref": "#"}


def test_a_list_at_the_root_is_wrapped_in_response() -> None:
    """list[T] becomes {"response": [...]}, with the $defs at the new root."""
    strict = strict_schema(pydantic.TypeAdapter(list[Node]).json_schema())
    assert strict.wrapped
    assert_strict(strict.schema)
    assert strict.schema["properties"]["response"]["items"] == {"$ref": "#/$defs/Node"}
    assert strict.schema["$defs"]["Node"]["properties"]["children"]["items"] == {
        "$ref": "#/$defs/Node"
    }
    scalar, wrapped = object_root({"type": "integer"})
    assert wrapped
    assert scalar["properties"] == {"response": {"type": "integer"}}


class Loose(BaseModel):
    counts: dict[str, int]
    extra: Any
    pair: tuple[int, str]
    ok: int


def test_what_strict_mode_cannot_express_is_sent_with_strict_false() -> None:
    """A dict, Any or a tuple field: strict is off, and each is named with its field."""
    strict = strict_schema(Loose.model_json_schema())
    assert not strict.strict
    assert strict.loose == (
        "counts: an object with free-form keys (a dict) has no strict form",
        "extra: any value (no type) has no strict form",
        "pair: a fixed-length array (tuple) has no strict form",
    )
    assert strict.schema["properties"]["counts"]["additionalProperties"] == {"type": "integer"}
    client, sent = openai_client(
        [chat_completion('{"counts": {}, "extra": 1, "pair": [1, "a"], "ok": 2}')]
    )

    @lg.guard(schema=Loose, send_schema=True)
    def read(messages: Any, response_format: Any = None) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, response_format=response_format
        )

    assert read(MESSAGES).ok == 2
    assert sent[0].json["response_format"]["json_schema"]["strict"] is False


def test_a_json_schema_dict_is_made_strict_too() -> None:
    """A JSON Schema dict given as schema= is rewritten the same way; optional keys stay
    as they are, and a property without null is not made nullable."""
    source = {
        "title": "Order",
        "type": "object",
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "note": {"type": ["string", "null"]},
            "items": {
                "type": "array",
                "items": {"type": "object", "properties": {"sku": {"type": "string"}}},
                "uniqueItems": True,
            },
        },
        "required": ["id"],
    }
    strict = strict_schema(source)
    assert strict.strict
    assert_strict(strict.schema)
    assert strict.schema["properties"]["items"]["description"] == "uniqueItems=true"
    assert source["required"] == ["id"]


def test_names_are_sanitized_for_the_apis() -> None:
    """Names become ^[a-zA-Z0-9_-]{1,64}$."""
    assert tool_name("list[Ticket]") == "list_Ticket"
    assert tool_name("dict[str, int]") == "dict_str_int"
    assert tool_name("Ünïcode model") == "n_code_model"
    assert tool_name("[]") == "response"
    assert len(tool_name("x" * 200)) == 64
    for name in ("Literal['a', 'b']", "a" * 100, "", "ok-name_1"):
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", tool_name(name))


# -- hypothesis: generated models --------------------------------------------------------

_LEAVES: list[Any] = [
    int,
    str,
    float,
    bool,
    Literal["a", "b"],
    Color,
    Annotated[str, Field(min_length=1, max_length=9)],
    Annotated[int, Field(ge=0, le=10)],
]


def _field_types(depth: int) -> st.SearchStrategy[Any]:
    leaf = st.sampled_from(_LEAVES)
    if depth == 0:
        return leaf
    inner = _field_types(depth - 1)
    return st.one_of(
        leaf,
        inner.map(lambda t: Optional[t]),  # noqa: UP045 - a runtime type
        inner.map(lambda t: list[t]),  # type: ignore[valid-type]
        st.tuples(inner, inner).map(lambda ts: Union[ts[0], ts[1], None]),  # noqa: UP007
        _models(depth - 1),
    )


_counter = iter(range(10**9))


def _models(depth: int) -> st.SearchStrategy[Any]:
    fields = st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
        st.tuples(_field_types(depth), st.booleans()),
        min_size=1,
        max_size=4,
    )

    def build(spec: dict[str, tuple[Any, bool]]) -> Any:
        definitions: dict[str, Any] = {
            name: (tp, None if optional else ...) if not optional else (Optional[tp], None)  # noqa: UP045
            for name, (tp, optional) in spec.items()
        }
        return pydantic.create_model(f"M{next(_counter)}", **definitions)

    return fields.map(build)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_models(2))
def test_generated_nested_models_always_give_a_strict_schema(model: Any) -> None:
    """For any nested model, every object is closed and requires all its properties."""
    strict = strict_schema(model.model_json_schema())
    assert strict.strict, strict.loose
    assert_strict(strict.schema)
    json.dumps(strict.schema)  # plain JSON, as the SDK will send it


def test_a_schema_nested_too_deep_to_rewrite_is_a_configuration_error() -> None:
    """A schema deeper than the rewrite can walk fails at decoration, not with RecursionError."""
    depth = 5000
    text = '{"type": "object", "properties": {"a": ' * depth + '{"type": "integer"}' + "}}" * depth
    deep = dataclasses.replace(compile_schema(int), _schema_json=text)
    with pytest.raises(lg.ConfigurationError, match="nested too deep to send"):
        SchemaRequest(deep, True, provider=None, model=None)


_JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
_SCHEMA_KEYS = st.sampled_from(
    [
        "type",
        "properties",
        "required",
        "items",
        "anyOf",
        "oneOf",
        "allOf",
        "$ref",
        "$defs",
        "additionalProperties",
        "default",
        "minLength",
        "pattern",
        "format",
        "prefixItems",
        "enum",
        "description",
        "title",
    ]
)
_SCHEMA_LIKE = st.recursive(
    _JSON_LEAF | st.sampled_from(["object", "array", "string", "#/$defs/x", "#"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(_SCHEMA_KEYS | st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=25,
)


# The examples hold what hypothesis found (a type or format that is no string: a list
# or an object, unhashable) at the root and nested, beside properties the rewrite closes.
@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_SCHEMA_KEYS, _SCHEMA_LIKE, max_size=5))
@example({"format": ["date"], "type": [["object"], "string", None]})
@example(
    {
        "type": "object",
        "properties": {
            "a": {"type": {"x": 1}, "format": {"y": []}},
            "b": {"items": {"type": "array", "format": [None]}, "default": []},
        },
        "$defs": {"x": {"anyOf": [{"type": [{}]}, {"$ref": "#"}]}},
    }
)
def test_any_schema_like_dict_is_rewritten_without_raising(source: dict[str, Any]) -> None:
    """Hostile or odd JSON Schema input: the rewrite never raises, gives plain JSON, and
    every object it closes lists all its properties as required."""
    strict = strict_schema(source)
    json.dumps(strict.schema)
    for obj in objects(strict.schema):
        if obj.get("additionalProperties") is False and isinstance(obj.get("properties"), dict):
            assert obj["required"] == list(obj["properties"])


def test_a_list_answer_wrapped_in_response_comes_back_as_the_list() -> None:
    """list[T] round trip: the strict format wraps it in "response", and the answer
    the model gives in that shape -- as text or as a tool's input -- is unwrapped."""
    items = [{"category": "bug", "urgency": 4}, {"category": "billing", "urgency": 1}]
    wrapped = json.dumps({"response": items})
    openai, _ = openai_client([chat_completion(wrapped)])
    claude, _ = anthropic_client(
        [anthropic_message(tool_use("list_Ticket", {"response": items}), stop_reason="tool_use")]
    )

    @lg.guard(schema=list[Ticket], send_schema=True, retries=0)
    def with_format(messages: Any, response_format: Any = None) -> Any:
        return openai.chat.completions.create(
            model="gpt-4o-mini", messages=messages, response_format=response_format
        )

    @lg.guard(schema=list[Ticket], send_schema="tool", provider="anthropic", retries=0)
    def with_tool(messages: Any, tools: Any = None, tool_choice: Any = None) -> Any:
        return claude.messages.create(
            model="claude-haiku-4-5",
            max_tokens=300,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice,
        )

    expected = [Ticket.model_validate(item) for item in items]
    assert with_format(MESSAGES) == expected
    assert with_tool(USER_ONLY) == expected


def test_a_wrapped_json_schema_keeps_its_definitions_reachable() -> None:
    """An array JSON Schema with draft-7 definitions: they move to the wrapper's root."""
    source = {
        "type": "array",
        "items": {"$ref": "#/definitions/Item"},
        "definitions": {"Item": {"type": "object", "properties": {"v": {"type": "integer"}}}},
    }
    strict = strict_schema(source)
    assert strict.wrapped
    assert strict.schema["properties"]["response"] == {
        "type": "array",
        "items": {"$ref": "#/definitions/Item"},
    }
    assert strict.schema["definitions"]["Item"]["required"] == ["v"]


def test_streams_get_the_schema_and_are_validated_when_read() -> None:
    """A streaming call gets the same parameter; the guard reads the stream and validates
    the text (OpenAI) or the streamed tool input (Anthropic)."""
    openai, openai_sent = openai_client([chat_chunks(['{"category": "bug", ', '"urgency": 4}'])])
    tool = ("toolu_1", "Ticket", ['{"category": ', '"bug", "urgency": 4}'])
    claude, claude_sent = anthropic_client([anthropic_events([], tool=tool)])

    @lg.guard(schema=Ticket, send_schema=True)
    def chat(messages: Any, response_format: Any = None) -> Any:
        return openai.chat.completions.create(
            model="gpt-4o-mini", messages=messages, response_format=response_format, stream=True
        )

    @lg.guard(schema=Ticket, send_schema=True, provider="anthropic")
    def claude_call(messages: Any, tools: Any = None, tool_choice: Any = None) -> Any:
        return claude.messages.create(
            model="claude-haiku-4-5",
            max_tokens=300,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice,
            stream=True,
        )

    assert chat(MESSAGES) == TICKET
    assert claude_call(USER_ONLY) == TICKET
    assert openai_sent[0].json["response_format"] == TICKET_FORMAT
    assert openai_sent[0].json["stream"] is True
    assert claude_sent[0].json["tool_choice"] == {"type": "tool", "name": "Ticket"}
