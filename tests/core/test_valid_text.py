"""Text no encoder takes (lone surrogates) made valid: `valid_text`, `scrub`, `encodable`."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import llmguard as lg
from llmguard._core.content import encodable, scrub, valid_text

BASE: dict[str, Any] = {
    "trace_id": "0af7651916cd43dd8448eb211c80319c",
    "span_id": "b7ad6b7169203331",
    "name": "answer",
    "start": "2024-05-01T12:00:00.000000Z",
    "end": "2024-05-01T12:00:01.500000Z",
    "duration_ms": 1500.0,
}
SURROGATE_TEXT = st.lists(
    st.one_of(st.characters(), st.sampled_from(["\ud83d", "\ude00", "\udfff", "\ud800"]))
).map("".join)


def test_lone_surrogates_become_replacement_characters() -> None:
    """High or low, at either end or in the middle: each lone one is U+FFFD."""
    assert valid_text("a\ud83db") == "a\ufffdb"
    assert valid_text("\udc00") == "\ufffd"
    assert valid_text("ok \ud83d") == "ok \ufffd"


def test_a_pair_written_as_two_code_points_is_joined() -> None:
    """A high then a low surrogate stand for one character: that character is kept."""
    assert valid_text("\ud83d\ude00") == "\U0001f600"


def test_valid_text_comes_back_as_the_same_object() -> None:
    """ASCII and valid Unicode text is not copied."""
    for text in ("plain", "café ☕ \U0001f600"):
        assert valid_text(text) is text


@given(SURROGATE_TEXT)
def test_any_text_becomes_utf8_and_keeps_its_valid_characters(text: str) -> None:
    """The result always encodes; text that already did is unchanged."""
    cleaned = valid_text(text)
    cleaned.encode("utf-8")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        assert "\ufffd" in cleaned or len(cleaned) < len(text)
    else:
        assert cleaned == text


def test_scrub_walks_dicts_lists_tuples_and_keys() -> None:
    """Strings anywhere in JSON-like data are cleaned; untouched containers are reused."""
    clean = {"a": [1, "b"]}
    assert scrub(clean) is clean
    dirty = {"k\ud83d": ["x\udc00", ("y", "\ud800")], "n": 1}
    assert scrub(dirty) == {"k\ufffd": ["x\ufffd", ("y", "\ufffd")], "n": 1}


def test_scrub_stops_at_its_depth_without_raising() -> None:
    """Nesting far past the recursion limit is left as it is, never a RecursionError."""
    deep: Any = "\ud83d"
    for _ in range(10_000):
        deep = [deep]
    assert scrub(deep) is deep


def test_encodable_keeps_a_clean_record_and_its_json() -> None:
    """A record that serializes is returned as it is, its JSON computed once."""
    record = lg.Record(**BASE, output="fine")
    assert encodable(record) is record
    assert json.loads(record.to_json())["output"] == "fine"


def test_encodable_cleans_every_field_a_surrogate_can_hide_in() -> None:
    """Output, input, names, tags, error text, metadata keys and values, attempt errors."""
    record = lg.Record(
        **{**BASE, "name": "answer \ud83d"},
        kind="attempt",
        error_message="bad \udc00",
        input=[{"role": "user", "content": "hi \ud83d"}],
        output="cut \ud83d",
        tags=("t\ud83d",),
        metadata={"k\udc00": "v\ud83d"},
        attempt={"errors": [{"path": "$", "message": "m", "value": "\ud83d"}]},
    )
    cleaned = encodable(record)
    data = json.loads(cleaned.to_json().decode("utf-8"))
    assert data["name"] == "answer \ufffd"
    assert data["error_message"] == "bad \ufffd"
    assert data["input"] == [{"role": "user", "content": "hi \ufffd"}]
    assert data["output"] == "cut \ufffd"
    assert data["tags"] == ["t\ufffd"]
    assert data["metadata"] == {"k\ufffd": "v\ufffd"}
    assert data["attempt"]["errors"][0]["value"] == "\ufffd"
