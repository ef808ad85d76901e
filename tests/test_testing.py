"""Tests for llmguard.testing: FakeLLM, FakeAPIError, ToolAnswer and capture()."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import llmguard as lg
from llmguard import Usage
from llmguard._guard.transient import is_transient
from llmguard.adapters import Reply, ToolCall, accumulator_for, adapt
from llmguard.testing import FakeAPIError, FakeLLM, ToolAnswer, capture

MESSAGES = [{"role": "user", "content": "The app crashes."}]
ANSWER = '{"category": "bug", "urgency": 4}'


def must_adapt(response: object) -> Reply:
    reply = adapt(response)
    assert reply is not None
    return reply


def accumulate(chunks: list[Any]) -> Reply:
    accumulator = accumulator_for(chunks[0])
    assert accumulator is not None
    for chunk in chunks:
        accumulator.feed(chunk)
    return accumulator.reply()


# -- shapes --------------------------------------------------------------------------------


def test_openai_shape_reads_like_a_chat_completion() -> None:
    """The default shape has ChatCompletion's attributes, usage included."""
    model = FakeLLM([ANSWER], model="gpt-fake")
    response = model(model="gpt-fake", messages=MESSAGES)
    assert response.object == "chat.completion"
    assert response.choices[0].message.content == ANSWER
    assert response.choices[0].finish_reason == "stop"
    reply = must_adapt(response)
    assert (reply.text, reply.model, reply.provider) == (ANSWER, "gpt-fake", "openai")
    assert reply.usage is not None
    assert reply.usage.input is not None
    assert reply.usage.input > 0
    assert reply.usage.output == len(ANSWER) // 4
    assert reply.usage.total == reply.usage.input + reply.usage.output


def test_anthropic_shape_reads_like_a_message() -> None:
    """shape="anthropic" has Message's attributes: content blocks, stop_reason, usage."""
    response = FakeLLM([ANSWER], shape="anthropic")(messages=MESSAGES)
    assert (response.type, response.role, response.stop_reason) == (
        "message",
        "assistant",
        "end_turn",
    )
    assert response.content[0].text == ANSWER
    reply = must_adapt(response)
    assert (reply.text, reply.provider, reply.finish_reason) == (ANSWER, "anthropic", "stop")
    assert reply.usage is not None
    assert reply.usage.output == len(ANSWER) // 4


def test_text_shape_answers_with_the_string() -> None:
    """shape="text" answers with the string itself, and accepts a positional prompt."""
    model = FakeLLM(["hello"], shape="text")
    assert model("Say hello") == "hello"
    assert model.calls == [{"prompt": "Say hello"}]


def test_unknown_shape_is_refused() -> None:
    """A shape other than the three is a ValueError at construction."""
    with pytest.raises(ValueError, match="shape"):
        FakeLLM([], shape="gemini")  # type: ignore[arg-type]


def test_responses_get_distinct_ids() -> None:
    """Each answer has its own response id, as real responses do."""
    model = FakeLLM(["a", "b"])
    first, second = model(messages=MESSAGES), model(messages=MESSAGES)
    assert first.id != second.id


# -- tool answers ------------------------------------------------------------------------


def test_tool_answer_in_openai_shape_is_a_tool_call() -> None:
    """A ToolAnswer becomes tool_calls with JSON arguments and finish_reason tool_calls."""
    response = FakeLLM([ToolAnswer("file_ticket", {"urgency": 4})])(messages=MESSAGES)
    reply = must_adapt(response)
    (call,) = reply.tool_calls
    assert (call.name, json.loads(str(call.arguments))) == ("file_ticket", {"urgency": 4})
    assert call.id is not None
    assert reply.finish_reason == "tool_calls"
    assert response.choices[0].message.content is None


def test_tool_answer_in_anthropic_shape_is_a_tool_use_block() -> None:
    """In Anthropic shape, a ToolAnswer is a tool_use block with a dict input."""
    response = FakeLLM([ToolAnswer("file_ticket", {"urgency": 4})], shape="anthropic")()
    reply = must_adapt(response)
    assert reply.tool_calls == (ToolCall("toolu_1", "file_ticket", {"urgency": 4}),)
    assert response.stop_reason == "tool_use"


def test_tool_answer_in_text_shape_is_its_json() -> None:
    """In text shape, a ToolAnswer is its arguments as JSON text."""
    assert FakeLLM([ToolAnswer("f", {"a": 1})], shape="text")() == '{"a": 1}'


# -- streaming ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["openai", "anthropic", "text"])
def test_streams_accumulate_to_the_same_reply(shape: Any) -> None:
    """stream=True gives chunks that accumulate to the answer, with usage where shaped."""
    text = "A longer answer, streamed in pieces of eight characters."
    whole = FakeLLM([text], shape=shape)(messages=MESSAGES)
    chunks = list(FakeLLM([text], shape=shape)(messages=MESSAGES, stream=True))
    assert len(chunks) > 3
    reply = accumulate(chunks)
    assert reply.text == text
    if shape != "text":
        assert reply.usage == must_adapt(whole).usage


def test_stream_can_be_set_for_every_call() -> None:
    """FakeLLM(stream=True) streams without the call asking for it."""
    chunks = FakeLLM(["hi"], stream=True)(messages=MESSAGES)
    assert isinstance(chunks, Iterator)
    assert accumulate(list(chunks)).text == "hi"


def test_empty_answer_still_streams_a_chunk() -> None:
    """An empty answer is streamed as one empty piece, not as nothing."""
    assert list(FakeLLM([""], shape="text", stream=True)()) == [""]


def test_tool_answers_do_not_stream() -> None:
    """Streaming a tool answer is not supported, and says so."""
    with pytest.raises(ValueError, match="text answers only"):
        FakeLLM([ToolAnswer("f", {})], stream=True)()


async def test_acall_answers_and_streams_asynchronously() -> None:
    """acall() answers like a call; a stream comes back as an async iterator."""
    model = FakeLLM(["one", "two"])
    assert must_adapt(await model.acall(messages=MESSAGES)).text == "one"
    stream = await model.acall(messages=MESSAGES, stream=True)
    assert isinstance(stream, AsyncIterator)
    chunks = [chunk async for chunk in stream]
    assert accumulate(chunks).text == "two"


# -- script, exceptions, records of calls ------------------------------------------------


def test_exceptions_in_the_script_are_raised() -> None:
    """An exception answer is raised by that call; the next call goes on with the script."""
    model = FakeLLM([FakeAPIError(429), "ok"], shape="text")
    with pytest.raises(FakeAPIError) as excinfo:
        model()
    assert excinfo.value.status_code == 429
    assert model() == "ok"


def test_fake_api_error_looks_like_an_sdk_http_error() -> None:
    """FakeAPIError carries status_code and a message; 429 counts as transient."""
    error = FakeAPIError(429)
    assert str(error) == "HTTP 429"
    assert str(FakeAPIError(500, "overloaded")) == "overloaded"
    assert is_transient(error)
    assert not is_transient(FakeAPIError(400))


def test_callable_answers_see_the_call() -> None:
    """A callable answer gets the call's arguments and answers for it."""
    model = FakeLLM([lambda call: f"you said {call['messages'][-1]['content']}"], shape="text")
    assert model(messages=MESSAGES) == "you said The app crashes."


def test_callable_answers_may_return_any_object() -> None:
    """A callable answer returning neither text nor a tool answer is returned as it is."""
    sentinel = object()
    assert FakeLLM([lambda call: sentinel])() is sentinel


def test_calls_are_recorded_as_deep_copies() -> None:
    """Later changes to the caller's objects do not change what was recorded."""
    messages = [{"role": "user", "content": "first"}]
    model = FakeLLM(["a"])
    model(model="m", messages=messages, temperature=0)
    messages[0]["content"] = "changed"
    messages.append({"role": "user", "content": "more"})
    assert model.calls == [
        {"model": "m", "messages": [{"role": "user", "content": "first"}], "temperature": 0}
    ]


def test_create_is_the_same_call() -> None:
    """model.create(...) reads like client.chat.completions.create(...)."""
    model = FakeLLM(["a"])
    assert must_adapt(model.create(messages=MESSAGES)).text == "a"
    assert model.calls == [{"messages": MESSAGES}]


def test_exhausted_script_raises_index_error() -> None:
    """A call beyond the script is an IndexError, and is still recorded."""
    model = FakeLLM(["only"], shape="text")
    model()
    with pytest.raises(IndexError, match="no answer left for call 2"):
        model(messages=MESSAGES)
    assert len(model.calls) == 2


def test_usage_grows_with_the_prompt() -> None:
    """Input tokens are estimated from what was sent, so a longer re-ask costs more."""
    model = FakeLLM(["a", "a"])
    short = must_adapt(model(messages=MESSAGES)).usage
    long = must_adapt(model(messages=MESSAGES * 20)).usage
    assert short is not None
    assert long is not None
    assert short.input is not None
    assert long.input is not None
    assert long.input > short.input


# -- with lg.guard and capture ----------------------------------------------------------


def test_fake_llm_drives_a_guarded_call_and_capture_sees_it() -> None:
    """FakeLLM behind lg.guard: a re-ask, captured as one llm and two attempt records."""
    model = FakeLLM(['{"urgency": "high"}', '{"urgency": 2}'])

    @lg.guard(schema=dict[str, int])
    def ask(messages: Any) -> Any:
        return model(model="gpt-fake", messages=messages)

    with capture() as records:
        assert ask(MESSAGES) == {"urgency": 2}
    assert [r.kind for r in records] == ["attempt", "attempt", "llm"]
    assert model.calls[1]["messages"][-2] == {
        "role": "assistant",
        "content": '{"urgency": "high"}',
    }
    llm = records[-1]
    assert llm.usage is not None
    assert llm.usage.input == sum(
        r.usage.input for r in records[:2] if r.usage is not None and r.usage.input is not None
    )


def test_captures_nest_and_work_without_sinks() -> None:
    """An inner capture sees its block's records; the outer one sees all of them."""
    with capture() as outer:
        with lg.span("first"):
            pass
        with capture() as inner, lg.span("second"):
            pass
    assert [r.name for r in inner] == ["second"]
    assert [r.name for r in outer] == ["first", "second"]


def test_fake_usage_is_a_usage() -> None:
    """The usage FakeLLM reports reads as llmguard's Usage."""
    reply = must_adapt(FakeLLM(["abcdefgh"])(prompt="x"))
    assert isinstance(reply.usage, Usage)
    assert reply.usage.output == 2


# -- FakeLLM.from_records -------------------------------------------------------------------


def _recorded_triage(answers: list[Any], **fake_options: Any) -> list[lg.Record]:
    """Records of one guarded call answered by a FakeLLM with ``answers``."""
    model = FakeLLM(answers, **fake_options)

    @lg.guard(schema=dict[str, int], retries=2, sleep=lambda seconds: None)
    def ask(messages: Any) -> Any:
        return model(model="gpt-fake", messages=messages)

    with capture() as records:
        ask(MESSAGES)
    return records


def test_from_records_repeats_the_recorded_answers_in_order() -> None:
    """The attempts' raw answers become the script, bad ones included, model kept."""
    records = _recorded_triage(['{"urgency": "high"}', '{"urgency": 2}'], model="gpt-4o-mini")
    fake = FakeLLM.from_records(records)
    assert fake.answers == ['{"urgency": "high"}', '{"urgency": 2}']
    assert (fake.model, fake.shape) == ("gpt-4o-mini", "openai")

    @lg.guard(schema=dict[str, int], retries=2)
    def ask(messages: Any) -> Any:
        return fake(model="gpt-fake", messages=messages)

    with capture() as again:
        assert ask(MESSAGES) == {"urgency": 2}

    def outcomes(found: list[lg.Record]) -> list[Any]:
        return [(r.output, (r.attempt or {}).get("outcome")) for r in found if r.kind == "attempt"]

    assert outcomes(again) == outcomes(records)
    assert len(outcomes(again)) == 2


def test_from_records_orders_by_start_and_skips_what_gave_no_answer() -> None:
    """Records in any order, other kinds and attempts that raised are all handled."""
    records = _recorded_triage([FakeAPIError(503), '{"urgency": "x"}', '{"urgency": 3}'])
    assert [r.kind for r in records] == ["attempt", "attempt", "attempt", "llm"]
    assert records[0].error_type == "llmguard.testing.FakeAPIError"
    fake = FakeLLM.from_records(reversed(records))
    assert fake.answers == ['{"urgency": "x"}', '{"urgency": 3}']


def test_from_records_keeps_the_anthropic_shape_unless_told_otherwise() -> None:
    """An Anthropic answer is repeated as an Anthropic Message; shape= and model= override."""
    records = _recorded_triage(['{"urgency": 1}'], shape="anthropic", model="claude-x")
    fake = FakeLLM.from_records(records)
    assert (fake.shape, fake.model) == ("anthropic", "claude-x")
    assert fake(messages=MESSAGES).content[0].text == '{"urgency": 1}'
    text = FakeLLM.from_records(records, shape="text", model="other", stream=True)
    assert (text.shape, text.model, text.stream) == ("text", "other", True)


def test_from_records_repeats_a_tool_call_answer_as_its_arguments() -> None:
    """A tool-call answer was recorded as its arguments' JSON, which the guard accepts."""
    records = _recorded_triage([ToolAnswer("triage", {"urgency": 5})])
    fake = FakeLLM.from_records(records)
    assert fake.answers == ['{"urgency": 5}']


def test_from_records_needs_answered_attempts() -> None:
    """No attempt, or an attempt whose answer was not kept whole: a ValueError saying so."""
    records = _recorded_triage(['{"urgency": 1}'])
    with pytest.raises(ValueError, match="none of the 1 records is an attempt with an answer"):
        FakeLLM.from_records([records[-1]])
    with pytest.raises(ValueError, match="none of the 0 records"):
        FakeLLM.from_records([])
    lg.configure(capture_content=False)
    with pytest.raises(ValueError, match="holds no answer: its content was not captured"):
        FakeLLM.from_records(_recorded_triage(['{"urgency": 1}']))
    lg.configure(capture_content=True, max_content_bytes=256)
    long = json.dumps({f"field{i}": i for i in range(60)})
    with pytest.raises(ValueError, match="was cut to fit max_content_bytes"):
        FakeLLM.from_records(_recorded_triage([long]))
