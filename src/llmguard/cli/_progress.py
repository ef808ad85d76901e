"""Progress on long reads, drawn on stderr only when it is a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from llmguard.cli._format import escaped

__all__ = ["TerminalProgress"]

# Reads shorter than this show nothing; redraws are at most this often.
_QUIET_FOR_S = 0.5
_REDRAW_EVERY_S = 0.1


class TerminalProgress:
    """Draws one self-erasing status line: what is being read, and how far along.

    Args:
        stream: Where to draw; nothing is drawn unless it is a terminal.
        clock: Seconds, monotonic; injected by tests.
    """

    def __init__(
        self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stream = sys.stderr if stream is None else stream
        self._clock = clock
        self._started = self._clock()
        self._drawn_at = 0.0
        self._width = 0
        self.enabled = _is_terminal(self._stream)

    def __call__(self, what: str, fraction: float | None) -> None:
        """Report progress; ``fraction`` is ``None`` when the total is unknown."""
        if not self.enabled:
            return
        now = self._clock()
        elapsed = now - self._started
        if elapsed < _QUIET_FOR_S or now - self._drawn_at < _REDRAW_EVERY_S:
            return
        self._drawn_at = now
        parts = [what] if fraction is None else [what, f"{fraction:.0%}"]
        line = escaped(" ".join([*parts, f"{elapsed:.1f} s"]))
        self._stream.write("\r" + line.ljust(self._width))
        self._stream.flush()
        self._width = len(line)

    def clear(self) -> None:
        """Erase the status line, if one was drawn."""
        if self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
