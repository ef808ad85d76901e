"""Content is cut to ``max_content_bytes`` before redaction: what redactors see, what
sinks get, and the digest of the full value."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import pydantic_core
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard._core.content import MARGIN, fit, window
from llmguard.sinks import MemorySink

API_KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"


def _json_size(value: Any) -> int:
    return len(pydantic_core.to_json(value))


def _deliver(value: Any, limit: int = 1024) -> lg.Record:
    memory = MemorySink()
    lg.configure(sinks=[memory], max_content_bytes=limit)
    with lg.span("content") as span:
        span.set_input(value)
    assert lg.flush(timeout=10)
    (record,) = memory.find(kind="span")
    return record


@pytest.mark.parametrize(
    "value",
    [
        'é\n\x00"x' * 100_000,
        ["short", "a" * 300_000, *(f"item {i}" for i in range(20_000)), {"k": "b" * 200_000}],
        {"messages": [{"role": "user", "content": "c" * 150_000}] * 3, "n": 1.5, "ok": True},
        {f"key {i}": [i, None, "v" * 10] for i in range(30_000)},
    ],
    ids=["escaped-string", "mixed-list", "messages", "wide-dict"],
)
def test_the_digest_of_a_large_value_is_the_sha256_of_its_whole_json(value: Any) -> None:
    """Serialized in pieces, the full value still digests exactly as its JSON in one go."""
    full = pydantic_core.to_json(value)
    shortened, digest = fit(value, 1024)
    assert digest == lg.types.ContentDigest(
        bytes=len(full), sha256=hashlib.sha256(full).hexdigest()
    )
    assert _json_size(shortened) <= 1024


@pytest.mark.parametrize(
    "value",
    [
        "x" * 10_000_000,
        ["y" * 1_000_000] * 50,
        {"messages": [{"role": "user", "content": "z" * 100_000}] * 1_000},
        [[["deep" * 1_000] * 100] * 100] * 100,
        list(range(1_000_000)),
    ],
    ids=["long-string", "long-strings", "messages", "nested", "long-list"],
)
def test_what_redactors_see_of_huge_content_is_bounded(value: Any) -> None:
    """The view given to redactors is about the bound, whatever the shape of the value."""
    cut = window(value, 32_768)
    assert cut is not None
    assert _json_size(cut.value) <= 32_768 + 64 * MARGIN


def test_a_secret_split_by_the_cut_inside_nested_content_is_redacted() -> None:
    """A key straddling the cut of one message among many is never delivered in part."""
    for shift in range(-len(API_KEY), 1, 3):
        text = "~" * (128 + shift) + API_KEY + "~" * 5_000
        record = _deliver({"messages": [{"role": "user", "content": text}] * 4})
        assert record.truncated is not None
        assert "sk-proj" not in json.dumps(record.input), shift


def test_a_redactor_that_reshapes_cut_content_leaks_no_split_secret() -> None:
    """A redactor returning content of another shape still gets its margins dropped."""

    def wrap(record: lg.Record) -> lg.Record:
        return dataclasses.replace(record, input={"wrapped": [record.input]})

    lg.configure(redact=[wrap, lg.redact.DEFAULT])
    # Each long address becomes "[email]": the text shrinks twenty times.
    dense = " ".join(
        f"jane.doe.{i}@{'mail-' * 12}x.{'corp-' * 12}y.example.com" for i in range(100)
    )
    for shift in range(0, 8_000, 41):
        text = dense[:shift] + " " + API_KEY + " ~" * 10_000
        record = _deliver(text)
        assert "sk-proj" not in json.dumps(record.input), shift
        assert _json_size(record.input) <= 1024


def test_content_that_redaction_lengthens_is_still_within_the_bound() -> None:
    """A redactor that makes content longer than the cut allowed for: cut again."""

    def longer(record: lg.Record) -> lg.Record:
        if isinstance(record.input, list):
            return dataclasses.replace(record, input=[text * 3 for text in record.input])
        return record

    lg.configure(redact=[longer])
    record = _deliver(["w" * 300] * 3 + ["v" * 50_000])
    assert _json_size(record.input) <= 1024
    assert record.truncated is not None


def test_content_within_the_bound_reaches_redactors_whole() -> None:
    """Content that fits is neither cut nor marked, and redactors see all of it."""
    seen: list[Any] = []

    def spy(record: lg.Record) -> lg.Record:
        seen.append(record.input)
        return record

    lg.configure(redact=[spy])
    value = {"messages": [{"role": "user", "content": "q" * 500}]}
    record = _deliver(value)
    assert seen == [value]
    assert record.input == value
    assert record.truncated is None


@settings(deadline=None, max_examples=60)
@given(
    prefix=st.integers(min_value=0, max_value=9_000),
    limit=st.sampled_from([256, 1024, 4096]),
    filler=st.sampled_from(["~", "é", " ~", "\n"]),
)
def test_no_part_of_a_key_anywhere_in_long_text_is_delivered(
    prefix: int, limit: int, filler: str
) -> None:
    """Wherever a key sits in long text, under any bound, none of it is delivered."""
    value, digest = fit(filler * prefix + API_KEY + filler * 20_000, limit)
    cut = window(filler * prefix + API_KEY + filler * 20_000, limit)
    assert cut is not None
    redacted, _ = lg.redact.redact_text(cut.value) if isinstance(cut.value, str) else (None, None)
    delivered = cut.finish(redacted)
    assert "sk-proj" not in json.dumps(delivered)
    assert _json_size(delivered) <= limit
    assert digest is not None
    assert _json_size(value) <= limit


def test_a_huge_attribute_reaches_redactors_bounded_and_sinks_cut() -> None:
    """A 10 MB attribute value is cut like content: redactors see about the bound, the
    sink gets at most the bound, and ``truncated`` has its full size."""
    seen: list[int] = []

    def spy(record: lg.Record) -> lg.Record:
        seen.append(_json_size(record.metadata))
        return record

    memory = MemorySink()
    lg.configure(sinks=[memory], redact=[spy, lg.redact.DEFAULT])
    document = "page text, " * 1_000_000
    with lg.span("retrieve", document=document, k=3):
        pass
    assert lg.flush(timeout=10)
    (record,) = memory.find(kind="span")
    limit = lg.configure().max_content_bytes
    assert seen[0] <= 2 * limit
    assert _json_size(record.metadata["document"]) <= limit
    assert record.metadata["k"] == 3
    assert record.truncated is not None
    assert record.truncated["metadata.document"].bytes == len(document) + 2


def test_a_secret_split_by_the_cut_of_a_renamed_attribute_is_never_delivered() -> None:
    """A redactor that renames an attribute's key: its cut value is still finished."""

    def rename(record: lg.Record) -> lg.Record:
        metadata = {f"renamed {key}": value for key, value in record.metadata.items()}
        return dataclasses.replace(record, metadata=metadata)

    dense = " ".join(
        f"jane.doe.{i}@{'mail-' * 12}x.{'corp-' * 12}y.example.com" for i in range(100)
    )
    lg.configure(redact=[rename, lg.redact.DEFAULT], max_content_bytes=1024)
    memory = MemorySink()
    lg.configure(sinks=[memory])
    for shift in range(0, 8_000, 97):
        with lg.span("s", note=dense[:shift] + " " + API_KEY + " ~" * 10_000):
            pass
    assert lg.flush(timeout=10)
    for record in memory.find(kind="span"):
        assert "sk-proj" not in json.dumps(record.metadata)
        assert _json_size(record.metadata["renamed note"]) <= 1024
        assert record.truncated is not None
        assert set(record.truncated) == {"metadata.renamed note"}
