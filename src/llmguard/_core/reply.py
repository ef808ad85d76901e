"""The normalized reply, and the helpers that read a response by its shape."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from llmguard._core.records import Usage

__all__ = [
    "Adapter",
    "Matcher",
    "Reply",
    "ToolCall",
    "Usage",
    "arguments",
    "as_int",
    "as_list",
    "as_str",
    "from_litellm",
    "get",
]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool (function) call the model asked for.

    ``arguments`` is kept as the provider gave it: a JSON string for OpenAI, a dict for
    Anthropic. Parsing it is the schema layer's job, with its lenient repairs.
    """

    id: str | None
    name: str
    arguments: str | dict[str, object]


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A model's answer, the same whatever the provider.

    ``usage`` is ``None`` when the response did not report it. ``finish_reason`` is one of
    ``"stop"``, ``"length"``, ``"tool_calls"``, ``"refusal"``, ``"content_filter"`` or the
    provider's own value when it has no equivalent. ``provider`` is ``"openai"``,
    ``"anthropic"``, ``"litellm"``, or ``None`` for plain text.
    """

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    model: str | None = None
    finish_reason: str | None = None
    refusal: str | None = None
    response_id: str | None = None
    provider: str | None = None


#: Says whether a response has the shape an `Adapter` reads.
Matcher: TypeAlias = Callable[[object], bool]
#: Reads a response into a `Reply`; may raise on a malformed one.
Adapter: TypeAlias = Callable[[object], Reply]


# Classes known not to be mappings. get() runs a score of times per response, and this set
# lookup is a fraction of an ABC isinstance check; bounded, so dynamic classes can't grow it.
_PLAIN: set[type] = set()


def get(obj: object, name: str) -> object:
    """``obj[name]`` for a mapping, ``obj.name`` otherwise; ``None`` when absent.

    One reader for SDK objects and their ``model_dump()`` dicts alike.
    """
    cls = type(obj)
    if cls in _PLAIN:  # an SDK object, most often: the cheapest test first
        return getattr(obj, name, None)
    if isinstance(obj, (dict, Mapping)):
        return obj.get(name)
    if len(_PLAIN) < 256:
        _PLAIN.add(cls)
    return getattr(obj, name, None)


def as_str(value: object) -> str | None:
    """The value if it is a string, else ``None``."""
    return value if isinstance(value, str) else None


def as_int(value: object) -> int | None:
    """The value if it is an int, else ``None``."""
    # bool is an int subclass; a True token count is malformed, not 1.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_list(value: object) -> Sequence[object]:
    """A list field: ``None`` reads as empty.

    Raises:
        TypeError: The value is neither ``None`` nor a list or tuple — a malformed
            response, which ``adapt`` turns into ``None``.
    """
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return value
    raise TypeError(f"expected a list, got {type(value).__name__}")


def arguments(value: object) -> str | dict[str, object]:
    """Tool-call arguments as given: a string stays, a mapping is copied, else JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return dict(value)  # a copy: the frozen Reply must not alias the SDK's dict
    return "" if value is None else json.dumps(value, default=repr)


def from_litellm(obj: object) -> bool:
    """Whether the object's class comes from LiteLLM (checked without importing it)."""
    return type(obj).__module__.partition(".")[0] == "litellm"
