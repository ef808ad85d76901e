"""Near-JSON repaired before a paid re-ask, and what to tell the model when it is not JSON.

:func:`repairs` hands the ``json-repair`` library the JSON-looking spans of an answer --
trailing commas, single quotes, unquoted keys, ``True``/``None``, brackets left open at
the end -- and yields what it makes of them, for the schema to judge: a repair is only
ever a candidate, never an answer of its own.

``json-repair`` is pure Python and far from linear on hostile text (16 KB of ``[{]]``
takes it 15 s; an unterminated string full of brackets, 15 s), and it makes a value of
anything (``{maybe}`` becomes ``["maybe}"]``, ``{a: }`` becomes ``{"a": ""}``). So it is
only given a span that is JSON but for those slips (see `_span`): from an opening
bracket, at most `MAX_REPAIR_CHARS` characters, nested at most `MAX_REPAIR_DEPTH` deep,
and what it returns must be the same kind of container. Anything else is not repaired,
and is re-asked. The span is read in one pass that never goes past the cap, so a 10 MB
answer costs what 16 KB does.

:func:`syntax_error` says why an answer with no JSON value in it is not JSON: the
problem and where, as pydantic's JSON parser (jiter) reports it, in the answer's own
lines and columns, with a hint for the common slips.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pydantic_core

from llmguard._core.field_errors import FieldError

__all__ = [
    "JSON_DEPTH_LIMIT",
    "MAX_REPAIRS",
    "MAX_REPAIR_CHARS",
    "MAX_REPAIR_DEPTH",
    "SyntaxProblem",
    "mends_nothing",
    "repairs",
    "syntax_error",
]

#: Longest span handed to ``json-repair``: past it the answer is re-asked, unrepaired.
#: At the library's slowest on spans that pass the checks below, about 4 µs a character.
MAX_REPAIR_CHARS = 16_384
#: Deepest nesting handed to ``json-repair``.
MAX_REPAIR_DEPTH = 32
#: Spans handed to ``json-repair`` for one answer.
MAX_REPAIRS = 2
#: Opening brackets looked at, for repairs and for the syntax error.
MAX_STARTS = 8
#: The deepest nesting pydantic's JSON parser (jiter) reads: its limit of 200 nested
#: values, the outermost not counted.
JSON_DEPTH_LIMIT = 201

# One token of JSON as models write it, or of the near-JSON json-repair mends. The
# string patterns never backtrack: each part takes characters the next one cannot.
_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<string>"[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*')
    |(?P<open>["'])
    |(?P<opener>[\[{])
    |(?P<closer>[\]}])
    |(?P<colon>:)
    |(?P<comma>,)
    |(?P<word>[\w.+-]+)
    """,
    re.VERBOSE | re.DOTALL,
)
# What a bare word may be: a key (in an object), or a number or a literal (as a value).
_KEY = re.compile(r"[^\W\d]\w*")
_SCALAR = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|True|False|None")
# What an open container expects next.
_OPENED, _AFTER_KEY, _AFTER_COLON, _AFTER_VALUE, _AFTER_COMMA, _VALUE = range(6)
_WANTS_VALUE = frozenset({_VALUE, _AFTER_COLON, _OPENED, _AFTER_COMMA})
_PAIRS = {"}": "{", "]": "["}
_FENCE = "```"
_AT = re.compile(r" at line (\d+) column (\d+)$")
#: Lines walked to find where an error is, to quote the answer there.
_MAX_LINES_WALKED = 100_000
_EXCERPT_BEFORE = 24
_EXCERPT_AFTER = 16
_LITERALS = ("True", "False", "None")
# jiter's words for a problem, where a model needs plainer ones.
_PLAIN = {"expected ident": "expected value"}


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    """Why the JSON-looking part of an answer is not JSON.

    Attributes:
        error: The error to send back: where, what, and the answer around it.
        first: The first character of the JSON-looking part (``{`` or ``[``).
    """

    error: FieldError
    first: str


def repairs(text: str) -> Iterator[tuple[str, str]]:
    """``(stage, json)`` for the JSON-looking spans of ``text`` that ``json-repair`` mends.

    ``stage`` is where the span was: ``"strict"`` (the whole answer), ``"fence"`` (in a
    markdown fence) or ``"embedded"`` (in prose). At most `MAX_REPAIRS` spans are
    repaired, among the first `MAX_STARTS` opening brackets; spans that are JSON already
    were judged by the earlier stages and are skipped. Never raises.
    """
    import json_repair

    pos = 0
    repaired = 0
    for _ in range(MAX_STARTS):
        if repaired >= MAX_REPAIRS:
            return
        start = _opener(text, pos)
        if start < 0:
            return
        span = _span(text, start)
        if span is None:
            pos = start + 1
            continue
        pos = start + len(span)
        if _is_json(span):
            continue
        repaired += 1
        try:
            fixed = json_repair.repair_json(span, skip_json_loads=True)
        except Exception:  # RecursionError, ValueError...: the library gave up
            continue
        if isinstance(fixed, str) and fixed[:1] == span[0]:
            yield _stage(text, start, span), fixed


def mends_nothing(text: str) -> bool:
    """Whether `repairs` is sure to yield nothing for ``text`` (stripped), known without
    tokenizing it: ``text`` is one JSON object or array that the span reader takes
    whole, and a span that is JSON already is skipped.

    True when the text parses as JSON, starts with a bracket, fits in
    `MAX_REPAIR_CHARS`, has at most `MAX_REPAIR_DEPTH` opening brackets in all (so no
    deeper nesting), and holds neither ``NaN`` nor ``Infinity`` (which the parser takes
    and the span reader does not). False says nothing: `repairs` then reads the text.
    """
    return (
        text[:1] in ("{", "[")
        and len(text) <= MAX_REPAIR_CHARS
        and text.count("{") + text.count("[") <= MAX_REPAIR_DEPTH
        and "NaN" not in text
        and "Infinity" not in text
        and _is_json(text)
    )


def syntax_error(text: str) -> SyntaxProblem | None:
    """What is wrong with the first JSON-looking part of ``text``, if it has one.

    The part runs from an opening bracket to the end; one that is JSON followed by more
    text is skipped (its value was judged already). Never raises.
    """
    pos = 0
    for _ in range(MAX_STARTS):
        start = _opener(text, pos)
        if start < 0:
            return None
        try:
            pydantic_core.from_json(text[start:])
        except ValueError as exc:
            message = str(exc)
        except Exception:  # text that cannot even be encoded: not a syntax error
            return None
        else:
            return None  # JSON to the end: its value was judged already
        if not message.startswith("trailing characters"):
            return SyntaxProblem(_describe(text, start, message), text[start])
        # A JSON value followed by more text: look on after it, never inside it again.
        found = _AT.search(message)
        end = None if found is None else _offset(text, start, *map(int, found.groups()))
        if end is None:
            return None
        pos = max(end, start + 1)
    return None


def _span(text: str, start: int) -> str | None:
    """The near-JSON value starting at ``start``, or ``None`` if it is not one to repair.

    Near-JSON is JSON's grammar with the slips `repairs` mends: strings in single quotes,
    bare keys, ``True``/``False``/``None``, a comma before a closing bracket, and closing
    brackets missing at the end -- where the answer stops right after a value or a comma,
    so nothing has to be invented (no empty value for a key, no string cut short).
    The value ends where its brackets balance, at the end of the text, or at a markdown
    fence with brackets still open (an answer cut short inside a fence).
    """
    size = len(text)
    limit = min(size, start + MAX_REPAIR_CHARS)
    stack: list[str] = []  # the open containers' brackets
    states: list[int] = []  # what each open container expects next
    pos = start
    match = _TOKEN.match
    while pos < limit:
        if text.startswith(_FENCE, pos):
            break
        token = match(text, pos, limit)
        if token is None:
            return None
        end = token.end()
        kind = token.lastgroup
        if kind == "space":
            pos = end
            continue
        if kind == "open" or (not stack and kind != "opener"):
            return None  # a string left open (its value would be cut short)
        state = states[-1] if states else _VALUE
        if kind == "opener":
            if state not in _WANTS_VALUE or len(stack) >= MAX_REPAIR_DEPTH:
                return None
            if states:
                states[-1] = _AFTER_VALUE  # once this container closes
            stack.append(text[pos])
            states.append(_OPENED)
        elif kind == "closer":
            if _PAIRS[text[pos]] != stack[-1] or state in (_AFTER_KEY, _AFTER_COLON):
                return None
            stack.pop()
            states.pop()
            if not stack:
                return text[start:end]
        elif kind == "colon":
            if stack[-1] != "{" or state != _AFTER_KEY:
                return None
            states[-1] = _AFTER_COLON
        elif kind == "comma":
            if state != _AFTER_VALUE:
                return None
            states[-1] = _AFTER_COMMA
        elif stack[-1] == "{" and state in (_OPENED, _AFTER_COMMA):
            if kind == "word" and not _KEY.fullmatch(token.group()):
                return None
            states[-1] = _AFTER_KEY
        elif state in _WANTS_VALUE:
            if kind == "word" and not _SCALAR.fullmatch(token.group()):
                return None  # a bare word is no value: json-repair would make it a string
            states[-1] = _AFTER_VALUE
        else:
            return None  # two values with nothing between them
        pos = end
    if pos < size and not text.startswith(_FENCE, pos):
        return None  # longer than MAX_REPAIR_CHARS
    if not stack or states[-1] not in (_AFTER_VALUE, _AFTER_COMMA):
        return None  # cut where a value would have to be made up
    return text[start:pos].rstrip()


def _is_json(span: str) -> bool:
    try:
        pydantic_core.from_json(span)
    except Exception:
        return False
    return True


def _opener(text: str, pos: int) -> int:
    """Where the first ``{`` or ``[`` at or after ``pos`` is, or -1 (two memchr scans)."""
    brace, bracket = text.find("{", pos), text.find("[", pos)
    return bracket if brace < 0 else brace if bracket < 0 else min(brace, bracket)


def _stage(text: str, start: int, span: str) -> str:
    if not text[:start].strip() and not text[start + len(span) :].strip():
        return "strict"
    return "fence" if text.count(_FENCE, 0, start) % 2 else "embedded"


def _describe(text: str, start: int, message: str) -> FieldError:
    """The error for jiter's ``message`` about the JSON starting at ``text[start]``."""
    found = _AT.search(message)
    problem = message[: found.start()] if found else message
    problem = _PLAIN.get(problem, problem)
    if problem.startswith("recursion limit exceeded"):
        detail = (
            f"the JSON is nested more than {JSON_DEPTH_LIMIT} levels deep, deeper than the "
            "parser reads; answer with flatter JSON"
        )
        return FieldError("$", detail, "")
    if found is None:
        return FieldError("$", f"the answer is not valid JSON: {problem}", "")
    line, column = int(found.group(1)), int(found.group(2))
    offset = _offset(text, start, line, column)
    # The position in the whole answer, which is what the model wrote.
    before = text.count("\n", 0, start)
    if line == 1:
        column += start - (text.rfind("\n", 0, start) + 1)
    line += before
    where = f"line {line}, column {column}"
    hint = _hint(problem, text, offset)
    detail = f"the answer is not valid JSON: {problem} at {where}{hint}"
    return FieldError("$", detail, _excerpt(text, offset))


def _offset(text: str, start: int, line: int, column: int) -> int | None:
    """The index in ``text`` of ``line``/``column`` (1-based) of the JSON at ``start``."""
    if line > _MAX_LINES_WALKED:
        return None
    pos = start
    for _ in range(line - 1):
        pos = text.find("\n", pos) + 1
        if pos == 0:
            return None
    return min(pos + column - 1, len(text))


def _hint(problem: str, text: str, offset: int | None) -> str:
    ahead = "" if offset is None else text[offset : offset + 5]
    if offset is not None:
        # jiter may stop inside a word ("None" reads as the start of "NaN"): its start.
        word = offset
        while word > 0 and offset - word < 5 and text[word - 1].isalpha():
            word -= 1
        ahead = text[word : word + 5] if text[word : word + 5].startswith(_LITERALS) else ahead
    if problem == "trailing comma":
        return " (remove the comma before the closing bracket)"
    if ahead.startswith("'"):
        return " (JSON strings and keys take double quotes)"
    if problem == "key must be a string":
        return " (put every key in double quotes)"
    if ahead.startswith(_LITERALS):
        return " (JSON writes true, false and null in lower case)"
    if problem.startswith("EOF while parsing"):
        return " (the JSON ends before every string, array and object is closed)"
    return ""


def _excerpt(text: str, offset: int | None) -> str:
    """The answer around ``offset``, as a JSON string, cut short on both sides."""
    if offset is None:
        return ""
    head = max(0, offset - _EXCERPT_BEFORE)
    piece = text[head : offset + _EXCERPT_AFTER]
    quoted = json.dumps(piece, ensure_ascii=False)
    quoted = quoted.encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    return ("..." if head else "") + quoted
