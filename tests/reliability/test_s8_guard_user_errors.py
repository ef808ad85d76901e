"""The application's own code failing inside the guard -- a ``context=`` callable, a
validator raising something pydantic passes on (a ``TypeError``, a ``KeyError``) -- after
the model has answered: the error reaches the caller unchanged, as documented, but the
answer was paid for, so its usage is charged, its reservation released and its attempt
recorded. (Before, the budget kept the reservation forever and the attempt was lost.)"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, field_validator

import llmguard as lg
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    chat_completion,
    openai_client,
)

GOOD = '{"value": 1}'


class Plain(BaseModel):
    value: int


class Buggy(BaseModel):
    value: int

    @field_validator("value")
    @classmethod
    def lookup(cls, value: int) -> int:
        return {2: 2}[value]  # a KeyError, which pydantic does not turn into an error


def _missing_key(messages: Any) -> dict[str, Any]:
    raise LookupError("no doc_ids for this call")


CASES = [
    pytest.param(Buggy, None, KeyError, id="validator"),
    pytest.param(Plain, _missing_key, LookupError, id="context"),
]


def _ask(schema: Any, context: Any, provider: str, budgeted: bool) -> Any:
    options: dict[str, Any] = {"schema": schema, "retries": 1}
    if context is not None:
        options["context"] = context
    if budgeted:
        options |= {"max_output_tokens": 50, "model": "gpt-4o-mini"}
    if provider == "openai":
        client, _ = openai_client([chat_completion(GOOD, usage=(12, 3))])

        def ask(messages: Any, max_tokens: int | None = None) -> Any:
            return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    else:
        anthropic, _ = anthropic_client([anthropic_message(GOOD, usage=(12, 3))])

        def ask(messages: Any, max_tokens: int | None = None) -> Any:
            return anthropic.messages.create(
                model="claude-haiku-4-5", max_tokens=max_tokens or 50, messages=messages
            )

    return lg.guard(ask, **options)


@pytest.mark.parametrize(("schema", "context", "error"), CASES)
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_error_of_the_callers_code_leaves_the_budget_charged_not_held(
    schema: Any, context: Any, error: type[BaseException], provider: str
) -> None:
    ask = _ask(schema, context, provider, budgeted=True)
    with (
        lg.budget(max_tokens=10_000) as budget,
        lg.testing.capture() as records,
        pytest.raises(error),
    ):
        ask([{"role": "user", "content": "Count"}])
    assert budget.reserved == 0
    assert budget.used == 15
    (attempt,) = [r for r in records if r.kind == "attempt"]
    assert attempt.status == "error"
    assert attempt.error_type is not None
    assert attempt.error_type.endswith(error.__name__)
    assert attempt.usage is not None
    assert attempt.usage.total == 15
    (llm,) = [r for r in records if r.kind == "llm"]
    assert llm.usage is not None
    assert llm.usage.total == 15


@pytest.mark.parametrize(("schema", "context", "error"), CASES)
def test_an_error_of_the_callers_code_on_the_direct_path_is_recorded(
    schema: Any, context: Any, error: type[BaseException]
) -> None:
    ask = _ask(schema, context, "openai", budgeted=False)  # no cap, no budget: attempt 1 direct
    with lg.testing.capture() as records, pytest.raises(error):
        ask([{"role": "user", "content": "Count"}])
    kinds = sorted(r.kind for r in records)
    assert kinds == ["attempt", "llm"]
    (llm,) = [r for r in records if r.kind == "llm"]
    assert llm.usage is not None
    assert llm.usage.total == 15


def test_a_custom_reask_that_raises_leaves_the_call_record_its_usage() -> None:
    client, _ = openai_client([chat_completion('{"value": "one"}', usage=(12, 3))])

    def reask(call: lg.Call, attempt: lg.Attempt) -> lg.Call:
        raise RuntimeError("the re-ask could not be built")

    @lg.guard(schema=Plain, retries=1, reask=reask)
    def count(question: str) -> Any:
        messages = [{"role": "user", "content": question}]
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with lg.testing.capture() as records, pytest.raises(RuntimeError, match="re-ask"):
        count("Count")
    (llm,) = [r for r in records if r.kind == "llm"]
    assert llm.status == "error"
    assert llm.usage is not None
    assert llm.usage.total == 15
    assert llm.attempt is not None
    assert llm.attempt["count"] == 1
    assert llm.attempt["corrective_retries"] == 0  # no re-ask was sent


def test_a_custom_backoff_that_raises_leaves_the_call_record_its_usage() -> None:
    from llmguard.testing import FakeAPIError, FakeLLM

    model = FakeLLM(['{"value": "one"}', FakeAPIError(429), GOOD])

    def backoff(*args: Any, **kwargs: Any) -> float:
        raise ValueError("the backoff could not be computed")

    @lg.guard(schema=Plain, retries=2, backoff=backoff)
    def count(messages: Any) -> Any:
        return model(model="gpt-4o-mini", messages=messages)

    with lg.testing.capture() as records, pytest.raises(ValueError, match="backoff"):
        count([{"role": "user", "content": "Count"}])
    (llm,) = [r for r in records if r.kind == "llm"]
    assert llm.usage is not None
    assert llm.usage.total is not None
    assert llm.attempt is not None
    assert llm.attempt["count"] == 2


# -- interrupted while waiting to retry -----------------------------------------------------


def _interrupted_model() -> Any:
    from llmguard.testing import FakeAPIError, FakeLLM

    return FakeLLM(['{"value": "one"}', FakeAPIError(429), GOOD])


def _check_interrupted(records: list[lg.Record]) -> None:
    (llm,) = [r for r in records if r.kind == "llm"]
    assert llm.status == "error"
    assert llm.usage is not None  # the first answer was paid for
    assert llm.usage.total is not None
    assert llm.attempt is not None
    assert llm.attempt["count"] == 2
    assert llm.attempt["transient_retries"] == 1


def test_a_task_cancelled_during_the_backoff_keeps_the_call_record_its_usage() -> None:
    import asyncio

    model = _interrupted_model()

    @lg.guard(schema=Plain, retries=2, backoff=lambda *args, **kwargs: 30.0)
    async def count(messages: Any) -> Any:
        return model(model="gpt-4o-mini", messages=messages)

    async def cancel_in_backoff() -> None:
        task = asyncio.create_task(count([{"role": "user", "content": "Count"}]))
        while len(model.calls) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # in the 30 s backoff after the 429
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with lg.testing.capture() as records:
        asyncio.run(cancel_in_backoff())
    _check_interrupted(records)


def test_ctrl_c_during_the_backoff_keeps_the_call_record_its_usage() -> None:
    model = _interrupted_model()

    def sleep(seconds: float) -> None:
        raise KeyboardInterrupt

    @lg.guard(schema=Plain, retries=2, sleep=sleep)
    def count(messages: Any) -> Any:
        return model(model="gpt-4o-mini", messages=messages)

    with lg.testing.capture() as records, pytest.raises(KeyboardInterrupt):
        count([{"role": "user", "content": "Count"}])
    _check_interrupted(records)
