"""Show a report while the model writes it: partial objects from a guarded stream.

Offline: the model is llmguard's scripted `FakeLLM`, streaming its answer in OpenAI
chunks of eight characters. Its first report lists a line with a quantity of 0, which
the schema refuses once the answer is complete, so you can watch the guard re-ask and
the display start over (``reset``). With a real client, ``write_report`` would return
``client.chat.completions.create(..., stream=True)``; nothing else changes::

    python examples/partial_stream.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

import llmguard as lg
from llmguard.testing import FakeLLM


class Line(BaseModel):
    item: str
    quantity: int = Field(ge=1)


class Report(BaseModel):
    title: str
    summary: str
    lines: list[Line]


FIRST = (
    '{"title": "Weekly order", "summary": "Screens and chargers for the Lyon office.", '
    '"lines": [{"item": "screen", "quantity": 2}, {"item": "charger", "quantity": 0}]}'
)
SECOND = (
    '{"title": "Weekly order", "summary": "Screens and chargers for the Lyon office.", '
    '"lines": [{"item": "screen", "quantity": 2}, {"item": "charger", "quantity": 3}]}'
)
MESSAGES = [{"role": "user", "content": "Write this week's order report as JSON."}]

model = FakeLLM([FIRST, SECOND, FIRST, SECOND], model="gpt-4o-mini")


def write_report(messages: list[dict[str, Any]]) -> Any:
    return model(model="gpt-4o-mini", messages=messages, stream=True)


async def awrite_report(messages: list[dict[str, Any]]) -> Any:
    return await model.acall(model="gpt-4o-mini", messages=messages, stream=True)


guard = lg.guard(schema=Report, retries=1)


def show(report: Report, mark: str) -> str:
    """One line of the display: what has arrived so far (fields not arrived are None)."""
    lines = ", ".join(f"{line.item} x{line.quantity}" for line in report.lines or [])
    return f"[{mark}] {report.title!r} | {report.summary!r} | {lines}"


def main() -> Report:
    """Print the report as it streams, in a sync loop; return the validated one."""
    report: Report | None = None
    for partial in guard.stream(write_report, MESSAGES):
        if partial.reset:
            print("--- the answer was refused; the model writes it again ---")
        print(show(partial.value, "final" if partial.final else f"attempt {partial.attempt}"))
        if partial.final:
            report = partial.value
    assert report is not None
    return report


async def amain() -> Report:
    """The same with ``async for``: the function is async, so its stream is too."""
    report: Report | None = None
    async for partial in guard.stream(awrite_report, MESSAGES):
        if partial.final:
            report = partial.value
    assert report is not None
    return report


if __name__ == "__main__":
    final = main()
    print(final)
    print(asyncio.run(amain()) == final)
