"""Tests for a guarded call's token and cost caps, and for budgets charged by guarded calls.

Counts are exact: the real encoding files are made available offline from tests/data,
as in tests/spend/test_tokens.py. Requests that must reach a provider go through the real
``openai`` and ``anthropic`` SDK clients on a mock transport (tests/_helpers/sdk_mocks.py), so
the request body checked is the one the SDK would send.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

import llmguard as lg
from llmguard import Record, Usage
from llmguard._guard.limits import DEFAULT_OUTPUT_RESERVE
from llmguard.testing import FakeAPIError, FakeLLM, capture
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    chat_completion,
    openai_client,
    responses_response,
)

pytestmark = pytest.mark.usefixtures("tiktoken_files")
MODEL = "gpt-4o-mini"

SYSTEM_TURN = {"role": "system", "content": "You answer questions about the weather."}
LAST_TURN = {"role": "user", "content": "And will it rain in Oslo tomorrow?"}
# Any: the SDKs type messages as TypedDicts; these tests are about what the guard sends.
CHAT: Any = [
    SYSTEM_TURN,
    {"role": "user", "content": "What is the weather like in Paris today, in some detail?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 24 degrees, light wind."},
    {"role": "assistant", "content": "It is sunny and warm in Paris, 24 degrees."},
    LAST_TURN,
]


class Ticket(BaseModel):
    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)


GOOD = '{"category": "bug", "urgency": 4}'
BAD = '{"category": "bug", "urgency": "high"}'


def split(records: Sequence[Record]) -> tuple[Record, list[Record]]:
    """The one llm record of a guarded call, and its attempt records in order."""
    (llm,) = [r for r in records if r.kind == "llm"]
    return llm, [r for r in records if r.kind == "attempt"]


def limits_of(record: Record) -> dict[str, Any]:
    assert record.limits is not None
    return dict(record.limits)


def count(messages: Any, **options: Any) -> int:
    return int(lg.count_tokens(messages, model=MODEL, **options))


def fake_ask(llm: FakeLLM, **options: Any) -> Any:
    """A guarded function over ``llm`` that takes messages and forwards ``max_tokens``."""

    @lg.guard(model=MODEL, **options)
    def ask(messages: list[Any], max_tokens: int | None = None) -> Any:
        return llm(model=MODEL, messages=messages, max_tokens=max_tokens)

    return ask


def reported_total(response: Any) -> int:
    return int(response.usage.total_tokens)


# -- max_input_tokens ----------------------------------------------------------------------


def test_an_over_long_prompt_is_refused_before_the_model_is_called() -> None:
    """Over max_input_tokens: TokenLimitExceeded with its data, and no call is made."""
    llm = FakeLLM(["never sent"])
    ask = fake_ask(llm, max_input_tokens=20)
    with capture() as records, pytest.raises(lg.TokenLimitExceeded) as refused:
        ask(copy.deepcopy(CHAT))

    assert llm.calls == []
    error = refused.value
    assert (error.limit, error.maximum, error.used) == ("max_input_tokens", 20, count(CHAT))
    llm_record, attempts = split(records)
    assert error.name == llm_record.name
    assert error.trace_id == llm_record.trace_id
    assert llm_record.status == "limit"
    assert llm_record.error_type == "llmguard.exceptions.TokenLimitExceeded"
    assert limits_of(llm_record)["tripped"] == "max_input_tokens"
    assert limits_of(llm_record)["set"] == {"max_input_tokens": 20}
    assert [a.status for a in attempts] == ["limit"]


def test_a_prompt_string_is_counted_against_max_input_tokens() -> None:
    """A function taking ``prompt`` has its prompt counted and refused the same way."""
    llm = FakeLLM(["never sent"])

    @lg.guard(max_input_tokens=5)
    def complete(prompt: str) -> Any:
        return llm(prompt)

    text = "Write a long story about a lighthouse keeper and his cat."
    with pytest.raises(lg.TokenLimitExceeded) as refused:
        complete(text)
    assert llm.calls == []
    assert refused.value.used == lg.count_tokens(text, model=None)


def test_an_input_exactly_at_the_cap_is_sent() -> None:
    """max_input_tokens is inclusive: an input of exactly that many tokens goes out."""
    llm = FakeLLM(["Sunny."])
    ask = fake_ask(llm, max_input_tokens=count(CHAT))
    ask(CHAT)
    assert llm.calls[0]["messages"] == CHAT


def test_the_refusal_holds_nothing_in_an_open_budget() -> None:
    """A prompt refused for its length neither charges nor holds anything in a budget."""
    llm = FakeLLM(["never sent"])
    ask = fake_ask(llm, max_input_tokens=20, max_output_tokens=50)
    with lg.budget(max_tokens=10_000) as budget, pytest.raises(lg.TokenLimitExceeded):
        ask(CHAT)
    assert (budget.used, budget.reserved, budget.calls) == (0, 0, 0)


# -- on_input_overflow="truncate" ------------------------------------------------------------


def test_truncation_drops_the_oldest_turns_with_their_tool_results() -> None:
    """Oldest turns go first, a tool call with its result; system and last turn stay."""
    llm = FakeLLM(["Probably not."])
    kept = [SYSTEM_TURN, CHAT[4], LAST_TURN]
    ask = fake_ask(llm, max_input_tokens=count(kept), on_input_overflow="truncate")
    messages = copy.deepcopy(CHAT)
    with capture() as records:
        ask(messages)

    assert llm.calls[0]["messages"] == kept
    assert messages == CHAT
    llm_record, (attempt,) = split(records)
    assert limits_of(llm_record)["dropped_turns"] == 3
    assert "tripped" not in limits_of(llm_record)
    assert attempt.metadata["counted_input_tokens"] == count(kept)


def test_truncation_stops_as_soon_as_the_input_fits() -> None:
    """Only as many turns as needed are dropped: one turn is enough here."""
    llm = FakeLLM(["Probably not."])
    without_first = [SYSTEM_TURN, *CHAT[2:]]
    ask = fake_ask(llm, max_input_tokens=count(without_first), on_input_overflow="truncate")
    with capture() as records:
        ask(CHAT)
    assert llm.calls[0]["messages"] == without_first
    llm_record, _ = split(records)
    assert limits_of(llm_record)["dropped_turns"] == 1


def test_truncation_keeps_anthropic_tool_results_with_their_tool_use() -> None:
    """Anthropic shape: a dropped tool_use turn takes its tool_result turn with it."""
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny, 24 degrees."}
    messages: Any = [
        {"role": "user", "content": "What is the weather like in Paris today, in detail?"},
        {"role": "assistant", "content": [tool_use]},
        {"role": "user", "content": [result]},
        {"role": "assistant", "content": "It is sunny and warm in Paris, 24 degrees."},
        LAST_TURN,
    ]
    system = "You answer questions about the weather."
    kept = [messages[3], LAST_TURN]
    # Room for the tool result too: it goes only because its tool_use went.
    cap = int(lg.count_tokens(messages[2:], model=MODEL, system=system))
    client, sent = anthropic_client([anthropic_message("Probably not.")])

    @lg.guard(max_input_tokens=cap, on_input_overflow="truncate")
    def ask(messages: Any, system: str) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=100, system=system, messages=messages
        )

    before = copy.deepcopy(messages)
    ask(messages, system)
    assert sent[0].json["messages"] == kept
    assert sent[0].json["system"] == system
    assert messages == before


def test_truncation_never_orphans_the_tool_result_that_is_the_last_user_turn() -> None:
    """When the last user turn is a tool result, the tool call it answers stays too."""
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Rain, 9 degrees."}
    messages: Any = [
        {"role": "user", "content": "What is the weather like in Oslo tomorrow, in detail?"},
        {"role": "assistant", "content": [tool_use]},
        {"role": "user", "content": [result]},
    ]
    llm = FakeLLM(["never sent"])
    ask = fake_ask(llm, max_input_tokens=count(messages[1:]) - 1, on_input_overflow="truncate")
    with pytest.raises(lg.TokenLimitExceeded) as refused:
        ask(messages)
    assert llm.calls == []
    assert refused.value.used == count(messages[1:])

    llm = FakeLLM(["Rain."])
    ask = fake_ask(llm, max_input_tokens=count(messages[1:]), on_input_overflow="truncate")
    ask(messages)
    assert llm.calls[0]["messages"] == messages[1:]


def test_truncation_raises_when_the_system_prompt_and_last_turn_do_not_fit() -> None:
    """Truncation never drops what must stay: when even that is too long, it raises."""
    llm = FakeLLM(["never sent"])
    minimum = count([SYSTEM_TURN, LAST_TURN])
    ask = fake_ask(llm, max_input_tokens=minimum - 1, on_input_overflow="truncate")
    with capture() as records, pytest.raises(lg.TokenLimitExceeded) as refused:
        ask(CHAT)

    assert llm.calls == []
    assert (refused.value.used, refused.value.maximum) == (minimum, minimum - 1)
    llm_record, _ = split(records)
    assert llm_record.status == "limit"
    assert limits_of(llm_record)["tripped"] == "max_input_tokens"


def test_a_truncated_reask_keeps_the_callers_question() -> None:
    """A truncated re-ask keeps the caller's question and drops the failed answer."""
    long_answer = "It is sunny and warm in Paris today. " * 20
    messages: Any = [
        SYSTEM_TURN,
        {"role": "user", "content": "What is the weather like in Paris today?"},
        {"role": "assistant", "content": long_answer},
        LAST_TURN,
    ]
    unlimited = FakeLLM([BAD, GOOD])
    fake_ask(unlimited, schema=Ticket)(messages)
    *_, bad_answer, correction = unlimited.calls[1]["messages"]
    assert bad_answer == {"role": "assistant", "content": BAD}
    cap = count([SYSTEM_TURN, LAST_TURN, bad_answer, correction]) - 1

    llm = FakeLLM([BAD, GOOD])
    ask = fake_ask(llm, schema=Ticket, max_input_tokens=cap, on_input_overflow="truncate")
    with capture() as records:
        assert ask(messages) == Ticket(category="bug", urgency=4)

    assert [call["messages"] for call in llm.calls] == [
        [SYSTEM_TURN, LAST_TURN],
        [SYSTEM_TURN, LAST_TURN, correction],
    ]
    llm_record, attempts = split(records)
    assert [a.metadata["dropped_turns"] for a in attempts] == [2, 3]
    assert limits_of(llm_record)["dropped_turns"] == 3


def test_tools_and_a_system_prompt_in_blocks_are_counted() -> None:
    """The input counted is everything sent: messages, tool definitions, system blocks."""
    tools = [
        {
            "name": "weather",
            "description": "The weather forecast for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    system = [{"type": "text", "text": "You answer questions about the weather."}]
    client, _ = anthropic_client([anthropic_message("Rain.")])

    @lg.guard(model="claude-haiku-4-5", max_input_tokens=1_000)
    def ask(messages: Any, system: Any, tools: Any) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=100, system=system, messages=messages, tools=tools
        )

    with capture() as records:
        ask([LAST_TURN], system, tools)
    _, (attempt,) = split(records)
    counted = lg.count_tokens([LAST_TURN], model="claude-haiku-4-5", tools=tools, system=system)
    assert attempt.metadata["counted_input_tokens"] == counted
    assert counted > lg.count_tokens([LAST_TURN], model="claude-haiku-4-5") + 20


def test_a_prompt_string_cannot_be_truncated() -> None:
    """truncate mode drops turns; a prompt string over the cap still raises."""
    llm = FakeLLM(["never sent"])

    @lg.guard(max_input_tokens=3, on_input_overflow="truncate")
    def complete(prompt: str) -> Any:
        return llm(prompt)

    with pytest.raises(lg.TokenLimitExceeded):
        complete("A prompt of more than three tokens, for sure.")
    assert llm.calls == []


# -- max_output_tokens, through the real OpenAI and Anthropic SDKs ------------------------


def test_max_output_tokens_reaches_the_request_body_as_max_tokens() -> None:
    """A function taking ``max_tokens`` gets the cap, and the SDK sends it."""
    client, sent = openai_client([chat_completion("Sunny.")])

    @lg.guard(max_output_tokens=64)
    def ask(messages: Any, max_tokens: int | None = None) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages, max_tokens=max_tokens)

    ask([LAST_TURN])
    assert sent[0].json["max_tokens"] == 64
    assert "max_completion_tokens" not in sent[0].json


def test_max_output_tokens_reaches_the_request_body_as_max_completion_tokens() -> None:
    """A function taking ``max_completion_tokens`` gets the cap under that name."""
    client, sent = openai_client([chat_completion("Sunny.")])

    @lg.guard(max_output_tokens=64)
    def ask(messages: Any, max_completion_tokens: int | None = None) -> Any:
        return client.chat.completions.create(
            model="o4-mini", messages=messages, max_completion_tokens=max_completion_tokens
        )

    ask([LAST_TURN])
    assert sent[0].json["max_completion_tokens"] == 64
    assert "max_tokens" not in sent[0].json


@pytest.mark.parametrize(("given", "expected"), [(20, 20), (64, 64), (500, 64)])
def test_the_output_cap_only_ever_lowers_the_callers_value(given: int, expected: int) -> None:
    """A smaller value the caller passed is kept; a larger one is lowered to the cap."""
    client, sent = openai_client([chat_completion("Sunny.")])

    @lg.guard(max_output_tokens=64)
    def ask(messages: Any, max_tokens: int | None = None) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages, max_tokens=max_tokens)

    ask([LAST_TURN], max_tokens=given)
    assert sent[0].json["max_tokens"] == expected


def test_max_output_tokens_reaches_the_responses_api_as_max_output_tokens() -> None:
    """A Responses-style function taking ``max_output_tokens`` gets the cap."""
    output = [
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Sunny.", "annotations": []}],
        }
    ]
    client, sent = openai_client([responses_response(output)])

    @lg.guard(max_output_tokens=64)
    def ask(prompt: str, max_output_tokens: int | None = None) -> Any:
        return client.responses.create(
            model=MODEL, input=prompt, max_output_tokens=max_output_tokens
        )

    response = ask("Will it rain in Oslo?")
    assert response.output_text == "Sunny."
    assert sent[0].json["max_output_tokens"] == 64


def test_guarding_the_sdk_method_itself_caps_with_max_completion_tokens() -> None:
    """The SDK's create takes both names: max_completion_tokens, or the caller's choice."""
    client, sent = openai_client([chat_completion("Sunny."), chat_completion("Sunny.")])
    create = lg.guard(max_output_tokens=64)(client.chat.completions.create)

    create(model="o4-mini", messages=[LAST_TURN])
    create(model=MODEL, messages=[LAST_TURN], max_tokens=500)

    assert sent[0].json["max_completion_tokens"] == 64
    assert "max_tokens" not in sent[0].json
    assert sent[1].json["max_tokens"] == 64
    assert "max_completion_tokens" not in sent[1].json


def test_the_anthropic_max_tokens_argument_is_lowered_to_the_cap() -> None:
    """Anthropic's required ``max_tokens`` is lowered to the guard's cap."""
    client, sent = anthropic_client([anthropic_message("Sunny.")])

    @lg.guard(max_output_tokens=64)
    def ask(messages: Any, max_tokens: int = 1024) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=max_tokens, messages=messages
        )

    ask([LAST_TURN])
    assert sent[0].json["max_tokens"] == 64


def test_output_past_the_cap_is_recorded_as_tripped() -> None:
    """A provider that ignores the cap is caught after the call, on the record."""
    client, _ = openai_client([chat_completion("A long answer.", usage=(12, 300))])

    @lg.guard(max_output_tokens=64)
    def ask(messages: Any) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages)

    with capture() as records:
        ask([LAST_TURN])
    llm_record, _ = split(records)
    assert llm_record.status == "ok"
    assert limits_of(llm_record)["tripped"] == "max_output_tokens"
    assert limits_of(llm_record)["used"]["tokens"] == 312


# -- max_total_tokens and max_cost_usd across one call's retries ----------------------------


def test_a_corrective_retry_that_could_cross_max_total_tokens_is_not_made() -> None:
    """The re-ask's input plus its output cap would cross max_total_tokens: not sent."""
    client, sent = openai_client(
        [chat_completion(BAD, usage=(40, 20)), chat_completion(GOOD, usage=(60, 10))]
    )
    first = count([LAST_TURN]) + 50

    @lg.guard(schema=Ticket, retries=2, max_output_tokens=50, max_total_tokens=first + 60)
    def triage(messages: Any, max_tokens: int | None = None) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages, max_tokens=max_tokens)

    with capture() as records, pytest.raises(lg.TokenLimitExceeded) as refused:
        triage([LAST_TURN])

    assert len(sent) == 1
    error = refused.value
    assert (error.limit, error.maximum, error.used) == ("max_total_tokens", first + 60, 60)
    llm_record, attempts = split(records)
    # The refused re-ask: the question, the failed answer and the correction, plus its cap.
    question, answer, _correction = attempts[1].input
    assert (question, answer) == (LAST_TURN, {"role": "assistant", "content": BAD})
    assert error.requested == count(attempts[1].input) + 50
    assert llm_record.status == "limit"
    assert limits_of(llm_record)["tripped"] == "max_total_tokens"
    assert limits_of(llm_record)["used"]["tokens"] == 60
    assert [a.status for a in attempts] == ["error", "limit"]


def test_the_retry_is_made_when_it_fits_in_max_total_tokens() -> None:
    """With room for the re-ask, it is made, and the total counts both attempts."""
    client, sent = openai_client(
        [chat_completion(BAD, usage=(40, 20)), chat_completion(GOOD, usage=(60, 10))]
    )

    @lg.guard(schema=Ticket, max_output_tokens=50, max_total_tokens=1_000)
    def triage(messages: Any, max_tokens: int | None = None) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages, max_tokens=max_tokens)

    with capture() as records:
        assert triage([LAST_TURN]) == Ticket(category="bug", urgency=4)
    assert len(sent) == 2
    llm_record, _ = split(records)
    assert limits_of(llm_record)["used"]["tokens"] == 130
    assert "tripped" not in limits_of(llm_record)


def test_without_an_output_cap_an_attempt_reserves_the_default() -> None:
    """No output cap anywhere: an attempt is taken to use up to DEFAULT_OUTPUT_RESERVE."""
    llm = FakeLLM(["never sent"])
    ask = fake_ask(llm, max_total_tokens=DEFAULT_OUTPUT_RESERVE)
    with pytest.raises(lg.TokenLimitExceeded) as refused:
        ask([LAST_TURN])
    assert llm.calls == []
    assert refused.value.requested == count([LAST_TURN]) + DEFAULT_OUTPUT_RESERVE


def test_max_cost_usd_refuses_an_attempt_that_could_cross_it() -> None:
    """gpt-4o-mini is priced: the worst case of the next attempt is checked in dollars."""
    price = lg.pricing.price(MODEL)
    assert price is not None
    worst = (count([LAST_TURN]) * price.input + 1_000 * price.output) / 1_000_000
    llm = FakeLLM(["never sent"])
    ask = fake_ask(llm, max_output_tokens=1_000, max_cost_usd=worst * 0.99)
    with capture() as records, pytest.raises(lg.BudgetExceeded) as refused:
        ask([LAST_TURN])

    assert llm.calls == []
    error = refused.value
    assert (error.limit, error.used) == ("max_cost_usd", 0.0)
    assert error.requested == pytest.approx(worst)
    llm_record, _ = split(records)
    assert llm_record.status == "limit"
    assert limits_of(llm_record)["tripped"] == "max_cost_usd"

    llm = FakeLLM(["Sunny."], model=MODEL)
    fake_ask(llm, max_output_tokens=1_000, max_cost_usd=worst)([LAST_TURN])
    assert len(llm.calls) == 1


def test_a_costly_corrective_retry_is_not_made() -> None:
    """What the first attempt cost counts: a re-ask that could cross max_cost_usd is refused."""
    client, sent = openai_client(
        [chat_completion(BAD, usage=(4_000, 2_000)), chat_completion(GOOD)]
    )
    spent = lg.pricing.cost(Usage(input=4_000, output=2_000), MODEL)
    assert spent is not None

    @lg.guard(schema=Ticket, model=MODEL, max_output_tokens=100, max_cost_usd=spent + 0.00001)
    def triage(messages: Any, max_tokens: int | None = None) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages, max_tokens=max_tokens)

    with pytest.raises(lg.BudgetExceeded) as refused:
        triage([LAST_TURN])
    assert len(sent) == 1
    assert refused.value.used == pytest.approx(spent)


def test_an_unpriced_model_is_refused_under_max_cost_usd() -> None:
    """A model without a price cannot be kept under a dollar cap, so it is not called."""
    llm = FakeLLM(["never sent"], model="acme-local-7b")

    @lg.guard(model="acme-local-7b", max_output_tokens=100, max_cost_usd=1.0)
    def ask(messages: Any, max_tokens: int | None = None) -> Any:
        return llm(model="acme-local-7b", messages=messages, max_tokens=max_tokens)

    with capture() as records, pytest.raises(lg.BudgetExceeded) as refused:
        ask([LAST_TURN])
    assert llm.calls == []
    assert (refused.value.limit, refused.value.requested) == ("max_cost_usd", None)
    assert "no known price" in str(refused.value)
    llm_record, _ = split(records)
    assert limits_of(llm_record)["tripped"] == "max_cost_usd"


def test_max_cost_usd_needs_the_model_before_the_call() -> None:
    """A model known only inside the function cannot be priced beforehand: refused."""
    llm = FakeLLM(["never sent"], model=MODEL)

    @lg.guard(max_output_tokens=100, max_cost_usd=1.0)
    def ask(messages: Any, max_tokens: int | None = None) -> Any:
        return llm(model=MODEL, messages=messages, max_tokens=max_tokens)

    with pytest.raises(lg.BudgetExceeded, match="model="):
        ask([LAST_TURN])
    assert llm.calls == []


# -- budgets ----------------------------------------------------------------------------


def test_a_guarded_call_is_charged_its_reported_usage() -> None:
    """Inside a budget, the reservation is replaced by the usage the response reported."""
    llm = FakeLLM(["It will rain in the afternoon."], model=MODEL)
    ask = fake_ask(llm, max_output_tokens=100)
    with lg.budget(max_tokens=10_000, max_cost_usd=1.0) as budget:
        response = ask([SYSTEM_TURN, LAST_TURN])

    usage = response.usage
    assert budget.used == usage.total_tokens
    assert (budget.reserved, budget.calls, budget.unpriced_calls) == (0, 1, 0)
    expected = lg.pricing.cost(
        Usage(input=usage.prompt_tokens, output=usage.completion_tokens), MODEL
    )
    assert budget.cost_usd == pytest.approx(expected)


def test_nested_budgets_are_all_charged() -> None:
    """A guarded call is charged to the budget around it and to every enclosing one."""
    llm = FakeLLM(["Sunny.", "Rain."], model=MODEL)
    ask = fake_ask(llm, max_output_tokens=100)
    with lg.budget(max_tokens=10_000, name="day") as day:
        first = ask([LAST_TURN])
        with lg.budget(max_tokens=1_000, name="request") as request:
            second = ask([SYSTEM_TURN, LAST_TURN])

    assert request.used == reported_total(second)
    assert day.used == reported_total(first) + reported_total(second)
    assert (day.calls, request.calls) == (2, 1)


def test_a_call_that_could_cross_a_budget_is_refused_before_it_is_made() -> None:
    """Input plus output cap past the budget: BudgetExceeded, and the model is not called."""
    llm = FakeLLM(["never sent"], model=MODEL)
    ask = fake_ask(llm, max_output_tokens=100)
    with (
        capture() as records,
        lg.budget(max_tokens=100, name="tight") as budget,
        pytest.raises(lg.BudgetExceeded) as refused,
    ):
        ask([LAST_TURN])

    assert llm.calls == []
    error = refused.value
    assert (error.limit, error.maximum, error.used, error.name) == ("max_tokens", 100, 0, "tight")
    assert error.requested == count([LAST_TURN]) + 100
    assert (budget.used, budget.reserved) == (0, 0)
    llm_record, _ = split(records)
    assert error.trace_id == llm_record.trace_id
    assert llm_record.status == "limit"
    assert limits_of(llm_record)["tripped"] == "budget"


def test_a_refused_calls_records_name_the_model_it_would_have_used() -> None:
    """The guard's model=, the call's model argument or its default: on both records."""
    llm = FakeLLM(["never sent"] * 3)

    @lg.guard(model="gpt-4o-mini")
    def configured(messages: Any) -> Any:
        return llm(messages=messages)

    @lg.guard
    def passed(messages: Any, model: str) -> Any:
        return llm(messages=messages, model=model)

    @lg.guard
    def defaulted(messages: Any, model: str = "gpt-4.1-nano") -> Any:
        return llm(messages=messages, model=model)

    calls = [
        (lambda: configured([LAST_TURN]), "gpt-4o-mini"),
        (lambda: passed([LAST_TURN], "gpt-4o"), "gpt-4o"),
        (lambda: passed([LAST_TURN], model="gpt-4o"), "gpt-4o"),
        (lambda: defaulted([LAST_TURN]), "gpt-4.1-nano"),
    ]
    for call, model in calls:
        with capture() as records, lg.budget(max_tokens=5), pytest.raises(lg.BudgetExceeded):
            call()
        assert [(r.kind, r.status, r.model) for r in records] == [
            ("attempt", "limit", model),
            ("llm", "limit", model),
        ]
    assert llm.calls == []


def test_a_model_parameters_default_prices_a_cost_cap() -> None:
    """A function's default model is the call's model, so max_cost_usd can price it."""
    llm = FakeLLM(["Sunny."])

    @lg.guard(max_cost_usd=1.0)
    def ask(messages: Any, model: str = MODEL) -> Any:
        return llm(messages=messages, model=model)

    assert ask([LAST_TURN]) is not None


def test_a_budget_with_a_dollar_cap_refuses_an_unpriced_guarded_call() -> None:
    """A guarded call whose model has no price is refused by a budget's dollar cap."""
    llm = FakeLLM(["never sent"])

    @lg.guard(max_output_tokens=100)
    def ask(messages: Any, max_tokens: int | None = None) -> Any:
        return llm(model="acme-local-7b", messages=messages, max_tokens=max_tokens)

    with lg.budget(max_cost_usd=1.0), pytest.raises(lg.BudgetExceeded) as refused:
        ask([LAST_TURN])
    assert llm.calls == []
    assert refused.value.limit == "max_cost_usd"


def test_a_failed_attempt_releases_its_reservation() -> None:
    """A rate-limited attempt is not charged; only the retry that answered is."""
    llm = FakeLLM([FakeAPIError(429), "Sunny."], model=MODEL)
    ask = fake_ask(llm, max_output_tokens=100, sleep=lambda seconds: None)
    with lg.budget(max_tokens=1_000) as budget:
        response = ask([LAST_TURN])
    assert len(llm.calls) == 2
    assert (budget.used, budget.reserved, budget.calls) == (reported_total(response), 0, 1)


def test_an_error_that_ends_the_call_charges_nothing() -> None:
    """A call that raises before using anything leaves the budget as it was."""
    llm = FakeLLM([FakeAPIError(400)], model=MODEL)
    ask = fake_ask(llm, max_output_tokens=100)
    with lg.budget(max_tokens=1_000) as budget, pytest.raises(FakeAPIError):
        ask([LAST_TURN])
    assert (budget.used, budget.reserved, budget.calls) == (0, 0, 0)


def test_a_response_without_usage_is_charged_its_reservation() -> None:
    """No usage reported: the budget is charged the most the call could have used."""
    llm = FakeLLM(["Sunny."], shape="text")
    ask = fake_ask(llm, max_output_tokens=100)
    with lg.budget(max_tokens=1_000) as budget:
        assert ask([LAST_TURN]) == "Sunny."
    assert (budget.used, budget.reserved) == (count([LAST_TURN]) + 100, 0)


def test_a_usage_report_without_output_is_charged_its_reservation() -> None:
    """Only the input reported: the output may have used all that was held for it."""
    body = chat_completion("Sunny.", usage=None)
    body["usage"] = {"prompt_tokens": 12}
    client, _ = openai_client([body])

    @lg.guard(model=MODEL, max_output_tokens=100)
    def ask(messages: Any, max_tokens: int | None = None) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages, max_tokens=max_tokens)

    with lg.budget(max_tokens=1_000) as budget:
        ask([LAST_TURN])
    assert (budget.used, budget.reserved) == (count([LAST_TURN]) + 100, 0)


def test_a_function_without_messages_or_prompt_reserves_its_output_cap() -> None:
    """Nothing to count before the call: only the output cap is held, then the usage."""
    llm = FakeLLM(["Rain."], model=MODEL)

    @lg.guard(model=MODEL, max_output_tokens=100)
    def ask(question: str, max_tokens: int | None = None) -> Any:
        return llm(model=MODEL, messages=[{"role": "user", "content": question}])

    with lg.budget(max_tokens=100) as budget:
        response = ask("Will it rain in Oslo?")
    assert budget.used == reported_total(response)


async def test_a_budget_shared_by_concurrent_tasks_is_never_exceeded() -> None:
    """100 concurrent calls never cross a shared budget; its total is their usage's sum."""
    llm = FakeLLM([f"Answer number {i}." for i in range(100)], model=MODEL)

    @lg.guard(model=MODEL, max_output_tokens=40)
    async def ask(messages: list[Any], max_tokens: int | None = None) -> Any:
        await asyncio.sleep(0)
        return await llm.acall(model=MODEL, messages=messages, max_tokens=max_tokens)

    async def one(i: int) -> Any:
        for _ in range(i % 4):  # tasks start at different times, while others are in flight
            await asyncio.sleep(0)
        try:
            return await ask([{"role": "user", "content": f"Question {i}?"}])
        except lg.BudgetExceeded as refused:
            return refused

    async with lg.budget(max_tokens=1_500, name="batch") as budget:
        results = await asyncio.gather(*(one(i) for i in range(100)))

    admitted = [r for r in results if not isinstance(r, lg.BudgetExceeded)]
    refused = [r for r in results if isinstance(r, lg.BudgetExceeded)]
    assert admitted
    assert refused
    assert len(admitted) == len(llm.calls) == budget.calls
    assert budget.used == sum(reported_total(r) for r in admitted)
    assert budget.used <= 1_500
    assert budget.reserved == 0
    assert all(r.limit == "max_tokens" and r.name == "batch" for r in refused)


def test_a_stream_is_charged_when_it_ends() -> None:
    """A stream holds its reservation until it ends, then is charged its reported usage."""
    llm = FakeLLM(["It will rain in Oslo tomorrow afternoon."], model=MODEL, stream=True)
    ask = fake_ask(llm, max_output_tokens=100)
    with lg.budget(max_tokens=1_000) as budget:
        stream = ask([LAST_TURN])
        assert (budget.used, budget.reserved) == (0, count([LAST_TURN]) + 100)
        chunks = list(stream)
    usage = chunks[-1].usage
    assert usage.total_tokens > 0
    assert (budget.used, budget.reserved, budget.calls) == (usage.total_tokens, 0, 1)


async def test_an_async_stream_is_charged_when_it_ends() -> None:
    """The same for an async stream, read with ``async for``."""
    llm = FakeLLM(["It will rain in Oslo tomorrow afternoon."], model=MODEL, stream=True)

    @lg.guard(model=MODEL, max_output_tokens=100)
    async def ask(messages: list[Any], max_tokens: int | None = None) -> Any:
        return await llm.acall(model=MODEL, messages=messages, max_tokens=max_tokens)

    async with lg.budget(max_tokens=1_000) as budget:
        stream = await ask([LAST_TURN])
        chunks = [chunk async for chunk in stream]
    usage = chunks[-1].usage
    assert (budget.used, budget.reserved, budget.calls) == (usage.total_tokens, 0, 1)


# -- records -----------------------------------------------------------------------------


def test_records_keep_the_counted_and_the_reported_tokens() -> None:
    """Attempt records keep count and usage; the llm record limits, cost and price table."""
    client, _ = openai_client([chat_completion("Sunny.", usage=(31, 4))])

    @lg.guard(max_output_tokens=64, max_total_tokens=1_000)
    def ask(messages: Any, model: str, max_tokens: int | None = None) -> Any:
        return client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens)

    messages = [SYSTEM_TURN, LAST_TURN]
    with capture() as records:
        ask(messages, MODEL)

    llm_record, (attempt,) = split(records)
    assert attempt.metadata["counted_input_tokens"] == count(messages)
    assert attempt.metadata["counted_estimated"] is False
    assert attempt.usage == Usage(input=31, output=4, total=35)
    cost = lg.pricing.cost(Usage(input=31, output=4), MODEL)
    assert cost is not None
    assert limits_of(llm_record)["set"] == {"max_output_tokens": 64, "max_total_tokens": 1_000}
    assert limits_of(llm_record)["used"] == {"tokens": 35, "cost_usd": pytest.approx(cost)}
    assert "tripped" not in limits_of(llm_record)
    assert llm_record.cost_usd == pytest.approx(cost)
    assert attempt.cost_usd == pytest.approx(cost)
    assert llm_record.price_table == attempt.price_table == lg.pricing.table_version()


def test_an_estimated_count_is_marked_on_the_record() -> None:
    """A count that can only be an estimate (a Claude model) says so on the record."""
    client, _ = anthropic_client([anthropic_message("Sunny.")])

    @lg.guard(model="claude-haiku-4-5", max_output_tokens=64)
    def ask(messages: Any, max_tokens: int = 1024) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=max_tokens, messages=messages
        )

    with capture() as records:
        ask([LAST_TURN])
    _, (attempt,) = split(records)
    assert attempt.metadata["counted_estimated"] is True
    assert attempt.usage == Usage(input=10, output=5, total=15)


def test_a_count_without_a_known_model_is_marked_an_estimate() -> None:
    """With the model known only inside the function, its tokenizer is a guess."""
    client, _ = openai_client([chat_completion("Sunny.")])

    @lg.guard(max_output_tokens=64)
    def ask(messages: Any, max_tokens: int | None = None) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages, max_tokens=max_tokens)

    with capture() as records:
        ask([LAST_TURN])
    llm_record, (attempt,) = split(records)
    assert attempt.metadata["counted_estimated"] is True
    assert llm_record.cost_usd is not None  # priced afterwards from the response's model


def test_an_unpriced_model_has_no_cost_on_its_records() -> None:
    """Unknown price: no cost and no price table, never a cost of 0."""
    llm = FakeLLM(["Sunny."], model="acme-local-7b")

    @lg.guard(max_output_tokens=64)
    def ask(messages: Any, max_tokens: int | None = None) -> Any:
        return llm(model="acme-local-7b", messages=messages, max_tokens=max_tokens)

    with capture() as records:
        ask([LAST_TURN])
    llm_record, (attempt,) = split(records)
    for record in (llm_record, attempt):
        assert (record.cost_usd, record.price_table) == (None, None)
    assert "cost_usd" not in limits_of(llm_record)["used"]


def test_a_guard_without_caps_outside_a_budget_records_no_limits() -> None:
    """No cap and no budget: nothing is counted, and the record has no limits."""
    llm = FakeLLM(["Sunny."], model=MODEL)

    @lg.guard
    def ask(messages: Any) -> Any:
        return llm(model=MODEL, messages=messages)

    with capture() as records:
        ask([LAST_TURN])
    llm_record, (attempt,) = split(records)
    assert llm_record.limits is None
    assert "counted_input_tokens" not in attempt.metadata
    assert llm_record.cost_usd is not None


# -- decoration-time errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_input_tokens", 0),
        ("max_input_tokens", True),
        ("max_output_tokens", "10"),
        ("max_output_tokens", -5),
        ("max_total_tokens", 1.5),
        ("max_cost_usd", -1),
        ("max_cost_usd", 0),
        ("max_cost_usd", float("nan")),
        ("max_cost_usd", "1"),
        ("on_input_overflow", "drop"),
        ("on_output_overflow", "drop"),
    ],
)
def test_bad_caps_are_configuration_errors_naming_the_option(option: str, value: Any) -> None:
    """A cap that cannot be one is refused when the guard is built, naming the option."""
    with pytest.raises(lg.ConfigurationError, match=option):
        lg.guard(**{option: value})


def test_max_input_tokens_needs_messages_or_a_prompt_to_count() -> None:
    """A function with neither ``messages`` nor ``prompt`` has no input the cap could count."""
    with pytest.raises(lg.ConfigurationError, match="max_input_tokens"):

        @lg.guard(max_input_tokens=100)
        def ask(question: str) -> str:
            return question
