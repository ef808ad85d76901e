"""llmguard: make LLM calls safe to run in production.

Decorate the functions that call a model; llmguard records a structured trace of
every call through pluggable sinks, off the application's thread, and never lets its
own failures reach the application.
"""

from __future__ import annotations

import warnings as _warnings
from typing import Any

from llmguard import adapters, pricing, redact, sinks, stores, testing, types
from llmguard._agents.runs import Agent, AgentStopped, Run, agent, current_run, steps
from llmguard._agents.tools import Tool, acall_tool, call_tool, tool
from llmguard._core.outcomes import Attempt
from llmguard._core.records import Record, Usage
from llmguard._delivery.configure import configure, reset
from llmguard._delivery.pipeline import flush, shutdown, stats
from llmguard._guard.call import Call
from llmguard._guard.flow import Failure
from llmguard._guard.partial import Partial
from llmguard._guard.policy import Guard, guard
from llmguard._replay.replay import Replay, ReplayOutcome, areplay, replay
from llmguard._spend.budgets import Budget, budget
from llmguard._spend.rate_limits import RateLimit, rate_limit
from llmguard._spend.tokens import count_tokens
from llmguard._tracing.decorator import trace
from llmguard._tracing.feedback import feedback
from llmguard._tracing.prompt import Prompt
from llmguard._tracing.spans import Span, current_span, current_trace_id, propagate, span
from llmguard._version import __version__
from llmguard.exceptions import (
    BadReturn,
    BudgetExceeded,
    BudgetUnavailable,
    ConfigurationError,
    GuardError,
    LimitExceeded,
    LLMGuardError,
    LoopDetected,
    OutputTruncated,
    RateLimitExceeded,
    Refused,
    ReplayError,
    SchemaViolation,
    StepLimitExceeded,
    TimeLimitExceeded,
    TokenLimitExceeded,
    ToolCallLimitExceeded,
    ToolDenied,
    ToolError,
    ToolInputError,
    ToolOutputError,
)

__all__ = [
    "Agent",
    "AgentStopped",
    "Attempt",
    "BadReturn",
    "Budget",
    "BudgetExceeded",
    "BudgetUnavailable",
    "Call",
    "ConfigurationError",
    "Failure",
    "Guard",
    "GuardError",
    "LLMGuardError",
    "LimitExceeded",
    "LoopDetected",
    "OutputTruncated",
    "Partial",
    "Prompt",
    "RateLimit",
    "RateLimitExceeded",
    "Record",
    "Refused",
    "Replay",
    "ReplayError",
    "ReplayOutcome",
    "Run",
    "SchemaViolation",
    "Span",
    "StepLimitExceeded",
    "TimeLimitExceeded",
    "TokenLimitExceeded",
    "Tool",
    "ToolCallLimitExceeded",
    "ToolDenied",
    "ToolError",
    "ToolInputError",
    "ToolOutputError",
    "Usage",
    "__version__",
    "acall_tool",
    "adapters",
    "agent",
    "areplay",
    "budget",
    "call_tool",
    "configure",
    "count_tokens",
    "current_run",
    "current_span",
    "current_trace_id",
    "feedback",
    "flush",
    "guard",
    "pricing",
    "propagate",
    "rate_limit",
    "redact",
    "replay",
    "reset",
    "shutdown",
    "sinks",
    "span",
    "stats",
    "steps",
    "stores",
    "testing",
    "tool",
    "trace",
    "types",
]


def __getattr__(name: str) -> Any:
    """The low-level names that moved to `llmguard.types`, for one release, with a warning."""
    if name in types.__all__:
        _warnings.warn(
            f"llmguard.{name} moved to llmguard.types.{name}; "
            "the old name will be removed in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(types, name)
    raise AttributeError(f"module 'llmguard' has no attribute {name!r}")


def _show_public_homes() -> None:
    """Make public classes name the module users import them from, in reprs and tracebacks.

    ``llmguard.Guard``, not ``llmguard._guard.policy.Guard`` (httpx does the same). The
    classes of `llmguard.types` name that module.
    """
    for home, names in (("llmguard.types", types.__all__), ("llmguard", __all__)):
        namespace = vars(types) if home == "llmguard.types" else globals()
        for name in names:
            obj = namespace[name]
            if isinstance(obj, type) and obj.__module__.startswith("llmguard._"):
                obj.__module__ = home


_show_public_homes()
