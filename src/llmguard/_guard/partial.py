"""Partial objects while a guarded answer streams: ``guard.stream(fn, ...)``.

The stream is read through the same flow as a guarded call (`Steps`): attempts,
corrective re-asks, transient retries and fallbacks, with the same records. Where the
decorated call's driver would drain a stream in one go, the drivers here read it chunk
by chunk and hand the caller what has arrived so far:

- jiter reads the answer so far in its partial mode (an unfinished string is kept as
  far as it goes); nothing here parses JSON by hand;
- for a pydantic model, pydantic validates that data against a *partial copy* of the
  model -- the same field names, every field optional and ``None`` until it arrives,
  constraints and validators left to the final check -- and a field whose value does
  not validate yet (a ``Literal`` half written) is left out of that partial;
- for a list schema (``list[Item]``, ``Iterable[Item]``...), each item is validated in
  full against ``Item`` once the next one has begun, and handed over one by one.

Re-reading the whole answer at every chunk would cost O(n²) over a long answer, so the
answer is re-read only when the chunks received since the last reading are a sixteenth
of all the chunks so far (and at every chunk of the first sixteen): O(n log n) work over
a stream of n chunks, whatever their size, for a few dozen readings of a typical answer.

The complete answer is then validated by the flow, exactly as a decorated call's is; an
answer that fails is re-asked, and the re-ask streams too.
"""

from __future__ import annotations

import inspect
import json
import re
import time
import types
from collections import abc
from collections.abc import AsyncIterable, AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    Generic,
    Protocol,
    TypeVar,
    Union,
    get_args,
    get_origin,
)

from llmguard._core.records import StreamEnd
from llmguard._core.wrap import CallKind, call_kind
from llmguard._guard.call import Call, Parameters, prefill
from llmguard._guard.drivers import (
    Done,
    Drain,
    Invoke,
    Pause,
    Result,
    aclose,
    close,
    invoke_async,
    invoke_sync,
    reply_of,
)
from llmguard._guard.flow import Steps
from llmguard._guard.handler import GuardHandler, Policy, failed, succeeded
from llmguard._guard.schema import (
    MAX_EMBEDDED_STARTS,
    RESCAN_CHARS,
    WRAPPER_KEYS,
    SchemaErrors,
    answer_start,
    lone_close_end,
)
from llmguard._tracing.spans import Span, active_span
from llmguard.adapters import Reply, StreamAccumulator, accumulator_for
from llmguard.exceptions import ConfigurationError

if TYPE_CHECKING:
    import pydantic

    from llmguard._guard.schema import CompiledSchema

__all__ = [
    "READ_EVERY",
    "AsyncPartials",
    "Partial",
    "PartialStream",
    "PartialView",
    "Partials",
    "partial_json",
    "partial_view",
    "partials",
]

T = TypeVar("T")

#: Chunks that may arrive between two readings of the answer, as a fraction of the
#: chunks received so far: the answer is re-read once that many more have come in.
READ_EVERY = 16


@dataclass(frozen=True, slots=True)
class Partial(Generic[T]):
    """One step of a streamed guarded answer.

    Attributes:
        value: The answer so far. While it streams: for a pydantic model, an instance of
            a partial copy of the model (every field ``None`` until it arrives; no
            validators run); for a list schema, the list of the items completed so far,
            each fully validated (one list, grown in place); for other schemas, the
            JSON read so far. When ``final``, the validated value, as the guarded
            function would return it (or a `Failure` under ``on_fail="return"``).
        final: True for the last partial, whose value passed the schema.
        attempt: The attempt the answer belongs to: 1, then 2 for a re-ask, and so on.
        reset: True on the first partial after what was shown was withdrawn: forget
            it. A re-asked attempt (the earlier answer was refused), a lone closing
            ``</think>`` (what came before it was reasoning), a tool call that is the
            answer after text; the final partial when no other came since.
        item: For a list schema, the item that just completed (fully validated).
    """

    value: T
    final: bool = False
    attempt: int = 1
    reset: bool = False
    item: Any = None


# -- reading the answer so far -------------------------------------------------------------


class _Nothing:
    """What a reading gives when there is nothing new to show."""


_NOTHING = _Nothing()


class PartialView:
    """How one schema turns the JSON read so far into partial values; built once.

    ``mode`` is ``"items"`` (a list schema: each complete item validated against
    ``item``), ``"object"`` (validated against the partial copy ``loose``) or ``"raw"``
    (the JSON as read: JSON Schema dicts and types with no partial copy).
    """

    __slots__ = ("item", "loose", "mode", "strict")

    def __init__(self, schema: CompiledSchema) -> None:
        import pydantic  # imported when first used: import llmguard stays light

        self.mode = "raw"
        # Items are validated as the final check will: in strict mode under strict=True.
        self.strict: bool | None = True if schema.strict else None
        self.item: pydantic.TypeAdapter[Any] | None = None
        self.loose: pydantic.TypeAdapter[Any] | None = None
        if schema.kind == "json_schema":
            return
        source = schema.source
        element = _element_type(source)
        try:
            if element is not None:
                self.item = pydantic.TypeAdapter(element)
                self.mode = "items"
            else:
                self.loose = pydantic.TypeAdapter(_loose(source, set()))
                self.mode = "object"
        except Exception:  # a type with no partial copy (a recursive model...): as read
            self.mode = "raw"

    def validate_loose(self, data: Any) -> Any:
        """The partial value of ``data``; what does not validate yet is left out."""
        import pydantic  # imported when first used: import llmguard stays light

        assert self.loose is not None
        for _ in range(3):
            try:
                return self.loose.validate_python(data, experimental_allow_partial=True)
            except pydantic.ValidationError as exc:
                if not _drop(data, exc.errors(include_url=False, include_input=False)):
                    return _NOTHING
                if not data:  # nothing left that validates yet
                    return _NOTHING
        return _NOTHING


@lru_cache(maxsize=256)
def partial_view(schema: CompiledSchema) -> PartialView:
    """The view of ``schema``, built once per compiled schema (guards are long-lived)."""
    return PartialView(schema)


_SEQUENCES: frozenset[Any] = frozenset({list, tuple, set, frozenset, abc.Iterable, abc.Sequence})


def _element_type(tp: Any) -> Any:
    """The item type of a list-like schema (``list[X]``, ``Iterable[X]``...), else None."""
    origin = get_origin(tp)
    if origin is None or origin not in _SEQUENCES:
        return None
    args = get_args(tp)
    if origin is tuple:
        return args[0] if len(args) == 2 and args[1] is Ellipsis else None
    return args[0] if len(args) == 1 else Any


def _loose(tp: Any, seen: set[type]) -> Any:
    """The partial copy of a type: models with every field optional, no constraints."""
    import pydantic  # imported when first used: import llmguard stays light

    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        if tp in seen:
            raise TypeError(f"{tp.__name__} is recursive")
        seen = seen | {tp}
        fields: dict[str, Any] = {}
        for name, info in tp.model_fields.items():
            loose = _loose(info.annotation, seen)
            fields[name] = (
                Union[loose, None],  # noqa: UP007 - built at run time from a variable
                pydantic.Field(
                    default=None, alias=info.alias, validation_alias=info.validation_alias
                ),
            )
        config = pydantic.ConfigDict(
            extra="ignore", arbitrary_types_allowed=True, validate_by_name=True
        )
        partial: type[pydantic.BaseModel] = pydantic.create_model(
            f"Partial{tp.__name__}", __config__=config, __module__=tp.__module__, **fields
        )
        return partial
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is None or not args:
        return tp
    if origin in _SEQUENCES:
        element = _element_type(tp)
        return types.GenericAlias(list, (Any if element is None else _loose(element, seen),))
    if origin is dict or origin is abc.Mapping:
        return types.GenericAlias(dict, (args[0], _loose(args[1], seen)))
    if origin is Annotated:
        return _loose(args[0], seen)
    if origin is Union or origin is types.UnionType:
        loose_args = tuple(_loose(arg, seen) for arg in args)
        return Union[loose_args]  # noqa: UP007
    return tp


def _drop(data: Any, errors: list[Any]) -> bool:
    """Remove from ``data`` the values the errors point at; whether any was removed."""
    removed = False
    # The deepest and latest first, so an index removed does not shift another.
    for error in sorted(errors, key=lambda e: tuple(map(str, e["loc"])), reverse=True):
        loc = error["loc"]
        node = data
        for key in loc[:-1]:
            node = _child(node, key)
            if node is None:
                break
        else:
            if loc and _remove(node, loc[-1]):
                removed = True
    return removed


def _child(node: Any, key: Any) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return None


def _remove(node: Any, key: Any) -> bool:
    if isinstance(node, dict) and key in node:
        del node[key]
        return True
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        del node[key:]  # a list item that does not validate hides the items after it
        return True
    return False


class _Reader:
    """One attempt's stream, read along: the reply for the records, partials for the caller."""

    __slots__ = (
        "accumulator",
        "answer",
        "at",
        "attempt",
        "broken",
        "chunks",
        "context",
        "due",
        "emitted",
        "head",
        "items",
        "last",
        "moves",
        "pending",
        "prose",
        "scanned",
        "schema",
        "start",
        "switched",
        "valid",
        "view",
    )

    def __init__(
        self,
        view: PartialView,
        schema: CompiledSchema,
        attempt: int,
        context: dict[str, Any] | None,
        head: str = "",
    ) -> None:
        self.view = view
        self.schema = schema
        self.attempt = attempt
        self.context = context
        self.head = head  # an Anthropic prefill, which the answer's text continues
        self.accumulator: StreamAccumulator | None = None
        self.chunks = 0
        self.due = 1  # the chunk count at which the answer is read next
        self.emitted = 0
        self.start = -1  # where the JSON begins in the answer, once found
        self.at = -1  # the opener it is read from: openers in prose before it passed over
        self.moves = 0  # openers passed over since `start` was found
        self.valid = -1  # the opener whose whole value passed the schema
        self.prose = False  # whether prose comes before `start` (openers there passed over)
        self.scanned = 0  # where the next search for a closing tag starts
        self.last: Any = _NOTHING
        self.items: list[Any] = []
        self.broken = False  # an item failed: the final check will say why
        self.pending: list[Partial[Any]] = []
        self.answer = -1  # the tool call read as the answer, by index; -1 for the text
        self.switched = False  # the next partial drops what an earlier source showed

    def reply(self) -> Reply | None:
        """What was read, as a reply (``None`` when no chunk could be read)."""
        return reply_of(self.accumulator)

    def result(
        self, error: BaseException | None = None, closed_with: Exception | None = None
    ) -> Result:
        """The flow's answer to its `Drain`: the reply, and what cut the stream short
        (else what its ``close()`` raised once it was read whole)."""
        closed = closed_with if error is None else None
        response = None if self.accumulator is None else self.accumulator.response
        return Result(self.reply(), error, closed, response)

    def feed(self, chunk: object) -> None:
        """Read one chunk; the partials it completes go to ``pending``."""
        if self.accumulator is None:
            self.accumulator = accumulator_for(chunk)
            if self.accumulator is None:
                return
        self.accumulator.feed(chunk)
        self.chunks += 1
        if self.chunks < self.due or self.broken:
            return
        self.due = self.chunks + max(1, self.chunks // READ_EVERY)
        try:
            self._read()
        except Exception:  # showing partials must never break the guarded call
            return

    def finish(self) -> None:
        """The stream has ended: hand over the list items not handed over yet, and note
        what the chunks not read yet withdrew (a lone closing tag, a tool call), which the
        final partial then says."""
        items = self.view.mode == "items"
        if self.broken and items:
            return
        try:
            self._read(ended=True, show=items)
        except Exception:
            return

    def _read(self, ended: bool = False, show: bool = True) -> None:
        reply = self.reply()
        view = self.view
        answer = -1
        if reply is not None and reply.tool_calls:
            answer = self.schema.answer_call(reply.tool_calls) or 0
        if answer != self.answer:
            # Prose, then a tool call (Anthropic text and tool_use blocks), or a call to
            # another tool, then the one named for the schema: the final check reads
            # the call the schema's rule picks, so the partials do too, from its own
            # start; what the earlier source showed is dropped.
            self.answer = answer
            self.start, self.last, self.items, self.broken = -1, _NOTHING, [], False
            self.scanned = 0
            self.switched = self.emitted > 0
        text = _answer_so_far(reply, answer)
        if answer < 0 and self.head and reply is not None and reply.provider == "anthropic":
            text = self.head + (text or "")  # read as the final check reads it
        if view.mode == "items" and reply is not None and len(reply.tool_calls) > 1:
            # Parallel tool calls under a list schema: each call is one item.
            self._items([_arguments(call.arguments) for call in reply.tool_calls], ended)
            return
        if not text:
            return
        start, prose = self.start, self.prose
        # Once the JSON has begun, only a closing tag arrived since the last reading can
        # move it: the text read before is not scanned again.
        if start < 0 or (answer < 0 and text.find(_CLOSING, self.scanned) >= 0):
            start, prose = _json_start(text, answer < 0)
        # A tag whose beginning has arrived but not its end is searched for again.
        self.scanned = max(len(text) - len(_LONGEST_CLOSING) + 1, 0)
        if start != self.start:
            if self.start >= 0:
                # A lone closing tag arrived (the reasoning was opened in the prompt):
                # what was read before it was reasoning, as the final check reads it.
                self.last, self.items, self.broken = _NOTHING, [], False
                self.switched = self.switched or self.emitted > 0
            self.start = self.at = start
            self.moves, self.valid, self.prose = 0, -1, prose
        if start < 0 or not show:
            return
        data = self._json_at(text)
        if data is _NOTHING:
            return
        if view.mode == "items":
            self._items(_unwrapped(data), ended)
            return
        if not data:
            return
        value = view.validate_loose(data) if view.mode == "object" else data
        if value is _NOTHING or value == self.last:
            return
        self.last = value
        self._emit(value, None)

    def _json_at(self, text: str) -> Any:
        """The JSON read from ``at``. An opener in prose that cannot begin the answer is
        passed over for the next, as the final check's search passes over it: text that
        is not JSON (``{category, urgency}``), or a whole value that fails the schema
        (``see [1]``). It held the partials back until the final value."""
        if not self.prose:  # the answer begins as JSON: read as it is
            try:
                return partial_json(text[self.at :])
            except ValueError:
                self.prose = True  # it began with a bracket of prose after all
        while True:
            at = self.at
            rest = text[at:]
            try:
                if len(rest) > RESCAN_CHARS:
                    # What follows an opener in prose is seldom JSON: a window says so
                    # at a cost that does not grow with the answer.
                    partial_json(rest[:RESCAN_CHARS])
                data = partial_json(rest)
            except ValueError:
                after = at + 1
            else:
                if at == self.valid or not _whole(rest):
                    return data
                after = _value_end(text, at)
                if after < 0:
                    return data  # too long to read again: shown
                if self._fits(text[at:after]):
                    self.valid = at
                    return data
                if _opener(text, after) < 0:
                    return data  # nothing after it to read instead, yet
            following = _opener(text, after)
            if following < 0 or self.moves >= MAX_EMBEDDED_STARTS:
                return _NOTHING
            if self.last is not _NOTHING or self.items:
                # What was shown from the value passed over is dropped.
                self.last, self.items, self.broken = _NOTHING, [], False
                self.switched = self.switched or self.emitted > 0
            self.at = following
            self.moves += 1

    def _fits(self, value: str) -> bool:
        """Whether a whole value passes the schema, as the final check asks of it."""
        try:
            self.schema.validate_json(value, context=self.context)
        except SchemaErrors:
            return False
        except Exception:  # a validator of the caller's that fails: the final check says
            return True
        return True

    def _items(self, data: Any, ended: bool) -> None:
        import pydantic_core  # imported when first used: import llmguard stays light

        if not isinstance(data, list) or self.broken:
            return
        item = self.view.item
        assert item is not None
        # The last item read may still be growing, until the stream has ended; the ones
        # before it are complete.
        complete = len(data) if ended else len(data) - 1
        while len(self.items) < complete:
            raw = data[len(self.items)]
            try:
                value = item.validate_json(
                    pydantic_core.to_json(raw), context=self.context, strict=self.view.strict
                )
            except Exception:
                self.broken = True
                return
            self.items.append(value)
            self._emit(self.items, value)

    def _emit(self, value: Any, item: Any) -> None:
        reset = (self.attempt > 1 and not self.emitted) or self.switched
        self.emitted += 1
        self.switched = False
        self.pending.append(Partial(value, False, self.attempt, reset, item))


def _answer_so_far(reply: Reply | None, answer: int) -> str | None:
    """The text the answer is read from: the arguments of tool call ``answer``, or the
    text when ``answer`` is -1."""
    import pydantic_core  # imported when first used: import llmguard stays light

    if reply is None:
        return None
    if answer >= 0:
        arguments = reply.tool_calls[answer].arguments
        return (
            arguments if isinstance(arguments, str) else pydantic_core.to_json(arguments).decode()
        )
    return reply.text


def _arguments(arguments: str | dict[str, object]) -> Any:
    """A tool call's arguments read so far (``{}`` while they cannot be read yet)."""
    if isinstance(arguments, dict):
        return arguments
    try:
        return partial_json(arguments)
    except ValueError:
        return {}


def partial_json(text: str) -> Any:
    """The JSON value ``text`` begins, read by jiter's partial mode (an unfinished string
    kept as far as it goes). Control characters a string holds raw (a newline in code)
    are read as written, as the final check reads them.

    Raises:
        ValueError: The text is not the beginning of a JSON value.
    """
    import jiter  # imported when first used: import llmguard stays light

    try:
        return jiter.from_json(text.encode("utf-8", "replace"), partial_mode="trailing-strings")
    except ValueError as exc:
        if "control character" not in str(exc):
            raise
    escaped = _STRING.sub(_escaped_string, text)
    return jiter.from_json(escaped.encode("utf-8", "replace"), partial_mode="trailing-strings")


# A JSON string, or the start of one left open at the end: each character is taken once
# (the two branches begin with different characters), so the search is linear.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
# Each control character as JSON writes it inside a string.
_ESCAPES = {code: json.dumps(chr(code))[1:-1] for code in range(0x20)}


def _escaped_string(match: re.Match[str]) -> str:
    return match.group().translate(_ESCAPES)


def _unwrapped(data: Any) -> Any:
    """The list inside a one-key ``{"response": [...]}`` wrapper, as the final check reads it."""
    if isinstance(data, dict) and len(data) == 1:
        ((key, inner),) = data.items()
        if key in WRAPPER_KEYS and isinstance(inner, list):
            return inner
    return data


def _json_start(text: str, answer: bool = True) -> tuple[int, bool]:
    """Where the JSON value begins: the first bracket (after prose or a code fence, and
    after the thinking a reasoning model writes first, as the final check reads it: the
    blocks it starts with and, in a text ``answer``, what comes before a lone closing
    tag, unless the text so far is JSON whose strings hold the tag); and whether prose
    comes before it there."""
    after = answer_start(text)
    if after < 0:
        return -1, False  # still thinking: what it drafts there is not the answer
    if answer and (end := lone_close_end(text, after)) and not _json_so_far(text, after):
        after = end
    start = _opener(text, after)
    if start < 0:
        stripped = text[after:].lstrip()
        start = len(text) - len(stripped) if stripped[:1] == '"' else -1
    return start, start >= 0 and _in_prose(text, after, start)


def _in_prose(text: str, after: int, start: int) -> bool:
    """Whether something other than spaces and a code fence's opening line comes
    between ``after`` and the JSON at ``start``."""
    head = text[after:start].strip()
    if not head.startswith("```"):
        return bool(head)
    language = head[3:]
    return bool(language) and not language.replace("-", "").replace("+", "").isalnum()


def _opener(text: str, at: int) -> int:
    """Where the first ``{`` or ``[`` from ``at`` is, else -1."""
    found = [i for i in (text.find("{", at), text.find("[", at)) if i >= 0]
    return min(found) if found else -1


def _whole(text: str) -> bool:
    """Whether ``text`` begins with a whole JSON value (jiter's strict reading stops at
    its end, or at text after it); a raw control character in a string says nothing."""
    import jiter  # imported when first used: import llmguard stays light

    try:
        jiter.from_json(text.encode("utf-8", "replace"))
    except ValueError as exc:
        reason = str(exc)
        return reason.startswith("trailing characters") or "control character" in reason
    return True


def _value_end(text: str, at: int) -> int:
    """Where the whole JSON value at ``at`` ends; -1 while it is not whole, or when it
    is longer than `RESCAN_CHARS` (not read again and again at every reading: a value
    in prose that long is left where it is, and the answer shown when whole)."""
    try:
        return at + _DECODER.raw_decode(text[at : at + RESCAN_CHARS])[1]
    except (ValueError, RecursionError):
        return -1


_DECODER = json.JSONDecoder(strict=False)  # raw control characters in strings, as read
_CLOSING = "</think"  # how both closing tags begin
_LONGEST_CLOSING = "</thinking>"
# What a number or a literal (true, false, null) cut mid-way at the end of the text is
# made of, which the decoder reports as an error where it begins.
_UNFINISHED_SCALAR = "0123456789+-.eEtrufalsn \t\r\n"


def _json_so_far(text: str, at: int) -> bool:
    """Whether ``text[at:]`` is one JSON value with nothing but spaces around it, whole
    or left open at the end, as the whole answer, once streamed, would read as JSON."""
    begin = len(text) - len(text[at:].lstrip())
    try:
        _, end = _DECODER.raw_decode(text, begin)
    except json.JSONDecodeError as exc:
        if text[begin : begin + 1] not in ("{", "["):
            return False  # only an object or array left open holds the tag, as finally read
        if exc.msg.startswith("Unterminated string"):
            return True
        return not text[exc.pos :].strip(_UNFINISHED_SCALAR)
    except (ValueError, RecursionError):  # nested a thousand deep: hostile, not an answer
        return False
    return not text[end:].strip()


# -- the drivers ----------------------------------------------------------------------------


class Partials(Iterator[Partial[T]], Protocol[T]):
    """What ``guard.stream`` gives for a sync function: ``for partial in ...``."""

    def close(self) -> None:
        """Stop reading; the records are written with what was read."""

    def __enter__(self) -> Partials[T]: ...

    def __exit__(self, *exc_info: object) -> None: ...


class AsyncPartials(AsyncIterable[Partial[T]], Protocol[T]):
    """What ``guard.stream`` gives for an async function: ``async for partial in ...``."""

    def __aiter__(self) -> AsyncPartials[T]: ...

    async def __anext__(self) -> Partial[T]: ...

    async def aclose(self) -> None:
        """Stop reading; the records are written with what was read."""

    async def __aenter__(self) -> AsyncPartials[T]: ...

    async def __aexit__(self, *exc_info: object) -> None: ...


class PartialStream(Generic[T]):
    """The partials of one guarded call, for ``for`` or ``async for``.

    Iterating starts the call. Leaving the loop early, ``close()`` / ``aclose()`` or
    garbage collection closes the model's stream and writes the call's records with
    what was read.
    """

    __slots__ = ("_agen", "_call", "_gen", "_guard", "_handler", "_is_async")

    def __init__(self, guard: Policy, handler: GuardHandler, call: Call, is_async: bool) -> None:
        self._guard = guard
        self._handler = handler
        self._call = call
        self._is_async = is_async
        self._gen: Generator[Partial[T], None, None] | None = None
        self._agen: AsyncIterator[Partial[T]] | None = None

    def __iter__(self) -> PartialStream[T]:
        if self._is_async:
            raise ConfigurationError(
                f"{self._handler.name} is async: read its partials with `async for`"
            )
        return self

    def __next__(self) -> Partial[T]:
        if self._gen is None:
            self.__iter__()
            self._gen = _drive_sync(self._guard, self._handler, self._call)
        return next(self._gen)

    def close(self) -> None:
        """Stop reading; the records are written with what was read."""
        if self._gen is not None:
            self._gen.close()

    def __enter__(self) -> PartialStream[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __aiter__(self) -> PartialStream[T]:
        return self

    async def __anext__(self) -> Partial[T]:
        if self._agen is None:
            self._agen = _drive_async(self._guard, self._handler, self._call)
        return await self._agen.__anext__()

    async def aclose(self) -> None:
        """Stop reading; the records are written with what was read."""
        agen = self._agen
        if agen is not None:
            closer = getattr(agen, "aclose", None)
            if closer is not None:
                await closer()

    async def __aenter__(self) -> PartialStream[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _send(steps: Steps, sent: Any, llm: Span) -> Invoke | Pause | Drain | Done:
    token = active_span.set(llm)
    try:
        return steps.send(sent)
    finally:
        active_span.reset(token)


def _context(handler: GuardHandler, call: Call) -> dict[str, Any] | None:
    try:
        return handler.plan.context(call)
    except Exception:  # the final check reports a failing context; partials go without
        return None


def _stopped(steps: Steps, llm: Span, reader: _Reader) -> None:
    """Write the records of a call whose caller stopped reading mid-stream."""
    stop = GeneratorExit(f"the caller stopped reading the stream after {reader.chunks} chunks")
    try:
        _send(steps, reader.result(stop), llm)
    except BaseException as exc:  # the flow ends the attempt and hands the stop back
        if not llm.ended:
            llm.set_stream(reader.chunks, "closed")
            llm.record_exception(exc)
            llm.end()
    finally:
        steps.close()


def _not_sync(value: Any) -> BaseException | None:
    if inspect.isawaitable(value) or isinstance(value, AsyncIterable):
        if inspect.iscoroutine(value):
            value.close()
        return ConfigurationError(
            "the function returned an awaitable or an async stream: read its partials "
            "with `async for`"
        )
    return None


def _drive_sync(
    guard: Policy, handler: GuardHandler, call: Call
) -> Generator[Partial[Any], None, None]:
    llm = handler._open(call)
    steps = Steps(handler.plan, call, llm)
    sleep = guard.sleep or time.sleep
    schema = handler.plan.schema
    view = partial_view(schema) if schema is not None else None
    attempt = 0
    head = prefill(call)  # the text an Anthropic answer continues, as the flow reads it
    reader: _Reader | None = None
    shown = False  # whether an earlier attempt's reader showed anything
    try:
        request = _send(steps, None, llm)
        while not isinstance(request, Done):
            if isinstance(request, Pause):
                sleep(request.seconds)
                request = _send(steps, None, llm)
            elif isinstance(request, Invoke):
                attempt += 1
                result = invoke_sync(request.call, request.span)
                misuse = _not_sync(result.value) if result.error is None else None
                request = _send(steps, Result(error=misuse) if misuse else result, llm)
            else:
                assert view is not None
                assert schema is not None
                shown = shown or (reader is not None and reader.emitted > 0)
                reader = _Reader(view, schema, attempt, _context(handler, call), head)
                try:
                    result = yield from _read_sync(reader, request.stream)
                except GeneratorExit:
                    _stopped(steps, llm, reader)
                    raise
                llm.set_stream(reader.chunks, "exhausted" if result.error is None else "error")
                request = _send(steps, result, llm)
        value = succeeded(llm, request.value)
    except GeneratorExit:
        raise
    except BaseException as exc:
        value = failed(guard, llm, exc)
    yield Partial(value, True, max(attempt, 1), _withdrawn(reader, shown, attempt))


def _withdrawn(reader: _Reader | None, shown: bool, attempt: int) -> bool:
    """Whether the final partial must say ``reset``: what the caller was shown was
    dropped (a re-ask, a lone closing tag) and no partial has said so since."""
    if reader is None:
        return False
    if reader.attempt != attempt:  # the last attempt's response was whole, not streamed
        return shown or reader.emitted > 0
    return reader.switched or (shown and not reader.emitted)


def _read_sync(reader: _Reader, stream: Any) -> Generator[Partial[Any], None, Result]:
    error: BaseException | None = None
    closed_with = None
    try:
        for chunk in stream:
            reader.feed(chunk)
            if reader.pending:
                pending, reader.pending = reader.pending, []
                yield from pending
        reader.finish()
        if reader.pending:
            pending, reader.pending = reader.pending, []
            yield from pending
    except GeneratorExit:
        raise
    except BaseException as exc:  # what cut the stream short: the flow decides
        error = exc
    finally:
        closed_with = close(stream)
    return reader.result(error, closed_with)


async def _drive_async(
    guard: Policy, handler: GuardHandler, call: Call
) -> AsyncIterator[Partial[Any]]:
    llm = handler._open(call)
    steps = Steps(handler.plan, call, llm)
    schema = handler.plan.schema
    view = partial_view(schema) if schema is not None else None
    attempt = 0
    head = prefill(call)  # the text an Anthropic answer continues, as the flow reads it
    reader: _Reader | None = None
    shown = False  # whether an earlier attempt's reader showed anything
    try:
        request = _send(steps, None, llm)
        while not isinstance(request, Done):
            if isinstance(request, Pause):
                waited = (guard.sleep or _asyncio_sleep())(request.seconds)
                if inspect.isawaitable(waited):
                    await waited
                request = _send(steps, None, llm)
            elif isinstance(request, Invoke):
                attempt += 1
                result = await invoke_async(request.call, request.span)
                request = _send(steps, result, llm)
            else:
                assert view is not None
                assert schema is not None
                shown = shown or (reader is not None and reader.emitted > 0)
                reader = _Reader(view, schema, attempt, _context(handler, call), head)
                stream = request.stream
                error: BaseException | None = None
                closed_with = None
                try:
                    try:
                        if hasattr(stream, "__anext__"):
                            async for chunk in stream:
                                reader.feed(chunk)
                                if reader.pending:
                                    pending, reader.pending = reader.pending, []
                                    for partial in pending:
                                        yield partial
                        else:
                            for chunk in stream:
                                reader.feed(chunk)
                                if reader.pending:
                                    pending, reader.pending = reader.pending, []
                                    for partial in pending:
                                        yield partial
                        reader.finish()
                        for partial in reader.pending:
                            yield partial
                    finally:
                        closed_with = await aclose(stream)
                except GeneratorExit:
                    _stopped(steps, llm, reader)
                    raise
                except BaseException as exc:  # what cut the stream short: the flow decides
                    error = exc
                llm.set_stream(reader.chunks, _how(error))
                request = _send(steps, reader.result(error, closed_with), llm)
        value = succeeded(llm, request.value)
    except GeneratorExit:
        raise
    except BaseException as exc:
        value = failed(guard, llm, exc)
    yield Partial(value, True, max(attempt, 1), _withdrawn(reader, shown, attempt))


def _how(error: BaseException | None) -> StreamEnd:
    if error is None:
        return "exhausted"
    import asyncio

    return "cancelled" if isinstance(error, asyncio.CancelledError) else "error"


def _asyncio_sleep() -> Callable[[float], Any]:
    import asyncio

    return asyncio.sleep


def partials(
    guard: Policy,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    params: Parameters | None = None,
) -> PartialStream[Any]:
    """The partials of ``fn(*args, **kwargs)`` under ``guard`` (see `Guard.stream`).

    Nothing runs until the caller iterates.
    """
    params = params or Parameters.of(fn)
    handler = GuardHandler(guard, fn, params)
    is_async = call_kind(fn) in (CallKind.ASYNC, CallKind.ASYNC_GENERATOR)
    # A bound method's signature still names self, which its arguments lack.
    call = Call(fn, args, kwargs, params, inspect.ismethod(fn))
    return PartialStream(guard, handler, call, is_async)
