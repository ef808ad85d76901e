"""Near-JSON repaired before a paid re-ask (issue 16, item 4).

Through the real ``openai`` and ``anthropic`` SDKs on a mock transport: a slip the
``json-repair`` library mends is accepted with no second request and labelled
``json_repair`` on its attempt record; ``repair=False`` re-asks instead; a repaired value
that fails the schema is re-asked. And the bound that keeps hostile answers cheap:
``json-repair`` is quadratic on some text, so it only ever sees a short, token-shaped span.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

import llmguard as lg
from llmguard._guard.repair import MAX_REPAIR_CHARS, MAX_REPAIR_DEPTH, mends_nothing, repairs
from llmguard._guard.schema import CompiledSchema, compile_schema, extract
from llmguard.testing import capture
from tests._helpers.reliability import cpu_seconds, soup_times
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    async_openai_client,
    chat_completion,
    openai_client,
)


class Ticket(BaseModel):
    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)


TICKET = compile_schema(Ticket)
GOOD = Ticket(category="bug", urgency=3)
MESSAGES: Any = [{"role": "user", "content": "Classify: the app crashes."}]

# The slips the issue lists, each as a model writes it, and where the value was found.
NEAR_JSON = {
    "trailing comma": ('{"category": "bug", "urgency": 3,}', "strict"),
    "single quotes": ("{'category': 'bug', 'urgency': 3}", "strict"),
    "unquoted keys": ('{category: "bug", urgency: 3}', "strict"),
    "python literals": ('{"category": "bug", "urgency": 3, "done": True, "note": None}', "strict"),
    "unclosed at the end": ('{"category": "bug", "urgency": 3\n', "strict"),
    "in a fence": ('Here it is:\n```json\n{"category": "bug", "urgency": 3,}\n```', "fence"),
    "in prose": ("Sure. {'category': 'bug', 'urgency': 3} Anything else?", "embedded"),
    "after a citation": ("See [1]. {category: 'bug', urgency: 3,}", "embedded"),
    "everything at once": ("{category: 'bug', 'urgency': 3, 'x': [True, None,],", "strict"),
}


def attempts(records: list[lg.Record]) -> list[dict[str, Any]]:
    return [r.attempt for r in records if r.kind == "attempt" and r.attempt is not None]


@pytest.mark.parametrize(("answer", "stage"), NEAR_JSON.values(), ids=NEAR_JSON.keys())
def test_near_json_is_repaired_without_a_second_request(answer: str, stage: str) -> None:
    """The OpenAI SDK is asked once; the attempt record says json_repair and where."""
    client, sent = openai_client([chat_completion(answer)])

    @lg.guard(schema=Ticket, retries=2)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        assert triage(MESSAGES) == GOOD
    assert len(sent) == 1
    (attempt,) = attempts(records)
    assert attempt["outcome"] == "ok"
    assert (attempt["repair"], attempt["stage"]) == ("json_repair", stage)


def test_repair_false_reasks_with_the_syntax_error() -> None:
    """With repair=False the same slip costs a re-ask, whose correction names it."""
    client, sent = openai_client(
        [chat_completion('{"category": "bug", "urgency": 3,}'), chat_completion(GOOD_JSON)]
    )

    @lg.guard(schema=Ticket, retries=1, repair=False)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        assert triage(MESSAGES) == GOOD
    assert len(sent) == 2
    assert sent[1].json["messages"][-1] == {
        "role": "user",
        "content": "Your answer did not match the required schema:\n"
        "- $: the answer is not valid JSON: trailing comma at line 1, column 34 "
        '(remove the comma before the closing bracket) (got ..."y\\": \\"bug\\", '
        '\\"urgency\\": 3,}")\n'
        "Answer again with only the corrected JSON.",
    }
    assert [(a["outcome"], a.get("repair")) for a in attempts(records)] == [
        ("invalid", None),
        ("ok", None),
    ]


GOOD_JSON = '{"category": "bug", "urgency": 3}'


def test_a_repaired_value_that_fails_the_schema_is_reasked() -> None:
    """Repaired JSON is only a candidate: urgency 9 is re-asked, with both problems."""
    client, sent = openai_client(
        [chat_completion("{'category': 'bug', 'urgency': 9}"), chat_completion(GOOD_JSON)]
    )

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        assert triage(MESSAGES) == GOOD
    correction = sent[1].json["messages"][-1]["content"]
    assert correction == (
        "Your answer did not match the required schema:\n"
        "- $: the answer is not valid JSON: key must be a string at line 1, column 2 "
        "(JSON strings and keys take double quotes) (got \"{'category': 'bug\")\n"
        "- $.urgency: Input should be less than or equal to 5 (got 9)\n"
        "Answer again with only the corrected JSON."
    )
    first, second = attempts(records)
    assert (first["outcome"], first.get("repair")) == ("invalid", None)
    assert [e["path"] for e in first["errors"]] == ["$", "$.urgency"]
    assert (second["outcome"], second.get("repair")) == ("ok", None)


def test_prose_is_never_repaired_into_a_value() -> None:
    """json-repair turns prose into "" or a string; no such value is accepted for a str."""
    client, sent = openai_client([chat_completion("I cannot help with that {oops")])

    @lg.guard(schema=list[int], retries=0, on_fail="return")
    def numbers(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    failure = numbers(MESSAGES)
    assert not failure
    assert len(sent) == 1
    assert failure.attempts[0].errors[0].message.startswith("the answer is not valid JSON")


def test_anthropic_text_is_repaired_too() -> None:
    """A Claude answer with single quotes is mended; one request to the Messages API."""
    client, sent = anthropic_client([anthropic_message("{'category': 'bug', 'urgency': 3,}")])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: Any) -> Any:
        return client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=messages)

    with capture() as records:
        assert triage(MESSAGES) == GOOD
    assert len(sent) == 1
    assert attempts(records)[0]["repair"] == "json_repair"


async def test_async_calls_are_repaired() -> None:
    """The async driver judges through the same flow: repaired, one request."""
    client, sent = async_openai_client([chat_completion("{category: 'bug', urgency: 3}")])

    @lg.guard(schema=Ticket)
    async def triage(messages: Any) -> Any:
        return await client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert await triage(MESSAGES) == GOOD
    assert len(sent) == 1


def test_strict_json_is_not_labelled_a_repair() -> None:
    """Valid JSON keeps its own stage: the repair label is only for what json-repair mended."""
    assert extract(GOOD_JSON, TICKET).repair is None
    assert extract(f"```json\n{GOOD_JSON}\n```", TICKET).repair == "fence"
    assert extract(f"Here: {GOOD_JSON}", TICKET).repair == "embedded"


def test_a_span_over_the_cap_is_not_repaired() -> None:
    """Past MAX_REPAIR_CHARS the answer is re-asked: a trailing comma after 20 KB of note."""
    note = "x" * (MAX_REPAIR_CHARS + 100)
    answer = f'{{"category": "bug", "urgency": 3, "note": "{note}",}}'
    found = extract(answer, compile_schema(dict[str, Any]))
    assert not found.ok
    assert "trailing comma" in found.errors[0].message
    assert extract(answer.replace(note, "short"), compile_schema(dict[str, Any])).ok


def test_nesting_past_the_depth_cap_is_not_repaired() -> None:
    """A span nested past MAX_REPAIR_DEPTH is never handed to json-repair whole."""
    deep = "[" * (MAX_REPAIR_DEPTH + 1) + "1," + "]" * (MAX_REPAIR_DEPTH + 1)
    shallow = "[" * MAX_REPAIR_DEPTH + "1," + "]" * MAX_REPAIR_DEPTH
    assert [body.count("[") for _, body in repairs(deep)] == [MAX_REPAIR_DEPTH]  # the inner one
    assert [stage for stage, _ in repairs(shallow)] == ["strict"]
    assert list(repairs("[" * 10_000)) == []


# -- hostile answers: json-repair is quadratic on these; the guard is not ------------------

MB = 1_000_000

# Each is one that took json-repair seconds when handed the whole text (measured on this
# machine: 16 KB of "[{]]" 17 s, an unterminated string full of brackets 15 s).
HOSTILE = {
    "mismatched brackets": lambda n: "[{]]" * (n // 4),
    "an unterminated string of brackets": lambda n: '{"a": "' + "{a: " * (n // 4),
    "an opening-brace flood": lambda n: "{" * n,
    "unclosed objects in prose": lambda n: 'see {"a": [1, 2, ' * (n // 17),
    "quotes and backslashes": lambda n: '["\\' * (n // 3),
    "strings glued to words": lambda n: '[1, ["11e' + '"11e' * (n // 4),
    "single-quote floods": lambda n: "{'a" * (n // 3),
    "a near-JSON list just under the cap": lambda n: "[" + "{'a': 1, b: True,}," * (n // 20),
}


@pytest.mark.parametrize("build", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_ten_megabyte_answer_built_against_json_repair_is_judged_in_under_a_second(
    build: Callable[[int], str],
) -> None:
    """Inside @lg.guard, 10 MB of text json-repair chokes on is judged in < 1 s of CPU."""
    answer = build(10 * MB)

    @lg.guard(schema=Ticket, retries=0, on_fail="return")
    def triage(prompt: str) -> str:
        return answer

    results: list[object] = []
    seconds = cpu_seconds(lambda: results.append(triage("classify")))
    assert not results[0]
    assert seconds < 1.0, f"{len(answer):,} characters took {seconds:.2f} s"


@pytest.mark.parametrize("build", HOSTILE.values(), ids=HOSTILE.keys())
def test_each_hostile_shape_costs_little_at_the_cap(build: Callable[[int], str]) -> None:
    """At the span cap, where json-repair does run, a hostile shape costs < 0.25 s."""
    text = build(MAX_REPAIR_CHARS)[:MAX_REPAIR_CHARS]
    seconds = min(cpu_seconds(lambda: list(repairs(text))) for _ in range(2))
    assert seconds < 0.25, f"{seconds:.3f} s"


FRAGMENTS = ["```", "```json\n", "{", "}", "[", "]", '"', "'", "\\", ":", ",", " ", "\n"]
FRAGMENTS += ["a", "1", "1e", "True", "None", "nul", '"k"', "'k': ", "{a: ", "[1, ", "[{]]"]
SCHEMAS = [TICKET, compile_schema(list[int]), compile_schema(dict[str, Any])]
SMALL = 64 * 1024


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    head=st.lists(st.sampled_from(FRAGMENTS), max_size=20),
    unit=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8),
    schema=st.sampled_from(SCHEMAS),
)
def test_extraction_with_repair_grows_linearly_on_near_json_soups(
    head: list[str], unit: list[str], schema: CompiledSchema
) -> None:
    """Four times the soup takes at most about four times as long (10x for noise, +60 ms
    for the bounded json-repair work either size may do)."""
    small, large = soup_times(head, unit, schema, SMALL)
    assert large <= 10 * small + 0.06, f"{small * 1000:.1f} ms, then {large * 1000:.1f} ms"


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from([*FRAGMENTS, "é", "\ud83d", "\x00"])).map("".join))
def test_repair_never_raises_and_only_yields_json_containers(text: str) -> None:
    """Whatever the text, repairs() yields (stage, JSON array or object) and never raises."""
    for stage, body in repairs(text):
        assert stage in ("strict", "fence", "embedded")
        assert body[0] in "[{"


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_extract_with_repair_never_raises_on_any_text(text: str) -> None:
    """Arbitrary Unicode, lone surrogates included: extract answers, with a value or errors."""
    found = extract(text, TICKET)
    assert found.ok or found.errors
    if found.ok:
        assert isinstance(found.value, Ticket)


# -- what json-repair is given ---------------------------------------------------------------

NOT_HANDED_OVER = {
    "a closing bracket that does not match": '{"a": [1, 2}',
    "two values glued together": '{"a": "x"y}',
    "a string left open": '{"a": 1, "b": "cut sho',
    "a key with no value": '{"a": 1, "b": }',
    "a key cut after its colon": '{"a": 1, "b":',
    "an empty container cut short": '{"a": [',
    "a bare word as a value": '{"a": maybe}',
    "a bare word in an array": "[see above]",
    "a missing colon": '{"a" 1}',
    "a missing comma": '{"a": 1 "b": 2}',
    "prose in braces": "{maybe}",
    "a character JSON has no token for": '{"a": 1; "b": 2,}',
}


@pytest.mark.parametrize("text", NOT_HANDED_OVER.values(), ids=NOT_HANDED_OVER.keys())
def test_text_that_does_not_read_as_json_tokens_is_not_repaired(text: str) -> None:
    """Only JSON with the slips json-repair mends reaches it: nothing is made up."""
    assert list(repairs(text)) == []


def test_an_answer_cut_inside_a_fence_is_repaired_up_to_the_fence() -> None:
    """A fence closing over brackets still open ends the span there, and the value is mended."""
    found = extract('```json\n{"category": "bug", "urgency": 3\n```', TICKET)
    assert (found.value, found.repair, found.stage) == (GOOD, "json_repair", "fence")


WORDS = st.text(alphabet="abcdefghij XYZ", max_size=8)
PLAIN = st.none() | st.booleans() | st.integers(-1000, 1000) | WORDS
KEYS = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    data=st.dictionaries(KEYS, PLAIN | st.lists(PLAIN, max_size=3), min_size=1, max_size=6),
    trailing=st.booleans(),
    prose=st.sampled_from(["", "Here you go: ", "```json\n"]),
)
def test_python_reprs_are_repaired_to_the_same_value(
    data: dict[str, Any], trailing: bool, prose: str
) -> None:
    """A dict written as Python writes it (single quotes, True/None), with or without a
    trailing comma, in prose or a fence, is mended to exactly that dict."""
    body = repr(data)
    if trailing:
        body = body[:-1] + ",}"
    found = extract(prose + body, compile_schema(dict[str, Any]))
    assert found.ok
    assert found.value == data
    if body != json.dumps(data):
        assert found.repair == "json_repair"


# -- answers that are JSON already ---------------------------------------------------------

_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from("ab{}[]\"\\:, \n'`é\u2028"), max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(alphabet=st.sampled_from("ab{[ '`é"), max_size=6), inner, max_size=4
        )
    ),
    max_leaves=20,
)


# Strings holding what the span reader must read as part of a string, in every run: an
# escaped quote before a closing bracket, a bracket before a fence, quotes of both
# kinds, a line separator, and a float's exponent sign outside strings. A reader that
# ends a string at an escaped quote, or a span at a fence inside a string (both
# planted), fails these examples; 400 random examples alone missed the first in one
# seed of six and the fence in five.
_AWKWARD = [
    'a\\"{b', 'x\\\\"]', "```", "a```{", '"', "it's", "`'`", "\u2028{", "é\\n[",
]  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(
    value=st.lists(_JSON_VALUES, max_size=3) | st.dictionaries(st.text(max_size=4), _JSON_VALUES),
    indent=st.none() | st.integers(0, 3),
    ascii_only=st.booleans(),
    around=st.tuples(st.sampled_from(["", " ", "\n", "\t "]), st.sampled_from(["", "\n", " "])),
)
@example(value=['"]', {"k": '"}'}], indent=None, ascii_only=False, around=("", ""))
@example(value=[{"[": None, "```": None}], indent=None, ascii_only=True, around=("", ""))
@example(
    value=[*_AWKWARD, {"k": _AWKWARD}, 1e20, -1.5e-07],
    indent=None,
    ascii_only=False,
    around=("", ""),
)
@example(value={"```": _AWKWARD, "'": [[["]"]]]}, indent=2, ascii_only=True, around=("\n", " "))
@example(
    value=[{"a": '\\"{[', "b": ["```json\n{"]}], indent=0, ascii_only=False, around=(" ", "\n")
)
def test_json_that_mends_nothing_gives_no_repair(
    value: Any, indent: int | None, ascii_only: bool, around: tuple[str, str]
) -> None:
    """When `mends_nothing` says so, `repairs` yields nothing for the answer, however the
    JSON is laid out and whatever its strings hold (brackets, quotes, fences)."""
    body = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    text = around[0] + body + around[1]
    if mends_nothing(text.strip()):
        assert list(repairs(text)) == []


def test_a_usual_bad_answer_mends_nothing_and_an_unusual_one_is_read() -> None:
    """A whole answer of JSON with wrong values skips json-repair; near-JSON, NaN, deep
    nesting and over-long answers do not."""
    assert mends_nothing('{"category": "not-a-category", "urgency": 9}')
    assert mends_nothing("[1, 2, {}]")
    assert not mends_nothing('{"category": "bug", "urgency": 3,}')
    assert not mends_nothing('{"urgency": NaN}')
    assert not mends_nothing("[" * 33 + "]" * 33)
    assert not mends_nothing('"just a string"')
    assert not mends_nothing("[" + "1, " * MAX_REPAIR_CHARS + "1]")


def test_a_bad_answer_that_is_json_gets_the_same_errors_with_and_without_repair() -> None:
    """Skipping json-repair for an answer that is JSON already changes nothing: the
    schema's errors are those `repair=False` gives."""
    text = '{"category": "not-a-category", "urgency": 9}'
    with_repair, without = extract(text, TICKET), extract(text, TICKET, repair=False)
    assert not with_repair.ok
    assert with_repair.errors == without.errors
    assert [e.path for e in with_repair.errors] == ["$.category", "$.urgency"]
