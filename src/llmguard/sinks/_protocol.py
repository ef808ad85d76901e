"""The contract every sink meets (defined in `llmguard._core.sink`, so delivery can name it)."""

from __future__ import annotations

from llmguard._core.sink import Sink

__all__ = ["Sink"]
