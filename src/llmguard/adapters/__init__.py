"""Response adapters: any model response, read as one normalized ``Reply``.

The SDKs are never imported. Responses are read by their shape — attributes or dict
keys — so ``openai``, ``anthropic`` and ``litellm`` objects, their ``model_dump()`` dicts
and the OpenAI-compatible JSON of other servers all go through the same code. What cannot
be read becomes ``None`` (unknown): never a guess, and never an exception.

>>> from llmguard import adapters
>>> adapters.adapt("plain text").text
'plain text'
>>> adapters.adapt(object()) is None
True
"""

from __future__ import annotations

from llmguard._core.reply import Adapter, Matcher, Reply, ReportedError, ToolCall
from llmguard.adapters._registry import OnError, adapt, register
from llmguard.adapters._streams import (
    AnthropicStream,
    OpenAIChatStream,
    OpenAIResponsesStream,
    StreamAccumulator,
    TextStream,
    accumulator_for,
)

__all__ = [
    "Adapter",
    "AnthropicStream",
    "Matcher",
    "OnError",
    "OpenAIChatStream",
    "OpenAIResponsesStream",
    "Reply",
    "ReportedError",
    "StreamAccumulator",
    "TextStream",
    "ToolCall",
    "accumulator_for",
    "adapt",
    "register",
]
