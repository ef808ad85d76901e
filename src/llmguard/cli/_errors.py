"""What every command shares with `main`: its exit statuses and the error it raises."""

from __future__ import annotations

__all__ = ["EXIT_DRIFT", "EXIT_ERROR", "EXIT_OK", "CommandError"]

EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_ERROR = 2


class CommandError(Exception):
    """A command that cannot do what was asked; its message is the one line shown."""
