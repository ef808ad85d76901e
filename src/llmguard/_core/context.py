"""Context variables shared across layers: stacks of open objects, and the open run."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, ClassVar, Protocol, TypeVar

__all__ = ["Checked", "Scoped", "check_run", "enter", "leave", "open_run"]

T = TypeVar("T")
S = TypeVar("S", bound="Scoped")


def enter(stack: ContextVar[tuple[T, ...]], item: T) -> None:
    """Open ``item`` innermost in the current context."""
    stack.set((*stack.get(), item))


def leave(stack: ContextVar[tuple[T, ...]], item: T) -> None:
    """Remove the innermost entry of ``item``, if the current context holds one.

    Not a reset token: one object may be open in many tasks and threads at once, and
    each context removes its own entry.
    """
    entries = stack.get()
    for i in range(len(entries) - 1, -1, -1):
        if entries[i] is item:
            stack.set(entries[:i] + entries[i + 1 :])
            return


class Scoped:
    """An object opened in the current context by ``with`` or ``async with``.

    Subclasses name the context stack they open on in ``_stack``.
    """

    __slots__ = ()
    _stack: ClassVar[ContextVar[tuple[Any, ...]]]

    def __enter__(self: S) -> S:
        enter(self._stack, self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        leave(self._stack, self)

    async def __aenter__(self: S) -> S:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__(*exc_info)


class Checked(Protocol):
    """An open run that every guarded attempt checks first (an agent run's deadline)."""

    def checkpoint(self) -> None:
        """Raise if the run may not go on."""


# Set by the agents layer and read by the guard below it, which thus checks a run's
# deadline without importing the agents.
open_run: ContextVar[Checked | None] = ContextVar("llmguard.run", default=None)


def check_run() -> None:
    """Check the innermost open run, if any (before each guarded attempt)."""
    run = open_run.get()
    if run is not None:
        run.checkpoint()
