"""The SQLite store's table: its columns, indexes and migrations, and the row a record becomes.

Shared by `llmguard.sinks.SQLiteSink`, which writes the table, and the ``llmguard``
command, which reads a store, or a JSON Lines file loaded into the same table in memory.
Not meant for applications: the layout is the store's file format and changes only with
a migration.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from llmguard._core.records import Record

__all__ = ["COLUMNS", "DERIVED", "INSERT", "MIGRATIONS", "migrate", "row"]

# Index upkeep, not the table, is what a batch costs: every index keyed by a random id
# (span, parent) dirties pages all over the file. Measured with benchmarks/bench_sinks.py,
# nine indexes gave 47k records/s, these three 76k+. They serve what the command line
# asks: time windows, one trace's spans, one function's calls. The other columns are
# there for SQL aggregates, which scan a time range anyway.
_INDEXED = ("start", "trace_id", "name")


COLUMNS = (
    "span_id",
    "trace_id",
    "parent_id",
    "kind",
    "name",
    "status",
    "start",
    "end",
    "duration_ms",
    "model",
    "provider",
    "prompt_name",
    "prompt_version",
    "service",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "error_type",
    "retries",
    "sample_weight",
    "score",
    "json",
)
_QUOTED = ", ".join(f'"{column}"' for column in COLUMNS)
INSERT = f"INSERT INTO records ({_QUOTED}) VALUES ({', '.join('?' * len(COLUMNS))})"


def _initial_schema(conn: sqlite3.Connection) -> None:
    # "end" is an SQL keyword, hence the quoted names.
    conn.execute(
        """
        CREATE TABLE records (
            "span_id" TEXT NOT NULL,
            "trace_id" TEXT NOT NULL,
            "parent_id" TEXT,
            "kind" TEXT NOT NULL,
            "name" TEXT NOT NULL,
            "status" TEXT NOT NULL,
            "start" TEXT NOT NULL,
            "end" TEXT NOT NULL,
            "duration_ms" REAL,
            "model" TEXT,
            "provider" TEXT,
            "prompt_name" TEXT,
            "prompt_version" TEXT,
            "service" TEXT,
            "input_tokens" INTEGER,
            "output_tokens" INTEGER,
            "cost_usd" REAL,
            "json" TEXT NOT NULL
        )
        """
    )
    for column in _INDEXED:
        conn.execute(f'CREATE INDEX records_{column} ON records ("{column}")')


# Read by the command's aggregates, which would otherwise parse every row's JSON.
DERIVED = (
    ("error_type", "TEXT", "json_extract(json, '$.error_type')"),
    (
        "retries",
        "INTEGER",
        "CASE WHEN kind = 'llm' THEN json_extract(json, '$.attempt.count') - 1 END",
    ),
    ("sample_weight", "REAL", "coalesce(json_extract(json, '$.sample_weight'), 1.0)"),
    (
        "score",
        "REAL",
        "CASE WHEN kind = 'feedback' THEN json_extract(json, '$.metadata.score') END",
    ),
)


def _derived_columns(conn: sqlite3.Connection) -> None:
    for column, kind, _ in DERIVED:
        conn.execute(f'ALTER TABLE records ADD COLUMN "{column}" {kind}')
    assignments = ", ".join(f'"{column}" = {value}' for column, _, value in DERIVED)
    conn.execute(f"UPDATE records SET {assignments}")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _initial_schema,
    _derived_columns,
)
"""Schema migrations, in order.

Entry ``n`` takes a store from ``PRAGMA user_version`` ``n`` to ``n + 1``; version 1 is
the initial schema. Append, never edit, to change the schema.
"""


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the store's schema up to date, in one transaction.

    A store written by a newer llmguard (a higher ``user_version``) is left as it is:
    migrations only add, so the columns this version writes are still there.

    Args:
        conn: A connection in autocommit mode (``isolation_level=None``).

    Returns:
        The schema version after migrating.
    """
    # BEGIN IMMEDIATE takes the write lock before reading the version, so two processes
    # opening a new store at once cannot both create the schema.
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        for number in range(version, len(MIGRATIONS)):
            MIGRATIONS[number](conn)
            # PRAGMA takes no parameters; number is an int we produced.
            conn.execute(f"PRAGMA user_version = {number + 1:d}")
    return max(version, len(MIGRATIONS))


def row(record: Record, text: str | None = None) -> tuple[object, ...]:
    """The values `SQLiteSink` inserts for a record, in the order of its columns.

    Args:
        record: The record.
        text: The record's JSON, when the caller already has it.
    """
    usage = record.usage
    attempt = record.attempt
    return (
        record.span_id,
        record.trace_id,
        record.parent_id,
        record.kind,
        record.name,
        record.status,
        record.start,
        record.end,
        record.duration_ms,
        record.model,
        record.provider,
        record.prompt_name,
        record.prompt_version,
        record.service,
        None if usage is None else usage.input,
        None if usage is None else usage.output,
        record.cost_usd,
        record.error_type,
        _retries(attempt) if record.kind == "llm" and attempt is not None else None,
        record.sample_weight,
        _score(record.metadata.get("score")) if record.kind == "feedback" else None,
        record.to_json().decode() if text is None else text,
    )


def _retries(attempt: Mapping[str, Any]) -> int | None:
    count = attempt.get("count")
    # Read back from files too, where a damaged count must not stop a whole load.
    if isinstance(count, int) and not isinstance(count, bool) and 0 < count <= 2**63:
        return count - 1
    return None


def _score(value: object) -> float | None:
    if not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer too large for a float, read back from a file
        return None
