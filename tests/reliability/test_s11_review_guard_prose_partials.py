"""``guard.stream`` and JSON written after a sentence of prose (``Here is the result:
{...}``), what an ordinary model with no reasoning tags writes all the time. Its partials
must arrive as the JSON streams, as Instructor's ``Partial`` streaming shows them; they
were held back until the stream had ended, so the caller saw one final value. A lone
``</think>`` arriving later (reasoning opened in the prompt) withdraws what was shown:
the next partial has ``reset=True`` and is read from after the tag."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    async_openai_client,
    chat_chunks,
    chat_completion,
    openai_client,
)

DRAFT = '{"category": "billing", "urgency": 1}'
GOOD = '{"category": "bug", "urgency": 2}'
USER = [{"role": "user", "content": "It crashes"}]


def _streamed(pieces: list[str], schema: Any = Ticket) -> list[lg.Partial[Any]]:
    return [partial for partial, _ in _read_along(pieces, schema)]


def _read_along(pieces: list[str], schema: Any = Ticket) -> list[tuple[lg.Partial[Any], int]]:
    """Each partial with the number of chunks the model's stream had given by then."""
    client, sent = openai_client([chat_chunks(pieces)])
    given = [0]

    def counted(stream: Any) -> Iterator[Any]:
        with stream:
            for chunk in stream:
                given[0] += 1
                yield chunk

    def ask(messages: list[dict[str, Any]]) -> Any:
        return counted(
            client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
        )

    partials = [(p, given[0]) for p in lg.guard(schema=schema, retries=0).stream(ask, list(USER))]
    assert len(sent) == 1
    return partials


def _cuts(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def test_json_after_a_sentence_streams_as_it_arrives() -> None:
    """``Here is the result: {...}`` in 6-character chunks: the category shows before
    the urgency has arrived, long before the stream ends."""
    read = _read_along(_cuts(f"Here is the result: {GOOD}", 6))
    assert read[0][1] < read[-1][1]
    partials = [partial for partial, _ in read]
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    streamed = [(p.value.category, p.value.urgency) for p in partials[:-1]]
    assert ("bug", None) in streamed
    assert streamed[-1] == ("bug", 2)
    assert not any(p.reset for p in partials)


def test_json_after_prose_and_a_fence_streams_as_it_arrives() -> None:
    """``Sure!`` then a ```json fence: shown as it streams too."""
    partials = _streamed(_cuts(f"Sure! Here you go:\n```json\n{GOOD}\n```\n", 5))
    assert ("bug", None) in [(p.value.category, p.value.urgency) for p in partials[:-1]]


def test_a_list_after_prose_hands_over_items_as_they_complete() -> None:
    """A list schema: each item is handed over once the next one has begun."""
    text = f"The tickets: [{GOOD}, {GOOD}, {GOOD}]"
    partials = _read_along(_cuts(text, 7), list[Ticket])
    items = [p.item for p, _ in partials if not p.final]
    assert items == [Ticket(category="bug", urgency=2)] * 3
    total = partials[-1][1]
    assert [given < total for _, given in partials[:2]] == [True, True]


def test_async_json_after_prose_streams_too() -> None:
    """The async driver reads the same way."""
    client, sent = async_openai_client([chat_chunks(_cuts(f"Result: {GOOD}", 6))])

    async def ask(messages: list[dict[str, Any]]) -> Any:
        return await client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True
        )

    async def read() -> list[lg.Partial[Any]]:
        return [p async for p in lg.guard(schema=Ticket, retries=0).stream(ask, list(USER))]

    partials = asyncio.run(read())
    assert ("bug", None) in [(p.value.category, p.value.urgency) for p in partials[:-1]]
    assert len(sent) == 1


def test_a_draft_before_a_lone_closing_tag_is_withdrawn() -> None:
    """Reasoning opened in the prompt: the draft shows while nothing says it is
    reasoning; at the tag it is withdrawn (``reset=True``), never to show again."""
    text = f"Okay, a first guess: {DRAFT}. No: a bug.\n</think>\n\n{GOOD}"
    partials = _streamed(_cuts(text, 9))
    shown = [p.value.category for p in partials]
    assert "billing" in shown
    first_reset = next(i for i, p in enumerate(partials) if p.reset)
    assert shown.index("billing") < first_reset
    assert "billing" not in shown[first_reset:]
    assert sum(p.reset for p in partials) == 1
    assert partials[-1].value == Ticket(category="bug", urgency=2)


def test_the_final_partial_says_reset_when_nothing_was_shown_after_the_tag() -> None:
    """The tag and the whole answer arrive when the answer is no longer re-read at every
    chunk: the final partial itself says to drop the withdrawn draft."""
    reasoning = f"Okay, a first guess: {DRAFT}. No: a bug." + " hmm" * 200
    pieces = [*_cuts(reasoning, 4), f"</think>\n{GOOD}"]
    partials = _streamed(pieces)
    assert "billing" in [p.value.category for p in partials[:-1]]
    after = partials[next(i for i, p in enumerate(partials) if p.value.category == "billing") :]
    assert any(p.reset for p in after)
    assert partials[-1].value == Ticket(category="bug", urgency=2)


def test_a_re_ask_answered_whole_says_reset_on_its_final_partial() -> None:
    """Attempt 1 streamed a refused answer; the re-ask came back whole, so its only
    partial, the final one, says to drop what attempt 1 showed."""
    bad = '{"category": "billing", "urgency": 9}'
    client, sent = openai_client([chat_chunks(_cuts(bad, 8)), chat_completion(GOOD)])

    def ask(messages: list[dict[str, Any]]) -> Any:
        first = len(sent) == 0
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=first)

    partials = list(lg.guard(schema=Ticket, retries=1).stream(ask, list(USER)))
    assert "billing" in [p.value.category for p in partials[:-1]]
    assert (partials[-1].attempt, partials[-1].reset) == (2, True)
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    assert len(sent) == 2
