"""What a replay reports: the recorded and the new outcome of a call, and the two side by side."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from typing import Any

from llmguard._core.records import Record, Status, Usage

__all__ = ["Replay", "ReplayOutcome"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayOutcome:
    """How one run of a call ended: the recorded one or the replayed one.

    Attributes:
        status: ``"ok"``, ``"error"`` or ``"limit"``.
        value: What the call returned, as JSON-compatible data (the validated value
            under a schema); ``None`` when it failed.
        error_type: The qualified name of the exception that ended the call.
        error_message: Its message.
        usage: Tokens used by every attempt together, when reported.
        cost_usd: What the attempts cost, when priced.
        duration_ms: How long the call took.
        attempts: How many attempts the guard made (``None`` without a guard).
        model: The model, when known.
    """

    status: Status
    value: Any = None
    error_type: str | None = None
    error_message: str | None = None
    usage: Usage | None = None
    cost_usd: float | None = None
    duration_ms: float | None = None
    attempts: int | None = None
    model: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the call gave an answer."""
        return self.status == "ok"

    @classmethod
    def of_record(cls, record: Record) -> ReplayOutcome:
        """The outcome an ``llm`` record describes."""
        count = (record.attempt or {}).get("count")
        return cls(
            status=record.status,
            value=record.output,
            error_type=record.error_type,
            error_message=record.error_message,
            usage=record.usage,
            cost_usd=record.cost_usd,
            duration_ms=record.duration_ms,
            attempts=count if isinstance(count, int) else None,
            model=record.model,
        )

    def as_dict(self) -> dict[str, Any]:
        """The outcome as JSON-ready data."""
        usage = self.usage
        return {
            "status": self.status,
            "value": self.value,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "usage": None
            if usage is None
            else {k: getattr(usage, k) for k in ("input", "output", "total", "estimated")},
            "cost_usd": self.cost_usd,
            "duration_ms": self.duration_ms,
            "attempts": self.attempts,
            "model": self.model,
        }


# The outcome fields that decide whether a replay changed anything; usage, cost and
# timing differ between any two runs and are shown, not compared.
_COMPARED = ("status", "error_type", "value")


@dataclass(frozen=True, slots=True, kw_only=True)
class Replay:
    """A recorded call and the same input run again, side by side.

    Attributes:
        record: The replayed ``llm`` record.
        old: The recorded outcome.
        new: The outcome of the new run.
        function: The qualified name of the function that ran.
        result: What the function returned (``None`` when it raised).
        error: What it raised, if anything.
        records: The records the new run emitted, the ``llmguard.replay`` span last.
    """

    record: Record
    old: ReplayOutcome
    new: ReplayOutcome
    function: str
    result: Any = field(default=None, repr=False)
    error: Exception | None = field(default=None, repr=False)
    records: tuple[Record, ...] = field(default=(), repr=False)

    @property
    def differences(self) -> tuple[str, ...]:
        """Which of ``status``, ``error_type`` and ``value`` differ between the runs."""
        return tuple(
            name for name in _COMPARED if getattr(self.old, name) != getattr(self.new, name)
        )

    @property
    def changed(self) -> bool:
        """Whether the new run ended differently: another status, error type or value."""
        return bool(self.differences)

    def as_dict(self) -> dict[str, Any]:
        """The replay as JSON-ready data."""
        return {
            "span_id": self.record.span_id,
            "trace_id": self.record.trace_id,
            "name": self.record.name,
            "function": self.function,
            "changed": self.changed,
            "differences": list(self.differences),
            "old": self.old.as_dict(),
            "new": self.new.as_dict(),
        }

    def side_by_side(self, width: int = 100) -> str:
        """The two outcomes as two columns; rows that decide `changed` marked ``*``.

        Long values and messages wrap inside their column; nothing is cut.

        Args:
            width: The width of the text, at least 60 characters.
        """
        column = (max(width, 60) - _LABEL - 4) // 2
        old, new = self.old, self.new
        rows = [
            ("status", old.status, new.status, "status"),
            ("error", _error_text(old), _error_text(new), "error_type"),
            ("value", _value_text(old), _value_text(new), "value"),
            ("attempts", _text(old.attempts), _text(new.attempts), None),
            ("tokens", _usage_text(old.usage), _usage_text(new.usage), None),
            ("cost", _money(old.cost_usd), _money(new.cost_usd), None),
            ("duration", _duration(old.duration_ms), _duration(new.duration_ms), None),
            ("model", _text(old.model), _text(new.model), None),
        ]
        differences = self.differences
        lines = [
            f"replay of span {self.record.span_id} ({self.record.name}, "
            f"trace {self.record.trace_id}) against {self.function}",
            "",
            f"{'':<{_LABEL}}  {'recorded':<{column}}  now".rstrip(),
        ]
        for label, left, right, compared in rows:
            mark = "*" if compared is not None and compared in differences else " "
            lefts, rights = _wrap(left, column), _wrap(right, column)
            for index in range(max(len(lefts), len(rights))):
                head = f"{label:<{_LABEL - 1}}{mark}" if index == 0 else " " * _LABEL
                a = lefts[index] if index < len(lefts) else ""
                b = rights[index] if index < len(rights) else ""
                lines.append(f"{head}  {a:<{column}}  {b}".rstrip())
        lines.append("")
        if differences:
            lines.append(f"changed: {', '.join(_LABELS[name] for name in differences)}")
        else:
            lines.append("unchanged")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.side_by_side()


_LABEL = 9
_LABELS = {"status": "status", "error_type": "error", "value": "value"}


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines.extend(
            textwrap.wrap(
                paragraph,
                width,
                subsequent_indent="  ",
                break_long_words=True,
                break_on_hyphens=False,
                drop_whitespace=True,
            )
            or [""]
        )
    return lines


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def _error_text(outcome: ReplayOutcome) -> str:
    if outcome.error_type is None:
        return "-" if outcome.error_message is None else outcome.error_message
    if not outcome.error_message:
        return outcome.error_type
    return f"{outcome.error_type}: {outcome.error_message}"


def _value_text(outcome: ReplayOutcome) -> str:
    if outcome.value is None:
        return "-"
    try:
        return json.dumps(outcome.value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(outcome.value)


def _usage_text(usage: Usage | None) -> str:
    if usage is None or (usage.input is None and usage.output is None):
        return "-"
    estimated = " (estimated)" if usage.estimated else ""
    return f"{usage.input or 0} in / {usage.output or 0} out{estimated}"


def _money(usd: float | None) -> str:
    if usd is None:
        return "-"
    return f"${usd:.6f}" if usd < 0.01 else f"${usd:.4f}"


def _duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.2f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"
