"""Spans: ``lg.span``, the current span, and context across threads."""

from __future__ import annotations

import contextvars
import functools
import random
import sys
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, get_args

from llmguard._core.content import (
    content_size,
    packed_snapshot,
    safe_repr,
    sized_snapshot,
    snapshot,
    unpacked,
)
from llmguard._core.records import (
    Record,
    RecordKind,
    Status,
    StreamEnd,
    StreamInfo,
    Usage,
)
from llmguard._delivery import settings as _config
from llmguard._delivery.finished import Finished, build
from llmguard._delivery.pipeline import listening, submit
from llmguard._delivery.settings import Settings
from llmguard.exceptions import ConfigurationError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "Span",
    "active_span",
    "check_kind",
    "error_type_name",
    "captured",
    "capturing_content",
    "current_span",
    "current_trace_id",
    "propagate",
    "span",
]

P = ParamSpec("P")
R = TypeVar("R")

active_span: ContextVar[Span | None] = ContextVar("llmguard.span", default=None)
_getrandbits = random.getrandbits
_time_ns = time.time_ns
_perf_ns = time.perf_counter_ns


def _as_usage(value: Any) -> Usage:
    return value if isinstance(value, Usage) else Usage(**value)


def _as_tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(tag) for tag in value)


def _as_mapping(value: Any) -> dict[str, Any]:
    copied = snapshot(value)
    if not isinstance(copied, dict):
        raise TypeError(f"expected a mapping, got {type(value).__name__}")
    return copied


# Attribute names that fill a record's own fields rather than its metadata, each with
# the conversion that makes a value fit the field (a value that doesn't fit goes to
# metadata instead: a span never raises over an attribute).
_RECORD_FIELDS: dict[str, Callable[[Any], Any]] = {
    "model": str,
    "provider": str,
    "prompt_name": str,
    "prompt_version": str,
    "finish_reason": str,
    "price_table": str,
    "cost_usd": float,
    "sample_weight": float,
    "usage": _as_usage,
    "tags": _as_tags,
    "attempt": _as_mapping,
    "limits": _as_mapping,
}
_SIZED_FIELDS = frozenset({"tags", "attempt", "limits"})
_STATUSES = frozenset(get_args(Status))
_TRACE_KINDS = frozenset(get_args(RecordKind)) - {"internal", "feedback"}
_MAX_ERROR_CHARS = 2000
# An error message is cut here, on the caller's thread, and redacted later: a cut through
# a secret can leave a head no pattern recognises (``jane.doe@example.c``). So the cut
# also drops the run of characters secrets are made of that ends at it (spaces included,
# for grouped numbers), up to this many: what could be such a head. A longer run keeps
# a head long enough to be recognised (a key, a JWT, a private key's first lines).
_CUT_MARGIN = 256
_SECRET_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.%+@~=/()-:\\ \t"
)


def _cut(message: str) -> str:
    """``message`` cut to `_MAX_ERROR_CHARS`, keeping no head of a secret at the cut."""
    if type(message) is not str and isinstance(message, str):
        message = str.__str__(message)  # its text, whatever its own methods would say
    if len(message) <= _MAX_ERROR_CHARS:
        return message
    end = _MAX_ERROR_CHARS - 1  # room for the ellipsis
    floor = end - _CUT_MARGIN
    while end > floor and message[end - 1] in _SECRET_CHARACTERS:
        end -= 1
    return message[:end] + "…"


def captured(
    value: Any, copy: Callable[[Any], tuple[Any, int]] = packed_snapshot
) -> tuple[Any, int]:
    """``copy(value)`` (`packed_snapshot`), or a marker naming its type when that fails.

    A value may raise from any of its methods while it is copied (a ``str`` subclass
    whose ``__len__`` raises, a set whose iteration raises -- which pydantic-core turns
    into a panic, a `BaseException`); capture must never fail the traced call. An
    iterator, at any depth, is named rather than read (see `content.snapshot`): the
    fast copies refuse it, and the copy that would read it names it first.
    """
    try:
        return copy(value)
    except BaseException as exc:
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise  # KeyboardInterrupt and the like, raised while copying, are the caller's
        marker = f"<{type(value).__name__}: not captured>"
        return marker, len(marker)


def error_type_name(exc: BaseException) -> str:
    """The name a record gives an exception type: module-qualified, bare for builtins."""
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


class Span:
    """One timed step of work: a traced call, a block under ``lg.span``, an LLM call.

    A span is a context manager (``with`` and ``async with``). While it is open it is
    the current span of its context, so spans opened inside it -- in the same
    thread, in asyncio tasks it creates, in threads started through
    `propagate` -- become its children. When it ends, its record goes to the
    sinks.
    """

    __slots__ = (
        "_ended",
        "_fields",
        "_in",
        "_in_size",
        "_late",
        "_meta_size",
        "_metadata",
        "_out",
        "_out_size",
        "_perf_start",
        "_start_ns",
        "_stream",
        "_token",
        "duration_ns",
        "error_message",
        "error_type",
        "kind",
        "name",
        "parent_id_int",
        "span_id_int",
        "status",
        "trace_id_int",
    )

    _in: Any
    _out: Any

    def __init__(
        self, name: str, kind: RecordKind = "span", attributes: Mapping[str, Any] | None = None
    ) -> None:
        self.name = name
        self.kind = kind
        self.status: Status = "ok"
        self.error_type: str | None = None
        self.error_message: str | None = None
        self._fields: dict[str, Any] | None = None
        self._metadata: dict[str, Any] | None = None
        self._in = self._out = _NOT_CAPTURED
        self._in_size = self._out_size = self._meta_size = 0
        self._stream: StreamInfo | None = None
        self._token: contextvars.Token[Span | None] | None = None
        self._late: Callable[[Span], None] | None = None
        self._ended = False
        self.trace_id_int = 0
        self.span_id_int = 0
        self.parent_id_int = 0
        self._start_ns = 0
        self._perf_start = 0
        self.duration_ns = 0
        if attributes:
            self.set_attributes(attributes)

    # -- identity --------------------------------------------------------------------

    @property
    def trace_id(self) -> str:
        """The trace's id: 32 hex digits, as in W3C Trace Context."""
        return f"{self.trace_id_int:032x}"

    @property
    def span_id(self) -> str:
        """This span's id: 16 hex digits."""
        return f"{self.span_id_int:016x}"

    @property
    def parent_id(self) -> str | None:
        """The enclosing span's id, or ``None`` for the root of a trace."""
        return f"{self.parent_id_int:016x}" if self.parent_id_int else None

    @property
    def ended(self) -> bool:
        """Whether the span has ended and its record was handed to delivery."""
        return self._ended

    # -- life cycle --------------------------------------------------------------------

    def start(self, parent: Span | None = None) -> Span:
        """Start timing, as a child of ``parent`` (by default the current span)."""
        if parent is None:
            parent = active_span.get()
        if parent is None:
            outer = _otel_parent() if "opentelemetry.trace" in sys.modules else None
            if outer is None:
                self.trace_id_int = _getrandbits(128) or 1
            else:
                # Inside the application's own OpenTelemetry span: join its trace, so
                # that an OTel export nests this trace under that span.
                self.trace_id_int = outer[0]
                self.set_attribute("otel.parent_span_id", f"{outer[1]:016x}")
        else:
            self.trace_id_int = parent.trace_id_int
            self.parent_id_int = parent.span_id_int
        self.span_id_int = _getrandbits(64) or 1
        self._start_ns = _time_ns()
        self._perf_start = _perf_ns()
        return self

    def stop_clock(self) -> None:
        """Fix the span's end time now, before any closing work (such as capturing output)."""
        if not self.duration_ns:
            self.duration_ns = _perf_ns() - self._perf_start or 1

    def end(self) -> None:
        """End the span and hand its record to delivery; later calls do nothing."""
        if self._ended:
            return
        if not self.duration_ns:  # `stop_clock`, inline: this runs on every call
            self.duration_ns = _perf_ns() - self._perf_start or 1
        self._ended = True
        submit(self)

    def __enter__(self) -> Span:
        if not self._start_ns:
            self.start()
        self._token = active_span.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.record_exception(exc)
        token, self._token = self._token, None
        if token is not None:
            try:
                active_span.reset(token)
            except ValueError:
                # Exited in another context than it was entered in (an async generator
                # finalized elsewhere): restore the parent there instead.
                active_span.set(token.old_value if token.old_value is not token.MISSING else None)
        self.end()

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- what the record holds -----------------------------------------------------

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute.

        Names of record fields (``model``, ``provider``, ``prompt_name``,
        ``prompt_version``, ``usage`` (a `Usage` or a mapping of its fields),
        ``cost_usd``, ``finish_reason``, ``tags``, ...) fill that field; any other
        name, or a value that does not fit its field, goes to the record's
        ``metadata``. Values are copied now, so later changes to them are not seen.
        """
        if self._ended:
            return
        convert = _RECORD_FIELDS.get(key)
        if convert is not None and value is not None:
            try:
                converted = convert(value)
            except Exception:
                pass
            else:
                if self._fields is None:
                    self._fields = {}
                self._fields[key] = converted
                if key in _SIZED_FIELDS:  # the fields that can hold content
                    self._meta_size += content_size(converted)
                return
        if self._metadata is None:
            self._metadata = {}
        copied, size = captured(value, sized_snapshot)
        self._metadata[key] = copied
        self._meta_size += len(key) + size

    def set_fields(self, fields: Mapping[str, Any]) -> None:
        """Set record fields from values already of the field's type, without conversion.

        For llmguard's own instrumentation, whose values need no checking or copying.
        """
        if not self._ended:
            self.fill_fields(fields)

    def fill_later(self, fill: Callable[[Span], None]) -> None:
        """Have ``fill(span)`` complete the record when it is built, off the caller's thread.

        For llmguard's own instrumentation: what ``fill`` reads must not change once the
        span has ended, and it writes through `fill_fields`.
        """
        self._late = fill

    def fill_fields(
        self, fields: Mapping[str, Any], metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Add record fields and metadata from a `fill_later` callback (see `set_fields`)."""
        if self._fields is None:
            self._fields = dict(fields)
        else:
            self._fields.update(fields)
        if metadata:
            if self._metadata is None:
                self._metadata = {}
            self._metadata.update(metadata)

    def has_attribute(self, key: str) -> bool:
        """Whether an attribute (record field or metadata) named ``key`` was set."""
        return key in (self._fields or ()) or key in (self._metadata or ())

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Set several attributes at once; see `set_attribute`."""
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def set_status(self, status: Status, message: str | None = None) -> None:
        """Set the outcome: ``"ok"``, ``"error"`` or ``"limit"``, with an optional message.

        Raises:
            ConfigurationError: ``status`` is not one of the three.
        """
        if status not in _STATUSES:
            raise ConfigurationError(f"status must be one of {sorted(_STATUSES)}, not {status!r}")
        self.status = status
        if message is not None:
            self.error_message = _cut(message)

    def record_exception(self, exc: BaseException) -> None:
        """Mark the span failed with ``exc``'s type and message."""
        self.status = "error"
        self.error_type = error_type_name(exc)
        try:
            message = str(exc)
        except Exception:
            message = safe_repr(exc)
        self.error_message = _cut(message)

    def set_input(self, value: Any) -> None:
        """Capture the span's input (when content capture is on)."""
        if capturing_content():
            self._in, self._in_size = captured(value)

    def set_output(self, value: Any) -> None:
        """Capture the span's output (when content capture is on)."""
        if capturing_content():
            self._out, self._out_size = captured(value)

    def set_call_output(self, value: Any) -> None:
        """Capture the output of a call whose input was captured when it opened.

        For llmguard's own wrappers, which decide capture once per call: the check is
        not repeated, and a record never holds an output without its input.
        """
        if self._in is not _NOT_CAPTURED:
            self._out, self._out_size = captured(value)

    @property
    def _input(self) -> Any:
        """The captured input (`_NOT_CAPTURED` if none): a snapshot, set by llmguard's
        own wrappers, which weighs it for the delivery queue."""
        return unpacked(self._in)

    @_input.setter
    def _input(self, value: Any) -> None:
        self._in = value
        self._in_size = 0 if value is _NOT_CAPTURED else content_size(value)

    @property
    def _output(self) -> Any:
        return unpacked(self._out)

    @_output.setter
    def _output(self, value: Any) -> None:
        self._out = value
        self._out_size = 0 if value is _NOT_CAPTURED else content_size(value)

    @property
    def weight(self) -> int:
        """What the span holds, for the delivery queue's byte bound: its captured
        content and metadata, its name and error message, and a fixed overhead."""
        message = self.error_message
        return (
            _SPAN_BYTES
            + len(self.name)
            + self._in_size
            + self._out_size
            + self._meta_size
            + (len(message) if message else 0)
        )

    def shed_content(self, why: str) -> bool:
        """Leave out the captured input and output, saying so in the metadata under
        ``llmguard.content`` (``"dropped: N bytes, <why>"``): for an ended span
        holding more than delivery can ever queue. Whether there was content to drop.
        """
        size = self._in_size + self._out_size
        if not size:
            return False
        self._in = self._out = _NOT_CAPTURED
        self._in_size = self._out_size = 0
        note = f"dropped: {size:,} bytes, {why}"
        if self._metadata is None:
            self._metadata = {}
        self._metadata[_CONTENT_NOTE] = note
        self._meta_size += len(_CONTENT_NOTE) + len(note)
        return True

    def set_stream(self, items: int, end: StreamEnd) -> None:
        """Record how a generator or stream ended and how many items it delivered."""
        self._stream = StreamInfo(items=items, end=end)

    def compact(self) -> Finished | None:
        """What delivery keeps of this ended span (see `finished`), or ``None`` while a
        `fill_later` callback is still to run: that runs on the delivery thread."""
        return None if self._late is not None else self._compact()

    def finished(self) -> Finished:
        """The compact form its record is built from, after the `fill_later` callback."""
        late = self._late
        if late is not None:
            self._late = None
            late(self)
        return self._compact()

    def _compact(self) -> Finished:
        captured_in, captured_out = self._in, self._out
        return (
            self.trace_id_int,
            self.span_id_int,
            self.parent_id_int,
            self._start_ns,
            self.duration_ns,
            self.name,
            self.kind,
            self.status,
            self.error_type,
            self.error_message,
            None if captured_in is _NOT_CAPTURED else captured_in,
            self._in_size,
            None if captured_out is _NOT_CAPTURED else captured_out,
            self._out_size,
            self._stream,
            self._fields,
            self._metadata,
        )

    def to_record(self, settings: Settings) -> Record:
        """The record of this ended span (content as captured, not yet redacted)."""
        return build(self.finished(), settings.service)[0]

    def __repr__(self) -> str:
        state = "ended" if self._ended else "open"
        return f"<Span {self.name!r} {self.kind} {self.span_id} {state}>"


_NOT_CAPTURED: Any = object()


_SPAN_BYTES = 1024  # what a span holds besides its content: ids, times, fields
_CONTENT_NOTE = "llmguard.content"  # the metadata key saying why content was left out


def capturing_content() -> bool:
    """Whether spans copy their inputs and outputs now.

    When content capture is on, and only while a sink or a ``capture()`` block would
    receive the record: with nothing listening, the copies would be made for nobody.
    """
    return _config.settings().capture_content and listening()


def _otel_parent() -> tuple[int, int] | None:
    """The trace and span ids of the application's active OpenTelemetry span, if any."""
    try:
        context = sys.modules["opentelemetry.trace"].get_current_span().get_span_context()
        if context.is_valid:
            return int(context.trace_id), int(context.span_id)
    except Exception:
        pass
    return None


def span(name: str, /, *, kind: RecordKind = "span", **attributes: Any) -> Span:
    """A span for any step that is not a decorated function.

    Use it as ``with lg.span("retrieve", k=5) as s:`` (or ``async with``). Keyword
    arguments become attributes; see `Span.set_attribute`.

    Raises:
        ConfigurationError: ``name`` is not a non-empty string or ``kind`` is unknown.
    """
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"a span name must be a non-empty string, not {name!r}")
    check_kind(kind)
    return Span(name, kind, attributes)


def current_span() -> Span | None:
    """The span open in the current context, if any."""
    return active_span.get()


def current_trace_id() -> str | None:
    """The id of the trace open in the current context, if any (32 hex digits)."""
    current = active_span.get()
    return None if current is None else current.trace_id


def propagate(fn: Callable[P, R]) -> Callable[P, R]:
    """Bind ``fn`` to the current context, so spans it opens in another thread nest here.

    ``executor.submit(lg.propagate(work), item)`` runs ``work`` with the spans open
    now as its parents. Each call runs in its own copy of the context, so the
    returned callable can be used by many threads at once.
    """
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def run_in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        return context.copy().run(fn, *args, **kwargs)

    return run_in_context


def check_kind(kind: object) -> None:
    """Raise `ConfigurationError` unless ``kind`` is a kind a user span may have."""
    if kind not in _TRACE_KINDS:
        raise ConfigurationError(f"kind must be one of {sorted(_TRACE_KINDS)}, not {kind!r}")
