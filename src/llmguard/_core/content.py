"""Captured content: safe JSON snapshots of arbitrary values and size-bounded copies."""

from __future__ import annotations

import hashlib
from typing import Any

from llmguard._core.records import ContentDigest

__all__ = ["fit", "safe_repr", "snapshot"]

_SCALARS = (str, int, type(None))  # not float: NaN and infinities become null


def safe_repr(value: object, limit: int = 200) -> str:
    """``repr(value)`` cut to ``limit`` characters; never raises."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fallback(value: object) -> str:
    return f"<{type(value).__name__}>"


def snapshot(value: Any, _depth: int = 2) -> Any:
    """A JSON-compatible copy of ``value``, taken now, that later mutation cannot change.

    Anything JSON cannot hold is rendered as a short marker instead of raising: unknown
    objects become ``"<TypeName>"``, bytes become base64, NaN becomes null. When a
    container cannot be walked as a whole (a reference cycle somewhere inside), its
    items are taken one by one, so one bad argument does not hide the others.
    """
    if isinstance(value, _SCALARS):
        return value
    try:
        return _plain_copy(value, _PLAIN_DEPTH)
    except _NotPlain:
        pass
    import pydantic_core  # what plain Python cannot copy; kept off `import llmguard`

    try:
        return pydantic_core.to_jsonable_python(
            value, fallback=_fallback, bytes_mode="base64", inf_nan_mode="null"
        )
    except Exception:
        if _depth > 0 and isinstance(value, dict):
            return {str(k): snapshot(v, _depth - 1) for k, v in value.items()}
        if _depth > 0 and isinstance(value, (list, tuple)):
            return [snapshot(v, _depth - 1) for v in value]
        return f"<unserializable {type(value).__name__}: {safe_repr(value, 120)}>"


class _NotPlain(Exception):
    """Raised by `_plain_copy` on a value it leaves to pydantic-core."""


_PLAIN_DEPTH = 6


def _plain_copy(value: Any, depth: int) -> Any:
    """Copy JSON made of dicts with string keys, lists, tuples and scalars, in Python.

    The common case of `snapshot` (chat messages, keyword arguments). Plain Python runs
    on the interpreter's paths the application keeps warm, where pydantic-core's
    serializer, touched once per call between the application's own work, runs cold:
    measured beside real SDK calls, a two-message list cost 5-11 µs that way and next
    to nothing this way. Anything else -- a subclass, a non-string key, NaN, deeper
    nesting -- raises `_NotPlain` for pydantic-core to handle.
    """
    cls = type(value)
    if cls is str or cls is int or cls is bool or value is None:
        return value
    if cls is float:
        if value - value == 0.0:  # finite: inf - inf and nan - nan are nan
            return value
        raise _NotPlain
    if depth:
        depth -= 1
        if cls is dict:
            copied = {}
            for key, item in value.items():
                if type(key) is not str:
                    raise _NotPlain
                copied[key] = _plain_copy(item, depth)
            return copied
        if cls is list or cls is tuple:
            return [_plain_copy(item, depth) for item in value]
    raise _NotPlain


def fit(value: Any, max_bytes: int) -> tuple[Any, ContentDigest | None]:
    """Bound a snapshot to ``max_bytes`` of JSON while keeping it valid JSON.

    Returns the value unchanged with ``None`` when it fits. Otherwise long strings are
    cut, long lists and objects are shortened, each with a marker saying how much was
    left out, and the digest of the full value is returned beside the shortened one.
    """
    import pydantic_core

    raw = pydantic_core.to_json(value)
    if len(raw) <= max_bytes:
        return value, None
    digest = ContentDigest(bytes=len(raw), sha256=hashlib.sha256(raw).hexdigest())
    budget = max(max_bytes // 2, 16)
    while True:
        shrunk = _shrink(value, budget, max(budget // 64, 1))
        if len(pydantic_core.to_json(shrunk)) <= max_bytes or budget <= 16:
            break
        budget //= 2
    if len(pydantic_core.to_json(shrunk)) > max_bytes:
        shrunk = f"<{digest.bytes} bytes left out>"
    return shrunk, digest


def _shrink(value: Any, chars: int, items: int) -> Any:
    if isinstance(value, str):
        if len(value) <= chars:
            return value
        return f"{value[:chars]}…[+{len(value) - chars} chars]"
    if isinstance(value, list):
        kept = [_shrink(v, chars, items) for v in value[:items]]
        if len(value) > items:
            kept.append(f"…[+{len(value) - items} items]")
        return kept
    if isinstance(value, dict):
        out = {k: _shrink(v, chars, items) for k, v in list(value.items())[:items]}
        if len(value) > items:
            out["…"] = f"+{len(value) - items} keys"
        return out
    return value
