"""The json-repair skip for answers that are JSON as a whole, and pydantic-core's
validator called directly.

The skip must never hide a repair `repairs` would have made, and the direct validator
must accept, reject and describe every answer as ``TypeAdapter.validate_json`` does.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import pydantic
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from llmguard._guard.repair import mends_nothing, repairs
from llmguard._guard.schema import (
    CompiledSchema,
    SchemaErrors,
    _details,
    compile_schema,
    extract,
    pydantic_errors,
)

# -- the json-repair skip --------------------------------------------------------------

# Strings that hold near-JSON (what json-repair would mend were it read as a span of its
# own), fences, quotes, brackets and escapes.
_TRICKY = st.sampled_from(
    [
        "{'a': 1}",
        "[1, 2,]",
        "{a: True}",
        "```json\n{'x': None}\n```",
        "```",
        '{"k": [1, 2',
        "\\",
        '"',
        "'",
        "NaN",
        "Infinity",
        "\u2028",
        "\ufeff",
        "\x00",
        "é{",
        "]}",
    ]
)
_TEXT = st.one_of(_TRICKY, st.text(alphabet="ab{}[]\"'\\:,` \n", max_size=10))
_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=12,
)
# The whitespace JSON allows between tokens, and Python's wider notion around the text.
_GAP = st.sampled_from(["", " ", "\n", "\t", "\r\n", "  \n  "])
_AROUND = st.sampled_from(["", " ", "\n", "\u2028", "\x85", "\x1c", "\u3000"])


def _laid_out(value: Any, gaps: list[str]) -> str:
    """``value`` as JSON with ``gaps`` (cycled) around every structural token."""
    gap = iter(gaps * 1000)

    def walk(node: Any) -> str:
        if isinstance(node, list):
            inner = f",{next(gap)}".join(next(gap) + walk(item) for item in node)
            return f"[{inner}{next(gap)}]"
        if isinstance(node, dict):
            parts = (f"{json.dumps(k)}{next(gap)}:{next(gap)}{walk(v)}" for k, v in node.items())
            return "{" + next(gap) + f",{next(gap)}".join(parts) + next(gap) + "}"
        return json.dumps(node, ensure_ascii=False)

    return walk(value)


# The generated answers run the skip over the same paths the table below does (the
# planted faults it catches -- `repairs` reading on inside a span that was JSON, or
# mending a span that is JSON already -- the table catches too); the examples hold the
# answers those faults show on: near-JSON, a fence and escapes in keys and in strings,
# nested, laid out with every gap, Unicode whitespace around.
@settings(max_examples=40, deadline=None)
@given(
    value=st.lists(_VALUES, max_size=4) | st.dictionaries(_TEXT, _VALUES, max_size=4),
    gaps=st.lists(_GAP, min_size=1, max_size=4),
    before=_AROUND,
    after=_AROUND,
)
@example(value=["{'a': 1}", "[1, 2,]"], gaps=[""], before="", after="")
@example(
    value={"```json\n{'x': None}\n```": [{"{a: True}": '{"k": [1, 2'}], "\\": '"]}'},
    gaps=["\n", "\t", "  \n  "],
    before="\u3000",
    after="\x85",
)
@example(
    value=[[["é{", "NaN"], {"'": "```"}], None, 1.5],
    gaps=["\r\n", " "],
    before="\u2028",
    after="\x1c",
)
def test_answers_the_skip_takes_have_nothing_for_json_repair(
    value: Any, gaps: list[str], before: str, after: str
) -> None:
    """For JSON laid out any way, with near-JSON, fences and quotes inside its strings,
    and Unicode whitespace around it: when `mends_nothing` skips the answer, `repairs`
    has nothing for it either."""
    text = before + _laid_out(value, gaps) + after
    if mends_nothing(text.strip()):
        assert list(repairs(text)) == []


@pytest.mark.parametrize(
    ("text", "skipped"),
    [
        ('{"a": 1, "a": 2}', True),  # duplicate keys: JSON, the last wins
        ('{"n": 1e400}', True),  # a float past double range
        ('{"n": 123456789012345678901234567890123456789}', True),  # a huge integer
        ('{"s": "\\ud800"}', False),  # an escaped lone surrogate: jiter refuses it
        ('["{\'a\': 1}", "[1,]"]', True),  # near-JSON inside strings
        ('{"k": "```json\\n{\'a\': 1}\\n```"}', True),  # a fence inside a string
        ("[" * 32 + "]" * 32, True),  # the deepest nesting the skip takes
        ('{"s": "' + "[" * 40 + '"}', False),  # brackets in strings count against it
        ('\ufeff{"a": 1}', False),  # a BOM first: not a bracket first
        ('{"a": 1} // comment', False),
        ('{"a": 1,}', False),
        ("{'a': 1}", False),
        ('{"a": -Infinity}', False),
        ('{"a": "NaN"}', False),  # NaN in a string still turns the skip off
    ],
)
def test_the_skip_takes_exactly_the_answers_it_should(text: str, skipped: bool) -> None:
    """Where the skip applies, reading every span finds nothing to mend either; the
    near-JSON, BOM, lone-surrogate and over-bracketed answers are still read."""
    assert mends_nothing(text.strip()) is skipped
    if skipped:
        assert list(repairs(text)) == []


class _Ticket(BaseModel):
    category: str
    urgency: int = Field(ge=1, le=5)


@settings(max_examples=150, deadline=None)
@given(
    value=st.dictionaries(
        st.sampled_from(["category", "urgency", "x"]),
        st.one_of(_TEXT, st.integers(-3, 9), st.none(), st.lists(st.integers(), max_size=2)),
        max_size=3,
    ),
    gaps=st.lists(_GAP, min_size=1, max_size=3),
)
def test_a_bad_answer_that_is_json_gets_the_errors_it_got_when_every_span_was_read(
    value: dict[str, Any], gaps: list[str]
) -> None:
    """With the skip, a whole-JSON bad answer gets `repair=False`'s verdict and errors,
    which is what reading its one span (JSON already) gave before."""
    schema = compile_schema(_Ticket)
    text = _laid_out(value, gaps)
    with_repair, without = extract(text, schema), extract(text, schema, repair=False)
    assert with_repair.ok == without.ok
    assert with_repair.errors == without.errors
    assert with_repair.value == without.value


# -- pydantic-core's validator, called directly ----------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True)
    n: int
    s: str


class _Forbid(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: int


class _Aliased(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    user_name: str = Field(alias="userName")
    age: Annotated[int, Field(validation_alias="years")] = 0


class _ByContext(BaseModel):
    word: str

    @field_validator("word")
    @classmethod
    def _allowed(cls, value: str, info: ValidationInfo) -> str:
        allowed = (info.context or {}).get("allowed")
        if allowed is not None and value not in allowed:
            raise ValueError(f"{value!r} is not one of {sorted(allowed)}")
        return value.upper()

    @model_validator(mode="after")
    def _not_empty(self) -> _ByContext:
        if not self.word:
            raise ValueError("word is empty")
        return self


class _Attributes(BaseModel):
    model_config = ConfigDict(from_attributes=True, str_strip_whitespace=True)
    name: str
    inner: _Strict | None = None


_CASES: list[tuple[Any, bool, dict[str, Any] | None, str]] = [
    (_Strict, False, None, '{"n": 1, "s": "x"}'),
    (_Strict, False, None, '{"n": "1", "s": "x"}'),
    (_Strict, False, None, '{"n": 1.0, "s": 2}'),
    (_Ticket, True, None, '{"category": "bug", "urgency": "3"}'),
    (_Ticket, False, None, '{"category": "bug", "urgency": "3"}'),
    (_Ticket, True, None, '{"category": "bug", "urgency": 3.0}'),
    (_Forbid, False, None, '{"a": 1, "b": 2}'),
    (_Forbid, False, None, '{"a": 1}'),
    (_Aliased, False, None, '{"userName": "ann", "years": 4}'),
    (_Aliased, False, None, '{"user_name": "ann", "age": 4}'),
    (_Aliased, False, None, '{"user_name": "ann", "years": "x"}'),
    (_ByContext, False, {"allowed": ["a", "b"]}, '{"word": "a"}'),
    (_ByContext, False, {"allowed": ["a", "b"]}, '{"word": "c"}'),
    (_ByContext, False, None, '{"word": ""}'),
    (_ByContext, False, None, '{"word": "zz"}'),
    (_Attributes, False, None, '{"name": "  pad  ", "inner": {"n": 1, "s": "t"}}'),
    (_Attributes, False, None, '{"name": "x", "inner": {"n": "1", "s": "t"}}'),
    (list[_Ticket], False, None, '[{"category": "a", "urgency": 9}, {"urgency": 1}]'),
    (dict[str, int], True, None, '{"a": true}'),
    (_Ticket, False, None, '{"category": "bug", "urgency": 3'),
    (_Ticket, False, None, '{"category": "\\ud800", "urgency": 3}'),
    (_Ticket, False, None, "nope"),
]


def _reference(schema: Any, strict: bool, context: dict[str, Any] | None, text: str) -> Any:
    """What ``TypeAdapter.validate_json`` says: the value, or the errors llmguard reports."""
    adapter = pydantic.TypeAdapter(schema)
    try:
        return "ok", adapter.validate_json(text, context=context, strict=True if strict else None)
    except pydantic.ValidationError as exc:
        return "errors", pydantic_errors(_details(exc))


@pytest.mark.parametrize(("schema", "strict", "context", "text"), _CASES)
def test_the_direct_validator_answers_as_the_type_adapter_does(
    schema: Any, strict: bool, context: dict[str, Any] | None, text: str
) -> None:
    """Strict mode (the model's and the decorator's), extra="forbid", aliases with
    populate_by_name, validators reading the context, nested models and errors: the
    compiled schema's JSON validation gives what ``TypeAdapter.validate_json`` gives."""
    compiled: CompiledSchema = compile_schema(schema, strict=strict, context=context)
    try:
        got: Any = "ok", compiled._from_json(text, context)
    except SchemaErrors as exc:
        got = "errors", exc.errors
    assert got == _reference(schema, strict, context, text)


def test_a_deferred_model_validates_through_the_direct_validator() -> None:
    """A model built with ``defer_build`` (its validator a placeholder until first use)
    still validates, and its errors are the adapter's."""

    class Late(BaseModel):
        model_config = ConfigDict(defer_build=True)
        n: int

    compiled = compile_schema(Late)
    assert compiled._from_json('{"n": 2}', None) == Late(n=2)
    with pytest.raises(SchemaErrors) as raised:
        compiled._from_json('{"n": "x"}', None)
    assert ("errors", raised.value.errors) == _reference(Late, False, None, '{"n": "x"}')
