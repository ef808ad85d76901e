"""The SQLite store's tables: columns, indexes and migrations, and the row a record becomes.

Shared by `llmguard.sinks.SQLiteSink`, which writes the tables, and the ``llmguard``
command, which reads a store, or a JSON Lines file loaded into the same tables in memory.
Not meant for applications: the layout is the store's file format and changes only with
a migration.

Since version 3 a record is split in two. ``records`` holds the fields the commands
filter and group on, one column each, and an empty ``json``; ``contents`` holds the
record's full JSON under the same id (``contents.id = records.rowid``). An aggregate
then scans a narrow table (about 330 bytes a row instead of 1.8 KB for a call with
1 KB of messages) and reads no content. Rows written before version 3, or by an older
llmguard, keep their JSON inline in ``records.json``; `content` reads both.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llmguard._core.records import Record

__all__ = [
    "COLUMNS",
    "DERIVED",
    "INSERT",
    "MIGRATIONS",
    "content",
    "derived",
    "insert",
    "migrate",
    "row",
]

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
    "repair",
    "function",
    "json",
)
_QUOTED = ", ".join(f'"{column}"' for column in COLUMNS)
INSERT = f"INSERT INTO records ({_QUOTED}) VALUES ({', '.join('?' * len(COLUMNS))})"
"""Inserts a `row` whole, its JSON inline: the layout before version 3, kept for tests."""
# A `row` without its JSON, which goes to contents; records.json is left empty.
_INSERT_SPLIT = (
    f"INSERT INTO records ({_QUOTED}) VALUES ({', '.join('?' * (len(COLUMNS) - 1))}, '')"
)
_INSERT_CONTENT = "INSERT INTO contents (id, body) VALUES (?, ?)"
_ALL_BUT_JSON = operator.itemgetter(slice(0, -1))
_JSON = operator.itemgetter(-1)


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


# Read by the command's aggregates, which would otherwise parse every row's JSON: the
# column, its type, the SQL computing it from a row's inline JSON, and the schema
# version that added it.
DERIVED = (
    ("error_type", "TEXT", "json_extract(json, '$.error_type')", 2),
    (
        "retries",
        "INTEGER",
        "CASE WHEN kind = 'llm' THEN json_extract(json, '$.attempt.count') - 1 END",
        2,
    ),
    ("sample_weight", "REAL", "coalesce(json_extract(json, '$.sample_weight'), 1.0)", 2),
    (
        "score",
        "REAL",
        "CASE WHEN kind = 'feedback' THEN json_extract(json, '$.metadata.score') END",
        2,
    ),
    # How an attempt's answer was found ("fence", "json_repair", ...), and the guarded
    # function it belongs to, which its own name ("attempt 2") does not say.
    (
        "repair",
        "TEXT",
        "CASE WHEN kind = 'attempt' THEN json_extract(json, '$.attempt.repair') END",
        3,
    ),
    (
        "function",
        "TEXT",
        "CASE WHEN kind = 'attempt' THEN json_extract(json, '$.attempt.function') END",
        3,
    ),
)

REPAIRED = "json_repair"
"""The repair label of an attempt whose answer the json-repair library made valid JSON."""


def _derived_columns(conn: sqlite3.Connection) -> None:
    added = [entry for entry in DERIVED if entry[3] == 2]
    for column, kind, _, _ in added:
        conn.execute(f'ALTER TABLE records ADD COLUMN "{column}" {kind}')
    assignments = ", ".join(f'"{column}" = {value}' for column, _, value, _ in added)
    conn.execute(f"UPDATE records SET {assignments}")


def _content_apart(conn: sqlite3.Connection) -> None:
    added = [entry for entry in DERIVED if entry[3] == 3]
    for column, kind, _, _ in added:
        conn.execute(f'ALTER TABLE records ADD COLUMN "{column}" {kind}')
    # Only the few repaired attempts are rewritten; the others keep NULL, which is what
    # a new row without a repair holds too.
    assignments = ", ".join(f'"{column}" = {value}' for column, _, value, _ in added)
    conn.execute(
        f"UPDATE records SET {assignments} "
        "WHERE kind = 'attempt' AND json_extract(json, '$.attempt.repair') IS NOT NULL"
    )
    conn.execute("CREATE TABLE contents (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    # Partial indexes: they hold only their few rows, so writing costs nearly nothing,
    # and `stats` finds its repaired attempts and feedback without a scan.
    conn.execute(
        f"CREATE INDEX records_repaired ON records (\"start\") WHERE repair = '{REPAIRED}'"
    )
    conn.execute("CREATE INDEX records_feedback ON records (trace_id) WHERE kind = 'feedback'")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _initial_schema,
    _derived_columns,
    _content_apart,
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


def derived(version: int) -> dict[str, str]:
    """Column -> SQL computing it, for the columns a store at ``version`` lacks."""
    return {column: f"({value})" for column, _, value, since in DERIVED if since > version}


def content(version: int) -> str:
    """The SQL reading a ``records`` row's JSON in a store at ``version``."""
    if version < 3:
        return "json"
    return (
        "CASE WHEN json != '' THEN json "
        "ELSE (SELECT body FROM contents WHERE id = records.rowid) END"
    )


def insert(conn: sqlite3.Connection, rows: Sequence[tuple[object, ...]]) -> None:
    """Insert rows made by `row` into a store at the current version, in the open transaction.

    The JSON goes to ``contents`` under the row's id. SQLite numbers new rows from the
    largest id in ``records`` up, one by one, so the ids are known before the insert as
    long as no other connection writes in between: the caller must hold the write lock
    (``BEGIN IMMEDIATE``) or the only connection.
    """
    if not rows:
        return
    last, stray = conn.execute(
        "SELECT (SELECT max(rowid) FROM records), (SELECT max(id) FROM contents)"
    ).fetchone()
    first = 1 if last is None else last + 1
    if stray is not None and stray >= first:
        # Contents left behind by rows deleted from records by hand: nothing reads them,
        # and they hold the ids the new rows get.
        conn.execute("DELETE FROM contents WHERE id >= ?", (first,))
    conn.executemany(_INSERT_SPLIT, map(_ALL_BUT_JSON, rows))
    ids = range(first, first + len(rows))
    conn.executemany(_INSERT_CONTENT, zip(ids, map(_JSON, rows), strict=True))


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
        _text(attempt, "repair") if record.kind == "attempt" and attempt is not None else None,
        _text(attempt, "function") if record.kind == "attempt" and attempt is not None else None,
        record.to_json().decode() if text is None else text,
    )


def _retries(attempt: Mapping[str, Any]) -> int | None:
    count = attempt.get("count")
    # Read back from files too, where a damaged count must not stop a whole load.
    if isinstance(count, int) and not isinstance(count, bool) and 0 < count <= 2**63:
        return count - 1
    return None


def _text(attempt: Mapping[str, Any], key: str) -> str | None:
    value = attempt.get(key)
    return value if isinstance(value, str) else None


def _score(value: object) -> float | None:
    if not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer too large for a float, read back from a file
        return None
