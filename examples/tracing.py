"""Trace a retrieve -> rerank -> answer pipeline, sync and async, into a JSON Lines file.

Runs offline. Records go to ``trace.jsonl`` in a temporary directory unless a path is
given; they are then read back and printed as span trees::

    python examples/tracing.py [path/to/trace.jsonl]
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import llmguard as lg
from llmguard.sinks import JSONLSink, read_records

DOCS = ["Paris is the capital of France.", "Lyon is known for food.", "France uses the euro."]


def overlap(query: str, doc: str) -> int:
    return len(set(re.findall(r"\w+", query.lower())) & set(re.findall(r"\w+", doc.lower())))


class Index:
    @lg.trace  # a method: the span is named "Index.search" and `self` is not captured
    def search(self, query: str, k: int = 2) -> list[str]:
        return [doc for doc in DOCS if overlap(query, doc)][:k]


@lg.trace
def rerank(query: str, docs: list[str]) -> list[str]:
    return sorted(docs, key=lambda doc: -overlap(query, doc))


@lg.trace(kind="llm", model="offline-echo")
def stream_answer(query: str, docs: list[str]) -> Iterator[str]:
    # A generator: its span stays open until the stream ends and counts the items.
    for word in f"Based on {len(docs)} documents: {docs[0]}".split():
        yield word + " "


@lg.trace
def answer(query: str) -> str:
    docs = rerank(query, Index().search(query))
    return "".join(stream_answer(query, docs)).strip()


@lg.trace
async def fetch(url: str) -> str:
    await asyncio.sleep(0.01)
    return f"<page {url}>"


@lg.trace
async def crawl(urls: list[str]) -> list[str]:
    # gather() runs each fetch in its own task; each one's span nests under crawl.
    return list(await asyncio.gather(*(fetch(url) for url in urls)))


def print_trees(records: list[lg.Record]) -> None:
    children: defaultdict[str | None, list[lg.Record]] = defaultdict(list)
    for record in sorted(records, key=lambda r: r.start):
        children[record.parent_id].append(record)

    def show(record: lg.Record, depth: int) -> None:
        items = f" ({record.stream.items} items)" if record.stream else ""
        print(f"{'  ' * depth}{record.name} [{record.kind}] {record.duration_ms:.2f} ms{items}")
        for child in children[record.span_id]:
            show(child, depth + 1)

    for root in children[None]:
        show(root, 0)


def main() -> None:
    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
    else:
        path = Path(tempfile.mkdtemp(prefix="llmguard-")) / "trace.jsonl"
    lg.configure(sinks=[JSONLSink(path)], service="tracing-example")
    started = datetime.now(timezone.utc)

    print(answer("What is the capital of France?"))
    with lg.span("batch", questions=2), ThreadPoolExecutor(max_workers=2) as pool:
        # propagate() carries the open span into the worker threads.
        list(pool.map(lg.propagate(answer), ["Where is Lyon?", "What money does France use?"]))
    asyncio.run(crawl(["a.example", "b.example"]))

    result = lg.flush(timeout=5.0)
    print(f"\nflushed: complete={result.complete}, records in {path}:\n")
    print_trees(list(read_records(path, since=started)))


if __name__ == "__main__":
    main()
