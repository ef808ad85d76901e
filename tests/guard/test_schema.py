"""Schemas: compilation, lenient extraction from model answers, compact error formatting."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, TypeAdapter
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from llmguard._guard import schema as schema_module
from llmguard._guard.schema import (
    MAX_EMBEDDED_STARTS,
    MAX_ERRORS_READ,
    MAX_FENCES,
    RESCAN_CHARS,
    CompiledSchema,
    Extraction,
    FieldError,
    NotJSON,
    SchemaErrors,
    compile_schema,
    extract,
    extract_value,
    fence_bodies,
    format_errors,
)
from llmguard.exceptions import ConfigurationError
from tests._helpers.schemas import NESTED_JSON_SCHEMA, OBJECT, TICKET, Answer, Ticket

DRAFT_04 = "http://json-schema.org/draft-04/schema#"


class Batch(BaseModel):
    items: list[Ticket]


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


def errors_of(schema: CompiledSchema, data: Any) -> tuple[FieldError, ...]:
    with pytest.raises(SchemaErrors) as info:
        schema.validate(data)
    return info.value.errors


# --- compilation -------------------------------------------------------------------


def test_model_compiles_and_validates() -> None:
    """A pydantic model validates a dict into an instance and rejects a bad one."""
    schema = compile_schema(Ticket)
    assert (schema.name, schema.kind) == ("Ticket", "model")
    assert schema.validate({"category": "bug", "urgency": 2}) == Ticket(category="bug", urgency=2)
    assert [e.path for e in errors_of(schema, {"category": "bug", "urgency": 9})] == ["$.urgency"]


@pytest.mark.parametrize(
    ("tp", "good", "expected", "bad"),
    [
        (
            list[Ticket],
            [{"category": "bug", "urgency": 1}],
            [Ticket(category="bug", urgency=1)],
            [{}],
        ),
        (Literal["yes", "no"], "yes", "yes", "maybe"),
        (int | list[int], [1, 2], [1, 2], {"a": 1}),
        (Point, {"x": 1, "y": 2}, Point(1, 2), {"x": "a"}),
        (Movie, {"title": "Heat", "year": 1995}, {"title": "Heat", "year": 1995}, {"title": 1}),
        (int, "7", 7, "seven"),
    ],
)
def test_type_adapter_schemas_compile_and_validate(
    tp: Any, good: Any, expected: Any, bad: Any
) -> None:
    """Any type TypeAdapter handles validates good values and rejects bad ones."""
    schema = compile_schema(tp)
    assert schema.kind == "type"
    assert schema.validate(good) == expected
    assert errors_of(schema, bad)


def test_type_names_drop_module_prefixes() -> None:
    """A generic type is named without its module paths, for prompts and records."""
    assert compile_schema(list[Ticket]).name == "list[Ticket]"
    assert compile_schema(Literal["a", "b"]).name == "Literal['a', 'b']"


def test_json_schema_compiles_and_validates_to_the_data_itself() -> None:
    """A JSON Schema dict validates data and returns it unchanged."""
    schema = compile_schema({"title": "Thing", "type": "object", "required": ["a"]})
    data = {"a": 1}
    assert (schema.name, schema.kind) == ("Thing", "json_schema")
    assert schema.validate(data) is data
    assert errors_of(schema, {"b": 1})[0].message == "'a' is a required property"


def test_json_schema_draft_is_read_from_dollar_schema() -> None:
    """A draft-04 schema is checked with draft-04 rules (boolean exclusiveMaximum)."""
    schema = compile_schema(
        {"$schema": DRAFT_04, "type": "integer", "maximum": 5, "exclusiveMaximum": True}
    )
    assert schema.validate(4) == 4
    assert errors_of(schema, 5)
    with pytest.raises(ConfigurationError, match="exclusiveMaximum"):
        compile_schema({"type": "integer", "maximum": 5, "exclusiveMaximum": True})


def test_json_schema_formats_are_checked() -> None:
    """Format checking is on: a malformed email is an error."""
    schema = compile_schema({"type": "string", "format": "email"})
    assert schema.validate("a@example.com") == "a@example.com"
    assert "email" in errors_of(schema, "not-an-email")[0].message


def test_invalid_json_schema_raises_configuration_error_naming_where() -> None:
    """A schema that is not valid JSON Schema fails at compile time, naming the keyword."""
    with pytest.raises(ConfigurationError, match=r"invalid JSON Schema at \$\.type"):
        compile_schema({"type": 5})


def test_unknown_dollar_schema_raises_configuration_error() -> None:
    """An unknown metaschema URI is refused rather than silently replaced."""
    with pytest.raises(ConfigurationError, match=r"example\.com/nope"):
        compile_schema({"$schema": "https://example.com/nope", "type": "object"})


def test_unserializable_json_schema_raises_configuration_error() -> None:
    """A JSON Schema dict holding non-JSON values is refused."""
    with pytest.raises(ConfigurationError, match="not JSON-serializable"):
        compile_schema({"type": "object", "x-meta": object()})


@pytest.mark.parametrize(("bad", "named"), [(object(), "object object"), (5, "schema=5")])
def test_unadaptable_object_raises_configuration_error(bad: object, named: str) -> None:
    """Something TypeAdapter rejects is a ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match=named) as info:
        compile_schema(bad)
    assert "errors.pydantic.dev" not in str(info.value)


@pytest.mark.parametrize(
    ("bad", "named"),
    [(None, "None"), ("Ticket", "instance of str"), (Ticket(category="bug", urgency=1), "Ticket")],
)
def test_values_that_are_not_schemas_raise_configuration_error(bad: object, named: str) -> None:
    """None, strings and model instances are refused with what was given."""
    with pytest.raises(ConfigurationError, match=named):
        compile_schema(bad)


def test_model_with_undefined_forward_reference_raises_at_compile_time() -> None:
    """A model that cannot be completed fails at decoration, not at the first call."""

    class Broken(BaseModel):
        child: Undefined  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(ConfigurationError, match=r"Broken.*Undefined"):
        compile_schema(Broken)


def test_context_must_be_a_dict() -> None:
    """A non-dict context is refused at compile time."""
    with pytest.raises(ConfigurationError, match="context= must be a dict"):
        compile_schema(Answer, context=["doc-1"])  # type: ignore[arg-type]


def test_context_with_json_schema_raises() -> None:
    """A context given with a JSON Schema would be ignored, so it is refused."""
    with pytest.raises(ConfigurationError, match="context="):
        compile_schema({"type": "object"}, context={"doc_ids": ["a"]})


def test_context_reaches_field_validator() -> None:
    """Cite a retrieved source or abstain: the validator sees the compiled context."""
    schema = compile_schema(Answer, context={"doc_ids": ["doc-1", "doc-2"]})
    assert schema.validate({"text": "x", "source_id": "doc-2"}).source_id == "doc-2"
    assert schema.validate({"text": "I don't know", "source_id": None}).source_id is None
    [error] = errors_of(schema, {"text": "x", "source_id": "doc-9"})
    assert error.path == "$.source_id"
    assert (
        error.message
        == "Value error, 'doc-9' was not retrieved; cite one of ['doc-1', 'doc-2'] or null"
    )


def test_call_context_overrides_compiled_context() -> None:
    """A per-call context replaces the compiled one, in validate and in extract."""
    schema = compile_schema(Answer, context={"doc_ids": ["doc-1"]})
    answer = schema.validate({"text": "x", "source_id": "doc-7"}, context={"doc_ids": ["doc-7"]})
    assert answer.source_id == "doc-7"
    found = extract('{"text": "x", "source_id": "doc-1"}', schema, context={"doc_ids": []})
    assert not found.ok
    assert found.errors[0].path == "$.source_id"


def test_json_schema_method_returns_a_fresh_dict() -> None:
    """json_schema() describes the schema and mutating it changes nothing."""
    schema = compile_schema(Ticket)
    described = schema.json_schema()
    assert described["properties"]["urgency"]["maximum"] == 5
    described["properties"].clear()
    assert schema.json_schema()["properties"]
    assert compile_schema(NESTED_JSON_SCHEMA).json_schema() == NESTED_JSON_SCHEMA


def test_json_schema_method_raises_for_types_it_cannot_describe() -> None:
    """A type pydantic validates but cannot describe compiles; json_schema() says why."""
    from collections.abc import Callable

    schema = compile_schema(Callable[[int], int])
    assert schema.validate(abs) is abs
    with pytest.raises(ConfigurationError, match="cannot be described"):
        schema.json_schema()


# --- error formatting ----------------------------------------------------------------


def test_pydantic_errors_have_json_paths_into_lists_and_dicts() -> None:
    """Nested pydantic errors point at the list index and the field."""
    schema = compile_schema(Batch)
    data = {"items": [{"category": "bug", "urgency": 1}] * 2 + [{"category": "bug", "urgency": 7}]}
    [error] = errors_of(schema, data)
    assert error == FieldError("$.items[2].urgency", "Input should be less than or equal to 5", "7")
    keyed = compile_schema(dict[str, list[int]])
    assert [e.path for e in errors_of(keyed, {"my key": [1, "x"]})] == ['$["my key"][1]']


def test_jsonschema_errors_have_json_paths_into_lists_and_dicts() -> None:
    """Nested jsonschema errors point at the list index and the property."""
    schema = compile_schema(NESTED_JSON_SCHEMA)
    errors = errors_of(schema, {"items": [{"urgency": 1}, {"urgency": 7}, {}]})
    assert errors == (
        FieldError("$.items[1].urgency", "7 is greater than the maximum of 5", "7"),
        FieldError("$.items[2]", "'urgency' is a required property", ""),
    )


def test_missing_field_errors_carry_no_value() -> None:
    """A missing field does not repeat the whole parent object as its value."""
    [error] = errors_of(compile_schema(Ticket), {"category": "bug"})
    assert error == FieldError("$.urgency", "Field required", "")
    assert format_errors([error]) == "- $.urgency: Field required"


def test_messages_never_carry_pydantic_urls() -> None:
    """No documentation URL survives, whatever the error type."""
    cases: list[tuple[Any, Any]] = [
        (Ticket, {"category": 1, "urgency": "x", "extra": None}),
        (Batch, {"items": "nope"}),
        (list[int], [None, "a", 1.5]),
        (Answer, {"text": "x", "source_id": "zzz"}),
    ]
    for tp, data in cases:
        with pytest.raises(SchemaErrors) as info:
            compile_schema(tp).validate(data)
        text = str(info.value) + "".join(e.message for e in info.value.errors)
        assert "https://errors.pydantic.dev" not in text
        assert "For further information" not in text


def test_long_values_are_truncated() -> None:
    """An offending long value is shown as JSON cut to about 80 characters."""
    [error] = errors_of(compile_schema(Ticket), {"category": "x" * 500, "urgency": 1})
    assert error.value.startswith('"xxxx')
    assert error.value.endswith("...")
    assert len(error.value) <= 80
    [error] = errors_of(compile_schema(Batch), {"items": {str(i): i for i in range(100)}})
    assert len(error.value) <= 80


def test_long_jsonschema_messages_are_truncated() -> None:
    """jsonschema messages that repeat a whole instance are cut."""
    schema = compile_schema({"type": "array", "items": {"type": "string"}, "maxItems": 1})
    errors = errors_of(schema, ["y" * 1000, "z"])
    assert all(len(e.message) <= 200 for e in errors)
    assert errors[0].message.endswith("...")


def test_unprintable_values_fall_back_to_repr() -> None:
    """A value JSON cannot hold is still rendered, never raising."""
    [error] = errors_of(compile_schema(list[int]), [b"\xff\xfe"])
    assert error.value == "b'\\xff\\xfe'"


def test_format_errors_renders_one_line_per_error() -> None:
    """Each error is one line: path, message, offending value."""
    errors = [FieldError("$.urgency", "Input should be less than or equal to 5", "7")]
    assert format_errors(errors) == "- $.urgency: Input should be less than or equal to 5 (got 7)"


def test_format_errors_caps_the_list() -> None:
    """Past 20 errors, one line says how many more there were."""
    errors = [FieldError(f"$[{i}]", "bad", str(i)) for i in range(25)]
    lines = format_errors(errors).splitlines()
    assert len(lines) == 21
    assert lines[-1] == "... and 5 more"


def test_schema_errors_message_is_the_formatted_list() -> None:
    """str(SchemaErrors) is ready to put in a correction."""
    with pytest.raises(SchemaErrors, match=r"^- \$\.urgency: Input should be less than"):
        compile_schema(Ticket).validate({"category": "bug", "urgency": 6})


def test_validate_json_raises_not_json_for_non_json_text() -> None:
    """validate_json tells 'not JSON at all' apart from 'JSON of the wrong shape'."""
    for schema in (compile_schema(Ticket), compile_schema({"type": "object"})):
        with pytest.raises(NotJSON) as info:
            schema.validate_json("{nope")
        assert info.value.errors[0].path == "$"
        assert info.value.errors[0].message.startswith("Invalid JSON")


# --- extraction ----------------------------------------------------------------------

GOOD = '{"category": "bug", "urgency": 3}'


@pytest.mark.parametrize(
    ("text", "repair"),
    [
        (f"  {GOOD}\n", None),
        (f"Here you go:\n```json\n{GOOD}\n```\nAnything else?", "fence"),
        (f"```\n{GOOD}\n```", "fence"),
        (f"```JSON {GOOD}```", "fence"),
        (f"Sure! The ticket is {GOOD} -- hope that helps.", "embedded"),
        (f"The ticket is {GOOD}, but this ```fence is unclosed", "embedded"),
    ],
)
def test_extraction_stages_label_their_repair(text: str, repair: str | None) -> None:
    """Each stage finds the value and says which repair it applied."""
    found = extract(text, TICKET)
    assert found == Extraction(Ticket(category="bug", urgency=3), repair, (), True)


def test_text_stage_takes_the_raw_answer_for_string_schemas() -> None:
    """A plain-string schema accepts a non-JSON answer as itself."""
    assert extract("  Paris, see [1].\n", compile_schema(str)) == Extraction(
        "Paris, see [1].", "text", (), True
    )
    assert extract('"quoted"', compile_schema(str)).repair is None
    assert extract("yes", compile_schema(Literal["yes", "no"])).value == "yes"
    assert extract("yes", compile_schema({"enum": ["yes", "no"]})).repair == "text"


def test_text_stage_errors_are_reported_for_scalar_schemas() -> None:
    """A scalar answer that fails says why, not merely that no JSON was found."""
    found = extract("maybe", compile_schema(Literal["yes", "no"]))
    assert found.errors == (FieldError("$", "Input should be 'yes' or 'no'", '"maybe"'),)


def test_text_stage_is_not_used_for_object_schemas() -> None:
    """A model schema never takes the raw text as its value."""
    found = extract("no json here", TICKET)
    assert found.errors == (FieldError("$", "no JSON value found in the answer", '"no json here"'),)


def test_several_fences_take_the_first_that_validates() -> None:
    """With several fences, a failing first one does not hide a valid second."""
    text = (
        'Draft:\n```json\n{"category": "bug", "urgency": 9}\n```\n'
        'Final:\n```json\n{"category": "other", "urgency": 2}\n```'
    )
    found = extract(text, TICKET)
    assert (found.value, found.repair) == (Ticket(category="other", urgency=2), "fence")


def test_prose_fence_and_wrong_type_fails_with_the_field_path() -> None:
    """A fenced answer with a wrongly typed field fails, pointing at that field."""
    text = 'Here is the ticket:\n```json\n{"category": "bug", "urgency": "high"}\n```\nThanks!'
    found = extract(text, TICKET)
    assert (found.ok, found.value, found.repair) == (False, None, None)
    assert [e.path for e in found.errors] == ["$.urgency"]
    assert format_errors(found.errors) == (
        "- $.urgency: Input should be a valid integer, unable to parse string as an integer"
        ' (got "high")'
    )


def test_best_candidate_prefers_a_fitting_root_type() -> None:
    """A stray '[1]' before the real object does not become the reported failure."""
    found = extract('See [1]. Answer: {"category": "bug", "urgency": 0}', TICKET)
    assert [e.path for e in found.errors] == ["$.urgency"]
    found = extract('See [1]. Answer: {"urgency": 9}', compile_schema(NESTED_JSON_SCHEMA))
    assert found.ok  # no "items" at all is valid for that schema


def test_first_parsed_candidate_wins_when_none_fits() -> None:
    """Without a fitting candidate, the errors are those of the first that parsed."""
    found = extract("[1] and [2]", TICKET)
    assert found.errors[0].value == "[1]"


def test_empty_answer_is_reported() -> None:
    """An empty or blank answer fails with a message saying so."""
    assert extract(" \n ", TICKET).errors == (FieldError("$", "the answer is empty", ""),)


def test_embedded_search_is_bounded() -> None:
    """Past the bound on start positions the scan stops, keeping hostile text cheap."""
    noise = "{ " * (MAX_EMBEDDED_STARTS + 1)
    assert not extract(noise + GOOD, TICKET).ok
    assert extract("{ " * (MAX_EMBEDDED_STARTS - 1) + GOOD, TICKET).ok


def test_fence_search_is_bounded() -> None:
    """Past MAX_FENCES fences the fence stage stops, keeping a flood of them cheap."""
    fenced = f"```json\n{GOOD}\n```"
    noise = [f"```\n{i}\n```" for i in range(MAX_FENCES)]
    assert extract("".join(noise) + fenced, TICKET).repair == "embedded"  # not as a fence
    assert extract("".join(noise[1:]) + fenced, TICKET).repair == "fence"


def test_a_value_in_a_short_broken_wrapper_is_found() -> None:
    """An object in a wrapper left open is still tried on its own."""
    found = extract(f"Result: [{GOOD}", TICKET)
    assert (found.ok, found.repair) == (True, "embedded")


def test_a_long_broken_value_is_not_decoded_again_from_inside() -> None:
    """Past RESCAN_CHARS, the search resumes where a broken value stopped."""
    filler = "1, " * RESCAN_CHARS
    assert not extract(f"Result: [{filler}{GOOD}", TICKET).ok
    assert extract(f"Result: [{filler}] {GOOD}", TICKET).ok


# The backtracking pattern fences were found with until the scan replaced it: fine on
# short text, hours on a fence followed by 64 KB of spaces.
OLD_FENCE = re.compile(r"```[^\S\n]*[\w+.-]*[^\S\n]*\n?(.*?)```", re.DOTALL)
FENCE_BITS = st.sampled_from(["```", "`", "json", "JSON", " ", "\t", "\n", "{}", "a", "-"])


@given(st.lists(FENCE_BITS, max_size=40).map("".join))
def test_fence_scan_finds_what_the_old_pattern_found(text: str) -> None:
    """On short text, the linear scan gives the bodies the backtracking pattern gave."""
    assert list(fence_bodies(text)) == [m.group(1).strip() for m in OLD_FENCE.finditer(text)]


def test_too_many_errors_are_counted_not_listed() -> None:
    """A huge wrong answer fails with one error giving the count, not a million lines."""
    wrong = json.dumps(["x"] * (MAX_ERRORS_READ + 1))
    found = extract(wrong, compile_schema(list[int]))
    assert found.errors == (
        FieldError("$", f"{MAX_ERRORS_READ + 1} validation errors, too many to list", ""),
    )
    found = extract(wrong, compile_schema({"type": "array", "items": {"type": "integer"}}))
    assert len(found.errors) == MAX_ERRORS_READ + 1
    assert found.errors[-1].message == (
        f"more than {MAX_ERRORS_READ} validation errors, too many to list"
    )


def test_a_huge_value_is_shown_by_its_head() -> None:
    """The value in an error is the start of its JSON, however large the value."""
    [error] = errors_of(TICKET, list(range(1_000_000)))
    assert error.value == json.dumps(list(range(40)), separators=(",", ":"))[:77] + "..."


def test_nested_values_of_a_parsed_candidate_are_not_tried() -> None:
    """An inner object is not pulled out of a wrapper that failed."""
    found = extract(f'Result: {{"ticket": {GOOD}}}', TICKET)
    assert not found.ok
    assert {e.path for e in found.errors} == {"$.category", "$.urgency"}


def test_extraction_uses_json_mode_rules() -> None:
    """Strict models accept JSON strings for datetimes, as in pydantic's JSON mode."""

    class Event(BaseModel):
        model_config = ConfigDict(strict=True)
        at: datetime

    found = extract('Event: {"at": "2024-05-01T10:00:00"}', compile_schema(Event))
    assert found.value == Event(at=datetime(2024, 5, 1, 10))


def test_extract_value_accepts_dicts_and_json_strings() -> None:
    """Tool-call arguments validate as dicts, JSON strings or bytes, labelled as given."""
    expected = Extraction(Ticket(category="bug", urgency=3), "tool_call", (), True)
    assert extract_value({"category": "bug", "urgency": 3}, TICKET, repair="tool_call") == expected
    assert extract_value(GOOD, TICKET, repair="tool_call") == expected
    assert extract_value(GOOD.encode(), TICKET, repair="tool_call") == expected
    assert extract_value({"a": 1}, OBJECT, repair="tool_use").value == {"a": 1}


def test_extract_value_reports_errors() -> None:
    """Bad arguments fail with field errors; non-JSON strings say so."""
    found = extract_value({"category": "bug", "urgency": 8}, TICKET, repair="tool_call")
    assert (found.ok, found.repair, found.errors[0].path) == (False, None, "$.urgency")
    found = extract_value('{"category": ', TICKET, repair="tool_call")
    assert found.errors[0].message.startswith("Invalid JSON")


def test_extract_value_dicts_use_json_mode_rules() -> None:
    """Arguments decoded from JSON get the same rules as a text answer."""

    class Event(BaseModel):
        model_config = ConfigDict(strict=True)
        at: datetime

    found = extract_value({"at": "2024-05-01T10:00:00"}, compile_schema(Event), repair="tool_call")
    assert found.ok


def test_extract_value_with_context() -> None:
    """Context reaches validators through tool-call arguments too."""
    schema = compile_schema(Answer)
    data = {"text": "x", "source_id": "doc-1"}
    assert extract_value(data, schema, context={"doc_ids": ["doc-1"]}, repair="tool_call").ok
    assert not extract_value(data, schema, repair="tool_call").ok


@pytest.mark.parametrize(
    ("schema", "types", "accepts_text"),
    [
        ({"$ref": "#/$defs/C", "$defs": {"C": {"enum": ["a", "b"]}}}, {"string"}, True),
        ({"$ref": "#/definitions/C", "definitions": {"D": {}}}, None, False),
        ({"const": 3}, {"integer"}, True),
        ({"enum": [None, 1.5, [1], {}]}, {"null", "number", "array", "object"}, False),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, {"string", "null"}, True),
        ({"oneOf": [{"type": "string"}, {}]}, None, False),
        ({"properties": {"a": {}}}, {"object"}, False),
        ({"type": "null"}, {"null"}, False),
        ({}, None, False),
    ],
)
def test_root_json_types_are_read_from_the_schema(
    schema: dict[str, Any], types: set[str] | None, accepts_text: bool
) -> None:
    """The root JSON types decide whether the raw text may be the value."""
    compiled = compile_schema(schema)
    assert compiled.json_types == (None if types is None else frozenset(types))
    assert compiled.accepts_text is accepts_text


def test_schema_without_known_root_type_reports_the_first_parsed_candidate() -> None:
    """With no root type to prefer, the first candidate that parsed is reported."""
    found = extract('[1] then {"a": 1}', compile_schema({"not": {"type": ["array", "object"]}}))
    assert found.errors[0].value == "[1]"


@pytest.mark.parametrize(
    "text",
    [
        '{"category": "\\ud800", "urgency": 1}',
        '{"category": "\ud800"} \ud800 ```\ud800```',
        "[" + "1" * 5000 + "]",
        "[" * 5000 + "]" * 5000,
        '{"a": ' * 3000,
        "```" * 500 + "{" * 500,
    ],
)
def test_hostile_answers_give_an_extraction(text: str) -> None:
    """Surrogates, huge numbers, deep nesting and fence floods never raise."""
    for schema in (TICKET, OBJECT, compile_schema(list[int]), compile_schema(str)):
        assert isinstance(extract(text, schema), Extraction)


def test_a_deep_answer_to_a_recursive_json_schema_gives_an_extraction() -> None:
    """300 nested arrays, deeper than python-jsonschema can recurse, are judged natively
    (and valid); JSON nested past what the parser takes is an extraction, never an error."""
    schema = compile_schema({"type": "array", "items": {"$ref": "#"}})
    assert extract("[" * 300 + "]" * 300, schema).ok
    assert extract("[" * 20 + "]" * 20, schema).ok
    found = extract("[" * 100_000 + "]" * 100_000, schema)
    assert not found.ok
    assert found.errors


def test_python_jsonschema_recursing_too_deep_fails_the_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the native validator, a value python-jsonschema cannot recurse into is
    refused as too deep rather than raising RecursionError."""
    monkeypatch.setattr(schema_module, "_native_validator", lambda schema: (None, Exception))
    schema = compile_schema({"type": "array", "items": {"$ref": "#"}})
    found = extract("[" * 300 + "]" * 300, schema)
    assert found.errors == (FieldError("$", "the value is nested too deep to validate", ""),)


def test_values_with_a_broken_repr_are_still_rendered() -> None:
    """A value neither JSON nor repr can render is shown by its type name."""

    class WeirdBytes(bytes):
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    [error] = errors_of(compile_schema(list[int]), [WeirdBytes(b"\xff")])
    assert error.value == "<WeirdBytes>"


# --- properties ----------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_dicts = st.dictionaries(st.text(), st.one_of(json_scalars, st.lists(json_scalars, max_size=3)))
prose = st.text(st.characters(blacklist_characters="`{}[]"), max_size=40)


@given(data=json_dicts, before=prose, after=prose, fenced=st.booleans(), decoy=st.booleans())
def test_json_in_prose_and_fences_is_found(
    data: dict[str, Any], before: str, after: str, fenced: bool, decoy: bool
) -> None:
    """Any JSON object, wrapped in prose, a fence, or beside a prose fence, is found unchanged."""
    body = json.dumps(data, ensure_ascii=False)
    if fenced:
        body = f"```json\n{body}\n```"
    if decoy:
        before = f"```text\n{before}\n```\n"
    found = extract(f"{before}{body}{after}", OBJECT)
    assert found.ok
    assert found.value == data


class _Basket(BaseModel):
    items: list[int]
    tags: set[str]
    weights: dict[str, float]
    pair: tuple[int, ...]


def test_a_large_wrong_list_reports_its_first_error_per_list() -> None:
    """Past LARGE_ANSWER, a list stops at its first wrong item: a 10 MB answer of two
    million wrong items is judged by one error, not two million built and counted."""
    text = json.dumps(["x"] * 2_000_000)
    assert len(text) > schema_module.LARGE_ANSWER
    found = extract(text, compile_schema(list[int]))
    assert not found.ok
    assert [error.path for error in found.errors] == ["$[0]"]
    assert "valid integer" in found.errors[0].message


def test_a_short_wrong_list_still_reports_every_error() -> None:
    """Under LARGE_ANSWER every wrong item is named, for the model to fix them all."""
    found = extract(json.dumps(["x", 1, "y"]), compile_schema(list[int]))
    assert [error.path for error in found.errors] == ["$[0]", "$[2]"]


@given(
    st.lists(st.integers(-5, 5), max_size=5),
    st.sets(st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.floats(allow_nan=False), max_size=3),
)
def test_the_fail_fast_validator_gives_the_same_value(
    items: list[int], tags: set[str], weights: dict[str, float]
) -> None:
    """A valid answer validates to the same value whichever validator reads it."""
    payload = {"items": items, "tags": sorted(tags), "weights": weights, "pair": items}
    text = json.dumps(payload)
    quick = schema_module._fail_fast_validator(TypeAdapter(_Basket))
    assert quick is not None
    assert quick.validate_json(text) == compile_schema(_Basket).validate_json(text)


def test_a_large_valid_answer_to_a_json_schema_is_judged_natively() -> None:
    """A 10 MB array valid under a JSON Schema dict is accepted; a wrong item at its very
    end is found at its path, by the native validator's first error."""
    schema = compile_schema({"type": "array", "items": {"type": "number"}})
    valid = json.dumps(list(range(1_500_000)))
    assert extract(valid, schema).ok
    found = extract(valid[:-1] + ', "x"]', schema)
    assert [error.path for error in found.errors] == ["$[1500000]"]
    assert "number" in found.errors[0].message


def test_the_python_validator_has_the_last_word_on_a_short_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the native validator refuses what python-jsonschema accepts (formats it
    checks more strictly), a short answer is judged by python-jsonschema."""

    class Refuses:
        def is_valid(self, data: object) -> bool:
            return False

    monkeypatch.setattr(schema_module, "_native_validator", lambda schema: (Refuses(), Exception))
    schema = compile_schema({"type": "object", "properties": {"a": {"type": "integer"}}})
    assert extract('{"a": 1}', schema).value == {"a": 1}
    assert [error.path for error in extract('{"a": "x"}', schema).errors] == ["$.a"]


def test_a_json_schema_nested_too_deep_is_a_configuration_error() -> None:
    """A schema deeper than python-jsonschema can check fails at decoration, by name."""
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(300):
        schema = {"type": "object", "properties": {"a": schema}}
    with pytest.raises(ConfigurationError, match="nested too deep"):
        compile_schema(schema)
