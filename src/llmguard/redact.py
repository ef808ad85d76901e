"""Redaction: replace secrets and personal data in records before any sink sees them.

`DEFAULT` is on unless configured otherwise (``lg.configure(redact=None)`` turns it off).
It replaces API keys (OpenAI, Anthropic, Stripe, Google, GitHub, Slack, AWS access key
ids), private keys, bearer tokens, JWTs, email addresses, phone numbers, US social
security numbers, card numbers (Luhn-checked) and IBANs (mod-97 checked) wherever a
string can hide in a record: the input and output (dictionary keys included), the
name, tags, model, provider and the record's other text, the error message, metadata
keys and values, the attempt and the limits. An integer of ten digits or more is
redacted when its digits are a card or phone number. The kinds and counts of what was
replaced go in the record's metadata under ``"llmguard.redacted"``; the values never do.

Each string is redacted in one linear pass: the patterns are combined into one RE2
regular expression (google-re2, whose search time is linear in the text whatever the
text holds), and validators such as the Luhn check judge its matches in Python. A
candidate met before (text packed with the same near miss) is answered from memory: its
kind, value and llmguard's own check's verdict, by the bytes around it.

Build your own with `Patterns`, or extend the default::

    tickets = Patterns({"ticket": r"\\bTICKET-\\d+\\b", **DEFAULT.patterns})
    lg.configure(redact=tickets)

`redact_text` applies patterns to one string, for applications that want the same
cleaning elsewhere; `Patterns.redact_many` cleans many strings, and
`Patterns.redact_records` many records, in one search.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from itertools import accumulate, repeat
from operator import add, attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from llmguard._core.records import Record

__all__ = [
    "DEFAULT",
    "METADATA_KEY",
    "SECRET_GROUP",
    "PatternSpec",
    "Patterns",
    "Validator",
    "redact_text",
]

METADATA_KEY = "llmguard.redacted"
"""The metadata key holding ``{kind: count}`` of what a `Patterns` redactor replaced."""

SECRET_GROUP = "secret"
"""The name of the group that marks the part of a match to replace.

RE2 has no lookbehind or lookahead: a pattern states what must surround a value by
matching it too, and names the value itself ``(?P<secret>...)``; the rest of the match
is context, which stays. A pattern without this group replaces its whole match.
"""

Validator = Callable[[str], bool]
"""Decides whether a regex match really is the kind of value it looks like."""

PatternSpec = re.Pattern[str] | str | tuple[re.Pattern[str] | str, Validator | None]
"""A regex (compiled or not), or a regex with a validator of its matches."""


class _Kind(NamedTuple):
    name: str
    given: re.Pattern[str] | str
    source: str
    flags: int
    validator: Validator | None
    replacement: bytes
    starts: frozenset[int] | None  # the bytes a value can start with, when known


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

    __slots__ = ("_compiled", "_kinds", "_prefilter", "_replacements", "replacement")

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
            source, flags = _source(given)
            encoded = replacements[name].encode("utf-8", "surrogatepass")
            first = None if starts is None else frozenset(starts[name].encode())
            kinds.append(_Kind(name, given, source, flags, validator, encoded, first))
        self.replacement = replacement
        self._replacements = replacements
        self._kinds = tuple(kinds)
        self._prefilter = prefilter
        self._compiled: _Engine | None = None

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
        ends: list[int] = []  # per record, the number of strings after each field
        for record in records:
            _collect_record(record, texts, sizes, ends)
        changed = self._redact(texts)
        if not changed:
            return list(records)
        upcoming = sorted(changed)
        out = []
        start = 0
        at = 0  # the first of ``upcoming`` at or past ``start``
        fields = len(_FIELDS) + 1
        for number, record in enumerate(records):
            mark = number * fields
            end = ends[mark + fields - 1]
            if at == len(upcoming) or upcoming[at] >= end:
                out.append(record)
            else:
                counts: dict[str, int] = {}
                mine: dict[int, str] = {}
                while at < len(upcoming) and upcoming[at] < end:
                    index = upcoming[at]
                    mine[index], found = changed[index]
                    for kind, count in found.items():
                        counts[kind] = counts.get(kind, 0) + count
                    at += 1
                marks = ends[mark : mark + fields]
                out.append(_rebuilt(record, mine, counts, sizes, start, marks))
            start = end
        return out

    def _engine(self) -> _Engine:
        engine = self._compiled
        if engine is None:
            engine = self._compiled = _Engine(self._kinds, self._prefilter)
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
        joined = texts[0] if len(texts) == 1 else "\n".join(texts)
        if engine.prefilter is not None and not engine.prefilter(joined):
            return {}
        # A line break before the first string too: see `_Engine.scan`.
        ascii = joined.isascii()
        if ascii:
            data = ("\n" + joined).encode("ascii")
        else:
            parts = [text.encode("utf-8", "surrogatepass") for text in texts]
            data = b"\n".join([b"", *parts])
        found = engine.scan(data, ascii)
        if not found:
            return {}
        lengths = list(map(len, texts if ascii else parts))
        # Where each string starts in ``data``: after the line break before it.
        starts = list(accumulate(map(add, lengths, repeat(1)), initial=1))
        by_text: dict[int, list[tuple[int, int, int]]] = {}
        alone: set[int] = set()
        for start, end, kind in found:
            i = bisect.bisect_right(starts, start) - 1
            if end <= starts[i] + lengths[i]:
                by_text.setdefault(i, []).append((start - starts[i], end - starts[i], kind))
            else:
                alone.update(range(i, bisect.bisect_right(starts, end - 1)))
        changed = {}
        for i, matches in by_text.items():
            if i not in alone:
                counts = {}
                piece = data[starts[i] : starts[i] + lengths[i]]
                changed[i] = _replace(piece, matches, self._kinds, counts), counts
        for i in alone:
            counts = {}
            new = self._redact_one(engine, texts[i], counts)
            if new is not texts[i]:
                changed[i] = new, counts
        return changed

    def _redact_one(self, engine: _Engine, text: str, counts: dict[str, int]) -> str:
        if engine.prefilter is not None and not engine.prefilter(text):
            return text
        data = b"\n" + text.encode("utf-8", "surrogatepass")
        found = engine.scan(data, text.isascii()) if engine.searching else []
        new = _replace(data, found, self._kinds, counts)[1:] if found else text
        for index, regex in engine.python:
            new = _python_pass(new, regex, self._kinds[index], counts)
        return text if new == text else new


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


# -- the strings of a record ------------------------------------------------------------

# The record's own text fields, and the fields holding nested values; every string in
# them is redacted, dictionary keys included.
_TEXT_FIELDS = (
    "name", "error_type", "error_message", "service", "model", "provider",
    "prompt_name", "prompt_version", "price_table", "finish_reason",
)  # fmt: skip
_NESTED_FIELDS = ("tags", "input", "output", "attempt", "limits")
_FIELDS = (*_TEXT_FIELDS, *_NESTED_FIELDS)
_read_fields = attrgetter(*_FIELDS)  # a record's fields of `_FIELDS`, as a tuple
# Metadata values that are ids or llmguard's own counts, never text to redact.
_OPAQUE_METADATA = frozenset({METADATA_KEY, "otel.parent_span_id"})
# An integer below this cannot be a card (13 digits or more) or phone number (10 or more).
_BIG_INT = 10**9


def _collect_record(record: Record, out: list[str], sizes: dict[int, int], ends: list[int]) -> None:
    """Append the strings of ``record`` to ``out``, in the order `_rebuilt` visits them.

    ``ends`` gets how many strings ``out`` holds after each field of `_FIELDS` (the
    metadata last).
    """
    for value in _read_fields(record):
        if type(value) is str:
            out.append(value)
        elif value is not None:
            _collect(value, out, sizes)
        ends.append(len(out))
    for key, value in record.metadata.items():
        _collect(key, out, sizes)
        if key not in _OPAQUE_METADATA:
            _collect(value, out, sizes)
    ends.append(len(out))


def _rebuilt(
    record: Record, changed: dict[int, str], counts: dict[str, int], sizes: dict[int, int],
    start: int, ends: list[int],
) -> Record:  # fmt: skip
    """``record`` with its ``changed`` strings, and ``counts`` in its metadata.

    ``start`` is the index of the record's first string, ``ends`` what
    `_collect_record` noted: fields without a changed string are not visited.
    """
    rebuild = _Rebuild(changed, sizes)
    changes: dict[str, Any] = {}
    fields = len(_FIELDS)
    last = -1
    for index in sorted(changed):
        field = bisect.bisect_right(ends, index, 0, fields)  # the field holding it
        if field == fields:
            break  # in the metadata
        if field != last:
            last = field
            name = _FIELDS[field]
            rebuild.at = ends[field - 1] if field else start
            value = getattr(record, name)
            new = rebuild(value)
            if new is not value:
                changes[name] = new
    rebuild.at = ends[fields - 1]
    metadata: dict[str, Any] = {}
    for key, value in record.metadata.items():
        new_key = rebuild(key)
        _put(metadata, new_key, value if key in _OPAQUE_METADATA else rebuild(value))
    merged = dict(metadata.get(METADATA_KEY) or {})
    for kind, count in counts.items():
        merged[kind] = merged.get(kind, 0) + count
    metadata[METADATA_KEY] = merged
    changes["metadata"] = metadata
    return _replaced(record, changes)


def _replaced(record: Record, changes: dict[str, Any]) -> Record:
    """``dataclasses.replace(record, **changes)``, at a tenth of its cost.

    A record has no ``__post_init__`` and one field outside ``__init__`` (its cached
    JSON, left empty), so a copy of its fields with the changes is what ``replace``
    would build; should either ever change, ``replace`` itself is used. The fields are
    read in one C call (`attrgetter`) and written by the slots' own setters.
    """
    cls = type(record)
    plan = _COPY_PLANS.get(cls)
    if plan is None:
        fields = dataclasses.fields(cls)
        simple = not hasattr(cls, "__post_init__") and {f.name for f in fields if not f.init} <= {
            "_json"
        }
        names = tuple(f.name for f in fields if f.init)
        # The slots' own setters (a frozen dataclass's __setattr__ refuses).
        setters = tuple(getattr(cls.__dict__.get(name), "__set__", None) for name in names)
        plan = _COPY_PLANS[cls] = (
            (attrgetter(*names), {name: i for i, name in enumerate(names)}, setters,
             tuple(f.name for f in fields if not f.init))
            if simple and len(names) > 1 and None not in setters
            else None
        )  # fmt: skip
    if plan is None:
        return dataclasses.replace(record, **changes)
    read, index, setters, extra = plan
    values = list(read(record))
    for name, value in changes.items():
        values[index[name]] = value
    new = object.__new__(cls)
    for setter, value in zip(setters, values, strict=True):
        setter(new, value)
    for name in extra:
        _setattr(new, name, None)
    return new


_CopyPlan = tuple[
    Callable[[Any], tuple[Any, ...]], dict[str, int], tuple[Any, ...], tuple[str, ...]
]
_COPY_PLANS: dict[type, _CopyPlan | None] = {}
_setattr = object.__setattr__


def _collect(value: Any, out: list[str], sizes: dict[int, int]) -> None:
    """Append each string in ``value`` to ``out``, in the order `_Rebuild` visits them.

    An integer of ten digits or more counts as its digits. ``sizes`` gets, for each
    container, how many strings it holds, so that `_Rebuild` can step over a container
    none of whose strings changed without walking it.
    """
    cls = type(value)
    if cls is str:
        out.append(value)
    elif cls is dict or (cls is not list and cls is not tuple and isinstance(value, Mapping)):
        start = len(out)
        for key, item in value.items():
            if type(key) is str:
                out.append(key)
            else:
                _collect(key, out, sizes)
            if type(item) is str:
                out.append(item)
            elif item is not None:
                _collect(item, out, sizes)
        sizes[id(value)] = len(out) - start
    elif cls is list or cls is tuple or isinstance(value, (list, tuple)):
        start = len(out)
        for item in value:
            kind = type(item)
            if kind is str:
                out.append(item)
            elif kind is dict:
                # Inlined for the common case, a list of messages.
                inner = len(out)
                for key, field in item.items():
                    if type(key) is str:
                        out.append(key)
                    else:
                        _collect(key, out, sizes)
                    if type(field) is str:
                        out.append(field)
                    elif field is not None:
                        _collect(field, out, sizes)
                sizes[id(item)] = len(out) - inner
            elif item is not None:
                _collect(item, out, sizes)
        sizes[id(value)] = len(out) - start
    elif cls is int:
        if value >= _BIG_INT:
            out.append(str(value))
    elif isinstance(value, str):
        out.append(value)


class _Rebuild:
    """Rebuilds values with their changed strings, visiting them as `_collect` does.

    ``at`` is the index of the next string visited. A value none of whose strings
    changed comes back as the same object, without being walked; an integer whose
    digits were redacted becomes the redacted text.
    """

    __slots__ = ("_changed", "_sizes", "_upcoming", "at")

    def __init__(self, changed: Mapping[int, str], sizes: dict[int, int]) -> None:
        self._changed = changed
        self._sizes = sizes
        self.at = 0
        # The changed indices still ahead, the nearest last.
        self._upcoming = sorted(changed, reverse=True)

    def __call__(self, value: Any) -> Any:
        cls = type(value)
        if cls is str or (cls is int and value >= _BIG_INT):
            index = self.at
            self.at = index + 1
            return self._changed.get(index, value)
        size = self._sizes.get(id(value))
        if size is None:
            if isinstance(value, str):
                index = self.at
                self.at = index + 1
                return self._changed.get(index, value)
            return value
        upcoming = self._upcoming
        index = self.at
        while upcoming and upcoming[-1] < index:
            upcoming.pop()
        if not upcoming or upcoming[-1] >= index + size:
            self.at = index + size  # nothing in it changed
            return value
        if cls is dict or (cls is not list and cls is not tuple and isinstance(value, Mapping)):
            items: dict[Any, Any] = {}
            for key, item in value.items():
                new_key = self(key)
                if new_key in items:
                    _put(items, new_key, self(item))
                else:
                    items[new_key] = self(item)
            return items
        walked = []
        sizes = self._sizes
        for item in value:
            # Inlined for the common case, a list of containers most of which are
            # unchanged (the messages of a chat).
            size = sizes.get(id(item))
            if size is not None:
                index = self.at
                while upcoming and upcoming[-1] < index:
                    upcoming.pop()
                if not upcoming or upcoming[-1] >= index + size:
                    self.at = index + size
                    walked.append(item)
                    continue
            walked.append(self(item))
        return walked if isinstance(value, list) else tuple(walked)


def _put(items: dict[Any, Any], key: Any, value: Any) -> None:
    """``items[key] = value``, with a suffix on a key already there (a redacted one)."""
    if key in items:
        n = 2
        while f"{key} ({n})" in items:
            n += 1
        key = f"{key} ({n})"
    items[key] = value


def _replace(
    data: bytes, found: list[tuple[int, int, int]], kinds: tuple[_Kind, ...], counts: dict[str, int]
) -> str:
    """``data`` with each value found replaced, as text; adds to ``counts``."""
    pieces = []
    last = 0
    for start, end, index in found:
        pieces.append(data[last:start])
        pieces.append(kinds[index].replacement)
        last = end
    pieces.append(data[last:])
    if len(found) == 1:
        name = kinds[found[0][2]].name
        counts[name] = counts.get(name, 0) + 1
    else:
        for index, count in Counter([index for _, _, index in found]).items():
            name = kinds[index].name
            counts[name] = counts.get(name, 0) + count
    return b"".join(pieces).decode("utf-8", "surrogatepass")


# -- the search -------------------------------------------------------------------------


class _Engine:
    """The kinds of a `Patterns`, compiled: RE2 for those it runs, `re` for the others.

    `scan` finds the values to replace in one left-to-right pass; ``python`` holds the
    kinds RE2 cannot compile, for passes of their own.
    """

    __slots__ = (
        "_alternatives", "_before_memo", "_checked", "_decided", "_kinds", "_searches", "_split",
        "_starts", "memoized", "prefilter", "python", "splitters", "validators",
    )  # fmt: skip

    def __init__(self, kinds: tuple[_Kind, ...], prefilter: re.Pattern[str] | str | None) -> None:
        self.validators = tuple(kind.validator for kind in kinds)
        self.splitters = tuple(_SPLITTERS.get(kind.validator) for kind in kinds)
        # Whose verdicts are remembered by value: llmguard's checks, not a user's.
        self.memoized = tuple(kind.validator in _OWN_CHECKS for kind in kinds)
        self._checked: dict[tuple[int, bytes], bool] = {}  # (kind, value) -> verdict
        # (the kinds hidden, (the bytes `_Search.read` reads, the match's length, whether
        # it starts the buffer)) -> kind, value start and end from the match's, verdict
        self._decided: dict[tuple[int, tuple[bytes, int, bool]], tuple[int, int, int, bool]] = {}
        self._split: dict[tuple[int, bytes, bytes], int] = {}  # (kind, value, after) -> head
        # (kind, what `_before` read, at the start) -> the value's span, from the start
        self._before_memo: dict[tuple[int, bytes, bool], tuple[int, int]] = {}
        self._starts = tuple(kind.starts for kind in kinds)
        alternatives: list[tuple[int, str]] = []
        python: list[tuple[int, re.Pattern[str]]] = []
        for index, kind in enumerate(kinds):
            source = _re2_source(kind.source, kind.flags)
            if source is not None and _compiles(_alternative(source, "s")):
                alternatives.append((index, source))
            else:
                python.append((index, re.compile(kind.source, kind.flags)))
        self._alternatives = tuple(alternatives)
        self.python = tuple(python)
        self._searches: dict[int, _Search | None] = {}
        self._kinds: dict[int, tuple[Any, int]] = {}
        if alternatives:
            self.search(0)
        self.prefilter = None if prefilter is None else _search_function(prefilter)

    @property
    def searching(self) -> bool:
        """Whether RE2 runs any kind."""
        return bool(self._alternatives)

    def search(self, hidden: int) -> _Search | None:
        """The regexes of the kinds not in the bit set ``hidden`` (compiled once)."""
        if hidden in self._searches:
            return self._searches[hidden]
        kept = [(i, source) for i, source in self._alternatives if not hidden >> i & 1]
        search = self._searches[hidden] = _Search(kept, self._starts) if kept else None
        return search

    def scan(self, data: bytes, ascii: bool) -> list[tuple[int, int, int]]:
        """The values to replace in ``data`` (UTF-8), as ``(start, end, kind)`` in order.

        ``data`` starts with a line break, so that a value at the start of a text meets
        the same context as one after a line break: RE2 reads a pattern's own start of
        text ``^`` as no character at all, where a context that matches a character
        makes the match start one earlier, and so win over other kinds that match from
        the next character.

        A match its validator rejects hides the matches of its kind that start inside
        it (``0000 0000 0000`` in a rejected ``0000 0000 0000 0000``), as a search for
        that kind alone would skip past it: until the search passes its end, the kind
        is left out of the regex, and the kinds after it may match at the same place.
        Each search starts where the last one stopped, or at the start of a rejected
        match, and an answer already known is not searched again (a kind hidden once
        more, further on), so the text is read a bounded number of times whatever it
        holds: the pass is linear.
        """
        found: list[tuple[int, int, int]] = []
        validators = self.validators
        splitters = self.splitters
        memoized = self.memoized
        checked = self._checked
        split = self._split
        decided = self._decided
        remembering = True  # until candidates turn out unlike each other
        stored = hits = 0
        size = len(data)
        view = memoryview(data)
        buffer: Any = data
        base = 0  # where ``buffer`` starts in ``data``: right after the last value
        pos = 0  # where the next search starts in ``buffer``
        # kind -> where in ``data`` it may match again, and where in ``buffer`` its
        # rejected match started
        hidden: dict[int, tuple[int, int]] = {}
        bits = 0  # the kinds hidden, as bits
        known: dict[int, tuple[int, tuple[int, int] | None]] = {}  # bits -> from, match
        everything = search = self.search(0)
        if everything is None:  # no kind for RE2: nothing to find
            return found
        find = everything.find_function
        unanchored = _RE2.unanchored
        while True:
            if hidden:
                here = base + pos
                bits = 0
                nearest = size
                for kind, (again, _) in list(hidden.items()):
                    if again <= here:
                        del hidden[kind]
                    else:
                        bits |= 1 << kind
                        nearest = min(nearest, again)
            if hidden:
                search = self.search(bits)
                span: tuple[int, int] | None = None
                if search is not None:
                    since = pos
                    if not pos:
                        # A match at the start of the buffer may owe it to being there
                        # (^, \b): it is asked about alone; the matches after it are
                        # the same whatever values came before, and may be known.
                        start, end = search.find_at_start(buffer, size - base)
                        if start >= 0:
                            span = start, end
                        since = 1
                    last = known.get(bits)
                    if span is not None:
                        pass
                    elif (
                        last is not None
                        and last[0] <= since
                        and (last[1] is None or last[1][0] >= since)
                    ):
                        span = last[1]
                    else:
                        start, end = search.find(buffer, since, size - base)
                        if start >= 0:
                            span = start, end
                        known[bits] = since, span
                if search is None or span is None or span[0] >= nearest - base:
                    pos = nearest - base  # a hidden kind may match from there: look first
                    continue
                start, end = span
            else:
                bits = 0
                search = everything
                start, end = find(unanchored, buffer, pos, size - base)[0]
                if start < 0:
                    return found
            # The same bytes around a match found by the same regex come out the same:
            # its kind, its value and the verdict on it are remembered together.
            seen = step = looked = None
            if remembering and ascii and end - start <= _READ_BY_RE:
                looked = bytes(buffer[start - 1 if start else 0 : end + 2]), end - start, not start
                seen = bits, looked
                step = decided.get(seen)
                if step is not None:
                    hits += 1
            if step is not None:
                kind, accepted = step[0], step[3]
                a = start + step[1]
                b = start + step[2]
            else:
                kind, a, b = search.read(buffer, start, end, ascii, looked)
                validator = validators[kind]
                if a >= b:
                    accepted = False
                elif validator is None:
                    accepted = True
                elif memoized[kind] and remembering:
                    # llmguard's own checks answer alike for the same value: text packed
                    # with near misses asks about the same few again and again.
                    check = kind, data[base + a : base + b]
                    verdict = checked.get(check)
                    if verdict is None:
                        verdict = bool(validator(check[1].decode("utf-8", "surrogatepass")))
                        _remember(checked, check, verdict)
                    accepted = verdict
                else:
                    value = data[base + a : base + b].decode("utf-8", "surrogatepass")
                    accepted = bool(validator(value))
                if (
                    seen is not None
                    and (validator is None or memoized[kind])
                    and search.read_alike(seen[1])
                    and (accepted or splitters[kind] is None or b - a <= _SPLIT_ABOVE)
                ):
                    _remember(decided, seen, (kind, a - start, b - start, accepted))
                    stored += 1
                    if not stored & 255 and hits * 4 < stored:
                        # Candidates unlike each other: remembering them costs more
                        # than it saves, for the rest of this text.
                        remembering = False
            splitter = splitters[kind]
            if not accepted and splitter is not None and b - a > _SPLIT_ABOVE:
                # Too long to be one value, maybe two: the longest head that is one.
                piece = kind, data[base + a : base + b], data[base + b : base + b + _AFTER]
                head = split.get(piece, -1)
                value = piece[1].decode("utf-8", "surrogatepass")
                if head < 0:
                    head = splitter(value, piece[2].decode("utf-8", "replace"))
                    _remember(split, piece, head)
                if head:
                    b = a + len(value[:head].encode("utf-8", "surrogatepass"))
                    accepted = True
            if accepted:
                if hidden:
                    # This value cuts the rejected matches it falls in: what comes
                    # before it is read again with it as a boundary, and what comes
                    # after is free again, as a second pass over the text would see.
                    found.extend(self._before(view[base : base + a], hidden, base))
                    hidden.clear()
                found.append((base + a, base + b, kind))
                # The next value may start right here: a buffer starting here makes this
                # the start of the text, where every pattern's context is met.
                base += b
                buffer = view[base:]
                pos = 0
                if known:
                    # What searches with kinds hidden found stays true past the new
                    # buffer's first byte: without this, each value would send the next
                    # such search to the end of the text again (quadratic time).
                    known = {
                        bits: (
                            max(since - b, 1),
                            None if span is None else (span[0] - b, span[1] - b),
                        )
                        for bits, (since, span) in known.items()
                        if span is None or span[0] - b >= 1
                    }
                continue
            # Rejected: the kinds after it may match here, this kind again from its last
            # character (the context of what follows it) on.
            again = max(b - 1, start + 1)
            last = known.get(bits | 1 << kind)
            if (
                last is not None
                and last[0] <= start
                and (last[1] is None or last[1][0] >= again)
                and (not hidden or nearest >= base + again)
            ):
                # A search with this kind hidden too already found nothing before: go on
                # from its end at once (dense near misses, such as cards that fail Luhn),
                # unless a kind hidden before comes back first.
                pos = again
                continue
            hidden[kind] = base + again, start
            pos = start

    def _before(
        self, head: Any, hidden: dict[int, tuple[int, int]], base: int
    ) -> list[tuple[int, int, int]]:
        """The values of the rejected matches' kinds in ``head``, from where each started.

        ``head`` ends where an accepted value starts, which stands for its boundary.
        """
        found: list[tuple[int, int, int]] = []
        last = 0
        memo = self._before_memo
        for kind, (_, start) in sorted(hidden.items(), key=lambda item: item[1][1]):
            if start < last:
                continue
            # What the kind's regex reads: the rest of ``head`` and the byte before it
            # (for a \b or a line start), and whether it starts ``head`` (for ^).
            seen = None
            if len(head) - start <= _READ_BY_RE and (
                self.memoized[kind] or self.validators[kind] is None
            ):
                seen = kind, bytes(head[start - 1 if start else 0 :]), not start
                span = memo.get(seen)
                if span is not None:
                    if span[0] >= 0:
                        found.append((base + start + span[0], base + start + span[1], kind))
                        last = start + span[1]
                    continue
            regex, group = self._alone(kind)
            a, b = regex.Match(_RE2.anchor_start, head, start, len(head))[group]
            validator = self.validators[kind]
            accepted = a < b and (
                validator is None or validator(bytes(head[a:b]).decode("utf-8", "surrogatepass"))
            )
            if seen is not None:
                _remember(memo, seen, (a - start, b - start) if accepted else (-1, -1))
            if accepted:
                found.append((base + a, base + b, kind))
                last = b
        return found

    def _alone(self, kind: int) -> tuple[Any, int]:
        """The RE2 regex of one kind, with its value as a group, and that group."""
        alone = self._kinds.get(kind)
        if alone is None:
            source = dict(self._alternatives)[kind]
            regex = _compile(_alternative(source, "s"), True)
            alone = self._kinds[kind] = regex, dict(regex.NamedCapturingGroups())[b"s"]
        return alone


class _Search:
    """The regexes that find, then read, the values of some kinds.

    `find` is RE2 with no capturing group: where the next match starts and ends, in a
    DFA pass. Which kind matched there, and where its value lies in the match, `read`
    asks Python's `re`, anchored at that start, bounded to the match and given only the
    kinds whose values can start with the character after it: a few times cheaper than
    RE2 filling in groups, and bounded work, since `re` reads at most `_READ_BY_RE`
    characters. RE2's groups decide a longer match, and whatever `re` cannot tell the
    same (text that is not ASCII, a pattern it reads otherwise).
    """

    __slots__ = (
        "_by_kinds", "_find", "_groups", "_kept", "_memo", "_readers", "_starts", "_whole",
    )  # fmt: skip

    def __init__(
        self, kept: list[tuple[int, str]], starts: tuple[frozenset[int] | None, ...]
    ) -> None:
        self._kept = kept
        self._starts = starts
        self._find = _compile("|".join(_unnamed(_alternative(s, "s")) for _, s in kept), False)
        self._groups: tuple[Any, tuple[tuple[int, int], ...]] | None = None
        self._whole = _Reader.of(kept)
        # by the byte after a match's start: its value's first byte, past the context
        # (or 256 + the first two bytes, for a match at the start of the buffer)
        self._readers: dict[int, _Reader | None] = {}
        self._by_kinds: dict[tuple[int, ...], _Reader | None] = {}  # readers by their kinds
        # What `read` found, by the bytes it read: (kind, value start, value end) from
        # the match's start. Text packed with candidates repeats them.
        self._memo: dict[tuple[bytes, int, bool], tuple[int, int, int]] = {}

    @property
    def find_function(self) -> Any:
        """RE2's own ``Match`` of `find`'s regex, for the hottest loop."""
        return self._find.Match

    def find_at_start(self, buffer: Any, end: int) -> tuple[int, int]:
        """Where the match starting ``buffer[:end]`` ends: ``(0, end)``, or -1s if none."""
        span: tuple[int, int] = self._find.Match(_RE2.anchor_start, buffer, 0, end)[0]
        return span

    def find(self, buffer: Any, pos: int, end: int) -> tuple[int, int]:
        """Where the leftmost match in ``buffer[pos:end]`` starts and ends: -1 if none."""
        span: tuple[int, int] = self._find.Match(_RE2.unanchored, buffer, pos, end)[0]
        return span

    def read_alike(self, seen: tuple[bytes, int, bool]) -> bool:
        """Whether `read` answered from ``seen`` alone, not from RE2's groups (which read on).

        ``seen`` is the bytes around a match `read` read, the match's length and whether
        it started the buffer.
        """
        return seen in self._memo

    def read(
        self, buffer: Any, start: int, end: int, ascii: bool, seen: tuple[bytes, int, bool] | None
    ) -> tuple[int, int, int]:
        """The kind of the match at ``start`` (ending at ``end``), and its value's span.

        ``seen``, when given, is what Python's re reads of the buffer, by which its
        answer is remembered: the match, two bytes past it, and the byte before it (for
        a \b or a line start there); whether the match starts the buffer (for ^) and
        its length (for $ at the end) complete it.
        """
        memo = self._memo
        if ascii and end - start <= _READ_BY_RE and start + 1 < end:
            if seen is not None:
                known = memo.get(seen)
                if known is not None:
                    return known[0], start + known[1], start + known[2]
            # At the start of the buffer, the value starts there (the context was the
            # start of the text) or after a character of context; past it, a pattern
            # whose values' first bytes are known matched a character of context first.
            key = buffer[start + 1] if start else 256 + (buffer[0] << 8 | buffer[1])
            reader = self._readers.get(key, _MISSING)
            if reader is _MISSING:
                firsts = (key,) if start else (buffer[0], buffer[1])
                reader = self._readers[key] = self._reader(firsts)
            if reader is not None:
                # Two characters past the end: no match RE2 did not find ends there.
                match = reader.regex.match(buffer, start, min(end + 2, len(buffer)))
                if match is not None and match.end() == end and match.lastindex is not None:
                    kind = reader.kinds[match.lastindex]
                    a, b = match.span(reader.values[kind])
                    if seen is not None:
                        # One such memo per set of hidden kinds: kept smaller.
                        _remember(memo, seen, (kind, a - start, b - start), _MEMO_SIZE // 8)
                    return kind, a, b
        if self._groups is None:
            regex = _compile("|".join(_alternative(s, f"s{i}") for i, s in self._kept), True)
            names = dict(regex.NamedCapturingGroups())
            self._groups = regex, tuple((names[f"s{i}".encode()], i) for i, _ in self._kept)
        regex, groups = self._groups
        spans = regex.Match(_RE2.anchor_start, buffer, start, len(buffer))
        for group, kind in groups:
            a, b = spans[group]
            if a >= 0:
                return kind, a, b
        raise AssertionError("RE2 matched no kind")  # pragma: no cover

    def _reader(self, firsts: tuple[int, ...]) -> _Reader | None:
        kept = [
            (i, s)
            for i, s in self._kept
            if (f := self._starts[i]) is None or any(first in f for first in firsts)
        ]
        if len(kept) == len(self._kept):
            return self._whole
        if not kept:
            return None
        key = tuple(i for i, _ in kept)
        if key not in self._by_kinds:
            self._by_kinds[key] = _Reader.of(kept)
        return self._by_kinds[key]


class _Reader(NamedTuple):
    """A Python regex of some kinds, each a group around its own groups."""

    kept: list[tuple[int, str]]
    regex: re.Pattern[bytes]
    kinds: dict[int, int]  # the group of a kind's whole match -> the kind
    values: dict[int, int]  # kind -> the group of its value

    @classmethod
    def of(cls, kept: list[tuple[int, str]]) -> _Reader | None:
        """The reader of ``kept``, or ``None`` if `re` cannot compile them."""
        try:
            wrapped = "|".join(f"(?P<a{i}>{_alternative(s, f's{i}')})" for i, s in kept)
            regex = re.compile(wrapped.encode("utf-8"))
        except (re.error, OverflowError, RecursionError):
            return None
        kinds = {regex.groupindex[f"a{i}"]: i for i, _ in kept}
        values = {i: regex.groupindex[f"s{i}"] for i, _ in kept}
        return cls(kept, regex, kinds, values)


_MISSING: Any = object()
_READ_BY_RE = 256  # the longest match `_Search.read` asks Python's re about
_AFTER = 64  # how much of the text after a rejected match a splitter reads
_SPLIT_ABOVE = 12  # the length a rejected value must pass for its splitter to be asked
_MEMO_SIZE = 4096  # the answers a memo holds before it starts over


def _remember(memo: dict[Any, Any], key: Any, value: Any, size: int | None = None) -> None:
    """``memo[key] = value``, in a memo that starts over past ``size`` answers.

    ``size`` is `_MEMO_SIZE` unless given. Each memo of a redactor holds at most a few
    MB: keys are at most a few hundred bytes.
    """
    memo[key] = value
    if len(memo) > (_MEMO_SIZE if size is None else size):
        memo.clear()


class _RE2:
    """google-re2, imported at the first pattern compiled: not at `import llmguard`."""

    unanchored: Any = None
    anchor_start: Any = None


def _compile(source: str, capture: bool) -> Any:
    """An RE2 regex: the binding's own object, whose `Match` takes a buffer and bounds.

    Raises:
        re2.error: RE2 cannot compile ``source``.
    """
    import re2  # google-re2 has no type stubs: it is Any here
    from re2 import _re2

    if _RE2.unanchored is None:
        _RE2.unanchored = _re2.RE2.Anchor.UNANCHORED
        _RE2.anchor_start = _re2.RE2.Anchor.ANCHOR_START
    options = re2.Options()
    options.max_mem = 4 << 20  # bounds each regex's memory, its DFA's cache included
    options.log_errors = False
    options.never_capture = not capture
    regex = _re2.RE2(source.encode("utf-8"), options)
    if not regex.ok():
        raise re2.error(regex.error())
    return regex


def _compiles(source: str) -> bool:
    import re2

    try:
        _compile(source, True)
    except re2.error:
        return False
    return True


def _source(regex: re.Pattern[str] | str) -> tuple[str, int]:
    if isinstance(regex, re.Pattern):
        return regex.pattern, regex.flags
    if not isinstance(regex, str):
        raise TypeError(f"a pattern must be a str regex, not {regex!r}")
    return regex, 0


def _re2_source(source: str, flags: int) -> str | None:
    """``source`` with ``flags`` written inline, or ``None`` when RE2 has no such flag."""
    if flags & re.VERBOSE:
        return None
    inline = "".join(
        letter
        for flag, letter in ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))
        if flags & flag
    )
    return f"(?{inline}:{source})" if inline else source


def _alternative(source: str, name: str) -> str:
    """``source`` as an alternative of a combined regex, its value in group ``name``."""
    marker = f"(?P<{SECRET_GROUP}>"
    at = source.find(marker)
    while at > 0 and _escaped(source, at):
        at = source.find(marker, at + 1)
    if at < 0:
        return f"(?P<{name}>{source})"
    return f"(?:{source[:at]}(?P<{name}>{source[at + len(marker) :]})"


def _unnamed(source: str) -> str:
    """``source`` with plain groups for its named ones.

    RE2's ``never_capture`` option leaves named groups capturing, and filling in any
    group costs a search several times over.
    """
    out = []
    i = 0
    in_class = False
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            out.append(source[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            opening = 2 if source.startswith("[^", i) else 1
            if source[i + opening : i + opening + 1] == "]":  # a ] first is literal
                opening += 1
            out.append(source[i : i + opening])
            i += opening
            continue
        elif source.startswith(("(?P<", "(?<"), i):
            name_at = source.index("<", i) + 1
            close = source.find(">", name_at)
            if close > name_at and source[name_at:close].isidentifier():
                out.append("(")
                i = close + 1
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def _escaped(source: str, at: int) -> bool:
    backslashes = 0
    while at > backslashes and source[at - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _search_function(prefilter: re.Pattern[str] | str) -> Callable[[str], bool]:
    """Whether ``prefilter`` finds something in a text: by RE2 when it can."""
    source, flags = _source(prefilter)
    inline = _re2_source(source, flags)
    if inline is not None and _compiles(inline):
        regex = _compile(inline, False)

        def search(text: str) -> bool:
            data = text.encode("utf-8", "surrogatepass")
            return bool(regex.Match(_RE2.unanchored, data, 0, len(data))[0][0] >= 0)

        return search
    compiled = re.compile(source, flags)
    return lambda text: compiled.search(text) is not None


def _python_pass(text: str, regex: re.Pattern[str], kind: _Kind, counts: dict[str, int]) -> str:
    """One `re` pass of a kind RE2 cannot run."""
    replacement = kind.replacement.decode("utf-8", "surrogatepass")
    validator = kind.validator
    secret = SECRET_GROUP in regex.groupindex
    found = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal found
        whole = match.group()
        start, end = match.span(SECRET_GROUP) if secret else match.span()
        if start < 0 or start == end:
            return whole
        if validator is not None and not validator(match.string[start:end]):
            return whole
        found += 1
        offset = match.start()
        return whole[: start - offset] + replacement + whole[end - offset :]

    text = regex.sub(replace, text)
    if found:
        counts[kind.name] = counts.get(kind.name, 0) + found
    return text


# -- the default patterns ---------------------------------------------------------------

# The validators read the value (ASCII, by the patterns) with bytes methods that run in
# C: dense text can hold a candidate every few characters.
_NOT_DIGITS = b" .-()+"
_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")  # Luhn: 2d, less 9 past 9
_DIGITS = frozenset("0123456789")
_DIGIT = re.compile("[0-9]")


def _digits(text: str) -> bytes:
    return text.encode().translate(None, _NOT_DIGITS)


def _luhn(text: str) -> bool:
    digits = _digits(text)
    if digits.count(digits[:1]) == len(digits):
        return False
    doubled = sum(digits[-2::-2].translate(_DOUBLED))
    return (sum(digits[-1::-2]) + doubled - 48 * len(digits)) % 10 == 0


def _iban(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _bearer(text: str) -> bool:
    token = text.split(None, 1)[1].rstrip("=").strip("._~+/-")
    return bool(token) and not token.isalpha()


def _phone(text: str) -> bool:
    if text.startswith("+"):  # the first of a chain glued by + must be a number
        return 8 <= len(_digits(text[1:].split("+", 1)[0])) <= 15
    count = len(_digits(text))
    if text.startswith("0"):
        # National European forms: one kind of separator throughout, 9 to 12 digits.
        return 9 <= count <= 12 and len(set(text) - _DIGITS) <= 1
    return count == 10 or text.isdigit()  # North American, or a line of digits alone


def _phone_head(text: str, after: str) -> int:
    """How much of a run of digit groups too long for one phone number is one: 0 if none.

    Two numbers a space apart read as one run, too long to be a number, which would
    leave both. The head kept is the longest that is a number and is followed by
    another (``after`` is the text following the run); a run that is not two numbers
    (``0000 0000 0000 0000``, an IBAN's digits) stays whole, and stays.
    """
    chain = text.find("+", 1)
    first = text if chain < 0 else text[:chain]
    if len(first) <= _PHONE_DIGITS_MAX or len(_digits(first)) <= _PHONE_DIGITS_MAX:
        return 0  # not too long for one number: rejected for another reason
    for cut in range(len(first) - 1, 0, -1):
        if first[cut] != " " or not first[cut - 1].isdigit() or not _phone(text[:cut]):
            continue
        rest = _PHONE_ALONE.match(text[cut:] + after[:_AFTER])
        if rest is not None and _phone(rest.group(SECRET_GROUP)):
            return cut
    return 0


def _ssn(text: str) -> bool:
    area, group, serial = text.split("-")
    never_issued = area in ("000", "666") or group == "00" or serial == "0000"
    return not never_issued and len(set(area + group + serial)) > 1


def _has_digit(text: str) -> bool:
    return _DIGIT.search(text) is not None


# RE2 syntax, read by Python's re the same way. RE2 has no lookaround, so the context a
# value needs is matched too and the value is the group named secret: "(?:^|[^\w-])"
# before one reads "at the start of the text, or after a character that is neither a
# word character nor a dash", and "(?:$|[^\w-])" after one likewise. A value whose
# context is wrong is not one (sk-learn in task-sk-learn-..., digits inside a longer
# number); a context of its own before every value also keeps redaction idempotent.

_PRIVATE_KEY = (
    r"(?:^|\W)(?P<secret>-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[A-Za-z0-9+/=\r\n\t ]|\\[rnt]|(?:Proc-Type|DEK-Info|Comment|Version|Hash):[^\r\n\\]*)*"
    r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?"
    # PuTTY key files: the lines after "Private-Lines: N" are the key.
    r"|Private-Lines:(?:[A-Za-z0-9+/=\r\n\t ]|\\[rnt])*)"
)
_API_KEY = r"(?:^|[^\w-])(?P<secret>sk-[\w-]{20,})"
_STRIPE_KEY = r"(?:^|[^\w-])(?P<secret>(?:[rs]k_(?:live|test)_|whsec_)[0-9A-Za-z]{16,})"
_GITHUB_TOKEN = r"(?:^|[^\w-])(?P<secret>gh[oprsu]_[0-9A-Za-z]{36,}|github_pat_\w{22,})"
_SLACK_TOKEN = (
    r"(?:^|[^\w-])(?P<secret>(?:xox[abeoprs]|xapp)-[0-9A-Za-z-]{10,}"
    r"|xoxe\.xox[a-z]-[0-9A-Za-z-]{10,}"
    r"|(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[\w/+-]{10,})"
)
# The password of a URL's user information (scheme://user:password@host). The user
# and the password hold none of the characters a URL reserves, nor quotes.
# Unbounded, unlike the email's local part: bounded repetitions of such wide classes
# multiply the states of RE2's DFA past its memory, and it falls back to a far slower
# engine.
_URL_PASSWORD = (
    r"(?:^|[^\w+.-])(?:https?|s?ftps?|wss?|postgres(?:ql)?|mysql|mariadb|mssql|sqlserver"
    r"|oracle|mongodb(?:\+srv)?|redis|rediss|amqps?|mqtts?|kafka|nats|ldaps?|smtps?|imaps?"
    r"|pop3s?|git|ssh|svn|jdbc:[a-z0-9]+|clickhouse|cassandra|couchdb|elasticsearch|neo4j"
    r"|snowflake|bolt)://[^\s:/?#\[\]@{}\"';]*:(?P<secret>[^\s:/?#\[\]@{}\"';]+)@"
)
_GOOGLE_API_KEY = r"(?:^|[^\w-])(?P<secret>AIza[\w-]{35,})"
_AWS_KEY = r"(?:^|[^A-Za-z0-9])(?P<secret>A[KS]IA[A-Z0-9]{16})(?:$|[^A-Za-z0-9])"
# Three parts or more (five when encrypted), or two when the second is JSON too (unsigned).
_JWT = r"(?:^|[^\w-])(?P<secret>eyJ[\w-]{8,}\.(?:eyJ[\w-]{5,}|[\w-]{8,}\.[\w-]*)(?:\.[\w-]*)*)"
_BEARER = r"(?:^|\W)(?P<secret>[Bb]earer[ \t]+[\w.~+/-]{6,}=*)"
# The local part is at most 64 characters, as RFC 5321 has it. Unbounded, a search for
# the next value could not stop before the end of a long run of such characters.
_EMAIL = r"(?:^|[^\w.%+-])(?P<secret>[\w.%+-]{1,64}@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})(?:$|[^\w-])"
_IBAN = r"(?:^|\W)(?P<secret>[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?)(?:$|\W)"
_SSN = r"(?:^|[^\w-])(?P<secret>\d{3}-\d{2}-\d{4})(?:$|[^\w-])"
# The groupings cards are printed in: 13 to 19 digits together; 4-6-5 and 4-6-4;
# 4-4-4-4, or 4-4-4-4-3 when the shorter reading fails the Luhn check; 4-4-4-1 to
# 4-4-4-3. A looser grouping would join a card to the digits printed after it (an
# expiry date, a phone number) into a number that fails the check.
_CARD = (
    r"(?:^|[^\w-])(?P<secret>\d{13,19}|\d{4}[ -]\d{6}[ -]\d{4,5}"
    r"|\d{4}(?:[ -]\d{4}){3}(?:[ -]\d{3})??|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,3})(?:$|[^\w-])"
)
_PHONE = (
    r"(?:^|[^\w+.-])(?P<secret>"
    # International: +country code, then groups after separators or in parentheses;
    # what is glued to it by another + is part of it, so a chain is one value.
    r"\+(?:\d{7,15}|\d{1,3}(?:[ .-]?\(\d{1,5}\)[ .-]?\d{1,10}|[ .-]\d{1,10}){1,6})"
    r"(?:\+[\d .()-]{0,24}\d)*"
    # North American: (415) 555-2671, 415-555-2671, 415.555.2671, 415 555 2671.
    r"|(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}"
    # National European forms with a leading 0: 020 7946 0958, 06 12 34 56 78.
    r"|0\d{1,4}(?:[ .-]\d{2,8}){1,4}"
    # A line that is a number alone (a field holding just the number, an integer's
    # digits): North American, or international without its +.
    r"|(?m:^)(?:1?[2-9]\d{2}[2-9]\d{6}|[2-9]\d{10,12})(?m:$)"
    r")(?:$|[^\w-])"
)

_PHONE_ALONE = re.compile(_PHONE, re.A)
_PHONE_DIGITS_MAX = 12  # below 13 digits, no run is two numbers `_phone` accepts
# A validator's way of finding a shorter value in a match it rejects, by validator.
_SPLITTERS: dict[Validator | None, Callable[[str, str], int]] = {_phone: _phone_head}
# The validators whose verdict depends on the value alone, so may be remembered.
_OWN_CHECKS: frozenset[Validator] = frozenset({_has_digit, _bearer, _iban, _ssn, _luhn, _phone})

DEFAULT = Patterns.__new__(Patterns)
DEFAULT._setup(  # compiled at the first use, not at `import llmguard`
    {
        "private_key": _PRIVATE_KEY,
        "api_key": (_API_KEY, _has_digit),
        "stripe_key": _STRIPE_KEY,
        "github_token": _GITHUB_TOKEN,
        "slack_token": _SLACK_TOKEN,
        "google_api_key": _GOOGLE_API_KEY,
        "aws_access_key": _AWS_KEY,
        "jwt": _JWT,
        "bearer_token": (_BEARER, _bearer),
        "url_password": _URL_PASSWORD,
        "email": _EMAIL,
        "iban": (_IBAN, _iban),
        "ssn": (_SSN, _ssn),
        "card": (_CARD, _luhn),
        "phone": (_PHONE, _phone),
    },
    "[{kind}]",
    None,
    {
        "private_key": "-P",
        "api_key": "s",
        "stripe_key": "rsw",
        "github_token": "g",
        "slack_token": "xh",
        "google_api_key": "A",
        "aws_access_key": "A",
        "jwt": "e",
        "bearer_token": "Bb",
        "url_password": "hsfwpmorcalginjkeb",
        "email": string.ascii_letters + string.digits + "_.%+-",
        "iban": string.ascii_uppercase,
        "ssn": string.digits,
        "card": string.digits,
        "phone": "+(" + string.digits,
    },
)
"""The default redactor: keys, tokens, private keys, emails, phones, SSNs, cards, IBANs."""
