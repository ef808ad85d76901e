"""A hostile model and a hostile provider against the guard: answers built to make lenient
extraction backtrack, usage that is not a count, a new model name in every response."""

from __future__ import annotations

import contextlib
import logging
import math
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard._guard.schema import CompiledSchema, compile_schema, extract
from llmguard.sinks import MemorySink
from tests._helpers.reliability import cpu_seconds, soup_times
from tests._helpers.schemas import NESTED_JSON_SCHEMA, TICKET, Ticket
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_events,
    anthropic_message,
    chat_chunks,
    chat_completion,
    openai_client,
)

# -- lenient extraction is linear in the answer's size ------------------------------------

MB = 1_000_000

# Each answer is about 10 MB; the first three are the reproductions, which took
# 133 s (at 4,000 spaces), 12.5 s (at 40,000 characters) and 13.4 s.
HOSTILE_ANSWERS: dict[str, Callable[[], str]] = {
    "fence then spaces": lambda: "```" + " " * (10 * MB),
    "fence, info string, then letters": lambda: "```json" + "a" * (10 * MB),
    "50 unclosed brackets then numbers": lambda: "[" * 50 + "1," * (5 * MB),
    "50 unclosed brackets then spaces": lambda: "[" * 50 + " " * (10 * MB),
    "50 unclosed brackets then an unclosed string": lambda: "[" * 50 + '"' + "a" * (10 * MB),
    "unclosed objects between prose": lambda: 'see {"a": [1, 2, ' * (MB // 2),
    "fence floods": lambda: "```json\n{" * (MB + MB // 4),
    "a flood of small distinct fences": lambda: "".join(f"```{i}```" for i in range(MB)),
    "a digit flood in a bracket flood": lambda: "[" * 50 + "1" * (10 * MB),
    "brackets only": lambda: "[" * (10 * MB),
    "quotes and backslashes": lambda: '["\\' * (3 * MB),
}


@pytest.mark.parametrize("build", HOSTILE_ANSWERS.values(), ids=HOSTILE_ANSWERS.keys())
def test_a_ten_megabyte_hostile_answer_is_judged_in_under_a_second(
    build: Callable[[], str],
) -> None:
    """Inside @lg.guard(schema=...), a 10 MB answer built to backtrack is judged in < 1 s."""
    answer = build()

    @lg.guard(schema=Ticket, retries=0, on_fail="return")
    def triage(prompt: str) -> str:
        return answer

    results: list[object] = []
    seconds = cpu_seconds(lambda: results.append(triage("classify")))
    assert not results[0]  # a Failure: no ticket in there
    assert seconds < 1.0, f"{len(answer):,} characters took {seconds:.2f} s"


FRAGMENTS = ["```", "```json", "```json\n", "{", "}", "[", "]", '"', "\\", "\\u", ":", ","]
FRAGMENTS += [" ", "\n", "a", "1", "-", "1e", "true", "nul", '"urgency"', '{"a": ', "[1, "]
SOUP_SCHEMAS = [TICKET, compile_schema(str), compile_schema(list[int])]
SOUP_SCHEMAS += [compile_schema(NESTED_JSON_SCHEMA)]
SMALL = 64 * 1024


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    head=st.lists(st.sampled_from(FRAGMENTS), max_size=20),
    unit=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8),
    schema=st.sampled_from(SOUP_SCHEMAS),
)
def test_extraction_time_grows_linearly_on_fence_bracket_and_quote_soups(
    head: list[str], unit: list[str], schema: CompiledSchema
) -> None:
    """Four times the soup takes at most about four times as long (10x allowed for noise)."""
    small, large = soup_times(head, unit, schema, SMALL)
    assert large <= 10 * small + 0.005, f"{small * 1000:.1f} ms, then {large * 1000:.1f} ms"


def test_the_embedded_stage_still_finds_a_value_after_failed_starts() -> None:
    """Skipping what a failed start read keeps finding the values that follow it."""
    good = '{"category": "bug", "urgency": 3}'
    for text in (f'Use [x or "y". {good}', f'{{"a" {good}', f"[1, 2 {good}", f"[{good}"):
        found = extract(text, TICKET)
        assert (found.ok, found.repair) == (True, "embedded"), text


# -- usage that is not a count never raises, and is reported -------------------------------

GARBAGE_COUNTS = [-5, -(10**30), 10**30, 3.5, math.nan, math.inf, "5", True, [1]]
MESSAGES = [{"role": "user", "content": "Classify: it broke."}]
UNUSABLE = "a response reported token usage that is not a count; it is recorded as unknown"


def _openai(prompt_tokens: object) -> dict[str, Any]:
    body = chat_completion("ok", usage=(10, 5))
    body["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": 5}
    return body


def _anthropic(input_tokens: object) -> dict[str, Any]:
    body = anthropic_message("ok", usage=(10, 5))
    body["usage"]["input_tokens"] = input_tokens
    return body


def _guarded_call(response: object, budgeted: bool) -> object:
    @lg.guard(model="gpt-4o-mini")
    def ask(messages: list[dict[str, str]]) -> object:
        return response

    with lg.budget(max_tokens=100_000) if budgeted else contextlib.nullcontext():
        return ask(MESSAGES)


def _reported(memory: MemorySink) -> list[lg.Record]:
    assert lg.flush(5)
    return memory.find(kind="internal")


@pytest.mark.parametrize("budgeted", [False, True], ids=["alone", "in a budget"])
@pytest.mark.parametrize("build", [_openai, _anthropic], ids=["openai", "anthropic"])
@pytest.mark.parametrize("count", GARBAGE_COUNTS, ids=repr)
def test_a_count_that_is_not_a_count_is_unknown_usage_and_reported(
    count: object, build: Callable[[object], dict[str, Any]], budgeted: bool
) -> None:
    """A garbage input count never raises: the response is returned, the count unknown, reported."""
    memory = MemorySink()
    lg.configure(sinks=[memory])
    response = build(count)
    assert _guarded_call(response, budgeted) is response
    internal = _reported(memory)
    (llm,) = memory.find(kind="llm")
    assert llm.usage is not None
    assert (llm.usage.input, llm.usage.output) == (None, 5)
    assert [(r.name, r.error_type) for r in internal] == [(UNUSABLE, "ValueError")]
    assert "_tokens" in (internal[0].error_message or "")


@pytest.mark.parametrize("budgeted", [False, True], ids=["alone", "in a budget"])
def test_garbage_usage_in_sdk_objects_and_streams_is_reported(budgeted: bool) -> None:
    """The real SDKs' objects and streams with a negative count: no exception, reported."""
    memory = MemorySink()
    lg.configure(sinks=[memory])
    openai_sdk, _ = openai_client(
        [chat_completion("ok", usage=(-5, 3)), chat_chunks(["o", "k"], usage=(7, -2))]
    )
    anthropic_sdk, _ = anthropic_client(
        [anthropic_message("ok", usage=(-5, 3)), anthropic_events(["ok"], usage=(-7, 2))]
    )

    @lg.guard
    def chat(messages: list[dict[str, str]], stream: bool = False) -> Any:
        options = {"stream_options": {"include_usage": True}} if stream else {}
        return openai_sdk.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=stream, **options
        )

    @lg.guard
    def claude(messages: list[dict[str, str]], stream: bool = False) -> Any:
        return anthropic_sdk.messages.create(
            model="claude-haiku-4-5", max_tokens=50, messages=messages, stream=stream
        )

    with lg.budget(max_tokens=100_000) if budgeted else contextlib.nullcontext():
        for ask in (chat, claude):
            ask(MESSAGES)
            list(ask(MESSAGES, stream=True))
    reported = _reported(memory)
    usages = [(r.usage.input, r.usage.output) for r in memory.find(kind="llm") if r.usage]
    assert usages == [(None, 3), (7, None), (None, 3), (None, 2)]
    assert [r.name for r in reported] == [UNUSABLE]  # one warning a minute, not one a call


# -- a new model name in every response: bounded memory, bounded warnings -------------------


def test_a_new_model_name_in_every_response_keeps_memory_and_warnings_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """4,000 more unknown models: memory stays flat, and only the first ones are named.

    The first 1,100 fill the caches (1,024 entries); kept per model after that, even a
    cache entry of its name alone would take 400 KB more.
    """
    usage = lg.Usage(input=10, output=5)
    # The price database is read before tracing: parsing its megabytes of JSON with every
    # allocation traced took most of this test's time, and none of it is what is measured.
    lg.pricing.cost(usage, "gpt-4o")
    tracemalloc.start()
    try:
        with caplog.at_level(logging.WARNING, logger="llmguard"):
            for i in range(1_100):
                lg.pricing.cost(usage, f"fine-tune-{i:06d}")
            settled = tracemalloc.get_traced_memory()[0]
            for i in range(1_100, 5_100):
                lg.pricing.cost(usage, f"fine-tune-{i:06d}")
            grown = tracemalloc.get_traced_memory()[0] - settled
    finally:
        tracemalloc.stop()
    warnings = [r.getMessage() for r in caplog.records if r.name == "llmguard"]
    assert grown < 100_000, f"{grown:,} bytes more after 4,000 more models"
    assert len(warnings) <= 110
    assert "1000 more calls" in warnings[-1]  # 5,000 unnamed: every power of ten told


def test_a_huge_model_name_is_not_kept_or_logged_whole(caplog: pytest.LogCaptureFixture) -> None:
    """Model names of a megabyte each are neither cached nor written whole to the log."""
    usage = lg.Usage(input=10, output=5)
    tracemalloc.start()
    try:
        with caplog.at_level(logging.WARNING, logger="llmguard"):
            for i in range(50):
                lg.pricing.cost(usage, f"{i}-" + "m" * MB)
            kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert kept < 5 * MB
    assert all(len(r.getMessage()) < 1_000 for r in caplog.records)
