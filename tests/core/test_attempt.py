"""Tests for llmguard._core.outcomes: Attempt summaries, Failure, and summing usages."""

from __future__ import annotations

from llmguard import Usage
from llmguard._core.field_errors import FieldError
from llmguard._core.outcomes import Attempt
from llmguard._core.records import sum_usage
from llmguard._guard.flow import Failure
from llmguard.adapters import Reply, ToolCall
from llmguard.exceptions import SchemaViolation


def test_attempt_summary_is_what_the_record_holds() -> None:
    """summary() gives number, outcome, function, stage, repair and errors as dicts."""
    ok = Attempt(number=2, function="f", outcome="ok", value=1, repair="fence")
    assert ok.summary() == {
        "number": 2,
        "outcome": "ok",
        "function": "f",
        "stage": "fence",
        "repair": "fence",
    }
    strict = Attempt(number=1, function="f", outcome="ok", value=1)
    assert strict.summary()["stage"] == "strict"
    invalid = Attempt(
        number=1, function="f", outcome="invalid", errors=(FieldError("$.a", "bad", "1"),)
    )
    assert invalid.summary() == {
        "number": 1,
        "outcome": "invalid",
        "function": "f",
        "errors": [{"path": "$.a", "message": "bad", "value": "1"}],
    }
    unvalidated = Attempt(number=1, function="f", outcome="ok")
    assert "stage" not in unvalidated.summary()


def test_attempt_tool_call_is_the_first_tool_call() -> None:
    """tool_call is the tool call the answer came from, or None."""
    calls = (ToolCall("1", "a", "{}"), ToolCall("2", "b", "{}"))
    assert (
        Attempt(number=1, function="f", outcome="ok", reply=Reply(tool_calls=calls)).tool_call
        == calls[0]
    )
    assert Attempt(number=1, function="f", outcome="ok", reply=Reply(text="x")).tool_call is None
    assert Attempt(number=1, function="f", outcome="error").tool_call is None


def test_failure_is_always_false() -> None:
    """A Failure is falsy, so `if result:` tells it from a value."""
    error = SchemaViolation((), None)
    failure = Failure(error, (), None)
    assert not failure
    assert failure.error is error


def test_usage_sums_keep_unknown_counts_unknown() -> None:
    """Summing usages adds known counts; a count no attempt reported stays None."""
    a = Usage(input=10, output=5, total=15)
    b = Usage(input=3, output=1, cached_input=2, total=4, estimated=True)
    assert sum_usage(a, b) == Usage(input=13, output=6, cached_input=2, total=19, estimated=True)
    assert sum_usage(None, a) is a
    assert sum_usage(a, None) is a
    assert sum_usage(None, None) is None


def test_summary_errors_are_what_asdict_gives() -> None:
    """The summary lists each error as ``dataclasses.asdict`` makes it, for llmguard's
    own `FieldError` and for a dataclass derived from it."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Detailed(FieldError):
        hint: str = "h"

    errors = (FieldError("$.a", "bad", "1"), Detailed("$.b", "worse", '"x"', "see docs"))
    summary = Attempt(number=1, function="f", outcome="invalid", errors=errors).summary()
    assert summary["errors"] == [dataclasses.asdict(e) for e in errors]
    assert list(summary["errors"][0]) == ["path", "message", "value"]
