"""The public API: the names llmguard and its public modules export."""

from __future__ import annotations

import importlib

import pytest

import llmguard
import llmguard.adapters
import llmguard.pricing
import llmguard.sinks
import llmguard.testing
import llmguard.types

EXPORTS = {
    "llmguard": [
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
    ],
    "llmguard.adapters": [
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
    ],
    "llmguard.pricing": [
        "DEFAULT_UPDATE_URL",
        "VERSION",
        "Price",
        "PriceUpdateError",
        "Tier",
        "cost",
        "data_file",
        "load",
        "price",
        "record_cost",
        "reload",
        "reset",
        "set",
        "set_price",
        "source",
        "table",
        "table_version",
        "update",
        "worst_cost",
    ],
    "llmguard.sinks": [
        "CallbackSink",
        "JSONLSink",
        "MemorySink",
        "OTelSink",
        "PartiallyDelivered",
        "SQLiteSink",
        "SQLiteStore",
        "Sink",
        "StructlogSink",
        "read_records",
        "sink_from_url",
    ],
    "llmguard.testing": [
        "FakeAPIError",
        "FakeLLM",
        "ToolAnswer",
        "capture",
    ],
    "llmguard.types": [
        "SCHEMA_VERSION",
        "AsyncPartials",
        "Attempts",
        "ContentDigest",
        "DeliveryStats",
        "FieldError",
        "FlushResult",
        "InlineAttempt",
        "NoSchema",
        "PartialStream",
        "Partials",
        "Permit",
        "Reask",
        "Redactor",
        "Reservation",
        "RunState",
        "Settings",
        "SinkStats",
        "StreamInfo",
        "TokenCount",
        "Tokenizer",
        "reserve",
    ],
    "llmguard.stores": [
        "BudgetSnapshot",
        "BudgetStore",
        "Grant",
        "RateStore",
        "RateTake",
        "RedisBudgetStore",
        "Window",
    ],
}


def isort_key(name: str) -> tuple[int, str]:
    """Constants first, then classes, then everything else, each alphabetically (RUF022)."""
    if name.isupper():
        return 0, name
    if name[0].isupper():
        return 1, name
    return 2, name


@pytest.mark.parametrize("module_name", list(EXPORTS))
def test_all_is_pinned(module_name: str) -> None:
    """__all__ lists exactly the pinned names, in the pinned order."""
    module = importlib.import_module(module_name)
    assert module.__all__ == EXPORTS[module_name]


@pytest.mark.parametrize("module_name", list(EXPORTS))
def test_all_is_sorted(module_name: str) -> None:
    """__all__ is sorted isort-style: constants, classes, then functions and modules."""
    names = importlib.import_module(module_name).__all__
    assert names == sorted(names, key=isort_key)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    ("module_name", "name"), [(m, n) for m, names in EXPORTS.items() for n in names]
)
def test_every_exported_name_is_importable(module_name: str, name: str) -> None:
    """`from <module> import <name>` works for every name in __all__."""
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import {name}", namespace)
    assert namespace[name] is getattr(importlib.import_module(module_name), name)


def test_star_import_gives_exactly_all() -> None:
    """`from llmguard import *` binds the names of __all__ and nothing else."""
    namespace: dict[str, object] = {}
    exec("from llmguard import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(llmguard.__all__)


def test_submodules_are_the_exported_ones() -> None:
    """llmguard.sinks, .testing and .pricing are reachable as attributes of llmguard."""
    assert llmguard.pricing is importlib.import_module("llmguard.pricing")
    assert llmguard.sinks is importlib.import_module("llmguard.sinks")
    assert llmguard.testing is importlib.import_module("llmguard.testing")


def test_version_is_a_string() -> None:
    """__version__ is a non-empty version string."""
    assert isinstance(llmguard.__version__, str)
    assert llmguard.__version__[0].isdigit()


# Where each name that left llmguard's __all__ went (kept as a deprecated alias).
MOVED = dict.fromkeys(EXPORTS["llmguard.types"], "llmguard.types")


@pytest.mark.parametrize(("name", "home"), sorted(MOVED.items()))
def test_a_moved_name_still_works_from_the_top_with_a_warning(name: str, home: str) -> None:
    """llmguard.X of a name moved to llmguard.types warns, and gives the same object."""
    with pytest.warns(DeprecationWarning, match=f"llmguard.{name} moved to {home}.{name}"):
        alias = getattr(llmguard, name)
    assert alias is getattr(importlib.import_module(home), name)
    assert name not in llmguard.__all__


def test_no_public_name_was_lost() -> None:
    """Every name the top level exported before the move is exported somewhere still."""
    before = set(EXPORTS["llmguard"]) | set(MOVED)
    assert before - set(llmguard.__all__) == set(MOVED)


def test_an_unknown_attribute_is_still_an_attribute_error() -> None:
    """The deprecation hook does not swallow misspelt names."""
    with pytest.raises(AttributeError, match="no attribute 'Setings'"):
        llmguard.Setings  # noqa: B018


@pytest.mark.parametrize(
    ("module_name", "name"),
    [(m, n) for m, names in EXPORTS.items() for n in names if m in ("llmguard", "llmguard.types")],
)
def test_public_classes_name_their_public_module(module_name: str, name: str) -> None:
    """A public class's repr names the module users import it from, not a private one."""
    obj = getattr(importlib.import_module(module_name), name)
    if isinstance(obj, type):
        assert not obj.__module__.startswith("llmguard._")


def test_classes_of_private_packages_show_their_public_name() -> None:
    """Guard, Budget, Span and the types module's classes read as llmguard.X in reprs."""
    assert repr(llmguard.Guard) == "<class 'llmguard.Guard'>"
    assert repr(llmguard.Budget) == "<class 'llmguard.Budget'>"
    assert llmguard.Span.__module__ == "llmguard"
    assert llmguard.types.NoSchema.__module__ == "llmguard.types"
    assert repr(llmguard.Record) == "<class 'llmguard.Record'>"
    assert llmguard.types.Settings.__module__ == "llmguard.types"
    assert llmguard.ReplayError.__module__ == "llmguard.exceptions"
