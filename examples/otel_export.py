"""Send llmguard's records to OpenTelemetry: the console exporter, or OTLP over HTTP.

Offline on a scripted model. With ``--otlp URL`` (and ``pip install
opentelemetry-exporter-otlp-proto-http``) the spans go to a collector instead::

    python examples/otel_export.py [--otlp http://localhost:4318/v1/traces]
"""

from __future__ import annotations

import argparse
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from pydantic import BaseModel

import llmguard as lg
from llmguard.testing import FakeLLM


class Answer(BaseModel):
    text: str


def exporter(otlp: str | None) -> SpanExporter:
    if otlp is None:
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found, unused-ignore]
        OTLPSpanExporter,
    )

    exported: SpanExporter = OTLPSpanExporter(endpoint=otlp)
    return exported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--otlp", help="an OTLP/HTTP traces endpoint")
    options = parser.parse_args()

    provider = TracerProvider(resource=Resource.create({"service.name": "otel-example"}))
    provider.add_span_processor(BatchSpanProcessor(exporter(options.otlp)))
    lg.configure(sinks=[lg.sinks.OTelSink(provider)], service="otel-example")

    model = FakeLLM(['{"text": "Paris"}'], model="gpt-4o-mini")

    @lg.guard(schema=Answer)
    def ask(messages: list[dict[str, str]]) -> Any:
        return model(model="gpt-4o-mini", messages=messages)

    with lg.span("question", channel="cli"):
        print(ask([{"role": "user", "content": "Capital of France?"}]))

    lg.flush(timeout=10)
    provider.shutdown()


if __name__ == "__main__":
    main()
