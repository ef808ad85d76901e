"""Tests for llmguard._replay.replay: both outcomes, what changed, the side-by-side text."""

from __future__ import annotations

import json
from pathlib import Path

from llmguard._replay.replay import Replay, replay
from llmguard.testing import FakeLLM
from tests._helpers.replay import BAD, GOOD, MESSAGES, failed_in_store, recorded_call, triage_with


def test_the_side_by_side_shows_the_old_failure_beside_the_new_success(tmp_path: Path) -> None:
    """The text puts recorded and new values on one row each, marking what changed."""
    record = failed_in_store(tmp_path)
    result = replay(record, triage_with(FakeLLM([GOOD], model="gpt-4o-mini")))

    lines = result.side_by_side(width=100).splitlines()
    name = "triage_with.<locals>.triage"
    assert lines[0] == (
        f"replay of span {record.span_id} ({name}, trace {record.trace_id}) against {name}"
    )
    assert lines[2].split() == ["recorded", "now"]
    rows = {line[:9].strip(" *"): line for line in lines[3:] if line[:9].strip()}
    assert rows["status"].split() == ["status", "*", "error", "ok"]
    assert rows["error"].startswith("error   *  llmguard.exceptions.SchemaViolation:")
    assert rows["error"].endswith("  -")
    assert rows["value"].split(None, 3)[:3] == ["value", "*", "-"]
    assert rows["value"].endswith('{"category": "bug", "urgency": 4}')
    assert rows["attempts"].split() == ["attempts", "3", "1"]
    assert rows["model"].split() == ["model", "-", "gpt-4o-mini"]
    first, last = lines.index(rows["error"]), lines.index(rows["value"])
    recorded_error = " ".join(line[11:54].strip() for line in lines[first:last])
    assert recorded_error.endswith("- $.urgency: Input should be less than or equal to 5 (got 7)")
    assert lines[-1] == "changed: status, error, value"
    assert all(len(line) <= 100 for line in lines[1:])
    assert str(result) == result.side_by_side()


def test_a_call_that_ends_the_same_way_is_unchanged() -> None:
    """Same answers, same outcome: not changed, whatever the timings."""
    record = recorded_call(triage_with(FakeLLM([BAD, GOOD])), MESSAGES)
    result = replay(record, triage_with(FakeLLM([BAD, GOOD])))
    assert (result.old.status, result.new.status) == ("ok", "ok")
    assert result.old.value == result.new.value == {"category": "bug", "urgency": 4}
    assert (result.old.attempts, result.new.attempts) == (2, 2)
    assert not result.changed
    assert result.side_by_side().splitlines()[-1] == "unchanged"


def test_as_dict_is_json_ready() -> None:
    """The replay's data serializes to JSON with both outcomes."""
    record = recorded_call(triage_with(FakeLLM([BAD] * 3)), MESSAGES)
    result = replay(record, triage_with(FakeLLM([GOOD])))
    data = json.loads(json.dumps(result.as_dict()))
    assert data["span_id"] == record.span_id
    assert data["changed"] is True
    assert data["differences"] == ["status", "error_type", "value"]
    assert data["old"]["status"] == "error"
    assert data["new"]["value"] == {"category": "bug", "urgency": 4}
    assert isinstance(result, Replay)
