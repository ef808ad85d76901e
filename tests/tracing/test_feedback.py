"""Tests for lg.feedback: a feedback record linked to a trace."""

from __future__ import annotations

from typing import Any

import pytest

import llmguard as lg
from llmguard._tracing.feedback import feedback
from llmguard.exceptions import ConfigurationError
from llmguard.testing import FakeLLM, capture
from tests.conftest import ListSink

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_feedback_is_a_record_in_the_given_trace() -> None:
    with capture() as records:
        feedback(TRACE_ID, 1, comment="Spot on", user="u-42")
    (record,) = records
    assert record.kind == "feedback"
    assert record.name == "feedback"
    assert record.trace_id == TRACE_ID
    assert record.parent_id is None
    assert len(record.span_id) == 16
    assert int(record.span_id, 16)
    assert record.status == "ok"
    assert dict(record.metadata) == {"score": 1, "comment": "Spot on", "user": "u-42"}


def test_only_given_keys_are_in_the_metadata() -> None:
    with capture() as records:
        feedback(TRACE_ID, False)
        feedback(TRACE_ID, 0.5, user="u")
    thumbs, rating = records
    assert dict(thumbs.metadata) == {"score": False}
    assert thumbs.metadata["score"] is False
    assert dict(rating.metadata) == {"score": 0.5, "user": "u"}
    assert thumbs.span_id != rating.span_id


def test_feedback_on_a_guarded_call_joins_its_trace() -> None:
    llm = FakeLLM(["ok"], shape="text")

    @lg.guard
    def ask(prompt: str) -> Any:
        return llm(prompt)

    with capture() as records:
        with lg.span("request") as request:
            ask("hi")
            trace_id = request.trace_id
        # Feedback arrives later, outside any span -- or inside another trace's span.
        with lg.span("unrelated") as unrelated:
            feedback(trace_id.upper(), True)
    (record,) = [r for r in records if r.kind == "feedback"]
    assert record.trace_id == trace_id
    assert record.trace_id != unrelated.trace_id
    assert record.parent_id is None
    llm_record = next(r for r in records if r.kind == "llm")
    assert llm_record.trace_id == record.trace_id


def test_feedback_reaches_the_sinks() -> None:
    sink = ListSink()
    lg.configure(sinks=[sink])
    feedback(TRACE_ID, 5)
    lg.flush()
    assert [(r.kind, r.trace_id) for r in sink.records] == [("feedback", TRACE_ID)]


@pytest.mark.parametrize(
    "trace_id",
    [
        "4bf92f3577b34da6a3ce929d0e0e473",  # 31 digits
        "4bf92f3577b34da6a3ce929d0e0e47360",  # 33
        "4bf92f3577b34da6a3ce929d0e0e473g",
        "0" * 32,
        "",
        None,
        int(TRACE_ID, 16),
    ],
)
def test_a_bad_trace_id_is_refused(trace_id: Any) -> None:
    with capture() as records, pytest.raises(ConfigurationError, match="trace_id"):
        feedback(trace_id, 1)
    assert records == []


@pytest.mark.parametrize("score", ["5", None, float("nan"), float("inf"), [1], 1j])
def test_a_bad_score_is_refused(score: Any) -> None:
    with capture() as records, pytest.raises(ConfigurationError, match="score"):
        feedback(TRACE_ID, score)
    assert records == []


@pytest.mark.parametrize(("option", "value"), [("comment", 3), ("user", ["u"])])
def test_comment_and_user_must_be_strings(option: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=option):
        feedback(TRACE_ID, 1, **{option: value})
