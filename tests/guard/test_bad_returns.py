"""Bad returns fail fast, and text no encoder takes never breaks a call (issue 16, item 6).

A guarded function that returns no answer at all raises `lg.BadReturn` at once, with no
paid re-ask; an answer holding lone surrogates is re-asked with U+FFFD in their place
through the real SDKs, and every record of the call reaches a file sink.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import llmguard as lg
from llmguard.testing import capture
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    chat_completion,
    http,
    openai_client,
)


class Item(BaseModel):
    value: int


MESSAGES: Any = [{"role": "user", "content": "Give the item."}]
CUT_EMOJI = "Here it is \ud83d"  # a stream cut between the two halves of an emoji


def escaped(body: dict[str, Any]) -> Any:
    """A 200 JSON response written as an API writes a lone surrogate: as a \\u escape."""
    content = json.dumps(body).encode()
    return http.Response(200, content=content, headers={"content-type": "application/json"})


def test_returning_none_raises_bad_return_at_once_and_records_the_call() -> None:
    """``None`` (a forgotten return): one call, no re-ask, no fallback; records written."""
    calls: list[Any] = []
    fallback_calls: list[Any] = []

    def fallback(messages: Any) -> str:
        fallback_calls.append(messages)
        return '{"value": 1}'

    @lg.guard(schema=Item, retries=2, fallbacks=[fallback])
    def forgetful(messages: Any) -> Any:
        calls.append(messages)

    with capture() as records, pytest.raises(lg.BadReturn) as raised:
        forgetful(MESSAGES)
    assert isinstance(raised.value, lg.ConfigurationError)
    assert raised.value.function.endswith("forgetful")
    assert raised.value.returned == "None"
    assert "forgetful returned None" in str(raised.value)
    assert (len(calls), fallback_calls) == (1, [])
    kinds = [(r.kind, r.status, r.error_type) for r in records]
    assert kinds == [
        ("attempt", "error", "llmguard.exceptions.BadReturn"),
        ("llm", "error", "llmguard.exceptions.BadReturn"),
    ]
    llm = records[-1]
    assert llm.attempt is not None
    assert (llm.attempt["count"], llm.attempt["outcome"]) == (1, "error")


def test_bad_return_is_raised_even_with_on_fail_return_or_retry_on() -> None:
    """A programming error is never turned into a Failure, nor retried as transient."""

    @lg.guard(schema=Item, on_fail="return", retry_on=(ValueError,), transient_retries=3)
    def forgetful(messages: Any) -> Any:
        return None

    with pytest.raises(lg.BadReturn):
        forgetful(MESSAGES)


def test_a_later_attempt_returning_none_stops_there() -> None:
    """A re-ask that returns None stops the call at that attempt; the earlier one counts."""
    answers: list[Any] = ['{"value": "x"}', None]

    @lg.guard(schema=Item, retries=3)
    def flaky(messages: Any) -> Any:
        return answers.pop(0)

    with capture() as records, pytest.raises(lg.BadReturn):
        flaky(MESSAGES)
    outcomes = [r.attempt["outcome"] for r in records if r.kind == "attempt" and r.attempt]
    assert outcomes == ["invalid", "error"]


def test_returning_another_guards_failure_is_a_bad_return() -> None:
    """An inner guard's ``Failure`` is no answer: raised, naming what it held."""

    @lg.guard(schema=Item, retries=0, on_fail="return")
    def inner(messages: Any) -> Any:
        return "no JSON here"

    @lg.guard(schema=Item, retries=2)
    def outer(messages: Any) -> Any:
        return inner(messages)

    with pytest.raises(lg.BadReturn, match=r"an lg\.Failure") as raised:
        outer(MESSAGES)
    assert raised.value.returned == "an lg.Failure"


def test_a_sync_function_returning_a_coroutine_is_a_bad_return() -> None:
    """A forgotten ``await``: raised at once, and the coroutine is closed (no warning)."""

    async def fetch() -> str:
        return '{"value": 1}'

    @lg.guard(schema=Item)
    def unawaited(messages: Any) -> Any:
        return fetch()

    with pytest.raises(lg.BadReturn, match="a coroutine"):
        unawaited(MESSAGES)


def test_an_async_function_returning_none_raises_too() -> None:
    """The async driver stops the same way."""

    @lg.guard(schema=Item, retries=2)
    async def forgetful(messages: Any) -> Any:
        return None

    with pytest.raises(lg.BadReturn):
        asyncio.run(forgetful(MESSAGES))


def test_without_a_schema_none_is_a_value_like_any_other() -> None:
    """No schema, no answer to judge: a function may return None as it always could."""

    @lg.guard
    def nothing(messages: Any) -> None:
        return None

    assert nothing(MESSAGES) is None


def test_inline_submit_of_none_is_a_bad_return() -> None:
    """The inline form judges what is submitted with the same rule."""
    guard = lg.guard(schema=Item, retries=2)
    submitted: list[int] = []

    def run_inline() -> None:
        for attempt in guard.attempts(MESSAGES):
            with attempt:
                submitted.append(len(submitted) + 1)
                attempt.submit(None)

    with pytest.raises(lg.BadReturn):
        run_inline()
    assert submitted == [1]


# -- lone surrogates ---------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    raw.decode("utf-8")  # strict: every byte written is UTF-8
    return [json.loads(line) for line in raw.splitlines()]


def test_openai_answer_with_a_lone_surrogate_is_reasked_and_recorded(tmp_path: Path) -> None:
    """The SDK is sent U+FFFD, never the surrogate; a JSONL sink gets all three records."""
    client, sent = openai_client(
        [escaped(chat_completion(CUT_EMOJI)), chat_completion('{"value": 1}')]
    )
    path = tmp_path / "records.jsonl"
    lg.configure(sinks=[lg.sinks.JSONLSink(path)])

    @lg.guard(schema=Item, retries=1)
    def item(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert item(MESSAGES) == Item(value=1)
    assert lg.flush(5).complete
    *_, assistant, correction = sent[1].json["messages"]
    assert assistant == {"role": "assistant", "content": "Here it is \ufffd"}
    assert correction["role"] == "user"
    lines = read_jsonl(path)
    assert sorted(line["kind"] for line in lines) == ["attempt", "attempt", "llm"]
    first = next(line for line in lines if line["name"] == "attempt 1")
    assert first["output"] == "Here it is \ufffd"
    assert lg.stats().internal_errors == 0


def test_anthropic_tool_input_with_a_lone_surrogate_is_reasked_cleanly() -> None:
    """A tool_use whose input holds a surrogate goes back with U+FFFD in it."""
    bad = {"type": "tool_use", "id": "toolu_1", "name": "Item", "input": {"value": "\udc00"}}
    good = {"type": "tool_use", "id": "toolu_2", "name": "Item", "input": {"value": 3}}
    client, sent = anthropic_client(
        [escaped(anthropic_message([bad], stop_reason="tool_use")), anthropic_message([good])]
    )

    @lg.guard(schema=Item, retries=1)
    def item(messages: Any) -> Any:
        return client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=messages)

    assert item(MESSAGES) == Item(value=3)
    _, assistant, _ = sent[1].json["messages"]
    assert assistant["content"][0]["input"] == {"value": "\ufffd"}


def test_a_prompt_reask_replaces_surrogates_too() -> None:
    """A function taking ``prompt`` is re-asked with the answer made encodable."""
    prompts: list[str] = []
    answers = [CUT_EMOJI, '{"value": 2}']

    @lg.guard(schema=Item, retries=1)
    def item(prompt: str) -> str:
        prompts.append(prompt)
        return answers.pop(0)

    assert item("Give the item.") == Item(value=2)
    prompts[1].encode("utf-8")
    assert "Here it is \ufffd" in prompts[1]


def test_json_with_a_surrogate_in_a_string_validates_with_u_fffd() -> None:
    """A JSON answer whose string was cut mid-emoji is valid JSON: the value gets U+FFFD."""

    class Note(BaseModel):
        text: str

    guarded = lg.guard(schema=Note)(lambda messages: '{"text": "hi \ud83d"}')
    assert guarded(MESSAGES) == Note(text="hi \ufffd")


def test_content_past_the_bound_with_surrogates_is_cut_and_recorded(tmp_path: Path) -> None:
    """Input and output over max_content_bytes, surrogates throughout: cut, digested, written."""
    path = tmp_path / "records.jsonl"
    lg.configure(sinks=[lg.sinks.JSONLSink(path)], max_content_bytes=10_000)
    answer = "\ud83d " + "jane@example.com " * 5_000 + "\udc00"

    @lg.guard(schema=Item, retries=0)
    def item(messages: Any) -> str:
        return answer

    with pytest.raises(lg.SchemaViolation):
        item([{"role": "user", "content": "hi \ud83d " * 5_000}])
    assert lg.flush(5).complete
    lines = read_jsonl(path)
    assert sorted(line["kind"] for line in lines) == ["attempt", "llm"]
    attempt = next(line for line in lines if line["kind"] == "attempt")
    assert attempt["output"].startswith("\ufffd [email]")
    assert set(attempt["truncated"]) == {"output"}
    llm = next(line for line in lines if line["kind"] == "llm")
    assert set(llm["truncated"]) == {"input"}
    assert lg.stats().internal_errors == 0
