"""Dollar caps and unpriced models; a whole-request counter for the guard's input cap.

Both through the real OpenAI / Anthropic SDKs on a mock transport: what matters is
whether a request was sent, and what the caps made of it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

import llmguard as lg
from llmguard._spend.tokens import count_request
from llmguard.testing import capture
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    chat_completion,
    openai_client,
)

HOUSE = "house-model-7b"  # a model no database prices
MESSAGES = [{"role": "user", "content": "Say hi."}]


def house_ask(**options: Any) -> tuple[Any, list[Any]]:
    client, sent = openai_client([chat_completion("hi", model=HOUSE)])

    @lg.guard(model=HOUSE, max_output_tokens=50, **options)
    def ask(messages: Any, max_tokens: int | None = None) -> Any:
        return client.chat.completions.create(model=HOUSE, messages=messages, max_tokens=max_tokens)

    return ask, sent


# -- a dollar cap and a model without a price -----------------------------------------------


def test_a_dollar_budget_refuses_an_unpriced_call_before_it_is_sent() -> None:
    """The cost of a call of an unpriced model cannot be bounded: a budget with a dollar
    cap refuses it, and says how to let it through."""
    ask, sent = house_ask()
    with lg.budget(max_cost_usd=1.0) as budget, pytest.raises(lg.BudgetExceeded) as refused:
        ask(MESSAGES)
    assert sent == []
    assert refused.value.limit == "max_cost_usd"
    assert "unpriced='allow'" in str(refused.value)
    assert "set_price" in str(refused.value)
    assert budget.calls == 0


def test_unpriced_allow_lets_the_call_through_and_counts_it() -> None:
    """unpriced='allow': the call is made, its tokens count, its dollars are unknown."""
    ask, sent = house_ask()
    with lg.budget(max_cost_usd=1.0, max_tokens=10_000, unpriced="allow") as budget:
        assert ask(MESSAGES).choices[0].message.content == "hi"
    assert len(sent) == 1
    assert (budget.calls, budget.unpriced_calls, budget.used) == (1, 1, 15)
    assert budget.cost_usd == 0.0


def test_unpriced_allow_still_holds_the_token_cap() -> None:
    """Allowing unpriced calls does not lift a budget's max_tokens."""
    ask, sent = house_ask()
    with (
        lg.budget(max_cost_usd=1.0, max_tokens=20, unpriced="allow"),
        pytest.raises(lg.BudgetExceeded) as refused,
    ):
        ask(MESSAGES)
    assert sent == []
    assert refused.value.limit == "max_tokens"


def test_an_enclosing_budget_that_refuses_unpriced_calls_still_does() -> None:
    """Each budget decides for itself: an outer budget without unpriced='allow' refuses."""
    ask, sent = house_ask()
    with (
        lg.budget(max_cost_usd=5.0),
        lg.budget(max_cost_usd=1.0, unpriced="allow"),
        pytest.raises(lg.BudgetExceeded),
    ):
        ask(MESSAGES)
    assert sent == []


def test_a_price_set_for_the_model_lets_the_call_through_and_charges_it() -> None:
    """Once set_price prices the model, the dollar budget admits and charges it."""
    lg.pricing.set_price(HOUSE, input=1.0, output=2.0)
    ask, sent = house_ask()
    with lg.budget(max_cost_usd=1.0) as budget:
        ask(MESSAGES)
    assert len(sent) == 1
    assert budget.unpriced_calls == 0
    assert budget.cost_usd == pytest.approx((10 * 1.0 + 5 * 2.0) / 1e6)


def test_the_guards_own_dollar_cap_refuses_and_allows_the_same_way() -> None:
    """max_cost_usd on the guard: refused by default, let through with unpriced='allow'."""
    ask, sent = house_ask(max_cost_usd=0.5)
    with capture() as records, pytest.raises(lg.BudgetExceeded):
        ask(MESSAGES)
    assert sent == []
    assert records[-1].limits is not None
    assert records[-1].limits["tripped"] == "max_cost_usd"

    ask, sent = house_ask(max_cost_usd=0.5, unpriced="allow")
    with capture() as records:
        ask(MESSAGES)
    assert len(sent) == 1
    llm = next(r for r in records if r.kind == "llm")
    assert llm.cost_usd is None  # unknown, never a guessed 0


@pytest.mark.parametrize("value", ["yes", True, None, "Allow"])
def test_unpriced_takes_refuse_or_allow_only(value: object) -> None:
    """A bad unpriced= is a ConfigurationError on the budget and on the guard."""
    with pytest.raises(lg.ConfigurationError):
        lg.budget(max_cost_usd=1.0, unpriced=value)  # type: ignore[arg-type]
    with pytest.raises(lg.ConfigurationError):
        lg.guard(max_cost_usd=1.0, unpriced=value)  # type: ignore[arg-type]


def test_a_priced_call_is_recorded_with_the_database_version() -> None:
    """Every priced record names the prices it came from."""
    client, _ = openai_client([chat_completion("hi", model="gpt-4o-2024-05-13", usage=(1000, 100))])

    @lg.guard(model="gpt-4o-2024-05-13")
    def ask(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-2024-05-13", messages=messages)

    with capture() as records:
        ask(MESSAGES)
    llm = next(r for r in records if r.kind == "llm")
    assert llm.cost_usd == pytest.approx((1000 * 5.0 + 100 * 15.0) / 1e6)
    assert llm.price_table == lg.pricing.VERSION


# -- a whole-request counter ----------------------------------------------------------------


class Counter:
    """A request counter that answers a fixed number and remembers what it was given."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        messages: Sequence[Any],
        *,
        model: str | None,
        tools: Sequence[Any] | None,
        system: Any,
    ) -> int:
        self.calls.append({"messages": messages, "model": model, "tools": tools, "system": system})
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer  # type: ignore[no-any-return]


TOOLS = [{"name": "lookup", "description": "Look up.", "input_schema": {"type": "object"}}]


def claude_ask(limit: int) -> tuple[Any, list[Any]]:
    client, sent = anthropic_client([anthropic_message("hi")])

    @lg.guard(model="claude-haiku-4-5", max_input_tokens=limit)
    def ask(messages: Any, system: str, tools: Any, max_tokens: int = 100) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5",
            system=system,
            tools=tools,
            messages=messages,
            max_tokens=max_tokens,
        )

    return ask, sent


def test_the_input_cap_uses_the_configured_request_counter() -> None:
    """The counter sees the whole request -- messages, model, tools, system -- and its
    count is what the input cap compares, exact (not an estimate)."""
    counter = Counter(150)
    lg.configure(count_tokens=counter)
    ask, sent = claude_ask(limit=100)
    with pytest.raises(lg.TokenLimitExceeded) as refused:
        ask(MESSAGES, system="Be brief.", tools=TOOLS)
    assert sent == []
    assert refused.value.used == 150
    assert "estimated" not in str(refused.value)
    assert counter.calls == [
        {"messages": MESSAGES, "model": "claude-haiku-4-5", "tools": TOOLS, "system": "Be brief."}
    ]

    counter.answer = 90
    ask, sent = claude_ask(limit=100)
    ask(MESSAGES, system="Be brief.", tools=TOOLS)
    assert len(sent) == 1


def test_a_prompt_only_call_reaches_the_counter_as_one_user_message() -> None:
    """A function taking prompt: str is counted as one user turn."""
    counter = Counter(7)
    lg.configure(count_tokens=counter)
    llm = lg.testing.FakeLLM(["ok"])

    @lg.guard(model="gpt-4o", max_input_tokens=5)
    def ask(prompt: str) -> Any:
        return llm(prompt=prompt)

    with pytest.raises(lg.TokenLimitExceeded):
        ask("Say hi.")
    assert counter.calls[0]["messages"] == [{"role": "user", "content": "Say hi."}]


@pytest.mark.parametrize("answer", [ConnectionError("offline"), -3, "12", None, True, 1.5])
def test_a_failing_counter_falls_back_to_the_local_count(
    answer: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A counter that raises or answers something other than a count never reaches the
    caller: the request is counted locally, marked estimated, with one warning."""
    lg.configure(count_tokens=Counter(answer))
    ask, sent = claude_ask(limit=10_000)
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        ask(MESSAGES, system="Be brief.", tools=TOOLS)
        ask2, _ = claude_ask(limit=10_000)
        ask2(MESSAGES, system="Be brief.", tools=TOOLS)
    assert len(sent) == 1
    said = [r.getMessage() for r in caplog.records if "count_tokens counter" in r.getMessage()]
    assert len(said) == 1
    local = lg.count_tokens(MESSAGES, model="claude-haiku-4-5", tools=TOOLS, system="Be brief.")
    assert count_request(  # the count the cap compared
        MESSAGES, model="claude-haiku-4-5", tools=TOOLS, system="Be brief."
    ) == TokenCountLike(int(local), estimated=True)


class TokenCountLike:
    """Compares with a TokenCount by value and estimated flag."""

    def __init__(self, value: int, *, estimated: bool) -> None:
        self.value, self.estimated = value, estimated

    def __eq__(self, other: object) -> bool:
        return other == self.value and getattr(other, "estimated", None) is self.estimated


def test_count_tokens_setting_is_checked() -> None:
    """configure(count_tokens=...) refuses what cannot be called."""
    with pytest.raises(lg.ConfigurationError):
        lg.configure(count_tokens=42)  # type: ignore[arg-type]
