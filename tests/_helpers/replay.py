"""A guarded triage function, its recorded calls and a store of them, for the replay tests."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

import llmguard as lg
from llmguard.sinks import SQLiteSink, SQLiteStore
from llmguard.testing import FakeLLM, capture

MESSAGES = [{"role": "user", "content": "The app crashes when I open my invoices."}]
GOOD = '{"category": "bug", "urgency": 4}'
BAD = '{"category": "bug", "urgency": 7}'


class Ticket(BaseModel):
    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)


def triage_with(fake: FakeLLM, **options: Any) -> Any:
    """A guarded triage function answered by ``fake``."""

    @lg.guard(schema=Ticket, retries=2, **options)
    def triage(messages: list[dict[str, str]]) -> Any:
        return fake(model="gpt-4o-mini", messages=messages)

    return triage


def recorded_call(fn: Any, *args: Any, **kwargs: Any) -> lg.Record:
    """Call ``fn`` and return the llm record of the call, whether it failed or not."""
    with capture() as records, contextlib.suppress(lg.LLMGuardError):
        fn(*args, **kwargs)
    return next(r for r in records if r.kind == "llm")


def failed_in_store(tmp_path: Path) -> lg.Record:
    """A triage call that failed the schema three times, read back from an SQLite store."""
    path = tmp_path / "llmguard.db"
    lg.configure(sinks=[SQLiteSink(path)])
    with pytest.raises(lg.SchemaViolation):
        triage_with(FakeLLM([BAD] * 3, model="gpt-4o-mini"))(MESSAGES)
    assert lg.flush(timeout=5)
    lg.configure(sinks=[])
    with SQLiteStore(path) as store:
        return next(store.records(kind="llm"))
