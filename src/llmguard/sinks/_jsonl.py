"""A sink that appends records to a JSON Lines file, and its reader."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from llmguard._core.records import Record
from llmguard.exceptions import ConfigurationError
from llmguard.sinks._fork import renew_lock_after_fork

__all__ = ["JSONLSink", "read_jsonl"]

_logger = logging.getLogger("llmguard")

# O_APPEND makes every write land at the current end of the file, whoever else is
# appending; Python makes the descriptor non-inheritable by exec'd programs on its own.
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT


class JSONLSink:
    """Appends each record as one line of JSON to a file.

    Each batch is written with a single ``write`` call on a file opened with
    ``O_APPEND``, so lines from several threads or processes never interleave and a hard
    kill can tear at most the last line, which `read_jsonl` skips; a sink that opens a
    file ending in such a line starts on a new line, so no record of its own is lost to
    it (the fragment then stays a line of its own, still skipped). The file and its
    parent directories are created on the first batch; a forked child opens its own
    descriptor.

    Args:
        path: The file to append to.
        rotate_bytes: When a batch would grow the file past this size, the file is renamed
            to ``<path>.1`` (older backups shift to ``.2``, ``.3``, ...) and a new one is
            started. ``None`` never rotates.
        fsync: Make `flush` and `close` wait until the data is on disk.
        backups: How many rotated files to keep; the oldest beyond it is deleted.

    Raises:
        ConfigurationError: ``rotate_bytes`` or ``backups`` is out of range.
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
        self.rotate_bytes = rotate_bytes
        self.fsync = fsync
        self.backups = backups
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._unterminated = False
        renew_lock_after_fork(self)

    def emit(self, batch: Sequence[Record]) -> None:
        """Append the batch as one write of complete lines."""
        if not batch:
            return
        lines = [record.to_json() for record in batch]
        lines.append(b"")  # the last line's newline, without copying the batch again
        data = b"\n".join(lines)
        with self._lock:
            fd = self._descriptor()
            if self.rotate_bytes is not None:
                fd = self._rotate_if_full(fd, len(data))
            if self._unterminated:
                # A hard kill tore the file's last line: end it, so that our first
                # record is not glued to the fragment and lost with it.
                data = b"\n" + data
                self._unterminated = False
            _write_all(fd, data)

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

    def _descriptor(self) -> int:
        if self._fd is not None:
            if self._pid == os.getpid():
                return self._fd
            # Inherited through fork: the parent still uses its own copy of it.
            os.close(self._fd)
            self._fd = None
        return self._open()

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, _OPEN_FLAGS, 0o666)
        self._pid = os.getpid()
        self._unterminated = _ends_unterminated(self.path)
        return self._fd

    def _reopen(self, fd: int) -> int:
        os.close(fd)
        self._fd = None
        return self._open()

    def _rotate_if_full(self, fd: int, incoming: int) -> int:
        assert self.rotate_bytes is not None
        opened = os.fstat(fd)
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            current = None
        if current is None or (current.st_ino, current.st_dev) != (
            opened.st_ino,
            opened.st_dev,
        ):
            # Another process rotated the file: follow the path instead of appending
            # to what is now a backup.
            fd = self._reopen(fd)
            opened = os.fstat(fd)
        # An empty file takes the batch whatever its size: rotating could not help.
        if opened.st_size == 0 or opened.st_size + incoming <= self.rotate_bytes:
            return fd
        if self.fsync:
            os.fsync(fd)
        self._shift_backups()
        return self._reopen(fd)

    def _shift_backups(self) -> None:
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        for number in range(self.backups - 1, 0, -1):
            try:
                os.replace(self._backup(number), self._backup(number + 1))
            except FileNotFoundError:
                continue
        os.replace(self.path, self._backup(1))

    def _backup(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{number}")


def _ends_unterminated(path: Path) -> bool:
    """Whether the file's last byte is something other than a newline."""
    try:
        with open(path, "rb") as file:
            if file.seek(0, os.SEEK_END) == 0:
                return False
            file.seek(-1, os.SEEK_END)
            return file.read(1) != b"\n"
    except OSError:
        return False


def _write_all(fd: int, data: bytes) -> None:
    # A regular file takes the whole buffer in one write unless the disk fills up or a
    # signal lands mid-way; then the rest follows, still ahead of any later batch of ours.
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


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
    skipped = 0
    last_failed = False
    try:
        with open(path, "rb") as lines:
            for line in lines:
                line = line.strip()
                if not line:
                    continue
                if last_failed:
                    # A bad line followed by another line was not the torn tail.
                    skipped += 1
                    last_failed = False
                try:
                    record = Record.from_json(line)
                except (ValueError, TypeError):
                    last_failed = True
                    continue
                yield record
    finally:
        if skipped:
            _logger.warning("%s: skipped %d unreadable line(s)", os.fspath(path), skipped)
