"""Capture of a pydantic model or a pydantic dataclass holding an iterator: it is still
written as the model says (excluded fields left out, serializers applied, computed
fields added), and the iterator still reaches the function unread."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import pydantic
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_serializer

import llmguard as lg
from llmguard.testing import capture


class Request(BaseModel):
    """A request whose key is never written and whose token is masked."""

    model_config = ConfigDict(extra="allow", frozen=True)

    key: str = Field(exclude=True)
    token: str
    items: Any

    @field_serializer("token")
    def _mask(self, value: str) -> str:
        return "***"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kind(self) -> str:
        return "request"


@pydantic.dataclasses.dataclass
class Job:
    """A pydantic dataclass with an excluded secret."""

    secret: str = Field(exclude=True)
    rows: Any = None


@lg.trace
def consume(request: Any) -> list[int]:
    """Reads the iterator it is given."""
    held = request.items if isinstance(request, Request) else request.rows
    return list(held)


def _input(value: Any) -> tuple[list[int], Any]:
    with capture() as records:
        got = consume(value)
    return got, records[0].input["request"]


def test_a_model_holding_an_iterator_is_written_as_the_model_says() -> None:
    """Excluded ``key`` left out, ``token`` masked, ``kind`` computed, the extra field
    kept, the iterator named and read whole by the function (the record held the key
    and the unmasked token)."""
    got, written = _input(Request(key="hunter2", token="tok-9", items=iter([1, 2]), extra=5))
    assert got == [1, 2]
    assert written == {"token": "***", "items": "<list_iterator>", "extra": 5, "kind": "request"}
    assert "hunter2" not in str(written)


def test_the_same_model_without_an_iterator_is_written_alike() -> None:
    """The marker stands where the iterator was; nothing else differs."""
    _, written = _input(Request(key="hunter2", token="tok-9", items=[1, 2], extra=5))
    assert written == {"token": "***", "items": [1, 2], "extra": 5, "kind": "request"}


def test_a_pydantic_dataclass_holding_an_iterator_leaves_its_excluded_field_out() -> None:
    """A pydantic dataclass's excluded field stays out of the record."""
    got, written = _input(Job(secret="hunter2", rows=iter([3])))
    assert got == [3]
    assert written == {"rows": "<list_iterator>"}


class Nested(BaseModel):
    """An iterator under a model under a model."""

    inner: Request
    note: str


@given(st.lists(st.integers(), max_size=5), st.text(max_size=10))
@settings(max_examples=25, deadline=None)
def test_a_nested_model_keeps_its_serializers_and_its_iterator(
    values: list[int], note: str
) -> None:
    """At any depth, the model under the iterator keeps its own way of writing."""

    @lg.trace
    def take(nested: Nested) -> list[int]:
        items: Iterable[int] = nested.inner.items
        return list(items)

    iterator: Iterator[int] = iter(values)
    request = Request(key="hunter2", token="tok", items=iterator)
    with capture() as records:
        assert take(Nested(inner=request, note=note)) == values
    written = records[0].input["nested"]
    assert written["inner"] == {"token": "***", "items": "<list_iterator>", "kind": "request"}
    assert written["note"] == note


_calls: list[str] = []


def _counted(name: str, items: Iterable[Any]) -> Iterator[Any]:
    _calls.append(name)
    yield from items
    raise AssertionError(f"{name}'s own iteration read past its end")  # endless, as it were


class LazyList(list[Any]):
    """A list whose own iteration reads a source (dry, or forever)."""

    def __iter__(self) -> Iterator[Any]:
        return _counted("list", list.__iter__(self))


class LazySet(set[Any]):
    """A set iterating by code of its own (pydantic-core calls it)."""

    def __iter__(self) -> Iterator[Any]:
        return _counted("set", set.__iter__(self))


class LazyDeque(deque[Any]):
    """A deque iterating by code of its own."""

    def __iter__(self) -> Iterator[Any]:
        return _counted("deque", deque.__iter__(self))


class LazyDict(dict[str, Any]):
    """A dict whose values and items are code of its own."""

    def values(self) -> Any:
        return _counted("dict", dict.values(self))

    def items(self) -> Any:
        return _counted("dict", dict.items(self))


@given(
    st.sampled_from([LazyList, LazySet, LazyDeque, LazyDict]),
    st.lists(st.integers(-1000, 1000), max_size=5, unique=True),
    st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_a_container_iterating_by_its_own_code_is_read_as_its_base_type(
    kind: type, values: list[int], with_iterator: bool
) -> None:
    """Capture never calls a container subclass's own iteration (a lazy list's would
    read its source dry, an endless one hung the call): it records what the container
    holds, as its base type reads it, iterator inside or not."""
    held: list[Any] = [*values, iter([1])] if with_iterator else list(values)
    if kind is LazyDict:
        value: Any = LazyDict({str(i): v for i, v in enumerate(held)})
    elif kind is LazySet:
        value = LazySet(values)
    else:
        value = kind(held)

    @lg.trace
    def keep(container: Any) -> int:
        return len(container)

    _calls.clear()
    with capture() as records:
        assert keep(value) == len(value)
    assert _calls == []
    written = records[0].input["container"]
    if kind is LazyDict:
        assert list(written) == [str(i) for i in range(len(held))]
    elif kind is LazySet:
        assert sorted(written) == sorted(values)
    else:
        assert written[: len(values)] == values
