"""``guard.stream`` and reasoning whose opening tag was in the prompt (DeepSeek-R1's and
QwQ's templates end the prompt with ``<think>``): the model streams
``reasoning...</think>answer``. Until the closing tag arrives, a value drafted in the
reasoning looks like JSON in prose, as an ordinary model's ``Here it is: {...}`` does,
and is shown as it streams; once the tag arrives it is withdrawn: the next partial has
``reset=True`` and is read from after the tag, as the final check reads the answer. An
answer that begins as JSON (after thinking blocks, a lone closing tag or a code fence)
streams too."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import chat_chunks, openai_client

DRAFT = '{"category": "billing", "urgency": 1}'
GOOD = '{"category": "bug", "urgency": 2}'
USER = [{"role": "user", "content": "It crashes"}]
REASONING = f"Okay, the user says it crashes. A first guess: {DRAFT}. No: a bug.\n"


def _streamed(pieces: list[str], schema: Any = Ticket) -> list[lg.Partial[Any]]:
    client, sent = openai_client([chat_chunks(pieces)])

    def ask(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="deepseek-r1", messages=messages, stream=True)

    partials = list(lg.guard(schema=schema, retries=0).stream(ask, list(USER)))
    assert len(sent) == 1
    return partials


def _categories(partials: list[lg.Partial[Any]]) -> list[Any]:
    return [getattr(p.value, "category", None) for p in partials]


def test_a_draft_shown_before_the_closing_tag_is_withdrawn_at_it() -> None:
    """The draft is whole long before the tag: it shows, then the first partial after
    the tag has ``reset=True`` and the draft never shows again."""
    pieces = [REASONING[:40], REASONING[40:80], REASONING[80:], "</think>\n\n"]
    pieces += [GOOD[:14], GOOD[14:24], GOOD[24:]]
    partials = _streamed(pieces)
    assert partials[-1].final
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    shown = _categories(partials)
    first_reset = next(i for i, p in enumerate(partials) if p.reset)
    assert "billing" in shown[:first_reset]
    assert "billing" not in shown[first_reset:]
    assert len(partials) - first_reset > 1  # the answer after the tag streamed


def test_an_answer_in_prose_streams() -> None:
    """``Here it is: {...}`` with no tag streams as it arrives, never reset."""
    text = f"Here it is: {GOOD}"
    partials = _streamed([text[:15], text[15:30], text[30:]])
    assert [p.final for p in partials] == [False, False, True]
    assert partials[0].value.category == "bug"
    assert not any(p.reset for p in partials)


def test_an_answer_that_begins_as_json_or_a_fence_still_streams() -> None:
    """JSON from its first character, or after an opening fence, streams as before."""
    for text in (GOOD, f"```json\n{GOOD}\n```", f"<think>{DRAFT}</think>\n{GOOD}"):
        cuts = [text[:-20], text[-20:-8], text[-8:]]
        partials = _streamed(cuts)
        assert len(partials) > 1, text
        assert partials[-1].value == Ticket(category="bug", urgency=2)
        assert "billing" not in _categories(partials)


def test_reasoning_that_opens_with_json_is_dropped_at_the_tag() -> None:
    """The one case a partial can still show a draft: text that begins as JSON is read
    as the answer until the tag says otherwise; the next partial has ``reset=True``."""
    text = f"{DRAFT} hmm, no.</think>{GOOD}"
    partials = _streamed([text[:20], text[20:50], text[50:60], text[60:]])
    first_after = next(i for i, p in enumerate(partials) if p.reset)
    assert "billing" not in _categories(partials)[first_after:]
    assert partials[-1].value == Ticket(category="bug", urgency=2)


def test_a_list_after_the_tag_hands_over_only_the_answers_items() -> None:
    """A list schema: the draft object in the reasoning is no list, so no item is handed
    over before the tag; after it, the answer's items are."""
    items = f"[{GOOD}, {GOOD}]"
    text = f"{REASONING}</think>Sure: {items}"
    partials = _streamed([text[:50], text[50:100], text[100:]], list[Ticket])
    assert partials[-1].value == [Ticket(category="bug", urgency=2)] * 2
    for partial in partials:
        assert all(t.category == "bug" for t in partial.value)


_PROSE = st.text(
    alphabet=st.characters(blacklist_characters="<`{[", blacklist_categories=("Cs",)),
    max_size=40,
)
_CLOSE = st.sampled_from(["</think>", "</thinking>"])


@settings(max_examples=40, deadline=None)
@example(reasoning=REASONING, close="</think>", answer=GOOD, cuts=[60, 90])
@given(
    reasoning=st.tuples(
        _PROSE.filter(str.strip), st.lists(st.one_of(_PROSE, st.just(DRAFT)), max_size=4)
    ).map(lambda parts: parts[0] + "".join(parts[1])),
    close=_CLOSE,
    answer=st.sampled_from([GOOD, f"Here it is: {GOOD}", f"```json\n{GOOD}\n```"]),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=5),
)
def test_whatever_the_reasoning_drafts_is_withdrawn_before_the_answer(
    reasoning: str, close: str, answer: str, cuts: list[int]
) -> None:
    """Split anywhere: a partial that showed the draft is followed by one with
    ``reset=True`` (the final one at the latest), after which only the answer shows."""
    text = f"{reasoning}{close}\n{answer}"
    bounds = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    partials = _streamed([text[a:b] for a, b in itertools.pairwise(bounds)])
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    shown = _categories(partials)
    if "billing" in shown:
        last_draft = len(shown) - 1 - shown[::-1].index("billing")
        assert any(p.reset for p in partials[last_draft + 1 :])


def test_reasoning_that_begins_with_a_quote_is_still_reasoning() -> None:
    """``"Hmm...</think>Paris``: the open quote read as a JSON string cut short, whose
    string held the tag, so a ``str`` answer was the whole reasoning. Only an object or
    array left open keeps the tag; whole and streamed alike."""
    from tests._helpers.sdk_mocks import chat_completion

    text = '"Paris, or Lyon? The capital is Paris.</think> Paris'
    client, sent = openai_client([chat_completion(text)])

    @lg.guard(schema=str)
    def ask(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="deepseek-r1", messages=messages)

    assert ask(list(USER)) == "Paris"
    assert len(sent) == 1
    # Streamed, the quoted words read as a JSON string until the tag arrives (text that
    # begins as JSON is shown); the final value is the answer after it.
    partials = _streamed([text[:5], text[5:30], text[30:]], str)
    assert partials[-1].final
    assert partials[-1].value == "Paris"
