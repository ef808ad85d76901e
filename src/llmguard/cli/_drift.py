"""``llmguard drift``: what moved between a baseline window and a current one, beyond noise.

Per group of calls, eight comparisons: failure, retry and limit-hit rates
(two-proportion z-tests), latency as a whole (Mann-Whitney U, shown as p50) and its
tail (a test at the pooled p95), output tokens, cost per call and feedback scores
(Mann-Whitney U). A change is reported when it passes Benjamini-Hochberg over every
comparison of the run *and* its effect size reaches a floor, so neither many groups
nor huge samples turn noise or trivia into alarms. The statistics are in
`llmguard.cli._significance`.
"""

from __future__ import annotations

import argparse
import itertools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypeVar

import llmguard.cli._format as fmt
from llmguard.cli._args import Subparsers, add_path, opened
from llmguard.cli._dataset import Dataset, DatasetError, Window
from llmguard.cli._errors import EXIT_DRIFT, EXIT_OK, CommandError
from llmguard.cli._quantiles import (
    Columns,
    counted_quantiles,
    signed_zeros,
    weighted_quantile,
    weighted_quantiles,
)
from llmguard.cli._significance import (
    Comparison,
    Ordered,
    Sample,
    benjamini_hochberg,
    compare_rates_of,
    mann_whitney_of,
    quantile_test_of,
)

__all__ = [
    "Check",
    "Finding",
    "Report",
    "Samples",
    "add_parser",
    "load",
    "load_by",
    "render",
    "run",
    "show_p",
    "show_value",
]

_BY = ("name", "prompt", "model")
_VALUES: tuple[
    Literal["error", "limit", "retries", "duration_ms", "output_tokens", "cost_usd"], ...
] = ("error", "limit", "retries", "duration_ms", "output_tokens", "cost_usd")

# The rates' samples: `compare_rates` and `_rate` only count and add them up (math.fsum,
# exact in any order), so they are left in the order read instead of sorted.
_ADDED_UP: tuple[Literal["error", "limit", "retries"], ...] = ("error", "limit", "retries")

_N = TypeVar("_N", int, float)

Samples: TypeAlias = Mapping[tuple[str, ...], Mapping[str, Sample]]
"""Per group, per source (a `Dataset.values` metric or ``"feedback"``), the observations."""


@dataclass(frozen=True, slots=True)
class _Metric:
    label: str
    source: str
    test: Callable[[Ordered, Ordered], Comparison | None]
    summary: Callable[[Sample], float | None]
    show: Callable[[float | None], str]
    change: Callable[[float, float], str]
    effect: Literal["h", "δ"]
    # `summary` of a sample already read, the same figure; None for a quantile.
    figure: Callable[[Ordered], float | None] | None = None
    # The quantile `summary` gives, for a metric summed up by one (`Check` finds the
    # quantiles of a sample together).
    quantile: float | None = None


# A sample's values and weights, read in C rather than by a generator (same numbers).
_VALUE = operator.itemgetter(0)
_WEIGHT = operator.itemgetter(1)


def _rate(sample: Sample) -> float | None:
    total = math.fsum(map(_WEIGHT, sample))
    hits = itertools.compress(map(_WEIGHT, sample), map(_VALUE, sample))
    return math.fsum(hits) / total if total > 0 else None


def _mean(sample: Sample) -> float | None:
    total = math.fsum(map(_WEIGHT, sample))
    products = map(operator.mul, map(_VALUE, sample), map(_WEIGHT, sample))
    return math.fsum(products) / total if total > 0 else None


def _quantile(q: float) -> Callable[[Sample], float | None]:
    return lambda sample: weighted_quantile(sorted(sample), q)


def _out_of_range(*samples: Sample) -> bool:
    """Whether a weight of these samples, or their total, squares to zero or infinity."""
    for sample in samples:
        total = math.fsum(map(_WEIGHT, sample))
        for weight in (total, min(map(_WEIGHT, sample), default=1.0)):
            square = weight * weight
            if weight and (square == 0 or math.isinf(square)):
                return True
    return False


def _rates(baseline: Ordered, current: Ordered) -> Comparison | None:
    return compare_rates_of(baseline, current)


def _ranks(baseline: Ordered, current: Ordered) -> Comparison | None:
    return mann_whitney_of(baseline, current)


def _tail(baseline: Ordered, current: Ordered) -> Comparison | None:
    return quantile_test_of(baseline, current, 0.95)


def _points(a: float, b: float) -> str:
    return f"{(b - a) * 100:+.1f} pp"


def _relative(a: float, b: float) -> str:
    return f"{(b / a - 1) * 100:+.0f}%" if a else "-"


def _difference(a: float, b: float) -> str:
    return f"{b - a:+.2f}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


_METRICS = (
    _Metric("failure rate", "error", _rates, _rate, fmt.percent, _points, "h", Ordered.rate),
    _Metric("retry rate", "retries", _rates, _rate, fmt.percent, _points, "h", Ordered.rate),
    _Metric("limit-hit rate", "limit", _rates, _rate, fmt.percent, _points, "h", Ordered.rate),
    _Metric(
        "latency p50",
        "duration_ms",
        _ranks,
        _quantile(0.5),
        fmt.duration,
        _relative,
        "δ",
        quantile=0.5,
    ),
    _Metric(
        "latency p95",
        "duration_ms",
        _tail,
        _quantile(0.95),
        fmt.duration,
        _relative,
        "h",
        quantile=0.95,
    ),
    _Metric("output tokens", "output_tokens", _ranks, _mean, _number, _relative, "δ", Ordered.mean),
    _Metric("cost per call", "cost_usd", _ranks, _mean, fmt.money, _relative, "δ", Ordered.mean),
    _Metric("feedback", "feedback", _ranks, _mean, _score, _difference, "δ", Ordered.mean),
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One comparison of one metric of one group.

    Attributes:
        group: The group's key.
        metric: What was compared, e.g. ``"failure rate"``.
        baseline: The metric's value in the baseline window (a rate, a mean, a quantile).
        current: The same in the current window.
        change: The change as printed (points for rates, percent for amounts).
        sizes: Observations on each side, baseline first.
        comparison: The test's outcome.
        effect_name: ``"h"`` (Cohen's h) or ``"δ"`` (Cliff's delta).
        adjusted_p: The Benjamini-Hochberg adjusted p-value over the whole run.
        drifted: Whether this is reported as a change.
    """

    group: tuple[str, ...]
    metric: str
    baseline: float | None
    current: float | None
    change: str
    sizes: tuple[int, int]
    comparison: Comparison
    effect_name: str
    adjusted_p: float
    drifted: bool

    def as_dict(self) -> dict[str, object]:
        """The finding as JSON-ready data."""
        return {
            "group": list(self.group),
            "metric": self.metric,
            "baseline": self.baseline,
            "current": self.current,
            "change": self.change,
            "n_baseline": self.sizes[0],
            "n_current": self.sizes[1],
            "effect_size": "cohen_h" if self.effect_name == "h" else "cliffs_delta",
            "effect": self.comparison.effect,
            "z": self.comparison.statistic,
            "p_value": self.comparison.p_value,
            "adjusted_p": self.adjusted_p,
            "drifted": self.drifted,
        }


@dataclass(frozen=True, slots=True)
class Report:
    """What a drift check found: every comparison made, and notes on what was not compared."""

    findings: list[Finding]
    notes: list[str]

    @property
    def drifted(self) -> list[Finding]:
        """The comparisons that moved beyond noise."""
        return [f for f in self.findings if f.drifted]


class Check:
    """Compares two windows' samples, group by group; configure once, call per pair.

    Args:
        alpha: False discovery rate for Benjamini-Hochberg over every comparison of a
            call; with nothing changed, the chance of any alarm.
        min_effect: Smallest absolute effect size (Cohen's h, Cliff's delta) reported.
        min_calls: Fewest observations on each side for a comparison to be made.
    """

    def __init__(self, alpha: float = 0.01, min_effect: float = 0.1, min_calls: int = 30) -> None:
        self.alpha = alpha
        self.min_effect = min_effect
        self.min_calls = min_calls

    def __call__(self, baseline: Samples, current: Samples) -> Report:
        """Compare ``current`` with ``baseline``."""
        notes: list[str] = []
        made: list[tuple[tuple[str, ...], _Metric, tuple[int, int], Comparison, _Figures]] = []
        for key in sorted(baseline.keys() | current.keys()):
            label = "/".join(key)
            if key not in current:
                notes.append(f"{label}: only in the baseline window")
                continue
            if key not in baseline:
                notes.append(f"{label}: only in the current window")
                continue
            calls = (_calls(baseline[key]), _calls(current[key]))
            if min(calls) < self.min_calls:
                notes.append(
                    f"{label}: too few calls to compare ({calls[0]} baseline, {calls[1]} "
                    f"current; fewer than {self.min_calls})"
                )
                continue
            # The group's samples are read (sorted, split by weight) once for every test
            # and figure asked of them, and let go with the group.
            summary = _Summaries()
            for metric in _METRICS:
                a = baseline[key].get(metric.source, ())
                b = current[key].get(metric.source, ())
                if min(len(a), len(b)) < self.min_calls:
                    continue
                try:
                    comparison = metric.test(summary.ordered(a), summary.ordered(b))
                except ArithmeticError:
                    # Sample weights a hand-made file may hold (1e-300, 1e300) square to
                    # zero or infinity: the test has no answer, which is said, not raised.
                    comparison = None
                if comparison is not None and not math.isfinite(comparison.p_value):
                    comparison = None
                if comparison is None and _out_of_range(a, b):
                    notes.append(
                        f"{label}: {metric.label} not compared (sample weights too small or "
                        "too large to square)"
                    )
                if comparison is not None:
                    figures = (summary(metric, a), summary(metric, b))
                    made.append((key, metric, (len(a), len(b)), comparison, figures))
        adjusted = benjamini_hochberg([c.p_value for *_, c, _ in made])
        findings = []
        for (key, metric, sizes, comparison, (before, after)), q in zip(
            made, adjusted, strict=True
        ):
            findings.append(
                Finding(
                    group=key,
                    metric=metric.label,
                    baseline=before,
                    current=after,
                    change="-" if before is None or after is None else metric.change(before, after),
                    sizes=sizes,
                    comparison=comparison,
                    effect_name=metric.effect,
                    adjusted_p=q,
                    drifted=q <= self.alpha and abs(comparison.effect) >= self.min_effect,
                )
            )
        return Report(findings, notes)


# A metric's figure in the baseline window and in the current one.
_Figures: TypeAlias = tuple[float | None, float | None]

# The quantiles of `_METRICS`, found together for a sample.
_QUANTILES = tuple(metric.quantile for metric in _METRICS if metric.quantile is not None)


class _Summaries:
    """`_Metric.summary` of samples, each sample read once (`Ordered`) for its tests and
    its figures, and its quantiles found together (the same figures: with whole-number
    weights `counted_quantiles` gives what the walk over sorted pairs gives, and
    `weighted_quantiles` walks one running total for several quantiles as for one)."""

    def __init__(self) -> None:
        # id(sample) -> the sample read (which holds the sample, so the id stays its own).
        self._read: dict[int, Ordered] = {}
        self._quantiles: dict[int, tuple[float | None, ...]] = {}

    def ordered(self, sample: Sample) -> Ordered:
        """The sample, read once."""
        kept = self._read.get(id(sample))
        if kept is None or kept.sample is not sample:
            kept = self._read[id(sample)] = Ordered(sample)
            self._quantiles.pop(id(sample), None)
        return kept

    def __call__(self, metric: _Metric, sample: Sample) -> float | None:
        if metric.figure is not None:
            return metric.figure(self.ordered(sample))
        if metric.quantile is None:
            return metric.summary(sample)
        ordered = self.ordered(sample)
        found = self._quantiles.get(id(sample))
        if found is None:
            found = self._quantiles[id(sample)] = _quantiles_of(ordered)
        return found[_QUANTILES.index(metric.quantile)]


def _quantiles_of(ordered: Ordered) -> tuple[float | None, ...]:
    """`_QUANTILES` of a sample: by bisection over its values per weight when every
    weight is whole and every value a float (equal floats print alike, but for 0.0 and
    -0.0, which the walk meets in the order of the pairs), else by the walk."""
    runs = ordered.runs()
    if runs is not None and not signed_zeros(runs):
        values, _ = ordered.columns()
        if all(map(operator.is_, map(type, values), itertools.repeat(float))):
            return counted_quantiles(runs, _QUANTILES)
    return weighted_quantiles(sorted(ordered.sample), _QUANTILES)


def _calls(samples: Mapping[str, Sample]) -> int:
    # Every call has a status, so the largest sample is the number of calls.
    return max(map(len, samples.values()), default=0)


def load(dataset: Dataset, by: str, window: Window) -> dict[tuple[str, ...], dict[str, Sample]]:
    """The samples `Check` compares: every metric of every call in ``window``, per group."""
    return load_by(dataset, (by,), window)[0]


def load_by(
    dataset: Dataset, groupings: Sequence[str], window: Window
) -> list[dict[tuple[str, ...], dict[str, Sample]]]:
    """`load` for each grouping, from one read of the calls."""
    keys = [(by,) for by in groupings]
    # Read as columns, so that no (value, weight) pair is made: `Ordered` takes the
    # sorted columns as they come.
    found_by = dataset.columns_by(_VALUES, keys, window, any_order=_ADDED_UP)
    scores_by = dataset.feedback_scores_by(keys, window)
    loaded = []
    for found, scores_of in zip(found_by, scores_by, strict=True):
        samples: dict[tuple[str, ...], dict[str, Sample]] = {}
        for key, columns_of in found.items():
            samples[key] = {str(metric): columns for metric, columns in columns_of.items()}
        for key, scores in scores_of.items():
            samples.setdefault(key, {})["feedback"] = Columns(
                scores, [1.0] * len(scores), ordered=False
            )
        loaded.append(samples)
    return loaded


def add_parser(commands: Subparsers) -> None:
    """Register ``drift``."""
    parser = commands.add_parser(
        "drift",
        help="what changed between two time windows, beyond noise (exit 1 if anything did)",
        description=(
            "Compare a current window of calls with a baseline window, per group: failure, "
            "retry and limit-hit rates (two-proportion z-test, effect size Cohen's h), "
            "latency, output tokens, cost per call and feedback (Mann-Whitney U, effect "
            "size Cliff's delta δ), and the latency tail (test at the pooled p95, Cohen's "
            "h). Prints only what moved: significant after Benjamini-Hochberg over all "
            "comparisons and at least --min-effect in size. Exit status 1 when something "
            "drifted, 0 when nothing did, 2 on errors."
        ),
    )
    add_path(parser)
    parser.add_argument(
        "--baseline", metavar="A..B", required=True, help="the reference window, START..END"
    )
    parser.add_argument(
        "--current", metavar="C..D", required=True, help="the window to check, START..END"
    )
    parser.add_argument("--by", choices=_BY, default="name", help="how to group (default: name)")
    parser.add_argument(
        "--alpha",
        type=_fraction,
        default=0.01,
        help="false discovery rate over all comparisons of the run (default: 0.01)",
    )
    parser.add_argument(
        "--min-effect",
        type=_non_negative,
        default=0.1,
        metavar="E",
        help="smallest |effect size| to report, Cohen's h or Cliff's delta (default: 0.1)",
    )
    parser.add_argument(
        "--min-calls",
        type=_at_least_two,
        default=30,
        metavar="N",
        help="compare a metric only with N observations on each side (default: 30)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def _fraction(text: str) -> float:
    value = _parse(float, text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _non_negative(text: str) -> float:
    value = _parse(float, text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _at_least_two(text: str) -> int:
    value = _parse(int, text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be 2 or more, not {text}")
    return value


def _parse(kind: Callable[[str], _N], text: str) -> _N:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """Print what drifted; exit status 1 when anything did."""
    before = _range("--baseline", args.baseline)
    after = _range("--current", args.current)
    if _overlap(before, after):
        raise CommandError(f"the baseline ({before}) and current ({after}) windows overlap")
    with opened(args.path) as dataset:
        # Which groups the scored traces' calls fall in is found on the store's second
        # connection while this thread reads the calls of each window.
        for span in (before, after):
            dataset.prefetch_feedback([(args.by,)], span)
        samples = []
        for name, span in (("baseline", before), ("current", after)):
            found = load(dataset, args.by, span)
            if not found:
                raise CommandError(f"no calls in {args.path} in the {name} window ({span})")
            samples.append(found)
    check = Check(args.alpha, args.min_effect, args.min_calls)
    report = check(samples[0], samples[1])
    if args.json:
        document = {
            "path": args.path,
            "by": args.by,
            "baseline": {"since": before.since, "until": before.until},
            "current": {"since": after.since, "until": after.until},
            "alpha": check.alpha,
            "min_effect": check.min_effect,
            "min_calls": check.min_calls,
            "comparisons": len(report.findings),
            "drifted": [f.as_dict() for f in report.drifted],
            "notes": report.notes,
        }
        fmt.dump_json(document)
    else:
        fmt.echo(render(args.by, report, check))
    return EXIT_DRIFT if report.drifted else EXIT_OK


def _range(option: str, text: str) -> Window:
    try:
        return Window.parse_range(text)
    except DatasetError as exc:
        raise CommandError(f"{option}: {exc}") from None


def _overlap(a: Window, b: Window) -> bool:
    # Bounds are ISO strings in one format, so they compare as times; None is unbounded.
    a_before_b = a.until is not None and b.since is not None and a.until <= b.since
    b_before_a = b.until is not None and a.since is not None and b.until <= a.since
    return not (a_before_b or b_before_a)


def render(by: str, report: Report, check: Check) -> str:
    """The changes as a table and a summary line, or one ``no drift`` line; then the notes."""
    drifted = report.drifted
    criteria = f"Benjamini-Hochberg at alpha {check.alpha:g}, |effect| >= {check.min_effect:g}"
    if drifted:
        rows = [
            [
                "/".join(f.group),
                f.metric,
                show_value(f.metric, f.baseline),
                show_value(f.metric, f.current),
                f.change,
                f"{f.effect_name} {f.comparison.effect:+.2f}",
                show_p(f.comparison.p_value),
            ]
            for f in drifted
        ]
        header = (by, "metric", "baseline", "current", "change", "effect", "p-value")
        lines = [
            fmt.table(header, rows, left=2),
            f"{len(drifted)} of {len(report.findings)} comparisons moved beyond noise ({criteria})",
        ]
    else:
        lines = [f"no drift: {len(report.findings)} comparisons, none beyond noise ({criteria})"]
    lines.extend(f"note: {fmt.escaped(note)}" for note in report.notes)
    return "\n".join(lines)


_SHOW = {metric.label: metric.show for metric in _METRICS}


def show_value(metric: str, value: float | None) -> str:
    """A baseline or current figure of ``metric`` as the tables show it."""
    return _SHOW[metric](value)


def show_p(p: float) -> str:
    """A p-value to three decimals, in scientific notation below 0.001."""
    if p == 0:
        # Past about 38 standard deviations the tail is below the smallest double.
        return "<1e-300"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"
