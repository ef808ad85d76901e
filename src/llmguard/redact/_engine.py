"""The search: the kinds of a `Patterns` compiled for RE2, read in one linear pass."""

from __future__ import annotations

import bisect
import re
from collections import Counter
from itertools import compress, repeat
from operator import add, and_, gt, itemgetter
from typing import Any, NamedTuple

from llmguard.redact._patterns import (
    AFTER,
    APART,
    BEFORE,
    CONTEXTS,
    DEFAULT_PATTERNS,
    DOUBLED,
    MIXED_RUNS,
    OWN_CHECKS,
    REACHES,
    RUNS,
    SECRET_GROUP,
    SPACE,
    SPLITTERS,
    RunForm,
    Validator,
)
from llmguard.redact._search import (
    RE2,
    READ_BY_RE,
    ScanMemo,
    Search,
    alternative,
    compile_regex,
    compiles,
    re2_source,
    remember,
    search_function,
)


class Kind(NamedTuple):
    name: str
    given: re.Pattern[str] | str
    source: str
    flags: int
    validator: Validator | None
    replacement: bytes
    starts: frozenset[int] | None  # the bytes a value can start with, when known


_first, _second, _third = itemgetter(0), itemgetter(1), itemgetter(2)


def replace_found(
    data: bytes, found: list[tuple[int, int, int]], kinds: tuple[Kind, ...], counts: dict[str, int]
) -> str:
    """``data`` with each value found replaced, as text; adds to ``counts``."""
    if len(found) == 1:
        start, end, index = found[0]
        kind = kinds[index]
        counts[kind.name] = counts.get(kind.name, 0) + 1
        pieces = [data[:start], kind.replacement, data[end:]]
    else:
        # Dense text can hold a value every few bytes: the pieces are cut in C.
        indices = list(map(_third, found))
        pieces = [b""] * (2 * len(found) + 1)
        cuts = map(slice, (0, *map(_second, found)), (*map(_first, found), len(data)))
        pieces[::2] = map(data.__getitem__, cuts)
        pieces[1::2] = map([kind.replacement for kind in kinds].__getitem__, indices)
        for index, count in Counter(indices).items():
            name = kinds[index].name
            counts[name] = counts.get(name, 0) + count
    return b"".join(pieces).decode("utf-8", "surrogatepass")


# -- the search -------------------------------------------------------------------------


class Engine:
    """The kinds of a `Patterns`, compiled: RE2 for those it runs, `re` for the others.

    `scan` finds the values to replace in one left-to-right pass; ``python`` holds the
    kinds RE2 cannot compile, for passes of their own.
    """

    __slots__ = (
        "_above", "_alternatives", "_apart", "_before_memo", "_befores", "_checked", "_contexts",
        "_decided", "_groups", "_kinds", "_no_runs", "_reaches",
        "_run_starts", "_runs", "_searches",
        "_split", "_starts", "memoized", "own", "prefilter", "python", "splitters", "validators",
    )  # fmt: skip

    def __init__(self, kinds: tuple[Kind, ...], prefilter: re.Pattern[str] | str | None) -> None:
        self.validators = tuple(kind.validator for kind in kinds)
        split = [SPLITTERS.get(kind.validator) for kind in kinds]
        self.splitters = tuple(None if pair is None else pair[0] for pair in split)
        # How far past a rejected value its splitter reads, when not `AFTER` bytes
        self._reaches = tuple(REACHES.get(kind.validator) for kind in kinds)
        # The length a rejected value must pass for its kind's splitter to be asked
        self._above = tuple(_SPLIT_ABOVE if pair is None else pair[1] for pair in split)
        # Whose verdicts are remembered by value: llmguard's checks, not a user's.
        self.memoized = tuple(kind.validator in OWN_CHECKS for kind in kinds)
        self._checked: dict[tuple[int, bytes], bool] = {}  # (kind, value) -> verdict
        # (the kinds hidden, (the bytes `Search.read` reads, the match's length, whether
        # it starts the buffer)) -> kind, value start and end from the match's, verdict
        self._decided: dict[tuple[int, tuple[bytes, int, bool]], tuple[int, int, int, bool]] = {}
        # (kind, value, after, the two bytes before) -> head
        self._split: dict[tuple[int, bytes, bytes, bytes], int] = {}
        # (kind, what `_before` read, at the start) -> the values' spans, from the start
        self._before_memo: dict[tuple[int, bytes, bool], tuple[tuple[int, int], ...]] = {}
        # Whether `_before` remembers a kind's answers: for llmguard's checks or none
        self._befores = tuple(
            kind.validator is None or kind.validator in OWN_CHECKS for kind in kinds
        )
        self._starts = tuple(kind.starts for kind in kinds)
        alternatives: list[tuple[int, str]] = []
        python: list[tuple[int, re.Pattern[str]]] = []
        for index, kind in enumerate(kinds):
            source = re2_source(kind.source, kind.flags)
            if source is not None and compiles(alternative(source, "s")):
                alternatives.append((index, source))
            else:
                python.append((index, re.compile(kind.source, kind.flags)))
        self._alternatives = tuple(alternatives)
        self.python = tuple(python)
        self._searches: dict[int, Search | None] = {}
        self._kinds: dict[int, tuple[Any, int]] = {}
        own = _own_names(kinds, alternatives) if not python else None
        # The kinds found by a regex of their own (`Search`): by their source, whatever
        # the other kinds are.
        self._apart = frozenset(i for i, source in alternatives if source in APART)
        self.own = own is not None  # every kind is one of llmguard's own, read by RE2
        self._runs = tuple(None if own is None else _forms(own, i) for i in range(len(kinds)))
        # kind -> the first two bytes of its runs, right after one of its values
        self._run_starts: tuple[frozenset[bytes] | None, ...] = tuple(
            None if forms is None else frozenset().union(*(run.form.opens for run in forms))
            for forms in self._runs
        )
        self._no_runs = (None,) * len(kinds)
        self._contexts = None if own is None else tuple(CONTEXTS.get(name) for name in own)
        # (card, phone): the kinds whose near misses `_digit_groups` reads a stretch at a
        # time, when both are llmguard's own
        self._groups = (
            (own.index("card"), own.index("phone"))
            if own is not None and "card" in own and "phone" in own
            else None
        )
        if alternatives:
            self.search(0)
        self.prefilter = None if prefilter is None else search_function(prefilter)

    @property
    def searching(self) -> bool:
        """Whether RE2 runs any kind."""
        return bool(self._alternatives)

    def search(self, hidden: int) -> Search | None:
        """The regexes of the kinds not in the bit set ``hidden`` (compiled once)."""
        if hidden in self._searches:
            return self._searches[hidden]
        kept = [(i, source) for i, source in self._alternatives if not hidden >> i & 1]
        search = self._searches[hidden] = (
            Search(kept, self._starts, self._contexts, self._apart) if kept else None
        )
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
        memo = ScanMemo(size)
        find = everything.finder(memo)
        unanchored = RE2.unanchored
        runs = self._runs if ascii else self._no_runs
        run_starts = self._run_starts if ascii else self._no_runs
        # kind -> the candidates of that kind to let pass before trying a run again
        waits: dict[int, int] = {}
        misses: dict[int, int] = {}  # kind -> run attempts in a row that found none
        # kind -> the values of that kind to let pass before asking `_ready` again, and
        # how many times in a row it said no
        unready: dict[int, tuple[int, int]] = {}
        # kind -> where a search for the other kinds started, the match it found (its
        # start and end), and where its buffer started
        others: dict[int, tuple[int, int, int, int]] = {}
        while True:
            if hidden:
                here = base + pos
                if len(hidden) == 1:
                    ((kind, (nearest, _)),) = hidden.items()
                    if nearest <= here:
                        del hidden[kind]
                    bits = 1 << kind
                else:
                    bits = 0
                    nearest = size
                    for kind, (again, _) in list(hidden.items()):
                        if again <= here:
                            del hidden[kind]
                        else:
                            bits |= 1 << kind
                            nearest = min(nearest, again)
            if hidden:
                search = self._searches.get(bits) or self.search(bits)
                span: tuple[int, int] | None = None
                if search is not None:
                    since = pos
                    last = known.get(bits)
                    if not pos:
                        # A match at the start of the buffer may owe it to being there
                        # (^, \b): it is asked about alone; the matches after it are
                        # the same whatever values came before, and may be known.
                        since = 1
                        if last is not None and last[0] <= 1:
                            start, end = search.find_at_start(buffer, size - base)
                        else:
                            # Nothing known after it: one search from the start tells
                            # both, a match there or else the first one after it.
                            start, end = search.find(buffer, 0, size - base, memo)
                            if start:
                                last = known[bits] = 1, None if start < 0 else (start, end)
                        if start >= 0:
                            span = start, end
                    if span is not None:
                        pass
                    elif (
                        last is not None
                        and last[0] <= since
                        and (last[1] is None or last[1][0] >= since)
                    ):
                        span = last[1]
                    else:
                        start, end = search.find(buffer, since, size - base, memo)
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
            if remembering and ascii and end - start <= READ_BY_RE:
                # (the same bytes as the buffer's, cut from ``data`` in one step)
                looked = (
                    data[base + start - 1 if start else base : base + end + 2],
                    end - start,
                    not start,
                )
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
                        remember(checked, check, verdict)
                    accepted = verdict
                else:
                    value = data[base + a : base + b].decode("utf-8", "surrogatepass")
                    accepted = bool(validator(value))
                if (
                    seen is not None
                    and (validator is None or memoized[kind])
                    and search.read_alike(seen[1])
                    and (accepted or splitters[kind] is None or b - a <= self._above[kind])
                ):
                    remember(decided, seen, (kind, a - start, b - start, accepted))
                    stored += 1
                    if not stored & 255 and hits * 4 < stored:
                        # Candidates unlike each other: remembering them costs more
                        # than it saves, for the rest of this text.
                        remembering = False
            splitter = splitters[kind]
            if not accepted and splitter is not None and b - a > self._above[kind]:
                # Too long to be one value, maybe two: the longest head that is one.
                reach = self._reaches[kind]
                before = data[max(base + a - (2 if reach is None else BEFORE), 0) : base + a]
                after = data[base + b : whole_chars(data, base + b + AFTER)]
                piece = kind, data[base + a : base + b], after, before
                head = split.get(piece, -1)
                value = piece[1].decode("utf-8", "surrogatepass")
                if head < 0:
                    if reach is not None:
                        # The splitter may read on to a closing quote or a line's end;
                        # what it found within `AFTER` bytes depends on those alone.
                        stop = whole_chars(data, reach(data, base + a, base + b, before))
                        after = data[base + b : stop]
                    head = splitter(
                        value,
                        after.decode("utf-8", "surrogatepass"),
                        before.decode("utf-8", "replace"),
                    )
                    if len(after) <= AFTER:  # (a memo's keys stay short)
                        remember(split, piece, head)
                if head:
                    if head > len(value):  # the value runs on past the match (a quote's)
                        value += after.decode("utf-8", "surrogatepass")
                    b = a + len(value[:head].encode("utf-8", "surrogatepass"))
                    accepted = True
            if accepted:
                pair = -1  # the kind hidden, when its rejected match started the buffer
                if hidden:
                    # This value cuts the rejected matches it falls in: what comes
                    # before it is read again with it as a boundary, and what comes
                    # after is free again, as a second pass over the text would see.
                    if len(hidden) == 1:
                        # One kind hidden: its answer is often known (`_before`'s memo).
                        ((other, (_, at)),) = hidden.items()
                        if not at:
                            pair = other
                        spans = None
                        if a - at <= READ_BY_RE and self._befores[other]:
                            cut = data[base + at - 1 if at else base : base + a], not at
                            spans = self._before_memo.get((other, *cut))
                        if spans is None:
                            found.extend(self._before(view[base : base + a], hidden, base))
                        else:
                            found += [(base + at + x, base + at + y, other) for x, y in spans]
                    else:
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
                    known = _shifted(known, b) if len(known) > 1 else _shifted_one(known, b)
                # More values of this kind may follow: a run is read at once (`_run`).
                if (
                    (opens := run_starts[kind]) is not None
                    and data[base : base + 2] in opens
                    and (form := _ready_now(runs[kind], kind, data, base, unready)) is not None
                ):
                    if waits.get(kind):
                        waits[kind] -= 1
                    else:
                        moved = self._run(form, kind, data, base, base, others, found, base, memo)
                        if isinstance(moved, int):
                            waits[kind] = _backoff(misses, kind, moved)
                        else:
                            misses[kind] = 0
                            start = base
                            base, pos = moved
                            buffer = view[base:]
                            if known and start != base:
                                known = _shifted(known, base - start)
                elif (
                    pair >= 0
                    and self._contexts is not None  # llmguard's own kinds alone
                    and ascii
                    and remembering
                    and not known
                    and runs[pair] is None
                ):
                    # A rejected match at the buffer's start, then this value with its
                    # kind hidden: more such pairs may follow, read by `_pairs`.
                    # (Its waits and misses are kept under `_PAIRS`.)
                    if waits.get(_PAIRS):
                        waits[_PAIRS] -= 1
                    else:
                        moved, cycles = self._pairs(data, base, pair, runs, found, memo)
                        if cycles:
                            misses[_PAIRS] = 0
                            hits += 2 * cycles
                            base = moved
                            buffer = view[base:]
                        else:
                            waits[_PAIRS] = _backoff(misses, _PAIRS, 0)
                continue
            # Rejected: the kinds after it may match here, this kind again from its last
            # character (the context of what follows it) on.
            again = max(b - 1, start + 1)
            # More near misses of this kind may follow, with no other kind hidden: a run
            # is read at once (`_run`).
            if (
                not hidden
                and (opens := run_starts[kind]) is not None
                and data[base + b : base + b + 2] in opens
                and (form := _ready_now(runs[kind], kind, data, base + b, unready)) is not None
            ):
                if waits.get(kind):
                    waits[kind] -= 1
                else:
                    moved = self._run(
                        form, kind, data, base + start, base + b, others, found, base, memo
                    )
                    if isinstance(moved, int):
                        waits[kind] = _backoff(misses, kind, moved)
                    else:
                        misses[kind] = 0
                        # The values after it are read already: carry on after the last.
                        if moved[0] != base:
                            if known:
                                known = _shifted(known, moved[0] - base)
                            base = moved[0]
                            buffer = view[base:]
                        pos = moved[1]
                        continue
            # Cards that fail Luhn among four-digit groups, where phone numbers starting
            # with 0 hide cards and cards hide phone numbers at every group: a stretch of
            # such groups is read at once (`_digit_groups`).
            # (Its waits and misses are kept under `_GROUPS` in ``waits`` and ``misses``.)
            if (
                b - a == 19
                and runs[kind] is not None
                and (groups := self._groups) is not None
                and kind == groups[0]
                and a == start + 1
                and buffer[start] == 32
                and base + b < size
                and data[base + b] == 32
                and (not hidden or hidden.keys() == {groups[1]})
            ):
                if waits.get(_GROUPS):
                    waits[_GROUPS] -= 1
                else:
                    # The window doubles while no card stops the reading.
                    window = _RUN_WINDOW << misses.get(_WIDER, 0)
                    read = self._digit_groups(data, base, base + a, hidden, window)
                    if read is None:
                        waits[_GROUPS] = _backoff(misses, _GROUPS, 0)
                    else:
                        misses[_GROUPS] = 0
                        stop, full = read
                        misses[_WIDER] = min(misses.get(_WIDER, 0) + 1, 12) if full else 0
                        pos = stop - base
                        continue
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

    def _run(
        self, run: _Form, kind: int, data: bytes, start: int, at: int,
        others: dict[int, tuple[int, int, int, int]], found: list[tuple[int, int, int]], base: int,
        memo: ScanMemo,
    ) -> tuple[int, int] | int:  # fmt: skip
        """Read the values of ``run`` that follow one of ``kind`` ending at ``at``.

        What reading them one by one would decide, read in one RE2 match: the accepted
        ones go in ``found``. ``start`` is where the value before started; no kind but
        the run's may match from there to the end of the last value read, nor may a
        value need its kind's splitter. Returns where the buffer starts after them
        (``base`` unless one was accepted) and where in it the next search starts; or,
        when no run follows, how many values of the kind to read one by one before
        trying again: none when that took no RE2 call, more when RE2 found no run.
        """
        form = run.form
        # The kinds a run's form hides cannot change how its own values read, but may
        # in a rejected value before them (from ``start`` to ``at``).
        bits = run.bits if start == at else run.own_bits
        # Where the nearest match of another kind starts, from ``start`` on, in the
        # buffer starting at ``base``. Remembered, so that the text is read once for it
        # however many runs there are: a buffer starting further on finds the same
        # matches past its first byte, and at that byte may find one more (a value's
        # context may be the text's start), asked about alone. Until the scan passes the
        # end of the match found, no run is tried once it passed its start: a search from
        # there could read as far again (a curl password running to the end of glued
        # URLs, each holding a --user=), and the text would be read once a value.
        since, other, read_from, other_end = others.get(bits, (-1, -1, -1, -1))
        search = self.search(bits)
        if search is None:
            other = -1
        elif since < 0 or since > start or 0 <= other < start:
            if other < start < other_end:
                return _NO_RUN
            other, other_end = search.find(
                memoryview(data)[base:], start - base, len(data) - base, memo
            )
            other, other_end = (-1, -1) if other < 0 else (base + other, base + other_end)
            others[bits] = start, other, base, other_end
        elif (
            read_from != base
            and start == base
            and data[base] not in SPACE
            and search.find_at_start(memoryview(data)[base:], len(data) - base)[0] >= 0
        ):
            other = base
        end = len(data) if other < 0 else other
        if end < at + 2:
            return 0  # another kind's match is next
        regex = self._compiled_run(form)
        mixed = form.classify is not None
        validator = self.validators[kind]
        # A mixed run's values are judged by its form, and split by their kinds' splitters.
        splitters = tuple(self.splitters[index] is not None for index in run.kinds)
        splitting = any(splitters)
        limit = min(len(data), end + form.after)
        starts: list[int] = []
        ends: list[int] = []
        accepted: list[bool] = []
        kinds: list[int] = []  # a mixed run's: each value's kind
        # RE2 reads the run in windows twice as long each time: what it reads past the
        # values used is at most what they take, so a run cut short (by a value that
        # needs the splitter) is not read to its end again and again.
        here, window = at, _RUN_WINDOW
        while True:
            edge = min(limit, here + window)
            stop = regex.Match(RE2.anchor_start, data, here, edge)[0][1]
            if stop < 0:
                if here == at:  # no run, or none before another kind's match
                    return _NO_RUN if end == len(data) else 1
                break
            values, offsets = form.cut(data[here : stop - form.after])
            lengths = list(map(len, values))
            firsts = list(map(add, offsets, repeat(here)))
            lasts = list(map(add, firsts, lengths))
            count = bisect.bisect_right(lasts, end)  # values ending before another kind
            if form.stops is not None:
                at_stop = self._regex(form.stops).Match(RE2.unanchored, data, here, stop)[0][0]
                if at_stop >= 0:  # the value holding it, and those after, left to the scan
                    count = min(count, bisect.bisect_right(firsts, at_stop + 1) - 1)
            del values[count:], lengths[count:]
            classes: list[int] = []
            if form.classify is not None:
                classes, verdicts = form.classify(values)
            elif form.check is not None:
                verdicts = form.check(values)
            elif validator is None:
                verdicts = [True] * count
            else:
                known = {value: bool(validator(value.decode())) for value in set(values)}
                verdicts = list(map(known.__getitem__, values))
            if splitting and count and max(lengths) > _SPLIT_ABOVE:
                # The first value rejected and long enough to be two (True > False), in C:
                # the engine reads it.
                longer = map(_SPLIT_ABOVE.__lt__, lengths)
                if mixed:  # of a kind with a splitter
                    longer = map(and_, longer, map(splitters.__getitem__, classes))
                split = list(map(gt, longer, verdicts))
                if True in split:
                    count = split.index(True)
            if form.whole is not None and count and not form.whole(data, lasts[count - 1]):
                count -= 1  # the last value reads on: the scan reads it alone
            cut = count < len(lasts)
            if cut:
                del firsts[count:], lasts[count:], verdicts[count:], classes[count:]
            starts += firsts
            ends += lasts
            accepted += verdicts
            if mixed:
                kinds += map(run.kinds.__getitem__, classes)
            if cut or edge == limit:
                break
            here = stop - form.after
            window *= 2
        if not starts:
            return 1
        if validator is None and not mixed:
            found.extend(zip(starts, ends, repeat(kind)))
            return ends[-1], 0
        # The values rejected left out before their tuples are made.
        kinds_of: Any = compress(kinds, accepted) if mixed else repeat(kind)
        found.extend(zip(compress(starts, accepted), compress(ends, accepted), kinds_of))  # noqa: B905
        if accepted[-1]:
            return ends[-1], 0
        if True in accepted:
            last = len(accepted) - 1 - accepted[::-1].index(True)
            base = ends[last]
        return base, ends[-1] - 1 - base

    def _pairs(
        self, data: bytes, base: int, hidden: int, runs: tuple[tuple[_Form, ...] | None, ...],
        found: list[tuple[int, int, int]], memo: ScanMemo,
    ) -> tuple[int, int]:  # fmt: skip
        """Read on while the text repeats what `scan` just did: a rejected match of ``hidden``
        at the buffer's start, then, with that kind hidden, an accepted value after it.

        `scan` stands at ``base`` with no kind hidden, nothing known, answers remembered.
        Each pair costs the same two RE2 searches `scan` runs, but the rest is read from
        the answers `scan` remembered (the kind, value and verdict of each match, by the
        bytes around it; `_before`'s values): a pair goes in ``found`` only when each step
        is one `scan` would take, and ends in the state it would leave, so `scan` carries
        on from where this stops as if it had read every pair itself. Returns where the
        buffer starts then, and the pairs read.
        """
        size = len(data)
        view = memoryview(data)
        everything = self._searches[0]
        search = self._searches.get(1 << hidden)
        if everything is None or search is None:
            return base, 0
        find, find_after = everything.finder(memo), search.finder(memo)
        unanchored = RE2.unanchored
        bits = 1 << hidden
        decided = self._decided
        before_memo = self._before_memo
        split = self.splitters[hidden] is not None
        pairs = 0
        while True:
            buffer = view[base:]
            # No kind hidden: the match at the start, rejected.
            start, end = find(unanchored, buffer, 0, size - base)[0]
            if start or end > READ_BY_RE:
                break
            step = decided.get((0, (data[base : base + end + 2], end, True)))
            if (
                step is None
                or step[3]
                or step[0] != hidden
                or (split and step[2] - step[1] > self._above[hidden])
            ):
                break
            again = max(step[2] - 1, 1)
            # Its kind hidden: the first match after the start, before ``again``, accepted.
            start, end = find_after(unanchored, buffer, 0, size - base)[0]
            if not 0 < start < again or end - start > READ_BY_RE:
                break
            step = decided.get(
                (bits, (data[base + start - 1 : base + end + 2], end - start, False))
            )
            if step is None or not step[3]:
                break
            kind, a, b = step[0], start + step[1], start + step[2]
            spans = (
                before_memo.get((hidden, data[base : base + a], True)) if a <= READ_BY_RE else None
            )
            if spans is None:
                break
            opens = self._run_starts[kind]
            if (
                opens is not None
                and data[base + b : base + b + 2] in opens
                and _ready(runs[kind], data, base + b) is not None
            ):
                break  # `scan` would look for a run of its kind
            if spans:
                found += [(base + x, base + y, hidden) for x, y in spans]
            found.append((base + a, base + b, kind))
            base += b
            pairs += 1
        return base, pairs

    def _digit_groups(
        self, data: bytes, base: int, at: int, hidden: dict[int, tuple[int, int]], window: int
    ) -> tuple[int, bool] | None:
        """Read the cards and phone numbers of four-digit groups from a rejected card at ``at``.

        ``data[at:]`` starts with the card's value, a space before it and after it; the
        scan just rejected it, with no kind hidden but phone numbers. In a stretch of
        groups ``dddd `` only two kinds can start a value, at a group: a card, its four
        groups (the next card the scan reads starts right after it), and a phone number,
        at a group starting with 0, its five groups: twenty digits, too many, and no
        head of it is one either when three more groups follow (the splitter's second
        number would be five groups too). So, until an accepted card or the stretch's
        last groups, where values may read on into other text, the scan would find
        nothing, and hide each kind across its last rejected match: this returns where
        it would stand then, ``hidden`` set as it would be (from ``base``, the buffer's
        start), and whether no card stopped the reading; or ``None`` when no long enough
        stretch is there.
        """
        assert self._groups is not None
        card, phone = self._groups
        edge = min(len(data), at + window)
        stop = self._stretch().Match(RE2.anchor_start, data, at, edge)[0][1]
        count = (stop - at) // 5
        if count < _MIN_GROUPS:
            return None
        last = count - 1  # the last group whose value is known to end in the stretch
        # Luhn on the cards after the first (groups 4k to 4k + 3), all in C but a sum each:
        # every other digit doubled, then each card's 16 bytes summed (48 each: 8 mod 10).
        cards = count // 4
        digits = bytearray(data[at : at + 20 * cards].translate(None, b" "))
        digits[0::2] = digits[0::2].translate(DOUBLED)
        cuts = map(slice, range(16, 16 * cards, 16), range(32, 16 * cards + 1, 16))
        sums = map(sum, map(digits.__getitem__, cuts))
        first = cards  # the first card the scan would not reject, or past the stretch
        for index, total in enumerate(sums, 1):
            if total % 10 == 8:
                value = data[at + 20 * index : at + 20 * index + 19]
                if value.count(value[:1]) != 16:  # not one digit throughout
                    first = index
                    break
        # The first card not read here: accepted, or reading on past the stretch.
        until = at + 20 * first - 1
        # Phone numbers: from where the scan would look for the next one, each at a group
        # starting with 0, five groups long, rejected, the next from after its end.
        heads = data[at : at + 5 * count : 5]
        held = hidden.get(phone)
        group = 0 if held is None else max(0, -(-(held[0] - at + 1) // 5))
        group = heads.find(b"0", group)
        read = -1
        while group >= 0 and group + 7 <= last and at + 5 * group - 1 < until:
            read = group
            group = heads.find(b"0", group + 5)
        if group >= 0 and group + 7 > last:
            until = min(until, at + 5 * group - 1)
        if read >= 0 and at + 5 * read - 1 < until:
            hidden[phone] = at + 5 * read + 23, at + 5 * read - 1 - base
        # The last card read before ``until``: hidden up to its last digit.
        index = (until - at) // 20
        hidden[card] = at + 20 * index + 18, at + 20 * index - 1 - base
        return until, first == cards

    def _stretch(self) -> Any:
        regex = _RUN_REGEXES.get(_STRETCH)
        if regex is None:
            regex = _RUN_REGEXES[_STRETCH] = compile_regex(_STRETCH, False)
        return regex

    def _compiled_run(self, form: RunForm) -> Any:
        return self._regex(form.regex)

    def _regex(self, source: str) -> Any:
        regex = _RUN_REGEXES.get(source)
        if regex is None:
            regex = _RUN_REGEXES[source] = compile_regex(source, False)
        return regex

    def _before(
        self, head: Any, hidden: dict[int, tuple[int, int]], base: int
    ) -> list[tuple[int, int, int]]:
        """The values of the rejected matches' kinds in ``head``, from where each started.

        ``head`` ends where an accepted value starts, which stands for its boundary.
        """
        found: list[tuple[int, int, int]] = []
        last = 0
        memo = self._before_memo
        items = hidden.items() if len(hidden) == 1 else sorted(hidden.items(), key=_by_start)
        for kind, (_, start) in items:
            if start < last:
                continue
            # What the kind's regex reads: the rest of ``head`` and the byte before it
            # (for a \b or a line start), and whether it starts ``head`` (for ^).
            seen = None
            if len(head) - start <= READ_BY_RE and self._befores[kind]:
                seen = kind, bytes(head[start - 1 if start else 0 :]), not start
                spans = memo.get(seen)
                if spans is not None:
                    for a, b in spans:
                        found.append((base + start + a, base + start + b, kind))
                        last = start + b
                    continue
            read = self._read_before(kind, head, start, base)
            if seen is not None:
                remember(memo, seen, tuple((a - start, b - start) for a, b in read))
            for a, b in read:
                found.append((base + a, base + b, kind))
                last = b
        return found

    def _read_before(self, kind: int, head: Any, start: int, base: int) -> list[tuple[int, int]]:
        """The values of ``kind`` its regex reads in ``head`` from ``start``, as `scan` would.

        One value, or none; or, when the match is rejected but its kind's splitter
        finds a value at its head (two phone numbers a space apart), that value and
        what reading on from its end finds, as `scan` would read on after it.
        """
        regex, group = self._alone(kind)
        validator = self.validators[kind]
        splitter = self.splitters[kind]
        spans: list[tuple[int, int]] = []
        buffer, offset, at = head, 0, start
        while True:
            a, b = regex.Match(RE2.anchor_start, buffer, at, len(buffer))[group]
            if a >= b:
                return spans
            value = bytes(buffer[a:b]).decode("utf-8", "surrogatepass")
            if validator is None or validator(value):
                spans.append((offset + a, offset + b))
                return spans
            if splitter is None or b - a <= self._above[kind]:
                return spans
            reach = self._reaches[kind]
            if reach is None:
                before = bytes(buffer[max(a - 2, 0) : a])
                stop = b + AFTER
            else:
                # (the text before ``head`` too: ``head.obj`` from ``base``, where a
                # settings line's start may lie)
                at = base + offset + a
                before = bytes(head.obj[max(at - BEFORE, 0) : at])
                stop = reach(buffer, a, b, before)
            after = bytes(buffer[b : whole_chars(buffer, stop)]).decode("utf-8", "surrogatepass")
            cut = splitter(value, after, before.decode("utf-8", "replace"))
            if not cut:
                return spans
            if cut > len(value):
                value += after
            end = a + len(value[:cut].encode("utf-8", "surrogatepass"))
            spans.append((offset + a, offset + end))
            # The text starts again at the head value's end, as in `scan`.
            offset += end
            buffer, at = head[offset:], 0

    def _alone(self, kind: int) -> tuple[Any, int]:
        """The RE2 regex of one kind, with its value as a group, and that group."""
        alone = self._kinds.get(kind)
        if alone is None:
            source = dict(self._alternatives)[kind]
            regex = compile_regex(alternative(source, "s"), True)
            alone = self._kinds[kind] = regex, dict(regex.NamedCapturingGroups())[b"s"]
        return alone


_RUN_REGEXES: dict[str, Any] = {}


def whole_chars(data: Any, stop: int) -> int:
    """``stop``, or the start of the UTF-8 character it would cut ``data`` inside of.

    What a splitter reads past a value is cut at a length in bytes; its text decodes to
    as many bytes as it took only when no character is cut (a cut one decoded as U+FFFD,
    three bytes for one or two, and the value's end was counted inside a character).
    """
    stop = min(stop, len(data))
    while stop > 0 and stop < len(data) and data[stop] & 0xC0 == 0x80:
        stop -= 1
    return stop


def _by_start(item: tuple[int, tuple[int, int]]) -> int:
    """Where a hidden kind's rejected match started, from its item in ``hidden``."""
    return item[1][1]


_STRETCH = r"(?:[0-9]{4} )+"  # four-digit groups, each followed by a space
_MIN_GROUPS = 24  # the shortest stretch `Engine._digit_groups` reads
_PAIRS = -3  # the key of `Engine._pairs`' backoff in a scan
_GROUPS, _WIDER = -1, -2  # keys of `Engine._digit_groups`' backoff and window in a scan
_NO_RUN = 15  # values of a kind read one by one after RE2 found no run of them
_RUN_WINDOW = 512  # the bytes of a run RE2 reads first
_SPLIT_ABOVE = 12  # the length a rejected value must pass for its splitter to be asked


def _own_names(kinds: tuple[Kind, ...], alternatives: list[tuple[int, str]]) -> list[str] | None:
    """Each kind's name among llmguard's own, or ``None`` unless every kind is one of them.

    The shortcuts that rest on llmguard's patterns (runs of values, a long match's value
    found by its context) hold for them alone: a pattern of the user's could match
    differently at a value's end, or start a value with whitespace.
    """
    own: dict[tuple[str, Validator | None], str] = {}
    for name, spec in DEFAULT_PATTERNS.items():
        given, validator = spec if isinstance(spec, tuple) else (spec, None)
        assert isinstance(given, str)
        own[given, validator] = name
    names = [""] * len(kinds)
    for index, source in alternatives:
        found = own.get((source, kinds[index].validator))
        if found is None:
            return None
        names[index] = found
    return names


class _Form(NamedTuple):
    """A run form, with its kinds as an engine knows them."""

    form: RunForm
    kinds: tuple[int, ...]  # the index of each of the form's kinds (or of its one kind)
    bits: int  # those kinds and those it hides, as bits: what a search for others hides
    own_bits: int  # those kinds alone: what it hides when a rejected value comes first


def _forms(own: list[str], index: int) -> tuple[_Form, ...] | None:
    """The run forms of kind ``index`` whose kinds are all in ``own``, or ``None``."""
    forms = []
    name = own[index]
    for form in (*RUNS.get(name, ()), *(form for form in MIXED_RUNS if name in form.kinds)):
        names = form.kinds or (name,)
        if all(name in own for name in names):
            kinds = tuple(own.index(name) for name in names)
            hidden = {*kinds, *(own.index(other) for other in form.hides if other in own)}
            bits = sum(1 << kind for kind in hidden)
            forms.append(_Form(form, kinds, bits, sum(1 << kind for kind in set(kinds))))
    return tuple(forms) or None


def _ready(forms: tuple[_Form, ...] | None, data: bytes, at: int) -> _Form | None:
    """The first of ``forms`` whose stretch may start at ``data[at:]``."""
    if forms is not None:
        for run in forms:
            if run.form.ready(data, at):
                return run
    return None


def _ready_now(
    forms: tuple[_Form, ...] | None,
    kind: int,
    data: bytes,
    at: int,
    unready: dict[int, tuple[int, int]],
) -> _Form | None:
    """`_ready`, asked again only after a few values of ``kind`` when it said no.

    Twice as many values pass after each no in a row, up to `_NO_RUN`: text where a
    kind's values are followed by what starts like a run of them and is not one
    (``Authorization: token abc`` repeated, after each value a word with a colon) pays
    for few looks. Runs are a shortcut: a value read alone reads the same.
    """
    skip, nos = unready.get(kind, (0, 0))
    if skip:
        unready[kind] = skip - 1, nos
        return None
    form = _ready(forms, data, at)
    unready[kind] = (0, 0) if form is not None else (min((2 << nos) - 1, _NO_RUN), nos + 1)
    return form


def _backoff(misses: dict[int, int], kind: int, wait: int) -> int:
    """How many values of ``kind`` to read one by one after another attempt found no run.

    Twice as many after each miss in a row, up to `_NO_RUN`: text where runs keep
    failing (each value of a kind starts where another kind matches) pays for few
    attempts, and a run coming back is found again soon.
    """
    count = misses[kind] = misses.get(kind, 0) + 1
    return max(wait, min((1 << count) - 1, _NO_RUN))


def _shifted(
    known: dict[int, tuple[int, tuple[int, int] | None]], by: int
) -> dict[int, tuple[int, tuple[int, int] | None]]:
    """``known`` for a buffer starting ``by`` bytes further on."""
    return {
        bits: (max(since - by, 1), None if span is None else (span[0] - by, span[1] - by))
        for bits, (since, span) in known.items()
        if span is None or span[0] - by >= 1
    }


def _shifted_one(
    known: dict[int, tuple[int, tuple[int, int] | None]], by: int
) -> dict[int, tuple[int, tuple[int, int] | None]]:
    """`_shifted` for a ``known`` of one entry at most, without building a dict to drop it."""
    for bits, (since, span) in known.items():
        if span is None:
            return {bits: (max(since - by, 1), None)}
        if span[0] - by >= 1:
            return {bits: (max(since - by, 1), (span[0] - by, span[1] - by))}
    return {}


def python_pass(text: str, regex: re.Pattern[str], kind: Kind, counts: dict[str, int]) -> str:
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
