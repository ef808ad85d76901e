"""Helpers for the tracing tests."""

from __future__ import annotations

import llmguard as lg


def by_name(records: list[lg.Record]) -> dict[str, lg.Record]:
    """The records keyed by their span names."""
    return {r.name: r for r in records}
