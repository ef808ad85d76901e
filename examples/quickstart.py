"""Triage support tickets into a schema, with a corrective retry, traced into SQLite.

Offline by default: the model is llmguard's scripted `FakeLLM`, whose first answer is
malformed (prose around the JSON, an urgency out of range), so you can watch one
corrective re-ask fix it. With ``OPENAI_API_KEY`` set (and ``pip install openai``)
the real API answers instead. Records go to ``llmguard.db`` in the working directory
unless another path is given::

    python examples/quickstart.py [path/to/store.db]
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

import llmguard as lg
from llmguard.sinks import SQLiteSink, SQLiteStore
from llmguard.testing import FakeLLM


class Ticket(BaseModel):
    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)


def make_model() -> tuple[Callable[..., Any], str]:
    """The real OpenAI client when a key is set, otherwise a scripted fake."""
    if os.environ.get("OPENAI_API_KEY"):
        from openai import OpenAI  # type: ignore[import-not-found, unused-ignore]

        return OpenAI().chat.completions.create, "OpenAI API"
    fake = FakeLLM(
        [
            'Sure! Here is the triage:\n```json\n{"category": "bug", "urgency": 7}\n```',
            '{"category": "bug", "urgency": 5}',
        ],
        model="gpt-4o-mini",
    )
    return fake, "FakeLLM (offline)"


create, source = make_model()


@lg.guard(schema=Ticket, retries=2, model="gpt-4o-mini")
def triage(messages: list[dict[str, str]]) -> Any:
    return create(model="gpt-4o-mini", messages=messages)


def print_tree(records: list[lg.Record]) -> None:
    children: defaultdict[str | None, list[lg.Record]] = defaultdict(list)
    for record in records:  # the store returns them ordered by start time
        children[record.parent_id].append(record)

    def show(record: lg.Record, depth: int) -> None:
        label = "  " * depth + record.name
        outcome = (record.attempt or {}).get("outcome", "")
        tokens = record.usage.total if record.usage is not None else None
        print(
            f"{label:<22} {record.kind:<8} {record.status:<6} {outcome:<8} "
            f"{record.duration_ms:8.2f} ms  tokens={tokens}"
        )
        for error in (record.attempt or {}).get("errors", []):
            print(f"{'':<24}{error['path']}: {error['message']}")
        for child in children[record.span_id]:
            show(child, depth + 1)

    for root in children[None]:
        show(root, 0)


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "llmguard.db"
    lg.configure(sinks=[SQLiteSink(path)], service="quickstart")

    messages = [
        {"role": "system", "content": "Classify the ticket. Answer with JSON only."},
        {"role": "user", "content": "The app crashes every time I open my invoices!"},
    ]
    with lg.span("support-request", channel="email") as request:
        ticket = triage(messages)
    print(f"model: {source}\nticket: {ticket!r}\n")

    if not lg.flush(timeout=5.0):
        sys.exit("llmguard: some records were not written in time")
    with SQLiteStore(path) as store:
        records = store.trace(request.trace_id)
    print_tree(records)
    call = next(r for r in records if r.kind == "llm")
    summary = call.attempt or {}
    cost = f"${call.cost_usd:.6f}" if call.cost_usd is not None else "unknown"
    print(
        f"\n{summary.get('count')} attempts, {summary.get('corrective_retries')} corrective "
        f"retry, cost {cost}; trace {request.trace_id} is in {path}"
    )


if __name__ == "__main__":
    main()
