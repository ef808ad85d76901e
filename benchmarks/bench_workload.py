"""What a realistic call costs in all: caller plus delivery, with default settings.

Run: ``python benchmarks/bench_workload.py [--quick]``. Peers (the OpenTelemetry SDK,
Instructor) are measured when they are installed (``/work/bench-venv`` has them).

The workload is what an application does, not a microbenchmark:

* conversations of 0.5-4 KB (a system prompt and one to six turns), made once from a
  fixed seed; one message in ten holds an email address, one in twenty a phone number,
  one in a hundred an API key, one in two hundred a card number, at random places;
* ``@lg.trace`` around a function that takes such a conversation and returns an answer
  of 200-800 bytes;
* ``@lg.guard(schema=Ticket, retries=2)`` around the real OpenAI SDK on a mock
  transport; one call in ten is answered badly first and re-asked once;
* agent runs: ``lg.agent`` with three steps, each a guarded call and a ``@lg.tool`` call.

Everything runs with default settings (the default redactor, the 32 KB content cap,
the default queue) and one `JSONLSink`; delivery runs *while* the calls are timed.

The headline is the **total CPU per call**: ``time.process_time()`` (every thread of the
process) over a batch of calls and the flush that delivers their records, divided by the
calls; beside it the **caller's share**, ``time.thread_time()`` on the calling thread
over the calls alone. *Added* figures subtract the same call without any tracing (the
bare function, or the bare SDK call and validation), measured the same way. *Sustained*
runs calls back to back for a while with no flush in between, so that delivery competes
with the caller the whole time.

Peers, like for like:

* an OpenTelemetry SDK span per call carrying the same content as attributes (the
  conversation and the answer as JSON text), through the SDK's ``BatchSpanProcessor``
  to an exporter that encodes each batch as OTLP protobuf and writes it to a file. The
  SDK has no redaction, so it does none (its queue is made large enough to drop
  nothing, which only helps it);
* Instructor's ``response_model=Ticket`` (JSON mode, ``max_retries=2``) on the same
  client and answers, with the same tracing: the call wrapped in ``@lg.trace`` (records
  to the same JSONL sink) and, as a detail, in an OpenTelemetry span as above.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pydantic

import llmguard as lg
from llmguard.sinks import JSONLSink, SQLiteSink

# -- the content -------------------------------------------------------------------------

_PROSE = (
    "the order was charged twice and I still have not received a refund for it please "
    "help me understand why my account shows a pending balance when the invoice says paid "
    "we tried the steps in the help article but the app keeps crashing on login after the "
    "update thanks for your patience our team is looking into the delivery delay and will "
    "follow up with a tracking number as soon as the warehouse confirms shipment"
)
_WORDS = tuple(_PROSE.split())


def _sentence(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(8, 24))
    return " ".join(words).capitalize() + "."


def _secret(rng: random.Random) -> str | None:
    """A secret or personal value, at rates an application's messages show them."""
    roll = rng.random()
    if roll < 0.10:
        name = rng.choice(("jane.doe", "j.smith", "support+bill", "kim_lee", "ops"))
        return f"{name}{rng.randint(1, 999)}@{rng.choice(('example.com', 'mail.co.uk'))}"
    if roll < 0.15:
        return f"+1 (415) 555-{rng.randint(1000, 9999)}"
    if roll < 0.16:
        return "sk-" + "".join(rng.choices("abcdefghijkLMNOP0123456789", k=40))
    if roll < 0.165:
        return "4111 1111 1111 1111"
    return None


def _text(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    length = 0
    while length < size:
        sentence = _sentence(rng)
        parts.append(sentence)
        length += len(sentence) + 1
    secret = _secret(rng)
    if secret is not None:
        parts.insert(rng.randrange(len(parts) + 1), f"Contact: {secret}.")
    return " ".join(parts)


def conversations(count: int, seed: int = 17) -> list[list[dict[str, str]]]:
    """``count`` message lists of 0.5-4 KB, the same ones for a given seed."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        total = rng.randint(500, 4000)
        turns = rng.randint(1, 6)
        messages = [{"role": "system", "content": "You are a support assistant. Be brief."}]
        for turn in range(turns):
            role = "user" if turn % 2 == 0 else "assistant"
            messages.append({"role": role, "content": _text(rng, max(total // turns - 40, 40))})
        if messages[-1]["role"] != "user":
            messages.append({"role": "user", "content": _text(rng, 60)})
        out.append(messages)
    return out


def answers(count: int, seed: int = 18) -> list[str]:
    rng = random.Random(seed)
    return [_text(rng, rng.randint(200, 800)) for _ in range(count)]


# -- the model behind the SDK ------------------------------------------------------------


class Ticket(pydantic.BaseModel):
    category: Literal["billing", "bug", "account", "other"]
    urgency: int = pydantic.Field(ge=1, le=5)
    summary: str


MODEL = "gpt-4o-mini"
FAIL_ONCE = "[needs a second try]"
_BAD_MARK = b"not-a-category"
_GOOD = json.dumps({"category": "billing", "urgency": 4, "summary": "Charged twice."})
_BAD = json.dumps({"category": _BAD_MARK.decode(), "urgency": 9, "summary": "?"})


def _completion(content: str, prompt_tokens: int) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-workload",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": 24,
                "total_tokens": prompt_tokens + 24,
            },
        }
    ).encode()


_GOOD_BODY = _completion(_GOOD, 600)
_BAD_BODY = _completion(_BAD, 600)
_FAIL_MARK = FAIL_ONCE.encode()


def _sdk() -> tuple[ModuleType, ModuleType] | None:
    try:
        openai = importlib.import_module("openai")
    except ImportError:
        return None
    for base in openai.DefaultHttpxClient.__mro__[1:]:
        root = base.__module__.partition(".")[0]
        if root in ("httpx", "httpx2"):
            return openai, importlib.import_module(root)
    return None


def mocked_openai() -> Any:
    """The real OpenAI client; its transport answers like a model that is wrong once in ten.

    A request whose conversation carries `FAIL_ONCE` and no earlier bad answer gets a
    ticket that fails validation; every other request a valid one.
    """
    found = _sdk()
    if found is None:
        raise RuntimeError("openai is not installed")
    openai, http = found
    headers = {"content-type": "application/json"}

    def handler(request: Any) -> Any:
        body = request.content
        bad = _FAIL_MARK in body and _BAD_MARK not in body
        return http.Response(200, headers=headers, content=_BAD_BODY if bad else _GOOD_BODY)

    client = http.Client(transport=http.MockTransport(handler))
    return openai.OpenAI(
        api_key="bench", base_url="http://bench/v1", http_client=client, max_retries=0
    )


def _fresh(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    return [dict(m) for m in messages]


# -- the workloads -----------------------------------------------------------------------

Call = Callable[[int], object]


@dataclass
class Workload:
    """The calls of one measurement, indexed so that every variant sees the same inputs."""

    chats: list[list[dict[str, str]]]
    replies: list[str]

    @classmethod
    def make(cls, count: int) -> Workload:
        chats = conversations(count)
        for i in range(0, count, 10):  # one call in ten is answered badly first
            chats[i][-1]["content"] += " " + FAIL_ONCE
        return cls(chats, answers(count))

    def chat(self, i: int) -> list[dict[str, str]]:
        return self.chats[i % len(self.chats)]

    def reply(self, i: int) -> str:
        return self.replies[i % len(self.replies)]


def trace_calls(w: Workload) -> dict[str, Call]:
    def answer(messages: list[dict[str, str]], reply: str) -> str:
        return reply

    traced = lg.trace(answer)
    return {
        "bare function": lambda i: answer(w.chat(i), w.reply(i)),
        "@lg.trace": lambda i: traced(w.chat(i), w.reply(i)),
    }


def guard_calls(w: Workload, client: Any) -> dict[str, Call]:
    def bare(i: int) -> Ticket:
        messages = _fresh(w.chat(i))
        for _ in range(3):
            response = client.chat.completions.create(model=MODEL, messages=messages)
            text = response.choices[0].message.content or ""
            try:
                return Ticket.model_validate_json(text)
            except pydantic.ValidationError as exc:
                messages += [
                    {"role": "assistant", "content": text},
                    {"role": "user", "content": f"Fix: {exc.error_count()} errors"},
                ]
        raise RuntimeError("no valid ticket")

    @lg.guard(schema=Ticket, retries=2)
    def classify(messages: list[dict[str, str]]) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages)

    return {
        "bare SDK + validate": bare,
        "@lg.guard(schema)": lambda i: classify(_fresh(w.chat(i))),
    }


@lg.tool
def lookup_order(order_id: str, verbose: bool = False) -> dict[str, Any]:
    """Look an order up (a stand-in for a database read)."""
    return {"order_id": order_id, "status": "shipped", "items": 2, "verbose": verbose}


def agent_calls(w: Workload, client: Any) -> dict[str, Call]:
    @lg.guard(schema=Ticket, retries=2)
    def classify(messages: list[dict[str, str]]) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages)

    def run(i: int) -> int:
        with lg.agent("support", max_steps=8, max_tool_calls=8) as agent:
            for step in range(3):
                agent.step()
                classify(_fresh(w.chat(i + step)))
                lookup_order(order_id=f"A-{i}-{step}")
        return agent.steps

    return {"lg.agent, 3 steps (guard + tool each)": run}


# -- peers -------------------------------------------------------------------------------


class _OTel:
    """An OpenTelemetry SDK tracer exporting OTLP protobuf to a file, or ``None``."""

    def __init__(self, path: Path) -> None:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        out = path.open("ab")

        class FileExporter(SpanExporter):  # type: ignore[misc]
            def export(self, spans: Any) -> Any:
                out.write(encode_spans(spans).SerializeToString())
                return SpanExportResult.SUCCESS

            def shutdown(self) -> None:
                out.close()

        self.provider = TracerProvider()
        # A queue that never drops: the OTel SDK drops past 2,048 spans by default.
        self.provider.add_span_processor(
            BatchSpanProcessor(FileExporter(), max_queue_size=1_000_000)
        )
        self.tracer = self.provider.get_tracer("bench")

    def flush(self) -> None:
        self.provider.force_flush(60_000)

    def close(self) -> None:
        self.provider.shutdown()


def optional_otel(path: Path) -> _OTel | None:
    try:
        return _OTel(path)
    except ImportError:
        return None


def otel_trace_calls(w: Workload, otel: _OTel) -> dict[str, Call]:
    tracer = otel.tracer

    def answer(messages: list[dict[str, str]], reply: str) -> str:
        with tracer.start_as_current_span("answer") as span:
            span.set_attribute("input", json.dumps(messages))
            span.set_attribute("output", reply)
            return reply

    return {"OTel SDK span": lambda i: answer(w.chat(i), w.reply(i))}


def instructor_calls(w: Workload, client: Any, otel: _OTel | None) -> dict[str, Call]:
    try:
        instructor = importlib.import_module("instructor")
    except ImportError:
        return {}
    patched = instructor.from_openai(client, mode=instructor.Mode.JSON)

    def structured(messages: list[dict[str, str]]) -> Ticket:
        ticket: Ticket = patched.chat.completions.create(
            model=MODEL, messages=messages, response_model=Ticket, max_retries=2
        )
        return ticket

    traced = lg.trace(structured)
    calls: dict[str, Call] = {
        "Instructor + @lg.trace": lambda i: traced(_fresh(w.chat(i))),
    }
    if otel is not None:
        tracer = otel.tracer

        def with_span(i: int) -> Ticket:
            messages = _fresh(w.chat(i))
            with tracer.start_as_current_span("structured") as span:
                span.set_attribute("input", json.dumps(messages))
                ticket = structured(messages)
                span.set_attribute("output", ticket.model_dump_json())
                return ticket

        calls["Instructor + OTel span"] = with_span
    return calls


# -- measuring ---------------------------------------------------------------------------


@dataclass
class Cost:
    """Per call, in µs: every round's total CPU (all threads) and the caller's CPU."""

    total: list[float] = field(default_factory=list)
    caller: list[float] = field(default_factory=list)

    @property
    def total_us(self) -> float:
        return statistics.median(self.total)

    @property
    def caller_us(self) -> float:
        return statistics.median(self.caller)


def _settle() -> None:
    gc.collect()


def measure_rounds(
    calls: dict[str, Call],
    flushes: dict[str, Callable[[], object]],
    rounds: int,
    batch: int,
    warmup: int,
) -> dict[str, Cost]:
    """Each variant's cost; variants take turns round by round (batch calls, then flush)."""
    costs = {name: Cost() for name in calls}
    index = 0
    for name, call in calls.items():
        for i in range(warmup):
            call(i)
        flushes[name]()
    _settle()
    for _ in range(rounds):
        for name, call in calls.items():
            flush = flushes[name]
            cpu0, own0 = time.process_time(), time.thread_time()
            for i in range(index, index + batch):
                call(i)
            own1 = time.thread_time()
            flush()
            cpu1 = time.process_time()
            costs[name].total.append((cpu1 - cpu0) / batch * 1e6)
            costs[name].caller.append((own1 - own0) / batch * 1e6)
        index += batch
    return costs


@dataclass
class Sustained:
    """Back-to-back calls with delivery competing: the caller's CPU and wall time per call."""

    caller_us: float
    wall_us: float
    total_us: float
    dropped: int


def sustained(call: Call, calls: int) -> Sustained:
    """Run ``calls`` calls back to back (no flush in between), then flush once."""
    lg.flush(None)
    before = lg.stats().dropped
    _settle()
    cpu0, own0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    for i in range(calls):
        call(i)
    own1, wall1 = time.thread_time(), time.perf_counter()
    lg.flush(None)
    cpu1 = time.process_time()
    return Sustained(
        caller_us=(own1 - own0) / calls * 1e6,
        wall_us=(wall1 - wall0) / calls * 1e6,
        total_us=(cpu1 - cpu0) / calls * 1e6,
        dropped=lg.stats().dropped - before,
    )


@dataclass
class Throughput:
    """A burst of realistic records delivered end to end to one sink."""

    sink: str
    records: int
    delivery_cpu_per_s: float  # records delivered per second of delivery CPU (all but the caller)
    wall_per_s: float  # records per second of wall time, burst and drain together
    dropped: int


THROUGHPUT_TARGETS = {"JSONLSink": 100_000, "SQLiteSink": 60_000}


class _Discard:
    name = "discard"

    def emit(self, batch: Any) -> None:
        pass

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def throughput(kind: str, records: int, folder: Path) -> Throughput:
    """Emit ``records`` realistic traced calls in a tight loop, default settings, then flush."""
    sink: Any
    if kind == "JSONLSink":
        sink = JSONLSink(folder / f"burst-{records}.jsonl")
    elif kind == "SQLiteSink":
        sink = SQLiteSink(folder / f"burst-{records}.db")
    else:
        sink = _Discard()
    w = Workload.make(min(records, 2_000))
    traced = trace_calls(w)["@lg.trace"]
    lg.configure(sinks=[sink])
    try:
        for i in range(200):
            traced(i)
        lg.flush(None)
        before = lg.stats()
        _settle()
        cpu0, own0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
        for i in range(records):
            traced(i)
        own1 = time.thread_time()
        lg.flush(None)
        cpu1, wall1 = time.process_time(), time.perf_counter()
        after = lg.stats()
        delivery = max((cpu1 - cpu0) - (own1 - own0), 1e-9)
        dropped = after.dropped - before.dropped
        dropped += sum(s.dropped for s in after.sinks) - sum(s.dropped for s in before.sinks)
        # Records dropped cost delivery nothing: only the delivered ones are counted.
        delivered = records - dropped
        return Throughput(kind, records, delivered / delivery, delivered / (wall1 - wall0), dropped)
    finally:
        lg.configure(sinks=[])


def profile_pipeline(records: int, folder: Path, top: int = 25, redact: bool = True) -> str:
    """cProfile of every delivery thread (the dispatcher and the sink's lane) while
    ``records`` realistic traced calls go to a `JSONLSink` with default settings, but a
    queue that holds them all (so that every record is profiled), and with no redactor
    at all when ``redact`` is false."""
    import cProfile
    import io
    import pstats

    from llmguard._delivery import pipeline

    profiles: list[cProfile.Profile] = []
    originals = pipeline._Pipeline._run, pipeline._Lane._run

    def profiled(original: Callable[[Any], None]) -> Callable[[Any], None]:
        def run(self: Any) -> None:
            # CPU time of the thread, not wall time: waits for the GIL or a lock are
            # not work, and wall time would charge them to whatever ran next.
            profile = cProfile.Profile(time.thread_time)
            profiles.append(profile)
            profile.runcall(original, self)

        return run

    pipeline._Pipeline._run = profiled(originals[0])  # type: ignore[method-assign]
    pipeline._Lane._run = profiled(originals[1])  # type: ignore[method-assign]
    try:
        w = Workload.make(min(records, 2_000))
        traced = trace_calls(w)["@lg.trace"]
        lg.configure(
            sinks=[JSONLSink(folder / "profiled.jsonl")],
            queue_size=max(records, 10_000),
            max_queue_bytes=max(records * 16_384, 64 * 1024 * 1024),
            redact=lg.redact.DEFAULT if redact else [],
        )
        for i in range(records):
            traced(i)
        lg.flush(None)
        delivered = lg.stats().sinks[0].delivered
        lg.configure(
            sinks=[], redact=lg.redact.DEFAULT
        )  # stops the threads, so their profiles are complete
    finally:
        pipeline._Pipeline._run, pipeline._Lane._run = originals  # type: ignore[method-assign]
    out = io.StringIO()
    out.write(
        f"{delivered:,} of {records:,} records delivered, redaction {'on' if redact else 'off'}\n"
    )
    stats = pstats.Stats(*profiles, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def stage_costs(
    records: int,
    folder: Path,
    redact: bool = True,
    workload: str = "trace",
    kind: str | None = None,
) -> dict[str, float]:
    """CPU per record of each step of delivery, µs (medians over chunks of 64 records).

    The spans of ``records`` realistic traced calls are collected as delivery would
    receive them, then taken through the dispatcher's steps one step at a time, with
    the garbage collector paused (its share is measured end to end, not here): building
    the records from the compact spans, bounding content (``stage``), redaction,
    finishing and serializing, and the JSONL sink's write. ``workload="guard"`` takes
    the spans of guarded calls instead (one ``llm`` and one or two ``attempt`` spans
    each); ``kind`` keeps only the spans of that record kind.
    """
    from llmguard._delivery import finished, processing
    from llmguard._delivery import settings as config
    from llmguard._tracing import spans

    w = Workload.make(min(records, 2_000))
    if workload == "guard":
        traced = guard_calls(w, mocked_openai())["@lg.guard(schema)"]
    else:
        traced = trace_calls(w)["@lg.trace"]
    lg.configure(sinks=[_Discard()], redact=lg.redact.DEFAULT if redact else [])
    collected: list[Any] = []

    def keep(span: Any) -> None:
        if kind is None or span.kind == kind:
            collected.append(span.compact() or span)

    original = spans.submit  # type: ignore[attr-defined]
    spans.submit = keep  # type: ignore[attr-defined]
    try:
        for i in range(records):
            traced(i)
    finally:
        spans.submit = original  # type: ignore[attr-defined]
    settings = config.settings()
    sink = JSONLSink(folder / "stages.jsonl")
    steps: dict[str, list[float]] = {}
    clock = time.thread_time_ns
    for start in range(0, len(collected) - 63, 64):
        chunk = collected[start : start + 64]
        gc.disable()
        try:
            t0 = clock()
            built = [
                finished.build(item if type(item) is tuple else item.finished(), settings.service)
                for item in chunk
            ]
            t1 = clock()
            staged = [processing.stage(r, settings, sizes, (i, o)) for r, i, o, sizes in built]
            t2 = clock()
            ready = [one for one in staged if one is not None]
            processing.redact_all(ready, settings, lambda *a, **k: None)
            t3 = clock()
            done = [one.finish()[0] for one in ready]
            t4 = clock()
            sink.emit(done)
            t5 = clock()
        finally:
            gc.enable()
        times = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0)
        for name, ns in zip(_STEPS, times, strict=True):
            steps.setdefault(name, []).append(ns / len(chunk) / 1000)
    sink.close()
    lg.configure(sinks=[], redact=lg.redact.DEFAULT)
    return {name: statistics.median(values) for name, values in steps.items()}


_STEPS = ("build", "bound", "redact", "finish", "write", "all")


@dataclass
class WorkloadResult:
    """Everything one run measured."""

    costs: dict[str, Cost]
    sustained: dict[str, Sustained]
    bursts: list[Throughput]
    notes: list[str]

    def added(self, name: str, bare: str, caller: bool = False) -> float:
        a, b = self.costs[name], self.costs[bare]
        return (a.caller_us - b.caller_us) if caller else (a.total_us - b.total_us)


@contextmanager
def _jsonl(folder: Path) -> Iterator[None]:
    lg.configure(sinks=[JSONLSink(folder / "workload.jsonl")])
    try:
        yield
    finally:
        lg.configure(sinks=[])


def measure(
    rounds: int = 7,
    batch: int = 500,
    warmup: int = 200,
    sustained_calls: int = 20_000,
    burst: int = 100_000,
    sinks: tuple[str, ...] = ("JSONLSink", "SQLiteSink", "discard"),
) -> WorkloadResult:
    """Every measurement of this module, in this process (see the module docstring)."""
    notes: list[str] = []
    w = Workload.make(max(batch * 2, 200))
    with tempfile.TemporaryDirectory(prefix="llmguard-workload-") as scratch:
        folder = Path(scratch)
        otel = optional_otel(folder / "otel.bin")
        if otel is None:
            notes.append("opentelemetry-sdk or its OTLP encoder missing")

        def delivered() -> object:
            return lg.flush(None)

        with _jsonl(folder):
            calls = dict(trace_calls(w))
            if otel is not None:
                calls.update(otel_trace_calls(w, otel))
            flushes = dict.fromkeys(calls, delivered)
            if otel is not None:
                flushes["OTel SDK span"] = otel.flush
            costs = measure_rounds(calls, flushes, rounds, batch, warmup)
            if _sdk() is None:
                notes.append("openai missing")
            else:
                client = mocked_openai()
                g = dict(guard_calls(w, client))
                peer = instructor_calls(w, client, otel)
                if not peer:
                    notes.append("instructor missing")
                g.update(peer)
                flushes = dict.fromkeys(g, delivered)
                if otel is not None and "Instructor + OTel span" in g:
                    flushes["Instructor + OTel span"] = otel.flush
                small = max(batch // 5, 1)
                costs.update(measure_rounds(g, flushes, rounds, small, max(warmup // 5, 1)))
                a = agent_calls(w, client)
                costs.update(
                    measure_rounds(a, dict.fromkeys(a, delivered), rounds, max(small // 3, 1), 3)
                )
            runs = {
                "@lg.trace": sustained(trace_calls(w)["@lg.trace"], sustained_calls),
                "bare function": sustained(trace_calls(w)["bare function"], sustained_calls),
            }
        if otel is not None:
            otel.close()
        bursts = [throughput(kind, burst, folder) for kind in sinks]
    return WorkloadResult(costs, runs, bursts, notes)


def measure_guard(rounds: int = 15, batch: int = 80, warmup: int = 40) -> dict[str, Cost]:
    """Only the guard, the bare SDK call and Instructor with tracing, over more rounds.

    The same calls and sink as `measure`, for the ratio the guard's target is set on:
    its added total against Instructor's, each over the bare call.
    """
    w = Workload.make(max(batch * 2, 200))
    with tempfile.TemporaryDirectory(prefix="llmguard-workload-") as scratch, _jsonl(Path(scratch)):
        calls = dict(guard_calls(w, mocked_openai()))
        calls.update(instructor_calls(w, mocked_openai(), None))
        return measure_rounds(
            calls, dict.fromkeys(calls, lambda: lg.flush(None)), rounds, batch, warmup
        )


def report_guard(costs: dict[str, Cost]) -> str:
    """The guard's and Instructor's added costs over the bare call, and their ratio."""
    bare = costs["bare SDK + validate"]
    lines = []
    for name, cost in costs.items():
        lines.append(
            f"{name}: total {cost.total_us:.1f} µs ({min(cost.total):.1f}-{max(cost.total):.1f}),"
            f" caller {cost.caller_us:.1f} µs"
        )
    guard = costs["@lg.guard(schema)"]
    added = guard.total_us - bare.total_us
    caller = guard.caller_us - bare.caller_us
    lines.append(
        f"@lg.guard(schema) added: total {added:.1f} µs, caller {caller:.1f} µs, "
        f"the rest (delivery) {added - caller:.1f} µs"
    )
    peer = costs.get("Instructor + @lg.trace")
    if peer is not None:
        theirs = peer.total_us - bare.total_us
        lines.append(f"Instructor + @lg.trace added: total {theirs:.1f} µs")
        # Round by round too: each round's variants ran back to back.
        ratios = [
            (p - b) / (g - b)
            for p, g, b in zip(peer.total, guard.total, bare.total, strict=True)
            if g > b
        ]
        spread = (
            f" (per round: median {statistics.median(ratios):.1f}, "
            f"{min(ratios):.1f}-{max(ratios):.1f})"
            if ratios
            else ""
        )
        lines.append(f"ratio Instructor added / guard added: {theirs / added:.2f} x{spread}")
        # Load from other processes only ever adds time: the lowest rounds are the
        # least disturbed estimate on a busy machine.
        low = min(bare.total)
        lines.append(
            f"from each variant's lowest round: guard +{min(guard.total) - low:.1f} µs, "
            f"Instructor +{min(peer.total) - low:.1f} µs, ratio "
            f"{(min(peer.total) - low) / max(min(guard.total) - low, 1e-9):.2f} x"
        )
    return "\n".join(lines)


def report(result: WorkloadResult) -> str:
    lines = ["| variant | total CPU per call (µs) | caller's CPU (µs) |", "|---|---|---|"]
    for name, cost in result.costs.items():
        lines.append(
            f"| {name} | {cost.total_us:.1f} ({min(cost.total):.1f}-{max(cost.total):.1f}) "
            f"| {cost.caller_us:.1f} ({min(cost.caller):.1f}-{max(cost.caller):.1f}) |"
        )
    lines.append("")
    for name, run in result.sustained.items():
        lines.append(
            f"sustained {name}: caller CPU {run.caller_us:.1f} µs, caller wall "
            f"{run.wall_us:.1f} µs, total CPU {run.total_us:.1f} µs per call, "
            f"{run.dropped} dropped"
        )
    for b in result.bursts:
        lines.append(
            f"burst of {b.records:,} to {b.sink}: {b.delivery_cpu_per_s:,.0f} records/s of "
            f"delivery CPU, {b.wall_per_s:,.0f} records/s wall (burst and drain), "
            f"{b.dropped} dropped"
        )
    lines.extend(f"note: {note}" for note in result.notes)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, noisy figures")
    parser.add_argument(
        "--profile", type=int, metavar="N", help="profile the delivery threads over N calls"
    )
    parser.add_argument(
        "--no-redact", action="store_true", help="with --profile: no redactor (the floor)"
    )
    parser.add_argument(
        "--stages", type=int, metavar="N", help="CPU per record of each delivery step, N calls"
    )
    parser.add_argument(
        "--guard", action="store_true", help="with --stages: guarded calls' records, by kind"
    )
    parser.add_argument(
        "--peers", action="store_true", help="only the guard against Instructor, more rounds"
    )
    args = parser.parse_args()
    if args.peers:
        print(report_guard(measure_guard()))
        return
    if args.stages:
        workload = "guard" if args.guard else "trace"
        kinds: tuple[str | None, ...] = (None, "llm", "attempt") if args.guard else (None,)
        with tempfile.TemporaryDirectory(prefix="llmguard-stages-") as scratch:
            for kind in kinds:
                for redact in (True, False):
                    costs = stage_costs(args.stages, Path(scratch), redact, workload, kind)
                    line = ", ".join(f"{name} {us:.2f}" for name, us in costs.items())
                    which = f"{kind} records" if kind else "all records"
                    print(f"{which}, redaction {'on' if redact else 'off'}, µs each: {line}")
        return
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="llmguard-profile-") as scratch:
            print(profile_pipeline(args.profile, Path(scratch), redact=not args.no_redact))
        return
    if args.quick:
        result = measure(rounds=3, batch=200, warmup=50, sustained_calls=5_000, burst=20_000)
    else:
        result = measure()
    print(report(result))
    print(
        f"(Python {sys.version.split()[0]}, {os.cpu_count()} cores, pid {os.getpid()},"
        f" {threading.active_count()} threads)"
    )


if __name__ == "__main__":
    main()
