"""Output schemas: compilation, lenient JSON extraction and compact error formatting.

A schema -- a pydantic model, any type pydantic's ``TypeAdapter`` validates, or a JSON
Schema dict -- is compiled once, at decoration time, into a :class:`CompiledSchema`.
:func:`extract` then reads a model's text answer leniently before a retry is spent:

1. ``strict``: the whole answer is JSON (repair ``None``);
2. ``fence``: JSON inside markdown code fences, in order;
3. ``embedded``: JSON objects or arrays surrounded by prose;
4. ``text``: for string or scalar schemas, the raw answer itself;
5. ``json_repair``: near-JSON mended by the ``json-repair`` library (`llmguard._guard.repair`),
   when the guard's ``repair`` option is on.

The first candidate that validates wins; otherwise the errors of the best candidate come
back as :class:`FieldError` values, which :func:`format_errors` renders compactly for a
corrective re-ask: JSON path, message without documentation URLs, truncated value. When
nothing parsed, the error is the JSON syntax error and where it is.

Extraction runs on the caller's thread over text a model wrote, so it is linear in the
answer's size whatever the answer: fences are found with ``str.find`` (no backtracking
pattern), and the ``embedded`` search never reads the same long stretch twice.
"""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import dataclasses
import itertools
import json
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pydantic
import pydantic_core

from llmguard._core.content import safe_repr, scrub, valid_text
from llmguard._core.field_errors import FieldError, format_errors
from llmguard._core.reply import ToolCall
from llmguard._guard.repair import mends_nothing, repairs, syntax_error
from llmguard.exceptions import ConfigurationError

__all__ = [
    "CompiledSchema",
    "Extraction",
    "FieldError",
    "NotJSON",
    "REPAIRED",
    "SchemaErrors",
    "SchemaKind",
    "WRAPPER_KEYS",
    "answer_start",
    "compile_schema",
    "extract",
    "extract_calls",
    "extract_value",
    "fence_bodies",
    "format_errors",
    "lone_close_end",
    "tool_name",
]

SchemaKind = Literal["model", "type", "json_schema"]

#: The label of a value ``json-repair`` mended (`Extraction.repair`, the attempt record).
REPAIRED = "json_repair"

#: Length of an offending value rendered as JSON in an error.
VALUE_CHARS = 80
#: Length of an error message; jsonschema repeats whole instances in its messages.
MESSAGE_CHARS = 200
#: Nodes of a value serialized to show it in an error: each adds at least two characters.
_HEAD_NODES = VALUE_CHARS
#: Validation errors read from one failure; past it they are counted (or, for JSON
#: Schema, no more are looked for), keeping a huge wrong answer cheap to judge.
MAX_ERRORS_READ = 1000
#: An answer longer than this is validated so that its first error per list stops
#: that list (pydantic's ``fail_fast``) and, for a JSON Schema dict, only the native
#: validator's first error is read: millions of errors in a huge wrong answer would
#: otherwise cost seconds on the caller's thread. Shorter answers get every error.
LARGE_ANSWER = 1 << 20
#: Fences read by the ``fence`` stage: a flood of small ones costs a validation each.
MAX_FENCES = 50
#: Positions of '{' or '[' tried by the ``embedded`` stage, so hostile text costs O(n);
#: enough for prose citing a hundred sources in brackets (``[12]``) before its JSON.
MAX_EMBEDDED_STARTS = 200
#: A start whose JSON broke after this many characters is not retried from inside: the
#: search resumes where the decoder stopped, so no long stretch is decoded twice.
RESCAN_CHARS = 4096

_SCALARS = frozenset({"string", "integer", "number", "boolean", "null"})
_URL = re.compile(r"\s*For further information visit \S+|\s*\(?https://errors\.pydantic\.dev\S*")
# What may follow a fence's opening backticks before its body: an info string such as
# "json", with spaces around it, and the end of that line. Never backtracks: each part
# takes characters the next one cannot.
_FENCE_HEADER = re.compile(r"[^\S\n]*[\w+.-]*[^\S\n]*\n?")
_OPENER = re.compile(r"[\[{]")
_DECODER = json.JSONDecoder()
_FIRST_CHAR_TYPES = {"{": "object", "[": "array", '"': "string", "n": "null"}
_FIRST_CHAR_TYPES |= {"t": "boolean", "f": "boolean"}  # true, false; anything else is a number
_PY_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array"}
# pydantic reports these at the root when the text is not JSON at all, rather than
# JSON of the wrong shape.
_NOT_JSON_TYPES = frozenset({"json_invalid", "string_unicode"})
_TOO_DEEP = "the value is nested too deep to validate"
_SEQUENCE_SCHEMAS = frozenset({"list", "tuple", "set", "frozenset", "dict"})
_MAX_SCHEMA_DEPTH = 500
# How pydantic's message starts when the text read as JSON up to its end, left open.
_CUT_SHORT = "Invalid JSON: EOF while parsing"
# How pydantic's parser names a raw control character in a string.
_CONTROL = "control character"

_Validator = Callable[[Any, dict[str, Any] | None], Any]

#: The keys a non-object answer may come wrapped under, as the whole of a one-key object:
#: ``{"response": [...]}`` (pydantic-ai's convention for list and tuple outputs, and how
#: ``send_schema`` asks for a non-object root), ``{"content": ...}``, and
#: ``{"tasks": [...]}`` (how Instructor asks for an ``Iterable``).
WRAPPER_KEYS = ("response", "content", "tasks")
# Containers whose one type argument is the type of every item.
_ITEM_CONTAINERS = frozenset(
    {
        list,
        set,
        frozenset,
        collections.deque,
        collections.abc.Sequence,
        collections.abc.MutableSequence,
        collections.abc.Set,
        collections.abc.MutableSet,
        collections.abc.Collection,
    }
)
_UNIONS = (Union, types.UnionType)


class SchemaErrors(Exception):
    """A value did not validate; carries every :class:`FieldError`."""

    def __init__(self, errors: tuple[FieldError, ...]) -> None:
        super().__init__(format_errors(errors))
        self.errors = errors


class NotJSON(SchemaErrors):
    """The text given to :meth:`CompiledSchema.validate_json` is not JSON at all.

    ``cut_short`` says it read as JSON up to its very end, where a value was left open;
    ``unencodable`` that the text holds lone surrogates, which pydantic cannot read;
    ``controls`` that a string holds a raw control character (a newline, a tab).
    """

    def __init__(
        self,
        errors: tuple[FieldError, ...],
        *,
        cut_short: bool = False,
        unencodable: bool = False,
        controls: bool = False,
    ) -> None:
        super().__init__(errors)
        self.cut_short = cut_short
        self.unencodable = unencodable
        self.controls = controls


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class CompiledSchema:
    """A schema compiled once by :func:`compile_schema`; cheap to validate with.

    Attributes:
        name: The model or type name, or the JSON Schema's ``title``.
        kind: ``"model"``, ``"type"`` (through ``TypeAdapter``) or ``"json_schema"``.
        source: The schema as given.
        context: Default validation context, used when a call passes none.
        json_types: JSON types the schema accepts at its root; ``None`` if unknown.
        strict: Whether pydantic validates without coercion (``"1"`` is no int).
    """

    name: str
    kind: SchemaKind
    source: Any = field(repr=False)
    context: dict[str, Any] | None = field(repr=False)
    json_types: frozenset[str] | None = field(repr=False)
    _from_python: _Validator = field(repr=False)
    _from_json: _Validator = field(repr=False)
    _schema_json: str | None = field(repr=False)
    strict: bool = field(default=False, repr=False)
    # For a list of models (or of a union of models): each model compiled alone, by the
    # tool names that pick it (its class name and its title), and how the items
    # validated one by one become the list.
    _members: Mapping[str, CompiledSchema] = field(default_factory=dict, repr=False)
    _assemble: _Validator | None = field(default=None, repr=False)

    @property
    def accepts_text(self) -> bool:
        """Whether the raw answer may itself be the value: a string or scalar schema, or
        a union with a string branch (``Model | str``)."""
        types = self.json_types
        if types is None:
            return False
        return (types <= _SCALARS and types != {"null"}) or "string" in types

    @property
    def reads_list(self) -> bool:
        """Whether the schema's root is an array and never an object: then several tool
        calls are read as its items."""
        types = self.json_types
        return types is not None and "array" in types and "object" not in types

    def answer_call(self, calls: Sequence[ToolCall]) -> int | None:
        """Which of an answer's tool calls holds the value, by its index; ``None`` when
        the calls are read as the items of a list (`reads_list`).

        Beside calls to other tools, the answer is the call named for the schema (its
        name, or its tool's name as ``send_schema`` writes it), wherever it stands, and
        otherwise the first. `extract_calls` reads that call, and the re-ask tells that
        call what was wrong.
        """
        if self.reads_list:
            return None
        if len(calls) > 1:
            own = (self.name, tool_name(self.name))
            return next((i for i, call in enumerate(calls) if call.name in own), 0)
        return 0

    @property
    def _unwraps(self) -> bool:
        types = self.json_types
        return types is not None and "object" not in types

    def validate(self, data: Any, *, context: dict[str, Any] | None = None) -> Any:
        """Validate a Python value (``context`` defaults to the compiled one).

        A one-key ``{"response": ...}``, ``{"content": ...}`` or ``{"tasks": ...}``
        (`WRAPPER_KEYS`) is unwrapped when the schema's root is not an object and the
        inner value validates -- read as JSON text when it is a string and the schema
        takes none.

        Returns:
            The model instance, the adapted value, or ``data`` itself for JSON Schema.

        Raises:
            SchemaErrors: The value does not validate.
        """
        ctx = self.context if context is None else context
        try:
            return self._from_python(data, ctx)
        except SchemaErrors:
            inner = _wrapped(data) if self._unwraps else None
            if inner is None:
                raise
        key, value = inner
        try:
            if isinstance(value, str) and self._json_inside:
                return self._from_json(value, ctx)
            return self._from_python(value, ctx)
        except SchemaErrors as exc:
            raise SchemaErrors(under(f".{key}", exc.errors)) from None

    def validate_json(self, text: str, *, context: dict[str, Any] | None = None) -> Any:
        """Parse and validate JSON text, with pydantic's JSON-mode rules.

        Lone surrogates (text cut mid-character) read as U+FFFD; a wrapper is unwrapped
        as in `validate`.

        Raises:
            NotJSON: The text is not JSON.
            SchemaErrors: It is JSON that does not validate.
        """
        ctx = self.context if context is None else context
        try:
            return self._from_json(text, ctx)
        except NotJSON as exc:
            if exc.unencodable:
                cleaned = valid_text(text)
            elif exc.controls:
                cleaned = escaped_controls(text)
            else:
                raise
            if cleaned is text:
                raise
            return self.validate_json(cleaned, context=context)
        except SchemaErrors:
            inner = self._wrapped_json(text) if self._unwraps else None
            if inner is None:
                raise
        key, body = inner
        try:
            return self._from_json(body, ctx)
        except SchemaErrors as exc:
            raise SchemaErrors(under(f".{key}", exc.errors)) from None

    def validate_text(
        self, text: str, *, context: dict[str, Any] | None = None, structured: bool = False
    ) -> Any:
        """Validate a plain-text answer as the value of a string (or scalar) schema.

        For a union with a string branch, text that is or starts like a JSON object or
        array, or fences one -- or, with ``structured``, an answer in which such JSON was
        found -- is an attempt at the other branches, never taken as the string.

        Raises:
            SchemaErrors: The text is not the value.
        """
        types = self.json_types or frozenset()
        if not types <= _SCALARS and (structured or text[:1] in "[{" or _fences_json(text)):
            message = "the answer holds JSON that does not match the schema"
            raise SchemaErrors((FieldError("$", message, shorten(text)),))
        if self.strict and self.kind != "json_schema":
            # Strict Python mode refuses text for an enum or a date; a JSON string does not.
            return self.validate_json(json.dumps(valid_text(text)), context=context)
        return self.validate(text, context=context)

    def _wrapped_json(self, text: str) -> tuple[str, str] | None:
        """The key and the inner value, as JSON, of a wrapper object, else ``None``."""
        if not text.lstrip().startswith("{"):
            return None
        try:
            data = pydantic_core.from_json(valid_text(text))
        except ValueError:
            return None
        inner = _wrapped(data)
        if inner is None:
            return None
        key, value = inner
        if isinstance(value, str) and self._json_inside:
            return key, value  # the value sent as JSON text inside the wrapper
        try:
            return key, pydantic_core.to_json(value).decode()
        except ValueError:
            return None

    @property
    def _json_inside(self) -> bool:
        """Whether a wrapper's string value is read as JSON text: when the schema takes
        no string, as some providers send a wrapped list as ``"[...]"``."""
        types = self.json_types
        return types is not None and "string" not in types

    def item_schema(self, name: str) -> CompiledSchema | None:
        """The model a tool call named ``name`` picks in a list of models."""
        return self._members.get(name)

    @property
    def tool_names(self) -> frozenset[str]:
        """The tool names that pick an item's model (class names and titles)."""
        return frozenset(self._members)

    def assemble(self, items: list[Any], *, context: dict[str, Any] | None = None) -> Any:
        """The schema's value from items validated one by one (a list, tuple, set...)."""
        if self._assemble is None:
            return self.validate(items, context=context)
        return self._assemble(items, self.context if context is None else context)

    def json_schema(self) -> dict[str, Any]:
        """A fresh JSON Schema dict, for prompts and tool definitions.

        Raises:
            ConfigurationError: pydantic cannot describe this type in JSON Schema.
        """
        if self._schema_json is None:
            raise ConfigurationError(f"schema {self.name} cannot be described as JSON Schema")
        schema: dict[str, Any] = json.loads(self._schema_json)
        return schema


@dataclass(frozen=True, slots=True)
class Extraction:
    """What :func:`extract` found: a value and the repair used, or the best errors."""

    value: Any
    repair: str | None
    errors: tuple[FieldError, ...]
    ok: bool
    #: Where a repaired value was found (``"strict"``, ``"fence"``, ``"embedded"``).
    stage: str | None = None
    #: Something the caller should know about how the value was chosen (ambiguity).
    note: str | None = None


def compile_schema(
    schema: Any, *, context: dict[str, Any] | None = None, strict: bool = False
) -> CompiledSchema:
    """Compile a schema once, at decoration time.

    ``Iterable[T]`` (which pydantic validates lazily, as the caller iterates) is compiled
    as ``list[T]``, so every item is validated before the answer is accepted; an
    ``Iterable`` deeper inside (a model's field) is refused.

    Args:
        schema: A pydantic model class, any type ``TypeAdapter`` validates, or a JSON
            Schema dict (draft from ``$schema``, 2020-12 by default, formats checked).
        context: Default context for pydantic validators.
        strict: Validate in pydantic's strict mode (no coercion); JSON Schema ignores it.

    Raises:
        ConfigurationError: The schema or context cannot be used; the message says why.
    """
    if context is not None and not isinstance(context, dict):
        raise ConfigurationError(f"context= must be a dict, got {type(context).__name__}")
    if isinstance(schema, dict):
        if context is not None:
            raise ConfigurationError("context= reaches pydantic validators; JSON Schema has none")
        return _compile_json_schema(schema)
    if schema is None or isinstance(schema, (str, bytes, pydantic.BaseModel)):
        # Strings would be resolved as forward references in *this* module's namespace.
        hint = f"an instance of {type(schema).__name__}" if schema is not None else "None"
        raise ConfigurationError(
            f"schema= got {hint}; pass a pydantic model class, a type or a JSON Schema dict"
        )
    name = _type_name(schema)
    is_model = isinstance(schema, type) and issubclass(schema, pydantic.BaseModel)
    eager = _eager(schema)
    try:
        if is_model:
            # Unresolved forward references would otherwise fail at the first call.
            schema.model_rebuild()
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(eager)
    except Exception as exc:
        reason = _clean(str(exc))
        raise ConfigurationError(f"schema={name} is not usable by pydantic: {reason}") from exc
    if _lazy_inside(adapter.core_schema):
        raise ConfigurationError(
            f"schema={name} holds an Iterable below its top level, which pydantic "
            "validates only as it is iterated, after the answer was accepted; "
            "use list[...] or Sequence[...] there"
        )
    kind: SchemaKind = "model" if is_model else "type"
    compiled = _compile_pydantic(name, kind, adapter, schema, context, strict=strict)
    members = _members(eager, context, strict)
    if not members:
        return compiled
    return dataclasses.replace(compiled, _members=members, _assemble=_assembler(adapter))


def extract(
    text: str,
    schema: CompiledSchema,
    *,
    context: dict[str, Any] | None = None,
    repair: bool = True,
) -> Extraction:
    """Find a valid value in a model's text answer; never raises on any text.

    The reasoning a model writes first is skipped: the ``<think>...</think>`` blocks the
    answer starts with, and, when what follows is not JSON (whole, or left open at its
    end), everything up to the last closing tag no opening tag comes before
    (`lone_close_end`), a ``str`` answer's too.

    Args:
        text: The answer.
        schema: What the value must be.
        context: Validation context for this call.
        repair: Whether near-JSON is handed to ``json-repair`` as a last stage.

    Returns:
        The first candidate that validates, labelled with its repair (and, when other
        candidates validate to different values, a note saying so); else ``ok=False``
        and the errors of the first candidate that parsed as JSON, preferring one whose
        root type (object, array...) the schema accepts -- or, when nothing of the right
        type parsed, the syntax error of the JSON-looking part and where it is.
    """
    if text[:1] == "<" or text[:1].isspace():
        start = answer_start(text)
        if start > 0 and not text[start:].strip():
            return _REASONING_ONLY  # "empty" would tell the model nothing it can use
        text = text[start:] if start > 0 else text
    stripped = text.strip()
    failed: NotJSON | SchemaErrors | None = None
    if stripped:  # the strict stage, alone on the path of most answers
        read = _strict(stripped, schema, context)
        if isinstance(read, Extraction):
            return read
        failed = read
    # Not JSON, nor JSON left open at its very end (a tag there is inside a string):
    # reasoning whose opening tag was in the prompt ends at the last lone closing tag.
    # A JSON object or array cut short keeps a tag that is in one of its strings; a bare
    # string left open is no such sign (reasoning may begin with a quote).
    held = isinstance(failed, NotJSON) and failed.cut_short and stripped[:1] in ("{", "[")
    if isinstance(failed, NotJSON) and not held and (end := lone_close_end(text)):
        text = text[end:]
        stripped = text.strip()
        if not stripped:
            return _REASONING_ONLY  # no fallback to the text before the tag
        read = _strict(stripped, schema, context)
        if isinstance(read, Extraction):
            return read
        failed = read
    return _search(text, stripped, failed, schema, context, repair)


def _strict(
    stripped: str, schema: CompiledSchema, context: dict[str, Any] | None
) -> Extraction | NotJSON | SchemaErrors:
    """The answer read as strict JSON: its value, or why it is not one."""
    try:
        value = schema.validate_json(stripped, context=context)
    except (NotJSON, SchemaErrors) as exc:
        return exc
    return Extraction(value=value, repair=None, errors=(), ok=True)


# Reasoning models served behind OpenAI-compatible APIs (DeepSeek-R1, QwQ, ...) write
# their reasoning first, between these tags, then the answer: a value in the reasoning is
# a draft, not the answer.
_THINKING_TAGS = (("<think>", "</think>"), ("<thinking>", "</thinking>"))
_SPACE = re.compile(r"\s*")
_CLOSING = "</think"  # how both closing tags begin
_REASONING_ONLY = Extraction(
    value=None,
    repair=None,
    errors=(
        FieldError(
            "$",
            "the answer holds only reasoning, between <think> (or <thinking>) tags; "
            "write the answer itself after the closing tag",
            "",
        ),
    ),
    ok=False,
)


def answer_start(text: str) -> int:
    """Where the answer begins in ``text``: after the thinking blocks it starts with
    (``<think>...</think>``), else 0; -1 while a leading block is still open (a stream
    mid-thought, or an answer that never closed it)."""
    at = 0
    while True:
        lead = _SPACE.match(text, at)
        start = lead.end() if lead is not None else at
        for open_tag, close_tag in _THINKING_TAGS:
            if text.startswith(open_tag, start):
                end = text.find(close_tag, start + len(open_tag))
                if end < 0:
                    return -1
                at = end + len(close_tag)
                break
        else:
            return at


def lone_close_end(text: str, start: int = 0) -> int:
    """Where the answer begins in ``text[start:]`` when its reasoning was opened in the
    prompt -- DeepSeek-R1's and QwQ's chat templates end the prompt with ``<think>``, so
    the model answers ``reasoning...</think>answer`` --: after the last closing tag that
    no opening tag comes before; 0 when there is none. A few scans, whatever the text,
    and one when it holds no closing tag."""
    last = text.rfind(_CLOSING, start)
    if last < 0:
        return 0
    opened = last + len(_THINKING_TAGS[-1][1])  # an opening tag after it changes nothing
    for open_tag, _ in _THINKING_TAGS:
        found = text.find(open_tag, start, min(opened, last))
        opened = found if found >= 0 else opened
    end = 0
    for _, close_tag in _THINKING_TAGS:
        found = text.rfind(close_tag, start, opened)
        if found >= 0:
            end = max(end, found + len(close_tag))
    return end


def _search(
    text: str,
    stripped: str,
    failed: NotJSON | SchemaErrors | None,
    schema: CompiledSchema,
    context: dict[str, Any] | None,
    repair: bool,
) -> Extraction:
    """`extract` past its strict stage, which failed with ``failed`` (``None`` for an
    empty answer)."""
    best: tuple[FieldError, ...] | None = None
    best_fits = False

    def judge(body: str) -> tuple[bool, Any]:
        """``(True, value)``, or ``(False, whether the body read as JSON to its end)``."""
        nonlocal best, best_fits
        try:
            return True, schema.validate_json(body, context=context)
        except NotJSON as exc:
            return False, exc.cut_short and len(body) > RESCAN_CHARS
        except SchemaErrors as exc:
            fits = _fits(schema.json_types, body)
            if best is None or (fits and not best_fits):
                best, best_fits = exc.errors, fits
            return False, True

    in_prose = True  # whether the embedded stage can find what the strict one did not
    mendable = repair
    if failed is not None:
        # What `judge` makes of the strict stage's failure.
        if isinstance(failed, NotJSON):
            found = failed.cut_short and len(stripped) > RESCAN_CHARS
        else:
            best, best_fits, found = failed.errors, _fits(schema.json_types, stripped), True
        # Decoded from its first bracket, one JSON value -- or a long one left open at its
        # very end -- gives the embedded search nothing new, read again for nothing.
        in_prose = not found or stripped[0] not in "[{"
        # A whole answer that is JSON of the wrong shape (the usual bad answer) has
        # nothing for json-repair: its one span is JSON already.
        mendable = repair and not (best is not None and mends_nothing(stripped))
    seen = {stripped}
    stages = (("fence", fence_bodies(text)), ("embedded", _embedded(text) if in_prose else ()))
    candidates = ((stage, body) for stage, bodies in stages for body in bodies)
    for stage, body in candidates:
        if body and body not in seen:
            seen.add(body)
            ok, found = judge(body)
            if ok:
                note = _ambiguity(found, stage, candidates, seen, schema, context)
                return Extraction(value=found, repair=stage, errors=(), ok=True, note=note)
    if schema.accepts_text and stripped:
        try:
            value = schema.validate_text(stripped, context=context, structured=best_fits)
        except SchemaErrors as exc:
            best = best or exc.errors
        else:
            return Extraction(value=value, repair="text", errors=(), ok=True)
    repaired_errors: tuple[FieldError, ...] = ()
    if mendable and stripped:
        for stage, body in repairs(text):
            try:
                value = schema.validate_json(body, context=context)
            except NotJSON:
                continue
            except SchemaErrors as exc:
                if not repaired_errors and _fits(schema.json_types, body):
                    repaired_errors = exc.errors
                continue
            return Extraction(value=value, repair=REPAIRED, errors=(), ok=True, stage=stage)
    whole_json = isinstance(failed, SchemaErrors) and not isinstance(failed, NotJSON)
    if stripped and not best_fits and not whole_json:
        # Nothing of the right type parsed: what is wrong with the JSON the model meant
        # tells it more than "no JSON value", and the repaired value's errors after it.
        # Not when the whole answer is JSON: what the model meant is that JSON, of the
        # wrong type, and a "syntax error" would be in one of its strings (JSON encoded
        # again as a string has every key quoted, its escapes being the string's).
        problem = syntax_error(text)
        if problem is not None and (best is None or _fits(schema.json_types, problem.first)):
            best = (problem.error, *repaired_errors)
    if best is None:
        message = "no JSON value found in the answer" if stripped else "the answer is empty"
        best = (FieldError("$", message, shorten(stripped) if stripped else ""),)
    return Extraction(value=None, repair=None, errors=best, ok=False)


def _ambiguity(
    chosen: Any,
    stage: str,
    rest: Iterator[tuple[str, str]],
    seen: set[str],
    schema: CompiledSchema,
    context: dict[str, Any] | None,
) -> str | None:
    """A note when candidates after the chosen one validate to different values.

    The first valid value in reading order wins, whatever follows it; the note records
    that the answer was ambiguous, so a wrong pick can be found in the records.
    """
    others = 0
    for _, body in rest:
        if not body or body in seen:
            continue
        seen.add(body)
        try:
            value = schema.validate_json(body, context=context)
        except SchemaErrors:
            continue
        try:
            same = bool(value == chosen)
        except Exception:  # a value whose == raises or answers with no truth value
            same = False
        others += not same
    if not others:
        return None
    return (
        f"ambiguous: {others + 1} different JSON values in the answer pass the schema; "
        f"the first ({stage}) was used, as llmguard takes the first valid value in reading order"
    )


def extract_value(
    data: Any, schema: CompiledSchema, *, context: dict[str, Any] | None = None, repair: str
) -> Extraction:
    """Validate already-structured data, such as tool-call arguments.

    ``data`` is a parsed value (dict, list...) or a JSON string; ``repair`` labels a
    success, e.g. ``"tool_call"``.
    """
    if isinstance(data, (dict, list)) and schema.kind != "json_schema":
        # Arguments decoded from JSON get JSON-mode rules, as a text answer would.
        try:
            data = pydantic_core.to_json(data).decode(errors="replace")
        except pydantic_core.PydanticSerializationError:
            # Lone surrogates in a string read as U+FFFD, as in a text answer.
            with contextlib.suppress(pydantic_core.PydanticSerializationError):
                data = pydantic_core.to_json(scrub(data)).decode(errors="replace")
    try:
        if isinstance(data, (bytes, bytearray)):
            data = data.decode("utf-8", "replace")
        if isinstance(data, str):
            value = schema.validate_json(data.strip(), context=context)
        else:
            value = _validate_object(data, schema, context)
    except SchemaErrors as exc:
        return Extraction(value=None, repair=None, errors=exc.errors, ok=False)
    return Extraction(value=value, repair=repair, errors=(), ok=True)


def extract_calls(
    calls: Sequence[ToolCall], schema: CompiledSchema, *, context: dict[str, Any] | None = None
) -> Extraction:
    """Validate an answer given as tool calls; never raises on any arguments.

    When the schema's root is an array and never an object (`CompiledSchema.reads_list`:
    ``list[T]``, ``Iterable[T]``, ``list[A | B]``...), each call is one item, in order,
    labelled ``"tool_calls"``. In a list of models (or of a union of models), a call
    named after a model (its class name or title) is validated as that model; once one
    call names a model, a call naming none is an error (a tool that is no part of the
    answer); when none does, the items are validated by content. A single call whose
    arguments are already the whole list (or wrap it, as ``{"response": [...]}``) is read
    as the list; one whose arguments are blank or ``{}`` holds no item, and is an empty
    answer, unless it names an item model. Otherwise the answer is the call
    `CompiledSchema.answer_call` picks: the one named for the schema (its name, as
    ``send_schema`` writes it), or else the first.
    """
    answer = schema.answer_call(calls)
    if answer is not None:
        arguments = _given(calls[answer].arguments)
        return extract_value(arguments, schema, context=context, repair="tool_call")
    first = calls[0]
    if len(calls) == 1:
        whole = extract_value(_given(first.arguments), schema, context=context, repair="tool_call")
        decoded = _decoded(first.arguments)
        named = schema.item_schema(first.name) is not None
        if whole.ok or not isinstance(decoded, dict) or (_wrapped(decoded) and not named):
            return whole
        if not decoded and not named:
            return _EMPTY_LIST  # not a list of one item made of nothing
    items: list[Any] = []
    picked: list[CompiledSchema | None] = []
    errors: list[FieldError] = []
    for index, call in enumerate(calls):
        decoded = _decoded(call.arguments)
        if decoded is _NOT_DECODED:
            message = "the arguments of this tool call are not JSON"
            errors.append(FieldError(f"$[{index}]", message, shorten(call.arguments)))
        items.append(decoded)
        picked.append(schema.item_schema(call.name))
    if errors:
        return Extraction(value=None, repair=None, errors=tuple(errors), ok=False)
    if not any(member is not None for member in picked):
        found = extract_value(items, schema, context=context, repair="tool_calls")
        parts = [_wrapped(item) for item in items]
        if found.ok or not all(part is not None and type(part[1]) is list for part in parts):
            return found
        # Each call wraps part of the list (a tool sent by send_schema, called in parallel).
        joined = [value for part in parts if part is not None for value in part[1]]
        whole = extract_value(joined, schema, context=context, repair="tool_calls")
        return whole if whole.ok else found
    values: list[Any] = []
    for index, (item, member) in enumerate(zip(items, picked, strict=True)):
        if member is None:  # beside calls to the schema's models, a call to another tool
            names = ", ".join(sorted(schema.tool_names))
            message = f"{calls[index].name!r} is not a tool of this answer; call one of: {names}"
            errors.append(FieldError(f"$[{index}]", message, ""))
            continue
        one = extract_value(item, member, context=context, repair="tool_calls")
        if one.ok:
            values.append(one.value)
        else:
            errors.extend(under(f"[{index}]", one.errors))
    if errors:
        return Extraction(value=None, repair=None, errors=tuple(errors), ok=False)
    try:
        value = schema.assemble(values, context=context)
    except SchemaErrors as exc:
        return Extraction(value=None, repair=None, errors=exc.errors, ok=False)
    return Extraction(value=value, repair="tool_calls", errors=(), ok=True)


def tool_name(name: str) -> str:
    """``name`` as OpenAI and Anthropic accept a tool's: ``^[a-zA-Z0-9_-]{1,64}$``
    (``"response"`` when nothing of it is left)."""
    cleaned = _NAME_CHARS.sub("_", name).strip("_")[:64]
    return cleaned or "response"


_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]+")
# One call without arguments (blank, or ``{}``) to a tool that names no item model.
_EMPTY_LIST = Extraction(
    value=None,
    repair=None,
    errors=(
        FieldError(
            "$", "the answer is empty (a call without arguments) where a list was expected", ""
        ),
    ),
    ok=False,
)
_NOT_DECODED: Any = object()


def _given(arguments: str | dict[str, object]) -> str | dict[str, object]:
    """A call's arguments as its caller meant them: blank ones (OpenAI-compatible servers
    send ``""`` for a call without arguments) are the empty object, as `_decoded` reads
    them and pydantic-ai does."""
    return "{}" if isinstance(arguments, str) and not arguments.strip() else arguments


def _decoded(arguments: str | dict[str, object]) -> Any:
    """Tool-call arguments as Python data, or `_NOT_DECODED` when they are not JSON."""
    if not isinstance(arguments, str):
        return arguments
    text = valid_text(arguments.strip() or "{}")
    try:
        return pydantic_core.from_json(text)
    except ValueError as exc:
        if _CONTROL not in str(exc):
            return _NOT_DECODED
    try:
        return pydantic_core.from_json(escaped_controls(text))
    except ValueError:
        return _NOT_DECODED


def escaped_controls(text: str) -> str:
    """``text`` with the control characters its strings hold raw (a newline, a tab in
    code a model wrote) escaped, as JSON wants them; ``text`` itself when it is not JSON
    even so. Read as Python's json reads it with ``strict=False`` (what Instructor and
    the OpenAI SDK's ``parse`` do), in one linear pass; NaN and Infinity stay refused."""
    try:
        data = json.loads(text, strict=False, parse_constant=_refused)
    except (ValueError, RecursionError):
        return text
    # A string escaped as a lone surrogate (``"\\ud83d"``) is read as one: U+FFFD then.
    return valid_text(json.dumps(data, ensure_ascii=False))


def _refused(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _wrapped(data: Any) -> tuple[str, Any] | None:
    """``(key, inner)`` when ``data`` is a one-key wrapper object (`WRAPPER_KEYS`)."""
    if type(data) is dict and len(data) == 1:
        key = next(iter(data))
        if key in WRAPPER_KEYS:
            return key, data[key]
    return None


def under(prefix: str, errors: tuple[FieldError, ...]) -> tuple[FieldError, ...]:
    """``errors`` with ``prefix`` (``".response"``, ``"[2]"``) put after each path's ``$``."""
    return tuple(FieldError(f"${prefix}{e.path[1:]}", e.message, e.value) for e in errors)


def _validate_object(data: Any, schema: CompiledSchema, context: dict[str, Any] | None) -> Any:
    """Validate a Python object; one that raises while being read fails the schema.

    pydantic lets any exception but a validation error through, and a foreign response
    object (an unknown SDK's, a mapping whose reads fail) can raise anything.
    """
    try:
        return schema.validate(data, context=context)
    except SchemaErrors:
        raise
    except Exception as exc:
        message = f"the answer could not be read: {type(exc).__name__}: {safe_repr(exc)}"
        raise SchemaErrors((FieldError("$", message, ""),)) from exc


def fence_bodies(text: str, limit: int = MAX_FENCES) -> Iterator[str]:
    """The stripped bodies of the first ``limit`` closed markdown code fences; one pass."""
    pos = 0
    for _ in range(limit):
        start = text.find("```", pos)
        if start < 0:
            return
        header = _FENCE_HEADER.match(text, start + 3)
        body = start + 3 if header is None else header.end()
        end = text.find("```", body)
        if end < 0:
            return  # no fence after this one can close either
        yield text[body:end].strip()
        pos = end + 3


def _fences_json(text: str) -> bool:
    """Whether a markdown fence in ``text`` holds something that starts like JSON."""
    return any(body[:1] in ("{", "[") for body in fence_bodies(text))


def _embedded(text: str) -> Iterator[str]:
    """JSON objects and arrays found in prose, left to right, in O(len(text)).

    Values nested in one that parsed are not candidates of their own. After a start
    whose JSON breaks, the next start is the next opener -- so an object inside a broken
    wrapper is still found -- unless the decoder read more than `RESCAN_CHARS` before
    breaking: then it is the first opener where it stopped, since a start nested in a
    long broken value would break there again.
    """
    pos = 0
    size = len(text)
    for _ in range(MAX_EMBEDDED_STARTS):
        opener = _OPENER.search(text, pos)
        if opener is None:
            return
        start = opener.start()
        try:
            _, end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            # An unterminated string was read to the end of the text, past exc.pos.
            stopped = size if exc.msg.startswith("Unterminated string") else exc.pos
            pos = max(exc.pos, start + 1) if stopped - start > RESCAN_CHARS else start + 1
            continue
        except (ValueError, RecursionError):
            # Over a thousand levels deep, or an integer past Python's digit limit: hostile
            # text, which every later start nested in it would decode as far again.
            return
        pos = end
        yield text[start:end]


def _compile_pydantic(
    name: str,
    kind: SchemaKind,
    adapter: pydantic.TypeAdapter[Any],
    source: Any,
    context: dict[str, Any] | None,
    *,
    strict: bool = False,
) -> CompiledSchema:
    mode = True if strict else None  # None: the model's own config decides
    fail_fast: list[Any] = []  # the fail-fast validator, built at the first large answer

    def validate(data: Any, ctx: dict[str, Any] | None) -> Any:
        try:
            return adapter.validate_python(data, context=ctx, strict=mode)
        except pydantic.ValidationError as exc:
            raise SchemaErrors(pydantic_errors(_details(exc))) from None

    def validate_json(text: Any, ctx: dict[str, Any] | None) -> Any:
        # pydantic-core's validator itself: `TypeAdapter.validate_json` only checks
        # options this call never passes before calling it with the same arguments.
        validator: Any = adapter.validator
        if len(text) > LARGE_ANSWER:
            if not fail_fast:
                fail_fast.append(_fail_fast_validator(adapter))
            validator = fail_fast[0] or adapter
        try:
            return validator.validate_json(text, context=ctx, strict=mode)
        except pydantic.ValidationError as exc:
            details = _details(exc)
            errors = pydantic_errors(details)
            if details[0]["loc"] == () and details[0]["type"] in _NOT_JSON_TYPES:
                message = details[0]["msg"]
                raise NotJSON(
                    errors,
                    cut_short=message.startswith(_CUT_SHORT),
                    unencodable=details[0]["type"] == "string_unicode",
                    controls=_CONTROL in message,
                ) from None
            raise SchemaErrors(errors) from None

    try:
        described: dict[str, Any] | None = adapter.json_schema()
    except pydantic.PydanticUserError:
        # Validation still works for types JSON Schema cannot describe (callables...).
        described = None
    return CompiledSchema(
        name=name,
        kind=kind,
        source=source,
        context=context,
        json_types=None if described is None else _json_types(described, described),
        _from_python=validate,
        _from_json=validate_json,
        _schema_json=None if described is None else json.dumps(described),
        strict=strict,
    )


def _fail_fast_validator(adapter: pydantic.TypeAdapter[Any]) -> Any:
    """A validator of ``adapter``'s schema whose lists, tuples, sets and dicts stop at their
    first error; ``None`` when pydantic cannot build one (the adapter is used instead).

    A valid value is validated exactly as ``adapter`` does; only how many errors a wrong
    one reports differs, which keeps a 10 MB answer of millions of wrong items cheap.
    """

    def marked(node: Any, depth: int) -> Any:
        if depth > _MAX_SCHEMA_DEPTH:
            raise RecursionError("core schema too deep")
        if isinstance(node, list):
            return [marked(item, depth + 1) for item in node]
        if not isinstance(node, dict):
            return node
        copy = {key: marked(value, depth + 1) for key, value in node.items()}
        if copy.get("type") in _SEQUENCE_SCHEMAS:
            copy["fail_fast"] = True
        return copy

    try:
        return pydantic_core.SchemaValidator(marked(adapter.core_schema, 0))
    except Exception:  # any failure keeps the ordinary validator
        return None


def _eager(tp: Any) -> Any:
    """``tp`` with ``Iterable[T]`` (or ``Generator[T, ...]``) at its top, or in a top
    union, read as ``list[T]``: pydantic validates both lazily."""
    if tp is collections.abc.Iterable or tp is collections.abc.Generator:
        return list[Any]
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is collections.abc.Iterable or origin is collections.abc.Generator:
        return list[args[0]] if args else list[Any]  # type: ignore[valid-type]
    if origin in _UNIONS:
        eager = tuple(_eager(arg) for arg in args)
        return tp if eager == args else Union[eager]  # noqa: UP007 - built at run time
    if origin is Annotated:
        inner = _eager(args[0])
        annotated = (inner, *tp.__metadata__)
        return tp if inner is args[0] else Annotated[annotated]
    return tp


def _lazy_inside(core: Any) -> bool:
    """Whether a pydantic core schema validates a value lazily (a ``generator`` schema)."""
    stack = [core]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            if node.get("type") == "generator":
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _list_item(tp: Any) -> Any:
    """The item type of a homogeneous container type, else ``None``."""
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Annotated:
        return _list_item(args[0])
    if origin in _ITEM_CONTAINERS and len(args) == 1:
        return args[0]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def _members(tp: Any, context: dict[str, Any] | None, strict: bool) -> dict[str, CompiledSchema]:
    """For a list of models (or of a union of models), each model compiled alone, by the
    tool names that pick it: its class name and its title."""
    item = _list_item(tp)
    while get_origin(item) is Annotated:
        item = get_args(item)[0]
    models = get_args(item) if get_origin(item) in _UNIONS else (item,)
    members: dict[str, CompiledSchema] = {}
    for member in models:
        if isinstance(member, type) and issubclass(member, pydantic.BaseModel):
            adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(member)
            compiled = _compile_pydantic(
                member.__name__, "model", adapter, member, context, strict=strict
            )
            title = member.model_config.get("title")
            for name in (member.__name__, title):
                if isinstance(name, str) and name:
                    members.setdefault(name, compiled)
    return members


def _assembler(adapter: pydantic.TypeAdapter[Any]) -> _Validator:
    """Builds the container from items already validated: lax, so a list becomes a tuple
    or a set even in strict mode, and model instances pass as they are."""

    def assemble(items: Any, ctx: dict[str, Any] | None) -> Any:
        try:
            return adapter.validate_python(items, context=ctx, strict=False)
        except pydantic.ValidationError as exc:
            raise SchemaErrors(pydantic_errors(_details(exc))) from None

    return assemble


def _compile_json_schema(schema: dict[str, Any]) -> CompiledSchema:
    import jsonschema  # type: ignore[import-untyped, unused-ignore]

    declared = schema.get("$schema")
    if declared is None:
        cls = jsonschema.validators.Draft202012Validator
    elif not isinstance(declared, str) or (
        (cls := jsonschema.validators.validator_for(schema, default=None)) is None
    ):
        raise ConfigurationError(f"JSON Schema has an unknown $schema: {declared!r}")
    try:
        cls.check_schema(schema)
        schema_json = json.dumps(schema)
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    except jsonschema.exceptions.SchemaError as exc:
        raise ConfigurationError(
            f"invalid JSON Schema at {exc.json_path}: {_cut(exc.message, MESSAGE_CHARS)}"
        ) from None
    except RecursionError:
        raise ConfigurationError("JSON Schema is nested too deep to check") from None
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"JSON Schema is not JSON-serializable: {exc}") from None
    native, refused = _native_validator(schema)

    def validate(data: Any, ctx: dict[str, Any] | None, *, large: bool = False) -> Any:
        if native is not None:
            try:
                if native.is_valid(data):
                    return data
                if large:
                    native.validate(data)
            except refused as exc:  # its first error
                raise SchemaErrors((_native_error(exc),)) from None
            except Exception:  # the Python validator decides instead
                pass
        found = itertools.islice(validator.iter_errors(data), MAX_ERRORS_READ + 1)
        try:
            errors = tuple(_jsonschema_error(e) for e in found)
        except RecursionError:
            # jsonschema recurses a few frames a level: JSON that parsed can be too deep.
            raise SchemaErrors((FieldError("$", _TOO_DEEP, ""),)) from None
        if len(errors) > MAX_ERRORS_READ:
            errors = (*errors[:MAX_ERRORS_READ], _too_many(f"more than {MAX_ERRORS_READ}"))
        if errors:
            raise SchemaErrors(errors)
        return data

    def validate_json(text: Any, ctx: dict[str, Any] | None) -> Any:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            detail = _cut(f"Invalid JSON: {exc}", MESSAGE_CHARS)
            cut_short = isinstance(exc, json.JSONDecodeError) and (
                exc.pos >= len(exc.doc) or exc.msg.startswith("Unterminated string")
            )
            raise NotJSON((FieldError("$", detail, shorten(text)),), cut_short=cut_short) from None
        return validate(data, ctx, large=len(text) > LARGE_ANSWER)

    title = schema.get("title")
    return CompiledSchema(
        name=title if isinstance(title, str) and title else "json_schema",
        kind="json_schema",
        source=schema,
        context=None,
        json_types=_json_types(schema, schema),
        _from_python=validate,
        _from_json=validate_json,
        _schema_json=schema_json,
    )


def _details(exc: pydantic.ValidationError) -> list[pydantic_core.ErrorDetails]:
    """The error details of ``exc``, unless there are too many to read quickly.

    pydantic builds the list whole, at microseconds an error, and a wrong 10 MB array
    has millions: past `MAX_ERRORS_READ` they are counted, not listed.

    Raises:
        SchemaErrors: There are too many; its one error says how many.
    """
    count = exc.error_count()
    if count > MAX_ERRORS_READ:
        raise SchemaErrors((_too_many(str(count)),)) from None
    return exc.errors(include_url=False)


def _too_many(count: str) -> FieldError:
    return FieldError("$", f"{count} validation errors, too many to list", "")


def pydantic_errors(details: list[pydantic_core.ErrorDetails]) -> tuple[FieldError, ...]:
    """pydantic's error details as llmguard's compact `FieldError` values."""
    return tuple(
        FieldError(
            _path(err["loc"]),
            _clean(err["msg"]),
            # A missing field's input is the whole parent object: noise in a re-ask.
            "" if err["type"].startswith("missing") else shorten(err.get("input")),
        )
        for err in details
    )


def _native_validator(schema: dict[str, Any]) -> tuple[Any, type[Exception]]:
    """jsonschema-rs' validator of ``schema`` (offline, linear-time regular expressions),
    and the error it raises; ``None`` when it cannot take the schema, and python-jsonschema
    alone decides.

    It answers "valid?" natively, in milliseconds for a 10 MB answer where the Python
    validator takes seconds. It checks formats at least as strictly as the Python one,
    so when it refuses a value of a short answer the Python validator gives the errors
    (and has the last word); for an answer over `LARGE_ANSWER` its first error is used.
    """
    try:
        import jsonschema_rs

        validator = jsonschema_rs.validator_for(
            schema,
            validate_formats=True,
            offline=True,
            pattern_options=jsonschema_rs.RegexOptions(),
        )
    except Exception:  # a schema only python-jsonschema takes
        return None, _NeverRaised
    return validator, jsonschema_rs.ValidationError


class _NeverRaised(Exception):
    """Stands for the native validator's error when there is no native validator."""


def _native_error(error: Any) -> FieldError:
    path = [key for key in getattr(error, "instance_path", ()) if isinstance(key, (str, int))]
    value = shorten(getattr(error, "instance", ""))
    return FieldError(
        _path(path), _cut(_clean(str(getattr(error, "message", error))), MESSAGE_CHARS), value
    )


def _jsonschema_error(error: Any) -> FieldError:
    value = "" if error.validator == "required" else shorten(error.instance)
    return FieldError(_path(error.absolute_path), _clean(error.message), value)


def _path(loc: Iterable[str | int]) -> str:
    parts = ["$"]
    for key in loc:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif key.isidentifier():
            parts.append(f".{key}")
        else:
            parts.append(f"[{json.dumps(key, ensure_ascii=False)}]")
    return "".join(parts)


def _clean(message: str) -> str:
    return _cut(" ".join(_URL.sub("", message).split()), MESSAGE_CHARS)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shorten(value: Any) -> str:
    """``value`` as JSON, cut to :data:`VALUE_CHARS`; never raises.

    Only the start of the value is serialized, so a huge one costs no more than a small.
    """
    try:
        head = _head(value)
    except Exception:  # a mapping or sequence that fails when read
        return f"<{type(value).__name__}>"
    try:
        text = pydantic_core.to_json(head, serialize_unknown=True).decode()
    except Exception:
        try:
            text = repr(head)
        except Exception:  # a broken __repr__ or iterator, or a value nested too deep
            text = f"<{type(value).__name__}>"
    return _cut(text, VALUE_CHARS)


def _head(value: Any) -> Any:
    """The first `_HEAD_NODES` nodes of ``value``, strings and keys cut to `VALUE_CHARS`.

    Its JSON begins as the whole value's does, and past the cut it is already longer
    than `VALUE_CHARS`, so the shortened text is the same as the whole value's.
    """
    left = _HEAD_NODES

    def head(node: Any) -> Any:
        nonlocal left
        left -= 1
        if isinstance(node, str):
            return node[:VALUE_CHARS]
        if isinstance(node, (list, tuple)):
            items = []
            for item in node:
                if left <= 0:
                    break
                items.append(head(item))
            return items
        if isinstance(node, dict):
            fields = {}
            for key, item in node.items():
                if left <= 0:
                    break
                fields[key[:VALUE_CHARS] if isinstance(key, str) else key] = head(item)
            return fields
        return node

    return head(value)


def _json_types(node: Any, root: dict[str, Any]) -> frozenset[str] | None:
    """The JSON types a schema accepts at its top, or ``None`` when it cannot tell."""
    if not isinstance(node, dict):
        return None
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
        section, _, name = ref[2:].partition("/")  # check_schema made the section a dict
        return _json_types(root.get(section, {}).get(name), root)
    declared = node.get("type")
    if isinstance(declared, (str, list)):
        return frozenset([declared] if isinstance(declared, str) else map(str, declared))
    if "const" in node or isinstance(node.get("enum"), list):
        values = [node["const"]] if "const" in node else node["enum"]
        return frozenset(
            "null" if v is None else _PY_JSON_TYPES.get(type(v), "object") for v in values
        )
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and options:
            merged: set[str] = set()
            for option in options:
                found = _json_types(option, root)
                if found is None:
                    return None
                merged |= found
            return frozenset(merged)
    if "properties" in node:
        return frozenset({"object"})
    return None


def _fits(types: frozenset[str] | None, body: str) -> bool:
    """Whether JSON ``body`` has a root type in ``types``, judged by its first character."""
    if types is None:
        return True
    found = _FIRST_CHAR_TYPES.get(body[:1], "number")
    return found in types or (found == "number" and "integer" in types)


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and get_origin(tp) is None:  # list[X] is a type on Python 3.10
        return tp.__name__
    # "list[app.models.Item]" -> "list[Item]"; "typing.Literal[...]" -> "Literal[...]"
    return re.sub(r"\b(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_])", "", repr(tp))
