"""Where trace records go, and how to read them back.

A sink is anything with ``emit(batch)``, ``flush(timeout)`` and ``close()``
(`Sink`). The built-in ones keep records in memory, append them to a JSON Lines
file, store them in SQLite, log them through structlog or hand them to a function.
"""

from llmguard.exceptions import PartiallyDelivered
from llmguard.sinks._callback import CallbackSink
from llmguard.sinks._jsonl import JSONLSink
from llmguard.sinks._memory import MemorySink
from llmguard.sinks._otel import OTelSink
from llmguard.sinks._protocol import Sink
from llmguard.sinks._read import read_records
from llmguard.sinks._sqlite import SQLiteSink, SQLiteStore
from llmguard.sinks._structlog import StructlogSink
from llmguard.sinks._url import sink_from_url

__all__ = [
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
]
