"""Reasoning whose opening tag was in the prompt: DeepSeek-R1's and QwQ's chat templates
end the prompt with ``<think>``, so a model served raw answers
``reasoning...</think>answer``. The answer is read from after the last closing tag that
no opening tag comes before, only there: a value drafted in the reasoning was taken (the
first valid value wins). A whole answer that is JSON stays whole, so a JSON string
holding ``</think>`` is data, and a ``str`` answer follows the same rule, whole or
streamed."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import llmguard as lg
from llmguard._guard.schema import compile_schema, extract, lone_close_end
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import chat_chunks, chat_completion, openai_client

DRAFT = '{"category": "billing", "urgency": 1}'
GOOD = '{"category": "bug", "urgency": 2}'
USER = [{"role": "user", "content": "It crashes"}]
REASONING = f"Okay, the user says it crashes. A first guess: {DRAFT}. No: a bug.\n"
TICKET = compile_schema(Ticket)
TEXT = compile_schema(str)


class Note(BaseModel):
    text: str


def _guarded(client: Any, schema: Any, retries: int = 1) -> Any:
    @lg.guard(schema=schema, retries=retries)
    def ask(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="deepseek-r1", messages=messages)

    return ask


def _streamed(client: Any, schema: Any, retries: int = 0) -> list[lg.Partial[Any]]:
    def ask(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="deepseek-r1", messages=messages, stream=True)

    return list(lg.guard(schema=schema, retries=retries).stream(ask, list(USER)))


def test_the_answer_after_a_lone_closing_tag_is_read_not_the_draft() -> None:
    for tag in ("</think>", "</thinking>"):
        client, sent = openai_client([chat_completion(f"{REASONING}{tag}\n\n{GOOD}")])
        assert _guarded(client, Ticket)(list(USER)) == Ticket(category="bug", urgency=2)
        assert len(sent) == 1


def test_the_last_lone_closing_tag_ends_the_reasoning() -> None:
    """Reasoning that itself writes a closing tag, and a leading block before it too."""
    text = f"<think>{DRAFT}</think>{REASONING}</think> {DRAFT} </thinking>\n{GOOD}"
    client, sent = openai_client([chat_completion(text)])
    assert _guarded(client, Ticket)(list(USER)) == Ticket(category="bug", urgency=2)
    assert len(sent) == 1


def test_an_answer_only_before_the_tag_is_reasked_as_reasoning_only() -> None:
    """No fallback to the text before the tag: the draft is never accepted, and the
    re-ask says the answer holds only reasoning, as for ``<think>...</think>``."""
    text = f"{REASONING}So: {GOOD}\n</think>\n"
    client, sent = openai_client([chat_completion(text), chat_completion(GOOD)])
    assert _guarded(client, Ticket)(list(USER)) == Ticket(category="bug", urgency=2)
    assert len(sent) == 2
    turns = sent[1].json["messages"]
    assert turns[1] == {"role": "assistant", "content": text}
    assert "only reasoning" in turns[2]["content"]
    assert "after the closing tag" in turns[2]["content"]


def test_an_opening_tag_before_the_closing_one_makes_it_no_lone_tag() -> None:
    """A block opened mid-answer and closed is not a lone tag: the text before the
    block is not reasoning, and the value in it is read."""
    text = f"Answer: {GOOD} <think>checked</think>"
    client, sent = openai_client([chat_completion(text)])
    assert _guarded(client, Ticket)(list(USER)) == Ticket(category="bug", urgency=2)
    assert len(sent) == 1


def test_a_whole_json_answer_whose_string_holds_the_tag_stays_whole() -> None:
    answer = json.dumps({"text": "R1 ends its reasoning with </think> and then answers."})
    client, sent = openai_client([chat_completion(answer)])
    assert _guarded(client, Note)(list(USER)) == Note(text=json.loads(answer)["text"])
    assert len(sent) == 1


def test_a_json_answer_cut_short_with_the_tag_in_its_string_is_not_cut_at_it() -> None:
    """Read as JSON to its very end, left open: the tag is inside the value, and the
    correction is about the JSON, not about reasoning."""
    cut = '{"text": "it ends with </think> and'
    found = extract(cut, compile_schema(Note))
    assert not found.ok
    assert "reasoning" not in found.errors[0].message


def test_a_str_answer_is_read_after_the_lone_tag_whole_and_streamed() -> None:
    """The same rule for a ``str`` schema: the reasoning is not returned as the answer."""
    text = f"{REASONING}</think>\n\nThe capital of France is Paris."
    client, sent = openai_client([chat_completion(text)])
    assert _guarded(client, str)(list(USER)) == "The capital of France is Paris."
    assert len(sent) == 1
    client, sent = openai_client([chat_chunks([text[:30], text[30:70], text[70:]])])
    assert _streamed(client, str)[-1].value == "The capital of France is Paris."
    assert len(sent) == 1


def test_a_str_answer_that_mentions_the_tag_in_prose_is_read_after_it() -> None:
    """The documented cost of the rule: with no opening tag before it, a closing tag is
    the end of reasoning, even in a ``str`` answer that only mentions it."""
    text = "DeepSeek-R1 ends its reasoning with </think> and then answers."
    assert extract(text, TEXT).value == "and then answers."


def test_guard_stream_partials_after_the_tag_are_the_answers_alone() -> None:
    """Before the tag the reasoning cannot be told from an answer; once it arrives, the
    partials are read from after it, the first with ``reset=True``, and the draft
    never shows again."""
    pieces = [REASONING[:40], REASONING[40:], "</think>\n\n", GOOD[:14], GOOD[14:]]
    client, sent = openai_client([chat_chunks(pieces)])
    partials = _streamed(client, Ticket)
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    shown = [getattr(p.value, "category", None) for p in partials]
    assert "billing" in shown  # the draft, shown before the tag arrived
    first_after = next(i for i, p in enumerate(partials) if p.reset)
    assert "billing" not in shown[first_after:]
    assert len(sent) == 1


def test_guard_stream_keeps_a_json_answer_whose_string_holds_the_tag() -> None:
    """A JSON value still open when the tag arrives in one of its strings is not cut."""
    answer = json.dumps({"text": "a</think>b", "more": "c"})
    pieces = [answer[:8], answer[8:16], answer[16:24], answer[24:]]
    client, _ = openai_client([chat_chunks(pieces)])
    partials = _streamed(client, Note)
    assert partials[-1].value == Note(text="a</think>b")
    assert not any(p.reset for p in partials)
    assert [p.value.text for p in partials[:-1]][-1] == "a</think>b"


_PROSE = st.text(
    alphabet=st.characters(blacklist_characters="<`", blacklist_categories=("Cs",)), max_size=40
)
_CLOSE = st.sampled_from(["</think>", "</thinking>"])


@settings(max_examples=40, deadline=None)
@given(
    reasoning=st.lists(st.one_of(_PROSE, st.just(DRAFT), _CLOSE), max_size=5).map("".join),
    close=_CLOSE,
    answer=st.sampled_from([GOOD, f"Here it is: {GOOD}", f"```json\n{GOOD}\n```"]),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=4),
)
def test_whatever_the_reasoning_holds_the_answer_after_it_wins(
    reasoning: str, close: str, answer: str, cuts: list[int]
) -> None:
    """Whole and streamed (split anywhere): the answer's value, never a draft."""
    text = f"{reasoning}{close}\n{answer}"
    assert extract(text, TICKET).value == Ticket(category="bug", urgency=2)
    bounds = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    client, _ = openai_client([chat_chunks(pieces)])
    partials = _streamed(client, Ticket)
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    draft_shown = False  # since the last reset
    for partial in partials[:-1]:
        draft_shown = draft_shown and not partial.reset
        category = getattr(partial.value, "category", None)
        assert not (category == "bug" and draft_shown), "the answer shown beside a draft"
        draft_shown = draft_shown or category == "billing"


@settings(max_examples=40, deadline=None)
@example(reasoning='"', close="</think>", answer="0")  # a quote opens no JSON to keep whole
@given(reasoning=_PROSE, close=_CLOSE, answer=_PROSE)
def test_a_str_answer_is_the_text_after_the_reasoning(
    reasoning: str, close: str, answer: str
) -> None:
    text = f"{reasoning}{close}{answer}"
    assume(not _whole_json(text))  # a whole JSON answer stays whole (tested above)
    found = extract(text, TEXT)
    if answer.strip():
        assert found.value == answer.strip()
    else:
        assert not found.ok
        assert "only reasoning" in found.errors[0].message


def _whole_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_floods_of_lone_tags_are_read_in_one_pass() -> None:
    """A hundred thousand closing tags, or as many opening ones before one: a scan."""
    flood = "</think>" * 100_000
    assert extract(flood + GOOD, TICKET).value == Ticket(category="bug", urgency=2)
    assert lone_close_end(flood + GOOD) == len(flood)
    opened = "<think>" * 100_000 + "</think>"
    assert lone_close_end("x" + opened) == 0
    assert not extract("x" + "</thinking" * 100_000, TICKET).ok
