"""The report's drift section: what ``llmguard drift`` finds in the current window."""

from __future__ import annotations

from datetime import timedelta
from html import escape

from llmguard.cli._dataset import Dataset
from llmguard.cli._drift import Check, Report, load, show_p, show_value
from llmguard.cli._report_tables import html_table
from llmguard.cli._report_time import parse_time, when
from llmguard.cli._significance import Sample
from llmguard.cli._window import Window

_DRIFT_BASELINE = timedelta(days=7)


def drift_section(
    dataset: Dataset,
    span: Window,
    last: str,
    baseline: Window | None,
    current: Window | None,
) -> str:
    """What `llmguard drift` reports for the current window, by function and prompt."""
    if current is None:
        day = parse_time(last).date()
        current = Window.parse(day.isoformat(), (day + timedelta(days=1)).isoformat())
    if baseline is None:
        end = parse_time(current.since or last)
        baseline = Window.parse((end - _DRIFT_BASELINE).isoformat(), end.isoformat())
    before, after = _clip(baseline, span), _clip(current, span)
    samples: list[dict[tuple[str, ...], dict[str, Sample]]] = []
    for part in (before, after):
        merged: dict[tuple[str, ...], dict[str, Sample]] = {}
        for by, label in (("name", "function"), ("prompt", "prompt")):
            for key, found in load(dataset, by, part).items():
                group = (label, *key)
                if key != ("-",):
                    merged[group] = found
        samples.append(merged)
    check = Check()
    report = check(samples[0], samples[1])
    return _drift_html(report, check, before, after)


def _clip(part: Window, span: Window) -> Window:
    since = max((b for b in (part.since, span.since) if b is not None), default=None)
    until = min((b for b in (part.until, span.until) if b is not None), default=None)
    if since is not None and until is not None and until < since:
        until = since
    return Window(since, until)


def _drift_html(report: Report, check: Check, before: Window, after: Window) -> str:
    criteria = (
        f"a change is shown when significant after Benjamini-Hochberg at alpha "
        f"{check.alpha:g} and |effect| ≥ {check.min_effect:g}; groups need "
        f"{check.min_calls} calls a side"
    )
    heading = (
        f'<h2>Drift</h2><p class="note">Current window {escape(_span_text(after))} against '
        f"the baseline {escape(_span_text(before))}; {escape(criteria)}.</p>"
    )
    drifted = report.drifted
    if drifted:
        rows = [
            [
                f.group[0],
                "/".join(f.group[1:]),
                f.metric,
                show_value(f.metric, f.baseline),
                show_value(f.metric, f.current),
                f.change,
                f"{f.effect_name} {f.comparison.effect:+.2f}",
                show_p(f.adjusted_p),
            ]
            for f in drifted
        ]
        header = ("by", "group", "metric", "baseline", "current", "change", "effect", "adj. p")
        body = html_table(header, rows, left=3)
    elif report.findings:
        body = (
            f'<p class="ok">No drift: none of the {len(report.findings)} comparisons moved '
            "beyond noise.</p>"
        )
    else:
        body = '<p class="note">Nothing compared: no group has enough calls in both windows.</p>'
    notes = ""
    if report.notes:
        items = "".join(f"<li>{escape(note)}</li>" for note in report.notes)
        notes = (
            f"<details><summary>{len(report.notes)} groups not compared</summary>"
            f"<ul>{items}</ul></details>"
        )
    return f'<section class="drift">{heading}{body}{notes}</section>'


def _span_text(part: Window) -> str:
    since = when(part.since) if part.since else "…"
    until = when(part.until) if part.until else "…"
    return f"{since} to {until}"
