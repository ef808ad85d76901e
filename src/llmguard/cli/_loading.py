"""Opening records for queries: an SQLite store read-only, or JSON Lines loaded into memory."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import pydantic_core

from llmguard._core.records import Record
from llmguard.cli._window import DatasetError
from llmguard.sinks import SQLiteStore
from llmguard.sinks.table import DERIVED, INSERT, MIGRATIONS, migrate, row

__all__ = ["Loaded", "Progress", "load"]

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
        skipped_lines: Numbers of the JSON Lines lines that held no record.
    """

    conn: sqlite3.Connection
    derived: dict[str, str]
    skipped_lines: list[int]


def load(path: str | os.PathLike[str], progress: Progress | None = None) -> Loaded:
    """Open an SQLite store or load a JSON Lines file, told apart by its first bytes.

    Raises:
        DatasetError: The file is missing, unreadable, or not records.
    """
    file = Path(path)
    try:
        with open(file, "rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        raise DatasetError(f"{os.fspath(path)}: no such file") from None
    except OSError as exc:
        raise DatasetError(f"{os.fspath(path)}: cannot read: {exc.strerror}") from None
    loaded = _open_store(file) if header == _SQLITE_HEADER else _load_jsonl(file, progress)
    if progress is not None:
        loaded.conn.set_progress_handler(_reporter(progress, file.name), _PROGRESS_STEPS)
    return loaded


def _open_store(path: Path) -> Loaded:
    try:
        store = SQLiteStore(path)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    conn = store._conn
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    derived = {} if version >= len(MIGRATIONS) else _computed_columns()
    return Loaded(conn, derived, [])


def _load_jsonl(path: Path, progress: Progress | None) -> Loaded:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.isolation_level = None
    migrate(conn)
    size = max(path.stat().st_size, 1)
    done = 0
    rows: list[tuple[object, ...]] = []
    skipped: list[int] = []
    first_error = ""
    loaded = 0
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, 1):
            done += len(line)
            text = line.strip()
            if not text:
                continue
            try:
                record = Record.from_dict(_object(text))
            except (ValueError, TypeError) as exc:
                # A hard kill mid-write tears a line; the sink then starts the next
                # record on a line of its own, so a torn line may sit anywhere.
                if not skipped:
                    first_error = str(exc).splitlines()[0]
                skipped.append(number)
                continue
            loaded += 1
            rows.append(row(record, text.decode()))
            if len(rows) >= _LOAD_BATCH:
                conn.executemany(INSERT, rows)
                rows.clear()
                if progress is not None:
                    progress(f"loading {path.name}", done / size)
    if skipped and not loaded:
        conn.close()
        raise DatasetError(f"{path}:{skipped[0]}: not a trace record ({first_error})")
    conn.executemany(INSERT, rows)
    if progress is not None:
        progress(f"loading {path.name}", 1.0)
    return Loaded(conn, {}, skipped)


def _computed_columns() -> dict[str, str]:
    return {column: f"({value})" for column, _, value in DERIVED}


def _object(text: bytes) -> dict[str, object]:
    parsed = pydantic_core.from_json(text)
    if not isinstance(parsed, dict):
        raise ValueError("a line must be a JSON object")
    return parsed


def _reporter(progress: Progress, name: str) -> Callable[[], int]:
    def tick() -> int:
        progress(f"querying {name}", None)
        return 0

    return tick
