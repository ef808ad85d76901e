"""Tests for ``llmguard drift`` (llmguard.cli._drift)."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

import pytest

from llmguard._core.records import Record, Usage
from llmguard.cli import main
from llmguard.cli._dataset import Dataset, Window
from llmguard.cli._drift import Check, Finding, Report, Samples, load, render
from llmguard.cli._significance import Comparison, Sample
from llmguard.sinks import JSONLSink, SQLiteSink

BASELINE = "2026-01-05..2026-01-06"
CURRENT = "2026-01-06..2026-01-07"


def _calls(
    rng: random.Random,
    day: int,
    n: int,
    *,
    name: str = "summarize",
    model: str = "m1",
    failure: float = 0.02,
    limit: float = 0.0,
    retry: float = 0.05,
    slow: float = 0.0,
    output: float = 200.0,
    price: float = 1.0,
    scores: Sequence[float] = (),
    weight: float = 1.0,
) -> list[Record]:
    """``n`` llm calls on 2026-01-``day``, one a second; ``slow`` of them four times slower.

    Every call of a trace whose index is below ``len(scores)`` gets a feedback record.
    """
    records = []
    for i in range(n):
        span = rng.getrandbits(63) | 1
        at = f"2026-01-{day:02d}T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
        ms = rng.lognormvariate(6.7, 0.4) * (4 if rng.random() < slow else 1)
        draw = rng.random()
        status = "error" if draw < failure else "limit" if draw < failure + limit else "ok"
        tokens = max(1, round(rng.gauss(output, output / 5)))
        fields: dict[str, object] = {
            "trace_id": f"{span:032x}",
            "span_id": f"{span:016x}",
            "name": name,
            "kind": "llm",
            "model": model,
            "start": f"{at}.000000Z",
            "end": f"{at}.500000Z",
            "duration_ms": ms,
            "status": status,
            "attempt": {"count": 2 if rng.random() < retry else 1},
            "usage": Usage(input=500, output=tokens),
            "cost_usd": price * (500 * 1e-6 + tokens * 4e-6),
            "sample_weight": weight,
        }
        records.append(Record(**fields))  # type: ignore[arg-type]
        if i < len(scores):
            records.append(
                Record(
                    trace_id=f"{span:032x}",
                    span_id=f"{span + 1:016x}",
                    name="feedback",
                    kind="feedback",
                    start=f"{at}.600000Z",
                    end=f"{at}.600000Z",
                    duration_ms=0.0,
                    metadata={"score": scores[i]},
                )
            )
    return records


def _write(path: Path, records: list[Record]) -> Path:
    sink = SQLiteSink(path) if path.suffix == ".db" else JSONLSink(path)
    sink.emit(records)
    sink.close()
    return path


def _drift(path: Path, *options: str) -> list[str]:
    return ["drift", str(path), "--baseline", BASELINE, "--current", CURRENT, *options]


@pytest.fixture(params=["store.db", "records.jsonl"])
def shifted(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """2,000 calls a day; on the second, failures go from 2 % to 10 % and p95 doubles."""
    rng = random.Random(5)
    return _write(
        tmp_path / request.param,
        _calls(rng, 5, 2000) + _calls(rng, 6, 2000, failure=0.10, slow=0.1),
    )


def test_drift_flags_failure_rate_and_p95_latency(
    shifted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Failures 2 % to 10 % and a doubled p95 are reported, and the exit status is 1."""
    assert main(_drift(shifted)) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "name",
        "metric",
        "baseline",
        "current",
        "change",
        "effect",
        "p-value",
    ]
    rows = {" ".join(line.split()[1:3]): line.split() for line in lines[2:-1]}
    # A tenth of calls four times slower also shifts the whole distribution a little
    # (Cliff's delta about 0.1), so the p50 row may or may not make the floor.
    assert set(rows) - {"latency p50"} == {"failure rate", "latency p95"}
    failure = rows["failure rate"]
    assert failure[:3] == ["summarize", "failure", "rate"]
    assert failure[3:9] == ["1.5%", "11.2%", "+9.7", "pp", "h", "+0.44"]
    assert float(failure[9]) < 1e-20
    tail = rows["latency p95"]
    assert tail[3:9] == ["1.55", "s", "3.56", "s", "+129%", "h"]
    assert lines[-1].startswith(
        f"{len(rows)} of 6 comparisons moved beyond noise (Benjamini-Hochberg"
    )


def test_drift_json_gives_values_effects_and_p_values(
    shifted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json lists the drifted comparisons with their figures; p95 has doubled."""
    assert main([*_drift(shifted), "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["baseline"] == {
        "since": "2026-01-05T00:00:00.000000Z",
        "until": "2026-01-06T00:00:00.000000Z",
    }
    assert (document["alpha"], document["min_effect"], document["min_calls"]) == (0.01, 0.1, 30)
    found = {d["metric"]: d for d in document["drifted"]}
    tail = found["latency p95"]
    assert 1.8 < tail["current"] / tail["baseline"] < 2.4
    assert tail["effect_size"] == "cohen_h"
    assert tail["adjusted_p"] <= 0.01
    failure = found["failure rate"]
    assert (failure["n_baseline"], failure["n_current"]) == (2000, 2000)
    assert failure["baseline"] == pytest.approx(0.02, abs=0.01)
    assert failure["current"] == pytest.approx(0.10, abs=0.015)
    assert document["notes"] == []


def test_drift_is_quiet_on_one_distribution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two days drawn alike print one "no drift" line and exit 0."""
    rng = random.Random(8)
    path = _write(tmp_path / "same.db", _calls(rng, 5, 2000) + _calls(rng, 6, 2000))
    assert main(_drift(path)) == 0
    assert capsys.readouterr().out == (
        "no drift: 6 comparisons, none beyond noise "
        "(Benjamini-Hochberg at alpha 0.01, |effect| >= 0.1)\n"
    )


def test_options_set_the_criteria(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--alpha, --min-effect and --min-calls are applied and named in the summary."""
    rng = random.Random(8)
    path = _write(tmp_path / "same.db", _calls(rng, 5, 40) + _calls(rng, 6, 40))
    assert main(_drift(path, "--alpha", "0.05", "--min-effect", "0.3", "--min-calls", "50")) == 0
    assert capsys.readouterr().out.splitlines() == [
        "no drift: 0 comparisons, none beyond noise "
        "(Benjamini-Hochberg at alpha 0.05, |effect| >= 0.3)",
        "note: summarize: too few calls to compare (40 baseline, 40 current; fewer than 50)",
    ]


def test_every_metric_can_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Retries, limit hits, output length, cost and feedback are compared too."""
    rng = random.Random(9)
    records = _calls(rng, 5, 600, limit=0.01, scores=[1.0] * 150 + [0.0] * 50) + _calls(
        rng,
        6,
        600,
        failure=0.1,
        limit=0.08,
        retry=0.2,
        slow=1.0,
        output=400,
        price=3.0,
        scores=[1.0] * 80 + [0.0] * 120,
    )
    path = _write(tmp_path / "all.db", records)
    assert main(_drift(path, "--json")) == 1
    document = json.loads(capsys.readouterr().out)
    assert [d["metric"] for d in document["drifted"]] == [
        "failure rate",
        "retry rate",
        "limit-hit rate",
        "latency p50",
        "latency p95",
        "output tokens",
        "cost per call",
        "feedback",
    ]
    feedback = document["drifted"][-1]
    assert (feedback["baseline"], feedback["current"]) == (0.75, 0.4)
    assert feedback["effect_size"] == "cliffs_delta"
    assert feedback["effect"] < 0


def test_drift_groups_by_model_and_notes_one_sided_groups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the model that changed is reported; groups in one window or too small are notes."""
    rng = random.Random(10)
    records = (
        _calls(rng, 5, 500, model="m1")
        + _calls(rng, 5, 500, model="m2")
        + _calls(rng, 5, 100, model="old")
        + _calls(rng, 5, 10, model="rare")
        + _calls(rng, 6, 500, model="m1", failure=0.15)
        + _calls(rng, 6, 500, model="m2")
        + _calls(rng, 6, 100, model="new")
        + _calls(rng, 6, 500, model="rare")
    )
    path = _write(tmp_path / "models.db", records)
    assert main(_drift(path, "--by", "model")) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("model  metric")
    assert [line.split()[:3] for line in lines[2:-4]] == [["m1", "failure", "rate"]]
    assert lines[-3:] == [
        "note: new: only in the current window",
        "note: old: only in the baseline window",
        "note: rare: too few calls to compare (10 baseline, 500 current; fewer than 30)",
    ]


def test_min_effect_silences_a_tiny_but_significant_change() -> None:
    """2.0 % to 2.3 % over 100,000 calls a side is significant but below the effect floor."""
    rng = random.Random(12)

    def calls(rate: float) -> dict[str, Sample]:
        return {"error": [(rng.random() < rate, 1.0) for _ in range(100_000)]}

    baseline: Samples = {("a",): calls(0.020)}
    current: Samples = {("a",): calls(0.023)}
    (finding,) = Check()(baseline, current).findings
    assert finding.comparison.p_value < 0.01
    assert abs(finding.comparison.effect) < 0.1
    assert not finding.drifted
    assert Check(min_effect=0.0)(baseline, current).drifted == [
        dataclasses.replace(finding, drifted=True)
    ]


def _samples(rng: random.Random, groups: int, n: int) -> dict[tuple[str, ...], dict[str, Sample]]:
    """What `load` returns for ``groups`` groups of ``n`` calls, all from one distribution."""
    out: dict[tuple[str, ...], dict[str, Sample]] = {}
    for group in range(groups):
        statuses = [rng.random() for _ in range(n)]
        tokens = sorted((round(rng.gauss(200, 40)), 1.0) for _ in range(n))
        out[(f"g{group}",)] = {
            "error": sorted((s < 0.02, 1.0) for s in statuses),
            "limit": sorted((0.02 <= s < 0.03, 1.0) for s in statuses),
            "retries": sorted((int(rng.random() < 0.05), 1.0) for _ in range(n)),
            "duration_ms": sorted((rng.lognormvariate(6.7, 0.4), 1.0) for _ in range(n)),
            "output_tokens": tokens,
            "cost_usd": sorted((500e-6 + t * 4e-6, w) for t, w in tokens),
            "feedback": sorted((float(rng.random() < 0.7), 1.0) for _ in range(n // 4)),
        }
    return out


Pairs: TypeAlias = list[tuple[Samples, Samples]]

# The null runs of the calibration tests. In the first 100 seeds a Benjamini-Hochberg
# correction left out alarms in 76 % of the runs, and one halved (alpha doubled) in 6 %,
# past the 5 % bound, as in all 200 (77.5 % and 7 %); LLMGUARD_SOAK=1 runs the 200 whose
# rates docs/cli.md quotes.
SEEDS = 200 if os.environ.get("LLMGUARD_SOAK") == "1" else 100


@pytest.fixture(scope="module")
def null_pairs() -> Pairs:
    """SEEDS seeds of two windows drawn from one distribution, two groups of 400 calls each."""
    pairs: Pairs = []
    for seed in range(SEEDS):
        rng = random.Random(seed)
        pairs.append((_samples(rng, 2, 400), _samples(rng, 2, 400)))
    return pairs


def _false_alarms(check: Check, pairs: Pairs) -> float:
    return sum(bool(check(a, b).drifted) for a, b in pairs) / len(pairs)


def test_false_alarms_over_the_seeds_stay_below_alpha(null_pairs: Pairs) -> None:
    """With the defaults (alpha 0.01, |effect| >= 0.1), 1 run in 200 alarms: 0.5 % (none
    of the first 100)."""
    assert _false_alarms(Check(), null_pairs) <= 0.01


def test_benjamini_hochberg_alone_keeps_false_alarms_at_alpha(null_pairs: Pairs) -> None:
    """With no effect floor and alpha 0.05, 3.0 % of 200 runs of 16 comparisons alarm
    (of the first 100 as well).

    Uncorrected, 39.5 % of these runs have a comparison with p <= 0.05.
    """
    assert _false_alarms(Check(alpha=0.05, min_effect=0.0), null_pairs) <= 0.05


def test_load_reads_every_metric_per_group(tmp_path: Path) -> None:
    """`load` gives each group its calls' metrics and its traces' feedback scores."""
    rng = random.Random(13)
    path = _write(tmp_path / "one.db", _calls(rng, 5, 40, scores=[1.0, 0.5]))
    with Dataset.open(path) as dataset:
        samples = load(dataset, "name", Window.parse_range(BASELINE))
    assert set(samples) == {("summarize",)}
    metrics = samples[("summarize",)]
    assert {k: len(v) for k, v in metrics.items()} == {
        "error": 40,
        "limit": 40,
        "retries": 40,
        "duration_ms": 40,
        "output_tokens": 40,
        "cost_usd": 40,
        "feedback": 2,
    }
    assert sorted(metrics["feedback"]) == [(0.5, 1.0), (1.0, 1.0)]


def test_sampled_current_window_is_weighted_not_alarmed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Keeping all failures and a fifth of successes (weight 5) does not look like drift."""
    rng = random.Random(14)
    current = [r for r in _calls(rng, 6, 5000) if r.status != "ok" or rng.random() < 0.2]
    current = [
        r if r.status != "ok" else dataclasses.replace(r, sample_weight=5.0) for r in current
    ]
    path = _write(tmp_path / "sampled.db", _calls(rng, 5, 5000) + current)
    assert main(_drift(path)) == 0
    assert capsys.readouterr().out.startswith("no drift")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ((), "no such file"),
        (("--baseline", "2026-01.."), "--baseline: not an ISO 8601 date or time: '2026-01'"),
        (("--current", "foo..bar"), "--current: not an ISO 8601 date or time: 'foo'"),
        (("--current", "2026-01-06"), "--current: a range is START..END"),
        (("--current", "2026-01-07..2026-01-06"), "--current: empty time range"),
        (("--current", "2026-03-01..2026-03-02"), "no calls in"),
        (("--current", "2026-01-05T12..2026-01-07"), "windows overlap"),
        (("--alpha", "2"), "argument --alpha: must be between 0 and 1, not 2"),
        (("--min-calls", "lots"), "argument --min-calls: not a number: 'lots'"),
        (("--min-calls", "1"), "argument --min-calls: must be 2 or more, not 1"),
        (("--min-effect", "-1"), "argument --min-effect: must be 0 or more, not -1"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    options: tuple[str, ...],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A missing file, a malformed or empty window, a bad option: one line, status 2."""
    rng = random.Random(15)
    path = _write(tmp_path / "s.db", _calls(rng, 5, 40) + _calls(rng, 6, 40))
    if not options:
        path = tmp_path / "missing.db"
    argv = _drift(path)
    for flag, value in zip(options[::2], options[1::2], strict=True):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert message in captured.err
    assert "Traceback" not in captured.err


def test_a_corrupt_line_in_the_middle_is_skipped_with_one_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A torn record mid-file (a hard kill, then a restart) is skipped, and said so."""
    rng = random.Random(16)
    lines = [r.to_json().decode() for r in _calls(rng, 5, 40) + _calls(rng, 6, 40)]
    lines.insert(30, '{"trace_id": "cut')
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert main([*_drift(path), "--json"]) in (0, 1)
    captured = capsys.readouterr()
    assert captured.err == (
        f"llmguard: warning: {path}: skipped 1 line(s) holding no record "
        "(torn by a hard kill?): line 31\n"
    )
    assert json.loads(captured.out)


def test_a_file_that_is_not_records_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An SQLite file that is not an llmguard store is reported, status 2."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    assert main(_drift(path)) == 2
    assert "not an llmguard store" in capsys.readouterr().err


def test_render_marks_missing_values_and_underflowing_p_values() -> None:
    """A figure that cannot be computed shows as "-", a p-value below 1e-300 as "<1e-300"."""
    finding = Finding(
        group=("a",),
        metric="output tokens",
        baseline=None,
        current=250.0,
        change="-",
        sizes=(40, 40),
        comparison=Comparison(statistic=40.0, p_value=0.0, effect=0.9),
        effect_name="δ",
        adjusted_p=0.0,
        drifted=True,
    )
    scores = dataclasses.replace(finding, metric="feedback", current=None)
    lines = render("name", Report([finding, scores], []), Check()).splitlines()
    assert lines[2].split() == ["a", "output", "tokens", "-", "250.0", "-", "δ", "+0.90", "<1e-300"]
    assert lines[3].split() == ["a", "feedback", "-", "-", "-", "δ", "+0.90", "<1e-300"]
