"""Streams read by the caller's own code (raw HTTP, a gateway's SDK) that report a server
failure after their 200 -- Anthropic's ``error`` event, an OpenRouter-style chunk with
``error`` and ``finish_reason: "error"`` -- are the provider's failure, as the SDKs' own
streams are: retried unchanged when transient, else ``lg.ProviderError``; never judged
as the model's answer and re-asked with a correction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.schemas import Ticket

GOOD = '{"category": "bug", "urgency": 2}'
USER = [{"role": "user", "content": "It crashes"}]


def _no_wait(seconds: float) -> None:
    return None


def _anthropic(text: str, error: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Anthropic stream events as dicts: a text block, then the end or ``error``."""
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5"}
    message |= {"content": [], "usage": {"input_tokens": 10, "output_tokens": 1}}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
    ]
    if error is not None:
        return [*events, {"type": "error", "error": error}]
    delta = {"stop_reason": "end_turn", "stop_sequence": None}
    return [
        *events,
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": delta, "usage": {"output_tokens": 5}},
        {"type": "message_stop"},
    ]


def _chat(text: str, error: Any = None) -> list[dict[str, Any]]:
    """Chat Completions chunks as dicts; with ``error``, the last is OpenRouter's."""
    head = {"id": "gen-1", "object": "chat.completion.chunk", "model": "anthropic/claude"}
    chunks = [head | {"choices": [{"index": 0, "delta": {"content": text}}]}]
    if error is not None:
        last = {"index": 0, "delta": {"content": ""}, "finish_reason": "error"}
        return [*chunks, head | {"error": error, "choices": [last]}]
    return [*chunks, head | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]


class Streams:
    """A function that returns the next scripted stream, keeping each call's messages."""

    def __init__(self, *streams: list[dict[str, Any]]) -> None:
        self.streams = list(streams)
        self.sent: list[list[Any]] = []

    def __call__(self, messages: list[Any]) -> Iterator[dict[str, Any]]:
        self.sent.append(messages)
        return iter(self.streams.pop(0))


def test_an_anthropic_overload_event_is_retried_unchanged() -> None:
    """overloaded_error mid-stream: the same messages are sent again, the attempt says transient."""
    overloaded = {"type": "overloaded_error", "message": "Overloaded"}
    model = Streams(_anthropic('{"category": ', overloaded), _anthropic(GOOD))
    guarded = lg.guard(schema=Ticket, retries=1, sleep=_no_wait)(model)

    with lg.testing.capture() as records:
        assert guarded(list(USER)) == Ticket(category="bug", urgency=2)
    assert model.sent == [USER, USER]
    outcomes = [r.attempt["outcome"] for r in records if r.kind == "attempt" and r.attempt]
    assert outcomes == ["transient_error", "ok"]


def test_an_anthropic_error_that_is_not_transient_is_raised() -> None:
    """invalid_request_error mid-stream: ProviderError with its type and message, no retry."""
    refused = {"type": "invalid_request_error", "message": "prompt is too long"}
    model = Streams(_anthropic('{"category": ', refused))
    guarded = lg.guard(schema=Ticket, retries=1, sleep=_no_wait)(model)

    with pytest.raises(lg.ProviderError) as raised:
        guarded(list(USER))
    error = raised.value
    assert (error.type, error.message) == ("invalid_request_error", "prompt is too long")
    assert len(model.sent) == 1


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        ({"code": "server_error", "message": "Provider disconnected"}, True),
        ({"code": 502, "message": "Bad gateway"}, True),
        ({"code": 429, "message": "Rate limited"}, True),
        ({"code": 400, "message": "Bad request"}, False),
    ],
)
def test_an_openrouter_error_chunk_is_the_providers_failure(
    error: dict[str, Any], retried: bool
) -> None:
    """The chunk's code -- a name, or an HTTP status as a number -- decides the retry."""
    model = Streams(_chat('{"category": ', error), _chat(GOOD))
    guarded = lg.guard(schema=Ticket, retries=1, sleep=_no_wait)(model)

    if retried:
        assert guarded(list(USER)) == Ticket(category="bug", urgency=2)
        assert model.sent == [USER, USER]
    else:
        with pytest.raises(lg.ProviderError) as raised:
            guarded(list(USER))
        assert (raised.value.code, raised.value.message) == ("400", "Bad request")
        assert len(model.sent) == 1


_VALUES = st.one_of(
    st.none(), st.text(max_size=12), st.integers(-1000, 1000), st.lists(st.integers(), max_size=2)
)


@settings(max_examples=60, deadline=None)
@given(
    payload=st.dictionaries(st.sampled_from(["type", "code", "message", "param"]), _VALUES),
    shape=st.sampled_from(["anthropic", "chat"]),
)
def test_any_reported_error_is_raised_or_retried_never_reasked(
    payload: dict[str, Any], shape: str
) -> None:
    """Garbage in the error's fields: the call ends in ProviderError (no retry left) with
    the fields that were strings, and the model was never sent a correction."""
    build = _anthropic if shape == "anthropic" else _chat
    model = Streams(build('{"category": ', payload))
    guarded = lg.guard(schema=Ticket, retries=2, transient_retries=0, sleep=_no_wait)(model)

    with pytest.raises(lg.ProviderError) as raised:
        guarded(list(USER))
    assert len(model.sent) == 1
    error = raised.value
    message = payload.get("message")
    assert error.message == (message if isinstance(message, str) else None)
    assert error.code is None or isinstance(error.code, str)
