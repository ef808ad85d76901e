"""A sink that appends records to a JSON Lines file, and its reader."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from llmguard._core.records import Record
from llmguard.exceptions import ConfigurationError
from llmguard.sinks._fork import renew_lock_after_fork
from llmguard.sinks._paths import check_file_path
from llmguard.sinks.table import read_record

__all__ = ["JSONLSink", "last_copies", "read_jsonl", "records_of_lines"]

_logger = logging.getLogger("llmguard")

# O_APPEND makes every write land at the current end of the file, whoever else is
# appending; Python makes the descriptor non-inheritable by exec'd programs on its own.
# Read access lets the sink look at the file's last byte before it appends.
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT
_WRITE_ONLY_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT

_HAS_PREAD = hasattr(os, "pread")  # not on Windows: the last-byte check is skipped there

# How many times in a row the file may turn out to have been replaced while the sink
# was opening and locking it, before the batch fails.
_REOPEN_LIMIT = 100

if sys.platform != "win32":
    import fcntl

    def _lock_file(fd: int) -> None:
        # flock, not lockf: its lock belongs to the open file, so two sinks of one
        # process exclude each other, and closing another descriptor of the same file
        # (as a reader does) does not drop it.
        with contextlib.suppress(OSError):  # a file system without locks: no exclusion
            fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock_file(fd: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)

else:  # pragma: no cover - Windows has no flock; rotation there is not process-safe

    def _lock_file(fd: int) -> None:
        pass

    def _unlock_file(fd: int) -> None:
        pass


class JSONLSink:
    """Appends each record as one line of JSON to a file.

    Each batch is written with a single ``write`` call on a file opened with
    ``O_APPEND``, so lines from several threads or processes never interleave. Before
    each batch the sink takes an exclusive ``flock`` on the file, and checks that the
    file is still the one at ``path``: a file deleted, renamed or replaced under the
    sink (by ``logrotate``, by hand, or by another process rotating it) is reopened, so
    no batch goes to a file nobody will read. A file whose last line is unterminated (a
    kill, or another writer, tore it) gets a newline first, so no record is glued to the
    fragment, which `read_jsonl` skips. A write that fails part-way (a full disk) is cut
    back to where it started before the error is raised, so the file never holds a
    record that was not counted delivered. The file and its parent directories are
    created on the first batch; a forked child opens its own descriptor.

    Args:
        path: The file to append to.
        rotate_bytes: When a batch would grow the file past this size, the file is renamed
            to ``<path>.1`` (older backups shift to ``.2``, ``.3``, ...) and a new one is
            started. ``None`` never rotates. Several processes may share a rotating
            file: a lock on its directory makes one of them rotate it, once.
        fsync: Make `flush` and `close` wait until the data is on disk.
        backups: How many rotated files to keep; the oldest beyond it is deleted.

    Raises:
        ConfigurationError: ``rotate_bytes`` or ``backups`` is out of range, or ``path``
            cannot be written (a directory, a read-only place, a path under a file).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        rotate_bytes: int | None = None,
        fsync: bool = False,
        backups: int = 5,
    ) -> None:
        if rotate_bytes is not None and (isinstance(rotate_bytes, bool) or rotate_bytes < 1):
            raise ConfigurationError(
                f"JSONLSink(rotate_bytes={rotate_bytes!r}): expected a positive integer or None"
            )
        if isinstance(backups, bool) or backups < 0:
            raise ConfigurationError(f"JSONLSink(backups={backups!r}): expected an integer >= 0")
        self.path = Path(path)
        check_file_path(self.path, "JSONLSink")
        self.rotate_bytes = rotate_bytes
        self.fsync = fsync
        self.backups = backups
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._readable = True
        renew_lock_after_fork(self)

    def emit(self, batch: Sequence[Record]) -> None:
        """Append the batch as one write of complete lines."""
        if not batch:
            return
        lines = [record.to_json() for record in batch]
        lines.append(b"")  # the last line's newline, without copying the batch again
        data = b"\n".join(lines)
        with self._lock:
            rotated = False
            for _ in range(_REOPEN_LIMIT):
                fd, size = self._locked_descriptor()
                try:
                    # One rotation per batch: when other processes fill the new file
                    # first, it takes this batch anyway rather than rotate on and on.
                    if not rotated and self._is_full(size, len(data)):
                        self._rotate(fd, len(data))
                        rotated = True
                        continue
                    if self._append(fd, size, data):
                        return
                finally:
                    _unlock_file(fd)
            raise OSError(f"{os.fspath(self.path)!r} kept being replaced while being written")

    def flush(self, timeout: float | None = None) -> None:
        """With ``fsync=True``, wait until the file's data is on disk.

        Every batch is already in the operating system when `emit` returns, so
        without ``fsync`` there is nothing to do. ``fsync`` cannot be interrupted, so
        ``timeout`` is not enforced.
        """
        if not self.fsync:
            return
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.fsync(self._fd)

    def close(self) -> None:
        """Close the file (after an ``fsync`` when ``fsync=True``); a later batch reopens it."""
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            if self.fsync and self._pid == os.getpid():
                os.fsync(fd)
            os.close(fd)

    def _locked_descriptor(self) -> tuple[int, int]:
        """The descriptor of the file now at the path, locked against other writers,
        and the file's size."""
        for _ in range(_REOPEN_LIMIT):
            fd = self._descriptor()
            _lock_file(fd)
            size = _size_if_at(fd, self.path)
            if size is not None:
                return fd, size
            # Deleted, renamed or replaced, perhaps while we waited for the lock.
            _unlock_file(fd)
            self._drop()
        raise OSError(f"{os.fspath(self.path)!r} kept being replaced while being opened")

    def _descriptor(self) -> int:
        if self._fd is not None:
            if self._pid == os.getpid():
                return self._fd
            # Inherited through fork: the parent still uses its own copy of it.
            os.close(self._fd)
            self._fd = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = None
        if _HAS_PREAD and _regular_or_missing(self.path):
            # Read access too, for the last-byte check; not for a FIFO, where it would
            # make the sink a reader of its own records.
            with contextlib.suppress(PermissionError):  # may append, may not read
                fd = os.open(self.path, _OPEN_FLAGS, 0o666)
        self._readable = fd is not None
        if fd is None:
            fd = os.open(self.path, _WRITE_ONLY_FLAGS, 0o666)
        self._fd = fd
        self._pid = os.getpid()
        return fd

    def _drop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _append(self, fd: int, size: int, data: bytes) -> bool:
        """Write the batch after any torn last line; False when the file was deleted
        meanwhile and the batch must go to the new one."""
        if size and self._readable and os.pread(fd, 1, size - 1) != b"\n":
            # A kill, a full disk or another writer tore the last line: end it, so
            # that our first record is not glued to the fragment and lost with it.
            data = b"\n" + data
        view = memoryview(data)
        try:
            # A regular file takes the whole buffer in one write unless the disk fills
            # up or a signal lands mid-way; then the rest follows, under the lock.
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            _cut_back(fd, size, len(data) - len(view))
            raise
        # Deleted between the check and the write (rm takes no lock): the batch went
        # to a file nobody can read, so it is written again to the new one.
        return os.fstat(fd).st_nlink > 0

    def _is_full(self, size: int, incoming: int) -> bool:
        if self.rotate_bytes is None:
            return False
        # An empty file takes the batch whatever its size: rotating could not help.
        return size > 0 and size + incoming > self.rotate_bytes

    def _rotate(self, fd: int, incoming: int) -> None:
        """Move the full file away, unless another writer or a rename got there first.

        The lock on the file does not make rotations exclusive: the file may be renamed
        from outside, and a new one started at the path, at any moment. So the shift is
        made under a lock on the directory, which stays the same whatever is renamed.
        """
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            _lock_file(directory)
            size = _size_if_at(fd, self.path)
            if size is None or not self._is_full(size, incoming):
                return  # the path has a new file: it takes the batch
            if self.fsync:
                os.fsync(fd)
            if self.backups == 0:
                self.path.unlink(missing_ok=True)
                return
            # Backups are numbered without gaps (a rotation whose file was renamed away
            # meanwhile fills its gap the next time), so only those that exist move.
            last = 1
            while last < self.backups and os.path.lexists(self._backup(last)):
                last += 1
            for number in range(last - 1, 0, -1):
                os.replace(self._backup(number), self._backup(number + 1))
            # Renamed away from outside since the check: nothing is left to move.
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.path, self._backup(1))
        finally:
            os.close(directory)  # which releases its lock

    def _backup(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{number}")


def _regular_or_missing(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True


def _size_if_at(fd: int, path: Path) -> int | None:
    """The open file's size if it is still the one at ``path``; None if it is not."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return None
    opened = os.fstat(fd)
    if opened.st_nlink == 0 or (current.st_ino, current.st_dev) != (
        opened.st_ino,
        opened.st_dev,
    ):
        return None
    return opened.st_size


def _cut_back(fd: int, size: int, written: int) -> None:
    """Remove the ``written`` bytes a failed write left after ``size``, if they are last."""
    with contextlib.suppress(OSError):
        info = os.fstat(fd)
        # Only a writer that does not take the lock (not llmguard) could have appended
        # after them; then its data is not cut, the fragment stays, and the next batch
        # starts on a new line after it.
        if written and info.st_size == size + written and stat.S_ISREG(info.st_mode):
            os.ftruncate(fd, size)


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[Record]:
    """Yield the records of a JSON Lines file written by `JSONLSink`, in file order.

    A torn or unparsable last line -- what a hard kill mid-write leaves -- is skipped
    silently. Unparsable lines elsewhere are skipped too, and one warning on the
    ``llmguard`` logger gives their number for the file.

    Args:
        path: The file to read.

    Yields:
        Each complete record.

    Raises:
        OSError: The file cannot be opened.
    """
    with open(path, "rb") as lines:
        yield from records_of_lines(lines, path)


def records_of_lines(lines: Iterable[bytes], path: str | os.PathLike[str]) -> Iterator[Record]:
    """`read_jsonl` over lines already opened (a pipe whose first bytes were read);
    ``path`` names them in the warning."""
    skipped = 0
    last_failed = False
    try:
        for line in lines:
            line = line.strip()
            if not line:
                continue
            if last_failed:
                # A bad line followed by another line was not the torn tail.
                skipped += 1
                last_failed = False
            try:
                record = read_record(line)
            except (ValueError, TypeError):
                last_failed = True
                continue
            yield record
    finally:
        if skipped:
            _logger.warning("%s: skipped %d unreadable line(s)", os.fspath(path), skipped)


# Where `Record.to_json` puts the ids: ``{"trace_id":"<32>","span_id":"<16>",...``.
_TRACE_AT = len(b'{"trace_id":"')
_SPAN_AT = _TRACE_AT + 32 + len(b'","span_id":"')
_IDS_END = _SPAN_AT + 16


def _span_of(line: bytes) -> bytes | None:
    """The line's trace id and span id together, or ``None`` when it holds no record.

    A line as llmguard writes it gives them by position; any other is parsed. Either
    way the key is the ids' characters, so the two forms of a span meet.
    """
    trace = line[_TRACE_AT : _TRACE_AT + 32]
    span = line[_SPAN_AT:_IDS_END]
    if (
        line.startswith(b'{"trace_id":"')
        and line[_TRACE_AT + 32 : _SPAN_AT] == b'","span_id":"'
        and line[_IDS_END : _IDS_END + 2] == b'",'
        and trace.isalnum()
        and span.isalnum()
    ):
        return trace + span
    if not line.strip():
        return None
    try:
        record = read_record(line)
    except (ValueError, TypeError):
        return None
    return (record.trace_id + record.span_id).encode()


def last_copies(file: BinaryIO, path: str | os.PathLike[str]) -> Iterator[Record]:
    """`read_jsonl` over an open, seekable file, keeping one record per span: its last
    readable copy, where that copy stands in the file.

    Delivery is at least once, so a span may be written twice (a batch written again, a
    file appended to itself); the commands and an SQLite store count its last copy, and
    so does this. The file is read twice: first for each line's ids (by position for
    llmguard's own lines), keeping an entry per span (some 150 bytes), then for the
    records. The copies of a span are checked from the last: a torn last copy (a hard
    kill) leaves the one before it.
    """
    last: dict[bytes, int] = {}
    repeated: dict[bytes, list[int]] = {}
    end = 0
    for line in file:
        at, end = end, end + len(line)
        key = _span_of(line)
        if key is None:
            continue
        before = last.get(key)
        last[key] = at
        if before is not None:
            repeated.setdefault(key, [before]).append(at)
    del last
    earlier: dict[int, bytes] = {}
    for key, offsets in repeated.items():
        kept = None
        for at in reversed(offsets):
            file.seek(at)
            # As the first pass saw it: a line torn then may be whole by now (the sink
            # was writing it), and the second pass reads it torn again.
            try:
                record = read_record(file.readline(end - at))
            except (ValueError, TypeError):
                continue
            if (record.trace_id + record.span_id).encode() != key:
                continue  # cut and written again since: another span's line stands here
            kept = at
            break
        earlier.update((at, key) for at in offsets if at != kept)
    del repeated
    file.seek(0)
    yield from records_of_lines(_lines_but(file, earlier, end), path)


def _lines_but(lines: Iterable[bytes], left_out: dict[int, bytes], end: int) -> Iterator[bytes]:
    """The lines of the first ``end`` bytes, without the copies starting at the offsets in
    ``left_out``: the file as the first pass read it. Lines appended since (a sink still
    writing) are left to the next read, whose copies this pass did not see; a line at a
    left-out offset that no longer holds that span (the file was cut and written again)
    is kept."""
    offset = 0
    for line in lines:
        if offset >= end:
            return
        if offset + len(line) > end:
            line = line[: end - offset]  # finished since; the first pass saw it torn
        if offset not in left_out or _span_of(line) != left_out[offset]:
            yield line
        offset += len(line)
