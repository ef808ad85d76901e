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

import functools
import itertools
import operator
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from llmguard._core.records import Record

__all__ = [
    "COLUMNS",
    "DERIVED",
    "INSERT",
    "MIGRATIONS",
    "content",
    "delete_spans",
    "derived",
    "insert",
    "insert_records",
    "last_copies",
    "migrate",
    "missing",
    "parse_json",
    "read_record",
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
# Spans looked up per statement: two parameters each, under the 999 older SQLite allows.
_SPANS_PER_LOOKUP = 400

# What `insert_records` binds for NULL in the columns that are often NULL. Python 3.11's
# sqlite3 binds int, float, str and bytearray straight away, but sends None (and
# bytes) through its adapter lookup, which builds and discards an AttributeError each
# time: about 0.45 us a value, 5 us for a traced call's row of a dozen NULLs. An empty
# bytearray binds as a blob no record value can be, which the statement turns back
# into NULL. Private and never changed.
_NULL = bytearray()
_OFTEN_NULL = frozenset(
    {
        "parent_id",
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
        "score",
        "repair",
        "function",
    }
)
_INSERT_RECORD = (
    f"INSERT INTO records ({_QUOTED}) VALUES ("
    + ", ".join("NULLIF(?, X'')" if column in _OFTEN_NULL else "?" for column in COLUMNS[:-1])
    + ", '')"
)

# Rows written by one statement. The store's triggers (version 5) make SQLite keep a
# statement journal: before a statement first changes a page, the page is copied, and
# with one statement per row every row copied its pages again (16 KiB each): the
# sink's CPU a record went from 15 to 31 us. Forty rows a statement share the copies
# (16-17 us, against 14-16 us for version 4's one row a statement). Forty rows of 23
# parameters stay under the 999 parameters older SQLite allows; contents take two.
_ROWS_PER_STATEMENT = 40
_CONTENTS_PER_STATEMENT = 400


@functools.lru_cache(maxsize=16)
def _statement(single: str, count: int) -> str:
    """``single`` (an INSERT of one row) made to insert ``count`` rows."""
    head, _, values = single.partition(" VALUES ")
    return f"{head} VALUES {', '.join([values] * count)}"


def _write(
    conn: sqlite3.Connection, single: str, rows: Iterable[tuple[object, ...]], per: int
) -> None:
    """Insert ``rows`` with ``single``'s statement, ``per`` rows at a time."""
    rows = iter(rows)
    while True:
        chunk = list(itertools.islice(rows, per))
        if not chunk:
            return
        conn.execute(_statement(single, len(chunk)), list(itertools.chain.from_iterable(chunk)))


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


# A row's inline JSON, or NULL when it is not JSON (a row torn or damaged by hand):
# json_extract fails the whole statement on one such row, NULL gives NULL.
_VALID_JSON = "CASE WHEN json_valid(json) THEN json END"

# Read by the command's aggregates, which would otherwise parse every row's JSON: the
# column, its type, the SQL computing it from a row's inline JSON, and the schema
# version that added it.
DERIVED = (
    ("error_type", "TEXT", f"json_extract({_VALID_JSON}, '$.error_type')", 2),
    (
        "retries",
        "INTEGER",
        # As `_retries` has it: a count of 0 (refused before any attempt) is no retry count.
        f"CASE WHEN kind = 'llm' AND json_extract({_VALID_JSON}, '$.attempt.count') > 0 "
        f"THEN json_extract({_VALID_JSON}, '$.attempt.count') - 1 END",
        2,
    ),
    (
        "sample_weight",
        "REAL",
        f"coalesce(json_extract({_VALID_JSON}, '$.sample_weight'), 1.0)",
        2,
    ),
    (
        "score",
        "REAL",
        f"CASE WHEN kind = 'feedback' THEN json_extract({_VALID_JSON}, '$.metadata.score') END",
        2,
    ),
    # How an attempt's answer was found ("fence", "json_repair", ...), and the guarded
    # function it belongs to, which its own name ("attempt 2") does not say.
    (
        "repair",
        "TEXT",
        f"CASE WHEN kind = 'attempt' THEN json_extract({_VALID_JSON}, '$.attempt.repair') END",
        3,
    ),
    (
        "function",
        "TEXT",
        f"CASE WHEN kind = 'attempt' THEN json_extract({_VALID_JSON}, '$.attempt.function') END",
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
        f"WHERE kind = 'attempt' AND json_extract({_VALID_JSON}, '$.attempt.repair') IS NOT NULL"
    )
    conn.execute("CREATE TABLE contents (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    # Partial indexes: they hold only their few rows, so writing costs nearly nothing,
    # and `stats` finds its repaired attempts and feedback without a scan.
    conn.execute(
        f"CREATE INDEX records_repaired ON records (\"start\") WHERE repair = '{REPAIRED}'"
    )
    conn.execute("CREATE INDEX records_feedback ON records (trace_id) WHERE kind = 'feedback'")


def _one_row_per_span(conn: sqlite3.Connection) -> None:
    # Delivery is at least once (a batch sent again after a failure, a file imported
    # twice): a span's later copy replaces the earlier one instead of counting twice.
    # The unique index replaces the trace id index, which it serves as well, so a write
    # keeps three indexes. The migration holds the write lock, so other writers wait:
    # most stores hold no copy, and the index is made at once; otherwise the copies are
    # found through a plain index on the same columns (a scan of the index, where
    # grouping the table sorted it: 0.54 -> 0.08 s CPU for 220k rows).
    try:
        conn.execute("CREATE UNIQUE INDEX records_span ON records (trace_id, span_id)")
    except sqlite3.IntegrityError:
        conn.execute("CREATE INDEX records_span ON records (trace_id, span_id)")
        # A row missing an id (a table not made by llmguard) is no copy of another
        # (the join's = leaves it out): the unique index, too, takes any number of them.
        conn.execute(
            "CREATE TEMP TABLE llmguard_copies AS SELECT r.rowid AS id FROM (SELECT "
            "trace_id, span_id, max(rowid) AS kept FROM records GROUP BY trace_id, span_id "
            "HAVING count(*) > 1) AS d JOIN records AS r ON r.trace_id = d.trace_id "
            "AND r.span_id = d.span_id AND r.rowid != d.kept"
        )
        conn.execute("DELETE FROM records WHERE rowid IN (SELECT id FROM temp.llmguard_copies)")
        conn.execute("DELETE FROM contents WHERE id IN (SELECT id FROM temp.llmguard_copies)")
        conn.execute("DROP TABLE temp.llmguard_copies")
        conn.execute("DROP INDEX records_span")
        conn.execute("CREATE UNIQUE INDEX records_span ON records (trace_id, span_id)")
    conn.execute("DROP INDEX IF EXISTS records_trace_id")


# The rows of a span's earlier copies, seen from a row just inserted (NEW).
_EARLIER_COPIES = (
    "FROM records WHERE trace_id = NEW.trace_id AND span_id = NEW.span_id AND rowid < NEW.rowid"
)


def _last_copy_by_trigger(conn: sqlite3.Connection) -> None:
    # Version 4's unique index refused a span's second row, so an older llmguard's
    # plain INSERT (version 3 and before) failed its whole batch when the batch held a
    # span the store had. A trigger after each insert deletes the span's earlier rows
    # and their contents instead: any writer's INSERT keeps the last copy. A trigger
    # before the insert would be simpler, but a row deleted there may be the last one,
    # whose id SQLite then gives the new row: a writer numbering the contents of its
    # batch ahead (every llmguard since version 3) would file them under the wrong rows.
    # After the insert, every new row gets the next id up. A batch holding a span twice
    # writes the contents after the rows: the second trigger drops the content of a row
    # already replaced.
    conn.execute("DROP INDEX IF EXISTS records_span")
    conn.execute("CREATE INDEX records_span ON records (trace_id, span_id)")
    conn.execute(
        f"CREATE TRIGGER records_last_copy AFTER INSERT ON records "
        f"WHEN EXISTS (SELECT 1 {_EARLIER_COPIES}) BEGIN "
        f"DELETE FROM contents WHERE id IN (SELECT rowid {_EARLIER_COPIES}); "
        f"DELETE {_EARLIER_COPIES}; END"
    )
    conn.execute(
        "CREATE TRIGGER contents_of_replaced_rows AFTER INSERT ON contents "
        "WHEN NOT EXISTS (SELECT 1 FROM records WHERE rowid = NEW.id) BEGIN "
        "DELETE FROM contents WHERE id = NEW.id; END"
    )


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _initial_schema,
    _derived_columns,
    _content_apart,
    _one_row_per_span,
    _last_copy_by_trigger,
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


def missing(conn: sqlite3.Connection, version: int) -> list[str]:
    """What a store at ``version`` lacks of its layout, for a reader to refuse it by name.

    Args:
        conn: The store.
        version: Its ``PRAGMA user_version``; a newer one is held to this version's layout.

    Returns:
        The missing columns of ``records`` as ``records.<column>`` (only those a store
        at ``version`` has; the commands compute the others), then ``contents`` when
        that table or one of its columns is missing; empty for a whole store.
    """
    found = {name for (_, name, *_) in conn.execute("PRAGMA table_info(records)")}
    later = {column for column, _, _, since in DERIVED if since > version}
    lacking = [
        f"records.{column}" for column in COLUMNS if column not in later and column not in found
    ]
    if version >= 3:
        body = {name for (_, name, *_) in conn.execute("PRAGMA table_info(contents)")}
        if not {"id", "body"} <= body:
            lacking.append("contents")
    return lacking


def derived(version: int) -> dict[str, str]:
    """Column -> SQL computing it, for the columns a store at ``version`` lacks."""
    return {column: f"({value})" for column, _, value, since in DERIVED if since > version}


def last_copies(version: int, table: str = "records") -> str:
    """The condition (`` AND ...``) keeping each span's last row only, for a store at
    ``version``, on the ``records`` rows named ``table`` in the query.

    Empty from version 4 on, where a store holds one row per span. An older store may
    hold copies of a span (delivery is at least once); read with this condition, it
    counts as its migration will leave it -- the last row of each span, rows without
    ids kept -- with nothing written to it. Through the trace id index every store
    before version 4 has: a lookup per row read.
    """
    if version >= 4:
        return ""
    return (
        " AND NOT EXISTS (SELECT 1 FROM records AS later WHERE later.trace_id = "
        f"{table}.trace_id AND later.span_id = {table}.span_id AND later.rowid > {table}.rowid)"
    )


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

    The JSON goes to ``contents`` under the row's id. The caller must hold the write
    lock, and a span already there is replaced, as `insert_records` explains.
    """
    if not rows:
        return
    first = _claim_ids(conn)
    _write(conn, _INSERT_SPLIT, map(_ALL_BUT_JSON, rows), _ROWS_PER_STATEMENT)
    ids = range(first, first + len(rows))
    _write(conn, _INSERT_CONTENT, zip(ids, map(_JSON, rows), strict=True), _CONTENTS_PER_STATEMENT)


def insert_records(
    conn: sqlite3.Connection, records: Sequence[Record], texts: Sequence[bytes]
) -> None:
    """Insert records into a store at the current version, in the open transaction.

    What `SQLiteSink` does with a batch. The rows hold what `row` gives, each made as
    SQLite takes it, so a batch's rows are never all alive at once.

    SQLite numbers new rows from the largest id in ``records`` up, one by one, so the
    ids of the ``contents`` rows are known before the insert as long as no other
    connection writes in between: the caller must hold the write lock (``BEGIN
    IMMEDIATE``) or the only connection.

    One row is kept per span (trace id and span id), the last written: the store's
    triggers (version 5) delete a span's earlier row and its content when a later copy
    is inserted, whoever inserts it, and a span the batch holds twice keeps its last.

    Args:
        conn: The store.
        records: The records, in the order their rows get their ids.
        texts: Each record's JSON, as `Record.to_json` made it.
    """
    if not records:
        return
    if (bytearray, sqlite3.PrepareProtocol) in sqlite3.adapters:
        # The application adapts bytearrays (for every connection of the process), so
        # ``_NULL`` might not reach SQLite as an empty blob: NULL is bound as None.
        statement, values = _INSERT_SPLIT, _unbound
    else:
        statement, values = _INSERT_RECORD, _bound
    first = _claim_ids(conn)
    _write(conn, statement, map(values, records), _ROWS_PER_STATEMENT)
    ids = range(first, first + len(texts))
    _write(
        conn,
        _INSERT_CONTENT,
        zip(ids, map(bytes.decode, texts), strict=True),
        _CONTENTS_PER_STATEMENT,
    )


def delete_spans(conn: sqlite3.Connection, spans: Sequence[tuple[str, str]]) -> None:
    """Delete the rows, and their contents, of the spans (trace id, span id) the store
    holds, in the open transaction.

    One lookup per span through the ``records_span`` index, in SQL.
    """
    found: list[int] = []
    for start in range(0, len(spans), _SPANS_PER_LOOKUP):
        chunk = spans[start : start + _SPANS_PER_LOOKUP]
        marks = ", ".join(["(?, ?)"] * len(chunk))
        found.extend(
            rowid
            for (rowid,) in conn.execute(
                f"SELECT r.rowid FROM (VALUES {marks}) AS v JOIN records AS r "
                "ON r.trace_id = v.column1 AND r.span_id = v.column2",
                [value for span in chunk for value in span],
            )
        )
    for start in range(0, len(found), _SPANS_PER_LOOKUP):
        ids = found[start : start + _SPANS_PER_LOOKUP]
        marks = ", ".join("?" * len(ids))
        conn.execute(f"DELETE FROM records WHERE rowid IN ({marks})", ids)
        conn.execute(f"DELETE FROM contents WHERE id IN ({marks})", ids)


def _claim_ids(conn: sqlite3.Connection) -> int:
    """The id the next ``records`` row gets, taken back from ``contents`` if need be."""
    last, stray = conn.execute(
        "SELECT (SELECT max(rowid) FROM records), (SELECT max(id) FROM contents)"
    ).fetchone()
    first: int = 1 if last is None else last + 1
    if stray is not None and stray >= first:
        # Contents left behind by rows deleted from records by hand: nothing reads them,
        # and they hold the ids the new rows get.
        conn.execute("DELETE FROM contents WHERE id >= ?", (first,))
    return first


def row(record: Record, text: str | None = None) -> tuple[object, ...]:
    """The values `SQLiteSink` inserts for a record, in the order of its columns.

    Args:
        record: The record.
        text: The record's JSON, when the caller already has it.
    """
    return (*_values(record, None), record.to_json().decode() if text is None else text)


def _bound(record: Record) -> tuple[object, ...]:
    """What `insert_records` binds for a record's ``records`` row: ``_NULL`` for NULL."""
    return _values(record, _NULL)


def _unbound(record: Record) -> tuple[object, ...]:
    """A record's ``records`` row without its JSON, None for NULL."""
    return _values(record, None)


def _values(record: Record, null: object) -> tuple[object, ...]:
    """A record's ``records`` row without its JSON, ``null`` in `_OFTEN_NULL`'s NULLs.

    Called once per record written: each attribute is read once, straight into the
    tuple (in CPython 3.11 faster than an ``attrgetter`` joined with the rest), and
    ``attempt`` and ``metadata`` are looked into only for the kinds whose columns come
    from them.
    """
    kind = record.kind
    retries: object = None
    score: object = None
    repair: object = None
    function: object = None
    if kind == "llm":
        attempt = record.attempt
        if attempt is not None:
            retries = _retries(attempt)
    elif kind == "attempt":
        attempt = record.attempt
        if attempt is not None:
            repair = _text(attempt, "repair")
            function = _text(attempt, "function")
    elif kind == "feedback":
        score = _score(record.metadata.get("score"))
    usage = record.usage
    if usage is None:
        tokens_in: object = null
        tokens_out: object = null
    else:
        tokens_in = null if usage.input is None else usage.input
        tokens_out = null if usage.output is None else usage.output
    parent_id = record.parent_id
    model = record.model
    provider = record.provider
    prompt_name = record.prompt_name
    prompt_version = record.prompt_version
    service = record.service
    cost_usd = record.cost_usd
    error_type = record.error_type
    return (
        record.span_id,
        record.trace_id,
        null if parent_id is None else parent_id,
        kind,
        record.name,
        record.status,
        record.start,
        record.end,
        record.duration_ms,
        null if model is None else model,
        null if provider is None else provider,
        null if prompt_name is None else prompt_name,
        null if prompt_version is None else prompt_version,
        null if service is None else service,
        tokens_in,
        tokens_out,
        null if cost_usd is None else cost_usd,
        null if error_type is None else error_type,
        null if retries is None else retries,
        record.sample_weight,
        null if score is None else score,
        null if repair is None else repair,
        null if function is None else function,
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


def parse_json(text: bytes | str) -> object:
    """A record's JSON as written, parsed; an integer too long for Python to parse
    (``sys.get_int_max_str_digits``, 4,300 digits by default) is kept as its digits.

    pydantic-core writes such an integer but will not read it back, and the limit is
    the process's to set, not a reader's. So a line pydantic-core refuses is parsed
    again by the standard library, which hands each integer's text over.

    Raises:
        ValueError: ``text`` is not JSON (pydantic-core's error).
    """
    import pydantic_core  # kept off `import llmguard`, like the serializer

    try:
        return pydantic_core.from_json(text)
    except ValueError as exc:
        import json

        try:
            return json.loads(text, parse_int=_int_or_digits)
        except ValueError:
            raise exc from None


def read_record(text: bytes | str) -> Record:
    """The record a line or row's JSON holds, read as `parse_json` reads it.

    Raises:
        ValueError: ``text`` is not a JSON object.
        TypeError: A field holds a value of the wrong type (see `Record.from_dict`).
    """
    parsed = parse_json(text)
    if not isinstance(parsed, dict):
        raise ValueError("a trace record must be a JSON object")
    return Record.from_dict(parsed)


def _int_or_digits(digits: str) -> int | str:
    try:
        return int(digits)
    except ValueError:  # past the process's limit on digits
        return digits
