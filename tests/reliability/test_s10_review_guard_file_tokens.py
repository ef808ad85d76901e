"""Review of the token counts of files (3d14443), as a demanding user with an input cap.
A file part whose data URL names a text type other than ``text/*`` -- JSON, XML, YAML,
which the Responses API takes as ``input_file`` -- was counted as one PDF page (2,300
tokens) whatever its size: 100 KB of JSON passed a 5,000-token cap. A data URL that
is not base64 (``data:text/plain,hello%20world``) was read as base64 anyway, and its
garbage counted. Hostile data never raises and never counts below zero."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.sdk_mocks import openai_client, responses_response

MESSAGE = {
    "type": "message",
    "id": "msg_1",
    "role": "assistant",
    "status": "completed",
    "content": [{"type": "output_text", "text": "Done.", "annotations": []}],
}
ROWS = json.dumps([{"id": n, "title": f"crash in module {n}"} for n in range(3000)])


def _count(part: dict[str, Any] | None = None) -> int:
    parts = [] if part is None else [part]
    return lg.count_tokens([{"role": "user", "content": parts}], model="gpt-5")


def _file(media: str, data: bytes) -> dict[str, Any]:
    url = f"data:{media};base64," + base64.b64encode(data).decode()
    return {"type": "input_file", "filename": "rows", "file_data": url}


@pytest.mark.parametrize("media", ["application/json", "application/xml", "application/x-yaml"])
def test_a_text_file_of_any_text_type_counts_its_text(media: str) -> None:
    counted = _count(_file(media, ROWS.encode())) - _count()
    text = lg.count_tokens(ROWS, model="gpt-5")
    assert text * 0.9 <= counted <= text * 1.1


def test_a_data_url_that_is_not_base64_counts_its_text() -> None:
    words = "the ticket says the app crashes at start " * 50
    url = "data:text/plain," + words.replace(" ", "%20")
    counted = _count({"type": "input_file", "file_data": url}) - _count()
    assert counted == lg.count_tokens(words, model="gpt-5")


def test_a_pdf_still_counts_its_pages() -> None:
    pdf = b"%PDF-1.7\n" + b"1 0 obj << /Type /Page >> endobj\n" * 3
    assert _count(_file("application/pdf", pdf)) - _count() == 3 * 2300


def test_max_input_tokens_refuses_a_long_json_file_before_the_call() -> None:
    client, sent = openai_client([responses_response([MESSAGE])])

    @lg.guard(model="gpt-5", max_input_tokens=5000)
    def ask(input: Any) -> Any:
        return client.responses.create(model="gpt-5", input=input)

    with pytest.raises(lg.TokenLimitExceeded) as refused:
        ask([{"role": "user", "content": [_file("application/json", ROWS.encode())]}])
    assert refused.value.used is not None
    assert refused.value.used > 5000
    assert sent == []


_DATA = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda media, sep, body: f"data:{media}{sep},{body}",
        st.sampled_from(["application/pdf", "application/json", "text/plain", "", "image/png"]),
        st.sampled_from([";base64", "", ";charset=utf-8;base64"]),
        st.text(alphabet="AZaz09+/=%-_ ,\n", max_size=60),
    ),
)


@settings(max_examples=80, deadline=None)
@given(data=_DATA, where=st.sampled_from(["input_file", "file"]))
def test_hostile_file_data_never_raises_nor_counts_below_zero(data: str, where: str) -> None:
    fields = {"file_data": data}
    part = {"type": "file", "file": fields} if where == "file" else {"type": where, **fields}
    assert _count(part) >= _count()
