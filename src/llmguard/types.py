"""Types you annotate with, but rarely build: what llmguard's functions take and return.

The everyday API -- decorators, context managers, the errors to catch, `Record`,
`Usage`, `Attempt`, `Failure` -- is imported from `llmguard` itself. The names here are
the machinery around it: the settings object ``configure()`` returns, delivery counts,
the pieces of a budget's reservation and a rate limit's permit, the inline form's
attempt objects, and the callables llmguard accepts as options::

    import llmguard as lg
    from llmguard.types import FlushResult, Settings

    def drain() -> FlushResult:
        return lg.flush(timeout=5.0)

Like `llmguard`'s own names, these are imported when first read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmguard._core.exports import Exports

if TYPE_CHECKING:
    from llmguard._core.field_errors import FieldError
    from llmguard._core.outcomes import RunState
    from llmguard._core.records import SCHEMA_VERSION, ContentDigest, StreamInfo
    from llmguard._delivery.settings import Redactor, Settings, Tokenizer
    from llmguard._delivery.stats import DeliveryStats, FlushResult, SinkStats
    from llmguard._guard.call import Reask
    from llmguard._guard.inline import Attempts, InlineAttempt
    from llmguard._guard.partial import AsyncPartials, Partials, PartialStream
    from llmguard._guard.policy import NoSchema
    from llmguard._spend.budgets import Reservation, reserve
    from llmguard._spend.rate_limits import Permit
    from llmguard._spend.tokens import TokenCount

__all__ = [
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
]

_RECORDS = "llmguard._core.records"
_SETTINGS = "llmguard._delivery.settings"
_STATS = "llmguard._delivery.stats"
_PARTIAL = "llmguard._guard.partial"

#: Where each name is defined (the imports above, made when a name is first read).
_EXPORTS = Exports(
    "llmguard.types",
    {
        "SCHEMA_VERSION": _RECORDS,
        "AsyncPartials": _PARTIAL,
        "Attempts": "llmguard._guard.inline",
        "ContentDigest": _RECORDS,
        "DeliveryStats": _STATS,
        "FieldError": "llmguard._core.field_errors",
        "FlushResult": _STATS,
        "InlineAttempt": "llmguard._guard.inline",
        "NoSchema": "llmguard._guard.policy",
        "PartialStream": _PARTIAL,
        "Partials": _PARTIAL,
        "Permit": "llmguard._spend.rate_limits",
        "Reask": "llmguard._guard.call",
        "Redactor": _SETTINGS,
        "Reservation": "llmguard._spend.budgets",
        "RunState": "llmguard._core.outcomes",
        "Settings": _SETTINGS,
        "SinkStats": _STATS,
        "StreamInfo": _RECORDS,
        "TokenCount": "llmguard._spend.tokens",
        "Tokenizer": _SETTINGS,
        "reserve": "llmguard._spend.budgets",
    },
)


def __getattr__(name: str) -> Any:
    """Import a name's module on first read (PEP 562)."""
    if name in _EXPORTS:
        return _EXPORTS.load(name)
    raise AttributeError(f"module 'llmguard.types' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, loaded or not, beside the module's own attributes."""
    return sorted(set(globals()) | set(__all__))
