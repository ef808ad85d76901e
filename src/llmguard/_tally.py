"""The records of a guarded call and of its attempts, filled in off the caller's thread.

A guarded call's thread only notes what happened (`Tally`, `Charged`); the record
fields -- attempt summaries, usage, cost, the model's own name -- are computed by
`Span.fill_later` callbacks when the delivery thread builds the records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmguard import pricing
from llmguard._attempt import Attempt, sum_usage

if TYPE_CHECKING:
    from llmguard._limits import CallLimits
    from llmguard._records import Usage
    from llmguard._trace import Span
    from llmguard.adapters import Reply

__all__ = ["Charged", "Tally"]


class Charged:
    """One attempt as its record tells it; the record is filled in off the caller's thread.

    ``cost`` is what the call's account settled, when it has one (``priced``); else the
    attempt is priced from its usage when the record is built.
    """

    __slots__ = ("attempt", "cost", "priced")

    def __init__(self, attempt: Attempt, cost: float | None, priced: bool) -> None:
        self.attempt = attempt
        self.cost = cost
        self.priced = priced

    def cost_usd(self) -> float | None:
        if not self.priced:
            attempt = self.attempt
            model = attempt.reply.model if attempt.reply is not None else None
            usage = attempt.usage
            self.cost = None if usage is None or model is None else pricing.cost(usage, model)
            self.priced = True
        return self.cost

    def fill(self, span: Span) -> None:
        attempt = self.attempt
        fields: dict[str, Any] = {"attempt": attempt.summary()}
        if attempt.usage is not None:
            fields["usage"] = attempt.usage
        cost = self.cost_usd()
        if cost is not None:
            fields["cost_usd"] = cost
            fields["price_table"] = pricing.table_version()
        span.fill_fields(fields)
        if attempt.reply is not None:
            describe(span, attempt.reply)


class Tally:
    """The call-level counts and sums the llm record reports."""

    __slots__ = (
        "account",
        "attempts",
        "charged",
        "corrective",
        "fallback",
        "limits",
        "outcome",
        "reply",
        "transient",
        "usage",
    )

    def __init__(self, account: CallLimits | None) -> None:
        self.account = account
        self.attempts: list[Attempt] = []
        self.charged: list[Charged] = []
        self.corrective = 0
        self.transient = 0
        self.fallback = 0
        self.usage: Usage | None = None
        self.outcome = ""
        self.reply: Reply | None = None
        self.limits: dict[str, Any] | None = None

    def add(self, attempt: Attempt) -> Attempt:
        self.attempts.append(attempt)
        self.usage = sum_usage(self.usage, attempt.usage)
        return attempt

    def close(self, span: Span, attempt: Attempt, charged: Charged | None = None) -> None:
        """Add ``attempt`` and end its span, its record to be filled in later."""
        self.add(attempt)
        charged = charged or Charged(attempt, None, False)
        self.charged.append(charged)
        if attempt.reply is not None:
            span.set_output(attempt.text)
        if attempt.error is not None:
            span.record_exception(attempt.error)
        elif attempt.outcome != "ok":
            span.set_status("error", attempt.outcome)
        span.fill_later(charged.fill)
        span.end()

    def finish(self, llm: Span, outcome: str, reply: Reply | None) -> None:
        """Settle what the llm record will say; it is filled in when built."""
        self.outcome = outcome
        self.reply = reply
        if self.account is not None:
            self.limits = self.account.describe()
        llm.fill_later(self.fill)

    def fill(self, llm: Span) -> None:
        fields: dict[str, Any] = {
            "attempt": {
                "count": len(self.attempts),
                "outcome": self.outcome,
                "corrective_retries": self.corrective,
                "transient_retries": self.transient,
                "fallback": self.fallback,
            }
        }
        if self.usage is not None:
            fields["usage"] = self.usage
        if self.limits is not None:
            fields["limits"] = self.limits
        costs = [c for c in (charged.cost_usd() for charged in self.charged) if c is not None]
        if costs:
            fields["cost_usd"] = sum(costs)
            fields["price_table"] = pricing.table_version()
        llm.fill_fields(fields)
        if self.reply is not None:
            describe(llm, self.reply)


def describe(span: Span, reply: Reply) -> None:
    # The model asked for, when known, stays the record's model; the response's more
    # precise name (a dated snapshot) is kept beside it.
    fields: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    if reply.model is not None:
        metadata["response_model"] = reply.model
        if not span.has_attribute("model"):
            fields["model"] = reply.model
    if reply.provider is not None and not span.has_attribute("provider"):
        fields["provider"] = reply.provider
    if reply.finish_reason is not None:
        fields["finish_reason"] = reply.finish_reason
    if reply.response_id is not None:
        metadata["response_id"] = reply.response_id
    span.fill_fields(fields, metadata)
