"""The inline form of a guard: ``for attempt in guard.attempts(messages): with attempt: ...``.

For code that cannot be a decorated function. The attempts run the same flow as a
decorated call; the caller's ``with`` block stands where the function call would be.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Generic, TypeVar

from llmguard._guard.call import Call, Parameters
from llmguard._guard.drivers import Done, Result, advance_async, advance_sync
from llmguard._guard.flow import Steps
from llmguard._guard.handler import GuardHandler, Policy, failed, succeeded
from llmguard._tracing.spans import Span, active_span
from llmguard.exceptions import ConfigurationError

__all__ = ["Attempts", "InlineAttempt"]

T = TypeVar("T")


class InlineAttempt(Generic[T]):
    """One attempt of an inline guarded call: submit the model's response inside ``with``.

    Attributes:
        messages: The messages to send this time (the original ones on the first
            attempt; with the failed answer and a correction on a re-ask).
        prompt: The prompt to send, when the attempts were started with one.
        value: After the loop, the validated value (or a `Failure` with
            ``on_fail="return"``).
    """

    def __init__(self, call: Call, span: Span) -> None:
        self.messages: list[Any] | None = call.messages
        self.prompt: str | None = call.prompt
        self.value: T | None = None
        self._span = span
        self._token: Any = None
        self._response: Any = None
        self._submitted = False
        self._error: BaseException | None = None

    def submit(self, response: Any) -> None:
        """Hand over the model's response for this attempt."""
        self._response = response
        self._submitted = True

    def __enter__(self) -> InlineAttempt[T]:
        self._token = active_span.set(self._span)
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        active_span.reset(self._token)
        if isinstance(exc, Exception):
            # Handed to the flow, which retries a transient error and re-raises others
            # from the loop, unchanged.
            self._error = exc
            return True
        return False

    def _outcome(self) -> Any:
        return self._error, self._response, self._submitted


class Attempts(Generic[T]):
    """The attempts of one inline guarded call; iterate with ``for`` or ``async for``."""

    def __init__(self, guard: Policy, messages: list[Any] | None, prompt: str | None) -> None:
        self._guard = guard
        params = Parameters({}, frozenset({"messages", "prompt"}), False)
        kwargs = {"messages": messages} if messages is not None else {"prompt": prompt}
        self._call = Call(_inline_placeholder, (), kwargs, params)
        self._handler = GuardHandler(guard, _inline_placeholder, params)

    def __iter__(self) -> Iterator[InlineAttempt[T]]:
        handler = self._handler
        llm = handler._open(self._call)
        steps = Steps(handler.plan, self._call, llm)
        sleep = self._guard.sleep or time.sleep
        token: Any = active_span.set(llm)
        last: InlineAttempt[T] | None = None
        try:
            request = advance_sync(steps, None, sleep)
            while not isinstance(request, Done):
                last = InlineAttempt(request.call, request.span)
                active_span.reset(token)
                token = None
                yield last
                token = active_span.set(llm)
                request = advance_sync(steps, _inline_result(last), sleep)
            value = succeeded(llm, request.value)
        except GeneratorExit:
            _left_early(steps, llm, last)
            raise
        except BaseException as exc:
            value = failed(self._guard, llm, exc)
        finally:
            if token is not None:
                active_span.reset(token)
        if last is not None:
            last.value = value

    async def __aiter__(self) -> AsyncIterator[InlineAttempt[T]]:
        handler = self._handler
        llm = handler._open(self._call)
        steps = Steps(handler.plan, self._call, llm)
        sleep = self._guard.sleep
        token: Any = active_span.set(llm)
        last: InlineAttempt[T] | None = None
        try:
            request = await advance_async(steps, None, sleep)
            while not isinstance(request, Done):
                last = InlineAttempt(request.call, request.span)
                active_span.reset(token)
                token = None
                yield last
                token = active_span.set(llm)
                request = await advance_async(steps, _inline_result(last), sleep)
            value = succeeded(llm, request.value)
        except GeneratorExit:
            _left_early(steps, llm, last)
            raise
        except BaseException as exc:
            value = failed(self._guard, llm, exc)
        finally:
            if token is not None:
                active_span.reset(token)
        if last is not None:
            last.value = value


def _inline_placeholder(**kwargs: Any) -> Any:
    raise TypeError("inline attempts are driven by submit(), not called")


# The name inline calls and their attempts are recorded under, unless the guard has one.
_inline_placeholder.__qualname__ = "Guard.attempts"


def _left_early(steps: Steps, llm: Span, last: InlineAttempt[Any] | None) -> None:
    """End the records of an inline call whose loop was left before an answer was accepted."""
    steps.close()
    for span in (None if last is None else last._span, llm):
        if span is not None and not span.ended:
            span.set_status("error", "the attempts loop was left before an answer was accepted")
            span.end()


def _inline_result(attempt: InlineAttempt[Any]) -> Any:
    error, response, submitted = attempt._outcome()
    if error is not None:
        return Result(error=error)
    if not submitted:
        return Result(error=ConfigurationError("an attempt ended without submit(response)"))
    return Result(value=response)
