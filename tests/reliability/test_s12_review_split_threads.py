"""Concurrent scans share the split search's compiled parts and each has its own memo.

Eight threads redact the same mixed texts with one redactor (compiled by whichever
thread comes first, as `DEFAULT` is), each in its own order: every answer must be the
one a single thread gets. A memo shared between scans, or a part's answer kept across
texts, would hand one text's positions to another.
"""

from __future__ import annotations

import random
import threading
from unittest import mock

from llmguard.redact import DEFAULT, Patterns, _search
from llmguard.redact._patterns import DEFAULT_PATTERNS, DEFAULT_STARTS
from tests.reliability.test_s12_redact_split_search import PIECES

_MORE = [
    "a@b.pass=", "x@y.secrets:", "4111 1111 1111 1112 ", "%22password%22%3A%22", "pwd=",
    "QUJD+/=QUJD", "\\n", "+1 415 555 2671", "é",
]  # fmt: skip


def _texts(count: int) -> list[str]:
    rng = random.Random(12)
    pieces = PIECES + _MORE
    return ["".join(rng.choices(pieces, k=rng.randint(1, 40))) for _ in range(count)]


def _lazy() -> Patterns:
    """DEFAULT's kinds, compiled at the first text redacted."""
    patterns = Patterns.__new__(Patterns)
    patterns._setup(DEFAULT_PATTERNS, "[{kind}]", None, DEFAULT_STARTS)
    return patterns


def _hammer(
    patterns: Patterns, texts: list[str], threads: int = 8
) -> list[dict[str, tuple[str, dict[str, int]]]]:
    start = threading.Barrier(threads)
    results: list[dict[str, tuple[str, dict[str, int]]]] = [{} for _ in range(threads)]
    errors: list[BaseException] = []

    def work(number: int) -> None:
        order = list(texts)
        random.Random(number).shuffle(order)
        start.wait()
        try:
            for text in order:
                results[number][text] = patterns.redact(text)
            for text, new in zip(order, patterns.redact_many(order), strict=True):
                assert new == results[number][text][0], text
        except BaseException as exc:  # reported below, with the thread's number
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    return results


def test_eight_threads_get_the_answers_one_thread_gets() -> None:
    texts = _texts(30)
    expected = {text: DEFAULT.redact(text) for text in texts}
    for result in _hammer(_lazy(), texts):
        assert result == expected


def test_the_parts_memo_starting_over_under_threads_changes_no_answer() -> None:
    """`_PARTS` holds a few compiled parts (`remember`): emptied while other threads scan,
    each search keeps the parts it was built with."""
    texts = _texts(16)
    expected = {text: DEFAULT.redact(text) for text in texts}
    real = _search.remember

    def forgetful(
        memo: dict[object, object], key: object, value: object, size: int | None = None
    ) -> None:
        real(memo, key, value, 1 if memo is _search._PARTS else size)

    with mock.patch.object(_search, "remember", forgetful):
        for result in _hammer(_lazy(), texts):
            assert result == expected
