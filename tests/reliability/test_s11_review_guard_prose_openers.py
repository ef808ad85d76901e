"""``guard.stream`` and prose holding a bracket before the answer's JSON: ``In the format
{category, urgency}, here it is: {...}``, ``According to [1], ...``. The partials were
read from the first bracket for the whole stream, so a bracket in prose that was not
the answer held every partial back until the final value. Such an opener is passed
over for the next, as the final check's search passes over it: text that is not JSON,
or a whole value that fails the schema. And a closing ``</think`` whose ``>`` came in
the next chunk was never searched for again: the draft before it stayed shown."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import chat_chunks, openai_client

GOOD = '{"category": "bug", "urgency": 2}'
DRAFT = '{"category": "billing", "urgency": 1}'
USER = [{"role": "user", "content": "It crashes"}]


def _streamed(pieces: list[str], schema: Any = Ticket) -> list[lg.Partial[Any]]:
    client, sent = openai_client([chat_chunks(pieces)])

    def ask(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    partials = list(lg.guard(schema=schema, retries=0).stream(ask, list(USER)))
    assert len(sent) == 1
    return partials


def _cuts(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _shown(partials: list[lg.Partial[Any]]) -> list[tuple[Any, Any]]:
    return [(p.value.category, p.value.urgency) for p in partials if not p.final]


def test_an_opener_that_is_not_json_is_passed_over() -> None:
    """``{category, urgency}`` in prose: the answer after it streams."""
    partials = _streamed(_cuts(f"In the format {{category, urgency}}, here it is: {GOOD}", 6))
    assert ("bug", None) in _shown(partials)
    assert partials[-1].value == Ticket(category="bug", urgency=2)


def test_a_whole_value_that_fails_the_schema_is_passed_over() -> None:
    """``According to [1]`` and a sample object that is no ticket: passed over once
    whole; the answer streams."""
    text = f'According to [1] and the sample {{"category": "nope"}}, the answer: {GOOD}'
    partials = _streamed(_cuts(text, 6))
    assert ("bug", None) in _shown(partials)
    assert partials[-1].value == Ticket(category="bug", urgency=2)


def test_a_list_schema_passes_over_a_citation() -> None:
    """``See [1]`` before a list answer: ``[1]`` fails ``list[Ticket]``; the answer's
    items are handed over as they complete."""
    text = f"See [1]. The tickets: [{GOOD}, {GOOD}, {GOOD}]"
    partials = _streamed(_cuts(text, 7), list[Ticket])
    assert [p.item for p in partials if not p.final] == [Ticket(category="bug", urgency=2)] * 3


def test_a_value_that_passes_is_the_one_shown_as_the_final_check_reads_it() -> None:
    """A whole value in prose that passes the schema is what the final check takes
    (the first that validates): the partials stay with it."""
    text = f"First: {DRAFT} and then {GOOD}"
    partials = _streamed(_cuts(text, 6))
    assert partials[-1].value == Ticket(category="billing", urgency=1)
    assert {category for category, _ in _shown(partials)} <= {"billing", None}


def test_a_closing_tag_split_before_its_last_character_still_withdraws_the_draft() -> None:
    """``</think`` in one chunk, ``>`` in the next: the tag is found at the next
    reading, and the draft before it withdrawn."""
    reasoning = f"0000{DRAFT}0000"
    text = f"{reasoning}</think>\n{GOOD}"
    cut = len(reasoning) + len("</think")
    partials = _streamed([text[:cut], text[cut:]])
    assert partials[0].value.category == "billing"
    assert partials[1].reset
    assert partials[1].value.category == "bug"


def test_a_flood_of_openers_in_prose_ends() -> None:
    """Half a megabyte of ``{x [1] `` before the answer: each opener is passed over at
    most once, and no more than the final check's search tries; past them the final
    check gives up too (`MAX_EMBEDDED_STARTS`), and the answer is refused."""
    text = "{x [1] " * 70_000 + GOOD
    client, sent = openai_client([chat_chunks(_cuts(text, 4096))])

    def ask(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    shown: list[lg.Partial[Any]] = []
    partials = lg.guard(schema=Ticket, retries=0).stream(ask, list(USER))
    with pytest.raises(lg.SchemaViolation):
        shown.extend(partials)
    assert shown == []
    assert len(sent) == 1


def test_openers_the_final_check_also_passes_over_do_not_hold_the_answer_back() -> None:
    """A hundred openers that are not the answer, then the answer: it streams."""
    text = "{x [1] " * 50 + GOOD
    partials = _streamed(_cuts(text, 9))
    assert ("bug", None) in _shown(partials)
    assert partials[-1].value == Ticket(category="bug", urgency=2)


_PROSE = st.text(alphabet=st.sampled_from(list('ab 1,:{}[]"\n')), max_size=30)


@settings(max_examples=40, deadline=None)
@example(prose="In the format {category, urgency}: ", cuts=[20, 40, 60])
@example(prose='[1] {"a": [2]} ', cuts=[10, 30])
@given(prose=_PROSE, cuts=st.lists(st.integers(min_value=1, max_value=120), max_size=6))
def test_whatever_brackets_the_prose_holds_the_partials_show_only_the_answer(
    prose: str, cuts: list[int]
) -> None:
    """Split anywhere: no partial shows a value the answer does not hold, and the final
    value is the answer whenever the final check reads it."""
    text = f"{prose}{GOOD}"
    bounds = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    partials = _streamed([text[a:b] for a, b in itertools.pairwise(bounds)])
    final = partials[-1]
    assert final.final
    if isinstance(final.value, Ticket):
        assert final.value == Ticket(category="bug", urgency=2)
        assert {c for c, _ in _shown(partials)} <= {"bug", None}
        assert {u for _, u in _shown(partials)} <= {2, None}


def test_what_a_value_passed_over_showed_is_withdrawn() -> None:
    """A value that showed partials, then failed the schema once whole: the next
    partial, the answer's, has ``reset=True``."""
    other = '{"category": "other", "urgency": 3}'
    text = f'Not {{"category": "bug", "urgency": 9}}, but: {other}'
    partials = _streamed(_cuts(text, 5))
    shown = [(p.value.category, p.value.urgency, p.reset) for p in partials[:-1]]
    assert ("bug", 9, False) in shown
    first_other = next(i for i, s in enumerate(shown) if s[0] == "other")
    assert shown[first_other][2]
    assert all(s[0] == "other" for s in shown[first_other:])
    assert partials[-1].value == Ticket(category="other", urgency=3)
