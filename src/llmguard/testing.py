"""Test doubles that ship with llmguard, for the tests of applications that use it.

- `capture` collects the records finished inside a block, synchronously.
- `FakeLLM` is a scripted model: it answers in the shape of the OpenAI or Anthropic
  SDKs (or plain text), streams when asked, and remembers what it was sent.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Literal

from llmguard._core.records import Record
from llmguard._delivery.pipeline import capturing

__all__ = ["FakeAPIError", "FakeLLM", "ToolAnswer", "capture"]


@contextlib.contextmanager
def capture() -> Iterator[list[Record]]:
    """Collect the records finished while the block runs, as sinks would receive them.

    Records are built on the thread that finishes each span, with redaction and
    content bounds applied, so the list is complete as soon as the block exits: no
    background thread, no flush, nothing to wait for. Captures nest, and work
    whether or not any sink is configured::

        with llmguard.testing.capture() as records:
            answer()
        assert [r.name for r in records] == ["answer"]
    """
    with capturing() as records:
        yield records


class FakeAPIError(Exception):
    """An error shaped like the SDKs' HTTP errors: it carries a ``status_code``.

    ``FakeAPIError(429)`` is a rate limit, which llmguard retries with backoff.
    """

    def __init__(self, status_code: int, message: str = "") -> None:
        super().__init__(message or f"HTTP {status_code}")
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class ToolAnswer:
    """A scripted answer that is a tool call rather than text."""

    name: str
    arguments: dict[str, Any]


#: One scripted answer: text, a tool call, an exception to raise, or a callable given
#: the call's keyword arguments that returns one of those.
Answer = str | ToolAnswer | BaseException | Callable[[dict[str, Any]], Any]

Shape = Literal["openai", "anthropic", "text"]


class FakeLLM:
    """A scripted model, for tests and offline examples.

    Each call takes the next answer of the script. Answers come back shaped like the
    SDK named by ``shape`` -- objects with the same attributes as OpenAI's
    ``ChatCompletion`` or Anthropic's ``Message``, usage included -- or as a plain
    string. With ``stream=True`` (given here or in the call) the answer comes as
    chunks or events instead. Every call's keyword arguments are kept in `calls`,
    copied, so tests can assert what a retry sent.

    Args:
        answers: The script: strings, `ToolAnswer`, exceptions (raised), or
            callables of the call's keyword arguments.
        shape: ``"openai"``, ``"anthropic"`` or ``"text"``.
        model: The model name reported in responses.
        stream: Answer every call as a stream.

    Raises:
        IndexError: From a call, when the script has no answers left.
    """

    def __init__(
        self,
        answers: Iterable[Answer],
        *,
        shape: Shape = "openai",
        model: str = "fake-model",
        stream: bool = False,
    ) -> None:
        if shape not in ("openai", "anthropic", "text"):
            raise ValueError(f"shape must be 'openai', 'anthropic' or 'text', not {shape!r}")
        self.answers = list(answers)
        self.shape = shape
        self.model = model
        self.stream = stream
        self.calls: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    @classmethod
    def from_records(
        cls,
        records: Iterable[Record],
        *,
        shape: Shape | None = None,
        model: str | None = None,
        stream: bool = False,
    ) -> FakeLLM:
        """A FakeLLM whose script is the answers a model gave in recorded calls.

        The answers are the raw texts kept in ``attempt`` records (a tool call's as its
        arguments' JSON), in the order the attempts started, so a guarded call sees
        the same answers -- the bad ones included -- and makes the same re-asks.
        Records of other kinds are skipped, so whole traces can be passed, and so are
        attempts that raised instead of answering (a rate limit, a timeout): the model
        gave nothing to repeat. Redacted answers are repeated as they were recorded;
        finish reasons and refusals are not reproduced.

        Args:
            records: Records from a store, a JSON Lines file or `capture`.
            shape: The response shape; by default the recorded provider's
                (``"anthropic"`` for Anthropic, ``"openai"`` otherwise).
            model: The model name to report; by default the one the first answer
                was recorded with.
            stream: Answer every call as a stream.

        Raises:
            ValueError: No attempt record holds an answer, or one holds none because
                its content was not captured, was dropped or was cut to fit.
        """
        given = list(records)
        attempts = sorted((r for r in given if r.kind == "attempt"), key=lambda r: r.start)
        answered = [r for r in attempts if r.error_type is None]
        if not answered:
            raise ValueError(
                f"none of the {len(given)} records is an attempt with an answer; pass "
                "the attempt records of the calls (a whole trace will do)"
            )
        answers: list[Answer] = []
        for record in answered:
            if record.output is None:
                raise ValueError(
                    f"attempt record {record.span_id} holds no answer: its content was "
                    "not captured (capture_content=False) or a redactor dropped it"
                )
            if "output" in (record.truncated or {}):
                raise ValueError(
                    f"attempt record {record.span_id}'s answer was cut to fit "
                    "max_content_bytes, so it cannot be repeated"
                )
            output = record.output
            answers.append(output if isinstance(output, str) else json.dumps(output))
        first = answered[0]
        if shape is None:
            shape = "anthropic" if first.provider == "anthropic" else "openai"
        if model is None:
            recorded = first.metadata.get("response_model")
            model = recorded if isinstance(recorded, str) else first.model or "fake-model"
        return cls(answers, shape=shape, model=model, stream=stream)

    def __call__(self, prompt: str | None = None, /, **kwargs: Any) -> Any:
        """Answer one call: a prompt string, or keyword arguments as an SDK's ``create``."""
        call = kwargs if prompt is None else {"prompt": prompt, **kwargs}
        self.calls.append(copy.deepcopy(call))
        if not self.answers:
            raise IndexError(f"FakeLLM has no answer left for call {len(self.calls)}")
        answer = self.answers.pop(0)
        if callable(answer) and not isinstance(answer, BaseException):
            answer = answer(call)
        if isinstance(answer, BaseException):
            raise answer
        if not isinstance(answer, (str, ToolAnswer)):
            return answer
        number = next(self._ids)
        prompt_tokens = _estimate(call.get("messages", call.get("prompt", "")))
        if self.stream or kwargs.get("stream"):
            return iter(self._chunks(answer, number, prompt_tokens))
        return self._response(answer, number, prompt_tokens)

    create = __call__

    async def acall(self, prompt: str | None = None, /, **kwargs: Any) -> Any:
        """The async form of a call; streams come back as async iterators."""
        response = self(prompt, **kwargs)
        if isinstance(response, Iterator):
            return _aiter(list(response))
        return response

    # -- shapes ---------------------------------------------------------------------------

    def _response(self, answer: str | ToolAnswer, number: int, prompt_tokens: int) -> Any:
        text = answer if isinstance(answer, str) else json.dumps(answer.arguments)
        output_tokens = _estimate(text)
        if self.shape == "text":
            return text
        if self.shape == "anthropic":
            block = (
                {"type": "text", "text": answer}
                if isinstance(answer, str)
                else {
                    "type": "tool_use",
                    "id": f"toolu_{number}",
                    "name": answer.name,
                    "input": answer.arguments,
                }
            )
            response = _namespace(
                {
                    "id": f"msg_{number}",
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [block],
                    "stop_reason": "end_turn" if isinstance(answer, str) else "tool_use",
                    "stop_sequence": None,
                    "usage": {"input_tokens": prompt_tokens, "output_tokens": output_tokens},
                }
            )
            if not isinstance(answer, str):
                # The SDK's ToolUseBlock.input is a plain dict, not an object.
                response.content[0].input = copy.deepcopy(answer.arguments)
            return response
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if isinstance(answer, str):
            message["content"] = answer
        else:
            message["tool_calls"] = [
                {
                    "id": f"call_{number}",
                    "type": "function",
                    "function": {"name": answer.name, "arguments": text},
                }
            ]
        return _namespace(
            {
                "id": f"chatcmpl-{number}",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "stop" if isinstance(answer, str) else "tool_calls",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": output_tokens,
                    "total_tokens": prompt_tokens + output_tokens,
                },
            }
        )

    def _chunks(self, answer: str | ToolAnswer, number: int, prompt_tokens: int) -> list[Any]:
        if not isinstance(answer, str):
            raise ValueError("FakeLLM streams text answers only")
        pieces = [answer[i : i + 8] for i in range(0, len(answer), 8)] or [""]
        output_tokens = _estimate(answer)
        if self.shape == "text":
            return pieces
        if self.shape == "anthropic":
            start: dict[str, Any] = {
                "id": f"msg_{number}",
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": prompt_tokens, "output_tokens": 1},
            }
            events: list[dict[str, Any]] = [
                {"type": "message_start", "message": start},
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                *(
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": piece},
                    }
                    for piece in pieces
                ),
                {"type": "content_block_stop", "index": 0},
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": output_tokens},
                },
                {"type": "message_stop"},
            ]
            return [_namespace(e) for e in events]
        head = {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": self.model,
        }
        deltas = [{"role": "assistant", "content": ""}, *({"content": p} for p in pieces)]
        chunks = [
            {**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas
        ]
        chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": prompt_tokens + output_tokens,
        }
        chunks.append({**head, "choices": [], "usage": usage})
        return [_namespace(c) for c in chunks]


def _estimate(value: Any) -> int:
    # About four characters a token: good enough for a fake that reports usage.
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return max(1, len(text) // 4)


def _namespace(value: Any) -> Any:
    """Nested dicts as objects with attributes, the way the SDKs' models read."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: _namespace(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_namespace(v) for v in value]
    return value


async def _aiter(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item
