"""A sink that turns records into OpenTelemetry spans, named per the GenAI conventions."""

from __future__ import annotations

import calendar
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from llmguard._core.records import Record
from llmguard.exceptions import ConfigurationError, PartiallyDelivered

__all__ = ["OTelSink"]

OTEL_PARENT_KEY = "otel.parent_span_id"
"""Metadata key of a root record started inside an application's own OTel span."""

# Record kind -> GenAI operation name and the prefix of the span name.
_OPERATIONS = {"llm": "chat", "tool": "execute_tool", "agent": "invoke_agent"}

# Metadata keys turned into GenAI attributes, so not repeated under ``llmguard.metadata``.
_METADATA_ATTRIBUTES = {
    "response_model": "gen_ai.response.model",
    "response_id": "gen_ai.response.id",
    "max_tokens": "gen_ai.request.max_tokens",
}
_SKIPPED_METADATA = frozenset({*_METADATA_ATTRIBUTES, "operation", OTEL_PARENT_KEY})

_Primitive = (str, bool, int, float)

# Longest flush asked of the provider: a day (its threads take the bound as a timeout).
_MAX_FLUSH_S = 86_400.0


class OTelSink:
    """Exports each record as an OpenTelemetry span, through an SDK tracer provider.

    The span keeps the record's ids (its trace id, span id and parent), so spans nest as
    the records do, and its real start and end times. A root record started inside an
    application's own OTel span is exported as that span's child. Span names and
    attributes follow the OpenTelemetry GenAI semantic conventions: ``chat {model}``
    for guarded calls, ``execute_tool {tool}`` for tools, ``invoke_agent {agent}`` for
    agents, the record's name otherwise; ``gen_ai.*`` attributes for the operation,
    provider, models, response id, finish reasons and token usage; ``error.type`` and
    status ``ERROR`` when the record's status is ``error`` or ``limit``. llmguard's own
    facts (kind, attempts, limits, cost, prompt version, sample weight) are under
    ``llmguard.*``. Inputs and outputs appear, as JSON in ``llmguard.input`` and
    ``llmguard.output`` (and ``gen_ai.tool.call.arguments`` / ``.result`` for tools),
    only when the record holds them, that is when content capture is on.

    The spans go to the provider's span processors, so any exporter configured there
    (OTLP, console, in-memory) receives them. The provider's sampler is not consulted:
    llmguard's own ``sample_rate`` decides which records exist.

    Args:
        tracer_provider: An ``opentelemetry.sdk.trace.TracerProvider``; default the
            global one, looked up at each batch.

    Raises:
        ConfigurationError: The ``otel`` extra (``opentelemetry-sdk``) is not installed.
    """

    def __init__(self, tracer_provider: Any = None) -> None:
        try:
            # Imported here: OpenTelemetry is an optional extra.
            from opentelemetry import trace
            from opentelemetry.attributes import BoundedAttributes
            from opentelemetry.sdk.trace import ReadableSpan
            from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        except ImportError as exc:
            raise ConfigurationError(
                "OTelSink needs the OpenTelemetry SDK: pip install 'llmguard[otel]'"
            ) from exc
        from llmguard._version import __version__

        self._trace = trace
        self._attributes = BoundedAttributes
        self._readable_span = ReadableSpan
        self._scope = InstrumentationScope("llmguard", __version__)
        self.tracer_provider = tracer_provider
        if tracer_provider is not None:
            _processor(tracer_provider)  # checks that it is an SDK provider

    def emit(self, batch: Sequence[Record]) -> None:
        """Export one span per record; raises if a span processor fails."""
        provider = self.tracer_provider
        if provider is None:
            provider = self._trace.get_tracer_provider()
        processor = _processor(provider)
        resource = getattr(provider, "resource", None)
        failure: Exception | None = None
        failed = 0
        for record in batch:
            try:
                processor.on_end(self._span(record, resource))
            except Exception as exc:
                # Deliver the rest of the batch, then report the first failure.
                failed += 1
                failure = failure or exc
        if failure is not None:
            raise PartiallyDelivered(delivered=len(batch) - failed) from failure

    def flush(self, timeout: float | None = None) -> None:
        """Ask the provider's span processors to export what they hold."""
        provider = self.tracer_provider
        if provider is None:
            provider = self._trace.get_tracer_provider()
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is not None:
            force_flush(_millis(timeout))

    def close(self) -> None:
        """Nothing to release: the tracer provider belongs to the application."""

    # -- building spans -----------------------------------------------------------------

    def _span(self, record: Record, resource: Any) -> Any:
        trace = self._trace
        flags = trace.TraceFlags(trace.TraceFlags.SAMPLED)
        trace_id = int(record.trace_id, 16)
        context = trace.SpanContext(trace_id, int(record.span_id, 16), False, flags)
        parent = None
        if record.parent_id is not None:
            parent = trace.SpanContext(trace_id, int(record.parent_id, 16), False, flags)
        elif outer := _span_id(record.metadata.get(OTEL_PARENT_KEY)):
            parent = trace.SpanContext(trace_id, outer, True, flags)
        if record.status == "ok":
            status = trace.Status(trace.StatusCode.UNSET)
        else:
            message = record.error_message or record.error_type or record.status
            status = trace.Status(trace.StatusCode.ERROR, message)
        return self._readable_span(
            name=span_name(record),
            context=context,
            parent=parent,
            resource=resource,
            # Validated and made immutable as the SDK's own spans' attributes are.
            attributes=self._attributes(None, attributes(record), immutable=True),
            kind=trace.SpanKind.CLIENT if record.kind == "llm" else trace.SpanKind.INTERNAL,
            status=status,
            start_time=iso_to_ns(record.start),
            end_time=iso_to_ns(record.end),
            instrumentation_scope=self._scope,
        )


def _millis(timeout: float | None) -> int:
    """``timeout`` as the milliseconds ``force_flush`` takes: no bound (``None``, inf) is
    the SDK's own 30 s, and what is not a number of seconds (NaN, below 0) is 0."""
    if timeout is None or timeout == math.inf:
        return 30_000
    if not timeout > 0:
        return 0
    return int(min(timeout, _MAX_FLUSH_S) * 1000)


def _processor(provider: Any) -> Any:
    processor = getattr(provider, "_active_span_processor", None)
    if processor is None or not hasattr(processor, "on_end"):
        raise ConfigurationError(
            f"OTelSink needs an opentelemetry-sdk TracerProvider, not {provider!r}: "
            "create one, add a span processor with an exporter, and pass it as "
            "tracer_provider= (or set it with trace.set_tracer_provider)"
        )
    return processor


def _span_id(value: object) -> int:
    """An OTel span id written as 16 hex digits, or 0 (none) for anything else: the key
    is an attribute name an application may use for something of its own."""
    if not isinstance(value, str) or len(value) != 16:
        return 0
    try:
        return int(value, 16) if value.isascii() and value.isalnum() else 0
    except ValueError:
        return 0


def span_name(record: Record) -> str:
    """``chat {model}``, ``execute_tool {tool}``, ``invoke_agent {agent}`` or the name."""
    operation = _OPERATIONS.get(record.kind)
    if operation is None:
        return record.name
    subject = record.model if record.kind == "llm" else record.name
    return f"{operation} {subject}" if subject else operation


def attributes(record: Record) -> dict[str, Any]:
    """The span attributes of a record: GenAI conventions first, then ``llmguard.*``."""
    out: dict[str, Any] = {"llmguard.kind": record.kind}
    operation = _OPERATIONS.get(record.kind)
    if operation is not None:
        out["gen_ai.operation.name"] = operation
    if record.kind == "llm":
        _put(out, "gen_ai.provider.name", record.provider)
        _put(out, "gen_ai.request.model", record.model)
        if record.finish_reason is not None:
            out["gen_ai.response.finish_reasons"] = [record.finish_reason]
        usage = record.usage
        if usage is not None:
            _put(out, "gen_ai.usage.input_tokens", usage.input)
            _put(out, "gen_ai.usage.output_tokens", usage.output)
            _put(out, "gen_ai.usage.cache_read.input_tokens", usage.cached_input)
            _put(out, "gen_ai.usage.cache_creation.input_tokens", usage.cache_write)
            _put(out, "gen_ai.usage.reasoning.output_tokens", usage.reasoning)
            if usage.estimated:
                out["llmguard.usage.estimated"] = True
        for key, name in _METADATA_ATTRIBUTES.items():
            _put(out, name, record.metadata.get(key))
    else:
        # Attempts and other records: the facts without the GenAI names, so that
        # backends summing gen_ai.usage don't count an attempt's tokens twice.
        _put(out, "llmguard.provider", record.provider)
        _put(out, "llmguard.model", record.model)
        _put(out, "llmguard.finish_reason", record.finish_reason)
        if record.usage is not None:
            _put(out, "llmguard.usage.input_tokens", record.usage.input)
            _put(out, "llmguard.usage.output_tokens", record.usage.output)
    if record.kind == "tool":
        out["gen_ai.tool.name"] = record.name
    elif record.kind == "agent":
        out["gen_ai.agent.name"] = record.name
    if record.status != "ok":
        out["error.type"] = record.error_type or record.status
        out["llmguard.status"] = record.status
    _put(out, "llmguard.service", record.service)
    _put(out, "llmguard.cost_usd", record.cost_usd)
    _put(out, "llmguard.price_table", record.price_table)
    _put(out, "llmguard.price_source", record.price_source)
    _put(out, "llmguard.prompt_name", record.prompt_name)
    _put(out, "llmguard.prompt_version", record.prompt_version)
    if record.sample_weight != 1.0:
        out["llmguard.sample_weight"] = record.sample_weight
    _flatten(out, "llmguard.attempt", record.attempt)
    _flatten(out, "llmguard.limits", record.limits)
    if record.stream is not None:
        out["llmguard.stream.items"] = record.stream.items
        out["llmguard.stream.end"] = record.stream.end
    if record.tags:
        out["llmguard.tags"] = list(record.tags)
    extra = {k: v for k, v in record.metadata.items() if k not in _SKIPPED_METADATA}
    _flatten(out, "llmguard.metadata", extra)
    if record.input is not None:
        out["llmguard.input"] = _json(record.input)
        if record.kind == "tool":
            out["gen_ai.tool.call.arguments"] = out["llmguard.input"]
    if record.output is not None:
        out["llmguard.output"] = _json(record.output)
        if record.kind == "tool":
            out["gen_ai.tool.call.result"] = out["llmguard.output"]
    return out


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value if isinstance(value, _Primitive) else _json(value)


def _flatten(out: dict[str, Any], prefix: str, values: Mapping[str, Any] | None) -> None:
    for key, value in (values or {}).items():
        _put(out, f"{prefix}.{key}", value)


def _json(value: Any) -> str:
    import pydantic_core  # kept off `import llmguard`

    return pydantic_core.to_json(value, fallback=_unknown).decode()


def _unknown(value: object) -> str:
    return f"<{type(value).__name__}>"


def iso_to_ns(value: str) -> int:
    """Nanoseconds since the epoch of a record's ISO 8601 UTC time (``...SS.ffffffZ``)."""
    head, _, fraction = value.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S"))
    micros = int(fraction.ljust(6, "0")[:6]) if fraction else 0
    return seconds * 1_000_000_000 + micros * 1000
