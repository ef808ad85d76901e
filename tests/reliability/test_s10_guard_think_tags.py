"""A reasoning model behind an OpenAI-compatible server (DeepSeek-R1, QwQ) writes its
reasoning first, between ``<think>`` tags, then the answer. A value drafted in the
reasoning is not the answer: it was taken (the first valid value wins), so the call
returned the draft. pydantic-ai splits these tags off the text the same way."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import chat_chunks, chat_completion, openai_client

DRAFT = '{"category": "billing", "urgency": 1}'
GOOD = '{"category": "bug", "urgency": 2}'
THOUGHT = f"<think>\nA first guess: {DRAFT}. No, it crashes: a bug.\n</think>\n\n"
USER = [{"role": "user", "content": "It crashes"}]


def _triage(client: Any, **options: Any) -> Any:
    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="deepseek-r1", messages=messages, **options)

    return triage


def test_the_answer_after_the_thinking_is_read_not_the_draft_in_it() -> None:
    client, sent = openai_client([chat_completion(THOUGHT + GOOD)])
    assert _triage(client)(list(USER)) == Ticket(category="bug", urgency=2)
    assert len(sent) == 1


def test_thinking_tags_and_a_fenced_answer() -> None:
    """``<thinking>`` too, several blocks, and the answer in a fence after them."""
    text = f"<thinking>{DRAFT}</thinking> <think>{DRAFT}</think>```json\n{GOOD}\n```"
    client, sent = openai_client([chat_completion(text)])
    assert _triage(client)(list(USER)) == Ticket(category="bug", urgency=2)
    assert len(sent) == 1


def test_an_answer_that_is_all_thinking_is_reasked() -> None:
    """Nothing after the reasoning: no answer, re-asked, the draft never accepted."""
    client, sent = openai_client([chat_completion(THOUGHT), chat_completion(GOOD)])
    assert _triage(client)(list(USER)) == Ticket(category="bug", urgency=2)
    assert len(sent) == 2


def test_a_think_tag_that_is_never_closed_reads_the_text_as_it_is() -> None:
    """No closing tag: there is no telling reasoning from answer, so the text is read."""
    client, sent = openai_client([chat_completion("<think>" + GOOD)])
    assert _triage(client)(list(USER)) == Ticket(category="bug", urgency=2)
    assert len(sent) == 1


def test_guard_stream_shows_no_partial_of_the_draft() -> None:
    """While the model thinks, no partial appears; then the answer's partials."""
    pieces = ["<think>\nA first", f" guess: {DRAFT[:20]}", f"{DRAFT[20:]}</think>"]
    pieces += [GOOD[:15], GOOD[15:]]
    client, _ = openai_client([chat_chunks(pieces)])

    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="deepseek-r1", messages=messages, stream=True)

    partials = list(lg.guard(schema=Ticket, retries=0).stream(triage, list(USER)))
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    for partial in partials:
        assert getattr(partial.value, "category", None) != "billing"


# 15 generated examples plus @examples holding the hard cases: several blocks (one
# empty), each kind of space before them, and thoughts holding '>', '/' and JSON.
@settings(max_examples=15, deadline=None)
@given(
    thoughts=st.lists(
        st.text(alphabet=st.characters(blacklist_characters="<", blacklist_categories=("Cs",))),
        max_size=3,
    ),
    space=st.sampled_from(["", " ", "\n\n"]),
)
@example(thoughts=["", "think>", '{"a": 1} />'], space="")
@example(thoughts=["x"], space=" ")
@example(thoughts=["/think>\n", "}"], space="\n\n")
def test_whatever_the_thinking_says_the_answer_after_it_wins(
    thoughts: list[str], space: str
) -> None:
    text = "".join(f"{space}<think>{thought}{DRAFT}</think>" for thought in thoughts)
    client, _ = openai_client([chat_completion(text + space + GOOD)])
    assert _triage(client)(list(USER)) == Ticket(category="bug", urgency=2)


def test_floods_of_thinking_tags_are_read_in_one_pass() -> None:
    """A hundred thousand empty blocks, or one never closed after a megabyte: a scan."""
    from llmguard._guard.schema import answer_start

    flood = "<think></think> " * 100_000
    assert (flood + GOOD)[answer_start(flood + GOOD) :].strip() == GOOD
    assert answer_start("<think>" + "x" * 1_000_000) == -1
