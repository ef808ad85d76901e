"""Cache writes billed, and the price entry behind every cost.

A prompt-cache write is read from the provider's response (Anthropic's
``cache_creation_input_tokens``, OpenAI's ``cache_write_tokens``) into
``Usage.cache_write``, summed across attempts, written with the record, exported to
OpenTelemetry, and charged at the database's cache-write price (1.25 times the input
price for Anthropic's five-minute writes). Every priced record names the entry its
cost came from (``price_source``) beside the database version (``price_table``).

Provider calls go through the real SDKs on a mock transport.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import genai_prices
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard import pricing
from llmguard._core.records import Record, sum_usage
from llmguard._core.reply import MAX_TOKENS
from llmguard.adapters import Reply, adapt, register
from llmguard.adapters._providers import _HOLDS_CACHE_WRITES
from llmguard.sinks import SQLiteSink, SQLiteStore
from llmguard.sinks._otel import attributes
from llmguard.testing import capture
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_events,
    anthropic_message,
    chat_completion,
    openai_client,
    responses_response,
)

MILLION = 1_000_000
MESSAGES = [{"role": "user", "content": "Summarize the manual."}]
SONNET = "claude-sonnet-4-5"  # $3 input, $3.75 cache write, $0.30 cache read, $15 output


@pytest.fixture(autouse=True)
def _fresh_prices(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("LLMGUARD_PRICES_FILE", str(tmp_path / "none.json"))
    pricing.reload()
    pricing.reset()
    yield
    pricing.reset()


def database_cost(model: str, **tokens: int) -> float:
    """What genai-prices itself charges (its counts: input_tokens include cache reads
    and writes, as llmguard's do)."""
    usage = genai_prices.Usage(**tokens)  # type: ignore[arg-type]
    return float(genai_prices.calc_price(usage, model).total_price)


def llm_record(records: list[Record]) -> Record:
    return next(r for r in records if r.kind == "llm")


# -- Anthropic: messages, streams, dicts ----------------------------------------------------


def sonnet_ask(answers: list[Any]) -> tuple[Any, list[Any]]:
    client, sent = anthropic_client(answers)

    @lg.guard(model=SONNET)
    def ask(messages: Any, stream: bool = False) -> Any:
        return client.messages.create(
            model=SONNET, messages=messages, max_tokens=200, stream=stream
        )

    return ask, sent


def test_an_anthropic_cache_write_is_read_and_billed_at_its_price() -> None:
    """12 fresh + 4,000 written + 0 read input tokens, 100 out: the write costs $3.75/M."""
    body = anthropic_message("ok", usage=(12, 100), cache_read=0, cache_write=4000, model=SONNET)
    ask, sent = sonnet_ask([body])
    with capture() as records:
        ask(MESSAGES)
    assert len(sent) == 1
    llm = llm_record(records)
    assert llm.usage == lg.Usage(
        input=4012, output=100, cached_input=0, cache_write=4000, total=4112
    )
    expected = (12 * 3.0 + 4000 * 3.75 + 100 * 15.0) / MILLION
    assert llm.cost_usd == pytest.approx(expected, rel=1e-12)
    assert llm.cost_usd == pytest.approx(
        database_cost(SONNET, input_tokens=4012, cache_write_tokens=4000, output_tokens=100),
        rel=1e-12,
    )
    # Without the write counted apart the same call would cost less: the write is billed.
    assert llm.cost_usd > (4012 * 3.0 + 100 * 15.0) / MILLION
    attempt = next(r for r in records if r.kind == "attempt")
    assert attempt.usage is not None
    assert attempt.usage.cache_write == 4000
    assert attempt.cost_usd == llm.cost_usd


def test_a_cache_write_in_a_streams_message_start_is_read() -> None:
    """Anthropic streams give the cache counts in message_start; message_delta's output
    count does not erase them."""
    events = anthropic_events(["o", "k"], usage=(12, 100), model=SONNET)
    events[0]["message"]["usage"].update(
        cache_creation_input_tokens=4000, cache_read_input_tokens=2000
    )
    ask, _ = sonnet_ask([events])
    with capture() as records:
        for _ in ask(MESSAGES, stream=True):
            pass
    llm = llm_record(records)
    assert llm.usage is not None
    assert (llm.usage.input, llm.usage.cache_write, llm.usage.cached_input) == (6012, 4000, 2000)
    assert llm.usage.output == 100
    expected = (12 * 3.0 + 4000 * 3.75 + 2000 * 0.3 + 100 * 15.0) / MILLION
    assert llm.cost_usd == pytest.approx(expected, rel=1e-12)


def test_a_message_as_a_dict_gives_the_same_usage() -> None:
    """model_dump() output reads as the SDK object does."""
    body = anthropic_message("ok", usage=(12, 100), cache_read=0, cache_write=4000, model=SONNET)
    as_dict = adapt(body)
    client, _ = anthropic_client([body])
    as_object = adapt(client.messages.create(model=SONNET, messages=MESSAGES, max_tokens=9))
    assert as_dict is not None
    assert as_object is not None
    assert as_dict.usage == as_object.usage
    assert as_dict.usage is not None
    assert as_dict.usage.cache_write == 4000


@settings(max_examples=200, deadline=None)
@given(
    written=st.none()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.booleans()
)
def test_any_cache_write_value_is_a_count_or_unknown(written: object) -> None:
    """Whatever a server sends as cache_creation_input_tokens, reading never raises: a
    count is kept, anything else leaves the write and the whole input unknown and is
    named among the reply's problems."""
    body = anthropic_message("ok", usage=(12, 100), cache_write=0)
    body["usage"]["cache_creation_input_tokens"] = written
    reply = adapt(body)
    assert reply is not None
    assert reply.usage is not None
    usage = reply.usage
    is_count = (
        isinstance(written, int) and not isinstance(written, bool) and 0 <= written <= MAX_TOKENS
    ) or (isinstance(written, float) and written.is_integer() and 0 <= written <= MAX_TOKENS)
    if written is None:
        assert (usage.cache_write, usage.input) == (None, 12)
    elif is_count:
        assert usage.cache_write == int(written)  # type: ignore[call-overload]
        assert usage.input == 12 + usage.cache_write
    else:
        assert usage.cache_write is None
        assert usage.input is None
        assert any("cache_creation_input_tokens" in p for p in reply.problems)
    assert pricing.cost(usage, SONNET) is None or usage.input is not None


# -- OpenAI: cache_write_tokens in Chat and Responses ------------------------------------------


def test_openai_chat_cache_write_tokens_are_read_and_inside_input() -> None:
    """Chat Completions' prompt_tokens_details.cache_write_tokens is a part of
    prompt_tokens; gpt-4o has no cache-write price, so the write costs input."""
    body = chat_completion("ok", usage=(5000, 50), cached=1000, model="gpt-4o")
    body["usage"]["prompt_tokens_details"]["cache_write_tokens"] = 3000
    client, _ = openai_client([body])

    @lg.guard(model="gpt-4o")
    def ask(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o", messages=messages)

    with capture() as records:
        ask(MESSAGES)
    llm = llm_record(records)
    assert llm.usage is not None
    assert (llm.usage.input, llm.usage.cached_input, llm.usage.cache_write) == (5000, 1000, 3000)
    expected = (4000 * 2.5 + 1000 * 1.25 + 50 * 10.0) / MILLION
    assert llm.cost_usd == pytest.approx(expected, rel=1e-12)


def test_openai_responses_cache_write_tokens_are_read() -> None:
    body = responses_response([], usage=(5000, 50), cached=1000)
    body["usage"]["input_tokens_details"]["cache_write_tokens"] = 3000
    client, _ = openai_client([body])
    reply = adapt(client.responses.create(model="gpt-4o-mini", input="hi"))
    assert reply is not None
    assert reply.usage is not None
    assert (reply.usage.cached_input, reply.usage.cache_write) == (1000, 3000)


def test_openai_chat_without_the_field_leaves_the_write_unknown() -> None:
    client, _ = openai_client([chat_completion("ok", usage=(10, 5))])
    reply = adapt(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))
    assert reply is not None
    assert reply.usage is not None
    assert reply.usage.cache_write is None


# -- carried through: attempts, JSON, SQLite, OpenTelemetry -------------------------------------


def test_writes_of_several_attempts_add_up() -> None:
    """A re-asked call writes the cache on its first attempt and reads it on the second:
    the call's usage and cost hold both."""

    class Answer(pydantic.BaseModel):
        value: int

    first = anthropic_message("not json", usage=(12, 10), cache_write=4000, model=SONNET)
    second = anthropic_message(
        '{"value": 1}', usage=(30, 10), cache_read=4000, cache_write=0, model=SONNET
    )
    client, sent = anthropic_client([first, second])

    @lg.guard(model=SONNET, schema=Answer, retries=1)
    def ask(messages: Any) -> Any:
        return client.messages.create(model=SONNET, messages=messages, max_tokens=50)

    with capture() as records:
        assert ask(MESSAGES) == Answer(value=1)
    assert len(sent) == 2
    llm = llm_record(records)
    assert llm.usage is not None
    assert (llm.usage.cache_write, llm.usage.cached_input) == (4000, 4000)
    expected = (12 * 3.0 + 4000 * 3.75 + 10 * 15.0) + (30 * 3.0 + 4000 * 0.3 + 10 * 15.0)
    assert llm.cost_usd == pytest.approx(expected / MILLION, rel=1e-12)
    assert sum_usage(lg.Usage(cache_write=None), lg.Usage(input=3)) == lg.Usage(input=3)


def priced_record() -> Record:
    body = anthropic_message("ok", usage=(12, 100), cache_read=0, cache_write=4000, model=SONNET)
    ask, _ = sonnet_ask([body])
    with capture() as records:
        ask(MESSAGES)
    return llm_record(records)


def test_the_json_form_keeps_the_write_and_the_source(tmp_path: Path) -> None:
    record = priced_record()
    written = json.loads(record.to_json())
    assert written["usage"]["cache_write"] == 4000
    assert written["price_source"] == f"{pricing.VERSION}: anthropic/{SONNET}"
    assert written["price_table"] == pricing.VERSION
    back = Record.from_json(record.to_json())
    assert back.usage == record.usage
    assert back.price_source == record.price_source
    # A line written before these fields existed still reads, without them.
    old = {k: v for k, v in written.items() if k != "price_source"}
    del old["usage"]["cache_write"]
    read = Record.from_dict(old)
    assert read.price_source is None
    assert read.usage is not None
    assert read.usage.cache_write is None
    with pytest.raises(TypeError):
        Record.from_dict({**written, "usage": {**written["usage"], "cache_write": True}})
    with pytest.raises(TypeError):
        Record.from_dict({**written, "price_source": 7})


def test_a_sqlite_store_gives_the_write_and_the_source_back(tmp_path: Path) -> None:
    record = priced_record()
    sink = SQLiteSink(tmp_path / "llmguard.db")
    sink.emit([record])
    sink.close()
    with SQLiteStore(tmp_path / "llmguard.db") as store:
        (read,) = list(store.records(kind="llm"))
    assert read.usage is not None
    assert read.usage.cache_write == 4000
    assert read.price_source == record.price_source


def test_opentelemetry_gets_the_write_and_the_source() -> None:
    found = attributes(priced_record())
    assert found["gen_ai.usage.cache_creation.input_tokens"] == 4000
    assert found["gen_ai.usage.input_tokens"] == 4012  # the write is inside input, as asked
    assert found["llmguard.price_source"] == f"{pricing.VERSION}: anthropic/{SONNET}"


# -- the price source on every priced record ----------------------------------------------------


def test_every_priced_record_names_its_price_entry() -> None:
    """A dated snapshot under a provider prefix names the database entry it matched."""
    model = "azure/gpt-4o-2024-05-13"
    client, _ = openai_client([chat_completion("hi", model=model, usage=(1000, 100))])

    @lg.guard(model=model)
    def ask(messages: Any) -> Any:
        return client.chat.completions.create(model=model, messages=messages)

    with capture() as records:
        ask(MESSAGES)
    assert {r.kind for r in records} == {"llm", "attempt"}
    for record in records:
        assert record.price_source == pricing.source(model)
        assert record.price_source is not None
        assert record.price_source.startswith(f"{pricing.VERSION}: ")
        assert record.price_table == pricing.VERSION
        assert record.cost_usd == pytest.approx((1000 * 5.0 + 100 * 15.0) / MILLION)


def test_an_override_is_named_as_the_source() -> None:
    lg.pricing.set_price(SONNET, input=1.0, output=2.0, cache_write=4.0)
    record = priced_record()
    assert record.price_source == "set_price"
    assert record.price_table is not None
    assert "+custom." in record.price_table
    assert record.cost_usd == pytest.approx((12 * 1.0 + 4000 * 4.0 + 100 * 2.0) / MILLION)


def test_an_unpriced_call_has_no_source(caplog: pytest.LogCaptureFixture) -> None:
    model = "house-model-7b"
    client, _ = openai_client([chat_completion("hi", model=model)])

    @lg.guard(model=model)
    def ask(messages: Any) -> Any:
        return client.chat.completions.create(model=model, messages=messages)

    with capture() as records:
        ask(MESSAGES)
    for record in records:
        assert (record.cost_usd, record.price_table, record.price_source) == (None, None, None)


def test_a_fallback_on_another_model_names_both_entries() -> None:
    """The call's record names each price entry its attempts used, in order."""

    class Answer(pydantic.BaseModel):
        value: int

    openai, _ = openai_client([chat_completion("not json", model="gpt-4o-mini")])
    claude, _ = anthropic_client([anthropic_message('{"value": 2}', model="claude-haiku-4-5")])

    def small(messages: Any) -> Any:
        return claude.messages.create(model="claude-haiku-4-5", messages=messages, max_tokens=50)

    @lg.guard(schema=Answer, retries=0, fallbacks=[small])
    def ask(messages: Any) -> Any:
        return openai.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        assert ask(MESSAGES) == Answer(value=2)
    llm = llm_record(records)
    assert llm.price_source == (
        f"{pricing.VERSION}: openai/gpt-4o-mini; {pricing.VERSION}: anthropic/claude-haiku-4-5"
    )
    attempts = [r.price_source for r in records if r.kind == "attempt"]
    assert attempts == [
        f"{pricing.VERSION}: openai/gpt-4o-mini",
        f"{pricing.VERSION}: anthropic/claude-haiku-4-5",
    ]


def test_the_source_is_the_entry_in_force_now() -> None:
    """A record made today names today's entry even for a model whose price changed."""
    source = pricing.source("mistral-medium-latest")
    assert source == pricing.source("mistral-medium-latest", at=datetime.now(timezone.utc))


def test_a_registered_adapters_bad_cache_write_is_made_unknown() -> None:
    """An adapter llmguard does not own may put anything in a Usage: a cache write that
    is not a count becomes unknown, is named among the problems, and the record stays
    one that readers accept."""

    class HouseResponse:
        pass

    def read(response: object) -> Reply:
        usage = lg.Usage(input=10, output=5, cache_write="4", total=15)  # type: ignore[arg-type]
        return Reply(text="ok", model=SONNET, usage=usage)

    unregister = register(lambda response: isinstance(response, HouseResponse), read)
    try:

        @lg.guard(model=SONNET)
        def ask() -> Any:
            return HouseResponse()

        with capture() as records:
            ask()
    finally:
        unregister()
    llm = llm_record(records)
    assert llm.usage == lg.Usage(input=10, output=5, total=15)
    assert any("cache_write" in problem for problem in llm.metadata["usage_problems"])
    assert Record.from_json(llm.to_json()).usage == llm.usage


def test_an_sdk_without_the_field_reads_as_before() -> None:
    """openai releases before 2.44 have no cache_write_tokens field: their usage reads
    with the write unknown, and llmguard stops probing that class for it."""

    class OldDetails(pydantic.BaseModel):  # the shape of such a release's details
        model_config = pydantic.ConfigDict(extra="allow")
        cached_tokens: int | None = None

    class OldUsage(pydantic.BaseModel):
        prompt_tokens: int
        completion_tokens: int
        total_tokens: int
        prompt_tokens_details: OldDetails | None = None

    class OldCompletion(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="allow")
        object: str = "chat.completion"
        model: str = "gpt-4o"
        choices: list[dict[str, Any]]
        usage: OldUsage

    usage = OldUsage(
        prompt_tokens=100, completion_tokens=5, total_tokens=105,
        prompt_tokens_details=OldDetails(cached_tokens=40),
    )  # fmt: skip
    choice = {"index": 0, "message": {"role": "assistant", "content": "hi"}}
    for _ in range(2):
        reply = adapt(OldCompletion(choices=[{**choice, "finish_reason": "stop"}], usage=usage))
        assert reply is not None
        assert reply.usage == lg.Usage(input=100, output=5, cached_input=40, total=105)
        assert reply.problems == ()
    assert _HOLDS_CACHE_WRITES[OldDetails] is False
