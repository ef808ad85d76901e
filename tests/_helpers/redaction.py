"""Counting the work the default redactor does: RE2 calls and the bytes they read.

Time is a poor witness in a shared test run; work counted this way is exact, so a
test can say "eight times the text, at most about eight times the work". It is blind to
a search that reads past the match it returns (RE2 reads on while a longer match may
still come): such a read counts as the match's length alone, so linear-time tests keep a
timed check beside the count."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from llmguard.redact import DEFAULT, _engine, _search


class _Counted:
    """An RE2 regex that tallies its calls and the bytes each one reads."""

    def __init__(self, regex: Any, tally: list[int]) -> None:
        self._regex = regex
        self._tally = tally

    def Match(self, anchor: Any, data: Any, pos: int, endpos: int) -> Any:
        spans = self._regex.Match(anchor, data, pos, endpos)
        start, end = spans[0]
        self._tally[0] += 1
        # A match is read up to its end; an unanchored search that finds nothing reads
        # to the end of its range. An anchored one that finds nothing stops where no
        # match can go on, which this does not see: it counts as a call.
        if start >= 0:
            self._tally[1] += end - pos
        elif anchor == _search.RE2.unanchored:
            self._tally[1] += endpos - pos
        return spans

    def __getattr__(self, name: str) -> Any:
        return getattr(self._regex, name)


_COMPILED: dict[tuple[str, bool], Any] = {}  # RE2 regexes by source and capture


@contextmanager
def counting_re2() -> Iterator[list[int]]:
    """DEFAULT compiled afresh with counting regexes: yields [RE2 calls, bytes read]."""
    tally = [0, 0]
    real = _search.compile_regex

    def compile_regex(source: str, capture: bool) -> Any:
        # RE2 compiles each source once for the whole run (it answers alike however
        # often it is asked); each engine built here counts into its own tally.
        regex = _COMPILED.get((source, capture))
        if regex is None:
            regex = _COMPILED[source, capture] = real(source, capture)
        return _Counted(regex, tally)

    with (
        mock.patch.object(_search, "compile_regex", compile_regex),
        mock.patch.object(_engine, "compile_regex", compile_regex),
        mock.patch.object(_engine, "_RUN_REGEXES", {}),
        mock.patch.object(_search, "_ANCHORED", {}),
        mock.patch.object(_search, "_PARTS", {}),
        mock.patch.object(DEFAULT, "_compiled", None),
    ):
        yield tally


def work(redact: Callable[[], object]) -> list[int]:
    """The RE2 calls and bytes read of ``redact()`` under `counting_re2`."""
    with counting_re2() as tally:
        redact()
    return tally


def assert_linear_work(unit: str, size: int, head: str = "") -> None:
    """``head`` then ``unit`` repeated over ``size`` characters, then over eight times that:
    at most about eight times the RE2 calls and bytes read.

    Both texts end with the same ``size`` characters, since how a text ends may cost one
    more pass over a value as long as the text (glued phone numbers ending in a lone
    ``+``). A text read once a value (quadratic) reads some 60 times the bytes at eight
    times the text, far past the bound; more text adds no power, only time.
    """
    tail = (unit * (size // len(unit) + 1))[:size]
    small = work(lambda: DEFAULT.redact(head + tail))
    large = work(lambda: DEFAULT.redact(head + unit * (7 * size // len(unit)) + tail))
    assert large[0] <= 9 * small[0] + 64, f"RE2 calls {small[0]} then {large[0]}"
    assert large[1] <= 9 * small[1] + 2 * size, f"bytes read {small[1]} then {large[1]}"


def least_seconds(redact: Callable[[], object], runs: int = 3) -> float:
    """The least process CPU time of ``redact()`` over ``runs`` runs: for the timed checks
    RE2's work counter cannot stand in for (a DFA that never settles, a search reading
    past the match it returns)."""
    best = float("inf")
    for _ in range(runs):
        began = time.process_time()
        redact()
        best = min(best, time.process_time() - began)
    return best
