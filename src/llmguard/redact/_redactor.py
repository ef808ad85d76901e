"""`Patterns`, the redactor, and `redact_text`."""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from itertools import accumulate, repeat
from operator import add

from llmguard._core.records import Record
from llmguard.redact._engine import Engine, Kind, python_pass, replace_found
from llmguard.redact._patterns import DEFAULT_PATTERNS, DEFAULT_STARTS, PatternSpec, Validator
from llmguard.redact._records import MARKS, PLAIN_BELOW, Rebuild, collect_records, rebuilt
from llmguard.redact._search import pattern_source


class Patterns:
    """A redactor replacing the matches of named regular expressions in a record.

    Called with a record, it returns the record with every match in its strings
    replaced by ``replacement`` (``"[email]"`` by default) and the counts of each kind
    replaced added to ``metadata["llmguard.redacted"]``; a record with nothing to
    replace comes back as the very same object. The module docstring says which parts
    of a record are redacted. A key that two redacted dictionary keys would share gets
    a suffix (``"[email] (2)"``), so that no value is lost.

    The patterns are combined into one RE2 regular expression and each string is read
    once, left to right: where several kinds match at the same place, the first in the
    order given wins. A match its validator rejects leaves the place to the kinds
    after it, and hides its own kind until its end. A value may start right after a
    replaced one, as after a space, so values glued together are all replaced.

    Patterns are RE2 syntax, in which ``\\w``, ``\\d`` and ``\\b`` are ASCII. A
    pattern RE2 cannot compile (lookbehind, lookahead, backreferences) still works:
    it runs after the others with Python's `re`, in a pass of its own, as fast or as
    slow as that pattern makes it.

    Args:
        patterns: Kind name to pattern: a regex (string or compiled), or a pair
            ``(regex, validator)`` where ``validator(match_text) -> bool`` says whether
            a match is really that kind (e.g. a Luhn check). A group named ``secret``
            (`SECRET_GROUP`) marks the part of a match to replace.
        replacement: What a match becomes; ``{kind}`` is replaced by the kind name.
        prefilter: Optional regex that finds something in every text any pattern
            could match (e.g. ``r"[0-9@]"``): text without it is skipped after one
            cheap search.

    Raises:
        ValueError: ``replacement`` has a placeholder other than ``{kind}``.
        re.error: A pattern is not a valid regular expression.
    """

    __slots__ = ("_by_name", "_compiled", "_kinds", "_prefilter", "_replacements", "replacement")

    def __init__(
        self,
        patterns: Mapping[str, PatternSpec],
        replacement: str = "[{kind}]",
        *,
        prefilter: re.Pattern[str] | str | None = None,
    ) -> None:
        self._setup(patterns, replacement, prefilter)
        self._engine()  # compiled now, so that a bad pattern fails here

    def _setup(
        self,
        patterns: Mapping[str, PatternSpec],
        replacement: str,
        prefilter: re.Pattern[str] | str | None,
        starts: Mapping[str, str] | None = None,
    ) -> None:
        try:
            replacements = {kind: replacement.format(kind=kind) for kind in patterns}
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"replacement may only use the placeholder {{kind}}, not {replacement!r}"
            ) from exc
        kinds = []
        for name, spec in patterns.items():
            given, validator = spec if isinstance(spec, tuple) else (spec, None)
            source, flags = pattern_source(given)
            encoded = replacements[name].encode("utf-8", "surrogatepass")
            first = None if starts is None else frozenset(starts[name].encode())
            kinds.append(Kind(name, given, source, flags, validator, encoded, first))
        self.replacement = replacement
        self._replacements = replacements
        self._by_name = "password" in replacements and "secret" in replacements
        self._kinds = tuple(kinds)
        self._prefilter = prefilter
        self._compiled: Engine | None = None

    @property
    def patterns(self) -> dict[str, tuple[re.Pattern[str], Validator | None]]:
        """The patterns by kind, in order, compiled by `re`, to build an extended `Patterns`."""
        return {
            kind.name: (
                kind.given if isinstance(kind.given, re.Pattern) else re.compile(kind.source, re.A),
                kind.validator,
            )
            for kind in self._kinds
        }

    def __repr__(self) -> str:
        return f"Patterns({list(self._replacements)!r}, replacement={self.replacement!r})"

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        """The text with every match replaced, and how many of each kind were."""
        done = self._redact([text]).get(0)
        return (text, {}) if done is None else done

    def redact_many(self, texts: Sequence[str]) -> list[str]:
        """Each text with every match replaced, all read in one search.

        Returns what `redact` returns for each text (without the counts), for less:
        the texts are searched together, so the fixed cost of a search is paid once.
        """
        texts = list(texts)
        for i, (new, _) in self._redact(texts).items():
            texts[i] = new
        return texts

    def __call__(self, record: Record) -> Record:
        """The record with its strings redacted (the same object if nothing matched)."""
        return self.redact_records([record])[0]

    def redact_records(self, records: Sequence[Record]) -> list[Record]:
        """Each record as this redactor called on it returns it, all read in one search.

        For a batch of records (a delivery thread's), this is several times cheaper
        per record than one call each: the records' strings are searched together.
        """
        texts: list[str] = []
        sizes: dict[int, int] = {}
        ends: list[int] = []  # per record, the number of strings after each group (`MARKS`)
        # Short strings of letters hold none of llmguard's own kinds: not even collected.
        plain = PLAIN_BELOW if self._engine().own else 0
        # A dictionary's value under a secret's name goes whole, when this redactor has
        # the kinds of such values
        secrets: dict[int, str] | None = {} if self._by_name else None
        collect_records(records, texts, sizes, ends, plain, secrets)
        changed = self._redact(texts)
        if secrets:
            for index, kind in secrets.items():
                changed[index] = self._replacements[kind], {kind: 1}
        if not changed:
            return list(records)
        upcoming = sorted(changed)
        rebuild = Rebuild(
            {index: changed[index][0] for index in upcoming}, sizes, plain, secrets is not None
        )
        out = []
        start = 0
        at = 0  # the first of ``upcoming`` at or past ``start``
        last = len(upcoming)
        # Where each record's strings end: its last mark.
        for number, (record, end) in enumerate(zip(records, ends[MARKS - 1 :: MARKS], strict=True)):
            if at == last or upcoming[at] >= end:
                out.append(record)
            else:
                counts: dict[str, int] = {}
                first = at
                while at < last and upcoming[at] < end:
                    for kind, n in changed[upcoming[at]][1].items():
                        counts[kind] = counts.get(kind, 0) + n
                    at += 1
                mine = upcoming[first:at]
                out.append(rebuilt(record, mine, counts, start, ends, number * MARKS, rebuild))
            start = end
        return out

    def _engine(self) -> Engine:
        engine = self._compiled
        if engine is None:
            engine = self._compiled = Engine(self._kinds, self._prefilter)
        return engine

    def _redact(self, texts: list[str]) -> dict[int, tuple[str, dict[str, int]]]:
        """Redact strings together: for each one that changed, its new text and counts.

        The strings are joined by line breaks and read as one text, then each match
        is handed back to the string it falls in. A line break stands where a string
        starts or ends, for every pattern's context, so each string comes out as it
        would on its own; a match across a line break (a private key's lines) sends
        the strings it touches to be read one by one.
        """
        if not texts:
            return {}
        engine = self._engine()
        if engine.python:
            changed = {}
            for i, text in enumerate(texts):
                counts: dict[str, int] = {}
                new = self._redact_one(engine, text, counts)
                if new is not text:
                    changed[i] = new, counts
            return changed
        # A line break before the first string too: see `Engine.scan`.
        joined = "\n".join(["", *texts])
        if engine.prefilter is not None and not engine.prefilter(joined[1:]):
            return {}
        ascii = joined.isascii()
        if ascii:
            data = joined.encode("ascii")
        else:
            parts = [text.encode("utf-8", "surrogatepass") for text in texts]
            data = b"\n".join([b"", *parts])
        found = engine.scan(data, ascii)
        if not found:
            return {}
        if len(texts) == 1:
            counts = {}
            return {0: (replace_found(data, found, self._kinds, counts)[1:], counts)}
        lengths = list(map(len, texts if ascii else parts))
        # Where each string starts in ``data``: after the line break before it.
        starts = list(accumulate(map(add, lengths, repeat(1)), initial=1))
        by_text: dict[int, list[tuple[int, int, int]]] = {}
        alone: set[int] = set()
        for match in found:
            start, end, _ = match
            i = bisect.bisect_right(starts, start) - 1
            if end <= starts[i] + lengths[i]:
                by_text.setdefault(i, []).append(match)
            else:
                alone.update(range(i, bisect.bisect_right(starts, end - 1)))
        changed = {}
        kinds = self._kinds
        for i, matches in by_text.items():
            if i in alone:
                continue
            base = starts[i]
            if ascii and len(matches) == 1:
                # The common case, cut from the string itself: in ASCII text, a byte's
                # place is its character's.
                start, end, index = matches[0]
                kind = kinds[index]
                text = texts[i]
                new = text[: start - base] + self._replacements[kind.name] + text[end - base :]
                changed[i] = new, {kind.name: 1}
            elif ascii:
                # Several values in one string, cut from the string itself too.
                text = texts[i]
                pieces: list[str] = []
                counts = {}
                at = 0
                for start, end, index in matches:
                    name = kinds[index].name
                    pieces += text[at : start - base], self._replacements[name]
                    at = end - base
                    counts[name] = counts.get(name, 0) + 1
                pieces.append(text[at:])
                changed[i] = "".join(pieces), counts
            else:
                counts = {}
                piece = data[base : base + lengths[i]]
                mine = [(start - base, end - base, index) for start, end, index in matches]
                changed[i] = replace_found(piece, mine, kinds, counts), counts
        for i in alone:
            counts = {}
            new = self._redact_one(engine, texts[i], counts)
            if new is not texts[i]:
                changed[i] = new, counts
        return changed

    def _redact_one(self, engine: Engine, text: str, counts: dict[str, int]) -> str:
        if engine.prefilter is not None and not engine.prefilter(text):
            return text
        data = b"\n" + text.encode("utf-8", "surrogatepass")
        found = engine.scan(data, text.isascii()) if engine.searching else []
        new = replace_found(data, found, self._kinds, counts)[1:] if found else text
        for index, regex in engine.python:
            new = python_pass(new, regex, self._kinds[index], counts)
        return text if new == text else new


DEFAULT = Patterns.__new__(Patterns)
DEFAULT._setup(DEFAULT_PATTERNS, "[{kind}]", None, DEFAULT_STARTS)  # compiled at first use
"""The default redactor: keys, tokens, private keys, emails, phones, SSNs, cards, IBANs."""


def redact_text(
    text: str, patterns: Patterns | Mapping[str, PatternSpec] | None = None
) -> tuple[str, dict[str, int]]:
    """Replace the matches of ``patterns`` (`DEFAULT` if not given) in one string.

    Returns:
        The redacted text and the number of matches replaced by kind, e.g.
        ``("mail [email]", {"email": 1})``.
    """
    if patterns is None:
        patterns = DEFAULT
    elif not isinstance(patterns, Patterns):
        patterns = Patterns(patterns)
    return patterns.redact(text)
