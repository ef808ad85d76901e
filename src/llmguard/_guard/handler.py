"""What runs around each call of a guarded function: its record and its attempts."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from llmguard._core.wrap import Wrapped, unwrap_callable
from llmguard._guard.call import Call, Parameters
from llmguard._guard.drivers import run_async, run_sync
from llmguard._guard.flow import Failure, Steps, StreamHandOff
from llmguard._guard.limits import OUTPUT_PARAMS
from llmguard._guard.passthrough import pass_through
from llmguard._tracing.prompt import tag, take_pending
from llmguard._tracing.spans import Span, active_span, capturing_content
from llmguard._tracing.spans import captured as captured_copy
from llmguard.exceptions import GuardError, LimitExceeded

if TYPE_CHECKING:
    from llmguard._guard.flow import Plan
    from llmguard._guard.structured import Sender
    from llmguard._tracing.prompt import Prompt

__all__ = ["GuardHandler", "Policy", "claim_rendered", "failed", "succeeded"]


class Policy(Protocol):
    """What a guarded call needs of its guard (`llmguard.Guard` is one)."""

    @property
    def name(self) -> str | None:
        """The name calls are recorded under, instead of the function's."""

    @property
    def attributes(self) -> Mapping[str, Any]:
        """Model, provider, tags and metadata recorded on every call."""

    @property
    def prompt(self) -> Prompt | None:
        """The prompt that names every call's prompt on its record."""

    @property
    def sleep(self) -> Callable[[float], object] | None:
        """The injected sleep, if any."""

    @property
    def on_fail(self) -> Literal["raise", "return"]:
        """Whether a failed call raises or returns a `Failure`."""

    def plan(self) -> Plan:
        """The flow's policy: schema, retries, limits, fallbacks."""
        ...

    def sender(self, fn: Any, params: Parameters) -> Sender | None:
        """How the schema is put into each call of ``fn`` (``send_schema=``), if it is."""
        ...


class GuardHandler:
    """What runs around each call of one guarded function."""

    __slots__ = ("cap_params", "guard", "name", "params", "plan", "reads_messages", "reads_model")

    def __init__(self, guard: Policy, fn: Any, params: Parameters) -> None:
        self.guard = guard
        self.params = params
        plan = guard.plan()
        send = guard.sender(fn, params)
        self.plan = plan if send is None else dataclasses.replace(plan, send=send)
        target = unwrap_callable(fn)
        self.name = guard.name or getattr(target, "__qualname__", None) or repr(target)
        # Which arguments are worth reading on every call, decided once from the signature
        # (all of them when it takes **kwargs or has no signature to read).
        takes_any = params.takes("**") or not params.names
        self.reads_model = takes_any or params.takes("model")
        self.reads_messages = takes_any or params.takes("messages")
        self.cap_params = tuple(p for p in OUTPUT_PARAMS if takes_any or params.takes(p))

    def _open(self, call: Call) -> Span:
        llm = Span(self.name, "llm", self.guard.attributes).start()
        # A prompt= option names the call's prompt; else the last one rendered before it.
        rendered = take_pending()
        prompt = self.guard.prompt or rendered
        if prompt is not None:
            tag(llm, prompt)
        if self.reads_model and not llm.has_attribute("model"):
            requested = call.model()
            if requested is not None:
                llm.set_attribute("model", requested)
        for param in self.cap_params:  # the output cap the caller asked for, if any
            cap = call.argument(param)
            if isinstance(cap, int) and not isinstance(cap, bool):
                llm.set_attribute("max_tokens", cap)
                break
        if capturing_content():
            messages = call.messages if self.reads_messages else None
            # Packed as JSON when it is plain data (a message list, most often): cheaper
            # than a copy in Python, and weighed exactly; unpacked off the caller's thread.
            captured = messages if messages is not None else call.recorded_input()
            llm._in, llm._in_size = captured_copy(captured)
        return llm

    def _call(self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: Any) -> Call:
        bound = self.params.is_method and instance is not None
        return Call(wrapped, args, kwargs, self.params, bound)

    def call(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        call = self._call(wrapped, instance, args, kwargs)
        llm = self._open(call)
        token = active_span.set(llm)
        steps = Steps(self.plan, call, llm)
        try:
            result = run_sync(steps, self.guard.sleep or time.sleep)
        except BaseException as exc:
            steps.close()  # interrupted while waiting: the flow settles the call's record
            return failed(self.guard, llm, exc)
        finally:
            active_span.reset(token)
        return succeeded(llm, result)

    async def acall(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        call = self._call(wrapped, instance, args, kwargs)
        llm = self._open(call)
        token = active_span.set(llm)
        steps = Steps(self.plan, call, llm)
        try:
            result = await run_async(steps, self.guard.sleep)
        except BaseException as exc:
            steps.close()  # interrupted while waiting: the flow settles the call's record
            return failed(self.guard, llm, exc)
        finally:
            active_span.reset(token)
        return succeeded(llm, result)

    # Calling a generator function only creates the generator, so the flow runs as for a
    # plain function and hands the generator back through a pass-through stream.
    gen = call
    agen = call


def claim_rendered(llm: Span) -> None:
    # A prompt rendered inside the guarded function names this call (unless one already
    # does), and must not also tag the next call.
    rendered = take_pending()
    if rendered is not None:
        tag(llm, rendered)


def succeeded(llm: Span, result: Any) -> Any:
    claim_rendered(llm)
    if isinstance(result, StreamHandOff):
        return pass_through(result.stream, llm, result.finish, result.cap)
    llm.stop_clock()
    llm.set_call_output(result)
    llm.end()
    return result


def failed(guard: Policy, llm: Span, exc: BaseException) -> Any:
    claim_rendered(llm)
    llm.record_exception(exc)
    if isinstance(exc, LimitExceeded):
        llm.set_status("limit", str(exc))
    llm.end()
    if isinstance(exc, GuardError):
        exc.trace_id = llm.trace_id
        if guard.on_fail == "return":
            return Failure(exc, exc.attempts, exc.usage)
    raise exc
