"""Tests for _guard.partial: ``guard.stream(fn, ...)`` yields partial objects as a stream arrives.

The provider tests go through the real ``openai`` and ``anthropic`` SDK clients on a mock
transport serving server-sent events (tests/_helpers/sdk_mocks.py), so the chunks are the
SDKs' own objects and the requests they send can be read back.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import jiter
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

import llmguard as lg
from llmguard import Record
from llmguard._guard.partial import Partial
from llmguard.exceptions import ConfigurationError, SchemaViolation
from llmguard.testing import capture
from llmguard.types import StreamInfo
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_events,
    async_anthropic_client,
    async_openai_client,
    chat_chunks,
    chat_completion,
    openai_client,
    responses_events,
)


class Ticket(BaseModel):
    summary: str
    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)


class Item(BaseModel):
    name: str
    qty: int = Field(ge=1)


MESSAGES: Any = [{"role": "user", "content": "I was charged twice for my card."}]

# Five pieces: each one changes what can be shown, except the half-written Literal.
PIECES = [
    '{"summary": "Card',
    " charged twice",
    '", "category": "bil',
    'ling", "urgency": ',
    "4}",
]
STATES = [
    {"summary": "Card", "category": None, "urgency": None},
    {"summary": "Card charged twice", "category": None, "urgency": None},
    {"summary": "Card charged twice", "category": "billing", "urgency": None},
    {"summary": "Card charged twice", "category": "billing", "urgency": 4},
]
FINAL = Ticket(summary="Card charged twice", category="billing", urgency=4)


def states(partials: list[Partial[Any]]) -> list[dict[str, Any]]:
    """The non-final partial values, as plain dicts."""
    return [p.value.model_dump() for p in partials if not p.final]


def by_kind(records: list[Record], kind: str) -> list[Record]:
    return [r for r in records if r.kind == kind]


def tool_chunks(pieces: list[str], name: str = "ticket") -> list[dict[str, Any]]:
    """Chat Completions chunks of one streamed tool call whose arguments are ``pieces``."""
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    first = {"index": 0, "id": "call_1", "type": "function"}
    first["function"] = {"name": name, "arguments": ""}
    deltas = [{"role": "assistant", "tool_calls": [first]}]
    deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in pieces]
    chunks = [
        {**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas
    ]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    return chunks


# -- providers, sync and async ----------------------------------------------------------


def test_openai_chat_stream_yields_each_partial_state_then_the_validated_value() -> None:
    """Chat Completions text: the partial states in order, a half-written Literal left out."""
    client, requests = openai_client([chat_chunks(PIECES)])
    guard = lg.guard(schema=Ticket)

    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    with capture() as records:
        partials = list(guard.stream(triage, MESSAGES))
    assert states(partials) == STATES
    assert partials[-1] == Partial(FINAL, final=True, attempt=1)
    assert isinstance(partials[-1].value, Ticket)
    assert requests[0].json["stream"] is True
    (llm,) = by_kind(records, "llm")
    (attempt,) = by_kind(records, "attempt")
    assert (llm.status, attempt.status, attempt.attempt and attempt.attempt["outcome"]) == (
        "ok",
        "ok",
        "ok",
    )
    assert llm.stream == StreamInfo(items=len(chat_chunks(PIECES)), end="exhausted")
    assert llm.usage is not None
    assert llm.usage.total == 15


async def test_async_openai_chat_stream_yields_the_same_states() -> None:
    """``async for`` over an async function's stream gives the same partials."""
    client, _ = async_openai_client([chat_chunks(PIECES)])
    guard = lg.guard(schema=Ticket)

    async def triage(messages: Any) -> Any:
        return await client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True
        )

    partials = [p async for p in guard.stream(triage, MESSAGES)]
    assert states(partials) == STATES
    assert partials[-1].value == FINAL
    assert partials[-1].final


def test_openai_tool_call_arguments_stream_as_partials() -> None:
    """A streamed tool call: its arguments are read as they arrive."""
    client, _ = openai_client([tool_chunks(PIECES)])
    guard = lg.guard(schema=Ticket)

    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    partials = list(guard.stream(triage, MESSAGES))
    assert states(partials) == STATES
    assert partials[-1].value == FINAL


@pytest.mark.parametrize("function", [None, "ticket"])
def test_openai_responses_events_stream_as_partials(function: str | None) -> None:
    """Responses API events, output text or function-call arguments, stream as partials."""
    client, requests = openai_client([responses_events(PIECES, function=function)])
    guard = lg.guard(schema=Ticket)

    def triage(messages: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=messages, stream=True)

    with capture() as records:
        partials = list(guard.stream(triage, MESSAGES))
    assert states(partials) == STATES
    assert partials[-1].value == FINAL
    assert requests[0].path == "/v1/responses"
    (llm,) = by_kind(records, "llm")
    assert llm.usage is not None
    assert llm.usage.total == 15


def test_anthropic_text_stream_yields_partials() -> None:
    """An Anthropic message stream of text deltas."""
    client, requests = anthropic_client([anthropic_events(PIECES)])
    guard = lg.guard(schema=Ticket)

    def triage(messages: Any) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=300, messages=messages, stream=True
        )

    partials = list(guard.stream(triage, MESSAGES))
    assert states(partials) == STATES
    assert partials[-1].value == FINAL
    assert requests[0].json["stream"] is True


async def test_async_anthropic_tool_use_input_json_delta_streams_as_partials() -> None:
    """Anthropic tool use: ``input_json_delta`` pieces are read as they arrive."""
    events = anthropic_events([], tool=("toolu_1", "ticket", PIECES), stop_reason="tool_use")
    client, _ = async_anthropic_client([events])
    guard = lg.guard(schema=Ticket)

    async def triage(messages: Any) -> Any:
        return await client.messages.create(
            model="claude-haiku-4-5", max_tokens=300, messages=messages, stream=True
        )

    partials = [p async for p in guard.stream(triage, MESSAGES)]
    assert states(partials) == STATES
    assert partials[-1].value == FINAL


def test_a_function_that_does_not_stream_gives_only_the_final_value() -> None:
    """A whole response: one partial, final and validated."""
    answer = json.dumps(FINAL.model_dump())
    client, _ = openai_client([chat_completion(answer)])
    guard = lg.guard(schema=Ticket)

    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert list(guard.stream(triage, MESSAGES)) == [Partial(FINAL, final=True, attempt=1)]


# -- the corrective flow --------------------------------------------------------------


def test_an_answer_failing_at_its_end_is_reasked_and_the_reask_streams_too() -> None:
    """The complete answer fails the schema: re-asked with the correction; partials reset."""
    bad = ['{"summary": "Card charged twice", ', '"category": "billing", "urgency": 9}']
    client, requests = openai_client([chat_chunks(bad), chat_chunks(PIECES)])
    guard = lg.guard(schema=Ticket, retries=1)

    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    with capture() as records:
        partials = list(guard.stream(triage, MESSAGES))
    first = [p for p in partials if p.attempt == 1]
    second = [p for p in partials if p.attempt == 2]
    assert first
    assert not any(p.final or p.reset for p in first)
    assert first[-1].value.model_dump()["urgency"] == 9  # shown, then refused at the end
    assert [p.reset for p in second] == [True] + [False] * (len(second) - 1)
    assert states(second) == STATES
    assert second[-1] == Partial(FINAL, final=True, attempt=2)
    sent = requests[1].json["messages"]
    assert sent[0] == MESSAGES[0]
    assert sent[1]["role"] == "assistant"
    assert '"urgency": 9' in sent[1]["content"]
    assert sent[2]["role"] == "user"
    assert "urgency" in sent[2]["content"]
    outcomes = [r.attempt and r.attempt["outcome"] for r in by_kind(records, "attempt")]
    assert outcomes == ["invalid", "ok"]
    (llm,) = by_kind(records, "llm")
    assert llm.attempt is not None
    assert llm.attempt["corrective_retries"] == 1


def test_retries_exhausted_raise_schema_violation_after_the_partials() -> None:
    """Every answer fails: the partials were shown, then SchemaViolation is raised."""
    bad = ['{"summary": "x", "category": "billing", ', '"urgency": 9}']
    client, _ = openai_client([chat_chunks(bad)])
    guard = lg.guard(schema=Ticket, retries=0)

    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    seen: list[Partial[Ticket]] = []

    def read_all() -> None:
        seen.extend(guard.stream(triage, MESSAGES))

    with pytest.raises(SchemaViolation) as caught:
        read_all()
    assert seen
    assert not seen[-1].final
    assert caught.value.attempts[0].outcome == "invalid"


def test_on_fail_return_ends_with_a_final_failure() -> None:
    """With ``on_fail="return"`` the last partial holds the `Failure`."""
    guard = lg.guard(schema=Ticket, retries=0, on_fail="return")
    partials = list(guard.stream(lambda messages: iter(['{"urgency": 0}']), MESSAGES))
    assert partials[-1].final
    assert isinstance(partials[-1].value, lg.Failure)


def test_a_stream_cut_by_a_timeout_is_retried_and_streams_again() -> None:
    """A transient error mid-stream: retried after the backoff, the new stream resets."""
    calls = iter([0, 1])

    def triage(messages: Any) -> Iterator[str]:
        if next(calls) == 0:
            yield PIECES[0]
            raise TimeoutError("read timed out")
        yield from PIECES

    waits: list[float] = []
    guard = lg.guard(schema=Ticket, sleep=waits.append)
    with capture() as records:
        partials = list(guard.stream(triage, MESSAGES))
    assert [(p.attempt, p.reset) for p in partials[:2]] == [(1, False), (2, True)]
    assert states([p for p in partials if p.attempt == 2]) == STATES
    assert partials[-1].value == FINAL
    assert len(waits) == 1
    first = by_kind(records, "attempt")[0]
    assert (first.error_type, first.output) == ("TimeoutError", PIECES[0])


async def test_async_for_reads_a_sync_stream_from_an_async_function() -> None:
    """An ``async def`` that returns a plain iterator is read with ``async for`` too."""

    async def triage(messages: Any) -> Iterator[str]:
        return iter(PIECES)

    partials = [p async for p in lg.guard(schema=Ticket).stream(triage, MESSAGES)]
    assert states(partials) == STATES
    assert partials[-1].value == FINAL


def test_for_over_a_function_returning_an_async_stream_fails_clearly() -> None:
    """A sync function handing back an async stream: a ConfigurationError, recorded."""
    client, _ = async_openai_client([])

    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="m", messages=messages, stream=True)

    with capture() as records, pytest.raises(ConfigurationError, match="async for"):
        list(lg.guard(schema=Ticket).stream(triage, MESSAGES))
    assert [(r.kind, r.error_type) for r in records] == [
        ("attempt", "llmguard.exceptions.ConfigurationError"),
        ("llm", "llmguard.exceptions.ConfigurationError"),
    ]


def test_a_bound_method_is_reasked_through_its_messages() -> None:
    """``guard.stream(obj.method, messages)``: the re-ask finds the method's messages."""

    class Writer:
        def __init__(self) -> None:
            self.sent: list[Any] = []

        def triage(self, messages: Any) -> Iterator[str]:
            self.sent.append(messages)
            return iter(
                ['{"summary": "x", "category": "bug", "urgency": 9}']
                if len(self.sent) == 1
                else PIECES
            )

    writer = Writer()
    partials = list(lg.guard(schema=Ticket).stream(writer.triage, MESSAGES))
    assert partials[-1].value == FINAL
    assert writer.sent[1][:1] == MESSAGES
    assert "urgency" in writer.sent[1][-1]["content"]


def test_a_stream_in_a_budget_is_reserved_then_charged_its_usage() -> None:
    """Inside ``lg.budget``, the output cap is sent and the stream's usage is charged."""
    client, requests = openai_client([chat_chunks(PIECES, usage=(30, 12))])
    guard = lg.guard(schema=Ticket, max_output_tokens=200)

    def triage(messages: Any, max_tokens: int | None = None) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, max_tokens=max_tokens, stream=True
        )

    with lg.budget(max_tokens=10_000) as budget:
        partials = list(guard.stream(triage, MESSAGES))
    assert partials[-1].value == FINAL
    assert requests[0].json["max_tokens"] == 200
    assert budget.used == 42


def test_send_schema_reaches_the_streamed_request() -> None:
    """``send_schema=True``: the streamed request carries OpenAI's strict json_schema format."""
    client, requests = openai_client([chat_chunks(PIECES)])
    guard = lg.guard(schema=Ticket, send_schema=True)

    def triage(messages: Any, response_format: Any = None) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, response_format=response_format, stream=True
        )

    partials = list(guard.stream(triage, MESSAGES))
    assert states(partials) == STATES
    assert partials[-1].value == FINAL
    sent = requests[0].json
    assert sent["stream"] is True
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["strict"] is True


# -- stopping early ---------------------------------------------------------------------


def test_breaking_out_writes_the_records_with_what_was_read() -> None:
    """``break`` closes the SDK stream; the records hold the text read so far."""
    client, _ = openai_client([chat_chunks(PIECES)])
    guard = lg.guard(schema=Ticket)
    opened: list[Any] = []

    def triage(messages: Any) -> Any:
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
        opened.append(stream)
        return stream

    with capture() as records:
        for partial in guard.stream(triage, MESSAGES):
            assert partial.value.summary == "Card"
            break
    assert opened[0].response.is_closed
    (llm,) = by_kind(records, "llm")
    (attempt,) = by_kind(records, "attempt")
    assert attempt.output == '{"summary": "Card'
    assert (attempt.status, attempt.error_type) == ("error", "GeneratorExit")
    assert attempt.error_message
    assert "stopped reading" in attempt.error_message
    assert (llm.status, llm.stream) == ("error", StreamInfo(items=2, end="closed"))


def test_a_dropped_partial_stream_writes_its_records() -> None:
    """A partial stream garbage collected halfway still writes its records."""
    guard = lg.guard(schema=Ticket)
    with capture() as records:
        partials = iter(guard.stream(lambda messages: iter(PIECES), MESSAGES))
        next(partials)
        del partials
        gc.collect()
    assert [r.kind for r in records] == ["attempt", "llm"]
    assert records[0].output == PIECES[0]


async def test_async_aclose_and_cancellation_write_the_records() -> None:
    """``aclose()`` mid-stream and a cancelled task both end the records."""
    client, _ = async_openai_client([chat_chunks(PIECES)])
    guard = lg.guard(schema=Ticket)

    async def triage(messages: Any) -> Any:
        return await client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True
        )

    with capture() as records:
        stream = guard.stream(triage, MESSAGES)
        async for _ in stream:
            break
        await stream.aclose()
    assert [(r.kind, r.status) for r in records] == [("attempt", "error"), ("llm", "error")]

    gate = asyncio.Event()

    async def slow(messages: Any) -> AsyncIterator[str]:
        yield '{"summary": "Ca'
        await gate.wait()
        yield 'rd"}'

    async def read_all() -> None:
        async for _ in guard.stream(slow, MESSAGES):
            pass

    with capture() as cancelled:
        task = asyncio.ensure_future(read_all())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [(r.kind, r.error_type) for r in cancelled] == [
        ("attempt", "asyncio.exceptions.CancelledError"),
        ("llm", "asyncio.exceptions.CancelledError"),
    ]
    assert cancelled[1].stream == StreamInfo(items=1, end="cancelled")


# -- lists: item by item ----------------------------------------------------------------


def test_list_items_are_yielded_one_by_one_each_validated() -> None:
    """``list[Item]``: each item is handed over, validated, once the next one has begun
    (the last one when the stream ends)."""
    answer = (
        '[{"name": "apples", "qty": 3}, {"name": "pears", "qty": 2}, {"name": "kiwi", "qty": 1}]'
    )
    pieces = [answer[i : i + 9] for i in range(0, len(answer), 9)]
    guard = lg.guard(schema=list[Item])
    partials = list(guard.stream(lambda messages: iter(pieces), MESSAGES))
    items = [p.item for p in partials if not p.final]
    expected = [Item(name="apples", qty=3), Item(name="pears", qty=2), Item(name="kiwi", qty=1)]
    assert items == expected
    assert all(isinstance(item, Item) for item in items)
    # The items so far are one list, grown in place: no copy per item.
    assert partials[0].value is partials[1].value is partials[2].value
    assert partials[-1].final
    assert partials[-1].value == expected


def test_an_invalid_item_stops_the_items_and_the_end_is_reasked() -> None:
    """An item failing validation is never handed over; the whole answer is re-asked."""
    bad = '[{"name": "apples", "qty": 0}, {"name": "pears", "qty": 2}]'
    good = '[{"name": "apples", "qty": 1}, {"name": "pears", "qty": 2}]'
    answers = iter([bad, good])
    guard = lg.guard(schema=list[Item], retries=1)

    def items(messages: Any) -> Iterator[str]:
        text = next(answers)
        return iter([text[i : i + 5] for i in range(0, len(text), 5)])

    partials = list(guard.stream(items, MESSAGES))
    assert [p.item for p in partials if p.attempt == 1] == []
    assert [(p.item, p.reset) for p in partials if p.attempt == 2 and not p.final] == [
        (Item(name="apples", qty=1), True),
        (Item(name="pears", qty=2), False),
    ]
    assert partials[-1].value == [Item(name="apples", qty=1), Item(name="pears", qty=2)]


def parallel_tool_chunks(calls: list[list[str]]) -> list[dict[str, Any]]:
    """Chat Completions chunks of parallel tool calls, one after the other, in pieces."""
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": None}]
    for index, pieces in enumerate(calls):
        start = {"index": index, "id": f"call_{index}", "type": "function"}
        start["function"] = {"name": "Item", "arguments": ""}
        deltas.append({"tool_calls": [start]})
        deltas += [{"tool_calls": [{"index": index, "function": {"arguments": p}}]} for p in pieces]
    chunks = [
        {**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas
    ]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    return chunks


def test_parallel_tool_calls_are_list_items_handed_over_as_each_completes() -> None:
    """``list[Item]`` answered with three tool calls: one item per call, in order."""
    calls = [
        ['{"name": "app', 'les", "qty": 3}'],
        ['{"name": "pears",', ' "qty": 2}'],
        ['{"na', 'me": "kiwi", "qty": 1}'],
    ]
    client, _ = openai_client([parallel_tool_chunks(calls)])
    guard = lg.guard(schema=list[Item])

    def order(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    partials = list(guard.stream(order, MESSAGES))
    expected = [Item(name="apples", qty=3), Item(name="pears", qty=2), Item(name="kiwi", qty=1)]
    assert [p.item for p in partials if not p.final] == expected
    assert partials[-1].value == expected


def test_a_wrapped_list_is_read_inside_its_wrapper() -> None:
    """``{"response": [...]}`` (pydantic-ai's convention): the items inside, one by one."""
    answer = '{"response": [{"name": "apples", "qty": 3}, {"name": "pears", "qty": 2}]}'
    pieces = [answer[i : i + 6] for i in range(0, len(answer), 6)]
    partials = list(lg.guard(schema=list[Item]).stream(lambda messages: iter(pieces), MESSAGES))
    expected = [Item(name="apples", qty=3), Item(name="pears", qty=2)]
    assert [p.item for p in partials if not p.final] == expected
    assert partials[-1].value == expected


def test_under_strict_an_item_that_needs_coercion_is_not_handed_over() -> None:
    """``strict=True``: an item whose quantity is the string "2" is held back, like the end."""
    answer = '[{"name": "apples", "qty": 1}, {"name": "pears", "qty": "2"}, {"name": "kiwi"'
    pieces = [answer[i : i + 6] for i in range(0, len(answer), 6)]
    guard = lg.guard(schema=list[Item], strict=True, retries=0, on_fail="return")
    partials = list(guard.stream(lambda messages: iter(pieces), MESSAGES))
    assert [p.item for p in partials if not p.final] == [Item(name="apples", qty=1)]
    assert isinstance(partials[-1].value, lg.Failure)


# -- misuse -----------------------------------------------------------------------------


def test_misuse_is_a_configuration_error() -> None:
    """No schema, ``for`` over an async function, or nothing to re-ask with: clear errors."""
    with pytest.raises(ConfigurationError, match="schema"):
        lg.guard().stream(lambda messages: iter([]), MESSAGES)

    async def answer(messages: Any) -> str:
        return "{}"

    with pytest.raises(ConfigurationError, match="async for"):
        iter(lg.guard(schema=Ticket).stream(answer, MESSAGES))  # type: ignore[call-overload]
    with pytest.raises(ConfigurationError, match="messages"):
        lg.guard(schema=Ticket).stream(lambda text: iter([]), "x")


# -- attacks and properties -------------------------------------------------------------


def test_a_megabyte_stream_is_read_in_linear_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 MB in 10,000 chunks: the bytes re-read stay a small multiple of the answer."""
    parsed = [0]
    real = jiter.from_json

    def counting(data: bytes, **options: Any) -> Any:
        parsed[0] += len(data)
        return real(data, **options)

    monkeypatch.setattr(jiter, "from_json", counting)
    summary = "x" * 1_000_000
    answer = json.dumps({"summary": summary, "category": "bug", "urgency": 2})
    pieces = [answer[i : i + 100] for i in range(0, len(answer), 100)]
    partials = list(lg.guard(schema=Ticket).stream(lambda messages: iter(pieces), MESSAGES))
    assert partials[-1].value.summary == summary
    # Re-reading at every chunk would parse ~5,000 times the answer.
    assert parsed[0] < 40 * len(answer)
    assert 20 < len(partials) < 200


def test_a_megabyte_list_hands_over_every_item_once() -> None:
    """20,000 items streamed in 100-byte chunks: each item validated and handed over once."""
    items = [{"name": f"item {n}", "qty": n + 1} for n in range(20_000)]
    answer = json.dumps(items)
    pieces = [answer[i : i + 100] for i in range(0, len(answer), 100)]
    partials = list(lg.guard(schema=list[Item]).stream(lambda messages: iter(pieces), MESSAGES))
    handed = [p.item for p in partials if not p.final]
    assert [i.qty for i in handed] == list(range(1, len(items) + 1))
    assert len(partials[-1].value) == len(items)


@pytest.mark.parametrize(
    ("schema", "answer"),
    [
        (list[Item], "[" * 1_000_000),  # nested past any parser's depth
        (Ticket, '{"summary": ' * 80_000),  # objects opened and never closed
        (Ticket, "no JSON here, only prose. " * 40_000),  # nothing to read
        (list[Item], '[{"name": "x", "qty": 1},' + "1," * 500_000),  # items that fail
    ],
    ids=["deep", "unclosed", "prose", "bad-items"],
)
def test_hostile_megabyte_streams_end_in_documented_errors_in_linear_work(
    schema: Any, answer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1 MB of hostile text in 10,000 chunks: bounded re-reading, then SchemaViolation."""
    parsed = [0]
    real = jiter.from_json

    def counting(data: bytes, **options: Any) -> Any:
        parsed[0] += len(data)
        return real(data, **options)

    monkeypatch.setattr(jiter, "from_json", counting)
    pieces = [answer[i : i + 100] for i in range(0, len(answer), 100)]
    guard = lg.guard(schema=schema, retries=0)
    with pytest.raises(SchemaViolation):
        for _ in guard.stream(lambda messages: iter(pieces), MESSAGES):
            pass
    assert parsed[0] < 40 * len(answer)


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points) if b > a]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    summary=st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    urgency=st.integers(1, 5),
    cuts=st.lists(st.integers(0, 400), max_size=30),
)
def test_any_chunking_of_a_valid_answer_gives_the_same_final_value(
    summary: str, urgency: int, cuts: list[int]
) -> None:
    """Whatever the chunk boundaries (mid-escape, mid-character), the final value is the same."""
    value = Ticket(summary=summary, category="bug", urgency=urgency)
    answer = json.dumps(value.model_dump())
    partials = list(
        lg.guard(schema=Ticket).stream(lambda messages: iter(chunked(answer, cuts)), MESSAGES)
    )
    assert partials[-1] == Partial(value, final=True, attempt=1)
    for partial in partials[:-1]:
        assert not partial.final
        shown = partial.value.summary
        assert shown is None or summary.startswith(shown) or "\\" in answer


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(st.text(max_size=30), max_size=12))
def test_any_model_output_raises_only_documented_errors(pieces: list[str]) -> None:
    """Arbitrary text pieces, lone surrogates included: partials, or SchemaViolation."""
    guard = lg.guard(schema=list[Item] if len(pieces) % 2 else Ticket, retries=0)
    try:
        for partial in guard.stream(lambda messages: iter(pieces), MESSAGES):
            assert isinstance(partial, Partial)
    except SchemaViolation:
        pass
