"""The real ``openai`` and ``anthropic`` SDK clients, answering from a script.

Both SDKs talk HTTP through ``httpx2``; a client built here gets an ``httpx2`` client whose
``MockTransport`` answers each request with the next scripted answer and records what was
sent, so tests can check the messages of a retry. A scripted answer is:

- a ``dict``: a 200 JSON response;
- a ``list``: a 200 server-sent-event stream of those events (dicts as JSON, str as is);
- an ``http.Response``: returned as it is (see ``error_response``);
- an exception instance: raised by the transport (``http.ReadTimeout(...)``);
- a callable: called with the ``http.Request``, returns one of the above.

The SDKs' own retries are off (``max_retries=0``) unless asked for, so a scripted 429
reaches the code under test. The payload builders make the JSON the APIs return.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic

try:
    import httpx2 as http  # what the SDKs use from the releases that need Python >= 3.11
except ImportError:  # pragma: no cover - older SDK releases, as installed on Python 3.10
    import httpx as http  # type: ignore[no-redef]
import openai

__all__ = [
    "Script",
    "SentRequest",
    "anthropic_client",
    "anthropic_events",
    "anthropic_message",
    "async_anthropic_client",
    "async_openai_client",
    "chat_chunks",
    "chat_completion",
    "error_response",
    "openai_client",
    "responses_events",
    "responses_response",
]


@dataclass(frozen=True)
class SentRequest:
    """One request a mocked client sent."""

    method: str
    path: str
    json: Any
    headers: dict[str, str]


@dataclass
class Script:
    """The answers still to give, and the requests received so far."""

    answers: list[Any]
    sse_events: bool  # Anthropic streams name each event with an ``event:`` line
    requests: list[SentRequest] = field(default_factory=list)

    def __call__(self, request: http.Request) -> http.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append(
            SentRequest(request.method, request.url.path, body, dict(request.headers))
        )
        if not self.answers:
            raise AssertionError(f"no scripted answer left for {request.method} {request.url}")
        answer = self.answers.pop(0)
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, http.Response):
            return answer
        if isinstance(answer, list):
            return http.Response(
                200, headers={"content-type": "text/event-stream"}, content=self._sse(answer)
            )
        return http.Response(200, json=answer)

    def _sse(self, events: Iterable[Any]) -> bytes:
        lines: list[str] = []
        for event in events:
            if isinstance(event, str):
                lines.append(event)
                continue
            name = event.get("type") if isinstance(event, dict) else None
            prefix = f"event: {name}\n" if name and (self.sse_events or "." in name) else ""
            lines.append(f"{prefix}data: {json.dumps(event)}\n\n")
        if not self.sse_events:
            lines.append("data: [DONE]\n\n")
        return "".join(lines).encode()


def _http(script: Script, asynchronous: bool) -> Any:
    transport = http.MockTransport(script)
    return (
        http.AsyncClient(transport=transport) if asynchronous else http.Client(transport=transport)
    )


def _client(
    sdk: Any, base_url: str, answers: Sequence[Any], options: dict[str, Any], *, sse: bool
) -> tuple[Any, list[SentRequest]]:
    """An SDK client of class ``sdk`` answering from ``answers``, and the requests it sends."""
    script = Script(list(answers), sse_events=sse)
    options.setdefault("max_retries", 0)
    asynchronous = sdk in (openai.AsyncOpenAI, anthropic.AsyncAnthropic)
    transport = _http(script, asynchronous)
    client = sdk(api_key="test", base_url=base_url, http_client=transport, **options)
    return client, script.requests


def openai_client(
    answers: Sequence[Any], **options: Any
) -> tuple[openai.OpenAI, list[SentRequest]]:
    """An ``openai.OpenAI`` answering from ``answers``, and the list of requests it sends."""
    return _client(openai.OpenAI, "http://test/v1", answers, options, sse=False)


def async_openai_client(
    answers: Sequence[Any], **options: Any
) -> tuple[openai.AsyncOpenAI, list[SentRequest]]:
    """The ``openai.AsyncOpenAI`` twin of ``openai_client``."""
    return _client(openai.AsyncOpenAI, "http://test/v1", answers, options, sse=False)


def anthropic_client(
    answers: Sequence[Any], **options: Any
) -> tuple[anthropic.Anthropic, list[SentRequest]]:
    """An ``anthropic.Anthropic`` answering from ``answers``, and the requests it sends."""
    return _client(anthropic.Anthropic, "http://test", answers, options, sse=True)


def async_anthropic_client(
    answers: Sequence[Any], **options: Any
) -> tuple[anthropic.AsyncAnthropic, list[SentRequest]]:
    """The ``anthropic.AsyncAnthropic`` twin of ``anthropic_client``."""
    return _client(anthropic.AsyncAnthropic, "http://test", answers, options, sse=True)


def error_response(
    status: int, message: str = "scripted error", headers: dict[str, str] | None = None
) -> http.Response:
    """An API error both SDKs understand (429 → ``RateLimitError``, 500 → server error)."""
    body = {"type": "error", "error": {"type": "api_error", "message": message}}
    return http.Response(status, json=body, headers=headers)


# -- payloads -----------------------------------------------------------------------------


def chat_completion(
    content: str | None = "",
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    refusal: str | None = None,
    finish_reason: str = "stop",
    usage: tuple[int, int] | None = (10, 5),
    cached: int | None = None,
    reasoning: int | None = None,
    model: str = "gpt-4o-mini",
    id: str = "chatcmpl-1",
) -> dict[str, Any]:
    """A Chat Completions response body; ``usage`` is (prompt_tokens, completion_tokens)."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }
    return body


def tool_call(index: int, name: str, arguments: Any) -> dict[str, Any]:
    """One Chat Completions tool call; ``arguments`` as given if a string, else as JSON."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "id": f"call_{index}",
        "type": "function",
        "function": {"name": name, "arguments": text},
    }


def calls_completion(*calls: tuple[str, Any]) -> dict[str, Any]:
    """A Chat Completions body answering with one tool call per ``(name, arguments)``."""
    made = [tool_call(i, name, arguments) for i, (name, arguments) in enumerate(calls)]
    return chat_completion(None, tool_calls=made, finish_reason="tool_calls")


def chat_chunks(
    pieces: Sequence[str],
    *,
    usage: tuple[int, int] | None = (10, 5),
    finish_reason: str = "stop",
    model: str = "gpt-4o-mini",
    id: str = "chatcmpl-1",
) -> list[dict[str, Any]]:
    """Chat Completions stream chunks for text ``pieces``, with a last usage chunk."""
    head = {"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model}
    deltas = [{"role": "assistant", "content": ""}, *({"content": p} for p in pieces)]
    chunks = [
        {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        for delta in deltas
    ]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]})
    if usage is not None:
        total = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        }
        chunks.append({**head, "choices": [], "usage": total})
    return chunks


def responses_response(
    output: list[dict[str, Any]],
    *,
    status: str = "completed",
    incomplete_reason: str | None = None,
    usage: tuple[int, int] | None = (10, 5),
    cached: int = 0,
    reasoning: int = 0,
    model: str = "gpt-4o-mini",
    id: str = "resp_1",
) -> dict[str, Any]:
    """A Responses API response body with the given output items."""
    body: dict[str, Any] = {
        "id": id,
        "object": "response",
        "created_at": 1_700_000_000,
        "model": model,
        "status": status,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "incomplete_details": None if incomplete_reason is None else {"reason": incomplete_reason},
    }
    if usage is not None:
        body["usage"] = {
            "input_tokens": usage[0],
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens": usage[1],
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": sum(usage),
        }
    return body


def anthropic_message(
    content: str | list[dict[str, Any]] = "",
    *,
    stop_reason: str | None = "end_turn",
    usage: tuple[int, int] = (10, 5),
    cache_read: int | None = None,
    cache_write: int | None = None,
    model: str = "claude-haiku-4-5",
    id: str = "msg_1",
) -> dict[str, Any]:
    """An Anthropic Messages response body; a str ``content`` is one text block."""
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    return {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage[0],
            "output_tokens": usage[1],
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
        },
    }


def anthropic_events(
    pieces: Sequence[str],
    *,
    tool: tuple[str, str, Sequence[str]] | None = None,
    stop_reason: str = "end_turn",
    usage: tuple[int, int] = (10, 5),
    cache_read: int | None = None,
    model: str = "claude-haiku-4-5",
    id: str = "msg_1",
) -> list[dict[str, Any]]:
    """Anthropic stream events: a text block of ``pieces``, then maybe a tool_use block.

    ``tool`` is (id, name, partial JSON pieces).
    """
    start = anthropic_message([], stop_reason=None, usage=(usage[0], 1), cache_read=cache_read)
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**start, "model": model, "id": id}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
    ]
    events += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
        for p in pieces
    ]
    events.append({"type": "content_block_stop", "index": 0})
    if tool is not None:
        tool_id, name, parts = tool
        block = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
        events.append({"type": "content_block_start", "index": 1, "content_block": block})
        events += [
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": part},
            }
            for part in parts
        ]
        events.append({"type": "content_block_stop", "index": 1})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": usage[1]},
        }
    )
    events.append({"type": "message_stop"})
    return events


def responses_events(
    pieces: Sequence[str],
    *,
    function: str | None = None,
    usage: tuple[int, int] = (10, 5),
    model: str = "gpt-4o-mini",
    id: str = "resp_1",
) -> list[dict[str, Any]]:
    """Responses API stream events: output text in ``pieces``, or, with ``function``, the
    arguments of a call to that function in ``pieces``; then the completed response."""
    whole = "".join(pieces)
    head = responses_response([], status="in_progress", usage=None, model=model, id=id)
    if function is None:
        item: dict[str, Any] = {"type": "message", "id": "msg_1", "role": "assistant"}
        item |= {"status": "in_progress", "content": []}
        done = {**item, "status": "completed"}
        done["content"] = [{"type": "output_text", "text": whole, "annotations": []}]
        deltas = [
            {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0}
            | {"content_index": 0, "delta": piece, "logprobs": []}
            for piece in pieces
        ]
    else:
        item = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": function}
        item |= {"arguments": "", "status": "in_progress"}
        done = {**item, "arguments": whole, "status": "completed"}
        deltas = [
            {"type": "response.function_call_arguments.delta", "item_id": "fc_1"}
            | {"output_index": 0, "delta": piece}
            for piece in pieces
        ]
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": head},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        *deltas,
        {"type": "response.output_item.done", "output_index": 0, "item": done},
        {"type": "response.completed", "response": responses_response([done], usage=usage)},
    ]
    return [{**event, "sequence_number": number} for number, event in enumerate(events)]
