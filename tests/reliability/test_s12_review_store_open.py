"""How the commands open a store, attacked as a busy box, a hostile operator and an odd
file would: a healthy store is never refused, a store is never answered without its
changes, and the checks made before SQLite opens a store leave a live sink's locks alone.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmguard.cli import main
from llmguard.exceptions import ConfigurationError
from llmguard.sinks import SQLiteSink, SQLiteStore
from tests._helpers.cli_stores import _records
from tests._helpers.unprivileged import lock_up, unprivileged

_FDS = Path("/proc/self/fd")

pytestmark = pytest.mark.skipif(
    not _FDS.is_dir(), reason="POSIX locks and permissions, /proc/self/fd"
)


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def _stats(path: Path) -> tuple[int, object, str]:
    """``stats --json`` of ``path``, without the path it names."""
    status, out, err = _run(["stats", str(path), "--json"])
    answer = json.loads(out) if status == 0 else out
    if isinstance(answer, dict):
        answer.pop("path")
    return status, answer, err


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory every user may enter (pytest's own are root's alone)."""
    top = Path(tempfile.mkdtemp(prefix="llmguard-review-store-"))
    top.chmod(0o755)
    try:
        yield top
    finally:
        for folder in top.rglob("*"):
            if folder.is_dir() and not folder.is_symlink():
                folder.chmod(0o755)
        shutil.rmtree(top)


def _count(path: Path) -> int:
    with SQLiteStore(path) as store:
        return store.count()


def _close_a_connection_elsewhere(path: Path) -> None:
    """Open and close a connection to ``path`` in another process: the last one to
    close checkpoints the store and deletes its -wal."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "c.execute('SELECT count(*) FROM records').fetchone(); c.close()",
            str(path),
        ],
        check=True,
        timeout=30,
    )


def test_reading_a_store_leaves_a_live_sinks_locks_alone(tmp_path: Path) -> None:
    """A store opened for reading in the process of a sink writing to it leaves the
    sink's locks on it: another process closing its connection then does not take the
    sink for gone and delete its -wal, so every call the sink writes next is kept."""
    path = tmp_path / "calls.db"
    records = _records()
    sink = SQLiteSink(path)
    try:
        sink.emit(records[:3])
        assert _count(path) == 3
        _close_a_connection_elsewhere(path)
        assert (tmp_path / "calls.db-wal").exists()
        sink.emit(records[3:])
        assert _count(path) == len(records)
    finally:
        sink.close()
    assert _count(path) == len(records)


def _closed_store(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "calls.db"
    sink = SQLiteSink(path)
    sink.emit(_records())
    sink.close()
    return path


def test_a_link_to_a_store_in_a_read_only_directory_reads_the_store(place: Path) -> None:
    """A symlink, in a directory the reader may write, to a closed store in one it may
    not answers as the store itself; the -shm SQLite would need goes beside the store,
    not the link, so the store is read as immutable."""
    store = _closed_store(place / "store")
    links = place / "links"
    links.mkdir()
    links.chmod(0o777)
    link = links / "calls.db"
    link.symlink_to(store)
    expected = (_count(store), _stats(store))
    for name in ("calls.db-wal", "calls.db-shm"):
        (store.parent / name).unlink(missing_ok=True)
    lock_up(store.parent)

    def read() -> tuple[int, tuple[int, object, str]]:
        return _count(link), _stats(link)

    assert unprivileged(read) == expected
    assert expected[1][0] == 0
    assert sorted(os.listdir(store.parent)) == ["calls.db"]


def test_a_link_to_a_store_whose_wal_holds_changes_is_refused(place: Path) -> None:
    """A link, in a read-only directory, to a store whose -wal holds changes in another
    read-only directory, with no -shm: the -wal beside the store is the one checked, so
    the command refuses it rather than answering without its calls."""
    folder = place / "store"
    folder.mkdir()
    path = folder / "calls.db"
    records = _records()
    sink = SQLiteSink(path)
    sink.emit(records[:3])
    sink.close()
    sink = SQLiteSink(path)
    sink._connection().execute("PRAGMA wal_autocheckpoint = 0")
    sink.emit(records[3:])
    files = {name: (folder / name).read_bytes() for name in ("calls.db", "calls.db-wal")}
    sink.close()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "calls.db-shm").unlink(missing_ok=True)
    links = place / "links"
    links.mkdir()
    (links / "calls.db").symlink_to(path)
    _run(["stats", str(_closed_store(place / "warm"))])  # imports what the reader needs
    lock_up(folder)
    lock_up(links)

    def read() -> tuple[str, tuple[int, str, str]]:
        try:
            found = f"counted {_count(links / 'calls.db')}"
        except ValueError as exc:
            found = str(exc)
        return found, _run(["stats", str(links / "calls.db")])

    message, (status, out, err) = unprivileged(read)
    assert "calls.db-wal" in message
    assert "holds changes" in message
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1
    assert "holds changes" in err


def _journal_mode(path: Path, mode: str, page_size: int | None = None) -> None:
    """Rewrite the store at ``path`` in journal ``mode``, with ``page_size``."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
        if page_size is not None:
            conn.execute(f"PRAGMA page_size = {page_size:d}")
            conn.execute("VACUUM")
        conn.execute(f"PRAGMA journal_mode = {mode}")


@pytest.mark.parametrize(
    ("mode", "page_size"),
    [("DELETE", None), ("TRUNCATE", 512), ("PERSIST", 65536), ("WAL", 1024), ("WAL", 65536)],
)
def test_a_store_of_any_journal_mode_and_page_size_answers(
    tmp_path: Path, mode: str, page_size: int | None
) -> None:
    """A healthy store in rollback-journal mode, or with pages of any size, answers
    stats as the store SQLiteSink wrote, and the reader counts every call."""
    path = _closed_store(tmp_path / "store")
    expected = _stats(path)
    _journal_mode(path, mode, page_size)
    assert _stats(path) == expected
    assert expected[0] == 0
    assert _count(path) == len(_records())


@pytest.mark.parametrize(
    "name", ["with space.db", "q?x=1.db", "hash#frag.db", "per%20cent.db", "ünï ☃.db"]
)
def test_a_store_whose_name_reads_as_a_uri_answers(tmp_path: Path, name: str) -> None:
    """A store whose name holds characters a URI gives meaning to (?, #, %, spaces,
    non-ASCII) answers as itself, through a link too, and its cut short copy is named."""
    path = _closed_store(tmp_path / "store")
    expected = _stats(path)
    odd = tmp_path / "store" / name
    path.rename(odd)
    link = tmp_path / f"link {name}"
    link.symlink_to(odd)
    assert _stats(odd) == expected
    assert _stats(link) == expected
    odd.write_bytes(odd.read_bytes()[:-100])
    with pytest.raises(ValueError, match="ends inside a page"):
        SQLiteStore(link)


def test_an_empty_or_unwritten_store_is_no_damage(tmp_path: Path) -> None:
    """An empty file and an SQLite database with nothing in it are not called damaged:
    the first is an empty trace, the second no llmguard store."""
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    status, _, err = _run(["stats", str(empty)])
    assert "damaged" not in err
    blank = tmp_path / "blank.db"
    with contextlib.closing(sqlite3.connect(blank)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
    with pytest.raises(ValueError, match="no records table"):
        SQLiteStore(blank)
    status, out, err = _run(["stats", str(blank)])
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1
    assert "damaged" not in err
    (tmp_path / "unwritten").mkdir()
    SQLiteSink(tmp_path / "unwritten" / "calls.db").close()
    status, out, err = _run(["stats", str(tmp_path / "unwritten" / "calls.db")])
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1
    assert "no such file" in err


@pytest.mark.parametrize("mode", ["DELETE", "WAL"])
@pytest.mark.parametrize("thing", ["fifo", "directory", "device"])
def test_a_journal_that_is_no_file_is_refused_without_waiting(
    tmp_path: Path, mode: str, thing: str
) -> None:
    """A FIFO, a directory or a device where a store's -journal goes: SQLite opens any
    journal it finds to roll the store back, and waited forever on the FIFO; the
    commands refuse it in one line naming it, and leave no file open."""
    path = _closed_store(tmp_path / "store")
    _journal_mode(path, mode)
    for extra in path.parent.glob("calls.db-*"):
        extra.unlink()
    journal = path.parent / "calls.db-journal"
    if thing == "fifo":
        os.mkfifo(journal)
    elif thing == "directory":
        journal.mkdir()
    else:
        journal.symlink_to("/dev/zero")
    opened = set(os.listdir(_FDS))
    found: list[tuple[int, str, str]] = []
    command = threading.Thread(target=lambda: found.append(_run(["stats", str(path)])))
    command.daemon = True
    command.start()
    command.join(timeout=30)
    assert not command.is_alive(), "the command waits on the -journal"
    status, out, err = found[0]
    assert (status, out) == (2, "")
    assert err.count("\n") == 1
    assert repr(str(journal)) in err
    with pytest.raises(ValueError, match="-journal"):
        SQLiteStore(path)
    assert set(os.listdir(_FDS)) <= opened


def test_a_second_sink_on_a_store_leaves_the_first_ones_locks_alone(tmp_path: Path) -> None:
    """A second SQLiteSink made for a store a first one is writing in the same process
    (a configuration made again) checks the file without dropping the first one's
    locks, so another process closing its connection leaves the first one's -wal."""
    path = tmp_path / "calls.db"
    records = _records()
    sink = SQLiteSink(path)
    try:
        sink.emit(records[:3])
        SQLiteSink(path).close()
        _close_a_connection_elsewhere(path)
        assert (tmp_path / "calls.db-wal").exists()
        sink.emit(records[3:])
        assert _count(path) == len(records)
    finally:
        sink.close()
    (tmp_path / "notes.txt").write_text("not a database\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="it is not an SQLite database"):
        SQLiteSink(tmp_path / "notes.txt")


@pytest.mark.parametrize("size", [5, 100, 4097, 70_000])
def test_a_file_that_is_no_database_is_not_called_damaged(tmp_path: Path, size: int) -> None:
    """A file of any size that is no SQLite database given to SQLiteStore is not an
    llmguard store, not a damaged one: whether it ends inside a page is asked only of
    a database."""
    path = tmp_path / "calls.db"
    path.write_bytes((b'{"not": "sqlite"}\n' * (size // 18 + 1))[:size])
    with pytest.raises(ValueError, match="not an llmguard store") as raised:
        SQLiteStore(path)
    assert "damaged" not in str(raised.value)


_HOLDING_SINK = """
import sys
from llmguard.sinks import SQLiteSink
from tests._helpers.cli_stores import _records
records = _records()
sink = SQLiteSink(sys.argv[1])
sink.emit(records[:3])
sink._connection().execute("PRAGMA wal_autocheckpoint = 0")
sink.emit(records[3:])
print("holding", flush=True)
sys.stdin.readline()
sink.close()
"""


def test_a_shm_this_user_cannot_open_reads_as_documented(place: Path) -> None:
    """In a directory anyone may write, a -shm only its owner may read: while the
    owner's sink (another process) holds calls in the -wal, the reader is refused naming
    the -wal, never answered without them; once the sink closed, leaving a -shm behind,
    the store is read whole."""
    _run(["stats", str(_closed_store(place / "warm"))])  # imports what the reader needs
    folder = place / "shared"
    folder.mkdir()
    folder.chmod(0o777)
    path = folder / "calls.db"
    writer = subprocess.Popen(
        [sys.executable, "-c", _HOLDING_SINK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert writer.stdin is not None
    assert writer.stdout is not None
    try:
        assert writer.stdout.readline() == "holding\n"
        (folder / "calls.db-shm").chmod(0o600)
        if unprivileged(lambda: os.access(folder / "calls.db-shm", os.R_OK)):
            pytest.skip("this user reads files only their owner may read")

        def refused() -> str:
            try:
                return f"counted {_count(path)}"
            except ValueError as exc:
                return str(exc)

        message = unprivileged(refused)
        assert "calls.db-wal" in message
        assert "holds changes" in message
    finally:
        writer.communicate("close\n", timeout=30)
    assert writer.returncode == 0
    (folder / "calls.db-shm").write_bytes(bytes(32768))
    (folder / "calls.db-shm").chmod(0o600)
    assert unprivileged(lambda: _count(path)) == len(_records())


@pytest.mark.xfail(
    strict=True,
    reason="a -journal kept after commit (PERSIST mode: its header zeroed, its size left) "
    "counts as one holding pages, so the cut-short check is not made; SQLite takes a "
    "journal whose first byte is 0 as none. Left: another test pins a 512-byte zero "
    "journal as one holding pages; see the s12 review_store report",
)
def test_a_persisted_journal_does_not_hide_a_store_cut_short(tmp_path: Path) -> None:
    """A store in PERSIST journal mode, cut inside its last page, is refused as
    damaged: its -journal, kept with a zeroed header, holds nothing SQLite rolls back."""
    path = _closed_store(tmp_path / "store")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode = PERSIST")
        conn.execute("UPDATE records SET name = name WHERE rowid = 1")
        conn.commit()
    assert (tmp_path / "store" / "calls.db-journal").read_bytes()[:1] == b"\x00"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 15 // 16])
    with pytest.raises(ValueError, match="ends inside a page"):
        SQLiteStore(path)
