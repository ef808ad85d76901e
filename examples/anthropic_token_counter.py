"""Anthropic's own token count for the guard's input cap: ``configure(count_tokens=...)``.

Claude's tokenizer is not public, so llmguard's local count of a Claude request is an
estimate. Anthropic counts a request exactly -- messages, system prompt and tools
together -- at its ``messages/count_tokens`` endpoint. Giving that to
``lg.configure(count_tokens=...)`` makes the guard's ``max_input_tokens`` compare the
provider's own count.

The real Anthropic SDK talks to a mock transport here (offline): the count endpoint
answers 812 tokens, so a call capped at 1,000 input tokens goes through and one capped
at 500 is refused before it is sent::

    python examples/anthropic_token_counter.py
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import anthropic
from anthropic.types import Message

import llmguard as lg

MODEL = "claude-haiku-4-5"
COUNTED = 812  # what the mock count endpoint answers

ANSWER = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [{"type": "text", "text": "Refunds take five working days."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": COUNTED, "output_tokens": 9},
}


def sdk_http() -> ModuleType:
    """The HTTP library the installed anthropic SDK is built on (``httpx2`` or ``httpx``)."""
    for base in anthropic.DefaultHttpxClient.__mro__[1:]:
        root = base.__module__.partition(".")[0]
        if root in ("httpx", "httpx2"):
            return importlib.import_module(root)
    raise RuntimeError("cannot tell which HTTP library the anthropic SDK uses")


def offline_client(sent: list[tuple[str, Any]]) -> anthropic.Anthropic:
    """An ``anthropic.Anthropic`` answering offline; each request's path and body go in
    ``sent``."""
    http = sdk_http()

    def handler(request: Any) -> Any:
        sent.append((request.url.path, json.loads(request.content)))
        if request.url.path.endswith("/count_tokens"):
            return http.Response(200, json={"input_tokens": COUNTED})
        return http.Response(200, json=ANSWER)

    transport = http.Client(transport=http.MockTransport(handler))
    return anthropic.Anthropic(api_key="offline", base_url="http://offline", http_client=transport)


class AnthropicCounter:
    """A whole-request counter: asks Anthropic what the request will count."""

    def __init__(self, client: anthropic.Anthropic) -> None:
        self.client = client

    def __call__(
        self,
        messages: Sequence[Any],
        *,
        model: str | None,
        tools: Sequence[Any] | None,
        system: Any,
    ) -> int:
        extra: dict[str, Any] = {}
        if tools:
            extra["tools"] = list(tools)
        if system is not None:
            extra["system"] = system
        counted = self.client.messages.count_tokens(
            model=model or MODEL, messages=list(messages), **extra
        )
        return counted.input_tokens


TOOLS = [
    {
        "name": "order_status",
        "description": "The status of an order.",
        "input_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}},
    }
]


def main() -> tuple[str, str, list[tuple[str, Any]]]:
    sent: list[tuple[str, Any]] = []
    client = offline_client(sent)
    lg.configure(count_tokens=AnthropicCounter(client))

    def support(max_input_tokens: int) -> Any:
        # The system prompt and the tools are arguments, so the counter sees them too.
        @lg.guard(model=MODEL, max_input_tokens=max_input_tokens)
        def ask(
            messages: list[Any], system: str, tools: list[Any], max_tokens: int = 200
        ) -> Message:
            return client.messages.create(
                model=MODEL, system=system, tools=tools, messages=messages, max_tokens=max_tokens
            )

        return ask

    question = [{"role": "user", "content": "How long do refunds take?"}]
    system = "You answer customers of an online shop."
    reply = support(1_000)(question, system, TOOLS)
    answered = "".join(block.text for block in reply.content if block.type == "text")
    print("capped at 1,000:", answered)
    try:
        support(500)(question, system, TOOLS)
        refused = "sent"
    except lg.TokenLimitExceeded as exc:
        refused = str(exc)
    print("capped at 500:", refused)
    print("requests:", [path for path, _ in sent])
    lg.configure(count_tokens=None)
    return answered, refused, sent


if __name__ == "__main__":
    main()
