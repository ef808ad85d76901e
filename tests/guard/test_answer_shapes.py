"""Every answer shape a model gives reaches the schema (issue 16, item 2).

Lists and ``Iterable`` validated whole before they are accepted, several tool calls read
as the items of a list (through the real ``openai`` and ``anthropic`` SDKs on a mock
transport, the re-ask's request body checked), plain text for the ``str`` branch of a
union, the ``{"response": ...}`` / ``{"content": ...}`` wrappers, and ``strict=True``.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Sequence
from typing import Any, Literal, Optional, Union

import pytest
from pydantic import BaseModel, ConfigDict

import llmguard as lg
from llmguard._guard.schema import compile_schema, extract, extract_calls
from llmguard.adapters import ToolCall
from llmguard.testing import capture
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    chat_completion,
    openai_client,
    responses_response,
)


class Item(BaseModel):
    value: int


class Weather(BaseModel):
    city: str
    unit: Literal["c", "f"] = "c"


class Search(BaseModel):
    model_config = ConfigDict(title="web_search")

    query: str
    city: str | None = None


MESSAGES: Any = [{"role": "user", "content": "List the items."}]


def scripted(*answers: Any) -> tuple[list[Any], list[Any]]:
    """A queue of answers for a fake model, and the list of message lists it was sent."""
    return list(answers), []


def openai_call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def anthropic_use(block_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": block_id, "name": name, "input": arguments}


def attempt_outcomes(records: Sequence[lg.Record]) -> list[tuple[str, str | None]]:
    return [
        (r.attempt["outcome"], r.attempt.get("repair"))
        for r in records
        if r.kind == "attempt" and r.attempt is not None
    ]


# -- lists and Iterable, validated whole ----------------------------------------------------


def test_iterable_with_one_bad_item_is_reasked_with_the_items_path() -> None:
    """``Iterable[Item]``: a bad second item is re-asked (path ``$[1].value``), then a list."""
    answers = ['[{"value": 1}, {"value": "x"}]', '[{"value": 1}, {"value": 2}]']
    sent: list[Any] = []

    @lg.guard(schema=Iterable[Item], retries=1)
    def items(messages: Any) -> str:
        sent.append(messages)
        return answers.pop(0)

    with capture() as records:
        value = items(MESSAGES)
    assert value == [Item(value=1), Item(value=2)]
    assert type(value) is list
    assert "$[1].value" in sent[1][-1]["content"]
    assert attempt_outcomes(records) == [("invalid", None), ("ok", None)]


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        (list[Item], list),
        (Sequence[Item], list),
        (tuple[Item, ...], tuple),
        (Iterable[Item], list),
        (Optional[Iterable[Item]], list),  # noqa: UP045 - the spelling users write
        (Generator[Item, None, None], list),
    ],
)
def test_every_list_shape_is_validated_before_it_is_accepted(schema: Any, kind: type) -> None:
    """A bad item fails the call for every list-like schema, and a good list has its type."""
    answers = ['[{"value": 1}, {"value": "x"}]']

    @lg.guard(schema=schema, retries=0)
    def items(messages: Any) -> str:
        return answers.pop(0)

    with pytest.raises(lg.SchemaViolation) as failed:
        items(MESSAGES)
    assert [e.path for e in failed.value.last_attempt.errors] == ["$[1].value"]
    answers.append('[{"value": 1}, {"value": 2}]')
    value = items(MESSAGES)
    assert type(value) is kind
    assert list(value) == [Item(value=1), Item(value=2)]


def test_sets_are_validated_whole_too() -> None:
    """``set[int]`` and ``frozenset[int]`` read a JSON array into the set, or re-ask."""
    assert compile_schema(set[int]).validate_json("[1, 2, 2]") == {1, 2}
    found = extract('[1, "x"]', compile_schema(frozenset[int]))
    assert not found.ok
    assert found.errors[0].path == "$[1]"


def test_an_iterable_inside_a_model_is_refused_at_decoration() -> None:
    """A field typed ``Iterable[...]`` would be checked only when read: refused up front."""

    class Basket(BaseModel):
        items: Iterable[Item]

    with pytest.raises(lg.ConfigurationError, match="Iterable below its top level"):
        lg.guard(schema=Basket)


# -- several tool calls, read as a list --------------------------------------------------


def test_openai_three_tool_calls_are_read_as_the_list() -> None:
    """Three parallel OpenAI tool calls fill ``list[Item]``, in order, labelled tool_calls."""
    calls = [openai_call(f"call_{i}", "Item", {"value": i}) for i in range(3)]
    client, _ = openai_client([chat_completion(None, tool_calls=calls, finish_reason="tool_calls")])

    @lg.guard(schema=list[Item])
    def items(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        assert items(MESSAGES) == [Item(value=0), Item(value=1), Item(value=2)]
    assert attempt_outcomes(records) == [("ok", "tool_calls")]
    (attempt,) = [r for r in records if r.kind == "attempt"]
    assert json.loads(attempt.output) == [
        {"name": "Item", "arguments": json.dumps({"value": i})} for i in range(3)
    ]


def test_openai_bad_parallel_call_is_reasked_with_one_tool_message_per_call() -> None:
    """The re-ask repeats every call and answers each: the bad one with its own errors."""
    first = [
        openai_call("call_a", "Item", {"value": 1}),
        openai_call("call_b", "Item", {"value": "many"}),
    ]
    second = [
        openai_call("call_c", "Item", {"value": 1}),
        openai_call("call_d", "Item", {"value": 2}),
    ]
    client, sent = openai_client(
        [
            chat_completion(None, tool_calls=first, finish_reason="tool_calls"),
            chat_completion(None, tool_calls=second, finish_reason="tool_calls"),
        ]
    )

    @lg.guard(schema=Iterable[Item], retries=1)
    def items(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert items(MESSAGES) == [Item(value=1), Item(value=2)]
    *original, assistant, result_a, result_b = sent[1].json["messages"]
    assert original == MESSAGES
    assert assistant == {"role": "assistant", "content": None, "tool_calls": first}
    assert (result_a["role"], result_a["tool_call_id"]) == ("tool", "call_a")
    assert "No error was found" in result_a["content"]
    assert (result_b["role"], result_b["tool_call_id"]) == ("tool", "call_b")
    assert "- $.value: Input should be a valid integer" in result_b["content"]
    assert '"many"' in result_b["content"]


def test_anthropic_parallel_tool_uses_are_read_and_reasked_with_a_result_each() -> None:
    """Anthropic: two tool_use blocks fill the list; a bad one gets is_error on its result."""
    first = [
        anthropic_use("toolu_1", "Item", {"value": "x"}),
        anthropic_use("toolu_2", "Item", {"value": 2}),
    ]
    second = [
        anthropic_use("toolu_3", "Item", {"value": 1}),
        anthropic_use("toolu_4", "Item", {"value": 2}),
    ]
    client, sent = anthropic_client(
        [
            anthropic_message(first, stop_reason="tool_use"),
            anthropic_message(second, stop_reason="tool_use"),
        ]
    )

    @lg.guard(schema=list[Item], retries=1)
    def items(messages: Any) -> Any:
        return client.messages.create(model="claude-haiku-4-5", max_tokens=200, messages=messages)

    assert items(MESSAGES) == [Item(value=1), Item(value=2)]
    user, assistant, results = sent[1].json["messages"]
    assert user == MESSAGES[0]
    assert assistant == {"role": "assistant", "content": first}
    assert results["role"] == "user"
    bad, good = results["content"]
    assert (bad["type"], bad["tool_use_id"], bad["is_error"]) == ("tool_result", "toolu_1", True)
    assert "- $.value: Input should be a valid integer" in bad["content"]
    assert (good["tool_use_id"], good["is_error"]) == ("toolu_2", False)


def test_the_tool_name_picks_the_union_member() -> None:
    """``list[Weather | Search]``: each call's name (class name or title) picks its model."""
    calls = [
        openai_call("c1", "web_search", {"query": "umbrellas", "city": "Oslo"}),
        openai_call("c2", "Weather", {"city": "Oslo"}),
        openai_call("c3", "Search", {"query": "boots"}),
    ]
    client, _ = openai_client([chat_completion(None, tool_calls=calls, finish_reason="tool_calls")])

    @lg.guard(schema=list[Union[Weather, Search]])  # noqa: UP007 - the spelling users write
    def plan(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert plan(MESSAGES) == [
        Search(query="umbrellas", city="Oslo"),
        Weather(city="Oslo"),
        Search(query="boots"),
    ]


def test_a_named_member_reports_its_own_errors() -> None:
    """A call named Weather is judged as a Weather: the errors say what Weather lacks."""
    schema = compile_schema(list[Weather | Search])
    calls = [ToolCall("c1", "Search", '{"query": "x"}'), ToolCall("c2", "Weather", "{}")]
    found = extract_calls(calls, schema)
    assert not found.ok
    assert [(e.path, e.message) for e in found.errors] == [("$[1].city", "Field required")]


def test_calls_naming_no_model_are_judged_by_content() -> None:
    """When no call names a model, pydantic's union picks each item by its content."""
    schema = compile_schema(tuple[Weather | Search, ...])
    calls = [ToolCall("c1", "lookup", '{"query": "x"}'), ToolCall("c2", "fn", '{"city": "A"}')]
    found = extract_calls(calls, schema)
    assert found.ok
    assert found.value == (Search(query="x"), Weather(city="A"))


def test_a_call_to_another_tool_beside_named_calls_is_reasked() -> None:
    """Once calls name the schema's models, a call to any other tool is an error."""
    schema = compile_schema(list[Weather | Search])
    calls = [ToolCall("c1", "Weather", '{"city": "A"}'), ToolCall("c2", "send_email", "{}")]
    found = extract_calls(calls, schema)
    assert not found.ok
    (error,) = found.errors
    assert error.path == "$[1]"
    assert error.message.startswith("'send_email' is not a tool of this answer")
    assert "Search, Weather, web_search" in error.message


def test_a_wrapped_list_sent_as_json_text_is_read() -> None:
    """``{"response": "[...]"}``: a list schema takes no string, so the string is JSON."""
    schema = compile_schema(list[Item])
    found = extract_calls(
        [ToolCall("c", "final_result", '{"response": "[{\\"value\\": 1}]"}')], schema
    )
    assert (found.ok, found.value) == (True, [Item(value=1)])
    assert compile_schema(str | list[int]).validate({"response": "[1]"}) == "[1]"


def test_responses_api_function_calls_are_read_as_the_list() -> None:
    """OpenAI Responses: several function_call items fill the list too."""
    output = [
        {
            "type": "function_call",
            "id": f"fc_{i}",
            "call_id": f"call_{i}",
            "name": "Item",
            "arguments": json.dumps({"value": i}),
            "status": "completed",
        }
        for i in range(2)
    ]
    client, _ = openai_client([responses_response(output)])

    @lg.guard(schema=list[Item], retries=0)
    def items(prompt: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=prompt)

    assert items("List the items.") == [Item(value=0), Item(value=1)]


def test_one_call_holding_the_whole_list_is_the_list() -> None:
    """A single call whose arguments are the list itself, bare or wrapped, is read as is."""
    schema = compile_schema(list[Item])
    for arguments in ('[{"value": 1}]', '{"response": [{"value": 1}]}'):
        found = extract_calls([ToolCall("c", "items", arguments)], schema)
        assert (found.ok, found.value, found.repair) == (True, [Item(value=1)], "tool_call")
    one = extract_calls([ToolCall("c", "Item", '{"value": 1}')], schema)
    assert (one.value, one.repair) == ([Item(value=1)], "tool_calls")


def test_parallel_calls_each_wrapping_part_of_the_list_are_joined() -> None:
    """Two calls of one wrapping tool, ``{"response": [...]}`` each: one list, in order."""
    schema = compile_schema(list[Item])
    calls = [
        ToolCall("c1", "list_Item", '{"response": [{"value": 1}]}'),
        ToolCall("c2", "list_Item", '{"response": [{"value": 2}, {"value": 3}]}'),
    ]
    found = extract_calls(calls, schema)
    assert (found.ok, found.value) == (True, [Item(value=1), Item(value=2), Item(value=3)])

    class Note(BaseModel):
        content: list[str]

    notes = [
        ToolCall("c1", "note", '{"content": ["a"]}'),
        ToolCall("c2", "note", '{"content": []}'),
    ]
    found = extract_calls(notes, compile_schema(list[Note]))
    assert found.value == [Note(content=["a"]), Note(content=[])]


def test_arguments_that_are_not_json_are_named_by_their_call() -> None:
    """A call whose arguments are not JSON is an error at that item, never an exception."""
    schema = compile_schema(list[Item])
    calls = [ToolCall("c1", "Item", '{"value": 1}'), ToolCall("c2", "Item", '{"value": ')]
    found = extract_calls(calls, schema)
    assert not found.ok
    assert found.errors[0].path == "$[1]"
    assert "not JSON" in found.errors[0].message


def test_several_calls_for_an_object_schema_read_the_first() -> None:
    """An object schema takes the first call's arguments, as before."""
    calls = [ToolCall("c1", "Item", '{"value": 1}'), ToolCall("c2", "Item", '{"value": 2}')]
    found = extract_calls(calls, compile_schema(Item))
    assert (found.value, found.repair) == (Item(value=1), "tool_call")


# -- text for the str branch of a union ----------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    [Union[str, Item], Item | str, Optional[str]],  # noqa: UP007, UP045
)
def test_plain_text_satisfies_the_str_branch(schema: Any) -> None:
    """A prose answer is the string, with repair "text"."""
    found = extract("The capital of France is Paris.", compile_schema(schema))
    assert (found.ok, found.value, found.repair) == (
        True,
        "The capital of France is Paris.",
        "text",
    )


def test_json_that_validates_as_the_model_wins_over_the_text() -> None:
    """``Item | str``: JSON of an Item, bare or fenced, is the Item."""
    schema = compile_schema(Item | str)
    assert extract('{"value": 3}', schema).value == Item(value=3)
    assert extract('Here:\n```json\n{"value": 3}\n```', schema).value == Item(value=3)


def test_json_that_fails_the_model_is_reasked_not_taken_as_text() -> None:
    """``Item | str``: a broken attempt at an Item, bare or in prose, is not the string."""
    schema = compile_schema(Item | str)
    fenced = 'Here you go:\n```json\n{"value": x}\n```'
    for text in ('{"value": "x"}', 'Sure: {"value": "x"} done', '{"value": "x",', fenced):
        found = extract(text, schema)
        assert not found.ok, text


def test_a_str_union_answer_through_the_anthropic_sdk() -> None:
    """A text answer from Claude is returned as the str branch of ``Weather | str``."""
    client, _ = anthropic_client([anthropic_message("It is sunny in Oslo.")])

    @lg.guard(schema=Weather | str)
    def weather(messages: Any) -> Any:
        return client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=messages)

    assert weather(MESSAGES) == "It is sunny in Oslo."


# -- wrappers -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["response", "content"])
def test_a_wrapped_list_answer_is_unwrapped(key: str) -> None:
    """``{"response": [...]}`` / ``{"content": [...]}`` hold a list schema's value."""
    schema = compile_schema(list[int])
    found = extract(json.dumps({key: [1, 2]}), schema)
    assert (found.ok, found.value) == (True, [1, 2])
    assert schema.validate({key: [1, 2]}) == [1, 2]


def test_wrapped_tuple_tool_arguments_are_unwrapped_through_the_sdk() -> None:
    """pydantic-ai's convention: a tuple output arrives as a tool call with ``response``."""
    arguments = {"response": ["Oslo", 4]}
    call = openai_call("c1", "final_result", arguments)
    client, _ = openai_client(
        [chat_completion(None, tool_calls=[call], finish_reason="tool_calls")]
    )

    @lg.guard(schema=tuple[str, int])
    def answer(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert answer(MESSAGES) == ("Oslo", 4)


def test_a_wrapper_is_only_unwrapped_as_the_whole_object_for_a_non_object_root() -> None:
    """Two keys, another key, or an object schema: no unwrapping; inner errors are named."""
    listed = compile_schema(list[int])
    assert not extract('{"response": [1], "other": 2}', listed).ok
    assert not extract('{"answer": [1]}', listed).ok
    wrapped_bad = extract('{"response": [1, "x"]}', listed)
    assert [e.path for e in wrapped_bad.errors] == ["$.response[1]"]

    class Holder(BaseModel):
        response: list[int]

    found = extract('{"response": [1]}', compile_schema(Holder))
    assert found.value == Holder(response=[1])


# -- strict -------------------------------------------------------------------------------


def test_strict_refuses_coercion_and_lax_accepts_it() -> None:
    """``strict=True``: ``"1"`` is no int, and the re-ask says so; by default it is 1."""
    answers = ['{"value": "1"}', '{"value": 1}']
    sent: list[Any] = []

    @lg.guard(schema=Item, strict=True, retries=1)
    def strict_item(messages: Any) -> str:
        sent.append(messages)
        return answers.pop(0)

    assert strict_item(MESSAGES) == Item(value=1)
    assert "- $.value: Input should be a valid integer" in sent[1][-1]["content"]
    lax = lg.guard(schema=Item)(lambda messages: '{"value": "1"}')
    assert lax(MESSAGES) == Item(value=1)


def test_strict_still_reads_dates_enums_and_text_from_json() -> None:
    """JSON has no date or enum type: strict JSON mode still reads them from strings."""
    import datetime
    import enum

    class Color(enum.Enum):
        RED = "red"

    class Event(BaseModel):
        day: datetime.date
        color: Color

    schema = compile_schema(Event, strict=True)
    value = extract('{"day": "2024-05-01", "color": "red"}', schema).value
    assert value == Event(day=datetime.date(2024, 5, 1), color=Color.RED)
    assert extract("red", compile_schema(Color, strict=True)).value is Color.RED
    tools = extract_calls([ToolCall("c", "Event", {"day": "2024-05-01", "color": "red"})], schema)
    assert tools.ok


def test_strict_is_ignored_by_json_schema_dicts() -> None:
    """A JSON Schema dict has its own types; ``strict`` leaves it as it is."""
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    guarded = lg.guard(schema=schema, strict=True)(lambda messages: '{"n": 2}')
    assert guarded(MESSAGES) == {"n": 2}


# -- attacks: hostile shapes cost time linear in their size, and never raise ---------------


def _cpu(fn: Any) -> float:
    import time

    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


@pytest.mark.parametrize(
    "build",
    [
        lambda n: json.dumps({"response": [1, "x"] * n}),  # a wrapper around bad items
        lambda n: '{"response": ' + "[" * n,  # an unclosed wrapper
        lambda n: "\ud83d" * n + '{"value": 1}',  # surrogates before the JSON
        lambda n: "{" + "Sure, " * n,  # text for Item | str that starts like JSON
    ],
    ids=["wrapped-bad-items", "unclosed-wrapper", "surrogates", "json-looking-text"],
)
def test_wrappers_surrogates_and_text_cost_linear_time(build: Any) -> None:
    """Four times the hostile answer takes about four times as long (10x allowed)."""
    schemas = [compile_schema(list[int]), compile_schema(Item | str)]
    small, large = build(20_000), build(80_000)
    for schema in schemas:
        small_s = _cpu(lambda: extract(small, schema))  # noqa: B023 - called right away
        large_s = _cpu(lambda: extract(large, schema))  # noqa: B023
        assert large_s <= 10 * small_s + 0.01, f"{small_s * 1000:.1f} ms, {large_s * 1000:.1f} ms"


def test_thousands_of_tool_calls_cost_linear_time() -> None:
    """4,000 bad parallel calls take about four times what 1,000 do, errors and all."""
    schemas = [compile_schema(list[Item]), compile_schema(list[Weather | Search])]

    def calls(count: int) -> list[ToolCall]:
        return [ToolCall(f"c{i}", "Weather", '{"value": "x"}') for i in range(count)]

    small, large = calls(1_000), calls(4_000)
    for schema in schemas:
        found = extract_calls(large, schema)
        assert not found.ok
        small_s = _cpu(lambda: extract_calls(small, schema))  # noqa: B023
        large_s = _cpu(lambda: extract_calls(large, schema))  # noqa: B023
        assert large_s <= 10 * small_s + 0.01, f"{small_s * 1000:.1f} ms, {large_s * 1000:.1f} ms"


def test_deeply_nested_tool_arguments_fail_the_schema_without_raising() -> None:
    """Arguments nested 100,000 deep (text, a wrapper, or a dict) are an error, not a crash."""
    deep: Any = "\ud83d"
    for _ in range(5_000):
        deep = {"content": deep}
    texts = ["[" * 100_000, '{"response": ' + "[" * 100_000 + "]" * 100_000 + "}"]
    for schema in (compile_schema(list[Item]), compile_schema(list[Weather | Search])):
        for arguments in [*texts, deep]:
            found = extract_calls([ToolCall("a", "Weather", arguments)] * 2, schema)
            assert not found.ok


# -- streams and async clients -------------------------------------------------------------


def tool_call_chunks(calls: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """Chat Completions stream chunks sending each (id, name, arguments) call in two pieces."""
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    chunks: list[dict[str, Any]] = []
    for index, (call_id, name, arguments) in enumerate(calls):
        half = len(arguments) // 2
        first = {"index": index, "id": call_id, "type": "function"}
        first["function"] = {"name": name, "arguments": arguments[:half]}
        rest = {"index": index, "function": {"arguments": arguments[half:]}}
        for piece in (first, rest):
            delta = {"tool_calls": [piece]}
            chunks.append(
                {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            )
    done = {"index": 0, "delta": {}, "finish_reason": "tool_calls"}
    chunks.append({**head, "choices": [done]})
    return chunks


def test_a_streamed_answer_with_parallel_calls_is_read_as_the_list() -> None:
    """Tool-call deltas of two calls, interleaved by index, fill ``list[Item]``."""
    calls = [("call_1", "Item", '{"value": 10}'), ("call_2", "Item", '{"value": 20}')]
    client, sent = openai_client([tool_call_chunks(calls)])

    @lg.guard(schema=list[Item])
    def items(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    assert items(MESSAGES) == [Item(value=10), Item(value=20)]
    assert sent[0].json["stream"] is True


def test_async_clients_read_parallel_calls_and_reask_them() -> None:
    """The async OpenAI client: a bad second call is re-asked, then the list is returned."""
    import asyncio

    from tests._helpers.sdk_mocks import async_openai_client

    first = [openai_call("a", "Item", {"value": 1}), openai_call("b", "Item", {"value": "x"})]
    second = [openai_call("c", "Item", {"value": 1}), openai_call("d", "Item", {"value": 2})]
    client, sent = async_openai_client(
        [
            chat_completion(None, tool_calls=first, finish_reason="tool_calls"),
            chat_completion(None, tool_calls=second, finish_reason="tool_calls"),
        ]
    )

    @lg.guard(schema=Iterable[Item], retries=1)
    async def items(messages: Any) -> Any:
        return await client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert asyncio.run(items(MESSAGES)) == [Item(value=1), Item(value=2)]
    tool_results = [m for m in sent[1].json["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_results] == ["a", "b"]
    assert "$.value" in tool_results[1]["content"]
