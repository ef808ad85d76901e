"""Overhead of ``@lg.guard(schema=...)`` against the bare OpenAI SDK and Instructor.

Run: ``python benchmarks/bench_guard.py`` in an environment with ``openai`` and
``instructor`` (``pip install -e ".[bench]"``). Every variant runs in this one process on
the real ``openai.OpenAI`` client, whose HTTP client (``httpx2``, or ``httpx`` for
openai < 3 -- whichever the installed SDK is built on) has a ``MockTransport`` answering
every request with one fixed, valid chat completion for ``Ticket``. So what is timed is
the SDK's own request building and response parsing plus what each layer adds:

* bare: ``client.chat.completions.create(...)`` then ``Ticket.model_validate_json``;
* ``@lg.guard(schema=Ticket)`` around a function making the same call, with no sink
  and with a JSONL sink (records written off the caller's thread);
* ``@lg.guard`` with no schema, which hands back the SDK's response;
* Instructor's ``response_model=Ticket`` on ``instructor.from_openai(client)``, in JSON
  mode (the same answer as the other variants: the JSON in ``message.content``) and in
  TOOLS mode, its default (the answer as a tool call whose arguments are that JSON).

Figures are medians, over many rounds, of the time per call of a batch of calls; within
a phase the variants take turns batch by batch, so drift in the machine's speed reaches
them all alike. Added times are differences from the bare call of the same phase. For
the JSONL sink, *amortized* is the time for many calls plus the flush that writes their
records, per call -- what the process pays in all, background delivery included.
"""

from __future__ import annotations

import gc
import importlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import openai
import pydantic
from openai.types.chat import ChatCompletion

import llmguard as lg


def optional_instructor() -> ModuleType | None:
    try:
        return importlib.import_module("instructor")
    except ImportError:  # the comparison is skipped, with a note
        return None


instructor = optional_instructor()

ROUNDS = 400
BATCH = 10
WARMUP = 200
LONG_CALLS = 2_000
LONG_RUNS = 5
TARGET_RATIO = 20.0
QUEUE_SIZE = 100_000  # more than phase 2 emits, so no record is dropped for want of room

MODEL = "gpt-4o-mini"
MESSAGES: list[dict[str, str]] = [
    {"role": "system", "content": "Classify the support ticket."},
    {"role": "user", "content": "I was charged twice this month, please fix it today."},
]


def fresh_messages() -> list[Any]:
    """A fresh copy of the messages for each call, in every variant alike.

    Some Instructor releases (1.3.x) write their JSON-mode instructions into the system
    message they are given: sharing one list would make every request of the process
    grow call after call.
    """
    return [dict(message) for message in MESSAGES]


class Ticket(pydantic.BaseModel):
    category: Literal["billing", "bug", "account", "other"]
    urgency: int = pydantic.Field(ge=1, le=5)


EXPECTED = Ticket(category="billing", urgency=4)
ANSWER = EXPECTED.model_dump_json()


def completion(message: dict[str, Any], finish_reason: str) -> bytes:
    """A Chat Completions response body, encoded once."""
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 42, "completion_tokens": 12, "total_tokens": 54},
    }
    return json.dumps(body).encode()


CONTENT_BODY = completion(
    {"role": "assistant", "content": ANSWER, "refusal": None}, finish_reason="stop"
)
TOOL_BODY = completion(
    {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [
            {
                "id": "call_bench",
                "type": "function",
                "function": {"name": Ticket.__name__, "arguments": ANSWER},
            }
        ],
    },
    finish_reason="tool_calls",
)


def sdk_http() -> ModuleType:
    """The HTTP library the installed openai SDK is built on: ``httpx2``, or ``httpx``."""
    for base in openai.DefaultHttpxClient.__mro__[1:]:
        root = base.__module__.partition(".")[0]
        if root in ("httpx", "httpx2"):
            return importlib.import_module(root)
    raise RuntimeError(f"openai {openai.__version__}: cannot tell which HTTP library it uses")


HTTP = sdk_http()


def mocked_client(body: bytes) -> openai.OpenAI:
    """The real SDK client, its transport answering every request with ``body``."""
    headers = {"content-type": "application/json"}

    def handler(request: Any) -> Any:
        return HTTP.Response(200, headers=headers, content=body)

    http_client = HTTP.Client(transport=HTTP.MockTransport(handler))
    return openai.OpenAI(
        api_key="bench", base_url="http://bench/v1", http_client=http_client, max_retries=0
    )


# -- the variants ---------------------------------------------------------------------------


def bare_variant(client: openai.OpenAI) -> Callable[[], Ticket]:
    def bare() -> Ticket:
        response = client.chat.completions.create(model=MODEL, messages=fresh_messages())
        return Ticket.model_validate_json(response.choices[0].message.content or "")

    return bare


def create_call(client: openai.OpenAI) -> Callable[[list[Any]], ChatCompletion]:
    """The function a user decorates: one create call, its response returned as it is."""

    def classify(messages: list[Any]) -> ChatCompletion:
        return client.chat.completions.create(model=MODEL, messages=messages)

    return classify


def guarded_variant(client: openai.OpenAI) -> Callable[[], Ticket]:
    classify = lg.guard(schema=Ticket)(create_call(client))

    def guarded() -> Ticket:
        return classify(fresh_messages())

    return guarded


def unschematized_variant(client: openai.OpenAI) -> Callable[[], ChatCompletion]:
    classify = lg.guard(create_call(client))

    def traced() -> ChatCompletion:
        return classify(fresh_messages())

    return traced


def instructor_variant(mode: Any, body: bytes) -> Callable[[], Ticket]:
    assert instructor is not None
    patched = instructor.from_openai(mocked_client(body), mode=mode)

    def structured() -> Ticket:
        ticket: Ticket = patched.chat.completions.create(
            model=MODEL, messages=fresh_messages(), response_model=Ticket, max_retries=1
        )
        return ticket

    return structured


# -- timing ---------------------------------------------------------------------------------


def check(name: str, fn: Callable[[], object]) -> None:
    result = fn()
    value = result if isinstance(result, Ticket) else None
    if value is None and isinstance(result, ChatCompletion):
        value = Ticket.model_validate_json(result.choices[0].message.content or "")
    # Instructor answers with an instance of a subclass of Ticket it made: compare fields.
    if value is None or value.model_dump() != EXPECTED.model_dump():
        raise SystemExit(f"{name} returned {result!r}, not {EXPECTED!r}")


def interleaved_us(variants: Sequence[tuple[str, Callable[[], object]]]) -> dict[str, float]:
    """Median time per call of each variant, in µs, the variants taking turns by batch."""
    for name, fn in variants:
        check(name, fn)
        for _ in range(WARMUP):
            fn()
    # What the imports and the warm-up left behind moves out of the collector's sight:
    # else a full collection, whose cost grows with all the SDKs' objects, lands on
    # whichever variant happens to trip it.
    gc.collect()
    gc.freeze()
    samples: dict[str, list[float]] = {name: [] for name, _ in variants}
    for _ in range(ROUNDS):
        for name, fn in variants:
            start = time.perf_counter_ns()
            for _ in range(BATCH):
                fn()
            samples[name].append((time.perf_counter_ns() - start) / BATCH / 1000)
    return {name: statistics.median(times) for name, times in samples.items()}


def amortized_us(fn: Callable[[], object], flush: Callable[[], object]) -> float:
    samples = []
    for _ in range(LONG_RUNS):
        flush()
        start = time.perf_counter_ns()
        for _ in range(LONG_CALLS):
            fn()
        flush()
        samples.append((time.perf_counter_ns() - start) / LONG_CALLS / 1000)
    return statistics.median(samples)


def versions() -> str:
    names = ["openai", HTTP.__name__, "pydantic", "instructor"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} not installed")
    return f"Python {sys.version.split()[0]}; " + ", ".join(found)


def main() -> None:
    content_client = mocked_client(CONTENT_BODY)
    bare = ("bare create + model_validate_json", bare_variant(content_client))

    # Phase 1: no sink, so nothing but the guard itself runs on the caller's thread.
    lg.configure(sinks=[])
    phase1: list[tuple[str, Callable[[], object]]] = [
        bare,
        ("@lg.guard(schema=Ticket), no sink", guarded_variant(content_client)),
        ("@lg.guard, no schema, no sink", unschematized_variant(content_client)),
    ]
    if instructor is not None:
        phase1.append(
            ("Instructor JSON mode", instructor_variant(instructor.Mode.JSON, CONTENT_BODY))
        )
        phase1.append(
            ("Instructor TOOLS mode", instructor_variant(instructor.Mode.TOOLS, TOOL_BODY))
        )
    first = interleaved_us(phase1)

    # Phase 2: a JSONL sink, the records written by llmguard's background thread.
    out = Path(tempfile.mkdtemp()) / "bench_guard.jsonl"
    lg.configure(sinks=[lg.sinks.JSONLSink(out)], queue_size=QUEUE_SIZE)
    guarded_sink = guarded_variant(content_client)
    phase2: list[tuple[str, Callable[[], object]]] = [
        bare,
        ("@lg.guard(schema=Ticket), JSONL sink", guarded_sink),
        ("@lg.guard, no schema, JSONL sink", unschematized_variant(content_client)),
    ]
    second = interleaved_us(phase2)

    def flush() -> object:
        return lg.flush(timeout=60)

    def nothing() -> None:
        return None

    bare_total = amortized_us(bare[1], nothing)
    guarded_total = amortized_us(guarded_sink, flush)

    print(versions())
    print(f"median time per call over {ROUNDS} rounds of {BATCH} calls")
    print(f"{'variant':<44} {'per call':>10} {'added':>10}")
    for phase in (first, second):
        base = phase[bare[0]]
        for name, per_call in phase.items():
            added = "" if name == bare[0] else f"{per_call - base:>8.1f}µs"
            print(f"{name:<44} {per_call:>8.1f}µs {added:>10}")
    print(
        f"{'@lg.guard(schema=Ticket), JSONL, amortized':<44} {guarded_total:>8.1f}µs "
        f"{guarded_total - bare_total:>8.1f}µs  (bare {bare_total:.1f}µs, flush included)"
    )

    ours = first["@lg.guard(schema=Ticket), no sink"] - first[bare[0]]
    ours_sink = second["@lg.guard(schema=Ticket), JSONL sink"] - second[bare[0]]
    if instructor is None:
        print("instructor is not installed: no comparison")
    else:
        for mode in ("JSON", "TOOLS"):
            theirs = first[f"Instructor {mode} mode"] - first[bare[0]]
            ratios = ", ".join(
                f"vs guard {label}: {theirs / added:.1f}x" if added > 0 else f"{label}: n/a"
                for label, added in (("no sink", ours), ("JSONL sink", ours_sink))
            )
            print(f"Instructor {mode} added / llmguard added: {ratios}")
        print(f"target: >= {TARGET_RATIO:.0f}x")
    stats = lg.stats()
    print(f"llmguard records emitted {stats.emitted}, dropped {stats.dropped}")


if __name__ == "__main__":
    main()
