"""The regexes that find values and tell which kind each one is.

RE2 finds; Python's re reads short matches, RE2's groups or the context around a value
the others. Also how a pattern becomes an alternative of the combined regex.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from llmguard.redact._patterns import SECRET_GROUP

_ANCHORED: dict[str, Any] = {}  # one kind's regex, by its source


class ScanMemo:
    """What one scan's searches found with each part of a split regex (`Search.find`).

    Every buffer a scan searches is a suffix of its text, so a buffer's start in the text
    is ``size - len(buffer)``: what a part found is kept in the text's positions, and
    holds for a buffer starting further on, past its first byte.
    """

    __slots__ = ("budget", "finders", "found", "size")

    def __init__(self, size: int) -> None:
        self.size = size  # the length of the text
        # part -> (its buffer's start, where its search started, the match's start and
        # end or -1s), in the text's positions
        self.found: dict[Any, tuple[int, int, int, int]] = {}
        self.finders: dict[Search, Any] = {}  # each split search's `Search.finder`
        # What the parts a value passed may still read alone (`Search.find`): about eight
        # times the text, for all the scan's searches together
        self.budget = 8 * size


class Search:
    """The regexes that find, then read, the values of some kinds.

    `find` is RE2 with no capturing group: where the next match starts and ends, in a
    DFA pass. Which kind matched there, and where its value lies in the match, `read`
    asks Python's `re`, anchored at that start, bounded to the match and given only the
    kinds whose values can start with the character after it: a few times cheaper than
    RE2 filling in groups, and bounded work, since `re` reads at most `READ_BY_RE`
    characters. RE2's groups decide a longer match, and whatever `re` cannot tell the
    same (text that is not ASCII, a pattern it reads otherwise).

    The kinds in ``apart`` are found by a regex of their own beside the others' (see
    `find`): the password's and secret's names, which can start at any letter, make
    the combined regex's automaton the product of theirs and the rest's, too many states
    for RE2's DFA cache on base64-like text (1 MB took 1.6 to 3.5 s, against 4 to 8 ms
    for the two regexes).
    """

    __slots__ = (
        "_by_kinds", "_contexts", "_find", "_groups", "_kept", "_memo", "_parts", "_readers",
        "_starts", "_whole",
    )  # fmt: skip

    def __init__(
        self,
        kept: list[tuple[int, str]],
        starts: tuple[frozenset[int] | None, ...],
        contexts: tuple[tuple[re.Pattern[bytes], re.Pattern[bytes] | None] | None, ...] | None,
        apart: frozenset[int] = frozenset(),
    ) -> None:
        self._kept = kept
        self._starts = starts
        self._contexts = contexts
        self._find = compile_regex(_combined_source(kept), False)
        groups = [[k for k in kept if k[0] not in apart], [k for k in kept if k[0] in apart]]
        # Each part, and the bytes a match of it may owe to starting the text (`start_bytes`)
        self._parts = (_part(groups[0]), _part(groups[1])) if all(groups) else None
        self._groups: tuple[Any, tuple[tuple[int, int], ...]] | None = None
        self._whole = _Reader.of(kept)
        # by the byte after a match's start: its value's first byte, past the context
        # (or 256 + the first two bytes, for a match at the start of the buffer)
        self._readers: dict[int, _Reader | None] = {}
        self._by_kinds: dict[tuple[int, ...], _Reader | None] = {}  # readers by their kinds
        # What `read` found, by the bytes it read: (kind, value start, value end) from
        # the match's start. Text packed with candidates repeats them.
        self._memo: dict[tuple[bytes, int, bool], tuple[int, int, int]] = {}

    def finder(self, memo: ScanMemo) -> Any:
        """`find` for the hottest loop: ``finder(RE2.unanchored, buffer, pos, end)[0]``.

        RE2's own ``Match`` of the combined regex, unless it is split in parts.
        """
        if self._parts is None:
            return self._find.Match
        finder = memo.finders.get(self)
        if finder is None:
            finder = memo.finders[self] = self._parts_finder(memo)
        return finder

    def find_at_start(self, buffer: Any, end: int) -> tuple[int, int]:
        """Where the match starting ``buffer[:end]`` ends: ``(0, end)``, or -1s if none."""
        span: tuple[int, int] = self._find.Match(RE2.anchor_start, buffer, 0, end)[0]
        return span

    def find(self, buffer: Any, pos: int, end: int, memo: ScanMemo) -> tuple[int, int]:
        """Where the leftmost match in ``buffer[pos:end]`` starts and ends: -1 if none.

        ``buffer`` is a suffix of the text ``memo`` is for, and ``end`` its length.
        A split regex's parts are searched on their own, each from where its last match
        was passed (``memo``): the leftmost of their matches is the combined regex's,
        and where two parts match at that same start, the combined regex, anchored
        there, says which wins. A part's answer holds for a later buffer past its first
        byte (a value's context there may be the text's start), which is asked about
        alone; so each part reads the text about once, however many values it holds.
        """
        span: tuple[int, int] = self.finder(memo)(RE2.unanchored, buffer, pos, end)[0]
        return span

    def _parts_finder(self, memo: ScanMemo) -> Any:
        """`find`'s search of a split regex, for one scan (a closure: the hot loop's)."""
        assert self._parts is not None
        union = self._find.Match
        parts = self._parts
        others = {parts[0][0]: parts[1][0], parts[1][0]: parts[0][0]}
        found = memo.found
        size = memo.size
        unanchored, anchored = RE2.unanchored, RE2.anchor_start

        # A part with no match left from some point on, and the other part's search:
        # past that point, the other's answer is the whole answer.
        lone: tuple[int, int, frozenset[int] | None, Any] | None = None

        def find(anchor: Any, buffer: Any, pos: int, end: int) -> Any:
            nonlocal lone
            if anchor is not unanchored or end != len(buffer):
                return union(anchor, buffer, pos, end)  # (not a scan's: no memo holds)
            base = size - end
            here = base + pos
            if lone is not None:
                old, since, firsts, other = lone
                if (
                    since <= here
                    and old <= base
                    and (
                        here != base
                        or old == base
                        or not end
                        or (firsts is not None and buffer[0] not in firsts)
                    )
                ):
                    return other(unanchored, buffer, pos, end)
            best = best_end = -1
            tied = unknown = False  # two parts' matches at one start; one at base unknown
            passed: list[Any] = []  # the parts a value ended far inside the last match of
            for part, firsts in parts:
                entry = found.get(part)
                if entry is not None:
                    old, since, start, finish = entry
                    if since > here or 0 <= start < here or old > base or start == base != old:
                        if start < here < finish - READ_BY_RE and since <= here and old <= base:
                            passed.append(part)  # searched after the other (below)
                            continue
                        entry = None
                    elif here == base != old and end and (firsts is None or buffer[0] in firsts):
                        # Past an earlier buffer's start what it found holds; at this
                        # one's, only for a byte no match owes to the text starting there.
                        unknown = True
                if entry is None:
                    start, finish = part(unanchored, buffer, pos, end)[0]
                    if start >= 0:
                        start += base
                        finish += base
                    entry = found[part] = base, here, start, finish
                if start >= 0:
                    if best < 0 or start < best:
                        best, best_end, tied = start, finish, False
                    elif start == best:
                        tied = True
                elif lone is None:
                    lone = entry[0], entry[1], firsts, others[part]
            if passed:
                # Searched alone from here, a part whose match a value passed far inside
                # may read as far again, once a value (a password's name in each of glued
                # emails, its value reading on to the end). It does until the scan's parts
                # have read the text about eight times that way (a few glued values before
                # a megabyte of base64 text); then the combined regex does, which reads no
                # further than the leftmost match, in linear time, but with its automaton,
                # slow on base64-like text.
                if memo.budget <= 0:
                    return union(unanchored, buffer, pos, end)
                for part in passed:
                    start, finish = part(unanchored, buffer, pos, end)[0]
                    memo.budget -= (finish if start >= 0 else end) - pos
                    if start >= 0:
                        start += base
                        finish += base
                        if best < 0 or start <= best:
                            best, best_end, tied = start, finish, start == best
                    found[part] = base, here, start, finish
            if unknown:
                # A part may match at this buffer's first byte, where the text now
                # starts: the combined regex, anchored there.
                spans = union(anchored, buffer, pos, end)
                if spans[0][0] >= 0:
                    return spans
            if best < 0:
                return _NONE
            if tied:
                return union(anchored, buffer, best - base, end)
            return ((best - base, best_end - base),)

        return find

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
        if ascii and end - start <= READ_BY_RE and start + 1 < end:
            if seen is not None:
                known = memo.get(seen)
                if known is not None:
                    return known[0], start + known[1], start + known[2]
            # At the start of the buffer, the value starts there (the context was the
            # start of the text) or after a character of context; past it, a pattern
            # whose values' first bytes are known matched a character of context first.
            # A backslash or a % may start an escape of several (\n, \u00a0, %22): all
            # kinds read.
            if buffer[start] in _ESCAPES:
                reader = self._whole
            else:
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
                        remember(memo, seen, (kind, a - start, b - start), MEMO_SIZE // 8)
                    return kind, a, b
        if ascii and self._contexts is not None:
            read = self._read_by_context(buffer, start, end)
            if read is not None:
                return read
        if self._groups is None:
            regex = compile_regex("|".join(alternative(s, f"s{i}") for i, s in self._kept), True)
            names = dict(regex.NamedCapturingGroups())
            self._groups = regex, tuple((names[f"s{i}".encode()], i) for i, _ in self._kept)
        regex, groups = self._groups
        spans = regex.Match(RE2.anchor_start, buffer, start, len(buffer))
        for group, kind in groups:
            a, b = spans[group]
            if a >= 0:
                return kind, a, b
        raise AssertionError("RE2 matched no kind")  # pragma: no cover

    def _read_by_context(self, buffer: Any, start: int, end: int) -> tuple[int, int, int] | None:
        """What `read` returns, found without RE2's groups, or ``None`` if in doubt.

        The kind is the first whose own regex matches at ``start`` (the combined regex
        takes the first alternative that matches); its value lies inside the match,
        after the one character of context before it (or none at the buffer's start)
        and before the one after it (or none at the text's end). Where a character
        could be either context or value, RE2's groups decide.
        """
        assert self._contexts is not None
        if buffer[start] in _ESCAPES:
            return None  # the context may be an escape, of two to six characters
        size = len(buffer)
        for kind, source in self._kept:
            regex = _ANCHORED.get(source)
            if regex is None:
                regex = _ANCHORED[source] = compile_regex(unnamed(alternative(source, "s")), False)
            found, stop = regex.Match(RE2.anchor_start, buffer, start, size)[0]
            if found < 0:
                continue
            context = self._contexts[kind]
            if stop != end or context is None:
                return None
            before, after = context
            if start:
                a = start + 1  # ^ holds at the buffer's start only
            else:
                opens = self._starts[kind]
                could_open = opens is not None and buffer[0] in opens
                if could_open == (before.fullmatch(bytes(buffer[:1])) is not None):
                    return None
                a = 0 if could_open else 1
            if after is None:
                b = end
            elif end < size:
                b = end - 1  # $ holds at the text's end only
            elif after.fullmatch(bytes(buffer[end - 1 : end])) is not None:
                return None
            else:
                b = end
            return kind, a, b
        return None

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
        """The reader of ``kept``, or ``None`` if `re` cannot compile them or would read
        them otherwise than RE2 (a POSIX class, ``[[:digit:]]``, is a set to `re`; a flag
        for a whole pattern, ``(?i)``, not at the start of the combined regex is an error
        since Python 3.11, and on 3.10 a DeprecationWarning that applies it to every
        kind)."""
        if any(_POSIX_CLASS.search(s) or _GLOBAL_FLAGS.search(s) for _, s in kept):
            return None
        try:
            wrapped = "|".join(f"(?P<a{i}>{alternative(s, f's{i}')})" for i, s in kept)
            regex = re.compile(wrapped.encode("utf-8"))
        except (re.error, OverflowError, RecursionError):
            return None
        kinds = {regex.groupindex[f"a{i}"]: i for i, _ in kept}
        values = {i: regex.groupindex[f"s{i}"] for i, _ in kept}
        return cls(kept, regex, kinds, values)


_MISSING: Any = object()
_NONE = ((-1, -1),)
_PARTS: dict[str, Any] = {}  # the parts of split searches, by their source
_ESCAPES = frozenset(b"\\%")  # the bytes an escape before a value starts with
READ_BY_RE = 256  # the longest match `Search.read` asks Python's re about
MEMO_SIZE = 4096  # the answers a memo holds before it starts over


def remember(memo: dict[Any, Any], key: Any, value: Any, size: int | None = None) -> None:
    """``memo[key] = value``, in a memo that starts over past ``size`` answers.

    ``size`` is `MEMO_SIZE` unless given. Each memo of a redactor holds at most a few
    MB: keys are at most a few hundred bytes.
    """
    memo[key] = value
    if len(memo) > (MEMO_SIZE if size is None else size):
        memo.clear()


class RE2:
    """google-re2, imported at the first pattern compiled: not at `import llmguard`."""

    unanchored: Any = None
    anchor_start: Any = None


def _combined_source(kept: list[tuple[int, str]]) -> str:
    """One regex finding the matches of ``kept``'s kinds, with no groups."""
    return "|".join(unnamed(alternative(s, "s")) for _, s in kept)


def _part(kept: list[tuple[int, str]]) -> tuple[Any, frozenset[int] | None]:
    """A split search's part: its regex, one object for one source (so that searches with
    other kinds hidden share what a scan's `ScanMemo` knows of it), and its kinds'
    `start_bytes` (``None`` if any kind's are unknown)."""
    source = _combined_source(kept)
    part = _PARTS.get(source)
    if part is None:
        firsts: frozenset[int] | None = frozenset()
        for _, kind in kept:
            more = start_bytes(kind)
            firsts = None if more is None or firsts is None else firsts | more
        part = compile_regex(source, False).Match, firsts
        remember(_PARTS, source, part, 256)
    return part


def compile_regex(source: str, capture: bool) -> Any:
    """An RE2 regex: the binding's own object, whose `Match` takes a buffer and bounds.

    Raises:
        re2.error: RE2 cannot compile ``source``.
    """
    import re2  # google-re2 has no type stubs: it is Any here
    from re2 import _re2

    if RE2.unanchored is None:
        RE2.unanchored = _re2.RE2.Anchor.UNANCHORED
        RE2.anchor_start = _re2.RE2.Anchor.ANCHOR_START
    options = re2.Options()
    # Bounds each regex's memory, its DFA's cache included. At 4 MB the combined regex of
    # 23 default kinds ran out of cache on base64-like text and fell back to a slower
    # engine (65 ms a megabyte, against 4 ms at 8 MB); with 26 kinds, 8 MB ran out on
    # base64url text with dots (160 ms a megabyte, against 16 at 16 MB). Memory grows
    # only as text needs: the benchmark's floods peak at the same RSS either way.
    options.max_mem = 16 << 20
    options.log_errors = False
    options.never_capture = not capture
    regex = _re2.RE2(source.encode("utf-8"), options)
    if not regex.ok():
        raise re2.error(regex.error())
    return regex


_ALL_BYTES = frozenset(range(256))
_NON_ASCII = frozenset(range(128, 256))
_CATEGORIES = {
    "CATEGORY_DIGIT": frozenset(b"0123456789") | _NON_ASCII,
    "CATEGORY_WORD": frozenset(b"0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    | _NON_ASCII,
    "CATEGORY_SPACE": frozenset(b" \t\n\r\f\v\x1c\x1d\x1e\x1f\x85") | _NON_ASCII,
}
_POSIX_CLASS = re.compile(r"\[:\^?[a-z]+:\]")  # in a class: [[:alpha:]], [^[:^digit:]]
_GLOBAL_FLAGS = re.compile(r"(?<!\\)\(\?[aiLmsux]+\)")  # (?i) for a whole pattern
_AT_START = {"AT_BEGINNING", "AT_BEGINNING_LINE", "AT_BEGINNING_STRING", "AT_BOUNDARY",
             "AT_NON_BOUNDARY", "AT_UNI_BOUNDARY", "AT_UNI_NON_BOUNDARY", "AT_LOC_BOUNDARY",
             "AT_LOC_NON_BOUNDARY"}  # fmt: skip


class _Unknown(Exception):
    """A regex construct `start_bytes` does not follow."""


def start_bytes(source: str) -> frozenset[int] | None:
    """The bytes a match of ``source`` may start with where it owes the match to the text
    starting there: its first byte after a ``^`` or a ``\\b`` that nothing came before.

    A match anywhere else reads the same whether a text starts before it or not; so
    where a text starts again (after a value), an earlier search's answer holds at the
    first byte unless that byte is one of these. ``None`` when unsure (a construct this
    does not follow, a pattern Python's re cannot read, or an empty match there).
    """
    import importlib

    if _POSIX_CLASS.search(source):
        return None  # RE2's [[:alpha:]], which Python's re reads as a set of [:ahlp
    parser: Any = importlib.import_module(
        "re._parser" if sys.version_info >= (3, 11) else "sre_parse"
    )
    try:
        parsed = parser.parse(source)
        # (?i) at the start is a flag of the whole regex, not a node of it
        caseless = bool(parsed.state.flags & re.IGNORECASE)
        firsts, after = _firsts(list(parsed), {False}, caseless)
    except (_Unknown, re.error, RecursionError, OverflowError, ValueError, TypeError):
        return None
    return None if True in after else frozenset(firsts)


def _firsts(items: list[Any], states: set[bool], caseless: bool) -> tuple[set[int], set[bool]]:
    """The first bytes consumed after an assertion in a sequence of regex nodes, and the
    states it can be passed in consuming nothing (whether such an assertion was met)."""
    firsts: set[int] = set()
    for op, arg in items:
        if not states:
            break
        name = str(op)
        if name in ("LITERAL", "NOT_LITERAL", "ANY", "IN"):
            if True in states:
                firsts |= _class_bytes(name, arg, caseless)
            states = set()
        elif name == "AT":
            if str(arg) in _AT_START:
                states = {True}
        elif name == "BRANCH":
            out: set[bool] = set()
            for branch in arg[1]:
                got, passed = _firsts(list(branch), states, caseless)
                firsts |= got
                out |= passed
            states = out
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            body = arg[-1] if name == "SUBPATTERN" else arg
            add, remove = (arg[1], arg[2]) if name == "SUBPATTERN" else (0, 0)
            inner = (caseless or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE
            got, states = _firsts(list(body), states, inner)
            firsts |= got
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _, body = arg
            entering, out = set(states), set(states) if low == 0 else set()
            for _ in range(3):  # the states grow at most twice: a fixed point
                got, passed = _firsts(list(body), entering, caseless)
                firsts |= got
                if passed <= entering:
                    break
                entering |= passed
            out |= passed if low else passed | states
            states = out
        else:
            raise _Unknown(name)
    return firsts, states


def _class_bytes(name: str, arg: Any, caseless: bool) -> frozenset[int]:
    if name in ("NOT_LITERAL", "ANY"):
        return _ALL_BYTES
    codes: set[int] = set()
    for op, value in [(name, arg)] if name == "LITERAL" else arg:
        kind = str(op)
        if kind == "LITERAL":
            codes.add(value)
        elif kind == "RANGE":
            if value[1] - value[0] > 0x10000:
                return _ALL_BYTES
            codes.update(range(value[0], value[1] + 1))
        elif kind == "CATEGORY" and str(value) in _CATEGORIES:
            codes |= _CATEGORIES[str(value)]
        else:  # a negated class, a category's complement
            return _ALL_BYTES
    found: set[int] = set()
    for code in codes:
        if not caseless or not chr(code).isalpha():
            found.update((code,) if code < 128 else _NON_ASCII)
            continue
        # RE2 folds case by Unicode: k also matches the Kelvin sign, s the long s, and
        # the other way round
        found |= _NON_ASCII
        for folded in (chr(code).lower(), chr(code).upper(), chr(code).casefold()):
            if len(folded) == 1 and folded.isascii():
                found.update(ord(c) for c in (folded.lower(), folded.upper()))
    return frozenset(found)


def compiles(source: str) -> bool:
    import re2

    try:
        compile_regex(source, True)
    except re2.error:
        return False
    return True


def pattern_source(regex: re.Pattern[str] | str) -> tuple[str, int]:
    if isinstance(regex, re.Pattern):
        return regex.pattern, regex.flags
    if not isinstance(regex, str):
        raise TypeError(f"a pattern must be a str regex, not {regex!r}")
    return regex, 0


def re2_source(source: str, flags: int) -> str | None:
    """``source`` with ``flags`` written inline, or ``None`` when RE2 has no such flag."""
    if flags & re.VERBOSE:
        return None
    inline = "".join(
        letter
        for flag, letter in ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))
        if flags & flag
    )
    return f"(?{inline}:{source})" if inline else source


def alternative(source: str, name: str) -> str:
    """``source`` as an alternative of a combined regex, its value in group ``name``."""
    marker = f"(?P<{SECRET_GROUP}>"
    at = source.find(marker)
    while at > 0 and _escaped(source, at):
        at = source.find(marker, at + 1)
    if at < 0:
        return f"(?P<{name}>{source})"
    return f"(?:{source[:at]}(?P<{name}>{source[at + len(marker) :]})"


def unnamed(source: str) -> str:
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


def search_function(prefilter: re.Pattern[str] | str) -> Callable[[str], bool]:
    """Whether ``prefilter`` finds something in a text: by RE2 when it can."""
    source, flags = pattern_source(prefilter)
    inline = re2_source(source, flags)
    if inline is not None and compiles(inline):
        regex = compile_regex(inline, False)

        def search(text: str) -> bool:
            data = text.encode("utf-8", "surrogatepass")
            return bool(regex.Match(RE2.unanchored, data, 0, len(data))[0][0] >= 0)

        return search
    compiled = re.compile(source, flags)
    return lambda text: compiled.search(text) is not None
