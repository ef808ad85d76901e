"""No model output makes the guard fail in any way but its documented errors (issue 16).

Hypothesis writes the answers: arbitrary text with lone surrogates, JSON-ish structures,
tool calls with arbitrary arguments, as plain strings and as the real SDKs' response
objects. Whatever comes, a guarded call returns a value or raises a `GuardError`, every
attempt and the call are recorded as valid UTF-8 JSON, and what a re-ask sends is text
an SDK can encode.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from anthropic.types import Message
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion
from openai.types.responses import Response
from pydantic import BaseModel

import llmguard as lg
from llmguard.testing import capture
from tests._helpers.sdk_mocks import anthropic_message, chat_completion, responses_response


class Item(BaseModel):
    value: int


class Weather(BaseModel):
    city: str


class Search(BaseModel):
    query: str


SCHEMAS: list[Any] = [
    Item,
    list[Item],
    Iterable[Item],
    Item | str,
    list[Weather | Search],
    tuple[int, str],
    str,
    {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
]

SURROGATES = st.sampled_from(["\ud83d", "\ude00", "\udc00", "\ud800\udc00"])
PIECES = st.sampled_from(['{"value": ', "[", "]", "{", "}", '"', ",", ":", "```json\n", "```"])
CHARS = st.one_of(st.characters(), SURROGATES, PIECES)
TEXT = st.lists(CHARS, max_size=40).map("".join)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT, SURROGATES
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(["value", "response", "content"]), TEXT), inner, max_size=4
        ),
    ),
    max_leaves=12,
)
NAMES = st.sampled_from(["Item", "Weather", "Search", "lookup", ""])


def dumped(value: Any) -> str:
    """JSON text as an API would send it: surrogates escaped, so the text is never broken."""
    return json.dumps(value)


ANSWER_TEXT = st.one_of(
    TEXT, JSONISH.map(dumped), JSONISH.map(lambda v: f"Sure:\n```json\n{dumped(v)}\n```")
)
ARGUMENTS = st.one_of(TEXT, JSONISH.map(dumped))
CALLS = st.lists(st.tuples(NAMES, ARGUMENTS), min_size=1, max_size=3)


@st.composite
def answers(draw: st.DrawFn) -> Any:
    """One answer: a string, or a real SDK object: OpenAI Chat Completions or Responses,
    or Anthropic Messages, with text or tool calls."""
    kinds = ["str", "openai", "openai_tools", "responses", "anthropic", "anthropic_tools"]
    kind = draw(st.sampled_from(kinds))
    if kind == "str":
        return draw(ANSWER_TEXT)
    if kind == "openai":
        finish = draw(st.sampled_from(["stop", "stop", "length"]))
        body = chat_completion(draw(ANSWER_TEXT), finish_reason=finish)
        return ChatCompletion.model_validate(json.loads(dumped(body)))
    if kind == "openai_tools":
        calls = [
            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(draw(CALLS))
        ]
        body = chat_completion(None, tool_calls=calls, finish_reason="tool_calls")
        return ChatCompletion.model_validate(json.loads(dumped(body)))
    if kind == "responses":
        items: list[dict[str, Any]] = [
            {
                "type": "function_call",
                "id": f"fc_{i}",
                "call_id": f"call_{i}",
                "name": n,
                "arguments": a,
                "status": "completed",
            }
            for i, (n, a) in enumerate(draw(CALLS))
        ]
        if draw(st.booleans()):
            part = {"type": "output_text", "text": draw(ANSWER_TEXT), "annotations": []}
            message = {"type": "message", "id": "msg_1", "role": "assistant"}
            items = [{**message, "status": "completed", "content": [part]}]
        return Response.model_validate(json.loads(dumped(responses_response(items))))
    if kind == "anthropic":
        body = anthropic_message(draw(ANSWER_TEXT))
        return Message.model_validate(json.loads(dumped(body)))
    blocks = [
        {
            "type": "tool_use",
            "id": f"toolu_{i}",
            "name": n or "x",
            "input": draw(st.dictionaries(TEXT, JSONISH, max_size=3)),
        }
        for i, (n, _) in enumerate(draw(CALLS))
    ]
    body = anthropic_message(blocks, stop_reason="tool_use")
    return Message.model_validate(json.loads(dumped(body)))


def _tools_message(arguments: dict[str, Any]) -> Message:
    block = {"type": "tool_use", "id": "toolu_0", "name": "Item", "input": arguments}
    return Message.model_validate(anthropic_message([block], stop_reason="tool_use"))


def _tools_completion(arguments: str) -> ChatCompletion:
    call = {
        "id": "call_0",
        "type": "function",
        "function": {"name": "Item", "arguments": arguments},
    }
    body = chat_completion(None, tool_calls=[call], finish_reason="tool_calls")
    return ChatCompletion.model_validate(body)


# The hard cases, run for every schema whatever hypothesis draws: lone surrogates in a
# tool call's keys and values (nested in a list and a dict), in plain text and a
# fenced answer, in escaped and raw JSON arguments, and a pair split over two answers.
SURROGATE_INPUT = {"\ud83d": ["\ude00", {"\udc00": "\ud800\udc00"}], "value": "\ud83d"}
HARD_ANSWERS = [
    (_tools_message(SURROGATE_INPUT), _tools_message({"value": ["\ude00"]})),
    ("\ud83d", 'Sure:\n```json\n{"value": "\ude00"}\n```'),
    (_tools_completion('"\\ud83d"'), _tools_completion('{"\\udc00": ["\\ud800"]}')),
    (_tools_completion('{"value": "\ud83d"}'), "\ude00"),
]


def encodable(messages: Any) -> None:
    """What an SDK does with the messages it is given: JSON, then UTF-8 bytes."""
    json.dumps(messages, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("schema", SCHEMAS, ids=repr)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=answers(), second=answers())
@example(first=HARD_ANSWERS[0][0], second=HARD_ANSWERS[0][1])
@example(first=HARD_ANSWERS[1][0], second=HARD_ANSWERS[1][1])
@example(first=HARD_ANSWERS[2][0], second=HARD_ANSWERS[2][1])
@example(first=HARD_ANSWERS[3][0], second=HARD_ANSWERS[3][1])
def test_no_answer_breaks_the_guard_or_its_records(schema: Any, first: Any, second: Any) -> None:
    """Any two answers: a value or a GuardError, all records written, re-asks encodable."""
    queue = [first, second]
    sent: list[Any] = []

    @lg.guard(schema=schema, retries=1)
    def model(messages: Any) -> Any:
        encodable(messages)
        sent.append(messages)
        return queue.pop(0)

    failure: lg.GuardError | None = None
    with capture() as records:
        try:
            model([{"role": "user", "content": "Answer."}])
        except lg.GuardError as exc:
            failure = exc
    assert failure is None or len(failure.attempts) == len(sent)
    attempts = [r for r in records if r.kind == "attempt"]
    assert [r.kind for r in records].count("llm") == 1
    assert len(attempts) == len(sent)
    for record in records:
        record.to_json().decode("utf-8")


@settings(max_examples=200, deadline=None)
@given(text=TEXT)
def test_any_text_answer_to_a_str_schema_is_a_string_or_refused(text: str) -> None:
    """A text schema gives a string for any non-blank text; its records are always UTF-8."""

    @lg.guard(schema=str, retries=0)
    def model(messages: Any) -> str:
        return text

    failure: lg.SchemaViolation | None = None
    with capture() as records:
        try:
            value = model([{"role": "user", "content": "Answer."}])
        except lg.SchemaViolation as exc:
            failure = exc
        else:
            assert isinstance(value, str)
    assert failure is None or not text.strip() or text.strip()[0] == '"'
    for record in records:
        record.to_json().decode("utf-8")
