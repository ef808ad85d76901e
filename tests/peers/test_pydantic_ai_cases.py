"""pydantic-ai's output test cases, run against ``@lg.guard``.

Each case names the pydantic-ai test it comes from (``pydantic/pydantic-ai``, file and test
name) in its id or docstring. pydantic-ai's ``FunctionModel`` answers with text parts or
tool-call parts; here the same answers come from the real ``openai`` / ``anthropic`` SDKs
on a mock transport (or a plain string), and the checks are on the value, on how many
requests were paid for, and on the correction the re-ask sent.
"""

from __future__ import annotations

import json
from typing import Any, Union

import pytest
from pydantic import BaseModel, field_validator, model_validator

import llmguard as lg
from llmguard.testing import capture
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    calls_completion,
    chat_completion,
    openai_client,
)

MESSAGES: Any = [{"role": "user", "content": "Hello"}]


def guarded(schema: Any, answers: list[dict[str, Any]], **options: Any) -> tuple[Any, list[Any]]:
    """The guarded value over the OpenAI SDK answering ``answers``, and the requests sent."""
    client, sent = openai_client(answers)
    options.setdefault("retries", len(answers) - 1)

    @lg.guard(schema=schema, **options)
    def run(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    return run(MESSAGES), sent


class Foo(BaseModel):
    a: int
    b: str


class Bar(BaseModel):
    """This is a bar model."""

    b: str


class Person(BaseModel):
    name: str


class CityLocation(BaseModel):
    city: str
    country: str


# -- tests/test_agent.py: answers given as a tool call --------------------------------------


def test_result_tuple() -> None:
    """test_agent.py::test_result_tuple: a tuple comes wrapped as {"response": [...]}."""
    value, _ = guarded(
        tuple[str, str], [calls_completion(("final_result", '{"response": ["foo", "bar"]}'))]
    )
    assert value == ("foo", "bar")


def test_result_list_of_models_with_stringified_response() -> None:
    """test_agent.py::test_result_list_of_models_with_stringified_response: some providers
    send the wrapped list as a JSON string under "response"."""
    inner = json.dumps([{"name": "John Doe"}, {"name": "Jane Smith"}])
    value, _ = guarded(
        list[Person], [calls_completion(("final_result", json.dumps({"response": inner})))]
    )
    assert value == [Person(name="John Doe"), Person(name="Jane Smith")]


def test_result_pydantic_model() -> None:
    """test_agent.py::test_result_pydantic_model."""
    value, sent = guarded(Foo, [calls_completion(("final_result", '{"a": 1, "b": "foo"}'))])
    assert value == Foo(a=1, b="foo")
    assert len(sent) == 1


def test_result_pydantic_model_retry() -> None:
    """test_agent.py::test_result_pydantic_model_retry: "wrong" for an int is re-asked as a
    tool result for that call, naming the field and the value."""
    value, sent = guarded(
        Foo,
        [
            calls_completion(("final_result", '{"a": "wrong", "b": "foo"}')),
            calls_completion(("final_result", '{"a": 42, "b": "foo"}')),
        ],
    )
    assert value == Foo(a=42, b="foo")
    reply = sent[1].json["messages"][-1]
    assert (reply["role"], reply["tool_call_id"]) == ("tool", "call_0")
    assert (
        '- $.a: Input should be a valid integer, unable to parse string as an integer (got "wrong")'
        in reply["content"]
    )


def test_result_pydantic_model_validation_error() -> None:
    """test_agent.py::test_result_pydantic_model_validation_error: a field validator's
    message reaches the re-ask."""

    class Checked(BaseModel):
        a: int
        b: str

        @field_validator("b")
        @classmethod
        def check_b(cls, v: str) -> str:
            if v == "foo":
                raise ValueError("must not be foo")
            return v

    value, sent = guarded(
        Checked,
        [
            calls_completion(("final_result", '{"a": 1, "b": "foo"}')),
            calls_completion(("final_result", '{"a": 1, "b": "bar"}')),
        ],
    )
    assert value == Checked(a=1, b="bar")
    assert (
        '- $.b: Value error, must not be foo (got "foo")' in sent[1].json["messages"][-1]["content"]
    )


def test_output_validator() -> None:
    """test_agent.py::test_output_validator: a check on the whole value (pydantic-ai's
    output_validator raising ModelRetry) is a model validator here."""

    class FortyTwo(BaseModel):
        a: int
        b: str

        @model_validator(mode="after")
        def must_be_42(self) -> FortyTwo:
            if self.a != 42:
                raise ValueError('"a" should be 42')
            return self

    value, sent = guarded(
        FortyTwo,
        [
            calls_completion(("final_result", '{"a": 41, "b": "foo"}')),
            calls_completion(("final_result", '{"a": 42, "b": "foo"}')),
        ],
    )
    assert value == FortyTwo(a=42, b="foo")
    assert 'Value error, "a" should be 42' in sent[1].json["messages"][-1]["content"]


def test_plain_response_then_tuple() -> None:
    """test_agent.py::test_plain_response_then_tuple: text where a tuple was wanted is
    re-asked; the tool call that follows is accepted."""
    value, sent = guarded(
        tuple[str, str],
        [
            chat_completion("hello"),
            calls_completion(("final_result", '{"response": ["foo", "bar"]}')),
        ],
    )
    assert value == ("foo", "bar")
    assert len(sent) == 2
    assert sent[1].json["messages"][-2] == {"role": "assistant", "content": "hello"}


@pytest.mark.parametrize(
    "union",
    [Union[str, Foo], Union[Foo, str], str | Foo, Foo | str],  # noqa: UP007
    ids=["Union[str, Foo]", "Union[Foo, str]", "str | Foo", "Foo | str"],
)
def test_response_union_allow_str(union: Any) -> None:
    """test_agent.py::test_response_union_allow_str: plain text satisfies the str branch."""
    value, sent = guarded(union, [chat_completion("success (no tool calls)")])
    assert value == "success (no tool calls)"
    assert len(sent) == 1


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("final_result_Foo", {"a": 0, "b": "a"}, Foo(a=0, b="a")),
        ("final_result_Bar", {"b": "b"}, Bar(b="b")),
    ],
    ids=["Foo", "Bar"],
)
def test_response_multiple_return_tools(name: str, arguments: Any, expected: BaseModel) -> None:
    """test_agent.py::test_response_multiple_return_tools: a union of models answered by
    the tool of either member."""
    value, _ = guarded(Foo | Bar, [calls_completion((name, arguments))])
    assert value == expected
    assert type(value) is type(expected)


def test_output_type_structured_dict() -> None:
    """test_agent.py::test_output_type_structured_dict: a JSON Schema dict as the output type."""
    person = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "title": "Person",
    }
    value, _ = guarded(
        person, [calls_completion(("final_result_Person", '{"name": "John Doe", "age": 30}'))]
    )
    assert value == {"name": "John Doe", "age": 30}


def test_malformed_tool_arguments_are_reasked_with_the_json_error() -> None:
    """test_messages.py::test_args_as_dict_malformed_json_returns_invalid_json_wrapper:
    arguments that are not JSON are an answer to correct, not a crash."""
    value, sent = guarded(
        Foo,
        [
            calls_completion(("final_result", '{"a": 1, "b": "foo"')),
            calls_completion(("final_result", '{"a": 1, "b": "foo"}')),
        ],
    )
    assert value == Foo(a=1, b="foo")
    assert "Invalid JSON" in sent[1].json["messages"][-1]["content"]


def test_anthropic_tool_use_is_the_answer() -> None:
    """test_agent.py::test_result_pydantic_model, through the Anthropic SDK's tool_use block."""
    block = {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "final_result",
        "input": {"a": 1, "b": "foo"},
    }
    client, sent = anthropic_client([anthropic_message([block], stop_reason="tool_use")])

    @lg.guard(schema=Foo)
    def run(messages: Any) -> Any:
        return client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=messages)

    assert run(MESSAGES) == Foo(a=1, b="foo")
    assert len(sent) == 1


def test_response_tuple_sends_the_wrapped_schema() -> None:
    """test_agent.py::test_response_tuple: the tuple's schema goes to the model as the
    "response" property of an object, and the answer is read from inside it."""
    block = {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "tuple_str_str",
        "input": {"response": ["a", "a"]},
    }
    client, sent = anthropic_client([anthropic_message([block], stop_reason="tool_use")])

    @lg.guard(schema=tuple[str, str], send_schema="tool", provider="anthropic")
    def run(messages: Any, tools: Any = None, tool_choice: Any = None) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=100,
            messages=messages,
            tools=tools,
            tool_choice=tool_choice,
        )

    assert run(MESSAGES) == ("a", "a")
    (tool,) = sent[0].json["tools"]
    response = tool["input_schema"]["properties"]["response"]
    assert response["prefixItems"] == [{"type": "string"}, {"type": "string"}]
    assert tool["input_schema"]["required"] == ["response"]
    assert sent[0].json["tool_choice"] == {"type": "tool", "name": tool["name"]}


# -- tests/test_agent.py: answers given as text (PromptedOutput, NativeOutput) --------------


def test_prompted_output() -> None:
    """test_agent.py::test_prompted_output: JSON text is the value."""
    text = CityLocation(city="Mexico City", country="Mexico").model_dump_json()
    value, sent = guarded(CityLocation, [chat_completion(text)])
    assert value == CityLocation(city="Mexico City", country="Mexico")
    assert len(sent) == 1


def test_native_output() -> None:
    """test_agent.py::test_native_output: a missing field is re-asked, naming it."""
    with capture() as records:
        value, sent = guarded(
            CityLocation,
            [
                chat_completion('{"city": "Mexico City"}'),
                chat_completion('{"city": "Mexico City", "country": "Mexico"}'),
            ],
        )
    assert value == CityLocation(city="Mexico City", country="Mexico")
    assert sent[1].json["messages"][-1]["content"] == (
        "Your answer did not match the required schema:\n"
        "- $.country: Field required\n"
        "Answer again with only the corrected JSON."
    )
    outcomes = [r.attempt["outcome"] for r in records if r.kind == "attempt" and r.attempt]
    assert outcomes == ["invalid", "ok"]


def test_empty_response() -> None:
    """test_agent.py::test_empty_response: an empty answer is re-asked for text."""
    value, sent = guarded(str, [chat_completion(""), chat_completion("ok here is text")])
    assert value == "ok here is text"
    assert "the answer is empty" in sent[1].json["messages"][-1]["content"]


# -- tests/test_utils.py::test_strip_markdown_fences -------------------------------------------

FENCES = {
    "plain": '{"foo": "bar"}',
    "json fence": '```json\n{"foo": "bar"}\n```',
    "crlf fence": '```json\r\n{"foo": "bar"}\r\n```',
    "unclosed fence": '```json\n{\n  "foo": "bar"\n}',
    "fence then prose": 'Here is some beautiful JSON:\n\n```\n{"foo": "bar"}\n``` Nice right?',
}


@pytest.mark.parametrize("answer", FENCES.values(), ids=FENCES.keys())
def test_strip_markdown_fences(answer: str) -> None:
    """test_utils.py::test_strip_markdown_fences: the fenced object is the value."""
    value, _ = guarded(dict[str, str], [chat_completion(answer)])
    assert value == {"foo": "bar"}


def test_a_fence_inside_a_string_stays_in_the_string() -> None:
    """test_utils.py::test_strip_markdown_fences: fence marks inside a JSON string are text."""
    answer = '{"foo": "```json\\n{\\"foo\\": \\"bar\\"}\\n```"}'
    value, _ = guarded(dict[str, str], [chat_completion(answer)])
    assert value == {"foo": '```json\n{"foo": "bar"}\n```'}


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('```json\n{"a": 1}\n```\nContext: {"b": 2}', {"a": 1}),
        (
            '```json\n{"result": "pass"}\n```\nThis matches schema {"type": "object"}',
            {"result": "pass"},
        ),
    ],
    ids=["context after the fence", "a schema after the fence"],
)
def test_braces_after_the_fence_are_not_the_answer(answer: str, expected: dict[str, Any]) -> None:
    """test_utils.py::test_strip_markdown_fences (issue #4397): the fence's value wins over
    braces after it; llmguard also notes that the answer held a second valid value."""
    with capture() as records:
        value, _ = guarded(dict[str, Any], [chat_completion(answer)])
    assert value == expected
    (attempt,) = [r.attempt for r in records if r.kind == "attempt"]
    assert attempt is not None
    assert attempt["repair"] == "fence"
    assert attempt["note"].startswith("ambiguous")
