"""The normalized reply, and the helpers that read a response by its shape."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from llmguard._core.records import Usage

__all__ = [
    "MAX_TOKENS",
    "Adapter",
    "Matcher",
    "Reply",
    "ReportedError",
    "ToolCall",
    "Usage",
    "arguments",
    "as_int",
    "as_list",
    "as_str",
    "checked_usage",
    "from_litellm",
    "get",
    "get_rare",
    "read_by_attribute",
    "token_count",
]

#: The most tokens one response can report; a larger count is garbage, not a count.
MAX_TOKENS = 10**12


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool (function) call the model asked for.

    ``arguments`` is kept as the provider gave it: a JSON string for OpenAI, a dict for
    Anthropic. Parsing it is the schema layer's job, with its lenient repairs. ``kind`` is
    ``"custom"`` for a call to an OpenAI custom tool, whose ``arguments`` are its
    free-form ``input``; ``"function"`` otherwise.
    """

    id: str | None
    name: str
    arguments: str | dict[str, object]
    kind: str = "function"


@dataclass(frozen=True, slots=True)
class ReportedError:
    """A failure the provider reported inside a response it had started: a stream's
    ``error`` event, a Responses API response whose status is ``failed``. Each field is
    ``None`` when the provider left it out."""

    type: str | None
    code: str | None
    message: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A model's answer, the same whatever the provider.

    ``usage`` is ``None`` when the response did not report it. ``finish_reason`` is one of
    ``"stop"``, ``"length"``, ``"tool_calls"``, ``"refusal"``, ``"content_filter"`` or the
    provider's own value when it has no equivalent. ``provider`` is ``"openai"``,
    ``"anthropic"``, ``"litellm"``, or ``None`` for plain text. ``problems`` names the
    token counts the response reported that are not counts (negative, fractional, NaN...),
    which ``usage`` holds as unknown; the guard reports them. ``thinking`` holds
    Anthropic's thinking blocks as they came (``{"type": "thinking", "thinking": ...,
    "signature": ...}`` or ``{"type": "redacted_thinking", "data": ...}``), in order: a
    re-ask of a tool call must send them back unchanged, where they stood.
    ``thinking_after`` says where: for each thinking block, how many of ``tool_calls``
    came before it (interleaved thinking); empty when they all came first. ``turn`` is
    an Anthropic answer's content as it came, for a re-ask to send back in its order: its
    thinking, redacted thinking and non-blank text blocks, the blocks of server tools
    (``server_tool_use``, ``web_search_tool_result``...) and of types not known yet as
    they came, and a ``{"type": "tool_use"}`` in the place of each of ``tool_calls``.
    ``reasoning_content`` is the reasoning an OpenAI-compatible server returns beside
    tool calls (DeepSeek's thinking mode), which a tool re-ask must send back on its
    assistant turn; read only beside tool calls.
    ``error`` is the failure the provider reported in the response instead of finishing
    it, when it did: the answer is then the server's failure, not the model's.
    ``call_extras`` holds, for each of ``tool_calls``, the ``extra_content`` an
    OpenAI-compatible server attached to it (Gemini's thought signature, which it
    requires back with the call), or ``None``; empty when no call had any.
    ``reasoning_details`` is OpenRouter's reasoning beside tool calls, the message's
    ``reasoning_details`` as they came (``reasoning.text`` with its signature,
    ``reasoning.encrypted``, ``reasoning.summary``; a stream's deltas put back together),
    which a tool re-ask must send back unchanged on its assistant turn.
    """

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    model: str | None = None
    finish_reason: str | None = None
    refusal: str | None = None
    response_id: str | None = None
    provider: str | None = None
    problems: tuple[str, ...] = ()
    thinking: tuple[dict[str, str], ...] = ()
    thinking_after: tuple[int, ...] = ()
    turn: tuple[dict[str, Any], ...] = ()
    reasoning_content: str | None = None
    error: ReportedError | None = None
    call_extras: tuple[Any, ...] = ()
    reasoning_details: tuple[Any, ...] = ()


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


# (class, field) pairs for which `get_rare` reads a pydantic model's extra fields
# directly, and the pairs already looked at; bounded like _PLAIN.
_UNDECLARED: set[tuple[type, str]] = set()
_LOOKED_AT: set[tuple[type, str]] = set()
_NOTHING = object()


def get_rare(obj: object, name: str) -> object:
    """`get`, for a field that many responses' classes do not declare.

    Asking a pydantic model for an attribute its class lacks raises and catches an
    AttributeError inside pydantic (a few microseconds). For such a class, known once,
    this reads what that lookup would find -- the instance's own dict, then the model's
    extra fields -- without the exception.
    """
    cls = type(obj)
    key = (cls, name)
    if key in _UNDECLARED:
        found = obj.__dict__.get(name, _NOTHING)
        if found is not _NOTHING:
            return found
        extra = getattr(obj, "__pydantic_extra__", None)
        return extra[name] if extra and name in extra else None
    if key not in _LOOKED_AT and len(_LOOKED_AT) < 256:
        _LOOKED_AT.add(key)
        if _undeclared(cls, name):
            _UNDECLARED.add(key)
    return get(obj, name)


def _undeclared(cls: type, name: str) -> bool:
    """Whether ``cls`` is a pydantic model whose instances find ``name`` only in their
    own dict or their extra fields: not a field, a private attribute, nor anything of
    the class, and no lookup of its own."""
    fields = getattr(cls, "__pydantic_fields__", None)
    private = getattr(cls, "__private_attributes__", None)
    hook = getattr(cls, "__getattr__", None)
    return (
        isinstance(fields, dict)
        and isinstance(private, dict)
        and name not in fields
        and name not in private
        and not name.startswith("_")
        and not hasattr(cls, name)
        and not issubclass(cls, Mapping)
        and getattr(hook, "__module__", None) == "pydantic.main"
        and cls.__getattribute__ is object.__getattribute__
    )


def read_by_attribute(obj: object) -> bool:
    """Whether `get` reads ``obj`` as ``getattr(obj, name, None)``: its class was met
    before and is no mapping (an SDK object, most often).

    Readers that check this once per object may then call ``getattr`` themselves, and
    read what `get` would, without a call of `get` for every field.
    """
    return type(obj) in _PLAIN


def as_str(value: object) -> str | None:
    """The value if it is a string, else ``None``."""
    return value if isinstance(value, str) else None


def as_int(value: object) -> int | None:
    """The value if it is an int, else ``None``."""
    # bool is an int subclass; a True token count is malformed, not 1.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def token_count(value: object, name: str, problems: list[str]) -> int | None:
    """A token count a response reported; ``None`` when absent or not a count.

    A count is a whole number from 0 to `MAX_TOKENS` (``5.0`` reads as 5). Anything
    else -- negative, fractional, NaN, absurdly large, a string, a bool -- is read as
    unknown, and ``problems`` gets a line naming the field and what was wrong; a value
    that is not a number is named by its type alone, as it may hold anything.
    """
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= MAX_TOKENS:
            return int(value)  # int subclasses become plain ints
        what = "negative" if value < 0 else f"over {MAX_TOKENS:.0e}"
    elif isinstance(value, float):
        if value.is_integer() and 0 <= value <= MAX_TOKENS:
            return int(value)
        if math.isnan(value) or math.isinf(value) or value < 0:
            what = repr(value)
        else:
            what = f"{value!r}, not a whole number" if value < MAX_TOKENS else "too large"
    else:
        what = f"a {type(value).__name__}"
    problems.append(f"{name} is {what}")
    return None


def checked_usage(reply: Reply) -> Reply:
    """``reply`` with each count of its usage that is not a count made unknown.

    For replies made by code llmguard does not own (registered adapters), which may
    put anything in a `Usage`; the built-in adapters read counts with `token_count`.
    """
    usage = reply.usage
    if usage is None:
        return reply
    problems: list[str] = []
    counts = {
        name: token_count(getattr(usage, name), name, problems)
        for name in ("input", "output", "cached_input", "cache_write", "reasoning", "total")
    }
    if not problems:
        return reply
    fixed = Usage(**counts, estimated=usage.estimated is True)
    return dataclasses.replace(reply, usage=fixed, problems=(*reply.problems, *problems))


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
