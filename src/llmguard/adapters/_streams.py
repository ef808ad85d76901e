"""Stream accumulators: the reply built chunk by chunk while the caller reads the stream."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from llmguard._core.reply import (
    Reply,
    ReportedError,
    ToolCall,
    Usage,
    arguments,
    as_int,
    as_list,
    as_str,
    from_litellm,
    get,
    get_rare,
)
from llmguard.adapters._providers import (
    CHAT_USAGE,
    THINKING_FIELDS,
    TOOL_USE_PLACE,
    anthropic_reply,
    chat_finish,
    litellm_cache_writes,
    openai_responses,
    openai_usage,
    other_block,
    reported_error,
    responses_tool_call,
    text_block,
    thinking_block,
)

__all__ = [
    "AnthropicStream",
    "OpenAIChatStream",
    "OpenAIResponsesStream",
    "StreamAccumulator",
    "TextStream",
    "accumulator_for",
]


class StreamAccumulator(ABC):
    """Builds a ``Reply`` from a stream, chunk by chunk.

    ``items`` counts the chunks fed; ``skipped`` those that could not be read, which are
    otherwise ignored. ``feed`` never raises: watching a stream must never break it.
    ``response`` is the whole response the stream ended with, when its API sends one.
    """

    provider: str | None = None
    response: object = None

    def __init__(self) -> None:
        self.items = 0
        self.skipped = 0

    def feed(self, chunk: object) -> None:
        """Take the next chunk into account."""
        self.items += 1
        try:
            self._feed(chunk)
        except Exception:
            self.skipped += 1

    @abstractmethod
    def _feed(self, chunk: object) -> None:
        """Read one chunk; raise on a chunk that cannot be read."""

    @abstractmethod
    def reply(self) -> Reply:
        """The reply so far: complete once the stream has ended, partial before."""


@dataclass(slots=True)
class _Partial:
    """A tool call or a content block being assembled from pieces."""

    kind: str = "tool_use"
    id: str | None = None
    name: str = ""
    pieces: list[str] = field(default_factory=list)
    start: object = None  # a tool_use block's initial input, kept if no JSON pieces follow
    names: list[str] = field(default_factory=list)  # name pieces of a Chat Completions call
    # A thinking block's fields, each in pieces (its text and signature come in deltas).
    fields: dict[str, list[str]] = field(default_factory=dict)
    extra: object = None  # a Chat Completions call's extra_content (Gemini's signature)


class TextStream(StreamAccumulator):
    """A stream of plain text pieces (a local model, a fake)."""

    def __init__(self) -> None:
        super().__init__()
        self._text: list[str] = []

    def _feed(self, chunk: object) -> None:
        if not isinstance(chunk, str):
            raise TypeError(f"expected text, got {type(chunk).__name__}")
        self._text.append(chunk)

    def reply(self) -> Reply:
        """The text so far."""
        return Reply(text="".join(self._text))


class OpenAIChatStream(StreamAccumulator):
    """Chat Completions chunks (OpenAI or LiteLLM).

    Usage comes in a last chunk with no choices, and only when the request set
    ``stream_options={"include_usage": True}``; without it the usage stays unknown.
    Until a chunk gives the finish reason, the reply's is ``"incomplete"``.
    """

    def __init__(self, provider: str = "openai") -> None:
        super().__init__()
        self.provider = provider
        self._text: list[str] = []
        self._refusal: list[str] = []
        self._calls: dict[int, _Partial] = {}
        self._id: str | None = None
        self._model: str | None = None
        self._finish: str | None = None
        self._usage: Usage | None = None
        self._problems: tuple[str, ...] = ()
        # LiteLLM's thinking blocks, each in pieces: a block ends with its signature.
        self._thinking: list[_Partial] = []
        self._thinking_open = False
        self._reasoning: list[str] = []  # reasoning_content deltas (DeepSeek's thinking)
        # OpenRouter's reasoning_details: each detail, with its text's pieces if any.
        self._details: list[tuple[Any, list[str] | None]] = []
        self._failure: ReportedError | None = None

    def _feed(self, chunk: object) -> None:
        self._id = self._id or as_str(get(chunk, "id"))
        self._model = self._model or as_str(get(chunk, "model"))
        if (usage := get(chunk, "usage")) is not None:
            problems: list[str] = []
            self._usage = openai_usage(usage, CHAT_USAGE, problems)
            if self.provider == "litellm":
                self._usage = litellm_cache_writes(usage, self._usage, problems)
            self._problems = tuple(problems)
        choices = get(chunk, "choices")
        if choices is None:
            self._failed(chunk)
            raise TypeError("not a chat completion chunk: no choices")
        for choice in as_list(choices):
            if as_int(get(choice, "index")) not in (0, None):
                continue  # n > 1: the first choice is the answer, as for whole responses
            delta = get(choice, "delta")
            if (text := as_str(get(delta, "content"))) is not None:
                self._text.append(text)
            if (reasoning := as_str(get_rare(delta, "reasoning_content"))) is not None:
                self._reasoning.append(reasoning)
            if (refusal := as_str(get(delta, "refusal"))) is not None:
                self._refusal.append(refusal)
            if isinstance(details := get_rare(delta, "reasoning_details"), (list, tuple)):
                for detail in details:
                    self._detail(detail)
            for piece in as_list(get(delta, "tool_calls")):
                index = as_int(get(piece, "index"))
                if index is None:
                    raise TypeError("a tool call delta without an index")
                self._add(index, piece)
            if (legacy := get(delta, "function_call")) is not None:
                self._add(-1, {"function": legacy})
            if self.provider == "litellm":
                for piece in as_list(get_rare(delta, "thinking_blocks")):
                    self._think(piece)
            self._finish = as_str(get(choice, "finish_reason")) or self._finish
            if self._finish == "error":
                self._failed(chunk)

    def _failed(self, chunk: object) -> None:
        """Keep the error a chunk reports after the stream's 200 (OpenRouter's, and
        other servers' the SDK does not raise for: a chunk read by the caller's own
        code), instead of an answer."""
        error = get_rare(chunk, "error")
        if error is not None:
            self._failure = reported_error({"error": error})

    def _detail(self, detail: object) -> None:
        """One of OpenRouter's ``reasoning_details`` deltas. A ``reasoning.text`` detail
        comes in pieces, its signature in the last: a piece with the same ``index`` as
        the text detail before it, or with none, continues that detail (as OpenRouter's
        own AI SDK provider joins them). Any other comes whole."""
        if not isinstance(detail, dict):
            self._details.append((detail, None))
            return
        text = detail.get("text", "")
        if detail.get("type") != "reasoning.text" or not isinstance(text, str | None):
            self._details.append((dict(detail), None))
            return
        if self._details:
            fields, pieces = self._details[-1]
            if pieces is not None and detail.get("index") in (None, fields.get("index")):
                pieces.append(text or "")
                for name, value in detail.items():
                    if (
                        name != "text"
                        and value not in (None, "")
                        and fields.get(name) in (None, "")
                    ):
                        fields[name] = value  # the signature, most often
                return
        self._details.append((dict(detail), [text or ""]))

    def _reasoning_details(self) -> tuple[Any, ...]:
        found = []
        for fields, pieces in self._details:
            found.append(fields if pieces is None else {**fields, "text": "".join(pieces)})
        return tuple(found)

    def _add(self, index: int, piece: object) -> None:
        call = self._calls.setdefault(index, _Partial(kind="function"))
        call.id = call.id or as_str(get(piece, "id"))
        function = get(piece, "function")
        field = "arguments"
        if function is None and (custom := get(piece, "custom")) is not None:
            call.kind, function, field = "custom", custom, "input"  # free-form input
        # Names are concatenated like arguments, as the OpenAI SDK's own accumulator does;
        # joined when read, since adding to a string each time is quadratic.
        if name := as_str(get(function, "name")):
            call.names.append(name)
        call.pieces.append(as_str(get(function, field)) or "")
        if (extra := get_rare(piece, "extra_content")) is not None:
            call.extra = extra

    def _think(self, piece: object) -> None:
        """A piece of a LiteLLM thinking block: a redacted block comes whole; a thinking
        block's text comes in pieces, then its signature, which ends it."""
        kind = as_str(get(piece, "type"))
        if kind not in THINKING_FIELDS:
            return
        if kind == "redacted_thinking" or not self._thinking_open:
            self._thinking.append(_Partial(kind=kind))
        last = self._thinking[-1]
        for name in THINKING_FIELDS[kind]:
            # An empty piece counts: a signed block whose text is "" is whole.
            if (value := as_str(get(piece, name))) is not None:
                last.fields.setdefault(name, []).append(value)
        # A signature ends a thinking block: the next piece starts another.
        self._thinking_open = kind == "thinking" and not as_str(get(piece, "signature"))

    def _thinking_blocks(self) -> tuple[dict[str, str], ...]:
        found = []
        for block in self._thinking:
            values = {name: "".join(pieces) for name, pieces in block.fields.items()}
            if (whole := thinking_block(block.kind, values)) is not None:
                found.append(whole)
        return tuple(found)

    def reply(self) -> Reply:
        """The text, tool calls and usage so far."""
        refusal = "".join(self._refusal) if self._refusal else None
        calls = [c for _, c in sorted(self._calls.items())]
        extras = tuple(c.extra for c in calls)
        return Reply(
            text="".join(self._text) if self._text else None,
            tool_calls=tuple(
                ToolCall(c.id, "".join(c.names), "".join(c.pieces), c.kind) for c in calls
            ),
            usage=self._usage,
            model=self._model,
            # No finish reason yet: the answer is unfinished (or the stream was cut).
            finish_reason=chat_finish(self._finish, refusal) or "incomplete",
            refusal=refusal,
            response_id=self._id,
            provider=self.provider,
            problems=self._problems,
            thinking=self._thinking_blocks() if self._thinking else (),
            reasoning_content=(
                "".join(self._reasoning) if self._reasoning and self._calls else None
            ),
            error=self._failure,
            call_extras=extras if any(extra is not None for extra in extras) else (),
            reasoning_details=(self._reasoning_details() if self._details and self._calls else ()),
        )


class OpenAIResponsesStream(StreamAccumulator):
    """Responses API events; the terminal event carries the whole response."""

    provider = "openai"

    def __init__(self) -> None:
        super().__init__()
        self._text: list[str] = []
        self._refusal: list[str] = []
        # By output index: a finished call, or one whose arguments are still arriving.
        self._calls: dict[int, ToolCall | _Partial] = {}
        self._head: object = None
        self._final: Reply | None = None
        self._failure: ReportedError | None = None

    def _feed(self, event: object) -> None:
        kind = as_str(get(event, "type")) or ""
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            self.response = get(event, "response")
            self._final = openai_responses(self.response)
        elif kind == "error":  # the server failed mid-answer; the stream ends here
            self._failure = reported_error(event)
        elif kind in ("response.created", "response.in_progress"):
            self._head = get(event, "response")
        elif kind == "response.output_text.delta":
            self._text.append(as_str(get(event, "delta")) or "")
        elif kind == "response.refusal.delta":
            self._refusal.append(as_str(get(event, "delta")) or "")
        elif kind == "response.output_item.added":
            item = get(event, "item")
            if (call := responses_tool_call(item)) is not None:
                self._calls[self._slot(event)] = _Partial(call.kind, call.id, call.name)
        elif kind in _ARGUMENT_DELTAS:
            index = as_int(get(event, "output_index"))
            partial = None if index is None else self._calls.get(index)
            if isinstance(partial, _Partial):
                partial.pieces.append(as_str(get(event, "delta")) or "")
        elif kind == "response.output_item.done":
            if (call := responses_tool_call(get(event, "item"))) is not None:
                self._calls[self._slot(event)] = call
        elif not kind.startswith("response."):
            raise TypeError(f"not a Responses API event: {kind!r}")

    def reply(self) -> Reply:
        """The final response once it has arrived, else the text and tool calls so far.

        Without its final event the answer is unfinished, whatever cut the stream: its
        finish reason is ``"incomplete"`` (``"error"`` after an ``error`` event), as for
        a whole response whose status is not ``completed``, so it is never repaired.
        """
        if self._final is not None:
            return self._final
        calls = (
            c if isinstance(c, ToolCall) else ToolCall(c.id, c.name, "".join(c.pieces), c.kind)
            for _, c in sorted(self._calls.items())
        )
        return Reply(
            text="".join(self._text) if self._text else None,
            tool_calls=tuple(calls),
            model=as_str(get(self._head, "model")),
            finish_reason="incomplete" if self._failure is None else "error",
            refusal="".join(self._refusal) if self._refusal else None,
            response_id=as_str(get(self._head, "id")),
            provider="openai",
            error=self._failure,
        )

    def _slot(self, event: object) -> int:
        """Where an item goes among the calls: its output index, else after the others."""
        index = as_int(get(event, "output_index"))
        if index is not None:
            return index
        return max(self._calls) + 1 if self._calls else 0


# The events that carry a piece of a call's arguments (a custom tool's input).
_ARGUMENT_DELTAS = frozenset(
    {"response.function_call_arguments.delta", "response.custom_tool_call_input.delta"}
)

_ANTHROPIC_EVENTS = frozenset(
    {"message_start", "content_block_start", "content_block_delta", "content_block_stop"}
    | {"message_delta", "message_stop", "ping"}
)
_ANTHROPIC_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
_DELTA_FIELDS = {"text_delta": "text", "input_json_delta": "partial_json"}
# What a stream says of its end before its message_delta: no stop reason yet.
_UNFINISHED = {"stop_reason": "incomplete"}
# Deltas of a thinking block's fields, by delta type: (the delta's field, the block's).
_THINKING_DELTAS = {"thinking_delta": "thinking", "signature_delta": "signature"}


class AnthropicStream(StreamAccumulator):
    """Anthropic Messages stream events; until ``message_delta`` gives the stop reason,
    the reply's finish reason is ``"incomplete"``."""

    provider = "anthropic"

    def __init__(self) -> None:
        super().__init__()
        self._message: object = None
        self._blocks: dict[int, _Partial] = {}
        self._usage: dict[str, object] = {}
        self._stop: object = None
        self._failure: ReportedError | None = None

    def _merge_usage(self, usage: object) -> None:
        # message_delta counts are cumulative and omit what has not changed: overwrite,
        # never add, and keep message_start's value for what is missing.
        for name in _ANTHROPIC_COUNTS:
            if (value := get(usage, name)) is not None:
                self._usage[name] = value  # read as a count, or reported, by the reply
        if (details := get(usage, "output_tokens_details")) is not None:
            self._usage["output_tokens_details"] = details

    def _feed(self, event: object) -> None:
        kind = get(event, "type")
        if kind == "message_start":
            self._message = get(event, "message")
            self._merge_usage(get(self._message, "usage"))
        elif kind == "content_block_start":
            block, index = get(event, "content_block"), as_int(get(event, "index"))
            block_type = as_str(get(block, "type"))
            if index is not None and block_type in THINKING_FIELDS:
                # Not part of the answer, but a tool re-ask must send it back.
                found = {name: get(block, name) for name in THINKING_FIELDS[block_type]}
                pieces = {name: [v] for name, v in found.items() if isinstance(v, str)}
                self._blocks[index] = _Partial(kind=block_type, fields=pieces)
                return
            if index is None:
                return
            if block_type not in ("text", "tool_use"):
                # A server tool's call or result, or a block not known yet: no part of
                # the answer, but of the turn a re-ask sends back.
                self._blocks[index] = _Partial(kind=block_type or "", start=block)
                return
            self._blocks[index] = _Partial(
                kind=block_type,
                id=as_str(get(block, "id")),
                name=as_str(get(block, "name")) or "",
                pieces=[as_str(get(block, "text")) or ""] if block_type == "text" else [],
                start=get(block, "input"),
            )
        elif kind == "content_block_delta":
            delta, index = get(event, "delta"), as_int(get(event, "index"))
            delta_type = as_str(get(delta, "type")) or ""
            name = _DELTA_FIELDS.get(delta_type)
            partial = None if index is None else self._blocks.get(index)
            if partial is not None and name is not None:
                partial.pieces.append(as_str(get(delta, name)) or "")
            elif partial is not None and (name := _THINKING_DELTAS.get(delta_type)):
                partial.fields.setdefault(name, []).append(as_str(get(delta, name)) or "")
        elif kind == "message_delta":
            self._stop = get(event, "delta")
            self._merge_usage(get(event, "usage"))
        elif kind == "error":
            # The server failed mid-answer (overloaded...); the SDK raises for this
            # event, a gateway's stream or the caller's own reading may not.
            self._failure = reported_error(event)
        elif kind not in _ANTHROPIC_EVENTS:
            raise TypeError(f"not an Anthropic stream event: {kind!r}")

    def reply(self) -> Reply:
        """The text, tool calls and usage so far; tool input is a dict once it is whole."""
        texts: list[str] = []
        calls: list[ToolCall] = []
        thinking: list[dict[str, str]] = []
        after: list[int] = []  # how many calls came before each thinking block
        turn: list[dict[str, Any]] = []
        for _, block in sorted(self._blocks.items()):
            if block.kind == "text":
                texts.append("".join(block.pieces))
                if (said := text_block(texts[-1])) is not None:
                    turn.append(said)
            elif block.kind == "tool_use":
                calls.append(ToolCall(block.id, block.name, _tool_input(block)))
                turn.append(TOOL_USE_PLACE)
            elif block.kind not in THINKING_FIELDS:
                if (other := _other_block(block)) is not None:
                    turn.append(other)
            else:
                values = {name: "".join(pieces) for name, pieces in block.fields.items()}
                if block.kind == "thinking" and not values.get("signature"):
                    continue  # cut before its signature came: Anthropic would refuse it
                if (found := thinking_block(block.kind, values)) is not None:
                    thinking.append(found)
                    after.append(len(calls))
                    turn.append(found)
        # Before its message_delta the answer is unfinished (or the stream was cut).
        stop = _UNFINISHED if self._stop is None else self._stop
        message, usage = self._message, self._usage
        return anthropic_reply(
            message,
            texts,
            calls,
            usage,
            stop,
            tuple(thinking),
            tuple(after),
            tuple(turn),
            self._failure,
        )


def _other_block(block: _Partial) -> dict[str, Any] | None:
    """A streamed block the adapter does not read, as it came (`other_block`): a server
    tool's call gets the input its deltas gave, once they make a whole object."""
    found = other_block(block.start)
    if found is not None and block.pieces and "input" in found:
        streamed = _tool_input(block)
        if isinstance(streamed, dict):
            found["input"] = streamed
    return found


def _tool_input(block: _Partial) -> str | dict[str, object]:
    """Streamed tool input as a dict, as in a whole message; the raw text if cut short."""
    raw = "".join(block.pieces)
    if not raw:
        return arguments(block.start if block.start is not None else {})
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than it reads
        return raw
    return parsed if isinstance(parsed, dict) else raw


def accumulator_for(first_chunk: object) -> StreamAccumulator | None:
    """Pick the accumulator for a stream by the shape of its first chunk.

    The chunk is not fed: the caller feeds every chunk, this one included.

    Returns:
        A fresh accumulator, or ``None`` when the chunk's shape is unknown.
    """
    try:
        if isinstance(first_chunk, str):
            return TextStream()
        litellm = from_litellm(first_chunk)
        if litellm or get(first_chunk, "object") == "chat.completion.chunk":
            return OpenAIChatStream("litellm" if litellm else "openai")
        kind = get(first_chunk, "type")
        if kind in _ANTHROPIC_EVENTS:
            return AnthropicStream()
        if isinstance(kind, str) and kind.startswith("response."):
            return OpenAIResponsesStream()
    except Exception:
        return None
    return None
