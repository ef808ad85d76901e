"""The schema sent to the model: ``@lg.guard(schema=..., send_schema=True)`` (offline).

The real OpenAI SDK client talks to a mock transport that keeps each request and answers
with a fixed chat completion. The guarded function takes ``response_format``, so the
guard passes OpenAI's strict ``json_schema`` format built from the pydantic model; the
script prints what the SDK sent and the validated value::

    python examples/send_schema.py
"""

from __future__ import annotations

import importlib
import json
from types import ModuleType
from typing import Any, Literal

import openai
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, Field

import llmguard as lg


class Ticket(BaseModel):
    """A classified support ticket."""

    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)
    summary: str = Field(max_length=80, description="One line for the on-call engineer")
    customer_id: str | None = None


ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {
                "role": "assistant",
                "content": json.dumps(
                    {
                        "category": "bug",
                        "urgency": 4,
                        "summary": "Settings screen crashes the app",
                        "customer_id": None,
                    }
                ),
            },
        }
    ],
    "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
}


def sdk_http() -> ModuleType:
    """The HTTP library the installed openai SDK is built on (``httpx2`` or ``httpx``)."""
    for base in openai.DefaultHttpxClient.__mro__[1:]:
        root = base.__module__.partition(".")[0]
        if root in ("httpx", "httpx2"):
            return importlib.import_module(root)
    raise RuntimeError("cannot tell which HTTP library the openai SDK uses")


def offline_client(sent: list[dict[str, Any]]) -> openai.OpenAI:
    """An ``openai.OpenAI`` whose requests are kept in ``sent`` and answered offline."""
    http = sdk_http()

    def handler(request: Any) -> Any:
        sent.append(json.loads(request.content))
        return http.Response(200, json=ANSWER)

    transport = http.Client(transport=http.MockTransport(handler))
    return openai.OpenAI(api_key="offline", base_url="http://offline/v1", http_client=transport)


def main() -> tuple[Ticket, dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    client = offline_client(sent)

    @lg.guard(schema=Ticket, send_schema=True)
    def triage(messages: list[Any], response_format: Any = None) -> ChatCompletion:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, response_format=response_format
        )

    ticket = triage([{"role": "user", "content": "The app crashes when I open settings."}])
    response_format: dict[str, Any] = sent[0]["response_format"]
    print("response_format sent by the SDK:")
    print(json.dumps(response_format, indent=2))
    print("validated value:", repr(ticket))
    return ticket, response_format


if __name__ == "__main__":
    main()
