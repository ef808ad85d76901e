"""Review of the ``<think>`` skipping (885fb95), as a hostile model: an answer that is
all reasoning is re-asked -- but the correction told the model "the answer is empty",
which it was not (it wrote a page of reasoning), so it was not told what to do. Valid
answers whose text holds the tags must still pass unchanged."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import chat_chunks, chat_completion, openai_client

GOOD = '{"category": "bug", "urgency": 2}'
USER = [{"role": "user", "content": "It crashes"}]


class Note(BaseModel):
    text: str


def _guarded(client: Any, schema: Any, **options: Any) -> Any:
    @lg.guard(schema=schema, retries=1, **options)
    def ask(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="deepseek-r1", messages=messages)

    return ask


def test_a_reasoning_only_answer_is_told_so_not_that_it_was_empty() -> None:
    thought = '<think>\nMaybe {"category": "billing", "urgency": 1}? No.\n</think>\n'
    client, sent = openai_client([chat_completion(thought), chat_completion(GOOD)])
    assert _guarded(client, Ticket)(list(USER)) == Ticket(category="bug", urgency=2)
    assert len(sent) == 2
    turns = sent[1].json["messages"]
    assert turns[1] == {"role": "assistant", "content": thought}
    correction = turns[2]["content"]
    assert "empty" not in correction
    assert "only reasoning" in correction
    assert "after the closing tag" in correction


def test_a_str_schema_reasoning_only_answer_is_reasked_with_the_same_reason() -> None:
    client, sent = openai_client(
        [chat_completion("<thinking>hmm</thinking>  \n"), chat_completion("Paris")]
    )
    assert _guarded(client, str)(list(USER)) == "Paris"
    assert "only reasoning" in sent[1].json["messages"][2]["content"]


def test_an_empty_answer_is_still_called_empty() -> None:
    client, sent = openai_client([chat_completion("  "), chat_completion(GOOD)])
    assert _guarded(client, Ticket)(list(USER)) == Ticket(category="bug", urgency=2)
    assert "the answer is empty" in sent[1].json["messages"][-1]["content"]


def test_text_that_merely_starts_with_a_tag_is_a_str_answer() -> None:
    """Never closed, the tag is part of the answer, for a str schema too."""
    text = "<thinking> is the tag Claude's prompts use for scratch work."
    client, sent = openai_client([chat_completion(text)])
    assert _guarded(client, str)(list(USER)) == text
    assert len(sent) == 1


_TAGS = st.sampled_from(["<think>", "</think>", "<thinking>", "</thinking>", " ", "x", "\n"])


@settings(max_examples=40, deadline=None)
@given(value=st.lists(_TAGS, max_size=8).map("".join), lead=st.sampled_from(["", " ", "\n"]))
def test_json_answers_whose_strings_hold_tags_pass_unchanged(value: str, lead: str) -> None:
    """The tags inside a JSON string are data: one call, the value as written, whole
    and streamed."""
    answer = lead + json.dumps({"text": value})
    client, sent = openai_client([chat_completion(answer), chat_chunks([answer[:7], answer[7:]])])
    assert _guarded(client, Note)(list(USER)) == Note(text=value)

    def stream(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="m", messages=messages, stream=True)

    partials = list(lg.guard(schema=Note, retries=0).stream(stream, list(USER)))
    assert partials[-1].value == Note(text=value)
    assert len(sent) == 2


def test_a_long_streamed_thought_shows_no_partial_until_it_closes() -> None:
    """Two thousand chunks of reasoning, each drafting a value, then the answer: the
    partials are the answer's alone (the reasoning is read again and again as it grows,
    each read a scan)."""
    draft = '{"category": "billing", "urgency": 1} '
    pieces = ["<think>", *([draft] * 2000), "</think>\n", GOOD[:12], GOOD[12:]]
    client, sent = openai_client([chat_chunks(pieces)])

    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="m", messages=messages, stream=True)

    partials = list(lg.guard(schema=Ticket, retries=0).stream(triage, list(USER)))
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    assert all(getattr(p.value, "category", None) != "billing" for p in partials)
    assert len(sent) == 1
