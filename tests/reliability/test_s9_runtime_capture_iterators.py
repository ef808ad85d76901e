"""Capture never reads an iterator, wherever it stands: in a dataclass field, a pydantic
model field, a ``deque``, or any nesting of them with dicts, lists and tuples.

pydantic-core copies all of those by walking into them, and copies an iterator by
reading it to its end, so the function (or the caller, for a result) got it empty.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import pydantic
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard._core.content import snapshot
from tests.conftest import ListSink


@dataclasses.dataclass
class Box:
    """A plain dataclass holding anything."""

    value: Any
    label: str = "box"


@dataclasses.dataclass(frozen=True, slots=True)
class FrozenBox:
    """A frozen, slotted dataclass holding anything."""

    value: Any


class Model(pydantic.BaseModel):
    """A pydantic model holding anything."""

    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    value: Any
    label: str = "model"


class IterableModel(pydantic.BaseModel):
    """A model whose field pydantic itself wraps in a lazy validating iterator."""

    rows: Iterable[int]


def test_an_iterator_in_each_kind_of_holder_reaches_the_function_unread(
    sink: ListSink,
) -> None:
    """Dataclass, frozen slotted dataclass, model and deque: the function sums every
    item, and the record names the iterator where it stood."""

    @lg.trace
    def total(a: Box, b: FrozenBox, c: Model, d: deque[Any]) -> int:
        return sum(a.value) + sum(b.value) + sum(c.value) + sum(d[0])

    answer = total(
        Box(iter([1, 2])), FrozenBox(iter([3])), Model(value=iter([4])), deque([iter([5])])
    )
    assert answer == 15
    assert lg.flush(timeout=10).complete
    [record] = sink.records
    assert record.input == {
        "a": {"value": "<list_iterator>", "label": "box"},
        "b": {"value": "<list_iterator>"},
        "c": {"value": "<list_iterator>", "label": "model"},
        "d": ["<list_iterator>"],
    }


def test_an_iterator_in_a_returned_model_reaches_the_caller_unread(sink: ListSink) -> None:
    """A result holding a generator in a model inside a dataclass inside a list."""

    @lg.trace
    def rows() -> list[Box]:
        return [Box(Model(value=(i for i in range(3))))]

    [box] = rows()
    assert list(box.value.value) == [0, 1, 2]
    assert lg.flush(timeout=10).complete
    [record] = sink.records
    assert record.output == [{"value": {"value": "<generator>", "label": "model"}, "label": "box"}]


def test_pydantic_s_own_lazy_iterator_field_is_left_unread() -> None:
    """A model field pydantic keeps as an iterator is named, and still yields."""
    model = IterableModel(rows=iter([1, 2, 3]))
    assert snapshot({"m": model}) == {"m": {"rows": "<ValidatorIterator>"}}
    assert list(model.rows) == [1, 2, 3]


def test_holders_without_iterators_are_copied_as_before() -> None:
    """No iterator inside: dataclasses, models and deques keep pydantic-core's copy."""
    value = {"a": Box([1, 2]), "b": Model(value={"k": (1, 2)}), "c": deque([1, {"x": 2}])}
    assert snapshot(value) == {
        "a": {"value": [1, 2], "label": "box"},
        "b": {"value": {"k": [1, 2]}, "label": "model"},
        "c": [1, {"x": 2}],
    }


_HOLDERS: list[Callable[[Any], Any]] = [
    lambda x: [x],
    lambda x: (x,),
    lambda x: {"k": x},
    lambda x: deque([x]),
    Box,
    FrozenBox,
    lambda x: Model(value=x),
]


@settings(max_examples=60, deadline=None)
@given(path=st.lists(st.integers(0, len(_HOLDERS) - 1), min_size=1, max_size=8))
def test_an_iterator_at_any_depth_of_any_nesting_is_never_read(path: list[int]) -> None:
    """Any nesting of the holders around a generator: the snapshot names it and the
    generator still yields every item afterwards."""
    generator = (i for i in range(3))
    value: Any = generator
    for index in path:
        value = _HOLDERS[index](value)
    copied = snapshot({"arg": value})
    assert "<generator>" in repr(copied)
    assert list(generator) == [0, 1, 2]
