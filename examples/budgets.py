"""Hold guarded model calls to nested token and dollar budgets, priced from llmguard's table.

Runs offline: the model is llmguard's scripted `FakeLLM`, answering as OpenAI's
``gpt-4o-mini`` would, usage included. Every call goes through ``lg.guard``, which
charges it to every budget open around it by itself: before the call it reserves the
most the call could use -- its counted input plus its output cap -- and after it
replaces the reservation with the usage the response reported. So a call that could
cross a budget is refused *before* it is made. (Without tiktoken's ``o200k_base`` file
in its cache, input counts are estimates and llmguard warns once; the example runs
either way, and never downloads anything.)::

    python examples/budgets.py
"""

from __future__ import annotations

from typing import Any

import llmguard as lg
from llmguard.exceptions import BudgetExceeded
from llmguard.testing import FakeLLM

MODEL = "gpt-4o-mini"
llm = FakeLLM(
    [
        "Paris.",
        "Tokyo is the capital of Japan.",
        "A budget caps tokens and dollars across many calls.",
        "Canberra.",
    ],
    model=MODEL,
)


@lg.guard(model=MODEL, max_output_tokens=200)
def ask(messages: list[dict[str, Any]], max_tokens: int | None = None) -> Any:
    """One model call; the guard caps its output at 200 tokens, or lower if asked."""
    return llm(model=MODEL, messages=messages, max_tokens=max_tokens)


def question(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def answer(response: Any) -> str:
    return str(response.choices[0].message.content)


def show(budget: lg.Budget) -> str:
    return (
        f"{budget.name}: {budget.calls} call(s), {budget.used} tokens, "
        f"${budget.cost_usd:.6f} (remaining: {budget.remaining} tokens)"
    )


def main() -> None:
    price = lg.pricing.price(MODEL)
    print(f"price table {lg.pricing.table_version()}: {MODEL} costs {price} per million tokens")

    # Nested budgets: every call is charged to the day's budget and to its request's.
    day = lg.budget(max_tokens=2_000, max_cost_usd=0.01, name="day")
    with day:
        with lg.budget(max_tokens=500, name="request 1") as first:
            print("->", answer(ask(question("What is the capital of France?"))))
            print("->", answer(ask(question("And of Japan?"))))
        print(show(first))

        with lg.budget(max_tokens=100, name="request 2") as second:
            print("->", answer(ask(question("What is a budget?"), max_tokens=60)))
            made = len(llm.calls)
            try:
                # About 25 of the 100 tokens are used; a call that may use 13 input and
                # 70 output tokens could cross the budget, so it is refused and the
                # model is never called.
                ask(question("And the capital of Australia?"), max_tokens=70)
            except BudgetExceeded as refused:
                print(f"refused before the call: {refused}")
                print(f"   (model calls made: {made} before, {len(llm.calls)} after)")
            # With a smaller output cap the same question fits.
            print("->", answer(ask(question("And the capital of Australia?"), max_tokens=40)))
        print(show(second))
    print(show(day))


if __name__ == "__main__":
    main()
