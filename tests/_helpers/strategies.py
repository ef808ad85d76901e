"""Hypothesis strategies shared by several test modules."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import strategies as st

__all__ = ["captured_content"]


# Built once per set of arguments: a property drawing `captured_content(...)` inside a
# composite strategy made the recursive strategy anew for every example, and hypothesis
# spent more time checking the new strategy than drawing from it (SQLiteSink's write
# properties: some 40% of their CPU). The strategy is the same object, so the draws are too.
@functools.cache
def captured_content(
    *, max_leaves: int, int_min: int = -(2**63), int_max: int = 2**64 - 1
) -> st.SearchStrategy[Any]:
    """What applications capture: JSON's own types with the awkward corners (escapes,
    non-ASCII, floats that print long, NaN and infinities, integers at and past 64 bits,
    empty containers), plus tuples."""
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=int_min, max_value=int_max)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text()
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            | st.tuples(inner, inner)
        ),
        max_leaves=max_leaves,
    )
