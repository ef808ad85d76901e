"""A WAL-mode store in a directory its reader cannot write (a read-only mount, a copied
CI artifact, a backup) answers every command as the same store opened where it was
written; a ``-wal`` holding pages SQLite cannot read there is a clear error.

SQLite reads a WAL-mode database through a ``-shm`` file beside it, which it cannot
create in such a directory. Root writes anywhere, so as root the reading side runs in a
forked child that has given up root for ``nobody``, with the modules it needs already
imported by the same command run first on the writable copy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmguard.cli import main
from llmguard.sinks import SQLiteSink, SQLiteStore, read_records
from tests._helpers.cli_answers import report_page
from tests._helpers.cli_stores import _records
from tests._helpers.unprivileged import lock_up, unprivileged

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def _answers(commands: list[list[str]], report: Path | None) -> list[tuple[int, str, str]]:
    found = [_run(argv) for argv in commands]
    if report is not None:
        found.append((0, report_page(report), ""))
    return found


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory every user may enter (pytest's own are root's alone)."""
    top = Path(tempfile.mkdtemp(prefix="llmguard-ro-"))
    top.chmod(0o755)
    (top / "out").mkdir()
    (top / "out").chmod(0o777)
    try:
        yield top
    finally:
        for folder in top.rglob("*"):
            if folder.is_dir():
                folder.chmod(0o755)
        shutil.rmtree(top)


def _same_place(folder: Path, files: dict[str, bytes]) -> None:
    """Leave exactly ``files`` in ``folder`` (the writable run may add a -shm)."""
    for file in folder.iterdir():
        if file.name not in files:
            file.unlink()
    for name, data in files.items():
        (folder / name).write_bytes(data)


def _stale_store(folder: Path) -> tuple[dict[str, bytes], int]:
    """The three files of a store while a sink holds calls in its WAL, copied as a backup
    taken then would copy them; and how many records the store holds."""
    live = folder / "live"
    live.mkdir()
    records = _records()
    sink = SQLiteSink(live / "calls.db")
    sink.emit(records[:3])
    sink.close()
    sink = SQLiteSink(live / "calls.db")
    sink.emit(records[3:4])
    sink._connection().execute("PRAGMA wal_autocheckpoint = 0")
    sink.emit(records[4:])
    files = {
        name: (live / name).read_bytes() for name in ("calls.db", "calls.db-wal", "calls.db-shm")
    }
    sink.close()
    shutil.rmtree(live)
    assert len(files["calls.db-wal"]) > 32
    return files, len(records)


_SMALL = [
    ["stats", "calls.db"],
    ["stats", "calls.db", "--by", "model", "--json"],
    ["show", "calls.db", f"{1:032x}"],
]


def _commands(folder: Path, which: list[list[str]]) -> list[list[str]]:
    return [[str(folder / a) if a.endswith(".db") else a for a in argv] for argv in which]


def test_commands_read_a_closed_store_in_a_read_only_directory(place: Path) -> None:
    """A store whose sink closed (no -wal, no -shm) in a directory nobody may write
    answers stats, show and the reader API as it does where it can be written."""
    folder = place / "store"
    folder.mkdir()
    sink = SQLiteSink(folder / "calls.db")
    sink.emit(_records())
    sink.close()
    files = {"calls.db": (folder / "calls.db").read_bytes()}
    commands = _commands(folder, _SMALL)
    path = folder / "calls.db"

    def read() -> tuple[list[tuple[int, str, str]], int, int]:
        with SQLiteStore(path) as store:
            count = store.count()
        return _answers(commands, None), count, len(list(read_records(path)))

    writable = read()
    _same_place(folder, files)
    lock_up(folder)
    assert unprivileged(read) == writable
    assert writable[0][0][0] == 0
    assert writable[1] == len(_records())
    assert sorted(os.listdir(folder)) == ["calls.db"]


def test_every_command_reads_the_demo_store_in_a_read_only_directory(place: Path) -> None:
    """The demo store: stats, drift, show and report give the same bytes read-only."""
    folder = place / "demo"
    folder.mkdir()
    sys.path.insert(0, str(Path(__file__).parents[2] / "examples"))
    try:
        import report_demo
    finally:
        sys.path.pop(0)
    report_demo.write_store(folder / "demo.db")
    with sqlite3.connect(folder / "demo.db") as conn:
        (trace,) = conn.execute(
            "SELECT trace_id FROM records WHERE status = 'error' ORDER BY rowid LIMIT 1"
        ).fetchone()
    conn.close()
    files = {"demo.db": (folder / "demo.db").read_bytes()}
    out = place / "out" / "report.html"
    windows = ["--baseline", "2026-02-03..2026-02-10", "--current", "2026-02-10..2026-02-16"]
    commands = _commands(
        folder,
        [
            ["stats", "demo.db", "--by", "prompt", "--since", "2026-02-10"],
            ["drift", "demo.db", *windows],
            ["show", "demo.db", trace],
            ["report", "demo.db", "-o", str(out), "--title", "demo", *windows],
        ],
    )
    writable = _answers(commands, out)
    _same_place(folder, files)
    lock_up(folder)
    out.unlink()
    assert unprivileged(lambda: _answers(commands, out)) == writable
    assert [status for status, _, _ in writable] == [0, 1, 0, 0, 0]
    assert sorted(os.listdir(folder)) == ["demo.db"]


def test_a_copied_store_with_its_wal_and_shm_reads_every_call(place: Path) -> None:
    """A backup of the three files taken while a sink held calls in its WAL answers
    with those calls, read-only as writable."""
    folder = place / "backup"
    folder.mkdir()
    files, count = _stale_store(place)
    _same_place(folder, files)
    commands = _commands(folder, _SMALL)

    def read() -> tuple[list[tuple[int, str, str]], int]:
        with SQLiteStore(folder / "calls.db") as store:
            return _answers(commands, None), store.count()

    writable = read()
    _same_place(folder, files)
    lock_up(folder)
    assert unprivileged(read) == writable
    assert writable[1] == count


def test_a_wal_that_cannot_be_read_is_a_clear_error_not_stale_answers(place: Path) -> None:
    """The store and its -wal without the -shm, where no -shm can be made: SQLite
    cannot read the WAL's calls, so every command exits 2 with one line naming the
    -wal and what to do, and the API raises ValueError; none answers without them."""
    folder = place / "backup"
    folder.mkdir()
    files, count = _stale_store(place)
    del files["calls.db-shm"]
    _same_place(folder, files)
    with SQLiteStore(folder / "calls.db") as store:
        assert store.count() == count  # where a -shm can be made, the calls are there
    _same_place(folder, files)
    lock_up(folder)
    path = folder / "calls.db"

    def read() -> tuple[list[tuple[int, str, str]], str]:
        try:
            SQLiteStore(path).close()
        except ValueError as exc:
            return _answers(_commands(folder, _SMALL), None), str(exc)
        return [], "opened"

    answers, error = unprivileged(read)
    assert f"{os.fspath(path)}-wal" in error
    assert "checkpoint" in error
    for status, out, err in answers:
        assert (status, out) == (2, "")
        assert err.count("\n") == 1
        assert f"{os.fspath(path)}-wal" in err
        assert "Traceback" not in err
    assert sorted(os.listdir(folder)) == ["calls.db", "calls.db-wal"]


def test_an_empty_wal_left_beside_a_read_only_store_is_no_obstacle(place: Path) -> None:
    """A -wal of no frames (empty, shorter than a header, or a header alone) holds
    nothing unmerged: the store is read without it, with the same answers."""
    folder = place / "store"
    folder.mkdir()
    header = _stale_store(place)[0]["calls.db-wal"][:32]
    sink = SQLiteSink(folder / "calls.db")
    sink.emit(_records())
    sink.close()
    database = (folder / "calls.db").read_bytes()
    commands = _commands(folder, _SMALL)
    writable = _answers(commands, None)
    for wal in (b"", bytes(16), header):
        _same_place(folder, {"calls.db": database, "calls.db-wal": wal})
        lock_up(folder)
        assert unprivileged(lambda: _answers(commands, None)) == writable
        for file in (folder, *folder.iterdir()):
            file.chmod(0o755)


def test_a_store_a_sink_has_open_is_read_through_its_shm(place: Path) -> None:
    """A user who cannot write the directory reads a store another user's sink has open,
    calls still in its WAL included, through the sink's -shm (not as immutable)."""
    folder = place / "live"
    folder.mkdir()
    records = _records()
    sink = SQLiteSink(folder / "calls.db")
    try:
        sink.emit(records[:3])
        sink._connection().execute("PRAGMA wal_autocheckpoint = 0")
        sink.emit(records[3:])
        commands = _commands(folder, _SMALL)
        writable = _answers(commands, None)
        folder.chmod(0o755)
        if unprivileged(lambda: os.access(folder, os.W_OK)):
            pytest.skip("this user writes read-only directories")

        def read() -> tuple[list[tuple[int, str, str]], int]:
            with SQLiteStore(folder / "calls.db") as store:
                return _answers(commands, None), store.count()

        assert unprivileged(read) == (writable, len(records))
        sink.emit([dataclasses.replace(records[0], span_id=f"{99:016x}")])
        assert unprivileged(read)[1] == len(records) + 1
    finally:
        sink.close()
