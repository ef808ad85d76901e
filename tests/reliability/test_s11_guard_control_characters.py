"""Tool-call arguments whose strings hold raw control characters: a model writing code
or an address puts a newline or a tab inside a JSON string as it is, which strict JSON
forbids and pydantic's parser refuses. A text answer with the same slip was mended by
json-repair (losing a newline that ended a string), and arguments were re-asked -- a
paid call, and a correction telling the model its arguments "are not valid JSON" when
the only fault is an unescaped newline. Instructor reads them
(``json.loads(strict=False)``), and so does the OpenAI SDK's own ``parse``. Both are
now read the same way, as their strings hold them."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import llmguard as lg
from llmguard._guard.schema import compile_schema, extract_calls
from llmguard.adapters import ToolCall
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    calls_completion,
    chat_completion,
    openai_client,
)

USER = [{"role": "user", "content": "Write it"}]


class Snippet(BaseModel):
    language: str
    code: str


RAW = '{"language": "python", "code": "def f():\n\treturn 1\n"}'


def _guarded(client: Any, schema: Any = Snippet) -> Any:
    @lg.guard(schema=schema, retries=1)
    def write(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    return write


def test_arguments_with_a_raw_newline_are_read_without_a_reask() -> None:
    client, sent = openai_client([calls_completion(("Snippet", RAW))])
    with lg.testing.capture() as records:
        value = _guarded(client)(list(USER))
    assert value == Snippet(language="python", code="def f():\n\treturn 1\n")
    assert len(sent) == 1
    (attempt,) = [r for r in records if r.kind == "attempt"]
    assert attempt.attempt is not None
    assert attempt.attempt["repair"] == "tool_call"


def test_items_of_a_list_answered_in_calls_are_read_too() -> None:
    second = '{"language": "sh", "code": "echo a\necho b"}'
    client, sent = openai_client([calls_completion(("Snippet", RAW), ("Snippet", second))])
    value = _guarded(client, list[Snippet])(list(USER))
    assert [s.code for s in value] == ["def f():\n\treturn 1\n", "echo a\necho b"]
    assert len(sent) == 1


def test_other_slips_are_still_reasked_with_the_syntax_named() -> None:
    """Only control characters are let through: a cut or broken value is re-asked."""
    broken = '{"language": "python", "code": "x\n'
    client, sent = openai_client([calls_completion(("Snippet", broken)), chat_completion("{}")])
    result = lg.guard(schema=Snippet, retries=0, on_fail="return")(
        lambda messages: client.chat.completions.create(model="m", messages=messages)
    )(list(USER))
    assert isinstance(result, lg.Failure)
    assert len(sent) == 1


def test_nan_is_not_let_in_with_them() -> None:
    """Python's reader takes NaN, JSON does not: arguments holding it stay refused."""
    schema = compile_schema(dict[str, float])
    found = extract_calls([ToolCall("c", "f", '{"a": NaN, "b": "x\ny"}')], schema)
    assert not found.ok


def test_a_text_answer_keeps_the_newline_at_the_end_of_a_string() -> None:
    """A text answer with the same slip was mended by json-repair, which dropped the
    newline that ended the string (``return 1`` for ``return 1\n``): a wrong value."""
    client, sent = anthropic_client([anthropic_message(RAW)])

    @lg.guard(schema=Snippet)
    def write(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(model="claude-haiku-4-5", max_tokens=99, messages=messages)

    assert write(list(USER)).code == "def f():\n\treturn 1\n"
    assert len(sent) == 1


_CONTROLS = st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=30)


def _raw(text: str) -> str:
    """``text`` as a JSON string whose control characters are written as they are."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@settings(max_examples=60, deadline=None)
@example(language="", code="\\r")  # an escaped backslash before an r: no escape to undo
@given(language=_CONTROLS, code=_CONTROLS)
def test_any_string_written_raw_reads_as_written(language: str, code: str) -> None:
    """Whatever control characters the strings hold, raw or escaped: the value is the
    strings as written, and never an exception."""
    escaped = json.dumps({"language": language, "code": code})
    raw = '{"language": ' + _raw(language) + ', "code": ' + _raw(code) + "}"
    schema = compile_schema(Snippet)
    for arguments in (escaped, raw):
        found = extract_calls([ToolCall("c", "Snippet", arguments)], schema)
        assert found.ok, arguments
        assert found.value == Snippet(language=language, code=code)


def test_a_flood_of_raw_newlines_is_read_in_linear_time() -> None:
    """Ten megabytes of one string full of newlines: read once by each parser."""
    code = "x\n" * 5_000_000
    arguments = '{"language": "t", "code": "' + code + '"}'
    found = extract_calls([ToolCall("c", "Snippet", arguments)], compile_schema(Snippet))
    assert found.ok
    assert len(found.value.code) == len(code)


def _chunks_of(text: str, size: int = 6) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def test_guard_stream_partials_go_on_past_a_raw_newline() -> None:
    """Partials stopped at the first raw newline in a string (the partial reader
    refused it) until the final value; they now grow through it, as the final reads."""
    from tests._helpers.sdk_mocks import chat_chunks

    client, _ = openai_client([chat_chunks(_chunks_of(RAW))])

    def write(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="m", messages=messages, stream=True)

    partials = list(lg.guard(schema=Snippet).stream(write, list(USER)))
    assert partials[-1].value == Snippet(language="python", code="def f():\n\treturn 1\n")
    codes = [p.value.code for p in partials[:-1] if p.value.code]
    assert any("\n\tret" in code for code in codes)
    final = partials[-1].value.code
    assert all(final.startswith(code) for code in codes)


def test_partial_reading_of_hostile_strings_is_one_pass() -> None:
    """A megabyte of escaped quotes and raw newlines in one open string, and as many
    short strings: read (as far as they go) without a quadratic search."""
    from llmguard._guard.partial import partial_json

    one = '{"a": "' + '\\"\n' * 300_000
    assert partial_json(one) == {"a": '"\n' * 300_000}
    many = "[" + '"\n",' * 250_000
    assert partial_json(many) == ["\n"] * 250_000
