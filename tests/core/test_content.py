"""Captured content: snapshots, safe repr and size-bounded copies."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Any

import pydantic
import pydantic_core
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard._core.content import fit, safe_repr, snapshot


class Opaque:
    """An object JSON knows nothing about."""


class BadRepr:
    """An object whose repr() raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


@dataclasses.dataclass
class Point:
    x: int
    y: int


def json_size(value: Any) -> int:
    return len(pydantic_core.to_json(value))


# -- snapshot ------------------------------------------------------------------------


def test_snapshot_is_a_copy_that_later_mutation_does_not_change() -> None:
    """Mutating the original after the snapshot leaves the snapshot as it was."""
    original: dict[str, Any] = {"docs": ["a"], "meta": {"k": 1}}
    copied = snapshot(original)
    original["docs"].append("b")
    original["meta"]["k"] = 2
    original["new"] = True
    assert copied == {"docs": ["a"], "meta": {"k": 1}}


def test_snapshot_keeps_json_values_as_they_are() -> None:
    """Scalars, lists and dicts of JSON types come back equal."""
    value = {"s": "text", "i": 3, "f": 1.5, "b": False, "n": None, "l": [1, [2]]}
    assert snapshot(value) == value
    assert snapshot("plain") == "plain"
    assert snapshot(None) is None


def test_snapshot_renders_unknown_objects_as_type_name() -> None:
    """An object JSON cannot hold becomes "<TypeName>"."""
    assert snapshot(Opaque()) == "<Opaque>"
    assert snapshot({"obj": Opaque(), "ok": 1}) == {"obj": "<Opaque>", "ok": 1}


def test_snapshot_renders_bytes_as_their_text() -> None:
    """Bytes become their UTF-8 text, other bytes U+FFFD; never base64."""
    key = b"token sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
    assert snapshot({"blob": b"\x00\xffbinary", "key": key, "t": ("caf\u00e9".encode(),)}) == {
        "blob": "\x00\ufffdbinary",
        "key": key.decode(),
        "t": ["caf\u00e9"],
    }
    assert snapshot({1: b"\xff" + key}) == {"1": "\ufffd" + key.decode()}


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_snapshot_renders_non_finite_floats_as_none(number: float) -> None:
    """NaN and infinities, alone or inside containers, become None (JSON null)."""
    assert snapshot({"x": number, "l": [number]}) == {"x": None, "l": [None]}
    assert snapshot(number) is None


def test_snapshot_converts_tuples_and_dataclasses() -> None:
    """Tuples become lists and dataclasses become dicts."""
    assert snapshot((1, Point(1, 2))) == [1, {"x": 1, "y": 2}]


def test_snapshot_of_dict_with_cyclic_list_keeps_the_other_keys() -> None:
    """A reference cycle in one value does not hide the dict's other keys."""
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    result = snapshot({"ok": "kept", "n": 2, "cycle": cyclic})
    assert result["ok"] == "kept"
    assert result["n"] == 2
    assert set(result) == {"ok", "n", "cycle"}
    assert isinstance(pydantic_core.to_json(result), bytes)


def test_snapshot_of_a_cyclic_dict_is_serialisable() -> None:
    """A dict that contains itself still gives a JSON-compatible snapshot."""
    cyclic: dict[str, Any] = {"name": "loop"}
    cyclic["self"] = cyclic
    result = snapshot(cyclic)
    assert result["name"] == "loop"
    assert isinstance(pydantic_core.to_json(result), bytes)


# -- safe_repr -----------------------------------------------------------------------


def test_safe_repr_is_repr_when_short() -> None:
    """A short repr comes back unchanged."""
    assert safe_repr([1, "a"]) == "[1, 'a']"


def test_safe_repr_never_raises_when_repr_fails() -> None:
    """An object whose __repr__ raises gives a marker naming its type."""
    assert safe_repr(BadRepr()) == "<BadRepr object>"


def test_safe_repr_truncates_to_limit() -> None:
    """A long repr is cut to exactly the limit, ending with an ellipsis."""
    text = safe_repr("x" * 1000, limit=50)
    assert len(text) == 50
    assert text.endswith("…")
    assert text.startswith("'xxx")
    assert len(safe_repr("y" * 1000)) == 200


# -- fit -----------------------------------------------------------------------------


def test_fit_returns_value_unchanged_when_within_limit() -> None:
    """A value whose JSON fits is returned as the same object, with no digest."""
    value = {"messages": ["hello"] * 3}
    shortened, digest = fit(value, 256)
    assert shortened is value
    assert digest is None


def test_fit_at_exact_limit_does_not_shorten() -> None:
    """A value whose JSON is exactly the limit fits."""
    value = "a" * 254  # two quotes make 256 bytes of JSON
    assert json_size(value) == 256
    assert fit(value, 256) == (value, None)


@pytest.mark.parametrize(
    "value",
    [
        "x" * 10_000,
        "é" * 3_000,
        "\x00" * 2_000,
        list(range(5_000)),
        {f"key{i}": "v" * 50 for i in range(400)},
        {"messages": [{"role": "user", "content": "c" * 4000}] * 20},
        [[[[[["deep"] * 100] * 5] * 5] * 5] * 5],
    ],
    ids=["long-str", "non-ascii", "escaped", "long-list", "wide-dict", "nested", "deep"],
)
def test_fit_shortens_oversized_value_and_digests_the_full_one(value: Any) -> None:
    """An oversized value is shortened within the limit; the digest describes the full JSON."""
    limit = 1024
    full = pydantic_core.to_json(value)
    shortened, digest = fit(value, limit)
    assert digest == lg.types.ContentDigest(
        bytes=len(full), sha256=hashlib.sha256(full).hexdigest()
    )
    assert json_size(shortened) <= limit
    assert shortened != value


def test_fit_marks_how_much_of_a_string_was_left_out() -> None:
    """A cut string keeps its beginning and says how many characters were left out."""
    shortened, _ = fit("x" * 10_000, 512)
    assert isinstance(shortened, str)
    assert shortened.startswith("x" * 100)
    left_out = 10_000 - shortened.index("…")
    assert shortened.endswith(f"…[+{left_out} chars]")


def test_fit_marks_how_many_list_items_were_left_out() -> None:
    """A shortened list ends with a marker counting the items left out."""
    shortened, _ = fit(list(range(5_000)), 512)
    assert isinstance(shortened, list)
    kept = len(shortened) - 1
    assert shortened[:kept] == list(range(kept))
    assert shortened[-1] == f"…[+{5_000 - kept} items]"


def test_fit_replaces_a_value_it_cannot_shorten_with_a_size_marker() -> None:
    """When shortening cannot get under the limit (keys are kept whole), a marker remains."""
    value = {"k" * 2_000: 1}
    shortened, digest = fit(value, 256)
    assert digest is not None
    assert shortened == f"<{digest.bytes} bytes left out>"
    assert digest.bytes == json_size(value)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=200,
)


# The values where a cut that looks short enough is not: strings whose JSON escapes
# grow them (control characters, quotes, backslashes) and multi-byte characters, cut
# in a list, in an object and alone, just past the bound and far past it.
@settings(max_examples=30, deadline=None)  # shrinking a large value takes a while
@given(value=json_values, limit=st.integers(min_value=256, max_value=5000))
@example(value={"k": "\x00" * 300, "q": ['"' * 90, "\\" * 90], "e": "é" * 50}, limit=256)
@example(value=["\x1f\u2028" * 400, {"": "\n" * 700}, 1.7976931348623157e308], limit=1000)
@example(value="\t" * 5000, limit=4999)
def test_fit_always_returns_valid_json_within_limit(value: Any, limit: int) -> None:
    """For any JSON-like value, fit's result is JSON of at most the limit that parses back."""
    shortened, digest = fit(value, limit)
    raw = pydantic_core.to_json(shortened)
    assert len(raw) <= limit
    assert pydantic_core.from_json(raw) == shortened
    if json_size(value) <= limit:
        assert digest is None
        assert shortened == value
    else:
        assert digest is not None
        assert digest.bytes == json_size(value)


# Values built from what snapshot copies in plain Python, and what it must hand over to
# pydantic-core: tuples, non-finite floats, int keys, str subclasses, deep nesting.
class _Label(str):
    pass


_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.builds(_Label, st.text(max_size=4)),
    st.binary(max_size=4),
)
_nested = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
        st.dictionaries(st.integers(), inner, max_size=2),
    ),
    max_leaves=30,
)


# 100 generated examples (was 300), after values holding what snapshot copies apart
# from JSON's plain types: NaN and the infinities (null), bytes that are not UTF-8, each
# alone among plain values (copied in Python) and all together with str subclasses, int
# keys and nesting past the plain copy's depth (handed to pydantic-core).
@settings(max_examples=100)
@given(_nested)
@example(
    {
        "floats": [math.nan, math.inf, -math.inf, -0.0, 1e308],
        "bytes": (b"\xff\xfe", b"ok", b""),
        "label": _Label("x"),
        "deep": [[[[[[[[{"k": (math.nan, b"\x80")}]]]]]]]],
        "ints": {1: -(2**70), 2: {3: math.inf}},
    }
)
@example([math.nan, (b"\xc3", _Label("y")), {0: b"\xe9"}])
@example({"a": [1.5, math.nan], "b": (math.inf, "x"), "c": -math.inf})
@example({"a": [b"\xff\xfe", "x"], "b": (b"\x80",), "c": b"\xe9"})
def test_snapshot_equals_pydantic_cores_jsonable_form(value: Any) -> None:
    """The plain-Python copy gives what pydantic-core would, for every mix of values."""
    expected = pydantic_core.to_jsonable_python(
        _bytes_as_text(value), fallback=lambda v: f"<{type(v).__name__}>", inf_nan_mode="null"
    )
    assert pydantic_core.to_json(snapshot(value)) == pydantic_core.to_json(expected)


def _bytes_as_text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {key: _bytes_as_text(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_bytes_as_text(item) for item in value]
    return value


_CAPTURED = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text()
    | st.binary(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        | st.tuples(inner, inner)
    ),
    max_leaves=24,
)


@given(value=_CAPTURED)
def test_a_packed_snapshot_unpacks_to_the_snapshot(value: Any) -> None:
    """Content packed as JSON on the caller's thread comes back as `snapshot` makes it,
    and its weight is its JSON's exact size (or, unpacked, its content size)."""
    from llmguard._core.content import content_size, is_packed, packed_snapshot, unpacked

    packed, size = packed_snapshot(value)
    assert unpacked(packed) == snapshot(value) or _has_nan(snapshot(value))
    if is_packed(packed):
        assert size == len(packed)
    else:
        assert size == content_size(packed)


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return value != value
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    return False


def test_packed_snapshots_and_record_json_hold_only_their_own_bytes() -> None:
    """orjson hands back bytes that keep its 4 KB working buffer; what llmguard queues is
    right-sized, so a queue of small records stays small (a stalled sink held 138 MB
    over a million calls before)."""
    import tracemalloc

    from llmguard._core.content import packed_snapshot

    record = lg.Record.from_json(
        b'{"schema_version": 1, "kind": "span", "name": "n", "trace_id": "t", '
        b'"span_id": "s", "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:01Z", '
        b'"duration_ms": 1000.0, "status": "ok"}'
    )
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        kept = [packed_snapshot({"x": index}) for index in range(1000)]
        kept += [(record.to_json(), 0) for _ in range(1000)]
        grown = sum(
            stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename")
        )
    finally:
        tracemalloc.stop()
    assert len(kept) == 2000
    assert grown < 600_000, f"{grown:,} bytes for 2,000 small snapshots and records"


class _Dict(dict):  # type: ignore[type-arg]
    pass


class _List(list):  # type: ignore[type-arg]
    pass


class _Holder(pydantic.BaseModel):
    value: Any = None


@settings(max_examples=200)
@given(
    _nested,
    st.sampled_from(["model", "dict subclass", "list subclass", "dataclass", "namedtuple"]),
)
def test_snapshot_of_other_types_is_pydantic_cores_form(value: Any, wrap: str) -> None:
    """A value of a type plain Python does not copy (a pydantic model, a subclass, a
    dataclass) is snapshotted by pydantic-core straight away: the copy, its size and
    its packed form are what the conversion gives."""
    import collections

    from llmguard._core.content import _converted, content_size, packed_snapshot, sized_snapshot

    @dataclasses.dataclass
    class Box:
        value: Any

    Pair = collections.namedtuple("Pair", "value other")
    wrapped: Any = {
        "model": lambda: _Holder(value=value),
        "dict subclass": lambda: _Dict(value=value),
        "list subclass": lambda: _List([value, "x"]),
        "dataclass": lambda: Box(value),
        "namedtuple": lambda: Pair(value, 1),
    }[wrap]()
    expected = _converted(wrapped, 2)
    copied, size = sized_snapshot(wrapped)
    assert pydantic_core.to_json(copied) == pydantic_core.to_json(expected)
    assert size == content_size(expected)
    assert packed_snapshot(wrapped) == (copied, size)
