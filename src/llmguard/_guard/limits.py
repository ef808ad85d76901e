"""A guarded call's token caps, its cost, and its share of the open budgets.

Everything here runs *before* an attempt is made -- count the input, trim or refuse it,
cap the output, reserve tokens and dollars in every budget -- or right after, to replace
the reservation with what the provider reported. No step spends anything it has not
first checked it may spend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from llmguard import pricing
from llmguard._guard.call import as_messages
from llmguard._spend.budgets import Reservation, reserve
from llmguard._spend.tokens import count_request
from llmguard.exceptions import BudgetExceeded, ConfigurationError, TokenLimitExceeded

if TYPE_CHECKING:
    from llmguard._core.records import Usage
    from llmguard._guard.call import Call
    from llmguard._spend.rate_limits import Permit

__all__ = ["DEFAULT_OUTPUT_RESERVE", "Admission", "CallLimits", "Limits", "Prepared"]

#: Output tokens reserved in budgets for a call that has no output cap.
DEFAULT_OUTPUT_RESERVE = 1024

# The parameter a function takes for its output cap, in the order they are preferred
# when the caller gave none: Chat Completions (whose o-series and gpt-5 models refuse
# ``max_tokens``), Anthropic and older Chat Completions wrappers, the Responses API.
OUTPUT_PARAMS = ("max_completion_tokens", "max_tokens", "max_output_tokens")

Overflow = Literal["raise", "truncate"]
Unpriced = Literal["refuse", "allow"]

_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class Limits:
    """The caps a guard sets on each call, checked at decoration time."""

    max_input_tokens: int | None = None
    on_input_overflow: Overflow = "raise"
    max_output_tokens: int | None = None
    max_total_tokens: int | None = None
    max_cost_usd: float | None = None
    on_output_overflow: Overflow = "raise"
    unpriced: Unpriced = "refuse"

    @classmethod
    def checked(cls, **caps: Any) -> Limits:
        """Build the limits, refusing values that cannot be caps."""
        for name in ("max_input_tokens", "max_output_tokens", "max_total_tokens"):
            value = caps.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigurationError(f"{name} must be a positive integer, not {value!r}")
        cost = caps.get("max_cost_usd")
        if cost is not None and (
            isinstance(cost, bool) or not isinstance(cost, (int, float)) or not cost > 0
        ):
            raise ConfigurationError(f"max_cost_usd must be a positive number, not {cost!r}")
        for option in ("on_input_overflow", "on_output_overflow"):
            if caps.get(option, "raise") not in ("raise", "truncate"):
                raise ConfigurationError(
                    f"{option} must be 'raise' or 'truncate', not {caps[option]!r}"
                )
        if caps.get("unpriced", "refuse") not in ("refuse", "allow"):
            raise ConfigurationError(
                f"unpriced must be 'refuse' or 'allow', not {caps['unpriced']!r}"
            )
        return cls(**{k: v for k, v in caps.items() if v is not None})

    def describe(self) -> dict[str, Any]:
        """The caps that are set, for the call's record."""
        caps = {
            "max_input_tokens": self.max_input_tokens,
            "max_output_tokens": self.max_output_tokens,
            "max_total_tokens": self.max_total_tokens,
            "max_cost_usd": self.max_cost_usd,
        }
        return {k: v for k, v in caps.items() if v is not None}


@dataclass(frozen=True, slots=True)
class Admission:
    """What one attempt was allowed: the call to make and what it holds in budgets."""

    call: Call
    input_tokens: int | None
    estimated: bool
    reservation: Reservation
    dropped_turns: int = 0
    output_cap_sent: bool = False  # the function was given the cap, so the model keeps it
    output_cap: int | None = None
    permits: tuple[Permit, ...] = ()  # what the attempt took from rate limits


@dataclass(frozen=True, slots=True)
class Prepared:
    """An attempt checked against the call's own caps, before it holds anything."""

    call: Call
    input_tokens: int | None
    estimated: bool
    dropped_turns: int
    output_cap_sent: bool
    output_cap: int | None
    tokens: int  # the most the attempt can use: its input plus its output cap
    cost_usd: float | None  # what that would cost, when the model has a price


class CallLimits:
    """The running account of one guarded call across its attempts."""

    __slots__ = (
        "cost_usd",
        "dropped_turns",
        "limits",
        "model",
        "name",
        "question",
        "tokens",
        "tripped",
    )

    def __init__(self, limits: Limits, model: str | None, name: str) -> None:
        self.limits = limits
        self.model = model
        self.name = name
        self.tokens = 0
        self.cost_usd: float | None = None
        self.tripped: str | None = None
        self.dropped_turns = 0
        # The caller's last user turn: a re-ask appends a correction after it, which
        # becomes the last user turn, and truncation must keep the question as well.
        self.question: Any = _UNSET

    def admit(self, call: Call, trace_id: str | None) -> Admission:
        """Check and prepare one attempt, or refuse it before anything is spent.

        Raises:
            TokenLimitExceeded: The input is over ``max_input_tokens`` (and may not be
                trimmed), or the attempt could take the call past ``max_total_tokens``.
            BudgetExceeded: The attempt could take the call past ``max_cost_usd``, or an
                open budget past its cap.
        """
        return self.reserve(self.prepare(call, trace_id))

    def prepare(self, call: Call, trace_id: str | None) -> Prepared:
        """Fit the input, cap the output and check the call's own caps; hold nothing.

        Raises:
            TokenLimitExceeded: As in `admit`.
            BudgetExceeded: The attempt could take the call past ``max_cost_usd``.
        """
        limits = self.limits
        if self.question is _UNSET:
            self.question = _last_user_turn(call.messages or [])
        call, counted, estimated, dropped = self._fit_input(call, trace_id)
        self.dropped_turns = dropped  # what the latest attempt left out
        sent_to = call
        call, output_cap = self._cap_output(call)
        worst = (counted or 0) + (output_cap or DEFAULT_OUTPUT_RESERVE)
        if limits.max_total_tokens is not None and self.tokens + worst > limits.max_total_tokens:
            self.tripped = "max_total_tokens"
            raise TokenLimitExceeded(
                f"{self.name}: another attempt could use {worst} tokens, and "
                f"{self.tokens} of max_total_tokens={limits.max_total_tokens} are used",
                limit="max_total_tokens",
                maximum=limits.max_total_tokens,
                used=self.tokens,
                requested=worst,
                name=self.name,
                trace_id=trace_id,
            )
        worst_cost = _worst_cost(self.model, counted or 0, output_cap or DEFAULT_OUTPUT_RESERVE)
        spent = self.cost_usd or 0.0
        if limits.max_cost_usd is not None and (
            (spent + worst_cost > limits.max_cost_usd)
            if worst_cost is not None
            else limits.unpriced == "refuse"
        ):
            self.tripped = "max_cost_usd"
            if worst_cost is not None:
                why = f"could cost ${worst_cost:.6f}"
            elif self.model is None:
                why = "has no known model to price (give the guard model=)"
            else:
                why = (
                    f"has no known price ({self.model}; see llmguard.pricing.set_price, "
                    "or unpriced='allow')"
                )
            raise BudgetExceeded(
                f"{self.name}: the next attempt {why}, and ${spent:.6f} of "
                f"max_cost_usd={limits.max_cost_usd} is spent",
                limit="max_cost_usd",
                maximum=limits.max_cost_usd,
                used=spent,
                requested=worst_cost,
                name=self.name,
                trace_id=trace_id,
            )
        sent = output_cap is not None and call is not sent_to
        return Prepared(call, counted, estimated, dropped, sent, output_cap, worst, worst_cost)

    def reserve(self, prepared: Prepared, permits: tuple[Permit, ...] = ()) -> Admission:
        """Hold the prepared attempt in every open budget, or refuse it.

        Raises:
            BudgetExceeded: An open budget would be crossed.
        """
        try:
            reservation = reserve(prepared.tokens, prepared.cost_usd)
        except BudgetExceeded:
            self.tripped = "budget"
            raise
        return Admission(
            prepared.call,
            prepared.input_tokens,
            prepared.estimated,
            reservation,
            prepared.dropped_turns,
            prepared.output_cap_sent,
            prepared.output_cap,
            permits,
        )

    def settle(
        self, admission: Admission, usage: Usage | None, model: str | None, *, cut: bool = False
    ) -> float | None:
        """Replace the attempt's reservation with what it used; returns its cost.

        ``cut``: a stream that failed mid-answer, whose usage so far (Anthropic's first
        event counts one output token) is no measure of what was billed.
        """
        model = self.model or model
        if (
            cut
            or usage is None
            or (usage.total is None and (usage.input is None or usage.output is None))
        ):
            # Nothing, or only half, reported: charge what was held, the most the attempt
            # could use (or what was reported, if that is more).
            tokens = max(admission.reservation.tokens, 0 if usage is None else _sum(usage))
            cost = admission.reservation.cost_usd
        else:
            tokens = usage.total if usage.total is not None else _sum(usage)
            cost = pricing.cost(usage, model) if model else None
        admission.reservation.reconcile(tokens, cost)
        for permit in admission.permits:
            permit.reconcile(tokens)
        self.tokens += tokens
        if cost is not None:
            self.cost_usd = (self.cost_usd or 0.0) + cost
        cap = self.limits.max_output_tokens
        if cap is not None and usage is not None and (usage.output or 0) > cap:
            self.tripped = "max_output_tokens"
        return cost

    def release(self, admission: Admission) -> None:
        """The attempt failed before using anything: drop its reservation."""
        admission.reservation.release()
        for permit in admission.permits:
            permit.release()

    def describe(self) -> dict[str, Any]:
        """What the call's record says about its limits."""
        used: dict[str, Any] = {"tokens": self.tokens}
        if self.cost_usd is not None:
            used["cost_usd"] = round(self.cost_usd, 9)
        data: dict[str, Any] = {"set": self.limits.describe(), "used": used}
        if self.tripped is not None:
            data["tripped"] = self.tripped
        if self.dropped_turns:
            data["dropped_turns"] = self.dropped_turns
        return data

    # -- input and output ---------------------------------------------------------------

    def _count(self, call: Call) -> tuple[int | None, bool]:
        # The whole request: configure(count_tokens=...)'s counter when there is one.
        messages, prompt, system = call.messages, call.prompt, _system(call)
        if messages is None and prompt is None:
            messages, prompt, system = _responses_input(call)
        counted = count_request(
            messages,
            prompt=prompt,
            model=self.model,
            tools=_tools(call),
            system=system,
        )
        if counted is None:
            return None, False
        # Without the model the tokenizer is a guess, even when the count is tiktoken's.
        return int(counted), counted.estimated or self.model is None

    def _fit_input(self, call: Call, trace_id: str | None) -> tuple[Call, int | None, bool, int]:
        counted, estimated = self._count(call)
        cap = self.limits.max_input_tokens
        if cap is None or counted is None or counted <= cap:
            return call, counted, estimated, 0
        messages = call.messages
        if self.limits.on_input_overflow == "truncate" and messages is not None:
            kept = list(messages)
            dropped = 0
            while counted > cap:
                index = _oldest_droppable(kept, self.question)
                if index is None:
                    break
                dropped += _drop_turn(kept, index)
                call = call.with_argument("messages", kept)
                counted, estimated = self._count(call)
                counted = counted or 0
                kept = list(kept)
            if counted <= cap:
                return call, counted, estimated, dropped
        self.tripped = "max_input_tokens"
        raise TokenLimitExceeded(
            f"{self.name}: the input is {counted} tokens"
            f"{' (estimated)' if estimated else ''}, over max_input_tokens={cap}",
            limit="max_input_tokens",
            maximum=cap,
            used=counted,
            requested=counted,
            name=self.name,
            trace_id=trace_id,
        )

    def _cap_output(self, call: Call) -> tuple[Call, int | None]:
        cap = self.limits.max_output_tokens
        taken = [p for p in OUTPUT_PARAMS if call.params.takes(p)]
        if not taken:
            return call, cap
        # The parameter the caller used, if any, so that a call never gets two caps.
        param = next((p for p in taken if call.argument(p) is not None), taken[0])
        given = call.argument(param)
        chosen = isinstance(given, int) and not isinstance(given, bool)
        if chosen and (cap is None or given <= cap):
            return call, given  # never raise a cap the caller chose; only lower it
        if cap is None:
            return call, None
        return call.with_argument(param, cap), cap


def _system(call: Call) -> str | list[Any] | None:
    system = call.argument("system")
    return system if isinstance(system, (str, list)) else None


def _responses_input(call: Call) -> tuple[list[Any] | None, None, str | None]:
    """The OpenAI Responses API's ``input`` as messages (a string is the user message
    it stands for; items are counted as messages are) and ``instructions`` (counted as a
    system prompt)."""
    given = call.argument("input")
    instructions = call.argument("instructions")
    system = instructions if isinstance(instructions, str) else None
    if isinstance(given, str):
        return [{"role": "user", "content": given}], None, system
    return as_messages(given), None, system


def _tools(call: Call) -> list[Any] | None:
    tools = call.argument("tools")
    return tools if isinstance(tools, list) else None


def _worst_cost(model: str | None, input_tokens: int, output_tokens: int) -> float | None:
    return pricing.worst_cost(model, input_tokens, output_tokens) if model else None


def _sum(usage: Usage) -> int:
    return (usage.input or 0) + (usage.output or 0)


def _role(message: Any) -> Any:
    return message.get("role") if isinstance(message, dict) else getattr(message, "role", None)


def _answers_tool_call(message: Any) -> bool:
    """An OpenAI tool message, or an Anthropic user turn made only of tool results."""
    role = _role(message)
    if role == "tool":
        return True
    if role != "user":
        return False
    content = message.get("content") if isinstance(message, dict) else None
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    )


def _turn_end(messages: list[Any], index: int) -> int:
    """Where the turn at ``index`` ends: after the tool results that answer it."""
    end = index + 1
    while end < len(messages) and _answers_tool_call(messages[end]):
        end += 1
    return end


def _last_user_turn(messages: list[Any]) -> Any:
    return next((m for m in reversed(messages) if _role(m) == "user"), None)


def _oldest_droppable(messages: list[Any], question: Any = None) -> int | None:
    """The oldest turn that is neither a system prompt, nor the last user turn, nor the
    caller's ``question``, and whose tool results include neither of those."""
    last_user = _last_user_turn(messages)
    for index, message in enumerate(messages):
        if _role(message) in ("system", "developer"):
            continue
        turn = messages[index : _turn_end(messages, index)]
        # A kept tool result keeps the tool call it answers.
        if not any(m is last_user or (m is question and question is not None) for m in turn):
            return index
    return None


def _drop_turn(messages: list[Any], index: int) -> int:
    """Remove a turn, with the tool results that answer it; returns how many went."""
    end = _turn_end(messages, index)
    del messages[index:end]
    return end - index
