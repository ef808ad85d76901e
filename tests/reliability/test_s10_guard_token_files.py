"""Counting before the call what is not text: a Responses API reasoning item sent back
with its ``encrypted_content`` counts the reasoning it encrypts (its base64 was counted
as text, about twice that), and a file part counts what the provider puts in context (a
PDF was some 7 tokens whatever its size): each PDF page as its text and an image of it,
a text file as its text, a file sent by id or URL as one page at least."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.sdk_mocks import openai_client, responses_response

PAGE = 2300
USER = {"role": "user", "content": "Summarize the attached file."}
MESSAGE = {"type": "message", "id": "m", "role": "assistant", "status": "completed"} | {
    "content": [{"type": "output_text", "text": "ok", "annotations": []}]
}


def _pdf(pages: int, packed: bytes = b"") -> bytes:
    objects = b"".join(
        b"%d 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n" % (n + 3)
        for n in range(pages)
    )
    return b"%PDF-1.7\n2 0 obj << /Type /Pages /Count 9 >> endobj\n" + objects + packed


def _data_url(data: bytes, media_type: str = "application/pdf") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def _count(*parts: dict[str, Any], model: str = "gpt-5") -> int:
    return lg.count_tokens([{"role": "user", "content": list(parts)}], model=model)


def _reasoning(encrypted: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "reasoning", "id": "rs_1"}
    item["summary"] = [{"type": "summary_text", "text": "**Sorting** the ticket by its cause."}]
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


@settings(max_examples=25, deadline=None)
@given(size=st.integers(1, 20_000))
def test_an_encrypted_reasoning_item_counts_a_token_for_four_bytes_it_encrypts(size: int) -> None:
    """Its base64 text is not counted as text: the ciphertext's bytes are, four a token."""
    encrypted = "gAAAAAB" + base64.urlsafe_b64encode(os.urandom(size)).decode()
    alone = lg.count_tokens([USER], model="gpt-5")
    counted = lg.count_tokens([USER, _reasoning(encrypted)], model="gpt-5")
    assert counted.estimated
    assert counted - alone == -(-(len(encrypted) * 3 // 4) // 4)


def test_a_stored_reasoning_item_counts_its_summary() -> None:
    """Without its ciphertext (a stored response's item), its summary is what is known."""
    alone = lg.count_tokens([USER], model="gpt-5")
    counted = lg.count_tokens([USER, _reasoning(None)], model="gpt-5")
    summary = lg.count_tokens("**Sorting** the ticket by its cause.", model="gpt-5")
    assert counted - alone == summary


@settings(max_examples=25, deadline=None)
@given(pages=st.integers(1, 40), shape=st.sampled_from(["input_file", "file", "anthropic"]))
def test_a_pdf_counts_its_pages(pages: int, shape: str) -> None:
    """Each page is its text and an image in context: 2,300 tokens a page, in all three
    shapes a PDF is sent in."""
    url = _data_url(_pdf(pages))
    if shape == "input_file":
        part: dict[str, Any] = {"type": "input_file", "filename": "a.pdf", "file_data": url}
    elif shape == "file":
        part = {"type": "file", "file": {"filename": "a.pdf", "file_data": url}}
    else:
        source = {"type": "base64", "media_type": "application/pdf", "data": url.split(",")[1]}
        part = {"type": "document", "source": source}
    counted = _count(part)
    assert counted.estimated
    assert counted - _count() == pages * PAGE


def test_a_pdf_whose_pages_are_packed_out_of_sight_counts_one_page() -> None:
    """Pages inside compressed object streams are not seen: one page, the least it is."""
    packed = _data_url(b"%PDF-1.7\n" + os.urandom(5000))
    assert _count({"type": "input_file", "file_data": packed}) - _count() == PAGE


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_file", "file_id": "file-abc"},
        {"type": "input_file", "file_url": "https://example.com/report.pdf"},
        {"type": "file", "file": {"file_id": "file-abc"}},
        {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
        {"type": "document", "source": {"type": "file", "file_id": "file_011"}},
    ],
    ids=["input_file id", "input_file url", "file id", "document url", "document file"],
)
def test_a_file_sent_by_reference_counts_one_page(part: dict[str, Any]) -> None:
    assert _count(part) - _count() == PAGE


def test_a_text_file_counts_its_text() -> None:
    """A text file's data is read as the text the provider extracts."""
    text = "The export crashes when the date column is empty.\n" * 40
    as_file = {"type": "input_file", "file_data": _data_url(text.encode(), "text/plain")}
    as_text = {"type": "input_text", "text": text}
    assert _count(as_file) == _count(as_text)
    bare = {"type": "input_file", "file_data": base64.b64encode(text.encode()).decode()}
    assert _count(bare) == _count(as_text)


@pytest.mark.parametrize(
    "data",
    ["data:application/pdf;base64,%%%not base64%%%", "data:application/pdf;base64,", "=", "🐛"],
)
def test_file_data_that_is_not_base64_counts_as_one_page(data: str) -> None:
    """Garbage is no error: an estimate of one page."""
    counted = _count({"type": "input_file", "file_data": data})
    assert counted.estimated
    assert counted - _count() >= 0


@pytest.mark.parametrize(
    "unit", [b"/Type", b"/Type \t\r\n", b"/Type /Pag", b"/Type/Pages", b"/Type /Page"]
)
def test_page_object_floods_are_counted_in_one_pass(unit: bytes) -> None:
    """Four megabytes of near-miss page objects: a single scan, no backtracking."""
    flood = _data_url(b"%PDF-1.7\n" + unit * (4_000_000 // len(unit)))
    counted = _count({"type": "input_file", "file_data": flood})
    pages = 4_000_000 // len(unit) if unit == b"/Type /Page" else 1
    assert counted - _count() == pages * PAGE


def test_max_input_tokens_refuses_a_long_pdf_before_the_call() -> None:
    """A 10-page PDF crosses a 5,000-token input cap: refused before anything is sent."""
    client, sent = openai_client([responses_response([MESSAGE])])

    @lg.guard(model="gpt-5", max_input_tokens=5000)
    def ask(input: Any) -> Any:
        return client.responses.create(model="gpt-5", input=input)

    file = {"type": "input_file", "filename": "a.pdf", "file_data": _data_url(_pdf(10))}
    with pytest.raises(lg.TokenLimitExceeded) as refused:
        ask([{"role": "user", "content": [file]}])
    assert refused.value.used is not None
    assert refused.value.used > 10 * PAGE
    assert sent == []


def test_max_input_tokens_admits_a_reasoning_item_by_what_it_encrypts() -> None:
    """A 6 KB ciphertext (about 1,100 tokens of reasoning) fits a 1,500 cap; counted as
    base64 text it was refused."""
    client, sent = openai_client([responses_response([MESSAGE])])

    @lg.guard(model="gpt-5", max_input_tokens=1500)
    def ask(input: Any) -> Any:
        return client.responses.create(model="gpt-5", input=input)

    encrypted = "gAAAAAB" + base64.urlsafe_b64encode(os.urandom(4500)).decode()
    ask([USER, _reasoning(encrypted), MESSAGE, {"role": "user", "content": "Go on."}])
    assert len(sent) == 1
    assert sent[0].json["input"][1]["encrypted_content"] == encrypted


def test_redacted_thinking_counts_what_it_encrypts() -> None:
    """Anthropic's redacted thinking, sent back in a tool loop, is input like the
    thinking it hides: a token for 4 bytes of its ciphertext (it counted nothing)."""
    data = base64.b64encode(os.urandom(3000)).decode()
    turn = [{"type": "redacted_thinking", "data": data}, {"type": "text", "text": "ok"}]
    plain = [{"type": "text", "text": "ok"}]
    with_block = lg.count_tokens([{"role": "assistant", "content": turn}], model="claude-x")
    without = lg.count_tokens([{"role": "assistant", "content": plain}], model="claude-x")
    assert with_block - without == 3000 // 4
