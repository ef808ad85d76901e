"""Response adapters and stream accumulators, on the real SDK objects and their dicts."""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import (
    Message,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
)
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

from llmguard import Usage
from llmguard.adapters import (
    AnthropicStream,
    OpenAIChatStream,
    OpenAIResponsesStream,
    Reply,
    StreamAccumulator,
    TextStream,
    ToolCall,
    accumulator_for,
    adapt,
    register,
)
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_events,
    anthropic_message,
    async_anthropic_client,
    async_openai_client,
    chat_chunks,
    chat_completion,
    error_response,
    http,
    openai_client,
    responses_response,
)

# Any: the SDKs type messages as TypedDicts; these tests are about answers, not requests.
USER: Any = [{"role": "user", "content": "Classify: my card was charged twice"}]


def must_adapt(response: object) -> Reply:
    reply = adapt(response)
    assert reply is not None
    return reply


def feed_all(chunks: Iterator[Any] | list[Any]) -> StreamAccumulator:
    accumulator: StreamAccumulator | None = None
    for chunk in chunks:
        accumulator = accumulator or accumulator_for(chunk)
        assert accumulator is not None
        accumulator.feed(chunk)
    assert accumulator is not None
    return accumulator


def function_call(call_id: str, name: str, args: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def message_item(*parts: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": list(parts),
    }


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


_ANTHROPIC_EVENT_TYPES: dict[str, Any] = {
    "message_start": RawMessageStartEvent,
    "content_block_start": RawContentBlockStartEvent,
    "content_block_delta": RawContentBlockDeltaEvent,
    "content_block_stop": RawContentBlockStopEvent,
    "message_delta": RawMessageDeltaEvent,
    "message_stop": RawMessageStopEvent,
}


def anthropic_event_objects(events: list[dict[str, Any]]) -> list[Any]:
    """The SDK's event objects for the given dicts (pings are not surfaced by the SDK)."""
    return [
        _ANTHROPIC_EVENT_TYPES[e["type"]].model_validate(e) for e in events if e["type"] != "ping"
    ]


# -- plain text and unknown shapes --------------------------------------------------------


def test_text_is_a_reply_with_no_provider_and_unknown_usage() -> None:
    """A plain string is its own text; provider and usage stay unknown."""
    assert adapt("hello") == Reply(text="hello")


@pytest.mark.parametrize(
    "response", [None, 42, b"bytes", object(), {}, [], {"object": "list", "data": []}]
)
def test_unknown_shapes_give_none(response: object) -> None:
    """Anything not recognized reads as None, so its usage is recorded as unknown."""
    assert adapt(response) is None


def test_reply_and_tool_call_are_frozen() -> None:
    """A Reply cannot be changed after the fact."""
    reply = Reply(text="x", tool_calls=(ToolCall("c1", "f", "{}"),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        reply.text = "y"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        reply.tool_calls[0].name = "g"  # type: ignore[misc]


# -- OpenAI Chat Completions --------------------------------------------------------------


def test_openai_chat_object_reads_text_model_id_and_finish() -> None:
    """A ChatCompletion gives its text, model, id and a normalized finish reason."""
    reply = must_adapt(ChatCompletion.model_validate(chat_completion('{"ok": true}')))
    assert reply.text == '{"ok": true}'
    assert (reply.model, reply.response_id, reply.provider) == (
        "gpt-4o-mini",
        "chatcmpl-1",
        "openai",
    )
    assert reply.finish_reason == "stop"
    assert reply.tool_calls == ()
    assert reply.refusal is None


def test_openai_chat_usage_counts_cached_tokens_inside_input() -> None:
    """OpenAI's prompt_tokens already include cached tokens: input is not increased."""
    body = chat_completion("x", usage=(1200, 300), cached=1024, reasoning=128)
    reply = must_adapt(ChatCompletion.model_validate(body))
    assert reply.usage == Usage(
        input=1200, output=300, cached_input=1024, reasoning=128, total=1500
    )


def test_openai_chat_dict_reads_like_the_object() -> None:
    """The dict form (JSON, model_dump) reads exactly like the SDK object."""
    body = chat_completion("hi", cached=3, reasoning=2)
    assert adapt(body) == adapt(ChatCompletion.model_validate(body))
    assert adapt(ChatCompletion.model_validate(body).model_dump()) == adapt(body)


def test_openai_chat_without_usage_has_unknown_usage() -> None:
    """No usage in the response means usage None, never zeros."""
    assert must_adapt(chat_completion("hi", usage=None)).usage is None


def test_openai_chat_tool_calls_keep_their_arguments_as_text() -> None:
    """Tool calls come out in order, their JSON arguments untouched."""
    calls = [
        function_call("call_1", "triage", '{"category": "billing"'),
        function_call("c2", "f", "{}"),
    ]
    body = chat_completion(None, tool_calls=calls, finish_reason="tool_calls")
    reply = must_adapt(ChatCompletion.model_validate(body))
    assert reply.text is None
    assert reply.finish_reason == "tool_calls"
    assert reply.tool_calls == (
        ToolCall("call_1", "triage", '{"category": "billing"'),
        ToolCall("c2", "f", "{}"),
    )


def test_openai_chat_custom_and_legacy_function_calls() -> None:
    """Custom tool calls and the deprecated function_call are tool calls too."""
    custom = {"id": "c1", "type": "custom", "custom": {"name": "grep", "input": "needle"}}
    body = chat_completion(None, tool_calls=[custom], finish_reason="tool_calls")
    assert must_adapt(ChatCompletion.model_validate(body)).tool_calls == (
        ToolCall("c1", "grep", "needle", "custom"),
    )
    legacy = chat_completion(None, finish_reason="function_call")
    legacy["choices"][0]["message"]["function_call"] = {"name": "f", "arguments": '{"a": 1}'}
    reply = must_adapt(ChatCompletion.model_validate(legacy))
    assert reply.tool_calls == (ToolCall(None, "f", '{"a": 1}'),)
    assert reply.finish_reason == "tool_calls"


def test_openai_chat_refusal_is_reported_and_finishes_as_refusal() -> None:
    """An OpenAI refusal fills `refusal` and turns finish "stop" into "refusal"."""
    body = chat_completion(None, refusal="I can't help with that.")
    reply = must_adapt(ChatCompletion.model_validate(body))
    assert reply.refusal == "I can't help with that."
    assert reply.finish_reason == "refusal"
    assert reply.text is None


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("stop", "stop"), ("length", "length"), ("content_filter", "content_filter")],
)
def test_openai_chat_finish_reasons(raw: str, normalized: str) -> None:
    """Chat finish reasons are already the normalized vocabulary."""
    body = chat_completion("x", finish_reason=raw)
    assert must_adapt(ChatCompletion.model_validate(body)).finish_reason == normalized


def test_openai_chat_reads_the_first_choice() -> None:
    """With n > 1 the choice of index 0 is the answer, whatever the list order."""
    body = chat_completion("first")
    second = {"index": 1, "message": {"role": "assistant", "content": "second"}}
    body["choices"].insert(0, {**second, "finish_reason": "length"})
    assert must_adapt(ChatCompletion.model_validate(body)).text == "first"


def test_openai_compatible_content_parts_are_joined() -> None:
    """Servers that answer with a list of content parts still give one text."""
    body = chat_completion(None)
    del body["object"]
    body["choices"][0]["message"]["content"] = [
        {"type": "text", "text": "a"},
        {"type": "image"},
        {"type": "text", "text": "b"},
    ]
    assert must_adapt(body).text == "ab"


def test_malformed_openai_like_object_gives_none_without_raising() -> None:
    """choices = 5 is malformed: adapt returns None and reports the error, never raises."""
    errors: list[Exception] = []
    assert adapt({"object": "chat.completion", "choices": 5}, on_error=errors.append) is None
    assert adapt(types.SimpleNamespace(choices=5)) is None
    assert [type(e) for e in errors] == [TypeError]


def test_openai_dict_without_total_gets_it_summed() -> None:
    """A usage without total_tokens gets input + output; odd arguments become JSON text."""
    body = chat_completion(None, tool_calls=[function_call("c", "f", "{}")])
    del body["usage"]["total_tokens"]
    body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = [1, 2]
    reply = must_adapt(body)
    assert reply.usage == Usage(input=10, output=5, total=15)
    assert reply.tool_calls == (ToolCall("c", "f", "[1, 2]"),)


def test_any_mapping_reads_like_a_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read-only mappings work too, also once the cache of plain classes is full."""
    proxy = types.MappingProxyType(chat_completion("mapped"))
    assert must_adapt(proxy).text == "mapped"
    full = {type(f"Plain{i}", (), {}) for i in range(256)}
    monkeypatch.setattr("llmguard._core.reply._PLAIN", full)
    assert must_adapt(ChatCompletion.model_validate(chat_completion("x"))).text == "x"
    assert len(full) == 256


def test_objects_whose_attributes_raise_give_none() -> None:
    """An object that raises on attribute access is neither adapted nor accumulated."""

    class Hostile:
        def __getattr__(self, name: str) -> object:
            raise RuntimeError(name)

    errors: list[Exception] = []
    assert adapt(Hostile(), on_error=errors.append) is None
    assert errors
    assert all(isinstance(e, RuntimeError) for e in errors)
    assert accumulator_for(Hostile()) is None


# -- LiteLLM ------------------------------------------------------------------------------


def litellm_object(class_name: str, **attributes: Any) -> Any:
    """An object whose class looks like LiteLLM's, without importing litellm."""
    cls = type(class_name, (types.SimpleNamespace,), {"__module__": "litellm.types.utils"})
    return cls(**attributes)


def test_litellm_model_response_is_read_as_chat_with_provider_litellm() -> None:
    """A LiteLLM ModelResponse, recognized by its class, reads as chat from "litellm"."""
    usage = types.SimpleNamespace(prompt_tokens=7, completion_tokens=3, total_tokens=10)
    message = types.SimpleNamespace(content="hi", tool_calls=None, refusal=None)
    choice = types.SimpleNamespace(index=0, message=message, finish_reason="stop")
    response = litellm_object(
        "ModelResponse", id="r1", model="claude-3", choices=[choice], usage=usage
    )
    reply = must_adapt(response)
    assert (reply.text, reply.provider, reply.model) == ("hi", "litellm", "claude-3")
    assert reply.usage == Usage(input=7, output=3, total=10)


# -- OpenAI Responses API -----------------------------------------------------------------


def test_responses_object_reads_text_and_usage() -> None:
    """A Response gives its output_text parts joined, and input with cached inside it."""
    body = responses_response(
        [message_item(output_text("Hello, "), output_text("world"))],
        usage=(2000, 400),
        cached=1536,
        reasoning=256,
    )
    reply = must_adapt(Response.model_validate(body))
    assert reply.text == "Hello, world"
    assert reply.usage == Usage(
        input=2000, output=400, cached_input=1536, cache_write=0, reasoning=256, total=2400
    )
    assert (reply.finish_reason, reply.provider, reply.response_id) == ("stop", "openai", "resp_1")
    assert adapt(body) == reply


def test_responses_function_call_is_a_tool_call() -> None:
    """function_call output items become tool calls named by call_id."""
    item = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_9",
        "name": "triage",
        "arguments": '{"urgency": 3}',
    }
    reply = must_adapt(Response.model_validate(responses_response([item])))
    assert reply.tool_calls == (ToolCall("call_9", "triage", '{"urgency": 3}'),)
    assert reply.finish_reason == "tool_calls"
    assert reply.text is None


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("max_output_tokens", "length"), ("content_filter", "content_filter"), (None, "incomplete")],
)
def test_responses_incomplete_maps_its_reason(reason: str | None, finish: str) -> None:
    """An incomplete response cut by max_output_tokens finishes as "length"."""
    body = responses_response(
        [message_item(output_text("{"))], status="incomplete", incomplete_reason=reason
    )
    assert must_adapt(Response.model_validate(body)).finish_reason == finish


def test_responses_refusal_part() -> None:
    """A refusal content part fills `refusal` and finishes as "refusal"."""
    body = responses_response([message_item({"type": "refusal", "refusal": "No."})])
    reply = must_adapt(Response.model_validate(body))
    assert (reply.refusal, reply.finish_reason, reply.text) == ("No.", "refusal", None)


def test_responses_skips_other_items_and_keeps_odd_statuses() -> None:
    """Reasoning items and unknown parts are skipped; a failed status stays as it is."""
    reasoning = {"type": "reasoning", "id": "rs_1", "summary": []}
    body = responses_response([reasoning, message_item(output_text("ok"))])
    assert must_adapt(Response.model_validate(body)).text == "ok"
    body["output"][1]["content"].insert(0, {"type": "output_audio", "data": ""})
    body["status"] = "failed"
    reply = must_adapt(body)
    assert (reply.text, reply.finish_reason) == ("ok", "failed")


# -- Anthropic Messages -------------------------------------------------------------------


def test_anthropic_usage_adds_cache_reads_and_writes_to_input() -> None:
    """Anthropic's input_tokens exclude cache reads and writes; normalized input has both."""
    body = anthropic_message("hi", usage=(12, 40), cache_read=3000, cache_write=500)
    reply = must_adapt(Message.model_validate(body))
    assert reply.usage == Usage(
        input=3512, output=40, cached_input=3000, cache_write=500, total=3552
    )
    assert (reply.text, reply.provider, reply.model) == ("hi", "anthropic", "claude-haiku-4-5")
    assert adapt(body) == reply


def test_anthropic_usage_without_cache_fields() -> None:
    """Without cache fields the input is input_tokens and cached input unknown."""
    body = anthropic_message("hi", usage=(12, 40))
    del body["usage"]["cache_read_input_tokens"], body["usage"]["cache_creation_input_tokens"]
    assert must_adapt(body).usage == Usage(input=12, output=40, total=52)


@pytest.mark.parametrize(
    ("count", "problem"),
    [
        (-5, "negative"),
        (10**13, "over 1e+12"),
        (3.5, "3.5, not a whole number"),
        (float("nan"), "nan"),
        (float("-inf"), "-inf"),
        ("12", "a str"),
        (True, "a bool"),
        ({"n": 1}, "a dict"),
    ],
)
def test_a_token_count_that_is_not_a_count_is_unknown_and_named(
    count: object, problem: str
) -> None:
    """Garbage counts read as unknown, each named in problems; the other counts stay."""
    chat = chat_completion("hi", usage=(12, 40))
    chat["usage"]["prompt_tokens"] = count
    reply = must_adapt(chat)
    assert reply.usage == Usage(input=None, output=40, cached_input=None, total=52)
    assert reply.problems == (f"prompt_tokens is {problem}",)
    claude = anthropic_message("hi", usage=(12, 40), cache_read=count)  # type: ignore[arg-type]
    reply = must_adapt(claude)
    assert reply.usage == Usage(input=None, output=40)
    assert reply.problems == (f"cache_read_input_tokens is {problem}",)


def test_whole_float_counts_are_counts() -> None:
    """A count sent as 12.0 is 12, not garbage."""
    chat = chat_completion("hi", usage=(12, 40))
    chat["usage"].update(prompt_tokens=12.0, completion_tokens=40.0)
    reply = must_adapt(chat)
    assert (reply.usage, reply.problems) == (Usage(input=12, output=40, total=52), ())


def test_garbage_counts_in_streams_are_named() -> None:
    """Stream accumulators name garbage counts too, and keep the valid ones."""
    chat = OpenAIChatStream()
    for chunk in chat_chunks(["a"], usage=(-1, 4)):
        chat.feed(chunk)
    claude = AnthropicStream()
    for event in anthropic_events(["a"], usage=(7, 3)):
        claude.feed(event)
    claude.feed({"type": "message_delta", "delta": {}, "usage": {"output_tokens": "many"}})
    assert (chat.reply().usage, chat.reply().problems) == (
        Usage(output=4, total=3),
        ("prompt_tokens is negative",),
    )
    assert (claude.reply().usage, claude.reply().problems) == (
        Usage(input=7),
        ("output_tokens is a str",),
    )


def test_anthropic_thinking_tokens_are_reasoning() -> None:
    """output_tokens_details.thinking_tokens is the reasoning count."""
    body = anthropic_message("hi", usage=(5, 90))
    body["usage"]["output_tokens_details"] = {"thinking_tokens": 70}
    assert must_adapt(Message.model_validate(body)).usage == Usage(
        input=5, output=90, reasoning=70, total=95
    )


def test_anthropic_text_blocks_join_and_thinking_is_skipped() -> None:
    """Text blocks are joined in order; thinking blocks are not part of the answer."""
    blocks = [
        {"type": "thinking", "thinking": "hmm", "signature": "s"},
        {"type": "text", "text": "The answer "},
        {"type": "text", "text": "is 4."},
    ]
    assert must_adapt(Message.model_validate(anthropic_message(blocks))).text == "The answer is 4."


def test_anthropic_tool_use_keeps_input_as_a_dict_copy() -> None:
    """tool_use blocks become tool calls with the input dict, copied."""
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": "Filing it."},
        {"type": "tool_use", "id": "toolu_1", "name": "triage", "input": {"urgency": 2}},
    ]
    message = Message.model_validate(anthropic_message(blocks, stop_reason="tool_use"))
    reply = must_adapt(message)
    assert reply.tool_calls == (ToolCall("toolu_1", "triage", {"urgency": 2}),)
    assert reply.finish_reason == "tool_calls"
    assert reply.text == "Filing it."
    assert reply.tool_calls[0].arguments is not message.content[1].input  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "refusal"),
        ("pause_turn", "pause_turn"),
        (None, None),
    ],
)
def test_anthropic_stop_reasons_are_normalized(stop_reason: str | None, finish: str | None) -> None:
    """Stop reasons map to the common finish vocabulary; unknown ones stay raw."""
    message = Message.model_validate(anthropic_message("x", stop_reason=stop_reason))
    assert must_adapt(message).finish_reason == finish


def test_anthropic_refusal_uses_the_explanation_or_the_text() -> None:
    """stop_reason "refusal" fills `refusal` from stop_details, else from the text."""
    body = anthropic_message("I won't.", stop_reason="refusal")
    assert must_adapt(Message.model_validate(body)).refusal == "I won't."
    body["stop_details"] = {"type": "refusal", "category": "cyber", "explanation": "Policy."}
    assert must_adapt(Message.model_validate(body)).refusal == "Policy."
    assert must_adapt(anthropic_message([], stop_reason="refusal")).refusal == ""
    assert must_adapt(anthropic_message("fine")).refusal is None


# -- the registry -------------------------------------------------------------------------


@pytest.fixture
def registered() -> Iterator[list[Any]]:
    """Registrations made through this list's `append` are undone after the test."""
    undo: list[Any] = []
    yield undo
    for unregister in undo:
        unregister()


def test_registered_adapter_takes_precedence_over_builtins(registered: list[Any]) -> None:
    """A registered adapter wins over the built-in one for the same shape, until removed."""
    body = chat_completion("builtin")
    unregister = register(lambda r: isinstance(r, dict), lambda r: Reply(text="custom"))
    assert must_adapt(body).text == "custom"
    unregister()
    assert must_adapt(body).text == "builtin"


def test_most_recent_registration_is_consulted_first(registered: list[Any]) -> None:
    """Of two matching adapters, the one registered last is used."""
    registered.append(register(lambda r: True, lambda r: Reply(text="old")))
    registered.append(register(lambda r: True, lambda r: Reply(text="new")))
    assert must_adapt(object()).text == "new"
    assert must_adapt("even text").text == "new"


def test_registered_adapter_for_a_new_shape(registered: list[Any]) -> None:
    """Another provider's shape is read once registered."""

    class Gemini:
        text = "hola"
        usage_metadata = types.SimpleNamespace(prompt_token_count=4, candidates_token_count=2)

    def read(response: object) -> Reply:
        meta = response.usage_metadata  # type: ignore[attr-defined]
        usage = Usage(input=meta.prompt_token_count, output=meta.candidates_token_count)
        return Reply(text=response.text, usage=usage, provider="gemini")  # type: ignore[attr-defined]

    assert adapt(Gemini()) is None
    registered.append(register(lambda r: isinstance(r, Gemini), read))
    assert adapt(Gemini()) == Reply(text="hola", usage=Usage(input=4, output=2), provider="gemini")
    assert must_adapt(chat_completion("still built in")).text == "still built in"


def test_a_registered_adapters_garbage_counts_are_unknown(registered: list[Any]) -> None:
    """Counts an application's adapter got wrong read as unknown, named in problems."""
    usage = Usage(input=-3, output=2.5, total=4)  # type: ignore[arg-type]
    registered.append(register(lambda r: r == "mine", lambda r: Reply(text="x", usage=usage)))
    reply = must_adapt("mine")
    assert reply.usage == Usage(input=None, output=None, total=4)
    assert reply.problems == ("input is negative", "output is 2.5, not a whole number")


def test_failing_matcher_is_skipped_and_reported(registered: list[Any]) -> None:
    """A matcher that raises counts as no match: the built-ins still read the response."""

    def broken(response: object) -> bool:
        raise KeyError("oops")

    registered.append(register(broken, lambda r: Reply(text="never")))
    errors: list[Exception] = []
    assert must_adapt(chat_completion("builtin")).text == "builtin"
    assert adapt(chat_completion("builtin"), on_error=errors.append) is not None
    assert [type(e) for e in errors] == [KeyError]


def test_failing_or_wrong_adapter_gives_none_and_is_reported(registered: list[Any]) -> None:
    """An adapter that raises, or returns something else than a Reply, gives None."""

    def explode(response: object) -> Reply:
        raise ValueError("malformed")

    errors: list[Exception] = []
    registered.append(register(lambda r: r == "boom" or r == {"x": 1}, explode))
    assert adapt({"x": 1}, on_error=errors.append) is None
    registered.append(register(lambda r: r == {"y": 1}, lambda r: "not a reply"))  # type: ignore[arg-type,return-value]
    assert adapt({"y": 1}, on_error=errors.append) is None
    assert [type(e) for e in errors] == [ValueError, TypeError]


def test_failing_on_error_callback_does_not_propagate() -> None:
    """Even a broken error callback cannot make adapt raise."""

    def worse(exc: Exception) -> None:
        raise RuntimeError("reporting failed")

    assert adapt({"object": "chat.completion", "choices": 5}, on_error=worse) is None


# -- streams ------------------------------------------------------------------------------


def test_accumulator_is_picked_by_the_first_chunk_shape() -> None:
    """The first chunk's shape picks the accumulator; an unknown one gives None."""
    chat = ChatCompletionChunk.model_validate(chat_chunks(["a"])[0])
    assert type(accumulator_for(chat)) is OpenAIChatStream
    start = RawMessageStartEvent.model_validate(anthropic_events(["a"])[0])
    assert type(accumulator_for(start)) is AnthropicStream
    assert type(accumulator_for({"type": "response.created"})) is OpenAIResponsesStream
    assert type(accumulator_for("tok")) is TextStream
    litellm_chunk = accumulator_for(litellm_object("ModelResponseStream", choices=[]))
    assert isinstance(litellm_chunk, OpenAIChatStream)
    assert litellm_chunk.provider == "litellm"
    for unknown in (object(), None, {}, {"type": "nothing"}, 5):
        assert accumulator_for(unknown) is None


def test_openai_chat_stream_collects_text_and_final_usage() -> None:
    """Text deltas join; usage comes from the last chunk (include_usage)."""
    chunks = [ChatCompletionChunk.model_validate(c) for c in chat_chunks(['{"a"', ": 1}"])]
    accumulator = feed_all(chunks)
    assert accumulator.reply() == Reply(
        text='{"a": 1}',
        usage=Usage(input=10, output=5, total=15),
        model="gpt-4o-mini",
        finish_reason="stop",
        response_id="chatcmpl-1",
        provider="openai",
    )
    assert (accumulator.items, accumulator.skipped) == (len(chunks), 0)


def test_openai_chat_stream_without_include_usage_has_unknown_usage() -> None:
    """Without the usage chunk the stream's usage stays unknown."""
    reply = feed_all(chat_chunks(["hi"], usage=None)).reply()
    assert (reply.text, reply.usage) == ("hi", None)


def test_openai_chat_stream_assembles_interleaved_tool_calls() -> None:
    """Tool-call pieces are assembled per index: id and name first, arguments in parts."""
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}

    def chunk(*calls: dict[str, Any], finish: str | None = None) -> ChatCompletionChunk:
        delta = {"role": "assistant", "content": None, "tool_calls": list(calls)}
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return ChatCompletionChunk.model_validate({**head, "choices": [choice]})

    def piece(index: int, args: str, **first: str) -> dict[str, Any]:
        function = {"arguments": args, **({"name": first["name"]} if first else {})}
        return {"index": index, "id": first.get("id"), "type": "function", "function": function}

    accumulator = feed_all(
        [
            chunk(piece(0, "", id="call_a", name="lookup")),
            chunk(piece(1, '{"q":', id="call_b", name="search")),
            chunk(piece(0, '{"id": ')),
            chunk(piece(0, "7}"), piece(1, ' "x"}')),
            chunk(finish="tool_calls"),
        ]
    )
    reply = accumulator.reply()
    assert reply.tool_calls == (
        ToolCall("call_a", "lookup", '{"id": 7}'),
        ToolCall("call_b", "search", '{"q": "x"}'),
    )
    assert reply.finish_reason == "tool_calls"
    assert reply.text is None


def test_openai_chat_stream_refusal() -> None:
    """Refusal deltas join into `refusal`, and the finish becomes "refusal"."""
    chunks = chat_chunks([], usage=None)
    chunks[0]["choices"][0]["delta"] = {"role": "assistant", "refusal": "I can"}
    chunks.insert(1, {**chunks[1], "choices": [{"index": 0, "delta": {"refusal": "'t."}}]})
    reply = feed_all(chunks).reply()
    assert (reply.refusal, reply.finish_reason) == ("I can't.", "refusal")


def test_odd_chunks_are_counted_and_ignored() -> None:
    """Chunks that cannot be read are skipped and counted; the others still add up."""
    accumulator = OpenAIChatStream()
    good = chat_chunks(["ok"], usage=None)
    for chunk in [
        good[0],
        5,
        {"choices": 5},
        good[1],
        {"choices": [{"delta": {"tool_calls": [{}]}}]},
    ]:
        accumulator.feed(chunk)
    assert (accumulator.items, accumulator.skipped) == (5, 3)
    assert accumulator.reply().text == "ok"
    anthropic_stream = AnthropicStream()
    for event in [{"type": "surprise"}, None, "text", {"type": "content_block_delta", "index": 9}]:
        anthropic_stream.feed(event)
    assert (anthropic_stream.items, anthropic_stream.skipped) == (4, 3)


def test_anthropic_stream_matches_the_whole_message() -> None:
    """A streamed Anthropic answer reads the same as the equivalent whole message."""
    events = anthropic_events(
        ["Filing ", "it."],
        tool=("toolu_1", "triage", ['{"urgency"', ": 2}"]),
        stop_reason="tool_use",
        usage=(12, 40),
        cache_read=3000,
    )
    accumulator = feed_all(anthropic_event_objects(events))
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": "Filing it."},
        {"type": "tool_use", "id": "toolu_1", "name": "triage", "input": {"urgency": 2}},
    ]
    whole = anthropic_message(blocks, stop_reason="tool_use", usage=(12, 40), cache_read=3000)
    assert accumulator.reply() == adapt(Message.model_validate(whole))
    assert accumulator.reply().usage == Usage(input=3012, output=40, cached_input=3000, total=3052)
    assert accumulator.skipped == 0


def test_anthropic_stream_cut_short_keeps_what_arrived() -> None:
    """A half-read stream gives its text so far, raw partial tool input, and finish
    reason ``incomplete``: no stop reason came."""
    events = anthropic_events(["Hel", "lo"], tool=("t1", "f", ['{"a": ', "1}"]))
    accumulator = feed_all(anthropic_event_objects(events[:8]))
    reply = accumulator.reply()
    assert reply.text == "Hello"
    assert reply.tool_calls == (ToolCall("t1", "f", '{"a": '),)
    assert reply.finish_reason == "incomplete"
    assert reply.usage == Usage(input=10, output=1, total=11)


def test_anthropic_stream_tool_without_input_pieces_keeps_the_start_input() -> None:
    """A tool_use block with no JSON deltas keeps its initial input."""
    events = anthropic_events([], tool=("t1", "ping", []), stop_reason="tool_use")
    assert feed_all(events).reply().tool_calls == (ToolCall("t1", "ping", {}),)


def test_anthropic_stream_delta_usage_overwrites_cumulatively() -> None:
    """message_delta counts are cumulative totals: they replace, never add."""
    events = anthropic_events(["x"], usage=(10, 50))
    events[-2]["usage"] = {"output_tokens": 50, "input_tokens": 10, "cache_read_input_tokens": 4}
    reply = feed_all(anthropic_event_objects(events)).reply()
    assert reply.usage == Usage(input=14, output=50, cached_input=4, total=64)


def test_anthropic_usage_absent_is_unknown() -> None:
    """An Anthropic message without token counts has unknown usage."""
    body = anthropic_message("x")
    body["usage"] = {}
    assert must_adapt(body).usage is None


def test_anthropic_stream_skips_thinking_and_reads_thinking_tokens() -> None:
    """Thinking blocks stay out of the text; their token count is the reasoning."""
    events = anthropic_events(["4"], usage=(10, 60))
    thinking = {"type": "thinking", "thinking": "", "signature": ""}
    events[1:1] = [
        {"type": "content_block_start", "index": 5, "content_block": thinking},
        {
            "type": "content_block_delta",
            "index": 5,
            "delta": {"type": "thinking_delta", "thinking": "2+2"},
        },
    ]
    events[-2]["usage"]["output_tokens_details"] = {"thinking_tokens": 50}
    reply = feed_all(anthropic_event_objects(events)).reply()
    assert reply.text == "4"
    assert reply.usage == Usage(input=10, output=60, reasoning=50, total=70)


def test_openai_chat_stream_other_choices_and_legacy_function_call() -> None:
    """Chunks of choices other than the first are ignored; function_call deltas assemble."""
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    chunks = [
        {**head, "choices": [{"index": 1, "delta": {"content": "other"}}]},
        {
            **head,
            "choices": [{"index": 0, "delta": {"function_call": {"name": "f", "arguments": "{"}}}],
        },
        {**head, "choices": [{"index": 0, "delta": {"function_call": {"arguments": "}"}}}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "function_call"}]},
    ]
    reply = feed_all([ChatCompletionChunk.model_validate(c) for c in chunks]).reply()
    assert reply.text is None
    assert reply.tool_calls == (ToolCall(None, "f", "{}"),)
    assert reply.finish_reason == "tool_calls"


def test_responses_stream_partial_reply_has_tool_calls_and_refusal() -> None:
    """Before the terminal event, the reply holds the deltas and finished items so far."""
    call = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}
    events = [
        {"type": "response.created", "response": {"id": "resp_9", "model": "gpt-4o"}},
        {"type": "response.refusal.delta", "delta": "Sorry"},
        {"type": "response.output_item.done", "item": call},
        {"type": "response.output_item.done", "item": message_item(output_text("x"))},
        {"type": "response.something.new"},
        {"type": "not.a.response.event"},
    ]
    accumulator = feed_all(events)
    assert accumulator.reply() == Reply(
        tool_calls=(ToolCall("call_1", "f", "{}"),),
        model="gpt-4o",
        finish_reason="incomplete",  # no final event yet: the answer is unfinished
        refusal="Sorry",
        response_id="resp_9",
        provider="openai",
    )
    assert (accumulator.items, accumulator.skipped) == (6, 1)


def test_text_stream_joins_pieces() -> None:
    """A stream of strings reads as their concatenation."""
    assert feed_all(["a", "b", "c"]).reply() == Reply(text="abc")


# -- end to end through the real SDK clients on a mock transport --------------------------


def test_openai_client_response_adapts_and_request_is_recorded() -> None:
    """A real OpenAI client call answers from the script; its request is recorded."""
    client, sent = openai_client([chat_completion('{"category": "bug"}', cached=4)])
    response = client.chat.completions.create(model="gpt-4o-mini", messages=USER, max_tokens=50)
    reply = must_adapt(response)
    assert reply.text == '{"category": "bug"}'
    assert reply.usage == Usage(input=10, output=5, cached_input=4, total=15)
    (request,) = sent
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.json == {"model": "gpt-4o-mini", "messages": USER, "max_tokens": 50}


def test_openai_client_stream_accumulates_with_include_usage() -> None:
    """A real OpenAI stream, read chunk by chunk, gives text and usage."""
    client, sent = openai_client([chat_chunks(["Hel", "lo"], usage=(9, 2))])
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    assert adapt(stream) is None  # a stream is not a response: it is accumulated instead
    accumulator = feed_all(iter(stream))
    assert accumulator.reply().text == "Hello"
    assert accumulator.reply().usage == Usage(input=9, output=2, total=11)
    assert sent[0].json["stream_options"] == {"include_usage": True}


def test_openai_client_responses_api_and_its_stream() -> None:
    """client.responses.create, whole and streamed, reads through the adapters."""
    final = responses_response([message_item(output_text("Hi!"))], usage=(8, 3), cached=2)
    started = {**final, "status": "in_progress", "output": []}

    def text_delta(number: int, delta: str) -> dict[str, Any]:
        where = {"item_id": "msg_1", "output_index": 0, "content_index": 0, "logprobs": []}
        kind = "response.output_text.delta"
        return {"type": kind, "sequence_number": number, "delta": delta, **where}

    events = [
        {"type": "response.created", "sequence_number": 0, "response": started},
        text_delta(1, "Hi"),
        text_delta(2, "!"),
        {"type": "response.completed", "sequence_number": 3, "response": final},
    ]
    client, sent = openai_client([final, events])
    whole = must_adapt(client.responses.create(model="gpt-4o-mini", input="hi"))
    assert (whole.text, whole.usage) == (
        "Hi!",
        Usage(input=8, output=3, cached_input=2, cache_write=0, reasoning=0, total=11),
    )
    stream = iter(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
    partial = feed_all([next(stream), next(stream)])
    assert (partial.reply().text, partial.reply().usage) == ("Hi", None)
    for event in stream:
        partial.feed(event)
    assert partial.reply() == whole
    assert [r.path for r in sent] == ["/v1/responses", "/v1/responses"]


def test_anthropic_client_response_adapts_and_request_is_recorded() -> None:
    """A real Anthropic client call answers from the script; system is sent separately."""
    client, sent = anthropic_client([anthropic_message('{"category": "bug"}', cache_read=100)])
    message = client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, system="Be terse.", messages=USER
    )
    reply = must_adapt(message)
    assert reply.text == '{"category": "bug"}'
    assert reply.usage == Usage(input=110, output=5, cached_input=100, total=115)
    (request,) = sent
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.json["system"] == "Be terse."
    assert request.json["messages"] == USER


def test_anthropic_client_stream_accumulates_events() -> None:
    """A real Anthropic event stream, read event by event, gives text, tool and usage."""
    events = anthropic_events(
        ["Sure"], tool=("toolu_1", "triage", ['{"u": ', "3}"]), stop_reason="tool_use"
    )
    client, _ = anthropic_client([events])
    stream = client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=USER, stream=True
    )
    reply = feed_all(iter(stream)).reply()
    assert reply.text == "Sure"
    assert reply.tool_calls == (ToolCall("toolu_1", "triage", {"u": 3}),)
    assert (reply.finish_reason, reply.usage) == ("tool_calls", Usage(input=10, output=5, total=15))


async def test_async_clients_answer_from_the_script() -> None:
    """The async twins answer from the same kind of script."""
    oai, oai_sent = async_openai_client([chat_completion("a"), chat_chunks(["b"])])
    assert must_adapt(await oai.chat.completions.create(model="m", messages=USER)).text == "a"
    stream = await oai.chat.completions.create(model="m", messages=USER, stream=True)
    accumulator = OpenAIChatStream()
    async for chunk in stream:
        accumulator.feed(chunk)
    assert accumulator.reply().text == "b"
    claude, claude_sent = async_anthropic_client([anthropic_message("c")])
    message = await claude.messages.create(model="m", max_tokens=5, messages=USER)
    assert must_adapt(message).text == "c"
    assert (len(oai_sent), len(claude_sent)) == (2, 1)


def test_scripted_errors_reach_the_caller_and_every_request_is_recorded() -> None:
    """A scripted 429 raises the SDK's RateLimitError (SDK retries off); the retry succeeds."""
    client, sent = openai_client([error_response(429), chat_completion("ok")])
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=USER)
    assert must_adapt(client.chat.completions.create(model="m", messages=USER)).text == "ok"
    assert [r.json["messages"] for r in sent] == [USER, USER]
    claude, _ = anthropic_client([error_response(529, "Overloaded"), http.ReadTimeout("slow")])
    with pytest.raises(anthropic.APIStatusError) as excinfo:
        claude.messages.create(model="m", max_tokens=5, messages=USER)
    assert excinfo.value.status_code == 529
    with pytest.raises(anthropic.APITimeoutError):
        claude.messages.create(model="m", max_tokens=5, messages=USER)


def test_a_request_beyond_the_script_fails_loudly() -> None:
    """Running out of scripted answers is an error, not a hang or a default answer."""
    client, sent = openai_client([])
    with pytest.raises(Exception) as raised:  # noqa: PT011 -- the cause is checked below
        client.chat.completions.create(model="m", messages=USER)
    # Older SDKs (openai 3.3, which instructor pins) wrap a transport's exception.
    error = raised.value
    cause = error if isinstance(error, AssertionError) else error.__cause__
    assert isinstance(cause, AssertionError)
    assert "no scripted answer left" in str(cause)
    assert json.dumps(sent[0].json["messages"]) == json.dumps(USER)
