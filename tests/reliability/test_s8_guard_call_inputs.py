"""Messages the SDKs take that the guard must read too: a tuple of messages (the OpenAI and
Anthropic SDKs take any iterable) is capped, budgeted, instructed and re-asked like a list;
a value that is no message list is refused by the inline form before anything is paid."""

from __future__ import annotations

import json
from typing import Any

import pytest

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    chat_completion,
    openai_client,
)

GOOD = '{"category": "bug", "urgency": 2}'
LONG = ({"role": "user", "content": "crash " * 1000},)
SHORT = ({"role": "system", "content": "Be terse."}, {"role": "user", "content": "It crashes"})


def test_a_tuple_of_messages_is_held_to_max_input_tokens() -> None:
    client, sent = openai_client([chat_completion(GOOD)])

    @lg.guard(model="gpt-4o-mini", max_input_tokens=100)
    def ask(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with pytest.raises(lg.TokenLimitExceeded) as refused:
        ask(LONG)
    assert refused.value.limit == "max_input_tokens"
    assert sent == []  # refused before any money was spent


def test_a_tuple_of_messages_is_refused_by_a_budget_before_the_call() -> None:
    client, sent = openai_client([chat_completion(GOOD)])

    @lg.guard(model="gpt-4o-mini", max_output_tokens=10)
    def ask(messages: Any, max_tokens: int | None = None) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, max_tokens=max_tokens
        )

    with lg.budget(max_tokens=500), pytest.raises(lg.BudgetExceeded):
        ask(LONG)
    assert sent == []


def test_a_tuple_of_messages_is_reasked_and_left_unchanged() -> None:
    client, sent = openai_client([chat_completion('{"category": "bug"}'), chat_completion(GOOD)])

    @lg.guard(schema=Ticket, retries=1)
    def ask(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    caller = tuple(dict(message) for message in SHORT)
    assert ask(caller) == Ticket(category="bug", urgency=2)
    reask = sent[1].json["messages"]
    assert reask[:2] == list(SHORT)
    assert reask[2] == {"role": "assistant", "content": '{"category": "bug"}'}
    assert "$.urgency: Field required" in reask[3]["content"]
    assert caller == SHORT


def test_a_tuple_of_messages_gets_the_schema_instruction() -> None:
    client, sent = openai_client([chat_completion(GOOD)])

    @lg.guard(schema=Ticket, send_schema="prompt")
    def ask(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with lg.testing.capture() as records:
        assert ask(SHORT) == Ticket(category="bug", urgency=2)
    system = sent[0].json["messages"][0]["content"]
    assert system.startswith("Be terse.")
    assert '"urgency"' in system
    (attempt,) = [r for r in records if r.kind == "attempt"]
    assert attempt.metadata["schema_sent"] == "prompt"


@pytest.mark.parametrize(
    "messages", ["It crashes", {"role": "user", "content": "It crashes"}, ("It", "crashes")]
)
def test_attempts_refuses_what_is_no_message_list_before_any_call(messages: Any) -> None:
    guard = lg.guard(schema=Ticket, retries=1)
    with pytest.raises(lg.ConfigurationError, match="messages"):
        guard.attempts(messages)


def test_attempts_refuses_a_prompt_that_is_no_string() -> None:
    guard = lg.guard(schema=Ticket, retries=1)
    with pytest.raises(lg.ConfigurationError, match="prompt"):
        guard.attempts(prompt=["It crashes"])  # type: ignore[arg-type]


def test_attempts_take_a_tuple_of_messages() -> None:
    guard = lg.guard(schema=Ticket, retries=1)
    client, sent = openai_client([chat_completion('{"category": "bug"}'), chat_completion(GOOD)])
    for attempt in guard.attempts(SHORT):  # type: ignore[arg-type]
        with attempt:
            assert attempt.messages is not None
            answer = client.chat.completions.create(model="gpt-4o-mini", messages=attempt.messages)
            attempt.submit(answer)
    assert attempt.value == Ticket(category="bug", urgency=2)
    assert sent[1].json["messages"][:2] == list(SHORT)


def test_an_iterator_argument_of_a_guarded_call_reaches_the_function_unread() -> None:
    """A guarded function taking a generator (documents to put in the prompt) gets it
    whole: capturing the call's input read it to its end first, so the function saw
    none; the record names it instead."""
    client, sent = openai_client([chat_completion(GOOD)])
    seen: list[str] = []

    @lg.guard(schema=Ticket)
    def ask(prompt: str, docs: Any) -> Any:
        seen.extend(docs)
        content = prompt + " " + " ".join(seen)
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": content}]
        )

    with lg.testing.capture() as records:
        assert ask("Triage:", (d for d in ["a", "b", "c"])) == Ticket(category="bug", urgency=2)
    assert seen == ["a", "b", "c"]
    assert sent[0].json["messages"][0]["content"] == "Triage: a b c"
    [llm] = [r for r in records if r.kind == "llm"]
    assert llm.input == ["Triage:", "<generator>"]


class _IterationRaises(set[int]):
    def __iter__(self) -> Any:
        raise RuntimeError("no iteration")


def test_an_argument_that_cannot_be_copied_never_fails_the_guarded_call() -> None:
    """An argument whose iteration raises (pydantic-core panics, a BaseException) is
    recorded as a marker; the guarded call returns its value."""
    client, _ = openai_client([chat_completion(GOOD)])

    @lg.guard(schema=Ticket)
    def ask(prompt: str, tags: Any) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
        )

    with lg.testing.capture() as records:
        assert ask("Triage", _IterationRaises({1})) == Ticket(category="bug", urgency=2)
    [llm] = [r for r in records if r.kind == "llm"]
    assert llm.input is not None


def _tool_call(name: str, arguments: str, call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_the_answer_is_the_tool_call_named_for_the_schema_among_others() -> None:
    """A model that calls another tool first and then the answer's tool (named after the
    schema, as ``send_schema`` and Instructor name it) is answered by that call; the
    first call's arguments were validated as the answer (and re-asked when they failed)."""
    answer = [
        _tool_call("search_docs", '{"query": "refund policy"}', "call_1"),
        _tool_call("Ticket", GOOD, "call_2"),
    ]
    client, sent = openai_client([chat_completion(None, tool_calls=answer)])

    @lg.guard(schema=Ticket, retries=0)
    def ask(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert ask(list(SHORT)) == Ticket(category="bug", urgency=2)
    assert len(sent) == 1


def test_the_reask_tells_the_errors_to_the_tool_call_read_as_the_answer() -> None:
    """When the answer's call stands second, its errors go in its own tool result, and the
    other tool's call gets the note that nothing was wrong with it (the errors went to
    the first call, and the answer's call was told it had none)."""
    answer = [
        _tool_call("search_docs", '{"query": "x"}', "call_1"),
        _tool_call("Ticket", '{"category": "bug"}', "call_2"),
    ]
    fixed = [_tool_call("Ticket", GOOD, "call_3")]
    client, sent = openai_client(
        [chat_completion(None, tool_calls=answer), chat_completion(None, tool_calls=fixed)]
    )

    @lg.guard(schema=Ticket, retries=1)
    def ask(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert ask(list(SHORT)) == Ticket(category="bug", urgency=2)
    reask = sent[1].json["messages"]
    assert reask[:2] == list(SHORT)
    assert reask[2] == {"role": "assistant", "content": None, "tool_calls": answer}
    assert reask[3:] == [
        {
            "role": "tool",
            "tool_call_id": "call_1",
            "content": "No error was found in the arguments of this call to search_docs. "
            "Make all the calls again, with the others corrected.",
        },
        {
            "role": "tool",
            "tool_call_id": "call_2",
            "content": "The arguments of your call to Ticket did not match the required "
            "schema:\n- $.urgency: Field required\n"
            "Make all the calls again, with this one corrected.",
        },
    ]


def test_a_prompt_reask_names_the_tool_call_read_as_the_answer() -> None:
    """Re-asked through a ``prompt`` string, the correction names the call that was read
    as the answer, not the other tool's call standing first."""
    answer = [
        _tool_call("search_docs", '{"query": "x"}', "call_1"),
        _tool_call("Ticket", '{"category": "bug"}', "call_2"),
    ]
    client, sent = openai_client([chat_completion(None, tool_calls=answer), chat_completion(GOOD)])

    @lg.guard(schema=Ticket, retries=1)
    def ask(prompt: str) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
        )

    assert ask("Triage") == Ticket(category="bug", urgency=2)
    [turn] = sent[1].json["messages"]
    assert turn["content"].endswith(
        "The arguments of your call to Ticket did not match the required schema:\n"
        "- $.urgency: Field required\nCall it again with corrected arguments."
    )


def test_an_anthropic_reask_tells_the_errors_to_the_tool_use_read_as_the_answer() -> None:
    """The same with Anthropic ``tool_use`` blocks: the answer's ``tool_result`` is the
    error, the other tool's is not."""
    uses = [
        {"type": "tool_use", "id": "toolu_1", "name": "search_docs", "input": {"query": "x"}},
        {"type": "tool_use", "id": "toolu_2", "name": "Ticket", "input": {"category": "bug"}},
    ]
    fixed = [{"type": "tool_use", "id": "toolu_3", "name": "Ticket", "input": json.loads(GOOD)}]
    client, sent = anthropic_client(
        [anthropic_message(uses, stop_reason="tool_use"), anthropic_message(fixed)]
    )

    @lg.guard(schema=Ticket, retries=1)
    def ask(messages: Any) -> Any:
        return client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=messages)

    assert ask([{"role": "user", "content": "It crashes"}]) == Ticket(category="bug", urgency=2)
    assistant, results = sent[1].json["messages"][1:]
    assert assistant == {"role": "assistant", "content": uses}
    assert [(r["tool_use_id"], r["is_error"]) for r in results["content"]] == [
        ("toolu_1", False),
        ("toolu_2", True),
    ]
    assert "$.urgency: Field required" in results["content"][1]["content"]
    assert "No error was found" in results["content"][0]["content"]
