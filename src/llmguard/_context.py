"""Stacks of open objects kept in context variables (budgets, rate limits)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TypeVar

__all__ = ["enter", "leave"]

T = TypeVar("T")


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
