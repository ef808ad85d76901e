"""Hold model calls to token and dollar budgets, pricing them from llmguard's price table.

Runs offline: the model is llmguard's scripted `FakeLLM`, answering as OpenAI's
``gpt-5-mini`` would, usage included. Each call goes through the two steps a budget
needs -- reserve what the call could use at most, then reconcile what it used -- so
a call that could cross a budget is refused *before* it is made::

    python examples/budgets.py
"""

from __future__ import annotations

import json
from typing import Any

import llmguard as lg
from llmguard.exceptions import BudgetExceeded
from llmguard.testing import FakeLLM

MODEL = "gpt-5-mini"
llm = FakeLLM(
    [
        "Paris.",
        "Tokyo is the capital of Japan.",
        "A budget caps tokens and dollars across many calls.",
        "Canberra.",
    ],
    model="gpt-5-mini-2025-08-07",  # what the API reports: a dated snapshot
)


def ask(question: str, *, max_tokens: int = 200) -> str:
    """One model call, charged to every budget open around it."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    # The most this call can use: its input plus its output cap. (FakeLLM counts about
    # four characters a token; with a real model, count the messages' tokens instead.)
    input_tokens = len(json.dumps(messages)) // 4
    worst_case = lg.Usage(input=input_tokens, output=max_tokens)
    # Refused here, before the model is called, if any open budget could be crossed.
    with lg.reserve(input_tokens + max_tokens, lg.pricing.cost(worst_case, MODEL)) as held:
        response = llm(model=MODEL, messages=messages, max_tokens=max_tokens)
        reply = lg.adapters.adapt(response)
        if reply is None or reply.usage is None:
            raise RuntimeError("the response reported no usage")
        usage = reply.usage
        # Replace the reservation by what the provider reported.
        used = (usage.input or 0) + (usage.output or 0)
        held.reconcile(used, lg.pricing.cost(usage, reply.model))
    return reply.text or ""


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
            print("->", ask("What is the capital of France?"))
            print("->", ask("And of Japan?"))
        print(show(first))

        with lg.budget(max_tokens=100, name="request 2") as second:
            print("->", ask("What is a budget?", max_tokens=60))
            made = len(llm.calls)
            try:
                # About 20 of the 100 tokens are used; a call that may use 14 input and
                # 70 output tokens could cross the budget, so it is refused and the
                # model is never called.
                ask("And the capital of Australia?", max_tokens=70)
            except BudgetExceeded as refused:
                print(f"refused before the call: {refused}")
                print(f"   (model calls made: {made} before, {len(llm.calls)} after)")
            # With a smaller output cap the same question fits.
            print("->", ask("And the capital of Australia?", max_tokens=40))
        print(show(second))
    print(show(day))


if __name__ == "__main__":
    main()
