"""Replay a failed guarded call against fixed code, offline.

"Production" first: a triage call whose system prompt never states the urgency scale
gets ``"urgency": 7`` back three times, so the call fails with a SchemaViolation after
its corrective retries, and its records land in an SQLite store. The fix is a system
prompt that states the scale; `lg.replay` runs the recorded input through the fixed
function and prints the old and the new outcome side by side. Last, the recorded
answers themselves drive a `FakeLLM`, which reproduces the failure with no model at
all. The model is llmguard's scripted `FakeLLM` throughout::

    python examples/replay.py

The same replay from the command line, against a store and a function of your own::

    llmguard replay llmguard.db SPAN_ID --call app.triage:triage
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

import llmguard as lg
from llmguard.sinks import SQLiteSink, SQLiteStore
from llmguard.testing import FakeLLM


class Ticket(BaseModel):
    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)


def model_answer(call: dict[str, Any]) -> str:
    """The fake model: it keeps to the 1-5 scale only when the prompt states it."""
    system = call["messages"][0]["content"]
    urgency = 4 if "1 (low) to 5 (urgent)" in system else 7
    return f'{{"category": "bug", "urgency": {urgency}}}'


model = FakeLLM([model_answer] * 4, model="gpt-4o-mini")


@lg.guard(schema=Ticket, retries=2)
def triage(messages: list[dict[str, str]]) -> Any:
    system = {"role": "system", "content": "Classify the ticket as JSON."}
    return model(model="gpt-4o-mini", messages=[system, *messages])


@lg.guard(schema=Ticket, retries=2)
def triage_fixed(messages: list[dict[str, str]]) -> Any:
    system = {
        "role": "system",
        "content": "Classify the ticket as JSON; urgency goes from 1 (low) to 5 (urgent).",
    }
    return model(model="gpt-4o-mini", messages=[system, *messages])


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "llmguard.db"
        lg.configure(sinks=[SQLiteSink(path)], service="support")
        try:
            triage([{"role": "user", "content": "The app crashes when I open invoices!"}])
        except lg.SchemaViolation as exc:
            print(f"production call failed: SchemaViolation after {len(exc.attempts)} attempts\n")
        if not lg.flush(timeout=5.0):
            sys.exit("llmguard: the records were not written in time")
        with SQLiteStore(path) as store:
            failed = next(store.records(kind="llm", status="error"))
            trace = store.trace(failed.trace_id)
        lg.configure(sinks=[])  # the replays below are not production traffic

        result = lg.replay(failed, triage_fixed)
        print(result.side_by_side(width=96))

        recorded = FakeLLM.from_records(trace)
        print(f"\nrecorded answers: {recorded.answers}")

        @lg.guard(schema=Ticket, retries=2)
        def triage_offline(messages: list[dict[str, str]]) -> Any:
            return recorded(model="gpt-4o-mini", messages=messages)

        again = lg.replay(failed, triage_offline)
        print(f"replayed on the recorded answers: {again.new.status} ({again.new.error_type})")
        lg.shutdown()


if __name__ == "__main__":
    main()
