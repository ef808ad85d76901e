"""The query layer under every command: records in SQLite, aggregated in SQL.

A store written by `SQLiteSink` is queried as it is, read-only. A JSON Lines file is
loaded into an in-memory database with the same table first, so both formats answer
the same SQL and no command parses records on its own.

The rows a command aggregates are *calls*: records of kind ``llm``, ``tool``,
``agent`` or ``span`` (attempts, steps, feedback and internal records are parts of,
or notes about, a call). Every aggregate is weighted by the records' ``sample_weight``,
so a sampled store estimates the totals of everything that ran.

What a command groups and filters on is a column of the store, so the aggregates are
SQL over those columns and never read a record's JSON; only the records a command
shows (`Dataset.trace`, `Dataset.calls`) are parsed. Quantiles and the drift tests need
each call's value: those queries fetch the one or few numeric columns they compare.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import operator
import os
import sqlite3
import stat
import sys
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, TypeAlias, TypeVar, cast

from llmguard._core.records import Record, iso_bound
from llmguard.cli._quantiles import (
    EXACT_SUM,
    NO_QUANTILES,
    QUANTILES,
    Classes,
    Columns,
    GroupStats,
    Run,
    add_up,
    all_quantiles,
    counted_quantiles,
    group_stats,
    signed_zeros,
    tally,
    weighted_quantiles,
    whole,
)
from llmguard.exceptions import SchemaViolation
from llmguard.sinks import SQLiteStore
from llmguard.sinks.table import (
    COLUMNS,
    REPAIRED,
    content,
    delete_spans,
    derived,
    insert,
    last_copies,
    migrate,
    read_record,
    row,
)

__all__ = [
    "CALL_KINDS",
    "EARLIEST",
    "IMPOSSIBLE",
    "LARGEST_FIGURE",
    "LATEST",
    "MIN_PREFIX",
    "Dataset",
    "DatasetError",
    "GROUPINGS",
    "Grouping",
    "Loaded",
    "Metric",
    "Progress",
    "Window",
    "load",
    "usable_start",
]

EARLIEST = "1970-01-01T00:00:00.000000Z"
"""The earliest start time a command uses: no record of a running program is older."""
LATEST = "9999-01-01T00:00:00.000000Z"
"""The start times a command uses end before this, so a day after any of them is a date."""


class DatasetError(Exception):
    """A file that cannot be read as records, or a query that cannot be answered.

    Its message is one line meant for the person at the terminal.
    """


# -- time windows over the records' start times, and the query layer's error


@dataclass(frozen=True, slots=True)
class Window:
    """A time range over the records' start times: ``since`` included, ``until`` not.

    Args:
        since: ISO 8601 lower bound, or ``None`` for no bound.
        until: ISO 8601 upper bound, or ``None`` for no bound.
    """

    since: str | None = None
    until: str | None = None

    @classmethod
    def parse(cls, since: str | None, until: str | None) -> Window:
        """Build a window from bounds as typed; dates are taken as midnight UTC.

        Raises:
            DatasetError: A bound is not an ISO 8601 date or time, or ``since`` is not
                before ``until``.
        """
        try:
            low = None if since is None else iso_bound(since)
            high = None if until is None else iso_bound(until)
        except ValueError as exc:
            raise DatasetError(str(exc)) from None
        if low is not None and high is not None and low >= high:
            raise DatasetError(f"empty time range: {since} is not before {until}")
        return cls(low, high)

    @classmethod
    def parse_range(cls, text: str) -> Window:
        """Parse ``A..B`` (either side may be empty) as a window.

        Raises:
            DatasetError: ``text`` is not two ISO 8601 bounds around ``..``.
        """
        low, sep, high = text.partition("..")
        if not sep:
            raise DatasetError(f"a range is START..END (ISO 8601 dates or times), not {text!r}")
        return cls.parse(low.strip() or None, high.strip() or None)

    def __str__(self) -> str:
        return f"{self.since or '…'} .. {self.until or '…'}"


def usable_start(start: str) -> str | None:
    """A record's start time as records write it, or ``None`` when a command cannot use it.

    A command can use an ISO 8601 date or time from `EARLIEST` up to `LATEST`; Go's zero
    time (``0001-01-01T00:00:00Z``), ``yesterday`` or an empty string it cannot.
    """
    try:
        canonical = iso_bound(start)
    except ValueError:
        return None
    return canonical if EARLIEST <= canonical < LATEST else None


# -- Opening records for queries: an SQLite store read-only, or JSON Lines loaded into memory.

Progress: TypeAlias = Callable[[str, float | None], None]
"""Told what is being read and the fraction done (``None`` when unknown)."""

_SQLITE_HEADER = b"SQLite format 3\x00"
# How often, in SQLite virtual machine steps, a long query reports progress.
_PROGRESS_STEPS = 200_000
_LOAD_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class Loaded:
    """An open database of records, and what it took to read it.

    Attributes:
        conn: The connection, with a ``records`` table.
        derived: Column name -> SQL giving it, for the columns an older store lacks.
        content: The SQL reading a row's record JSON (`llmguard.sinks.table.content`).
        skipped_lines: Numbers of the JSON Lines lines that held no record.
        unusable: The records whose start time a command cannot use (`usable_start`),
            left out of every query.
        unusable_example: The first such start time.
        filtered: Whether those records are in the table, to be filtered out by queries
            (an SQLite store), or were never loaded (a JSON Lines file).
        store: The SQLite store's file, which a second connection may open; ``None``
            for records loaded into memory.
        store_id: Which file that was (device and inode), so a second connection
            opens that one or none.
        impossible: The records holding a figure no call can have (`IMPOSSIBLE`),
            never loaded (a JSON Lines file).
        impossible_example: What the first of them holds: its span id, the column and
            the value.
        figures_checked: Whether the figures were checked as the records were loaded
            (a JSON Lines file); a store's queries check them as they read the rows.
        version: A store's layout version (`last_copies` reads an older one's copies
            of a span as one record without writing to it); ``None`` for a JSON Lines
            file, loaded one row per span.
    """

    conn: sqlite3.Connection
    derived: dict[str, str]
    content: str
    skipped_lines: list[int]
    unusable: int = 0
    unusable_example: str | None = None
    filtered: bool = False
    store: Path | None = None
    store_id: tuple[int, int] | None = None
    impossible: int = 0
    impossible_example: str | None = None
    figures_checked: bool = False
    version: int | None = None


def load(path: str | os.PathLike[str], progress: Progress | None = None) -> Loaded:
    """Open an SQLite store or load a JSON Lines file, told apart by its first bytes.

    Raises:
        DatasetError: The file is missing, unreadable, or not records.
    """
    file = Path(path)
    try:
        handle = open(file, "rb")  # noqa: SIM115 - closed below, or by _load_jsonl's loop
    except FileNotFoundError:
        raise DatasetError(f"{os.fspath(path)}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{os.fspath(path)}: cannot read: {exc.strerror}") from None
    with handle:
        mode = os.fstat(handle.fileno()).st_mode
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            # /dev/zero and its kind never end, in one line that would fill the memory.
            raise DatasetError(f"{os.fspath(path)}: a device, not a file of records")
        try:
            header = handle.read(len(_SQLITE_HEADER))
        except OSError as exc:
            raise DatasetError(f"{os.fspath(path)}: cannot read: {exc.strerror}") from None
        if handle.seekable():
            handle.close()
            loaded = _open_store(file) if header == _SQLITE_HEADER else _load_jsonl(file, progress)
        elif header == _SQLITE_HEADER:
            # SQLite reads a database by seeking in it, and its -wal beside it.
            raise DatasetError(
                f"{os.fspath(path)}: an SQLite store cannot be read through a pipe; "
                "give the store's file itself"
            )
        else:
            # Read on from the same handle: a pipe (``<(zcat calls.jsonl.gz)``, a FIFO)
            # cannot be opened again for the bytes the header took.
            first = (header + handle.readline()).splitlines(keepends=True)
            loaded = _load_lines(file, itertools.chain(first, handle), progress)
    if progress is not None:
        loaded.conn.set_progress_handler(_reporter(progress, file.name), _PROGRESS_STEPS)
    return loaded


def _open_store(path: Path) -> Loaded:
    try:
        store = SQLiteStore(path)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    conn = store._conn
    version = store.version
    identity = _file_id(path)
    # Two ranges of the start index, so a healthy store costs nothing. A time inside the
    # range that is no time (only a store not written by SQLiteSink holds one) is not
    # counted; the commands that read times cope with it.
    copies = last_copies(version)
    outside = f'FROM records WHERE ("start" < ? OR "start" >= ?){copies}'
    (unusable,) = conn.execute(f"SELECT count(*) {outside}", (EARLIEST, LATEST)).fetchone()
    example = None
    if unusable:
        (example,) = conn.execute(
            f'SELECT "start" {outside} LIMIT 1', (EARLIEST, LATEST)
        ).fetchone()
    # NULL (a table made without NOT NULL) is no time either, and sorts first. Asked
    # apart: in the OR above it would turn two index searches into a scan of the index.
    (missing_start,) = conn.execute(
        f'SELECT count(*) FROM records WHERE "start" IS NULL{copies}'
    ).fetchone()
    if missing_start:
        example = None if not unusable else example
        unusable += missing_start
    return Loaded(
        conn,
        derived(version),
        content(version),
        [],
        unusable,
        example,
        filtered=bool(unusable),
        store=path if identity is not None else None,
        store_id=identity,
        version=version,
    )


# The largest figure a call can have: 2**53, up to which a double holds every whole
# number, so sums of a store's figures stay exact-ish and far from overflowing (a cost
# near the largest double made the totals infinite and fsum raise). Infinity is above
# it, and SQLite stores NaN as NULL.
LARGEST_FIGURE = 2**53
# The one rule for the figures a call can have, read as SQL by a store's queries and
# in Python by the JSON Lines loader: per column of the records table, the lowest
# value, whether only values above it will do, and whether it may be missing. Every
# figure is a number up to `LARGEST_FIGURE`.
_FIGURES: tuple[tuple[str, float, bool, bool], ...] = (
    ("sample_weight", 0, True, False),
    *(
        (column, 0, False, True)
        for column in ("duration_ms", "cost_usd", "input_tokens", "output_tokens", "retries")
    ),
    ("score", -LARGEST_FIGURE, False, True),
)
_FIGURE_COLUMNS = operator.itemgetter(*(COLUMNS.index(column) for column, *_ in _FIGURES))
IMPOSSIBLE = (
    "a weight that is not a number above 0, or a latency, cost, token or retry count "
    f"that is not a number from 0 up, or any figure above 2**53 ({LARGEST_FIGURE:.2g})"
)
"""What the commands take for a figure no call can have; such a record is left out."""
# The SQL function a store's queries call for a row whose figures break the rule
# (`Dataset._note_impossible`): it counts the row and leaves it out.
_IMPOSSIBLE_ROW = "llmguard_impossible_row"


def _figures_sql(column: Callable[[str], str]) -> str:
    """The rule as an SQL condition over the columns ``column`` names.

    Text and blobs sort after every number in SQLite, so a bound on each side leaves
    them out with no ``typeof``; NULL fails a bound, hence the ``IS NULL`` of the
    columns that may be missing.
    """
    checks = []
    for name, lowest, above, missing in _FIGURES:
        value = column(name)
        check = f"{value} {'>' if above else '>='} {lowest:d} AND {value} <= {LARGEST_FIGURE:d}"
        checks.append(f"({value} IS NULL OR {check})" if missing else f"({check})")
    return " AND ".join(checks)


def _impossible_values(values: Sequence[object]) -> str | None:
    """What breaks the rule among ``values`` (the `_FIGURES` columns, in order), as
    ``column = value``; ``None`` when nothing does."""
    for (name, lowest, above, missing), value in zip(_FIGURES, values, strict=True):
        if value is None:
            fits = missing
        elif isinstance(value, (int, float)):
            fits = (value > lowest if above else value >= lowest) and value <= LARGEST_FIGURE
        else:
            fits = False
        if not fits:
            return f"{name} = {value!r}"
    return None


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _load_jsonl(path: Path, progress: Progress | None) -> Loaded:
    with open(path, "rb") as lines:
        return _load_lines(path, lines, progress)


def _load_lines(path: Path, lines: Iterable[bytes], progress: Progress | None) -> Loaded:
    """Load the lines of the JSON Lines file at ``path`` into an in-memory store."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.isolation_level = None
    version = migrate(conn)
    # A pipe has no size: its progress is unknown.
    size = path.stat().st_size
    done = 0
    rows: list[tuple[object, ...]] = []
    skipped: list[int] = []
    first_error = ""
    loaded = 0
    # The spans whose last copy so far is left out, with why: an unusable start time
    # (True, the time) or an impossible figure (False, what it is). A span is one
    # record, its last copy, as in a store: a later copy left out takes an earlier
    # one's place, and a later usable copy brings the span back.
    left_out: dict[tuple[str, str], tuple[bool, str]] = {}
    for number, line in enumerate(lines, 1):
        done += len(line)
        text = line.strip()
        if not text:
            continue
        try:
            record = read_record(text)
        except (ValueError, TypeError) as exc:
            # A hard kill mid-write tears a line; the sink then starts the next
            # record on a line of its own, so a torn line may sit anywhere.
            if not skipped:
                first_error = str(exc).splitlines()[0]
            skipped.append(number)
            continue
        loaded += 1
        span = (record.trace_id, record.span_id)
        if left_out:
            left_out.pop(span, None)
        start = usable_start(record.start)
        if start is None:
            left_out[span] = (True, record.start)
            continue
        if start != record.start:
            # The column holds the time as SQLiteSink writes it, so bounds compare.
            record = dataclasses.replace(record, start=start)
        made = row(record, text.decode())
        figure = _impossible_values(_FIGURE_COLUMNS(made))
        if figure is not None:
            left_out[span] = (False, f"span {record.span_id!r} has {figure}")
            continue
        rows.append(made)
        if len(rows) >= _LOAD_BATCH:
            insert(conn, rows)
            rows.clear()
            if progress is not None:
                progress(f"loading {path.name}", done / size if size > 0 else None)
    if skipped and not loaded:
        conn.close()
        raise DatasetError(f"{path}:{skipped[0]}: not a trace record ({first_error})")
    insert(conn, rows)
    # Earlier copies of the spans left out were loaded: the last copy decides.
    delete_spans(conn, list(left_out))
    unusable = [what for timeless, what in left_out.values() if timeless]
    impossible = [what for timeless, what in left_out.values() if not timeless]
    if progress is not None:
        progress(f"loading {path.name}", 1.0)
    return Loaded(
        conn,
        {},
        content(version),
        skipped,
        len(unusable),
        unusable[0] if unusable else None,
        impossible=len(impossible),
        impossible_example=impossible[0] if impossible else None,
        figures_checked=True,
    )


def _reporter(progress: Progress, name: str) -> Callable[[], int]:
    def tick() -> int:
        progress(f"querying {name}", None)
        return 0

    return tick


# -- The query layer under every command: records in SQLite, aggregated in SQL.

CALL_KINDS = ("llm", "tool", "agent", "span")
# The kinds the queries of the feedback traces' table ask for (`Dataset._feedback_traces`).
_TABLE_KINDS = (*CALL_KINDS, "feedback")

Grouping: TypeAlias = Literal["name", "model", "prompt", "day", "hour", "status", "kind"]
Metric: TypeAlias = Literal["duration_ms", "output_tokens", "cost_usd", "retries", "error", "limit"]
"""A per-call figure `Dataset.values` reads; ``error`` and ``limit`` are 1 or 0."""

# SQL for each grouping key; a record without the value falls in the group "-". The
# unary + keeps the planner off the name index, whose order would make a GROUP BY visit
# the table row by row in name order (1.8 s of CPU against 1.1 s for a sort, a million
# calls): it is a no-op on the value. BINARY groups a name as written even where the
# store declared the column with another collation (NOCASE put 'a' and 'A' in one SQL
# group, while the latencies, read by value, stayed apart), as a JSON Lines file does.
GROUPINGS: dict[str, str] = {
    "name": "+name COLLATE BINARY",
    "model": "coalesce(model, '-')",
    "prompt": "coalesce(prompt_name || '@' || prompt_version, prompt_name, '-')",
    "day": "substr(start, 1, 10)",
    "hour": "substr(start, 1, 13) || ':00'",
    "status": "status",
    "kind": "kind",
}

_P = TypeVar("_P")

_IN_CHUNK = 500
# Rows `Dataset.samples_by` reads at a time.
_FETCH_ROWS = 20_000
_NONE = itertools.repeat(None)
# The temporary table `Dataset._feedback_traces` makes, in the connection's own schema.
_FEEDBACK_TRACES = "llmguard_feedback_traces"
MIN_PREFIX = 4
"""The fewest characters of a trace id `Dataset.trace` resolves, as git does for hashes."""
# Traces an ambiguous prefix names.
_CANDIDATES = 5
# How records name the error of a call whose answers never matched its schema.
_SCHEMA_VIOLATION = f"{SchemaViolation.__module__}.{SchemaViolation.__qualname__}"
# The key `Dataset._scores` files every score under, whatever its groups.
_ALL = ("\x00all",)
# The default window of every query: no bound on either side.
_ANY_TIME = Window()


# The SQL name of the `_LatencyRuns` aggregate on a dataset's connection.
_LATENCY_RUNS = "llmguard_latency_runs"


class _LatencyRuns:
    """An SQL aggregate that keeps its group's latencies in Python, one list per weight.

    SQLite makes one per group of a GROUP BY and feeds it the group's rows; its result
    is a token under which the lists wait in ``runs`` for the caller, who takes them.
    NULL latencies are left out. Nothing is checked or converted here: `_counted`
    decides what the lists are good for.
    """

    __slots__ = ("_by_weight", "_runs", "_tokens")

    def __init__(self, runs: dict[int, Classes], tokens: Iterator[int]) -> None:
        self._runs = runs
        self._tokens = tokens
        # What the store holds, until `_counted` decides what it is good for.
        self._by_weight: dict[object, list[object]] = {}

    def step(self, value: object, weight: object = None, /) -> None:
        """Take one row's latency and weight (positional, as SQLite passes them).

        Called once per call read: two parameters cost less than packing the row into
        a tuple and unpacking it (about a tenth less, a million rows alone). SQLite always
        passes both; the default only lets the type match sqlite3's one-value step.
        """
        if value is None:
            return
        values = self._by_weight.get(weight)
        if values is None:
            self._by_weight[weight] = [value]
        else:
            values.append(value)

    def finalize(self) -> int:
        token = next(self._tokens)
        # Typed as `Classes` holds them when `_counted` accepts them.
        self._runs[token] = cast(Classes, self._by_weight)
        return token


# The parts of the table `Dataset.summaries` sums the combinations of keys over.
_CELL_PARTS = 4

_Sums: TypeAlias = tuple[
    dict[tuple[str, ...], tuple[float | None, ...]], dict[tuple[str, ...], Classes]
]
"""`Dataset._sums`' answer: per group, the sums and the latencies by weight."""
_Counted: TypeAlias = tuple[list[dict[tuple[str, ...], Classes]], list[Run]]
"""Per grouping and group, sorted latencies by weight; and every call's, by weight."""
_Passed: TypeAlias = tuple[
    _Counted | None,
    list[dict[tuple[str, ...], float]],
    dict[tuple[object, ...], tuple[int, float]],
]
"""`Dataset._one_pass`' answer: the latencies, each grouping's cost sums, and the calls
and their weight per combination of keys."""


def _places(groupings: Sequence[Sequence[str]]) -> tuple[list[str], list[list[int]]]:
    """Each key column of the groupings once, however many share it (the report's four
    groupings read three), and per grouping where its keys are among them."""
    columns: list[str] = []
    for by in groupings:
        for column in by or ("",):
            if column not in columns:
                columns.append(column)
    return columns, [[columns.index(column) for column in by or ("",)] for by in groupings]


def _scan(conn: sqlite3.Connection, query: str, params: Sequence[object]) -> tuple[str, ...]:
    """How SQLite reads the records table for ``query``: its plan's scans and searches."""
    plan = conn.execute(f"EXPLAIN QUERY PLAN {query}", params).fetchall()
    return tuple(str(step[-1]) for step in plan if str(step[-1]).startswith(("SCAN", "SEARCH")))


def _grouped_latencies(
    cells: dict[tuple[object, ...], list[float]], places: list[list[int]]
) -> _Counted | None:
    """The latencies of each combination of keys and weight (the weight last) as
    `Dataset._counted_latencies` answers: per grouping and group, sorted by weight."""
    if not all(whole(cell[-1]) for cell in cells):
        return None
    # A latency that is no number (text in a store not written by llmguard) goes
    # the old way too, which fails or copes exactly as before.
    numbers = {int, float}
    if not all(set(map(type, values)) <= numbers for values in cells.values()):
        return None
    weight_of = {cell: float(cast(float, cell[-1])) for cell in cells}
    if math.fsum(weight_of[cell] * len(values) for cell, values in cells.items()) > EXACT_SUM:
        return None
    # Each combination sorted once (stably): a group's list is then a few sorted runs
    # one after another, which the sort below merges, ties kept in the same order.
    for values in cells.values():
        values.sort()
    grouped: list[dict[tuple[str, ...], Classes]] = []
    for place in places:
        pick = operator.itemgetter(*place)
        groups: dict[tuple[str, ...], Classes] = {}
        for cell, values in cells.items():
            picked = pick(cell)
            group = tuple(map(str, picked)) if len(place) > 1 else (str(picked),)
            classes = groups.setdefault(group, {})
            classes.setdefault(weight_of[cell], []).extend(values)
        for classes in groups.values():
            for values in classes.values():
                values.sort()
        grouped.append(dict(sorted(groups.items())))
    everything = [run for classes in grouped[0].values() for run in classes.items()]
    if signed_zeros(everything):
        return None
    return grouped, everything


def _combined(
    parts: list[dict[tuple[str, ...], tuple[float | None, ...]]],
    places: list[list[int]],
    costs: list[dict[tuple[str, ...], float]],
    calls: dict[tuple[object, ...], tuple[int, float]],
) -> list[_Sums] | None:
    """Each grouping's `_sums` (without latencies) from the sums per combination of its
    keys (`Dataset._sums` with ``whole``, over parts of the table) and the cost sums
    `Dataset._one_pass` made in the aggregates' row order.

    The combinations' sums add up to the groupings' exactly, in any order, when every
    term was a whole number and each column's total stays below 2**53; ``None``
    otherwise, or when the two reads did not meet the same calls: not as many, or not
    of the same weight, per combination (``calls``, the pass's).
    """
    cells = [(key, figures) for part in parts for key, figures in part.items()]
    if not cells:
        return None if any(costs) else [({}, {}) for _ in places]
    if not all(figures[-1] == 1 for _, figures in cells):
        return None
    # The nine sums added up; the cost sum (tenth) and the check (last) are not.
    exact = [figures[:9] for _, figures in cells]
    for column in zip(*exact, strict=True):
        present = [value for value in column if value is not None]
        if not all(type(value) in (int, float) for value in present):
            return None
        if math.fsum(cast(list[float], present)) >= EXACT_SUM:
            return None
    met: dict[tuple[object, ...], tuple[int, float]] = {}
    for key, figures in cells:
        count, weighed = met.get(key, (0, 0.0))
        met[key] = count + int(cast(int, figures[1])), weighed + float(cast(float, figures[0]))
    if met != calls:
        return None
    found: list[_Sums] = []
    for place, cost_of in zip(places, costs, strict=True):
        pick = operator.itemgetter(*place)
        sums: dict[tuple[str, ...], list[float | None]] = {}
        for (key, _), figures in zip(cells, exact, strict=True):
            picked = pick(key)
            group = cast(tuple[str, ...], picked if len(place) > 1 else (picked,))
            known = sums.get(group)
            if known is None:
                sums[group] = list(figures)
                continue
            for index, value in enumerate(figures):
                if value is not None:
                    before = known[index]
                    known[index] = value if before is None else before + value
        if sums.keys() != cost_of.keys():
            return None
        found.append(
            ({group: (*sums[group], cost_of[group]) for group in sorted(sums)}, {}),
        )
    return found


def _counted(
    groupings: Sequence[dict[tuple[str, ...], Classes]],
) -> list[dict[tuple[str, ...], Classes]] | None:
    """The groupings' latency lists, sorted and keyed by float weights, when
    `counted_quantiles` gives exact answers from them; ``None`` when it may not.

    That takes every weight a whole number from 0 up, their total within what a double
    holds exactly, every latency a number, and not both 0.0 and -0.0 (equal, but which
    one the pair walk meets first depends on the order of the rows). Every grouping
    holds the same calls, so the first one is checked.
    """
    if not groupings:
        return []
    runs = [run for classes in groupings[0].values() for run in classes.items()]
    if not all(whole(weight) for weight, _ in runs):
        return None
    if math.fsum(weight * len(values) for weight, values in runs) > EXACT_SUM:
        return None
    numbers = {int, float}
    if not all(set(map(type, values)) <= numbers for _, values in runs):
        return None
    found: list[dict[tuple[str, ...], Classes]] = []
    for groups in groupings:
        sorted_groups: dict[tuple[str, ...], Classes] = {}
        for key, classes in groups.items():
            merged: Classes = {}
            for weight, values in classes.items():
                merged.setdefault(float(weight), []).extend(values)
            for values in merged.values():
                values.sort()
            sorted_groups[key] = merged
        found.append(sorted_groups)
    if signed_zeros(run for classes in found[0].values() for run in classes.items()):
        return None
    return found


# How many SQLite steps a query on the side connection makes between two looks at
# whether it should stop: well under a millisecond of work.
_STOP_CHECK_STEPS = 10_000

_T = TypeVar("_T")
_Job: TypeAlias = Callable[[sqlite3.Connection], object]
"""A query run on whichever connection takes it, answering with plain Python data."""


class _Side:
    """A second read-only connection to a store, and the one thread that queries it.

    sqlite3 lets go of the GIL while SQLite steps through a query, so an aggregate
    running here takes the second core while the main thread works in Python (reads
    latencies, computes the drift statistics) or runs another query. Jobs run one at
    a time, in the order given; each gets this connection.
    """

    def __init__(self, path: Path) -> None:
        self._store = SQLiteStore(path)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmguard-query")
        # SQLite's own interrupt is lost when it comes between two statements (as a job
        # starts); this flag is read every so many steps of whatever runs next.
        self._stopping = False
        self._store._conn.set_progress_handler(self._stop_asked, _STOP_CHECK_STEPS)

    def submit(self, job: Callable[[sqlite3.Connection], _T]) -> Future[_T]:
        """Run ``job`` on this connection after the jobs before it."""
        return self._pool.submit(job, self._store._conn)

    def create_function(self, name: str, count: int, function: Callable[..., int]) -> None:
        """Make an SQL function of the main connection's known here too."""
        self._store._conn.create_function(name, count, function)

    def _stop_asked(self) -> int:
        return 1 if self._stopping else 0

    def interrupt(self) -> None:
        """Stop the query running on this connection, or starting next: it raises
        ``sqlite3.OperationalError("interrupted")`` in its job. Until `resume`, every
        query on this connection stops so."""
        self._stopping = True
        self._store._conn.interrupt()

    def resume(self) -> None:
        """Let queries run again after `interrupt`, once the interrupted job is over."""
        self._stopping = False

    def close(self) -> None:
        """Stop the running query, drop the waiting ones, and close the connection."""
        self.interrupt()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._store.close()


class _Shared:
    """Queries that two connections take turns at, one each at a time, until none is left.

    The side connection starts on them at once; the main thread joins in (`drain`)
    when its own work is done, so a slow second core or a JSON Lines file (no side
    connection) only means the main thread runs more of them.
    """

    def __init__(self, jobs: Sequence[_Job]) -> None:
        self._waiting = deque(enumerate(jobs))
        self._count = len(jobs)
        self._found: dict[int, object] = {}

    def drain(self, conn: sqlite3.Connection) -> None:
        """Run the waiting jobs on ``conn``, one after another, until none is left."""
        while True:
            try:
                index, job = self._waiting.popleft()
            except IndexError:
                return
            self._found[index] = job(conn)

    def cancel(self) -> None:
        """Drop the jobs nobody has started."""
        self._waiting.clear()

    def found(self) -> list[object]:
        """The answers, in the order of the jobs; every job must have run."""
        return [self._found[index] for index in range(self._count)]


def _abandon(running: tuple[_Shared, Future[None]], side: _Side | None) -> None:
    """Drop the jobs `Dataset._start` started that are still waiting, stop the one
    running on ``side``, whose answer and error nobody wants any more, and wait for it
    to stop (at once, not when its scan would have ended)."""
    shared, future = running
    shared.cancel()
    if side is None or future.done():
        return
    side.interrupt()
    wait([future])
    side.resume()


def _done(value: _T) -> Future[_T]:
    future: Future[_T] = Future()
    future.set_result(value)
    return future


class Dataset:
    """Records opened for queries; see the module docstring.

    Use `Dataset.open`, and close it (or use ``with``) when done.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        derived: dict[str, str],
        content: str = "json",
    ) -> None:
        self._conn = conn
        self.path = path
        # Numbers of the JSON Lines lines that held no record (torn by a hard kill).
        self.skipped_lines: list[int] = []
        # Records whose start time no command can use, and the first such time.
        self.unusable = 0
        self.unusable_example: str | None = None
        # Records holding a figure no call can have (`IMPOSSIBLE`) that loading left
        # out, and what the first holds; a store's are found by its queries.
        self._impossible_loaded = 0
        self._impossible_loaded_example: str | None = None
        # A store's rows its queries left out for their figures: (trace id, span id) ->
        # what breaks the rule. Filled by `_note_impossible`, from either connection.
        self._impossible_found: dict[tuple[str, str], str] = {}
        # Whether queries check the figures (a store), with the function they call.
        self._checks_figures = False
        # Rows read for a command whose JSON is no record (a damaged or foreign row).
        self.unreadable_rows = 0
        # Column name -> SQL giving it; an older store computes the newer columns.
        self._derived = derived
        # SQL reading a row's JSON, inline or from the contents table.
        self._content = content
        # What leaves those records out of a query, when they are in the table, and
        # the records holding a figure no call can have (`_check_figures`).
        self._usable: tuple[str, tuple[str, ...]] = ("", ())
        # The part of it about start times.
        self._usable_start: tuple[str, tuple[str, ...]] = ("", ())
        # The feedback records' (trace id, score), once read.
        self._feedback_rows: list[tuple[str, float]] | None = None
        # What the latency aggregate of the query running collected, by the token each
        # group's row carries (see `_LatencyRuns`).
        self._latency_runs: dict[int, Classes] = {}
        self._latency_tokens = itertools.count()
        conn.create_aggregate(_LATENCY_RUNS, 2, self._new_latency_runs)
        # The weight of the repaired attempts per window, once found.
        self._repaired_totals: dict[Window, float] = {}
        # The connections on which the temporary table of the feedback traces' records
        # exists.
        self._feedback_tables: set[sqlite3.Connection] = set()
        # The store a second connection may read (`_Side`), and that connection.
        self.side_file: Path | None = None
        self._side_id: tuple[int, int] | None = None
        self._side: _Side | None = None
        # `_trace_groups` answers, by their question; and those asked for ahead
        # (`prefetch_feedback`), running on the side connection.
        self._trace_groups_found: dict[object, list[dict[str, set[tuple[str, ...]]]]] = {}
        self._trace_groups_later: dict[object, Future[list[dict[str, set[tuple[str, ...]]]]]] = {}
        # `summaries`' aggregates started ahead (`prefetch_summaries`), by their question.
        self._prefetched: dict[object, tuple[_Shared, Future[None]]] = {}
        # The row ids those aggregates keep to, by their question (`_summary_jobs`).
        self._cell_rows: dict[object, tuple[int, int]] = {}
        # Whether `_one_pass` may answer here, once asked (`_pass_possible`).
        self._pass_allowed: bool | None = None
        # Row ids of `calls` queries asked for ahead (`prefetch_calls`), by their SQL.
        self._rowids_found: dict[object, Future[list[_Found]]] = {}

    def _new_latency_runs(self) -> _LatencyRuns:
        return _LatencyRuns(self._latency_runs, self._latency_tokens)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        progress: Progress | None = None,
        *,
        second_connection: bool = True,
    ) -> Dataset:
        """Open an SQLite store or load a JSON Lines file, told apart by its first bytes.

        Args:
            path: The file.
            progress: Told how reading goes, for files that take a while.
            second_connection: Whether some aggregates of a store may run on a second
                connection, in a thread of their own (see `_Side`); the answers are
                the same either way.

        Raises:
            DatasetError: The file is missing, unreadable, or not records.
        """
        loaded = load(path, progress)
        dataset = cls(loaded.conn, Path(path), loaded.derived, loaded.content)
        dataset.skipped_lines = loaded.skipped_lines
        dataset.unusable = loaded.unusable
        dataset.unusable_example = loaded.unusable_example
        dataset._impossible_loaded = loaded.impossible
        dataset._impossible_loaded_example = loaded.impossible_example
        dataset.side_file = loaded.store if second_connection else None
        dataset._side_id = loaded.store_id
        if loaded.filtered:
            # "+" keeps the planner off the start index, which would not narrow anything.
            dataset._usable = (' AND +"start" >= ? AND +"start" < ?', (EARLIEST, LATEST))
            dataset._usable_start = dataset._usable
        if loaded.version is not None and last_copies(loaded.version):
            # First, so that the rows of a span's earlier copies are not checked.
            clause, bounds = dataset._usable
            dataset._usable = (last_copies(loaded.version) + clause, bounds)
            clause, bounds = dataset._usable_start  # read in a join, as ``r``
            dataset._usable_start = (last_copies(loaded.version, "r") + clause, bounds)
        if not loaded.figures_checked:
            dataset._check_figures()
        return dataset

    def _check_figures(self) -> None:
        """Make every query leave out the rows whose figures break the rule, and note
        them: in the pass each query makes anyway, so a store of any size is checked
        for what a command reads, at the cost of the condition on each row."""
        self._checks_figures = True
        self._conn.create_function(_IMPOSSIBLE_ROW, 2 + len(_FIGURES), self._note_impossible)
        clause, bounds = self._usable
        self._usable = (clause + self._figures_condition(), bounds)

    def _figures_condition(self, table: str = "") -> str:
        """The condition (``" AND (...)"``) keeping the rows whose figures follow the
        rule, and noting the others; ``table`` qualifies the ids (``"r."``) in a join."""
        values = ", ".join(self._column(name) for name, *_ in _FIGURES)
        note = f"{_IMPOSSIBLE_ROW}({table}trace_id, {table}span_id, {values})"
        return f" AND ({_figures_sql(self._column)} OR {note})"

    def _note_impossible(self, trace_id: object, span_id: object, *values: object) -> int:
        """Note a row whose figures break the rule (called by SQLite); 0 leaves it out."""
        key = (str(trace_id), str(span_id))
        if key not in self._impossible_found:
            self._impossible_found[key] = _impossible_values(values) or "?"
        return 0

    @property
    def impossible(self) -> int:
        """The records left out for a figure no call can have (`IMPOSSIBLE`): those
        loading left out, or those of a store the queries run so far met."""
        return self._impossible_loaded + len(self._impossible_found)

    @property
    def impossible_example(self) -> str | None:
        """What the first such record holds: its span id, the column and the value."""
        if self._impossible_loaded_example is not None:
            return self._impossible_loaded_example
        if not self._impossible_found:
            return None
        key = min(self._impossible_found)
        return f"span {key[1]!r} has {self._impossible_found[key]}"

    def __enter__(self) -> Dataset:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database."""
        if self._side is not None:
            self._side.close()
            self._side = None
        self._conn.close()

    def _side_connection(self) -> _Side | None:
        """The second connection, opened on first use; ``None`` for records in memory, or
        when the store's file cannot be opened again or is no longer the file the main
        connection reads (moved, replaced): the main connection then does it all."""
        if self._side is None and self.side_file is not None:
            try:
                side = _Side(self.side_file)
            except (OSError, ValueError, sqlite3.Error):
                self.side_file = None
                return None
            # Checked after opening: a file replaced in between is seen here.
            if _file_id(self.side_file) != self._side_id:
                side.close()
                self.side_file = None
                return None
            if self._checks_figures:
                side.create_function(_IMPOSSIBLE_ROW, 2 + len(_FIGURES), self._note_impossible)
            self._side = side
        return self._side

    def _later(self, job: Callable[[sqlite3.Connection], _T]) -> Future[_T]:
        """``job`` run on the side connection, or now on this one when there is none."""
        side = self._side_connection()
        if side is not None:
            return side.submit(job)
        return _done(job(self._conn))

    def _start(self, jobs: Sequence[_Job]) -> tuple[_Shared, Future[None]]:
        """Start ``jobs`` on the side connection (see `_Shared`); `_finish` them."""
        shared = _Shared(jobs)
        side = self._side_connection()
        return shared, side.submit(shared.drain) if side is not None else _done(None)

    def _finish(self, running: tuple[_Shared, Future[None]]) -> list[object]:
        """The answers of jobs `_start` started, the main connection running those still
        waiting. An error of a job is raised here, once the side has stopped."""
        shared, side = running
        try:
            shared.drain(self._conn)
        except BaseException:
            _abandon(running, self._side)
            raise
        side.result()
        return shared.found()

    # -- single records -------------------------------------------------------------------

    def trace(self, trace_id: str) -> list[Record]:
        """Every record of one trace, by start time.

        Args:
            trace_id: The trace's id, or a prefix of it (at least `MIN_PREFIX` characters,
                like git's short hashes) that no other trace's id starts with.

        Raises:
            DatasetError: No trace has this id or prefix, or several start with it.
        """
        usable, bounds = self._usable
        order = 'ORDER BY "start", rowid'
        found = self._records(f"WHERE trace_id = ?{usable} {order}", (trace_id, *bounds))
        if found:
            return found
        if len(trace_id) < MIN_PREFIX:
            raise DatasetError(
                f"no trace {trace_id!r} in {self.path} (a prefix of a trace id needs "
                f"{MIN_PREFIX} characters or more)"
            )
        matching = "trace_id >= ? AND substr(trace_id, 1, ?) = ?"
        params: list[object] = [trace_id, len(trace_id), trace_id]
        after = _after_prefix(trace_id)
        if after is not None:
            # An upper bound too, so the trace id index is read over the prefix's range only.
            matching += " AND trace_id < ?"
            params.append(after)
        candidates = [
            found_id
            for (found_id,) in self._conn.execute(
                f"SELECT DISTINCT trace_id FROM records WHERE {matching}{usable} "
                f"ORDER BY trace_id LIMIT {_CANDIDATES + 1}",
                [*params, *bounds],
            )
        ]
        if not candidates:
            raise DatasetError(f"no trace {trace_id!r} in {self.path}")
        if len(candidates) > 1:
            shown = ", ".join(candidates[:_CANDIDATES])
            more = ", ..." if len(candidates) > _CANDIDATES else ""
            raise DatasetError(
                f"trace id prefix {trace_id!r} is ambiguous in {self.path}: {shown}{more}"
            )
        return self._records(f"WHERE trace_id = ?{usable} {order}", (candidates[0], *bounds))

    def record(self, span_id: str) -> Record:
        """The record with this span id.

        Raises:
            DatasetError: No record has this span id.
        """
        usable, bounds = self._usable
        found = self._records(f"WHERE span_id = ?{usable} LIMIT 1", (span_id, *bounds))
        if not found:
            raise DatasetError(f"no span {span_id!r} in {self.path}")
        return found[0]

    def calls(
        self,
        window: Window = _ANY_TIME,
        *,
        order_by: Literal["start", "newest", "duration_ms", "cost_usd"] = "start",
        failed: bool = False,
        kinds: Sequence[str] = CALL_KINDS,
        limit: int | None = None,
    ) -> list[Record]:
        """Calls in a window: by start time, or the slowest or most expensive first.

        Args:
            window: The time range.
            order_by: ``"start"`` (oldest first), ``"newest"``, or ``"duration_ms"`` /
                ``"cost_usd"``
                (largest first).
            failed: Keep only calls whose status is not ``ok``.
            kinds: The record kinds to keep.
            limit: Return at most this many.
        """
        return self._records(*self._calls_clause(window, order_by, failed, kinds, limit))

    def prefetch_calls(
        self,
        window: Window = _ANY_TIME,
        *,
        order_by: Literal["start", "newest", "duration_ms", "cost_usd"] = "start",
        failed: bool = False,
        kinds: Sequence[str] = CALL_KINDS,
        limit: int | None = None,
    ) -> None:
        """Start finding the calls `calls` will be asked for with the same arguments, on
        the side connection while the caller does other work (only with a store)."""
        if self._side_connection() is None:
            return
        clause, params = self._calls_clause(window, order_by, failed, kinds, limit)
        question = (clause, tuple(params))
        if question not in self._rowids_found:
            self._rowids_found[question] = self._later(lambda conn: _rowids(conn, clause, params))

    def _calls_clause(
        self,
        window: Window,
        order_by: Literal["start", "newest", "duration_ms", "cost_usd"],
        failed: bool,
        kinds: Sequence[str],
        limit: int | None,
    ) -> tuple[str, list[object]]:
        where, params = self._where(window, kinds)
        if failed:
            where += " AND status != 'ok'"
        if order_by == "start":
            order = '"start", rowid'
        elif order_by == "newest":
            order = '"start" DESC, rowid DESC'
        else:
            order = f"{order_by} IS NULL, {order_by} DESC"
        sql = f"{where} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit):d}"
        return sql, params

    def _records(self, clause: str, params: Sequence[object]) -> list[Record]:
        """The records the rows hold; a row that holds none is skipped and counted.

        The rows are found first and their JSON read after, by id: a query that sorts
        (the slowest ten calls) would otherwise carry every candidate's JSON through
        its sort. A sink may write in between, replacing a span's row with its later
        copy under another id, and giving the old id to another span: a row whose id
        no longer holds its span is read by its span's ids, as its later copy.
        """
        asked = self._rowids_found.pop((clause, tuple(params)), None)
        found = asked.result() if asked is not None else _rowids(self._conn, clause, params)
        records = []
        for start in range(0, len(found), _IN_CHUNK):
            chunk = found[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = {
                rowid: (trace_id, span_id, text)
                for rowid, trace_id, span_id, text in self._conn.execute(
                    f"SELECT rowid, trace_id, span_id, {self._content} FROM records "
                    f"WHERE rowid IN ({marks})",
                    [rowid for rowid, _, _ in chunk],
                )
            }
            for rowid, trace_id, span_id in chunk:
                row = rows.get(rowid)
                if row is not None and row[0] == trace_id and row[1] == span_id:
                    text = row[2]
                else:
                    later = self._later_copy(trace_id, span_id)
                    if later is None:
                        continue  # gone since it was found
                    text = later
                try:
                    records.append(read_record(text))
                except (ValueError, TypeError):
                    self.unreadable_rows += 1
        return records

    def _later_copy(self, trace_id: object, span_id: object) -> object:
        """The JSON of the span's row as it is now, if it is still one to read."""
        usable, bounds = self._usable
        copy = self._conn.execute(
            f"SELECT {self._content} FROM records WHERE trace_id = ? AND span_id = ?{usable}",
            (trace_id, span_id, *bounds),
        ).fetchone()
        return None if copy is None else copy[0]

    def span(self, window: Window = _ANY_TIME, kinds: Sequence[str] = CALL_KINDS) -> Window:
        """The first and last start times of the calls in the window.

        ``until`` is the last start time, included; both are ``None`` without calls.
        Both are written as `usable_start` writes them, even in a store that holds a
        start time that is no time.
        """
        where, params = self._where(window, kinds)
        # Each end through the start index, from that end until a call: min() and max()
        # over a WHERE on the kind would read every row.
        ends: list[str | None] = []
        for order in ("ASC", "DESC"):
            row = self._conn.execute(
                f'SELECT "start" FROM records {where} ORDER BY "start" {order} LIMIT 1', params
            ).fetchone()
            ends.append(None if row is None else row[0])
        low, high = ends
        return Window(
            self._usable_bound(low, where, params, "ASC"),
            self._usable_bound(high, where, params, "DESC"),
        )

    def _usable_bound(
        self, found: str | None, where: str, params: list[object], order: str
    ) -> str | None:
        if found is None:
            return None
        usable = usable_start(found)
        if usable is not None:
            return usable
        # Only a store not written by SQLiteSink gets here: walk in from that end.
        rows = self._conn.execute(
            f'SELECT "start" FROM records {where} ORDER BY "start" {order}', params
        )
        return next((u for (start,) in rows if (u := usable_start(start)) is not None), None)

    def stats(
        self,
        by: Sequence[str] = ("name",),
        window: Window = _ANY_TIME,
        *,
        kinds: Sequence[str] = CALL_KINDS,
    ) -> list[GroupStats]:
        """Figures for each group of calls in the window, ordered by group key.

        Args:
            by: Grouping keys, out of `GROUPINGS`; none gives one group for everything.
            window: The time range.
            kinds: The record kinds counted as calls.
        """
        return self.summary(by, window, kinds=kinds)[0]

    def summary(
        self,
        by: Sequence[str] = ("name",),
        window: Window = _ANY_TIME,
        *,
        kinds: Sequence[str] = CALL_KINDS,
    ) -> tuple[list[GroupStats], GroupStats | None]:
        """`stats` per group and for all the groups together, from one pass over the calls.

        Returns:
            The groups, and their total (``None`` when the window holds no call).
        """
        return self.summaries((by,), window, kinds=kinds)[0]

    def summaries(
        self,
        groupings: Sequence[Sequence[str]],
        window: Window = _ANY_TIME,
        *,
        kinds: Sequence[str] = CALL_KINDS,
    ) -> list[tuple[list[GroupStats], GroupStats | None]]:
        """`summary` for each grouping.

        The latencies go to Python as one sorted list per group and sample weight: when
        every weight is a whole number that is all the exact quantiles need
        (`counted_quantiles`). For one grouping its SQL aggregate hands them over
        (`_LatencyRuns`), so the calls are read once; for several, one extra read
        serves them all (`_counted_latencies`). Otherwise the latencies are read again
        as (value, weight) pairs and walked (`_latencies`); both give the same figures.
        """
        # One grouping: its aggregate collects the latencies. Several: one read of the
        # latencies serves them all, sharing each value (collecting in every aggregate
        # would hold a copy per grouping), while the side connection runs the
        # aggregates, which hand back a few rows after a long step without the GIL.
        single = len(groupings) == 1
        _, places = _places(groupings)
        passed: _Passed | None = None
        # The latencies as (value, weight) pairs, when they were read beside aggregates.
        pairs: list[dict[tuple[str, ...], list[tuple[float, float]]]] | None = None
        question = self._question(groupings, window, kinds)
        running = self._prefetched.pop(question, None)
        if running is None:
            running = self._start(self._summary_jobs(groupings, window, kinds))
        rows = self._cell_rows.pop(question, (1, 0))
        # While one grouping's aggregate calls Python for every row, the GIL changes
        # hands between rows anyway: the feedback traces' groups can be read beside it.
        traces_later = None
        if single and question not in self._trace_groups_found:
            traces_later = self._later(
                lambda conn: self._read_trace_groups(conn, groupings, window, kinds)
            )
        counted: _Counted | None
        try:
            if single:
                found = [self._sums(groupings[0], window, kinds, latencies=True)]
                collected = _counted([runs for _, runs in found])
                counted = None
                if collected is not None:
                    # Every grouping holds every call once: its lists are them all.
                    everything = [
                        run for classes in collected[0].values() for run in classes.items()
                    ]
                    counted = collected, everything
            elif self._pass_possible():
                passed = self._one_pass(groupings, window, kinds, rows)
                counted = None if passed is None else passed[0]
            else:
                # The side connection runs each grouping's own aggregate meanwhile.
                counted = self._counted_latencies(groupings, window, kinds, rows)
            if traces_later is None:
                traces = self._trace_groups(groupings, window, kinds)
            else:
                traces = self._trace_groups_found[question] = traces_later.result()
        except BaseException:
            _abandon(running, self._side)
            raise
        answers = self._finish(running)
        if not single and not self._pass_possible():
            found = cast(list[_Sums], answers[: len(groupings)])
        elif not single:
            combined = None
            if passed is not None:
                parts = cast(list[_Sums], answers[:_CELL_PARTS])
                combined = _combined([sums for sums, _ in parts], places, *passed[1:])
            if combined is None:
                # Sums the pass cannot answer for alike: each grouping's aggregate, on the
                # side connection while this thread reads the latencies again (a sink
                # may have replaced a call the pass read since).
                again = self._start([self._sums_job(by, window, kinds, rows) for by in groupings])
                try:
                    counted = self._counted_latencies(groupings, window, kinds, rows)
                    if counted is None:
                        pairs = self._latencies(groupings, window, kinds, rows)
                except BaseException:
                    _abandon(again, self._side)
                    raise
                found = cast(list[_Sums], self._finish(again))
            else:
                found = combined
        # Attempts belong to guarded calls, which are llm records.
        repairs = "llm" in kinds
        repaired: list[dict[tuple[str, ...], float]] = [{} for _ in groupings]
        if repairs:
            *repaired, whole_window = cast(
                list[dict[tuple[str, ...], float]], answers[len(answers) - len(groupings) - 1 :]
            )
            self._repaired_totals.setdefault(window, sum(whole_window.values()))
        quantiles: list[dict[tuple[str, ...], tuple[float | None, ...]]]
        if counted is not None:
            per_grouping, everything = counted
            quantiles = [
                {key: counted_quantiles(classes.items()) for key, classes in groups.items()}
                for groups in per_grouping
            ]
            overall = [counted_quantiles(everything)] * len(groupings)
        else:
            if pairs is None:
                pairs = self._latencies(groupings, window, kinds, None if single else rows)
            latencies = pairs
            quantiles = [
                {key: weighted_quantiles(pairs, QUANTILES) for key, pairs in pairs_of.items()}
                for pairs_of in latencies
            ]
            overall = [all_quantiles(pairs_of) for pairs_of in latencies]
        return [
            self._summary(by, window, kinds, sums, found_quantiles, groups_of, total, repairs_of)
            for by, (sums, _), found_quantiles, groups_of, total, repairs_of in zip(
                groupings, found, quantiles, traces, overall, repaired, strict=True
            )
        ]

    def prefetch_summaries(
        self,
        groupings: Sequence[Sequence[str]],
        window: Window = _ANY_TIME,
        *,
        kinds: Sequence[str] = CALL_KINDS,
    ) -> None:
        """Start `summaries`' SQL aggregates on the side connection, for a caller with
        other work to do first; the same call to `summaries` then finishes them."""
        if self._side_connection() is None:
            return
        question = self._question(groupings, window, kinds)
        if question not in self._prefetched:
            self._prefetched[question] = self._start(self._summary_jobs(groupings, window, kinds))

    def _summary_jobs(
        self, groupings: Sequence[Sequence[str]], window: Window, kinds: Sequence[str]
    ) -> list[_Job]:
        """The aggregates of `summaries` that need no Python during the scan: the sums
        of several groupings (one grouping's sums collect its latencies), and the
        repaired attempts per grouping and for the window."""
        jobs: list[_Job] = []
        if len(groupings) > 1:
            low, high = self._conn.execute("SELECT min(rowid), max(rowid) FROM records").fetchone()
            # Both ends included: one past the largest row id SQLite holds (2**63 - 1,
            # which a store not written by llmguard may use) is no SQLite integer.
            low, high = (1, 0) if low is None else (int(low), int(high))
            # Every read of the groupings keeps to these rows: a call a sink appends
            # meanwhile is in none of them, so the groupings hold the same calls.
            self._cell_rows[self._question(groupings, window, kinds)] = (low, high)
        if len(groupings) > 1 and not self._pass_possible():
            jobs.extend(self._sums_job(by, window, kinds, (low, high)) for by in groupings)
        elif len(groupings) > 1:
            # The sums per combination of the groupings' keys (`_combined` adds them up),
            # over parts of the table, so that the main connection can take some when
            # its own work ends first.
            columns, _ = _places(groupings)
            cuts = [low + (high + 1 - low) * part // _CELL_PARTS for part in range(_CELL_PARTS)]
            for first, after in zip(cuts, [*cuts[1:], high + 1], strict=True):
                jobs.append(self._cells_job(columns, window, kinds, (first, after - 1)))
        if "llm" in kinds:
            jobs.extend(self._repaired_job(by, window) for by in groupings)
            jobs.append(self._repaired_job((), window))
        return jobs

    @staticmethod
    def _question(
        groupings: Sequence[Sequence[str]], window: Window, kinds: Sequence[str]
    ) -> tuple[object, ...]:
        return (tuple(map(tuple, groupings)), window, tuple(kinds))

    def _sums_job(
        self, by: Sequence[str], window: Window, kinds: Sequence[str], kept: tuple[int, int]
    ) -> _Job:
        return lambda conn: self._sums(by, window, kinds, latencies=False, conn=conn, kept=kept)

    def _cells_job(
        self, columns: Sequence[str], window: Window, kinds: Sequence[str], rows: tuple[int, int]
    ) -> _Job:
        return lambda conn: self._sums(
            columns, window, kinds, latencies=False, conn=conn, whole=True, rows=rows
        )

    def _repaired_job(self, by: Sequence[str], window: Window) -> _Job:
        return lambda conn: self._repaired(by, window, conn)

    def _pass_possible(self) -> bool:
        """Whether `_one_pass` may answer for this database: not with an SQLite whose
        ``sum()`` adds otherwise (3.43 compensates rounding), nor for a file in UTF-16,
        whose text SQL orders by its UTF-16 bytes, not by code point as the pass sorts
        the groups. Where it may not, `summaries` starts the groupings' own aggregates
        on the side connection at once, as it did before the pass."""
        if self._pass_allowed is None:
            (encoding,) = self._conn.execute("PRAGMA encoding").fetchone()
            self._pass_allowed = sqlite3.sqlite_version_info < (3, 43, 0) and encoding == "UTF-8"
        return self._pass_allowed

    def _counted_latencies(
        self,
        groupings: Sequence[Sequence[str]],
        window: Window,
        kinds: Sequence[str],
        kept: tuple[int, int] | None = None,
    ) -> _Counted | None:
        """The calls' latencies per group of each grouping, split by sample weight.

        Each group's values are kept in one sorted list per weight (`Classes`); all the
        calls together are the first grouping's lists. That is enough for the exact
        weighted quantiles when every weight is a whole number (`counted_quantiles`):
        Python then moves each latency once and sorts plain floats, instead of building,
        sorting and adding up a (value, weight) pair per call and grouping.

        Returns:
            ``None`` when some weight is not a whole number from 0 up, the weights add
            up past what a double holds exactly, a latency is not a number, or 0.0 and
            -0.0 are both among them; `_latencies` answers then.
        """
        where, params = _kept(*self._where(window, kinds), kept)
        duration = self._column("duration_ms")
        columns, places = _places(groupings)
        keys = ", ".join(self._keys((column,) if column else ()) for column in columns)
        rows = self._conn.execute(
            f"SELECT {keys}, {self._column('sample_weight')}, {duration} FROM records "
            f"{where} AND {duration} IS NOT NULL",
            params,
        )
        # Every combination of the groupings' keys and a weight: its latencies. There
        # are few combinations (groups times days times weights), so the merging below
        # is cheap; the loop over the rows does one lookup each.
        cells: dict[tuple[object, ...], list[float]] = {}
        for found in rows:
            values = cells.get(found[:-1])
            if values is None:
                cells[found[:-1]] = [found[-1]]
            else:
                values.append(found[-1])
        return _grouped_latencies(cells, places)

    def _one_pass(
        self,
        groupings: Sequence[Sequence[str]],
        window: Window,
        kinds: Sequence[str],
        rows: tuple[int, int],
    ) -> _Passed | None:
        """`_counted_latencies`, and each grouping's cost sums, from one read of the calls
        whose row ids are in ``rows``, both ends included (those the sums per combination
        of keys read).

        The sum of the costs is the one figure of `_sums` whose answer depends on the
        order of the rows (each weighted cost is a double added to a running double by
        SQLite 3.40's ``sum()``, in the order its scan meets the rows: its GROUP BY sorts
        them stably). So it is added up here in the order of the same scan, one running
        sum per group of each grouping; the other sums are whole numbers, which
        `_sums` (with ``whole``) adds up once per combination of the groupings' keys.
        The calls and their weight per combination come too, for `_combined` to check
        that both reads met the same calls (a sink may write to the store meanwhile).

        Asked only where `_pass_possible`.

        Returns:
            ``None`` when these sums could differ from the aggregates': a scan other
            than the aggregates' for the window, or a key that is no text (two values
            printing alike would be two groups in SQL); the aggregates answer then.
        """
        where, params = self._where(window, kinds)
        col = self._column
        weight = col("sample_weight")
        columns, places = _places(groupings)
        keys = ", ".join(self._keys((column,) if column else ()) for column in columns)
        kept, bounds = _kept(where, params, rows)
        read = (
            f"SELECT {keys}, {weight}, {col('duration_ms')}, "
            f"{weight} * coalesce(cost_usd, 0) FROM records {kept}"
        )
        scans = {_scan(self._conn, read, bounds)}
        # Each grouping's own aggregate as the old way and `stats` run it, word for word:
        # an index covering fewer of its columns might be chosen for a shorter query.
        for by, collecting in itertools.product(groupings, (False, True)):
            scans.add(
                _scan(self._conn, *self._sums_query(by, window, kinds, collecting, False, None))
            )
        if len(scans) != 1:
            return None
        width = len(columns)
        picks = [operator.itemgetter(*place) for place in places]
        groups: list[dict[tuple[str, ...], int]] = [{} for _ in groupings]
        costs: list[float] = []
        # Per combination of keys and weight: its latencies, and where its cost goes in
        # each grouping's running sums.
        cells: dict[tuple[object, ...], tuple[list[float], tuple[int, ...]]] = {}
        # Per combination and weight, the calls without a latency.
        unmeasured: dict[tuple[object, ...], int] = {}
        for found in self._conn.execute(read, bounds):
            combination = found[:-2]
            cell = cells.get(combination)
            if cell is None:
                key = found[:width]
                if not all(type(value) is str for value in key):
                    return None
                indexes = []
                for pick, place, found_groups in zip(picks, places, groups, strict=True):
                    picked = pick(key)
                    group = cast(tuple[str, ...], picked if len(place) > 1 else (picked,))
                    if group not in found_groups:
                        found_groups[group] = len(costs)
                        costs.append(0.0)
                    indexes.append(found_groups[group])
                cell = cells[combination] = ([], tuple(indexes))
            values, at = cell
            if found[-2] is not None:
                values.append(found[-2])
            else:
                unmeasured[combination] = unmeasured.get(combination, 0) + 1
            cost = found[-1]
            # Adding 0.0 to a running sum leaves it as it was, -0.0 included.
            if cost:
                for index in at:
                    costs[index] += cost
        latencies = {cell: values for cell, (values, _) in cells.items() if values}
        calls: dict[tuple[object, ...], tuple[int, float]] = {}
        for combination, (values, _) in cells.items():
            count = len(values) + unmeasured.get(combination, 0)
            key = combination[:width]
            known, weighed = calls.get(key, (0, 0.0))
            weight_of = float(cast(float, combination[-1]))
            calls[key] = known + count, weighed + weight_of * count
        return (
            _grouped_latencies(latencies, places),
            [{group: costs[index] for group, index in found.items()} for found in groups],
            calls,
        )

    def _latencies(
        self,
        groupings: Sequence[Sequence[str]],
        window: Window,
        kinds: Sequence[str],
        kept: tuple[int, int] | None = None,
    ) -> list[dict[tuple[str, ...], list[tuple[float, float]]]]:
        """``values("duration_ms", by, ...)`` for each grouping, from one query (of the
        rows whose ids are in ``kept``, both ends included, when given)."""
        if len(groupings) == 1:
            return [self.values("duration_ms", groupings[0], window, kinds=kinds)]
        where, params = _kept(*self._where(window, kinds), kept)
        duration = self._column("duration_ms")
        widths = [len(by) or 1 for by in groupings]
        starts = list(itertools.accumulate(widths, initial=0))
        keys = ", ".join(self._keys(by) for by in groupings)
        rows = self._conn.execute(
            f"SELECT {keys}, {duration}, {self._column('sample_weight')} FROM records "
            f"{where} AND {duration} IS NOT NULL",
            params,
        )
        grouped: list[dict[tuple[str, ...], list[tuple[float, float]]]] = [{} for _ in groupings]
        value_at = starts[-1]
        spans = list(zip(grouped, starts, starts[1:], strict=False))
        for found in rows:
            pair = (found[value_at], found[value_at + 1])
            for groups, start, end in spans:
                groups.setdefault(tuple(map(str, found[start:end])), []).append(pair)
        by_value = operator.itemgetter(0)
        for groups in grouped:
            for pairs in groups.values():
                pairs.sort(key=by_value)
        return [dict(sorted(groups.items())) for groups in grouped]

    def _sums(
        self,
        by: Sequence[str],
        window: Window,
        kinds: Sequence[str],
        *,
        latencies: bool = True,
        conn: sqlite3.Connection | None = None,
        whole: bool = False,
        rows: tuple[int, int] | None = None,
        kept: tuple[int, int] | None = None,
    ) -> _Sums:
        """Per group, the SQL sums `group_stats` takes, and its latencies by weight.

        The latencies come from the same pass as the sums (the `_LatencyRuns`
        aggregate, on the main connection only), unsorted; a weight or a latency may be
        anything the store holds. Without ``latencies`` none are collected and every
        group has none; ``conn`` may then be the side connection.

        With ``whole`` (and no latencies), each group's sums end with whether every
        term of the first nine was a whole number and every cost term a double, which
        `_combined` needs; ``rows`` keeps to the rows whose ids are in that range, both
        ends included (``by`` may then hold ``""``, a key for all). ``kept`` keeps to the
        rows whose ids are in it too, with no change to how the table is read.
        """
        query, params = self._sums_query(by, window, kinds, latencies, whole, rows, kept)
        db = self._conn if latencies or conn is None else conn
        found_rows = db.execute(query, params).fetchall()
        width = len(by) or 1
        sums: dict[tuple[str, ...], tuple[float | None, ...]] = {}
        runs: dict[tuple[str, ...], Classes] = {}
        for found in found_rows:
            key = _key(found, width)
            if whole:
                sums[key] = cast(tuple[float | None, ...], tuple(found[width:]))
                continue
            figures = cast(tuple[float | None, ...], tuple(found[width:-1]))
            # Two values that print alike (a store not written by llmguard) are one
            # group, as in `values`: their sums and latencies go together.
            known = sums.get(key)
            sums[key] = (
                figures
                if known is None
                else tuple(add_up(pair) for pair in zip(known, figures, strict=True))
            )
            classes = runs.setdefault(key, {})
            if found[-1] is None:
                continue
            for found_weight, values in self._latency_runs.pop(found[-1]).items():
                classes.setdefault(found_weight, []).extend(values)
        return sums, runs

    def _sums_query(
        self,
        by: Sequence[str],
        window: Window,
        kinds: Sequence[str],
        latencies: bool,
        whole: bool,
        rows: tuple[int, int] | None,
        kept: tuple[int, int] | None = None,
    ) -> tuple[str, list[object]]:
        """`_sums`' query and its parameters."""
        keys = ", ".join(self._keys((column,) if column else ()) for column in by) or "'all'"
        where, params = _kept(*self._where(window, kinds), kept)
        if rows is not None:
            where += " AND rowid >= ? AND rowid <= ?"
            params.extend(rows)
        col = self._column
        weight, retries = col("sample_weight"), col("retries")
        collect = f"{_LATENCY_RUNS}({col('duration_ms')}, {weight})" if latencies else "NULL"
        if whole:
            terms = " AND ".join(
                f"coalesce({term} = CAST({term} AS INTEGER), 1)"
                for term in (weight, retries, "input_tokens", "output_tokens")
            )
            collect = (
                f"min({weight} IS NOT NULL AND {terms} "
                f"AND typeof({weight} * coalesce(cost_usd, 0)) = 'real')"
            )
        query = f"""
            SELECT {keys},
                sum({weight}),
                count(*),
                sum({weight} * (status = 'error')),
                sum({weight} * (coalesce({col("error_type")}, '') = '{_SCHEMA_VIOLATION}')),
                sum({weight} * {retries}),
                sum(CASE WHEN {retries} IS NOT NULL THEN {weight} END),
                sum({weight} * (status = 'limit')),
                sum({weight} * coalesce(input_tokens, 0)),
                sum({weight} * coalesce(output_tokens, 0)),
                sum({weight} * coalesce(cost_usd, 0)),
                {collect}
            FROM records {where}
            GROUP BY {keys} ORDER BY {keys}
            """
        return query, params

    def _summary(
        self,
        by: Sequence[str],
        window: Window,
        kinds: Sequence[str],
        sums: dict[tuple[str, ...], tuple[float | None, ...]],
        quantiles: dict[tuple[str, ...], tuple[float | None, ...]],
        groups_of: dict[str, set[tuple[str, ...]]],
        overall: tuple[float | None, ...],
        repaired: dict[tuple[str, ...], float],
    ) -> tuple[list[GroupStats], GroupStats | None]:
        if not sums:
            return [], None
        scores = self._scores(by, window, kinds, groups_of)
        # 0, not 0.0, without repairs: `stats --json` has always printed "repaired": 0.
        repaired_total = self._repaired_total(window) if repaired else 0
        groups = [
            group_stats(
                key,
                sums[key],
                [],
                scores.get(key, []),
                repaired.get(key, 0.0),
                quantiles=quantiles.get(key, NO_QUANTILES),
            )
            for key in sums
        ]
        total = group_stats(
            ("(all)",),
            tuple(add_up(column) for column in zip(*sums.values(), strict=True)),
            [],
            scores.get(_ALL, []),
            repaired_total,
            quantiles=overall,
        )
        return groups, total

    def _repaired_total(self, window: Window) -> float:
        """`_repaired` for all the calls of the window, asked once per window (the
        report's four groupings share it)."""
        total = self._repaired_totals.get(window)
        if total is None:
            total = self._repaired_totals[window] = sum(self._repaired((), window).values())
        return total

    def _repaired(
        self, by: Sequence[str], window: Window, conn: sqlite3.Connection | None = None
    ) -> dict[tuple[str, ...], float]:
        """Per group, the weight of the attempts that json-repair fixed.

        An attempt is named ``attempt N``; it counts for the function it belongs to,
        and for its own model, prompt, time and status. ``conn`` is the connection to
        ask, the main one by default.
        """
        keys = self._keys(by, name=f"coalesce({self._column('function')}, name)")
        repair = self._column("repair")
        clauses = [f"{repair} = '{REPAIRED}'", "kind = 'attempt'"]
        params: list[object] = []
        if window.since is not None:
            clauses.append('"start" >= ?')
            params.append(window.since)
        if window.until is not None:
            clauses.append('"start" < ?')
            params.append(window.until)
        usable, bounds = self._usable
        db = conn or self._conn
        rows = db.execute(
            f"SELECT {keys}, sum({self._column('sample_weight')}) FROM records "
            f"WHERE {' AND '.join(clauses)}{usable} GROUP BY {keys}",
            [*params, *bounds],
        ).fetchall()
        width = len(by) or 1
        found: dict[tuple[str, ...], float] = {}
        for group in rows:
            # Keys that print alike are one group (see `_sums`).
            key = _key(group, width)
            found[key] = found.get(key, 0.0) + float(group[width])
        return found

    def values(
        self,
        metric: Metric,
        by: Sequence[str] = ("name",),
        window: Window = _ANY_TIME,
        *,
        kinds: Sequence[str] = CALL_KINDS,
    ) -> dict[tuple[str, ...], list[tuple[float, float]]]:
        """One metric of every call in the window, as ``(value, weight)`` pairs per group.

        Each group's pairs are sorted by value. Calls without the metric (no reported
        usage, no price) are left out; ``"error"`` and ``"limit"`` are 1 or 0 per call.
        """
        keys = self._keys(by)
        where, params = self._where(window, kinds)
        expression = self._metric(metric)
        # Unordered: sorting a million rows is faster in Python than in SQLite here. Read
        # row by row, so only the pairs are held, not the rows too.
        rows = self._conn.execute(
            f"SELECT {keys}, {expression}, {self._column('sample_weight')} FROM records "
            f"{where} AND {expression} IS NOT NULL",
            params,
        )
        width = len(by) or 1
        grouped: dict[tuple[str, ...], list[tuple[float, float]]] = {}
        if width == 1:
            for key, value, weight in rows:
                grouped.setdefault((str(key),), []).append((value, weight))
        else:
            for row in rows:
                grouped.setdefault(_key(row, width), []).append((row[width], row[width + 1]))
        by_value = operator.itemgetter(0)
        for pairs in grouped.values():
            pairs.sort(key=by_value)
        return dict(sorted(grouped.items()))

    def samples(
        self,
        metrics: Sequence[Metric],
        by: Sequence[str] = ("name",),
        window: Window = _ANY_TIME,
        *,
        kinds: Sequence[str] = CALL_KINDS,
        any_order: Collection[Metric] = (),
    ) -> dict[tuple[str, ...], dict[Metric, list[tuple[float, float]]]]:
        """`values` of several metrics at once, from one pass over the calls.

        Per group, per metric, the same pairs in the same order as `values` gives; a
        group without any value of a metric has no entry for it. The metrics in
        ``any_order`` keep the order the rows were read in instead, and equal pairs may
        be one object: for a caller that only counts them and adds them up.
        """
        return self.samples_by(metrics, (by,), window, kinds=kinds, any_order=any_order)[0]

    def _metric_rows(
        self,
        metrics: Sequence[Metric],
        groupings: Sequence[Sequence[str]],
        window: Window,
        kinds: Sequence[str],
    ) -> tuple[sqlite3.Cursor, list[tuple[int, int]], range]:
        """One pass over the calls for `samples_by` and `columns_by`: the cursor over rows
        of every grouping's keys, then the metrics, then the sample weight; each
        grouping's slice of a row's keys; and where the metrics stand in a row."""
        keys = ", ".join(self._keys(by) for by in groupings)
        where, params = self._where(window, kinds)
        expressions = ", ".join(self._metric(metric) for metric in metrics)
        widths = [len(by) or 1 for by in groupings]
        starts = list(itertools.accumulate(widths, initial=0))
        rows = self._conn.execute(
            f"SELECT {keys}, {expressions}, {self._column('sample_weight')} FROM records {where}",
            params,
        )
        return rows, list(itertools.pairwise(starts)), range(starts[-1], starts[-1] + len(metrics))

    def samples_by(
        self,
        metrics: Sequence[Metric],
        groupings: Sequence[Sequence[str]],
        window: Window = _ANY_TIME,
        *,
        kinds: Sequence[str] = CALL_KINDS,
        any_order: Collection[Metric] = (),
    ) -> list[dict[tuple[str, ...], dict[Metric, list[tuple[float, float]]]]]:
        """`samples` for each grouping, from one pass over the calls."""
        rows, spans, columns = self._metric_rows(metrics, groupings, window, kinds)
        # Per grouping, per group, per metric: the (value, weight) pairs whose value is
        # not NULL, in the order read.
        collected: list[dict[tuple[str, ...], list[list[tuple[float, float]]]]] = [
            {} for _ in groupings
        ]
        # The metrics only added up take few distinct pairs ((0, 1.0), (1, 4.0), ...):
        # each is kept once, the equal ones shared, instead of a tuple per call.
        shared: dict[int, dict[tuple[float, float], tuple[float, float]]] = {
            index: {} for index, metric in zip(columns, metrics, strict=True) if metric in any_order
        }
        # Read in chunks, so that the rows are never all held beside their pairs.
        while chunk := rows.fetchmany(_FETCH_ROWS):
            if len(spans) == 1:
                # One grouping: each group's pairs made straight from its rows.
                groups = collected[0]
                for key, at in _positions_by_key(chunk, 0, spans[0][1]).items():
                    group_rows = list(map(chunk.__getitem__, at))
                    lists = groups.get(key)
                    if lists is None:
                        lists = groups[key] = [[] for _ in metrics]
                    for kept, index in zip(lists, columns, strict=True):
                        made = list(
                            itertools.compress(
                                map(operator.itemgetter(index, -1), group_rows),
                                map(
                                    operator.is_not,
                                    map(operator.itemgetter(index), group_rows),
                                    _NONE,
                                ),
                            )
                        )
                        kept.extend(_shared(made, shared.get(index)))
                continue
            # One pair per row and metric, shared by every grouping's groups.
            pairs = [
                _shared(list(map(operator.itemgetter(index, -1), chunk)), shared.get(index))
                for index in columns
            ]
            present = [
                list(map(operator.is_not, map(operator.itemgetter(index), chunk), _NONE))
                for index in columns
            ]
            for (first, end), groups in zip(spans, collected, strict=True):
                for key, at in _positions_by_key(chunk, first, end).items():
                    lists = groups.get(key)
                    if lists is None:
                        lists = groups[key] = [[] for _ in metrics]
                    for kept, row_pairs, row_present in zip(lists, pairs, present, strict=True):
                        kept.extend(
                            itertools.compress(
                                map(row_pairs.__getitem__, at), map(row_present.__getitem__, at)
                            )
                        )
        by_value = operator.itemgetter(0)
        found_by: list[dict[tuple[str, ...], dict[Metric, list[tuple[float, float]]]]] = []
        for groups in collected:
            found: dict[tuple[str, ...], dict[Metric, list[tuple[float, float]]]] = {}
            for key in sorted(groups):
                per_metric = {}
                for metric, kept in zip(metrics, groups.pop(key), strict=True):
                    if kept:
                        if metric not in any_order:
                            kept.sort(key=by_value)
                        per_metric[metric] = kept
                found[key] = per_metric
            found_by.append(found)
        return found_by

    def columns_by(
        self,
        metrics: Sequence[Metric],
        groupings: Sequence[Sequence[str]],
        window: Window = _ANY_TIME,
        *,
        kinds: Sequence[str] = CALL_KINDS,
        any_order: Collection[Metric] = (),
    ) -> list[dict[tuple[str, ...], dict[Metric, Columns]]]:
        """`samples_by`'s observations as value and weight columns, no pair made.

        Per grouping, per group, per metric, `Columns` whose pairs are those
        `samples_by` gives, in the same order: sorted by value (a stable sort), or in
        the order read for the metrics in ``any_order`` (``Columns.ordered`` says which).
        """
        rows, spans, columns = self._metric_rows(metrics, groupings, window, kinds)
        # Per grouping, per group: every row's weight, and per metric the values that
        # are not NULL and, once a NULL was met, their own weights; in the order read.
        collected: list[dict[tuple[str, ...], _Read]] = [{} for _ in groupings]
        while chunk := rows.fetchmany(_FETCH_ROWS):
            chunk_weights = list(map(operator.itemgetter(-1), chunk))
            chunk_values: list[tuple[list[float], list[bool] | None]] = []
            for index in columns:
                values = list(map(operator.itemgetter(index), chunk))
                if any(map(operator.is_, values, _NONE)):
                    chunk_values.append((values, list(map(operator.is_not, values, _NONE))))
                else:
                    chunk_values.append((values, None))
            for (first, end), groups in zip(spans, collected, strict=True):
                positions = _positions_by_key(chunk, first, end)
                for key, at in positions.items():
                    read = groups.get(key)
                    if read is None:
                        read = groups[key] = _Read([], [[] for _ in metrics], [None] * len(metrics))
                    # One group holding the whole chunk takes its columns as they are;
                    # otherwise its rows' items are picked in C, as a tuple (of one or
                    # more positions: the picker of one position returns the item).
                    pick = _picker(at, len(chunk))
                    before = len(read.weights)
                    weights = pick(chunk_weights)
                    read.weights.extend(weights)
                    for column, (values, present) in enumerate(chunk_values):
                        picked = pick(values)
                        own = read.own[column]
                        if present is None:
                            read.values[column].extend(picked)
                            if own is not None:
                                own.extend(weights)
                            continue
                        mask = pick(present)
                        read.values[column].extend(itertools.compress(picked, mask))
                        if own is None:
                            own = read.own[column] = read.weights[:before]
                        own.extend(itertools.compress(weights, mask))
        found_by: list[dict[tuple[str, ...], dict[Metric, Columns]]] = []
        for groups in collected:
            found: dict[tuple[str, ...], dict[Metric, Columns]] = {}
            for key in sorted(groups):
                read = groups.pop(key)
                # The group's weights counted once for the metrics that hold every row;
                # only when they are all floats, so that the counts of a sorted copy
                # (keyed by other but equal floats) are the same. A metric with NULLs
                # counts its own.
                counted = all(map(operator.is_, map(type, read.weights), itertools.repeat(float)))
                shared = tally(read.weights) if counted and read.weights else None
                per_metric = {}
                for metric, values, own in zip(metrics, read.values, read.own, strict=True):
                    if values:
                        if own is None:
                            weights, counts = read.weights, shared
                        else:
                            # Some of the group's weights, so floats too when they are.
                            weights, counts = own, tally(own) if counted else None
                        if metric in any_order:
                            per_metric[metric] = Columns(
                                values, weights, ordered=False, tally=counts
                            )
                        else:
                            per_metric[metric] = _sorted_columns(values, weights, counts)
                found[key] = per_metric
            found_by.append(found)
        return found_by

    def _metric(self, metric: Metric) -> str:
        return {"error": "status = 'error'", "limit": "status = 'limit'"}.get(
            metric
        ) or self._column(metric)

    def prefetch_feedback(
        self, groupings: Sequence[Sequence[str]], window: Window = _ANY_TIME
    ) -> None:
        """Start finding what `feedback_scores_by` will be asked with the same arguments,
        on the side connection while the caller reads the calls (only with a store).

        The feedback records and the calls of their traces lie all over the store, so
        finding them reads most of its pages whatever the window: about as long as
        reading a week's calls of a million-call store, which the main thread does
        meanwhile. The questions asked ahead run in the order asked, and share the
        side connection's table of the feedback traces' records.
        """
        if self._side_connection() is None:
            return
        question = self._question(groupings, window, CALL_KINDS)
        if question in self._trace_groups_found or question in self._trace_groups_later:
            return
        self._trace_groups_later[question] = self._later(
            lambda conn: self._read_trace_groups(conn, groupings, window, CALL_KINDS)
        )

    def feedback_scores(
        self, by: Sequence[str] = ("name",), window: Window = _ANY_TIME
    ) -> dict[tuple[str, ...], list[float]]:
        """The feedback scores given to each group's traces, one per feedback record.

        A feedback record names a trace; its score counts once for every group with a
        call in that trace.
        """
        return self.feedback_scores_by((by,), window)[0]

    def feedback_scores_by(
        self, groupings: Sequence[Sequence[str]], window: Window = _ANY_TIME
    ) -> list[dict[tuple[str, ...], list[float]]]:
        """`feedback_scores` for each grouping, the traces' calls read once."""
        found = []
        for by, groups_of in zip(
            groupings, self._trace_groups(groupings, window, CALL_KINDS), strict=True
        ):
            scores = self._scores(by, window, CALL_KINDS, groups_of)
            scores.pop(_ALL, None)
            found.append(scores)
        return found

    def _scores(
        self,
        by: Sequence[str],
        window: Window,
        kinds: Sequence[str],
        groups_of: dict[str, set[tuple[str, ...]]] | None = None,
    ) -> dict[tuple[str, ...], list[float]]:
        """`feedback_scores`, plus under `_ALL` every score whose trace has a call.

        ``groups_of`` is `_trace_groups`' answer for ``by``, when the caller has it.
        """
        feedback = self._feedback()
        if not feedback:
            return {}
        if groups_of is None:
            (groups_of,) = self._trace_groups((by,), window, kinds)
        grouped: dict[tuple[str, ...], list[float]] = {}
        for trace, value in feedback:
            groups = groups_of.get(trace)
            if groups:
                grouped.setdefault(_ALL, []).append(value)
                for key in groups:
                    grouped.setdefault(key, []).append(value)
        return grouped

    def _trace_groups(
        self, groupings: Sequence[Sequence[str]], window: Window, kinds: Sequence[str]
    ) -> list[dict[str, set[tuple[str, ...]]]]:
        """For each grouping, the groups with a call in each trace that has feedback.

        Read on the main connection: the query hands back a row per trace, and a thread
        taking the GIL back for each row would slow the main thread's reads down.
        """
        question = self._question(groupings, window, kinds)
        found = self._trace_groups_found.get(question)
        if found is None:
            later = self._trace_groups_later.pop(question, None)
            found = self._trace_groups_found[question] = (
                later.result()
                if later is not None
                else self._read_trace_groups(self._conn, groupings, window, kinds)
            )
        return found

    def _read_trace_groups(
        self,
        conn: sqlite3.Connection,
        groupings: Sequence[Sequence[str]],
        window: Window,
        kinds: Sequence[str],
    ) -> list[dict[str, set[tuple[str, ...]]]]:
        found: list[dict[str, set[tuple[str, ...]]]] = [{} for _ in groupings]
        feedback = self._feedback(conn)
        if not feedback:
            return found
        keys = ", ".join(self._keys(by) for by in groupings)
        widths = [len(by) or 1 for by in groupings]
        starts = list(itertools.accumulate(widths, initial=1))
        spans = list(zip(found, starts, starts[1:], strict=False))
        where, params = self._where(window, kinds, usable=False)
        for call in conn.execute(
            f"SELECT DISTINCT trace_id, {keys} FROM {self._feedback_traces(conn)} {where}",
            params,
        ):
            for groups_of, first, end in spans:
                groups_of.setdefault(call[0], set()).add(tuple(map(str, call[first:end])))
        return found

    def _feedback_traces(self, conn: sqlite3.Connection) -> str:
        """A temporary table of every record in a trace that has feedback, made once.

        It holds the columns the groupings and windows read, and the scores, so each
        command that asks which groups a score belongs to (the report asks five times)
        reads a few thousand rows instead of looking every trace up in the store again.
        The feedback records are in it too, and `_feedback` reads their scores there:
        they lie all over the store, and their traces' other records in the same pages,
        which one read then brings in (at a million calls, most of the store's pages).
        """
        if conn not in self._feedback_tables:
            # The traces holding a feedback record, from the feedback index alone (it
            # holds their ids); then each one's records through the trace id index
            # (CROSS JOIN keeps that order). A trace whose feedback no score comes from
            # (a record left out, no score) only adds rows no score looks up.
            traces = f"{_FEEDBACK_TRACES}_ids"
            conn.execute(f"CREATE TEMP TABLE {traces} (trace_id TEXT PRIMARY KEY)")
            conn.execute(
                f"INSERT OR IGNORE INTO temp.{traces} "
                "SELECT trace_id FROM records WHERE kind = 'feedback'"
            )
            # Only the records every query may use: the ones left out are never read
            # from this table, which lacks the columns that tell them. The kinds its
            # queries ask for are written as they ask, matched in the store's column's
            # collation (a copy does not keep it): to a kind declared COLLATE NOCASE,
            # "SPAN" is a call and "Feedback" feedback, as in every query of the store.
            usable, bounds = self._usable_start
            if self._checks_figures:
                usable += self._figures_condition("r.")
            spelled = " ".join(f"WHEN r.kind = '{kind}' THEN '{kind}'" for kind in _TABLE_KINDS)
            conn.execute(
                f"CREATE TEMP TABLE {_FEEDBACK_TRACES} AS SELECT r.trace_id, "
                f"CASE {spelled} ELSE r.kind END AS kind, r.name, r.model, r.prompt_name, "
                'r.prompt_version, r."start", r.status, '
                f"{self._column('score')} AS score FROM temp.{traces} AS f "
                f"CROSS JOIN records AS r ON r.trace_id = f.trace_id WHERE 1{usable}",
                bounds,
            )
            self._feedback_tables.add(conn)
        return f"temp.{_FEEDBACK_TRACES}"

    def _feedback(self, conn: sqlite3.Connection | None = None) -> list[tuple[str, float]]:
        """Every feedback record's trace id and score, read once per dataset (through
        ``conn``, the main connection by default), by trace id and then in the order
        the table of the feedback traces' records took them in.

        That table's own row ids, not the store's: a ``records`` table made ``WITHOUT
        ROWID`` (by a tool that copied the store) has none. Every use of the scores
        adds them up with ``math.fsum`` or sorts them, so their order is no part of
        an answer.
        """
        if self._feedback_rows is None:
            db = conn or self._conn
            self._feedback_rows = db.execute(
                f"SELECT trace_id, score FROM {self._feedback_traces(db)} "
                "WHERE kind = 'feedback' AND score IS NOT NULL ORDER BY trace_id, rowid"
            ).fetchall()
        return self._feedback_rows

    def _where(
        self, window: Window, kinds: Sequence[str], *, usable: bool = True
    ) -> tuple[str, list[object]]:
        """The WHERE clause of a window and kinds, and its parameters; with ``usable``,
        leaving out the records no command uses (`_usable`)."""
        marks = ", ".join("?" * len(kinds))
        clauses = [f"kind IN ({marks})"]
        params: list[object] = list(kinds)
        if window.since is not None:
            clauses.append('"start" >= ?')
            params.append(window.since)
        if window.until is not None:
            clauses.append('"start" < ?')
            params.append(window.until)
        if not usable:
            return "WHERE " + " AND ".join(clauses), params
        found, bounds = self._usable
        return "WHERE " + " AND ".join(clauses) + found, [*params, *bounds]

    def _keys(self, by: Sequence[str], *, name: str = GROUPINGS["name"]) -> str:
        if not by:
            return "'all'"
        unknown = [key for key in by if key not in GROUPINGS]
        if unknown:
            raise DatasetError(
                f"cannot group by {unknown[0]!r}; choose from {', '.join(GROUPINGS)}"
            )
        return ", ".join(name if key == "name" else GROUPINGS[key] for key in by)

    def _column(self, name: str) -> str:
        return self._derived.get(name) or f'"{name}"'


# A row found by a query: its id, trace id and span id.
_Found = tuple[int, object, object]


def _rowids(conn: sqlite3.Connection, clause: str, params: Sequence[object]) -> list[_Found]:
    return conn.execute(f"SELECT rowid, trace_id, span_id FROM records {clause}", params).fetchall()


def _kept(
    where: str, params: list[object], rows: tuple[int, int] | None
) -> tuple[str, list[object]]:
    """``where`` keeping to the rows whose ids are in ``rows``, both ends included (none
    left out without it). "+" keeps the planner off the row ids: the table is read as
    it would be without them, in the same order."""
    if rows is None:
        return where, params
    return f"{where} AND +rowid >= ? AND +rowid <= ?", [*params, *rows]


def _key(row: Sequence[object], width: int) -> tuple[str, ...]:
    return tuple(map(str, row[:width]))


def _shared(pairs: list[_P], known: dict[_P, _P] | None) -> list[_P]:
    """``pairs`` with each equal pair one object, the first met (``known`` remembers them
    across calls); ``pairs`` as they are without ``known``."""
    if known is None:
        return pairs
    return list(map(known.setdefault, pairs, pairs))


def _picker(at: list[int], rows: int) -> Callable[[list[_P]], Sequence[_P]]:
    """What picks the items at positions ``at`` out of a column of ``rows`` items."""
    if len(at) == rows:
        return _as_is
    if len(at) == 1:
        (only,) = at
        return lambda column: (column[only],)
    return cast(Callable[[list[_P]], Sequence[_P]], operator.itemgetter(*at))


def _as_is(column: list[_P]) -> Sequence[_P]:
    return column


@dataclass(slots=True)
class _Read:
    """A group's columns as `Dataset.columns_by` reads them."""

    weights: list[float]
    values: list[list[float]]
    # Per metric, its own weights once a NULL value was left out; None while they are
    # `weights`.
    own: list[list[float] | None]


def _sorted_columns(
    values: list[float], weights: list[float], counts: dict[float, int] | None
) -> Columns:
    """The pairs sorted by value, equal values kept in order (as ``list.sort`` of the
    pairs with the value as key), held as columns. ``counts`` are the weights' `tally`
    when they are all floats."""
    if counts is not None and len(counts) == 1:
        # One weight: the values alone sorted (stably) are the values of the sorted
        # pairs, and every weight beside them is an equal float.
        values.sort()
        return Columns(values, weights, ordered=True, tally=counts)
    order = sorted(range(len(values)), key=values.__getitem__)
    return Columns(
        list(map(values.__getitem__, order)),
        list(map(weights.__getitem__, order)),
        ordered=True,
        tally=counts,
    )


def _positions_by_key(
    rows: Sequence[tuple[object, ...]], first: int, end: int
) -> dict[tuple[str, ...], list[int]]:
    """The rows' positions per group key (columns ``first`` to ``end``, as text), in order."""
    by_value: dict[object, list[int]] = {}
    pick = (
        operator.itemgetter(first) if end - first == 1 else operator.itemgetter(slice(first, end))
    )
    for position, value in enumerate(map(pick, rows)):
        same = by_value.get(value)
        if same is None:
            by_value[value] = [position]
        else:
            same.append(position)
    keys: dict[object, tuple[str, ...]] = {
        value: tuple(map(str, cast(tuple[object, ...], value)))
        if end - first > 1
        else (str(value),)
        for value in by_value
    }
    if len(set(keys.values())) == len(keys):
        return {keys[value]: same for value, same in by_value.items()}
    # Two values read as the same text (an integer and a string in a column of a store
    # not written by llmguard): their rows go together in the order read.
    grouped: dict[tuple[str, ...], list[int]] = {}
    for position, found in enumerate(rows):
        grouped.setdefault(tuple(map(str, found[first:end])), []).append(position)
    return grouped


def _after_prefix(prefix: str) -> str | None:
    """The least string after every string that starts with ``prefix``, if there is one."""
    last = ord(prefix[-1])
    if last == sys.maxunicode:
        return None
    # SQLite cannot store a surrogate; the next character it can is U+E000.
    following = 0xE000 if 0xD800 <= last + 1 <= 0xDFFF else last + 1
    return prefix[:-1] + chr(following)
