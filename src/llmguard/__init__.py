"""llmguard: make LLM calls safe to run in production.

Decorate the functions that call a model; llmguard records a structured trace of
every call through pluggable sinks, off the application's thread, and never lets its
own failures reach the application.

``import llmguard`` loads the tracing core (spans, ``@trace``, delivery, the errors).
The guard, agents, tools, replay, budgets and rate limits, pricing, stores, sinks,
adapters and test doubles load when the application first reads one of their names,
so an application pays only for what it uses.
"""

from __future__ import annotations

import warnings as _warnings
from typing import TYPE_CHECKING, Any

from llmguard import redact, types
from llmguard._core.exports import Exports, show_public_homes
from llmguard._core.outcomes import Attempt
from llmguard._core.records import Record, Usage
from llmguard._delivery.configure import configure, reset
from llmguard._delivery.pipeline import flush, shutdown, stats
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
    PartiallyDelivered,
    ProviderError,
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

if TYPE_CHECKING:
    # Loaded on first use (see __getattr__); imported here for type checkers and IDEs.
    from llmguard import adapters, pricing, sinks, stores, testing
    from llmguard._agents.runs import Agent, AgentStopped, Run, agent, current_run, steps
    from llmguard._agents.tools import Tool, acall_tool, call_tool, tool
    from llmguard._guard.call import Call
    from llmguard._guard.flow import Failure
    from llmguard._guard.partial import Partial
    from llmguard._guard.policy import Guard, guard
    from llmguard._replay.replay import Replay, ReplayOutcome, areplay, replay
    from llmguard._spend.budgets import Budget, budget
    from llmguard._spend.rate_limits import RateLimit, rate_limit
    from llmguard._spend.tokens import count_tokens

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
    "PartiallyDelivered",
    "Prompt",
    "ProviderError",
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

_ERRORS = "llmguard.exceptions"
_RUNS = "llmguard._agents.runs"
_TOOLS = "llmguard._agents.tools"
_REPLAY = "llmguard._replay.replay"
_SPANS = "llmguard._tracing.spans"

#: Where each public name is defined: the imports above, and the ones deferred.
_EXPORTS = Exports(
    "llmguard",
    {
        "Agent": _RUNS,
        "AgentStopped": _RUNS,
        "Attempt": "llmguard._core.outcomes",
        "BadReturn": _ERRORS,
        "Budget": "llmguard._spend.budgets",
        "BudgetExceeded": _ERRORS,
        "BudgetUnavailable": _ERRORS,
        "Call": "llmguard._guard.call",
        "ConfigurationError": _ERRORS,
        "Failure": "llmguard._guard.flow",
        "Guard": "llmguard._guard.policy",
        "GuardError": _ERRORS,
        "LLMGuardError": _ERRORS,
        "LimitExceeded": _ERRORS,
        "LoopDetected": _ERRORS,
        "OutputTruncated": _ERRORS,
        "Partial": "llmguard._guard.partial",
        "PartiallyDelivered": _ERRORS,
        "Prompt": "llmguard._tracing.prompt",
        "ProviderError": _ERRORS,
        "RateLimit": "llmguard._spend.rate_limits",
        "RateLimitExceeded": _ERRORS,
        "Record": "llmguard._core.records",
        "Refused": _ERRORS,
        "Replay": _REPLAY,
        "ReplayError": _ERRORS,
        "ReplayOutcome": _REPLAY,
        "Run": _RUNS,
        "SchemaViolation": _ERRORS,
        "Span": _SPANS,
        "StepLimitExceeded": _ERRORS,
        "TimeLimitExceeded": _ERRORS,
        "TokenLimitExceeded": _ERRORS,
        "Tool": _TOOLS,
        "ToolCallLimitExceeded": _ERRORS,
        "ToolDenied": _ERRORS,
        "ToolError": _ERRORS,
        "ToolInputError": _ERRORS,
        "ToolOutputError": _ERRORS,
        "Usage": "llmguard._core.records",
        "__version__": "llmguard._version",
        "acall_tool": _TOOLS,
        "adapters": "llmguard.adapters",
        "agent": _RUNS,
        "areplay": _REPLAY,
        "budget": "llmguard._spend.budgets",
        "call_tool": _TOOLS,
        "configure": "llmguard._delivery.configure",
        "count_tokens": "llmguard._spend.tokens",
        "current_run": _RUNS,
        "current_span": _SPANS,
        "current_trace_id": _SPANS,
        "feedback": "llmguard._tracing.feedback",
        "flush": "llmguard._delivery.pipeline",
        "guard": "llmguard._guard.policy",
        "pricing": "llmguard.pricing",
        "propagate": _SPANS,
        "rate_limit": "llmguard._spend.rate_limits",
        "redact": "llmguard.redact",
        "replay": _REPLAY,
        "reset": "llmguard._delivery.configure",
        "shutdown": "llmguard._delivery.pipeline",
        "sinks": "llmguard.sinks",
        "span": _SPANS,
        "stats": "llmguard._delivery.pipeline",
        "steps": _RUNS,
        "stores": "llmguard.stores",
        "testing": "llmguard.testing",
        "tool": _TOOLS,
        "trace": "llmguard._tracing.decorator",
        "types": "llmguard.types",
    },
)


def __getattr__(name: str) -> Any:
    """Import a public name's module on first read (PEP 562).

    The low-level names that moved to `llmguard.types` still resolve here, for one
    release, with a warning.
    """
    if name in _EXPORTS:
        return _EXPORTS.load(name)
    if name in types.__all__:
        _warnings.warn(
            f"llmguard.{name} moved to llmguard.types.{name}; "
            "the old name will be removed in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(types, name)
    raise AttributeError(f"module 'llmguard' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, loaded or not, beside the module's own attributes."""
    return sorted(set(globals()) | set(__all__))


show_public_homes()
