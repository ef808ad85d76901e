"""The query layer under every command: records in SQLite, aggregated in SQL.

A store written by `SQLiteSink` is queried as it is, read-only. A JSON Lines file is
loaded into an in-memory database with the same table first, so both formats answer
the same SQL and no command parses records on its own.

The rows a command aggregates are *calls*: records of kind ``llm``, ``tool``,
``agent`` or ``span`` (attempts, steps, feedback and internal records are parts of,
or notes about, a call). Every aggregate is weighted by the records' ``sample_weight``,
so a sampled store estimates the totals of everything that ran.
"""

from __future__ import annotations

import operator
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, TypeAlias

from llmguard._core.records import Record
from llmguard.cli._aggregates import (
    GroupStats,
    add_up,
    group_stats,
    weighted_quantile,
    weighted_quantiles,
)
from llmguard.cli._loading import Progress, load
from llmguard.cli._window import DatasetError, Window
from llmguard.exceptions import SchemaViolation

__all__ = [
    "CALL_KINDS",
    "GROUPINGS",
    "Dataset",
    "DatasetError",
    "GroupStats",
    "Grouping",
    "Progress",
    "Window",
    "weighted_quantile",
    "weighted_quantiles",
]

CALL_KINDS = ("llm", "tool", "agent", "span")

Grouping: TypeAlias = Literal["name", "model", "prompt", "day", "hour", "status", "kind"]

# SQL for each grouping key; a record without the value falls in the group "-".
GROUPINGS: dict[str, str] = {
    "name": "name",
    "model": "coalesce(model, '-')",
    "prompt": "coalesce(prompt_name || '@' || prompt_version, prompt_name, '-')",
    "day": "substr(start, 1, 10)",
    "hour": "substr(start, 1, 13) || ':00'",
    "status": "status",
    "kind": "kind",
}

_IN_CHUNK = 500
# How records name the error of a call whose answers never matched its schema.
_SCHEMA_VIOLATION = f"{SchemaViolation.__module__}.{SchemaViolation.__qualname__}"
# The key `Dataset._scores` files every score under, whatever its groups.
_ALL = ("\x00all",)
# The default window of every query: no bound on either side.
_ANY_TIME = Window()


class Dataset:
    """Records opened for queries; see the module docstring.

    Use `Dataset.open`, and close it (or use ``with``) when done.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, derived: dict[str, str]) -> None:
        self._conn = conn
        self.path = path
        # Numbers of the JSON Lines lines that held no record (torn by a hard kill).
        self.skipped_lines: list[int] = []
        # Column name -> SQL giving it; an older store computes the newer columns.
        self._derived = derived

    @classmethod
    def open(cls, path: str | os.PathLike[str], progress: Progress | None = None) -> Dataset:
        """Open an SQLite store or load a JSON Lines file, told apart by its first bytes.

        Args:
            path: The file.
            progress: Told how reading goes, for files that take a while.

        Raises:
            DatasetError: The file is missing, unreadable, or not records.
        """
        loaded = load(path, progress)
        dataset = cls(loaded.conn, Path(path), loaded.derived)
        dataset.skipped_lines = loaded.skipped_lines
        return dataset

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
        self._conn.close()

    # -- single records -------------------------------------------------------------------

    def trace(self, trace_id: str) -> list[Record]:
        """Every record of one trace, by start time.

        Raises:
            DatasetError: No record has this trace id.
        """
        found = self._records('WHERE trace_id = ? ORDER BY "start", rowid', (trace_id,))
        if not found:
            raise DatasetError(f"no trace {trace_id!r} in {self.path}")
        return found

    def record(self, span_id: str) -> Record:
        """The record with this span id.

        Raises:
            DatasetError: No record has this span id.
        """
        found = self._records("WHERE span_id = ? LIMIT 1", (span_id,))
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
        return self._records(sql, params)

    def _records(self, clause: str, params: Sequence[object]) -> list[Record]:
        rows = self._conn.execute(f"SELECT json FROM records {clause}", params)
        return [Record.from_json(text) for (text,) in rows]

    # -- aggregates -----------------------------------------------------------------------

    def span(self, window: Window = _ANY_TIME, kinds: Sequence[str] = CALL_KINDS) -> Window:
        """The first and last start times of the calls in the window.

        ``until`` is the last start time, included; both are ``None`` without calls.
        """
        where, params = self._where(window, kinds)
        low, high = self._conn.execute(
            f'SELECT min("start"), max("start") FROM records {where}', params
        ).fetchone()
        return Window(low, high)

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
        keys = self._keys(by)
        where, params = self._where(window, kinds)
        width = len(by) or 1
        col = self._column
        weight, retries = col("sample_weight"), col("retries")
        rows = self._conn.execute(
            f"""
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
                sum({weight} * coalesce(cost_usd, 0))
            FROM records {where}
            GROUP BY {keys} ORDER BY {keys}
            """,
            params,
        ).fetchall()
        if not rows:
            return [], None
        sums = {_key(row, width): tuple(row[width:]) for row in rows}
        latencies = self.values("duration_ms", by, window, kinds=kinds)
        scores = self._scores(by, window, kinds)
        groups = [
            group_stats(key, sums[key], latencies.get(key, []), scores.get(key, [])) for key in sums
        ]
        everything = [pair for pairs in latencies.values() for pair in pairs]
        everything.sort(key=operator.itemgetter(0))
        total = group_stats(
            ("(all)",),
            tuple(add_up(column) for column in zip(*sums.values(), strict=True)),
            everything,
            scores.get(_ALL, []),
        )
        return groups, total

    def values(
        self,
        metric: Literal["duration_ms", "output_tokens", "cost_usd", "retries", "error", "limit"],
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
        expression = {
            "error": "status = 'error'",
            "limit": "status = 'limit'",
        }.get(metric) or self._column(metric)
        # Unordered: sorting a million rows is faster in Python than in SQLite here.
        rows = self._conn.execute(
            f"SELECT {keys}, {expression}, {self._column('sample_weight')} FROM records "
            f"{where} AND {expression} IS NOT NULL",
            params,
        ).fetchall()
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

    def feedback_scores(
        self, by: Sequence[str] = ("name",), window: Window = _ANY_TIME
    ) -> dict[tuple[str, ...], list[float]]:
        """The feedback scores given to each group's traces, one per feedback record.

        A feedback record names a trace; its score counts once for every group with a
        call in that trace.
        """
        scores = self._scores(by, window, CALL_KINDS)
        scores.pop(_ALL, None)
        return scores

    def _scores(
        self, by: Sequence[str], window: Window, kinds: Sequence[str]
    ) -> dict[tuple[str, ...], list[float]]:
        """`feedback_scores`, plus under `_ALL` every score whose trace has a call."""
        score = self._column("score")
        feedback = self._conn.execute(
            f"SELECT trace_id, {score} FROM records WHERE kind = 'feedback' AND {score} IS NOT NULL"
        ).fetchall()
        if not feedback:
            return {}
        keys = self._keys(by)
        where, params = self._where(window, kinds)
        width = len(by) or 1
        groups_of: dict[str, set[tuple[str, ...]]] = {}
        traces = sorted({trace for trace, _ in feedback})
        # A few feedback records point at a few traces: look their calls up by trace id.
        for start in range(0, len(traces), _IN_CHUNK):
            chunk = traces[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            for found in self._conn.execute(
                f"SELECT DISTINCT trace_id, {keys} FROM records {where} AND trace_id IN ({marks})",
                [*params, *chunk],
            ):
                groups_of.setdefault(found[0], set()).add(_key(found[1:], width))
        grouped: dict[tuple[str, ...], list[float]] = {}
        for trace, value in feedback:
            groups = groups_of.get(trace)
            if groups:
                grouped.setdefault(_ALL, []).append(value)
                for key in groups:
                    grouped.setdefault(key, []).append(value)
        return grouped

    def _where(self, window: Window, kinds: Sequence[str]) -> tuple[str, list[object]]:
        marks = ", ".join("?" * len(kinds))
        clauses = [f"kind IN ({marks})"]
        params: list[object] = list(kinds)
        if window.since is not None:
            clauses.append('"start" >= ?')
            params.append(window.since)
        if window.until is not None:
            clauses.append('"start" < ?')
            params.append(window.until)
        return "WHERE " + " AND ".join(clauses), params

    def _keys(self, by: Sequence[str]) -> str:
        if not by:
            return "'all'"
        unknown = [key for key in by if key not in GROUPINGS]
        if unknown:
            raise DatasetError(
                f"cannot group by {unknown[0]!r}; choose from {', '.join(GROUPINGS)}"
            )
        return ", ".join(GROUPINGS[key] for key in by)

    def _column(self, name: str) -> str:
        return self._derived.get(name) or f'"{name}"'


def _key(row: Sequence[object], width: int) -> tuple[str, ...]:
    return tuple(str(k) for k in row[:width])
