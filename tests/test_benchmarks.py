"""Smoke test of the benchmark harness: every measurement runs at tiny sizes.

No figure is checked against a target here -- timings belong to ``benchmarks/run.py``,
never to the test suite. What is checked: each benchmark returns numbers, and writing
RESULTS.md keeps the hand-written part.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import llmguard as lg
from llmguard._spend import tokens as _tokens
from tests.conftest import TIKTOKEN_DATA

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _has(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module", autouse=True)
def _frozen_again() -> Iterator[None]:
    """Keep what tests/conftest.py froze after collection frozen through the module.

    The benchmarks unfreeze every object once they have timed. In their own process
    that is what they froze; in a test worker it is also the whole collected suite,
    which each later collection (the benchmarks collect before every timing) then
    walked again: 6.5 of the module's 13 s of CPU under coverage. What the benchmarks
    freeze meanwhile stays frozen until the module ends.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gc, "unfreeze", lambda: None)
        yield
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="module")
def run() -> Iterator[ModuleType]:
    """``benchmarks/run.py`` imported as a module, its folder on ``sys.path``."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("run")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def tiny(run: ModuleType) -> object:
    """Sizes small enough for the whole harness to take a few seconds."""
    return dataclasses.replace(
        run.QUICK,
        name="tiny",
        trace_rounds=3,
        trace_batch=5,
        trace_long_calls=20,
        guard_rounds=2,
        guard_batch=1,
        guard_warmup=1,
        guard_long_calls=2,
        sink_records=600,
        token_runs=2,
        token_repeat=1,
        import_runs=1,
        memory_records=300,
        cli_records=300,
        workload_rounds=1,
        workload_batch=4,
        workload_warmup=1,
        workload_sustained=20,
        workload_burst=300,
        partial_rounds=1,
        partial_batch=1,
        pricing_rounds=1,
        pricing_batch=2,
        redact_records=10,
        redact_runs=1,
        redact_bytes=8 << 10,
    )


@pytest.fixture(scope="module")
def report(run: ModuleType, tiny: object, tmp_path_factory: pytest.TempPathFactory) -> object:
    """One run of every benchmark at the tiny sizes."""
    # An earlier test may have counted tokens offline, and llmguard remembers that an
    # encoding could not be loaded: forget it, so the token benchmark counts exactly.
    _tokens._reset_cache()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIKTOKEN_CACHE_DIR", str(TIKTOKEN_DATA))
        try:
            return run.run_all(tiny, tmp_path_factory.mktemp("cli"))
        finally:
            _tokens._reset_cache()


def _finite(value: float) -> bool:
    return isinstance(value, float | int) and math.isfinite(value)


def test_every_target_has_a_number_unless_its_peer_is_missing(report: object) -> None:
    """Each target row carries a finite median and range, or names the missing peer."""
    missing = {
        "opentelemetry-sdk missing": not _has("opentelemetry.sdk"),
        "opentelemetry-sdk or its OTLP encoder missing": not _has(
            "opentelemetry.exporter.otlp.proto.common.trace_encoder"
        ),
        "instructor missing": not _has("instructor"),
        "openai missing": not _has("openai"),
    }
    rows = report.rows  # type: ignore[attr-defined]
    assert len(rows) == 27
    for row in rows:
        if row.spread is None:
            assert missing.get(row.note), row
            continue
        assert all(_finite(v) for v in (row.spread.median, row.spread.low, row.spread.high))
        assert row.met in (True, False, None)


def test_peer_comparisons_are_measured(report: object) -> None:
    """With the ``bench`` extra installed, the OpenTelemetry and Instructor rows are numbers."""
    pytest.importorskip("opentelemetry.sdk")
    pytest.importorskip("instructor")
    rows = report.rows  # type: ignore[attr-defined]
    peers = [r for r in rows if "OpenTelemetry" in r.target or "Instructor" in r.target]
    assert len(peers) == 9
    assert all(r.spread is not None and _finite(r.spread.median) for r in peers)


def test_every_detail_is_filled(report: object) -> None:
    """The table of every measurement has a value in each line."""
    details = report.details  # type: ignore[attr-defined]
    assert details
    assert all(bench and what and value for bench, what, value in details)


def test_generated_part_names_machine_and_versions(
    run: ModuleType, report: object, tiny: object
) -> None:
    """The generated part carries the machine, the versions and the marker."""
    text = run.generated(report, tiny, 1.0)
    for expected in ("cores", "RAM", "Python", "llmguard", "pydantic", "tiktoken", run.MARKER):
        assert expected in text
    assert text.rstrip().endswith(run.MARKER)


def test_stalled_sink_drops_and_counts(run: ModuleType) -> None:
    """Under a stalled sink, records past the bounds are dropped and every one is counted."""
    bench_memory = importlib.import_module("bench_memory")
    result = bench_memory.stalled(records=2_000, queue_size=100)
    assert result.dropped_queue + result.dropped_sink > 0
    assert result.delivered == 0
    assert result.accounted
    assert _finite(result.growth_mb)


def test_sink_benchmark_writes_into_a_prefilled_file(run: ModuleType) -> None:
    """With ``prefill``, every sink is measured cold and warm after the earlier records."""
    bench_sinks = importlib.import_module("bench_sinks")
    serialize, results = bench_sinks.measure_all(count=60, rounds=1, prefill=600)
    figures = [*serialize, *(v for r in results.values() for v in [*r.cold, *r.warm])]
    assert len(figures) == 1 + 2 * len(bench_sinks.SINKS)
    assert all(_finite(value) and value > 0 for value in figures)


def test_import_time_line_is_parsed(run: ModuleType) -> None:
    """The cumulative µs of the top-level ``llmguard`` line is read, not a submodule's."""
    bench_import = importlib.import_module("bench_import")
    report = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |   llmguard._version\n"
        "import time:       800 |      91234 | llmguard\n"
    )
    assert bench_import.parse_cumulative_us(report) == 91234
    with pytest.raises(ValueError, match="no import line"):
        bench_import.parse_cumulative_us(report, "pydantic")


def test_write_keeps_the_hand_written_part(run: ModuleType, tmp_path: Path) -> None:
    """Regenerating RESULTS.md replaces only what is above the marker."""
    results = tmp_path / "RESULTS.md"
    results.write_text(f"# old table\n\n{run.MARKER}\n\n## Analysis\n\nWritten by hand.\n")
    run.write_results(results, f"# new table\n\n{run.MARKER}\n")
    run.write_results(results, f"# newer table\n\n{run.MARKER}\n")
    text = results.read_text()
    assert text == f"# newer table\n\n{run.MARKER}\n\n## Analysis\n\nWritten by hand.\n"


def test_write_keeps_a_file_without_marker_whole(run: ModuleType, tmp_path: Path) -> None:
    """A RESULTS.md that has no marker yet ends up, entire, below the generated part."""
    results = tmp_path / "RESULTS.md"
    results.write_text("## Notes\n\nKeep me.\n")
    run.write_results(results, f"# table\n\n{run.MARKER}\n")
    assert results.read_text() == f"# table\n\n{run.MARKER}\n\n## Notes\n\nKeep me.\n"


def test_realistic_workload_measures_every_variant(run: ModuleType) -> None:
    """The realistic workload returns a total and a caller's cost for every variant it ran."""
    bench_workload = importlib.import_module("bench_workload")
    result = bench_workload.measure(
        rounds=1, batch=3, warmup=1, sustained_calls=10, burst=50, sinks=("JSONLSink",)
    )
    assert {"bare function", "@lg.trace"} <= set(result.costs)
    if _has("openai"):
        assert {"bare SDK + validate", "@lg.guard(schema)"} <= set(result.costs)
    for cost in result.costs.values():
        assert all(_finite(v) and v >= 0 for v in [*cost.total, *cost.caller])
    (burst,) = result.bursts
    assert burst.records == 50
    assert burst.dropped == 0
    assert _finite(result.sustained["@lg.trace"].caller_us)
    assert "@lg.trace" in bench_workload.report(result)


def test_workload_content_is_realistic(run: ModuleType) -> None:
    """Conversations are 0.5-4 KB, reproducible, and some carry secrets the redactor finds."""
    bench_workload = importlib.import_module("bench_workload")
    chats = bench_workload.conversations(200)
    assert chats == bench_workload.conversations(200)
    sizes = [sum(len(m["content"]) for m in chat) for chat in chats]
    assert min(sizes) >= 400
    assert max(sizes) <= 4_500
    text = "\n".join(m["content"] for chat in chats for m in chat)
    _, counts = lg.redact.DEFAULT.redact(text)
    assert counts.get("email", 0) > 10
    assert counts.get("phone", 0) > 5


def test_workload_stages_price_every_delivery_step(run: ModuleType, tmp_path: Path) -> None:
    """``--stages``: each step of delivery gets a finite CPU cost per record, for traced
    calls and, by record kind, for guarded ones."""
    bench_workload = importlib.import_module("bench_workload")
    costs = bench_workload.stage_costs(128, tmp_path, redact=True)
    assert costs
    assert all(_finite(us) and us >= 0 for us in costs.values())
    if _has("openai"):
        for kind in ("llm", "attempt"):
            by_kind = bench_workload.stage_costs(64, tmp_path, True, "guard", kind)
            assert by_kind.keys() == costs.keys()
            assert all(_finite(us) and us >= 0 for us in by_kind.values())


@pytest.mark.skipif(not _has("openai"), reason="the guard runs on the OpenAI SDK")
def test_workload_peers_report_the_guards_added_cost(run: ModuleType) -> None:
    """``--peers``: the guard's added total is split into caller and delivery."""
    bench_workload = importlib.import_module("bench_workload")
    costs = bench_workload.measure_guard(rounds=1, batch=4, warmup=1)
    assert {"bare SDK + validate", "@lg.guard(schema)"} <= set(costs)
    text = bench_workload.report_guard(costs)
    assert "@lg.guard(schema) added: total" in text
    assert ("Instructor + @lg.trace" in costs) == _has("instructor")
