"""llmguard: make LLM calls safe to run in production.

Decorate the functions that call a model; llmguard records a structured trace of
every call through pluggable sinks, off the application's thread, and never lets its
own failures reach the application.
"""

from __future__ import annotations

from llmguard import sinks, testing
from llmguard._config import Redactor, Settings, configure, reset
from llmguard._pipeline import DeliveryStats, FlushResult, SinkStats, flush, shutdown, stats
from llmguard._records import SCHEMA_VERSION, ContentDigest, Record, StreamInfo, Usage
from llmguard._trace import Span, current_span, current_trace_id, propagate, span, trace
from llmguard._version import __version__
from llmguard.exceptions import ConfigurationError, LLMGuardError

__all__ = [
    "SCHEMA_VERSION",
    "ConfigurationError",
    "ContentDigest",
    "DeliveryStats",
    "FlushResult",
    "LLMGuardError",
    "Record",
    "Redactor",
    "Settings",
    "SinkStats",
    "Span",
    "StreamInfo",
    "Usage",
    "__version__",
    "configure",
    "current_span",
    "current_trace_id",
    "flush",
    "propagate",
    "reset",
    "shutdown",
    "sinks",
    "span",
    "stats",
    "testing",
    "trace",
]
