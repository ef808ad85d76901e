"""The process-wide settings in force, and the sinks the ``LLMGUARD_SINK`` variable names."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from llmguard._core.records import Record
from llmguard._core.sink import Sink
from llmguard.redact import DEFAULT as _DEFAULT_REDACTOR

__all__ = [
    "Approver",
    "PriceFigures",
    "Redactor",
    "RequestCounter",
    "Settings",
    "Tokenizer",
    "settings",
    "sinks_from_env",
    "swap",
]

logger = logging.getLogger("llmguard")

Redactor = Callable[[Record], Record]
"""A redactor takes a finished record and returns the record to deliver in its place."""

Tokenizer = Callable[[str], int]
"""Counts the tokens of a text: ``text -> int``."""

Approver = Callable[[str, dict[str, Any]], Any]
"""Decides whether a tool may run: ``(tool_name, arguments) -> bool`` (or an awaitable)."""

PriceFigures = tuple[float, float, float | None, float | None]
"""A model's prices given to ``configure(prices=...)``, US dollars per million tokens:
input, output, cached input and cache writes (``None``: charged as input)."""


class RequestCounter(Protocol):
    """Counts the input tokens of a whole request, as the provider will bill them.

    Called with the request's messages and, by keyword, the model (``None`` when the
    guard does not know it), the tool definitions and the separate system prompt
    (Anthropic's ``system=``), each ``None`` when the request has none.
    """

    def __call__(
        self,
        messages: Sequence[Any],
        *,
        model: str | None,
        tools: Sequence[Any] | None,
        system: Any,
    ) -> int: ...


ENV_SINK = "LLMGUARD_SINK"


@dataclass(frozen=True, slots=True)
class Settings:
    """The settings in force; see `configure` for what each one means."""

    sinks: tuple[Sink, ...] | None = None
    service: str | None = None
    capture_content: bool = True
    redact: tuple[Redactor, ...] = (_DEFAULT_REDACTOR,)
    max_content_bytes: int = 32_768
    queue_size: int = 10_000
    max_queue_bytes: int = 64 * 1024 * 1024
    batch_size: int = 512
    exit_timeout: float = 5.0
    strict: bool = False
    tokenizer: Tokenizer | None = None
    count_tokens: RequestCounter | None = None
    prices: tuple[tuple[str, PriceFigures], ...] = ()
    approver: Approver | None = None
    sample_rate: float = 1.0


_settings = Settings()


def settings() -> Settings:
    """The settings in force now."""
    return _settings


def swap(new: Settings) -> Settings:
    """Put ``new`` in force and return the settings it replaces."""
    global _settings
    old, _settings = _settings, new
    return old


def sinks_from_env() -> tuple[Sink, ...]:
    """The sinks ``LLMGUARD_SINK`` names; the parts that can't be used are one warning.

    The value is a comma-separated list of sink URLs. Every part that makes a sink is
    used; the others are named, with the reason, in a single warning.
    """
    value = os.environ.get(ENV_SINK, "").strip()
    if not value:
        return ()
    from llmguard.sinks import sink_from_url

    sinks: list[Sink] = []
    problems: list[str] = []
    for part in value.split(","):
        url = part.strip()
        if not url:
            continue
        try:
            sinks.append(sink_from_url(url))
        except Exception as exc:
            problems.append(str(exc))
    if problems:
        outcome = f"using the other {len(sinks)}" if sinks else "no sink configured"
        logger.warning("%s: ignored %s; %s", ENV_SINK, "; ".join(problems), outcome)
    return tuple(sinks)
