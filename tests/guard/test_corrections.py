"""Corrections that say what is wrong (issue 16, item 5).

A syntax slip is named with its line and column in the answer, a hint for the common ones,
and the text around it; JSON nested deeper than the parser reads says so, with the limit.
Shown in the re-ask the real ``openai`` SDK sent (``repair=False``, so the slip is not
mended first). An answer holding several different valid values is accepted with the
first, and its attempt record says it was ambiguous.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import pydantic_core
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

import llmguard as lg
from llmguard._guard.repair import JSON_DEPTH_LIMIT, syntax_error
from llmguard._guard.schema import compile_schema, extract
from llmguard.testing import capture
from tests._helpers.sdk_mocks import chat_completion, openai_client


class Ticket(BaseModel):
    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)


GOOD_JSON = '{"category": "bug", "urgency": 3}'
MESSAGES: Any = [{"role": "user", "content": "Classify: the app crashes."}]
HEAD = "Your answer did not match the required schema:\n"
TAIL = "\nAnswer again with only the corrected JSON."


def reask_text(answer: str, schema: Any = Ticket) -> str:
    """The correction the OpenAI SDK sent after ``answer``, with repair off."""
    client, sent = openai_client([chat_completion(answer), chat_completion(GOOD_JSON)])

    @lg.guard(schema=schema, retries=1, repair=False, on_fail="return")
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    triage(MESSAGES)
    assert len(sent) == 2
    turns = sent[1].json["messages"]
    assert turns[1] == {"role": "assistant", "content": answer}
    content: str = turns[2]["content"]
    return content


CORRECTIONS = {
    "trailing comma": (
        '{"category": "bug", "urgency": 3,}',
        "- $: the answer is not valid JSON: trailing comma at line 1, column 34 (remove the "
        'comma before the closing bracket) (got ..."y\\": \\"bug\\", \\"urgency\\": 3,}")',
    ),
    "single quotes": (
        "{'category': 'bug', 'urgency': 3}",
        "- $: the answer is not valid JSON: key must be a string at line 1, column 2 (JSON "
        "strings and keys take double quotes) (got \"{'category': 'bug\")",
    ),
    "unquoted key": (
        '{category: "bug", "urgency": 3}',
        "- $: the answer is not valid JSON: key must be a string at line 1, column 2 (put "
        'every key in double quotes) (got "{category: \\"bug\\",")',
    ),
    "python literal": (
        '{"category": "bug", "urgency": None}',
        "- $: the answer is not valid JSON: expected value at line 1, column 33 (JSON writes "
        'true, false and null in lower case) (got ..."ry\\": \\"bug\\", \\"urgency\\": None}")',
    ),
    "cut short": (
        '{"category": "bug", "urgency": 3',
        "- $: the answer is not valid JSON: EOF while parsing an object at line 1, column 32 "
        "(the JSON ends before every string, array and object is closed) "
        '(got ..."ory\\": \\"bug\\", \\"urgency\\": 3")',
    ),
    "in prose, on line 3": (
        'Here is the ticket.\n\n  {"category": "bug",\n   "urgency": 3,}\nThanks!',
        "- $: the answer is not valid JSON: trailing comma at line 4, column 17 (remove the "
        "comma before the closing bracket) "
        '(got ..." \\"bug\\",\\n   \\"urgency\\": 3,}\\nThanks!")',
    ),
    "nested too deep": (
        '{"category": "bug", "urgency": ' + "[" * 300 + "]" * 300 + "}",
        f"- $: the JSON is nested more than {JSON_DEPTH_LIMIT} levels deep, deeper than the "
        "parser reads; answer with flatter JSON",
    ),
}


@pytest.mark.parametrize(("answer", "errors"), CORRECTIONS.values(), ids=CORRECTIONS.keys())
def test_the_reask_names_the_syntax_error_and_where(answer: str, errors: str) -> None:
    """The re-ask's user turn is exactly the precise error, never "no JSON value found"."""
    assert reask_text(answer) == HEAD + errors + TAIL


def test_a_prompt_reask_carries_the_same_correction() -> None:
    """A function taking prompt= gets the answer and the precise correction appended."""
    prompts: list[str] = []
    answers = ["{'category': 'bug', 'urgency': 3}", GOOD_JSON]

    @lg.guard(schema=Ticket, retries=1, repair=False)
    def triage(prompt: str) -> str:
        prompts.append(prompt)
        return answers.pop(0)

    assert triage("Classify it.") == Ticket(category="bug", urgency=3)
    assert prompts[1].endswith(
        "Your previous answer:\n{'category': 'bug', 'urgency': 3}\n\n" + HEAD + "- $: the "
        "answer is not valid JSON: key must be a string at line 1, column 2 (JSON strings "
        "and keys take double quotes) (got \"{'category': 'bug\")" + TAIL
    )


def test_a_json_schema_dict_gets_the_same_diagnosis() -> None:
    """The syntax error comes from one parser whatever the schema's kind."""
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    found = extract('{"a": 1,}', compile_schema(schema), repair=False)
    assert found.errors[0].message == (
        "the answer is not valid JSON: trailing comma at line 1, column 9 "
        "(remove the comma before the closing bracket)"
    )


def test_the_depth_limit_is_the_parsers() -> None:
    """JSON_DEPTH_LIMIT levels parse; one more is reported as nested too deep."""
    pydantic_core.from_json("[" * JSON_DEPTH_LIMIT + "]" * JSON_DEPTH_LIMIT)
    deeper = "[" * (JSON_DEPTH_LIMIT + 1) + "]" * (JSON_DEPTH_LIMIT + 1)
    found = extract(deeper, compile_schema(list[Any]), repair=False)
    assert "nested more than" in found.errors[0].message


def test_a_value_of_the_right_type_keeps_its_schema_errors() -> None:
    """A parsed object that fails the schema says so, even if broken JSON follows it."""
    found = extract('{"category": "bug", "urgency": 9} or {broken', compile_schema(Ticket))
    assert [(e.path, e.message) for e in found.errors] == [
        ("$.urgency", "Input should be less than or equal to 5")
    ]


def test_a_syntax_error_beats_a_value_of_the_wrong_type() -> None:
    """A citation [1] parsed but is no Ticket: the broken object is what the model meant."""
    found = extract(
        "See [1]. {'category': 'bug', 'urgency': 3", compile_schema(Ticket), repair=False
    )
    assert found.errors[0].message.startswith(
        "the answer is not valid JSON: key must be a string at line 1, column 11"
    )


def test_prose_without_json_still_says_no_json_value() -> None:
    """An answer with no bracket at all has no syntax error to name."""
    found = extract("I would rather not.", compile_schema(Ticket))
    assert found.errors[0].message == "no JSON value found in the answer"


@settings(max_examples=150, deadline=None)
@given(
    data=st.dictionaries(
        st.text(max_size=8),
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        min_size=1,
        max_size=6,
    ),
    prose=st.lists(st.sampled_from(["Sure.", "Here:", "ok", ""]), max_size=4),
)
def test_a_trailing_comma_is_placed_at_its_closing_bracket(
    data: dict[str, Any], prose: list[str]
) -> None:
    """For any object after any lines of prose, the error points at the bracket after the
    inserted comma: the object's line, and its column counted from that line's start."""
    body = json.dumps(data)
    answer = "\n".join([*prose, body[:-1] + ",}"])
    problem = syntax_error(answer)
    assert problem is not None
    line, column = len(prose) + 1, len(body) + 1
    assert problem.error.message == (
        f"the answer is not valid JSON: trailing comma at line {line}, column {column} "
        "(remove the comma before the closing bracket)"
    )


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_syntax_error_never_raises(text: str) -> None:
    """Any text, lone surrogates included: a problem or None, never an exception."""
    problem = syntax_error(text)
    assert problem is None or problem.first in "[{"


# -- several valid values in one answer ---------------------------------------------------


def test_several_different_valid_values_are_noted_on_the_attempt_record() -> None:
    """The first valid value is used, and the record says the answer was ambiguous."""
    answer = (
        'For example {"category": "other", "urgency": 1}; my answer: '
        '{"category": "bug", "urgency": 4}'
    )
    client, _ = openai_client([chat_completion(answer)])

    @lg.guard(schema=Ticket)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        assert triage(MESSAGES) == Ticket(category="other", urgency=1)
    (attempt,) = [r.attempt for r in records if r.kind == "attempt"]
    assert attempt is not None
    assert attempt["repair"] == "embedded"
    assert attempt["note"] == (
        "ambiguous: 2 different JSON values in the answer pass the schema; the first "
        "(embedded) was used, as llmguard takes the first valid value in reading order"
    )


@pytest.mark.parametrize(
    "answer",
    [
        f"```json\n{GOOD_JSON}\n```\nAgain: {GOOD_JSON}",  # the same value twice
        f'{GOOD_JSON} and {{"category": "bug", "urgency": 9}}',  # only one is valid
        f"Just {GOOD_JSON}",
    ],
    ids=["same value twice", "one valid of two", "one value"],
)
def test_an_answer_with_one_valid_value_is_not_ambiguous(answer: str) -> None:
    """Repeats of one value, or one valid among invalid ones, carry no note."""
    found = extract(answer, compile_schema(Ticket))
    assert found.ok
    assert found.note is None


def test_ambiguity_across_fences_is_noted() -> None:
    """Two fences with two different valid tickets: the first fence wins, noted."""
    answer = f'```json\n{GOOD_JSON}\n```\n```json\n{{"category": "other", "urgency": 2}}\n```'
    found = extract(answer, compile_schema(Ticket))
    assert (found.repair, found.value) == ("fence", Ticket(category="bug", urgency=3))
    assert found.note is not None
    assert found.note.startswith("ambiguous: 2 different")
