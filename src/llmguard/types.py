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
"""

from __future__ import annotations

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
