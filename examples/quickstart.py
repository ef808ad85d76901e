"""Trace a small question-answering pipeline into the SQLite store, then read it back.

Runs offline: the "model" is a stand-in function. The store is ``llmguard.db`` in the
working directory unless another path is given::

    python examples/quickstart.py [path/to/store.db]
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import defaultdict

import llmguard as lg
from llmguard.sinks import SQLiteSink, SQLiteStore

DOCS = {
    "refunds": "Refunds are paid within 5 days to the original card.",
    "shipping": "Orders ship within 2 days; tracking comes by email.",
    "returns": "Items can be returned within 30 days for a refund.",
}


@lg.trace
def retrieve(question: str, k: int = 2) -> list[str]:
    words = set(question.lower().split())
    return sorted(DOCS, key=lambda doc: -len(words & set(DOCS[doc].lower().split())))[:k]


@lg.trace
def lookup_order(order_id: str) -> str:
    raise KeyError(order_id)  # the order system has never heard of it


@lg.trace(kind="llm", model="offline-echo", provider="local")
def answer(question: str, context: list[str]) -> str:
    time.sleep(0.02)  # model latency
    reply = f"From our policy: {context[0]}"
    span = lg.current_span()
    if span is not None:
        span.set_attribute("usage", lg.Usage(input=len(question) // 4, output=len(reply) // 4))
    return reply


def handle(question: str) -> str:
    doc_ids = retrieve(question)
    with lg.span("rerank", candidates=len(doc_ids)):
        doc_ids.sort(key=lambda doc: "refund" not in doc)
    with contextlib.suppress(KeyError):  # recorded as an error span; the answer goes on
        lookup_order("A-1042")
    return answer(question, [DOCS[doc] for doc in doc_ids])


def print_tree(records: list[lg.Record]) -> None:
    children: defaultdict[str | None, list[lg.Record]] = defaultdict(list)
    for record in records:  # the store returns them ordered by start time
        children[record.parent_id].append(record)

    def show(record: lg.Record, depth: int) -> None:
        label = "  " * depth + record.name
        print(f"{label:<28} {record.kind:<5} {record.status:<6} {record.duration_ms:8.2f} ms")
        for child in children[record.span_id]:
            show(child, depth + 1)

    for root in children[None]:
        show(root, 0)


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "llmguard.db"
    lg.configure(sinks=[SQLiteSink(path)], service="quickstart")

    with lg.span("support-request", channel="email") as request:
        reply = handle("How long do refunds take?")
    print(reply, end="\n\n")

    if not lg.flush(timeout=5.0):
        sys.exit("llmguard: some records were not written in time")

    with SQLiteStore(path) as store:
        records = store.trace(request.trace_id)
        total = store.count()
    print_tree(records)
    errors = sum(record.status == "error" for record in records)
    print(
        f"\ntrace {request.trace_id}: {len(records)} spans, {errors} error(s); "
        f"{total} records in {path}"
    )


if __name__ == "__main__":
    main()
