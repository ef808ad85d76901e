"""Counting the work the default redactor does: RE2 calls and the bytes they read.

Time is a poor witness in a shared test run; work counted this way is exact, so a
test can say "eight times the text, at most about eight times the work"."""

from __future__ import annotations

from collections.abc import Iterator
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


@contextmanager
def counting_re2() -> Iterator[list[int]]:
    """DEFAULT compiled afresh with counting regexes: yields [RE2 calls, bytes read]."""
    tally = [0, 0]
    real = _search.compile_regex

    def compile_regex(source: str, capture: bool) -> Any:
        return _Counted(real(source, capture), tally)

    with (
        mock.patch.object(_search, "compile_regex", compile_regex),
        mock.patch.object(_engine, "compile_regex", compile_regex),
        mock.patch.object(_engine, "_RUN_REGEXES", {}),
        mock.patch.object(_search, "_ANCHORED", {}),
        mock.patch.object(DEFAULT, "_compiled", None),
    ):
        yield tally
