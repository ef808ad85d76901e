"""Partial streaming: ``guard.stream(...)`` against Instructor's ``create_partial``.

Run: ``python benchmarks/bench_partial.py`` in an environment with ``openai`` and
``instructor`` (``/work/bench-venv``, or ``pip install -e ".[bench]"``). Both read the
same answer -- a 2 KB report (a title, a summary, ten line items, tags) streamed in 200
Chat Completions chunks -- through the real ``openai.OpenAI`` client, whose HTTP client
has a ``MockTransport`` serving the server-sent events. So every variant pays the SDK's
own request building and SSE parsing; what differs is what each layer does per chunk:

* bare: iterate the SDK stream, join the text, ``Report.model_validate_json`` at the end;
* ``lg.guard(schema=Report).stream(fn, messages)``: partial objects as the answer
  arrives, the final value validated by the guard's flow, records built (no sink);
* Instructor ``create_partial(response_model=Report)`` in JSON mode.

And, without the SDK, the partial parsing alone over the same 200 text pieces:
``guard.stream`` over a function returning them, against Instructor's
``Partial[Report].model_from_chunks``.

Figures are CPU time (``time.process_time_ns``) per streamed answer: medians and the
lowest and highest of the rounds, the variants taking turns round by round. *Added* is
the difference from the bare read of the same round. The partials each variant yields
are counted too: llmguard re-reads the answer at most once per 1/16th of the chunks so
far (see ``llmguard._guard.partial``), Instructor at every chunk.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import itertools
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import openai
import pydantic
from _timing import Spread

import llmguard as lg

try:
    import httpx2 as http
except ImportError:  # older SDK releases are built on httpx
    import httpx as http  # type: ignore[no-redef]


def optional_instructor() -> ModuleType | None:
    try:
        return importlib.import_module("instructor")
    except ImportError:  # the comparison is skipped, with a note
        return None


instructor = optional_instructor()

MODEL = "gpt-4o-mini"
CHUNKS = 200


class Line(pydantic.BaseModel):
    sku: str
    description: str
    quantity: int = pydantic.Field(ge=1)
    unit_price: float


class Report(pydantic.BaseModel):
    title: str
    status: Literal["draft", "final"]
    summary: str
    lines: list[Line]
    tags: list[str]


EXPECTED = Report(
    title="Quarterly hardware order for the Lyon office",
    status="final",
    summary=(
        "Replacement of the meeting-room screens and the laptops of the support team, "
        "with docking stations and spare chargers. Delivery is expected in two batches; "
        "the second waits for the screens, which are back-ordered until the end of the "
        "month. Prices include the negotiated discount and exclude VAT. The old screens "
        "go back to the supplier, who takes them for recycling at no cost."
    ),
    lines=[
        Line(
            sku=f"SKU-{n:04d}",
            description=f"Item {n}: docking station with 100 W power delivery, EU plug, "
            "two spare chargers",
            quantity=n + 1,
            unit_price=round(19.99 * (n + 1), 2),
        )
        for n in range(10)
    ],
    tags=["hardware", "lyon", "q3", "support-team", "approved"],
)
ANSWER = EXPECTED.model_dump_json()


def pieces(text: str = ANSWER, count: int = CHUNKS) -> list[str]:
    """``text`` cut into ``count`` pieces of (nearly) equal length."""
    cuts = [len(text) * n // count for n in range(count + 1)]
    return [text[a:b] for a, b in itertools.pairwise(cuts)]


def sse_body(parts: Sequence[str]) -> bytes:
    """The server-sent events of a Chat Completions stream of ``parts``."""
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": part} for part in parts]
    events = [
        {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        for delta in deltas
    ]
    events.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    lines = [f"data: {json.dumps(event)}\n\n" for event in events]
    return ("".join(lines) + "data: [DONE]\n\n").encode()


BODY = sse_body(pieces())


def mocked_client() -> openai.OpenAI:
    def answer(request: http.Request) -> http.Response:
        return http.Response(200, headers={"content-type": "text/event-stream"}, content=BODY)

    transport = http.Client(transport=http.MockTransport(answer))
    return openai.OpenAI(api_key="test", base_url="http://test/v1", http_client=transport)


def messages() -> list[Any]:
    return [{"role": "user", "content": "Write the order report as JSON."}]


# -- the variants: each reads one whole answer and returns (value, partials seen) ---------


def last_of(partials: Any) -> tuple[Report, int]:
    """The final value of ``guard.stream``, and how many partials came before it."""
    for seen, partial in enumerate(partials):
        if partial.final:
            return partial.value, seen
    raise AssertionError("no final value")


def instructor_last(partials: Iterator[Any]) -> tuple[Report, int]:
    """Instructor's last partial, validated as a `Report`, and how many it yielded."""
    seen, last = 0, None
    for item in partials:
        seen, last = seen + 1, item
    assert last is not None
    return Report.model_validate(last.model_dump()), seen


def bare_variant() -> Callable[[], tuple[Report, int]]:
    client = mocked_client()

    def run() -> tuple[Report, int]:
        stream = client.chat.completions.create(model=MODEL, messages=messages(), stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        return Report.model_validate_json(text), 0

    return run


def guard_variant() -> Callable[[], tuple[Report, int]]:
    client = mocked_client()
    guard = lg.guard(schema=Report)

    def write(messages: list[Any]) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages, stream=True)

    def run() -> tuple[Report, int]:
        return last_of(guard.stream(write, messages()))

    return run


def instructor_variant() -> Callable[[], tuple[Report, int]]:
    assert instructor is not None
    patched = instructor.from_openai(mocked_client(), mode=instructor.Mode.JSON)

    def run() -> tuple[Report, int]:
        partials = patched.chat.completions.create_partial(
            model=MODEL, messages=messages(), response_model=Report, max_retries=1
        )
        return instructor_last(partials)

    return run


def guard_pieces_variant() -> Callable[[], tuple[Report, int]]:
    guard = lg.guard(schema=Report)
    parts = pieces()

    def write(messages: list[Any]) -> Iterator[str]:
        return iter(parts)

    def run() -> tuple[Report, int]:
        return last_of(guard.stream(write, messages()))

    return run


def instructor_pieces_variant() -> Callable[[], tuple[Report, int]]:
    assert instructor is not None
    partial_model = instructor.Partial[Report]
    parts = pieces()

    def run() -> tuple[Report, int]:
        return instructor_last(partial_model.model_from_chunks(iter(parts)))

    return run


BARE = "bare SDK stream + model_validate_json"
GUARD = "guard.stream (no sink)"
INSTRUCTOR = "Instructor create_partial (JSON mode)"
GUARD_PIECES = "guard.stream over text pieces"
INSTRUCTOR_PIECES = "Instructor Partial.model_from_chunks"


@dataclass(frozen=True)
class PartialResult:
    """CPU µs per streamed answer by variant, and the partials each one yielded."""

    cpu_us: dict[str, Spread]
    samples: dict[str, list[float]]
    partials: dict[str, int]

    def added(self, name: str) -> Spread | None:
        """CPU added to the bare SDK read, per round."""
        if name not in self.samples:
            return None
        bare = self.samples[BARE]
        return Spread.of([v - b for v, b in zip(self.samples[name], bare, strict=True)])

    def ratio(self) -> float | None:
        """Instructor's CPU over llmguard's, both on the SDK stream (medians)."""
        if INSTRUCTOR not in self.cpu_us:
            return None
        return self.cpu_us[INSTRUCTOR].median / self.cpu_us[GUARD].median

    def added_ratio(self) -> float | None:
        """What Instructor adds to the bare read over what llmguard adds (medians)."""
        ours, theirs = self.added(GUARD), self.added(INSTRUCTOR)
        if ours is None or theirs is None:
            return None
        return theirs.median / ours.median


def measure(rounds: int = 30, batch: int = 5, warmup: int = 3) -> PartialResult:
    """Time every variant, interleaved round by round, in CPU time."""
    variants: list[tuple[str, Callable[[], tuple[Report, int]]]] = [
        (BARE, bare_variant()),
        (GUARD, guard_variant()),
        (GUARD_PIECES, guard_pieces_variant()),
    ]
    if instructor is not None:
        variants += [
            (INSTRUCTOR, instructor_variant()),
            (INSTRUCTOR_PIECES, instructor_pieces_variant()),
        ]
    partials: dict[str, int] = {}
    for name, run in variants:
        for _ in range(warmup):
            value, seen = run()
        if value != EXPECTED:
            raise AssertionError(f"{name} read {value!r}")
        partials[name] = seen
    gc.collect()
    samples: dict[str, list[float]] = {name: [] for name, _ in variants}
    clock = time.process_time_ns
    for _ in range(rounds):
        for name, run in variants:
            start = clock()
            for _ in range(batch):
                run()
            samples[name].append((clock() - start) / batch / 1000)
    return PartialResult({n: Spread.of(s) for n, s in samples.items()}, samples, partials)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch", type=int, default=5)
    options = parser.parse_args(argv)
    if instructor is None:
        print("instructor is not installed: its rows are skipped", file=sys.stderr)
    result = measure(options.rounds, options.batch)
    print(f"{len(ANSWER)} bytes in {len(pieces())} chunks; CPU µs per answer, median (low-high)")
    for name, spread in result.cpu_us.items():
        added = result.added(name) if name in (GUARD, INSTRUCTOR) else None
        extra = f"  added {added.median:8.1f}" if added is not None else ""
        print(
            f"{name:<42} {spread.median:8.1f} ({spread.low:.1f}-{spread.high:.1f}){extra}"
            f"  partials {result.partials[name]}"
        )
    if (ratio := result.ratio()) is not None:
        print(f"Instructor / guard.stream, CPU per answer: {ratio:.1f}x")
        print(f"Instructor added / guard.stream added: {result.added_ratio():.1f}x")
        pieces_ratio = result.cpu_us[INSTRUCTOR_PIECES].median / result.cpu_us[GUARD_PIECES].median
        print(f"Instructor / guard.stream, text pieces: {pieces_ratio:.1f}x")


if __name__ == "__main__":
    main()
