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
* ``@lg.guard(schema=Ticket, send_schema=True)`` around a function that takes
  ``response_format``: the guard passes OpenAI's strict ``json_schema`` format, which the
  SDK then serializes into every request (Instructor sends its schema too);
* Instructor's ``response_model=Ticket`` on ``instructor.from_openai(client)``, in JSON
  mode (the same answer as the other variants: the JSON in ``message.content``) and in
  TOOLS mode, its default (the answer as a tool call whose arguments are that JSON).

Figures are medians, over many rounds, of the time per call of a batch of calls; within
a phase the variants take turns batch by batch, so drift in the machine's speed reaches
them all alike. Added times are differences from the bare call of the same phase. With
the JSONL sink, the records are delivered between rounds, untimed; *amortized* is the
time for many calls plus the flush that writes their records, per call -- what the
process pays in all, background delivery included. ``--repeats N`` measures N times and
reports the spread of the ``send_schema`` ratios.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import openai
import pydantic
from _timing import Spread, Variant, amortized_ns, interleaved_ns
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


def bare_format_variant(client: openai.OpenAI) -> Callable[[], Ticket]:
    """The bare call carrying the strict ``response_format`` that ``send_schema`` sends
    (built once, by hand as a user would): what the SDK itself pays to send a schema."""
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {
            "name": "Ticket",
            "schema": {
                "type": "object",
                "properties": {
                    "category": {"enum": ["billing", "bug", "account", "other"], "type": "string"},
                    "urgency": {"maximum": 5, "minimum": 1, "type": "integer"},
                },
                "required": ["category", "urgency"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }

    def bare_format() -> Ticket:
        response = client.chat.completions.create(
            model=MODEL, messages=fresh_messages(), response_format=response_format
        )
        return Ticket.model_validate_json(response.choices[0].message.content or "")

    return bare_format


def bare_tools_variant(body: bytes) -> Callable[[], Ticket]:
    """The bare call carrying the tool Instructor's TOOLS mode sends, its arguments
    validated by hand: what the SDK itself pays for Instructor's schema."""
    assert instructor is not None
    client = mocked_client(body)
    function = instructor.openai_schema(Ticket).openai_schema
    tools: Any = [{"type": "function", "function": function}]
    choice: Any = {"type": "function", "function": {"name": function["name"]}}

    def bare_tools() -> Ticket:
        response = client.chat.completions.create(
            model=MODEL, messages=fresh_messages(), tools=tools, tool_choice=choice
        )
        calls = response.choices[0].message.tool_calls or []
        return Ticket.model_validate_json(calls[0].function.arguments)

    return bare_tools


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


def sending_variant(client: openai.OpenAI) -> Callable[[], Ticket]:
    """``send_schema=True``: the guard passes OpenAI's strict ``response_format``."""

    def classify(messages: list[Any], response_format: Any = None) -> ChatCompletion:
        return client.chat.completions.create(
            model=MODEL, messages=messages, response_format=response_format
        )

    guarded = lg.guard(schema=Ticket, send_schema=True)(classify)

    def sending() -> Ticket:
        return guarded(fresh_messages())

    return sending


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

BARE = "bare create + model_validate_json"
GUARD = "@lg.guard(schema=Ticket), no sink"
GUARD_NO_SCHEMA = "@lg.guard, no schema, no sink"
GUARD_SEND = "@lg.guard(schema=Ticket, send_schema=True)"
BARE_FORMAT = "bare create with that response_format"
BARE_TOOLS = "bare create with Instructor's tool"
INSTRUCTOR_JSON = "Instructor JSON mode"
INSTRUCTOR_TOOLS = "Instructor TOOLS mode"
GUARD_SINK = "@lg.guard(schema=Ticket), JSONL sink"
GUARD_NO_SCHEMA_SINK = "@lg.guard, no schema, JSONL sink"


@dataclass(frozen=True)
class GuardResult:
    """Median µs per call by variant, per phase, and the amortized JSONL figures."""

    no_sink_us: dict[str, float]
    jsonl_us: dict[str, float]
    bare_amortized_us: float
    guard_amortized_us: float

    def added_us(self, variant: str) -> float:
        """What ``variant`` adds to the bare call of its own phase, in µs."""
        phase = self.no_sink_us if variant in self.no_sink_us else self.jsonl_us
        return phase[variant] - phase[BARE]

    def instructor_ratio(self, mode: str, guard: str = GUARD) -> float | None:
        """Instructor's added time over the guard's, or None without Instructor."""
        name = f"Instructor {mode} mode"
        if name not in self.no_sink_us:
            return None
        return self.added_us(name) / self.added_us(guard)

    def own_ratio(self) -> float:
        """Instructor TOOLS over ``send_schema=True``, each measured against the bare call
        that sends the same schema (its tool; the guard's ``response_format``), so that
        what the SDK itself pays to carry a schema counts for neither."""
        instructor = self.no_sink_us[INSTRUCTOR_TOOLS] - self.no_sink_us[BARE_TOOLS]
        guard = self.no_sink_us[GUARD_SEND] - self.no_sink_us[BARE_FORMAT]
        return instructor / max(guard, 1e-3)


def check(name: str, fn: Callable[[], object]) -> None:
    result = fn()
    value = result if isinstance(result, Ticket) else None
    if value is None and isinstance(result, ChatCompletion):
        value = Ticket.model_validate_json(result.choices[0].message.content or "")
    # Instructor answers with an instance of a subclass of Ticket it made: compare fields.
    if value is None or value.model_dump() != EXPECTED.model_dump():
        raise RuntimeError(f"{name} returned {result!r}, not {EXPECTED!r}")


def timed_us(
    variants: Sequence[Variant],
    rounds: int,
    batch: int,
    warmup: int,
    between: Callable[[], object] | None = None,
) -> dict[str, float]:
    """Median time per call of each variant, in µs, the variants taking turns by batch."""
    for name, fn in variants:
        check(name, fn)
    samples = interleaved_ns(variants, rounds, batch, warmup, between)
    return {name: statistics.median(times) / 1000 for name, times in samples.items()}


def measure(
    rounds: int = ROUNDS,
    batch: int = BATCH,
    warmup: int = WARMUP,
    long_calls: int = LONG_CALLS,
    long_runs: int = LONG_RUNS,
) -> GuardResult:
    """Time every variant; see the module docstring."""
    content_client = mocked_client(CONTENT_BODY)
    bare: Variant = (BARE, bare_variant(content_client))

    # Phase 1: no sink, so nothing but the guard itself runs on the caller's thread.
    lg.configure(sinks=[])
    phase1: list[Variant] = [
        bare,
        (GUARD, guarded_variant(content_client)),
        (GUARD_NO_SCHEMA, unschematized_variant(content_client)),
        (GUARD_SEND, sending_variant(content_client)),
        (BARE_FORMAT, bare_format_variant(content_client)),
    ]
    if instructor is not None:
        phase1.append((INSTRUCTOR_JSON, instructor_variant(instructor.Mode.JSON, CONTENT_BODY)))
        phase1.append((INSTRUCTOR_TOOLS, instructor_variant(instructor.Mode.TOOLS, TOOL_BODY)))
        phase1.append((BARE_TOOLS, bare_tools_variant(TOOL_BODY)))
    first = timed_us(phase1, rounds, batch, warmup)

    # Phase 2: a JSONL sink, the records written by llmguard's background thread --
    # between rounds, untimed, so that the writing never lands inside a timed batch.
    def flush() -> object:
        return lg.flush(timeout=60)

    def nothing() -> None:
        return None

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "bench_guard.jsonl"
        lg.configure(sinks=[lg.sinks.JSONLSink(out)], queue_size=max(QUEUE_SIZE, 3 * long_calls))
        try:
            guarded_sink = guarded_variant(content_client)
            phase2: list[Variant] = [
                bare,
                (GUARD_SINK, guarded_sink),
                (GUARD_NO_SCHEMA_SINK, unschematized_variant(content_client)),
            ]
            second = timed_us(phase2, rounds, batch, warmup, flush)
            total = amortized_ns(
                [("bare", bare[1], nothing), ("guard", guarded_sink, flush)], long_runs, long_calls
            )
        finally:
            lg.configure(sinks=[])
    return GuardResult(
        no_sink_us=first,
        jsonl_us=second,
        bare_amortized_us=statistics.median(total["bare"]) / 1000,
        guard_amortized_us=statistics.median(total["guard"]) / 1000,
    )


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
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=1, help="whole measurements, for the spread of the ratios"
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per measurement")
    args = parser.parse_args()
    repeats = max(1, args.repeats)
    results = [measure(rounds=args.rounds) for _ in range(repeats)]
    result = results[-1]
    print(versions())
    print(f"median time per call over {args.rounds} rounds of {BATCH} calls")
    print(f"{'variant':<44} {'per call':>10} {'added':>10}")
    for phase in (result.no_sink_us, result.jsonl_us):
        for name, per_call in phase.items():
            added = "" if name == BARE else f"{result.added_us(name):>8.1f}µs"
            print(f"{name:<44} {per_call:>8.1f}µs {added:>10}")
    bare_total, guarded_total = result.bare_amortized_us, result.guard_amortized_us
    print(
        f"{'@lg.guard(schema=Ticket), JSONL, amortized':<44} {guarded_total:>8.1f}µs "
        f"{guarded_total - bare_total:>8.1f}µs  (bare {bare_total:.1f}µs, flush included)"
    )
    if instructor is None:
        print("instructor is not installed: no comparison")
        return
    for mode in ("JSON", "TOOLS"):
        ratios = ", ".join(
            f"vs guard {label}: {result.instructor_ratio(mode, guard):.1f}x"
            for label, guard in (("no sink", GUARD), ("JSONL sink", GUARD_SINK))
        )
        print(f"Instructor {mode} added / llmguard added: {ratios}")

    # Both sides pay the SDK for carrying a schema (Instructor its tool, the guard its
    # response_format): the "own" figures leave the SDK's share out of both, measuring
    # each against the bare call that sends the same schema.
    def spread(values: list[float], unit: str) -> str:
        found = Spread.of(values)
        return f"median {found.median:.1f}{unit} (low {found.low:.1f}, high {found.high:.1f})"

    def own(r: GuardResult, variant: str, bare: str) -> float:
        return r.no_sink_us[variant] - r.no_sink_us[bare]

    print(f"over {repeats} run(s):")
    print(f"  send_schema=True added: {spread([r.added_us(GUARD_SEND) for r in results], 'µs')}")
    print(
        "  send_schema=True, llmguard's own (bare call with the same response_format as "
        f"baseline): {spread([own(r, GUARD_SEND, BARE_FORMAT) for r in results], 'µs')}"
    )
    print(
        "  Instructor TOOLS, its own (bare call with its tool as baseline): "
        f"{spread([own(r, INSTRUCTOR_TOOLS, BARE_TOOLS) for r in results], 'µs')}"
    )
    for mode in ("JSON", "TOOLS"):
        ratios = [r.instructor_ratio(mode, GUARD_SEND) or 0.0 for r in results]
        print(f"  Instructor {mode} added / send_schema=True added: {spread(ratios, 'x')}")
    ratios = [r.own_ratio() for r in results]
    print(f"  Instructor TOOLS own / send_schema=True own: {spread(ratios, 'x')}")
    print(f"target: >= {TARGET_RATIO:.0f}x")


if __name__ == "__main__":
    main()
