"""Tests for llmguard._replay.replay: which records replay, and how their input is bound."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import llmguard as lg
from llmguard._replay.replay import ReplayError, replay
from llmguard.testing import FakeLLM, capture
from tests._helpers.replay import BAD, GOOD, MESSAGES, recorded_call, triage_with


def test_keyword_and_positional_arguments_are_passed_as_recorded() -> None:
    """A call without messages recorded its keywords (or its positions) and gets them back."""
    seen: list[tuple[Any, ...]] = []

    @lg.guard
    def complete(prompt: str, temperature: float = 1.0) -> str:
        seen.append((prompt, temperature))
        return f"echo {prompt}"

    by_keyword = recorded_call(complete, prompt="hello", temperature=0.5)
    by_position = recorded_call(complete, "hi")
    mixed = recorded_call(complete, "hey", temperature=0.25)
    assert (by_keyword.input, by_position.input, mixed.input) == (
        {"prompt": "hello", "temperature": 0.5},
        ["hi"],
        {"prompt": "hey", "temperature": 0.25},
    )
    seen.clear()
    assert replay(by_keyword, complete).new.value == "echo hello"
    assert replay(by_position, complete).new.value == "echo hi"
    assert replay(mixed, complete).new.value == "echo hey"
    assert seen == [("hello", 0.5), ("hi", 1.0), ("hey", 0.25)]


def test_messages_reach_a_positional_only_or_var_keyword_parameter() -> None:
    """The recorded messages go wherever the function takes them."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    got: list[Any] = []

    def positional(messages: list[dict[str, str]], /) -> str:
        got.append(messages)
        return "first"

    def keywords(**kwargs: Any) -> str:
        got.append(kwargs["messages"])
        return "second"

    assert replay(record, positional).new.value == "first"
    assert replay(record, keywords).new.value == "second"
    assert got == [MESSAGES, MESSAGES]


def test_the_function_gets_a_copy_of_the_recorded_input() -> None:
    """A function that changes its messages does not change the record."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)

    def greedy(messages: list[dict[str, str]]) -> str:
        messages.append({"role": "user", "content": "more"})
        return "done"

    replay(record, greedy)
    assert record.input == MESSAGES


def test_attempt_and_other_records_are_refused_with_a_pointer() -> None:
    """Only llm records replay; an attempt names the call to replay instead."""
    with capture() as records, lg.span("request"):
        triage_with(FakeLLM([BAD, GOOD]))(MESSAGES)
    attempt, call = records[1], records[2]
    with pytest.raises(ReplayError, match=f"attempt 2 of a guarded call.*span {call.span_id}"):
        replay(attempt, lambda messages: None)
    with pytest.raises(ReplayError, match="is a span record") as error:
        replay(records[3], lambda messages: None)
    assert error.value.span_id == records[3].span_id
    assert isinstance(error.value, lg.LLMGuardError)
    assert isinstance(error.value, ValueError)


def test_a_record_without_captured_input_is_refused() -> None:
    """With capture_content off there is nothing to replay, and the error says why."""
    lg.configure(capture_content=False)
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    with pytest.raises(ReplayError, match=r"no recorded input: .*capture_content=False"):
        replay(record, lambda messages: None)


def test_a_record_whose_redactor_failed_is_refused() -> None:
    """A failed redactor drops the content; the error names that, not capture settings."""

    def broken(record: lg.Record) -> lg.Record:
        raise RuntimeError("boom")

    lg.configure(redact=[broken])
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    with pytest.raises(ReplayError, match="a redactor failed"):
        replay(record, lambda messages: None)


def test_a_truncated_input_is_refused() -> None:
    """An input cut to fit max_content_bytes would send something else: refused."""
    lg.configure(max_content_bytes=256)
    long = [{"role": "user", "content": "word " * 200}]
    record = recorded_call(triage_with(FakeLLM([GOOD])), long)
    assert record.truncated is not None
    assert "input" in record.truncated
    with pytest.raises(ReplayError, match=r"cut to fit max_content_bytes \(it had \d+ bytes\)"):
        replay(record, lambda messages: None)


def test_a_redacted_input_is_refused_unless_allowed() -> None:
    """Redacted text is not what was sent: refused by default, replayed as is on request."""
    messages = [{"role": "user", "content": "Refund ann@example.com please"}]
    record = recorded_call(triage_with(FakeLLM([GOOD])), messages)
    with pytest.raises(ReplayError, match=r"redacted \(email\)"):
        replay(record, lambda messages: None)
    result = replay(record, lambda messages: messages[0]["content"], allow_redacted=True)
    assert result.new.value == "Refund [email] please"


def test_an_input_that_does_not_fit_the_function_is_refused() -> None:
    """Messages for a function without them, or arguments it cannot bind: refused early."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    called: list[Any] = []

    def no_messages(prompt: str) -> None:
        called.append(prompt)

    def needs_more(messages: list[Any], model: str) -> None:
        called.append(messages)

    with pytest.raises(ReplayError, match="takes no `messages` parameter"):
        replay(record, no_messages)
    with pytest.raises(ReplayError, match="missing a required argument: 'model'"):
        replay(record, needs_more)
    assert called == []


def test_inputs_that_are_no_call_and_unreachable_messages_are_refused() -> None:
    """A scalar input, or messages behind another positional-only parameter: refused."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)

    def late(model: str, messages: list[Any], /) -> None:
        raise AssertionError("not called")

    with pytest.raises(ReplayError, match="takes `messages` positionally after other"):
        replay(record, late)
    scalar = dataclasses.replace(record, input="just text")
    with pytest.raises(ReplayError, match="input is a str, not the messages or the arguments"):
        replay(scalar, late)


def test_a_function_without_a_signature_gets_the_messages_by_keyword() -> None:
    """A callable whose signature cannot be read is called with messages=..."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    result = replay(record, dict)
    assert result.new.value == {"messages": MESSAGES}
