"""Numbers, tables and record text as the commands print them.

Text from a record is untrusted: a name or an error message can hold the escape
sequences a terminal acts on (set the window title, clear the screen, write the
clipboard through OSC 52), or the Unicode bidirectional controls that make a line
read differently from what it holds (an override turns ``exe.txt`` into ``txt.exe``,
as in Trojan Source). Everything the commands print goes through `echo` (or
`dump_json`), which shows every control character and every bidi control escaped; a
field that must stay on one line, such as a table cell, goes through `escaped` first.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from typing import TextIO

from llmguard.cli._errors import CommandError

__all__ = [
    "count",
    "dump_json",
    "duration",
    "echo",
    "escaped",
    "money",
    "percent",
    "table",
    "tokens",
]

# What a terminal may act on: C0 (tab and newline included), DEL and C1.
_CONTROLS = (*range(0x20), 0x7F, *range(0x80, 0xA0))
_SHORT = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
# What reorders the rest of a line on screen (the bidi marks, embeddings, overrides and
# isolates) or breaks it without a newline (the line and paragraph separators).
_INVISIBLE = (
    0x061C,
    0x200E,
    0x200F,
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
)
_ESCAPES = {code: _SHORT.get(code, f"\\x{code:02x}") for code in _CONTROLS}
_ESCAPES.update({code: f"\\u{code:04x}" for code in _INVISIBLE})
# JSON escapes C0 itself; DEL, C1 and the bidi controls are left raw by ensure_ascii=False.
_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in (0x7F, *range(0x80, 0xA0), *_INVISIBLE)}


def escaped(text: object) -> str:
    """``text`` on one line, its control and bidi characters escaped (``\\x1b``, ``\\u202e``)."""
    return str(text).translate(_ESCAPES)


def echo(text: str, file: TextIO | None = None) -> None:
    """Print ``text`` and a newline, each of its lines with control characters escaped.

    Args:
        text: Lines separated by ``\\n``.
        file: Where to print; standard output by default.
    """
    lines = "\n".join(map(escaped, text.split("\n"))) + "\n"
    if file is None:
        _to_stdout(lines)
    else:
        file.write(lines)


def dump_json(document: object) -> None:
    """Print ``document`` as indented JSON on standard output, control characters escaped."""
    text = json.dumps(document, indent=2, ensure_ascii=False, default=str)
    _to_stdout(text.translate(_JSON_ESCAPES) + "\n")


def _to_stdout(text: str) -> None:
    """Write to standard output; one that is closed (``>&-``) or fails (a full disk,
    ``/dev/full``) is a `CommandError` saying so. A reader that went away
    (`BrokenPipeError`) is left to end the command quietly."""
    out = sys.stdout
    if out is None:
        raise CommandError("standard output is closed")
    try:
        out.write(text)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise CommandError(f"cannot write to standard output: {exc.strerror or exc}") from None


def duration(ms: float | None) -> str:
    """``850 µs``, ``12.3 ms``, ``4.56 s``; ``-`` when unknown."""
    if ms is None or math.isnan(ms):
        return "-"
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 1000:
        return f"{ms:.3g} ms" if ms < 100 else f"{ms:.0f} ms"
    return f"{ms / 1000:.3g} s" if ms < 100_000 else f"{ms / 1000:.0f} s"


def percent(rate: float | None) -> str:
    """A rate as a percentage with one decimal."""
    return "-" if rate is None else f"{rate * 100:.1f}%"


def count(value: float) -> str:
    """A weighted count: exact when whole, else rounded and marked ``~``."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"~{value:,.0f}"


def tokens(value: float | None) -> str:
    """A token total, abbreviated past ten thousand (12.3k) and past a million (3.9M)."""
    if value is None:
        return "-"
    if value >= 999_950:  # what would round to "1000.0k"
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1_000:.1f}k"
    return f"{value:,.0f}"


def money(usd: float | None) -> str:
    """US dollars: to a millionth below a cent, to a cent from a dollar."""
    if usd is None:
        return "-"
    if usd == 0:
        return "$0"
    if usd < 0.01:
        return f"${usd:.6f}"
    if usd < 1:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    """Columns padded to their widest cell; the first ``left`` columns are left-aligned.

    Cells are `escaped`, so a value holding a newline or an escape sequence keeps its row.
    """
    header = [escaped(cell) for cell in header]
    rows = [[escaped(cell) for cell in row] for row in rows]
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.ljust(width) if index < left else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
