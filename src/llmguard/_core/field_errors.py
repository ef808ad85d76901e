"""Validation errors as llmguard reports them: compact, one line each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["MAX_ERRORS", "FieldError", "format_errors"]

#: Errors listed by `format_errors` before "... and N more".
MAX_ERRORS = 20


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation error: where (``$.items[2].urgency``), what, and the value found.

    ``value`` is short JSON, or ``""`` when the error is about a missing field.
    """

    path: str
    message: str
    value: str


def format_errors(errors: Iterable[FieldError], *, limit: int = MAX_ERRORS) -> str:
    """One line per error, ``- $.urgency: message (got 7)``, at most ``limit`` lines."""
    errors = tuple(errors)
    lines = [
        f"- {e.path}: {e.message} (got {e.value})" if e.value else f"- {e.path}: {e.message}"
        for e in errors[:limit]
    ]
    if len(errors) > limit:
        lines.append(f"... and {len(errors) - limit} more")
    return "\n".join(lines)
