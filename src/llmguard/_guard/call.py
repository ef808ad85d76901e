"""A guarded call's arguments, and how a failed answer is fed back (the re-ask)."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmguard._core.content import scrub, snapshot, valid_text
from llmguard._core.field_errors import FieldError, format_errors
from llmguard._core.reply import as_list, as_str, get
from llmguard._core.wrap import unwrap_callable

if TYPE_CHECKING:
    from llmguard._core.outcomes import Attempt
    from llmguard._core.reply import Reply, ToolCall

__all__ = [
    "Call",
    "Parameters",
    "Reask",
    "as_messages",
    "default_reask",
    "prefill",
]


@dataclass(frozen=True, slots=True)
class Parameters:
    """Where a function takes the arguments the guard reads, found once per function."""

    positions: Mapping[str, int]
    names: frozenset[str]
    is_method: bool
    model_default: str | None = None  # the ``model`` parameter's default, if a name

    @classmethod
    def of(cls, fn: Any) -> Parameters:
        """Read ``fn``'s signature; a callable without one takes everything by keyword."""
        try:
            params = list(inspect.signature(getattr(fn, "__func__", fn)).parameters.values())
        except (TypeError, ValueError):
            return cls({}, frozenset(), False)
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        order = [p.name for p in params if p.kind in positional]
        is_method = (
            bool(order)
            and order[0] in ("self", "cls")
            and not isinstance(fn, staticmethod)
            and inspect.isfunction(unwrap_callable(fn))
        )
        accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        names = frozenset(p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL)
        model = next((p.default for p in params if p.name == "model"), None)
        return cls(
            {name: i for i, name in enumerate(order)},
            names | {"**"} if accepts_any else names,
            is_method,
            model if isinstance(model, str) else None,
        )

    def takes(self, name: str) -> bool:
        """Whether the function has a parameter called ``name``."""
        return name in self.names


_MISSING: Any = object()


# Not frozen, as a frozen dataclass costs an ``object.__setattr__`` per field on every
# guarded call; nothing in llmguard changes a call once made (see `with_argument`).
@dataclass(slots=True)
class Call:
    """One call of a guarded function: the function and the arguments it gets.

    A custom ``reask`` receives the original call and returns the one to make next;
    `Call.with_argument` builds it without touching the caller's objects.

    Attributes:
        fn: The function to call (the guarded one, or a fallback).
        args: Positional arguments, without ``self`` for a method.
        kwargs: Keyword arguments.
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    params: Parameters = field(repr=False)
    bound: bool = field(default=False, repr=False)  # self was bound, so args lack it

    def _position(self, name: str) -> int | None:
        position = self.params.positions.get(name)
        if position is not None and self.bound:
            position -= 1
        return position

    def argument(self, name: str, default: Any = None) -> Any:
        """The value of the parameter ``name`` in this call, or ``default``."""
        if name in self.kwargs:
            return self.kwargs[name]
        position = self._position(name)
        if position is not None and 0 <= position < len(self.args):
            return self.args[position]
        return default

    def model(self) -> str | None:
        """The model this call asks for: its ``model`` argument, or that parameter's default."""
        model = self.argument("model", self.params.model_default)
        return model if isinstance(model, str) else None

    def recorded_input(self) -> Any:
        """What an ``llm`` record keeps as the call's input when it has no messages.

        The keyword arguments, or the positional ones, when only one kind was given;
        when both were, every argument by its parameter's name, so that neither kind
        is lost; when some went to ``*args``, the positional list is kept as it is.
        """
        if not self.args or not self.kwargs:
            return self.kwargs or self.args
        offset = 1 if self.bound else 0
        names = {index - offset: name for name, index in self.params.positions.items()}
        if any(index not in names for index in range(len(self.args))):
            return self.args
        return {**{names[i]: value for i, value in enumerate(self.args)}, **self.kwargs}

    def with_argument(self, name: str, value: Any) -> Call:
        """A copy of the call with the parameter ``name`` set to ``value``."""
        position = self._position(name)
        if name not in self.kwargs and position is not None and 0 <= position < len(self.args):
            args = (*self.args[:position], value, *self.args[position + 1 :])
            return Call(self.fn, args, self.kwargs, self.params, self.bound)
        return Call(self.fn, self.args, {**self.kwargs, name: value}, self.params, self.bound)

    def with_function(self, fn: Callable[..., Any], params: Parameters) -> Call:
        """The same arguments, for another function (a fallback)."""
        return Call(fn, self.args, self.kwargs, params, self.bound and params.is_method)

    @property
    def messages(self) -> list[Any] | None:
        """The ``messages`` argument, when the function takes one and it is a list.

        A tuple of messages (dicts, or objects with a ``role``) reads as a list, since
        the SDKs take any iterable: its turns are capped, counted and re-asked like a
        list's, and a changed copy is handed on as a list.
        """
        value = self.argument("messages", _MISSING)
        return value if isinstance(value, list) else as_messages(value)

    @property
    def prompt(self) -> str | None:
        """The ``prompt`` argument, when the function takes one and it is a string."""
        value = self.argument("prompt", _MISSING)
        return value if isinstance(value, str) else None


def as_messages(value: object) -> list[Any] | None:
    """``value`` as a message list: a list as it is, a tuple of messages (dicts, or
    objects with a ``role``) as a new list; ``None`` for anything else."""
    if isinstance(value, list):
        return value
    if isinstance(value, tuple) and all(
        isinstance(turn, Mapping) or hasattr(turn, "role") for turn in value
    ):
        return list(value)
    return None


#: A custom re-ask: the original call and the failed attempt in, the next call out.
Reask = Callable[[Call, "Attempt"], Call]


def correction(attempt: Attempt) -> str:
    """The text that tells the model what was wrong with its answer.

    A tool call's answer is told to the call read as the answer (`Attempt.tool_call`).
    """
    errors = format_errors(attempt.errors)
    tool = attempt.tool_call
    if tool is not None:
        return (
            f"The arguments of your call to {tool.name} did not match the "
            f"required schema:\n{errors}\nCall it again with corrected arguments."
        )
    return (
        "Your answer did not match the required schema:\n"
        f"{errors}\nAnswer again with only the corrected JSON."
    )


def default_reask(call: Call, attempt: Attempt) -> Call:
    """Send the original input, the failed answer and one correction; nothing else.

    Messages (OpenAI or Anthropic shape) get the bad assistant turn (none for an empty
    answer) and a user turn with the errors -- as tool results for failed tool calls,
    one per call --; a ``prompt`` string gets the answer and the correction appended.
    A Responses API ``input`` (a list of items, or a string when the answer came from
    the Responses API) gets the answer's message or function calls as items, then the
    correction: a user message, or a ``function_call_output`` per call; any other
    ``input`` string is re-asked as a prompt is.
    Built from the original call every time, so the context never grows with the
    number of retries. Text the SDK could not encode (lone surrogates) is sent as U+FFFD.

    Of several tool calls, the one read as the answer (`Attempt.answer_index`, set by
    `CompiledSchema.answer_call`) is told every error; calls read as a list's items
    (``None``) are each told theirs: an error at ``$[i]`` goes to call ``i``, any other
    to the first call.
    """
    messages = call.messages
    if messages is not None:
        reply = attempt.reply
        anthropic = reply is not None and reply.provider == "anthropic"
        if anthropic and attempt.tool_call is None and prefill(call):
            # The whole answer, the correction, and the prefill again.
            turns = _reask_turns(attempt, whole_turn=False)
            return call.with_argument("messages", [*messages[:-1], *turns, messages[-1]])
        return call.with_argument("messages", [*messages, *_reask_turns(attempt)])
    prompt = call.prompt
    if prompt is not None:
        return call.with_argument("prompt", _appended(prompt, attempt))
    given = call.argument("input", _MISSING)
    items = _input_items(given, attempt.response)
    if items is not None:
        return call.with_argument("input", [*items, *_responses_items(attempt)])
    if isinstance(given, str):  # not known to be the Responses API: a prompt's re-ask
        return call.with_argument("input", _appended(given, attempt))
    raise TypeError(
        "the call has neither a messages list nor a prompt or input string to re-ask with"
    )


def _appended(prompt: str, attempt: Attempt) -> str:
    """A prompt string with the failed answer and the correction after it."""
    previous = valid_text(attempt.text or "")
    fix = valid_text(correction(attempt))
    return f"{prompt}\n\nYour previous answer:\n{previous}\n\n{fix}"


def _input_items(given: Any, response: Any) -> list[Any] | None:
    """The Responses API ``input`` of the original call as a new list of items: a list or
    tuple of items copied, a string as the user message it stands for when the answer
    came from the Responses API; ``None`` otherwise."""
    if isinstance(given, (list, tuple)):
        return list(given)
    if isinstance(given, str) and _from_responses(response):
        return [{"role": "user", "content": given}]
    return None


def _from_responses(response: Any) -> bool:
    try:
        return get(response, "object") == "response"
    except Exception:  # the caller's own response, of any shape
        return False


def _responses_items(attempt: Attempt) -> list[dict[str, Any]]:
    """The failed answer as Responses API input items, then the correction: the message
    and a user turn, or each function call (after its reasoning) and an output for each."""
    reply = attempt.reply
    calls = reply.tool_calls if reply is not None else ()
    if not calls:
        fix = {"role": "user", "content": valid_text(correction(attempt))}
        previous = valid_text(attempt.text or "")
        return [{"role": "assistant", "content": previous}, fix] if previous.strip() else [fix]
    ids = [call.id or f"call_{index}" for index, call in enumerate(calls)]
    if len(calls) == 1:
        notes = [valid_text(correction(attempt))]
    else:
        errors = _per_call(attempt.errors, len(calls), attempt.answer_index)
        notes = [_call_note(call, found) for call, found in zip(calls, errors, strict=True)]
    made: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    for call_id, call, note in zip(ids, calls, notes, strict=True):
        # A custom tool's call goes back as one, with its free-form input; a function's
        # arguments as JSON (see `_as_sent`: Responses API gateways refuse others too).
        custom = call.kind == "custom"
        kind, field = ("custom_tool_call", "input") if custom else ("function_call", "arguments")
        text = _arguments_text(call.arguments)
        if not custom:
            text = _as_sent(text)
        made.append({"type": kind, "call_id": call_id, "name": call.name, field: text})
        outputs.append({"type": f"{kind}_output", "call_id": call_id, "output": note})
    return [*_with_reasoning(attempt.response, made), *outputs]


def _with_reasoning(response: Any, made: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answer's function calls with the reasoning items that led to them, in the
    response's order, each call with its item ``id``, and every other output item (a
    message, a built-in tool's call) where it stood: OpenAI refuses a reasoning model's
    call sent back without its reasoning item, and a reasoning item without the item that
    followed it. A response not stored (``store=False``) has its reasoning go back whole,
    with its ``encrypted_content``; without it (or with no reasoning) the calls go alone,
    without ids."""
    try:
        output = as_list(get(response, "output")) if _from_responses(response) else []
        stored = get(response, "store") is not False  # the API stores by default
        reasoning = [item for item in output if get(item, "type") == "reasoning"]
        if not reasoning or not all(stored or get(r, "encrypted_content") for r in reasoning):
            return made
        by_id = {item["call_id"]: item for item in made}
        items: list[dict[str, Any]] = []
        for item in output:
            if get(item, "type") not in _CALL_ITEMS:
                # Reasoning, messages, and the built-in tools' calls (a web search...):
                # a reasoning item is refused without the item that followed it.
                items.append(_item(item))
            elif (call := by_id.pop(as_str(get(item, "call_id")) or "", None)) is not None:
                items.append({**call, "id": get(item, "id")} if get(item, "id") else call)
        return [*items, *by_id.values()]
    except Exception:  # the caller's own response, of any shape: the calls alone
        return made


# The output items a re-ask sends back as it builds them, with their outputs.
_CALL_ITEMS = frozenset({"function_call", "custom_tool_call"})


def _item(item: Any) -> dict[str, Any]:
    """An output item as an input item: its fields as they came, unset ones left out."""
    dump = getattr(item, "model_dump", None)
    fields = dump(mode="json", exclude_none=True) if callable(dump) else dict(item)
    return {name: scrub(value) for name, value in fields.items() if value is not None}


def prefill(call: Call) -> str:
    """The text of the call's last turn when it is an assistant turn, else ``""``.

    For Anthropic that turn is a prefill: the answer continues it (``{`` holds Claude to
    JSON), so the answer is read, recorded and re-asked with it in front.
    """
    messages = call.messages
    if not messages:
        return ""
    try:
        last = messages[-1]
        if get(last, "role") != "assistant":
            return ""
        content = get(last, "content")
        if isinstance(content, str):
            return content
        if not isinstance(content, (list, tuple)):
            return ""
        texts = [get(block, "text") for block in content if get(block, "type") == "text"]
        return "".join(text for text in texts if isinstance(text, str))
    except Exception:  # the caller's own objects, of any shape: no prefill is read
        return ""


def _reask_turns(attempt: Attempt, *, whole_turn: bool = True) -> list[dict[str, Any]]:
    """The turns a re-ask adds: the failed answer and the correction. ``whole_turn`` is
    false when an Anthropic text answer continues a prefill, whose re-ask sends the
    answer as one text with the prefill in front."""
    reply = attempt.reply
    calls = reply.tool_calls if reply is not None else ()
    if len(calls) > 1:
        return _calls_turns(attempt, calls, attempt.answer_index)
    text = valid_text(correction(attempt))
    tool = attempt.tool_call
    anthropic = reply is not None and reply.provider == "anthropic"
    if tool is None:
        if whole_turn and anthropic and reply is not None and _server_blocks(reply):
            given = [_text_kept(block) for block in _answered(reply.turn)]
            return [{"role": "assistant", "content": given}, {"role": "user", "content": text}]
        previous = valid_text(attempt.text or "")
        if not previous.strip():
            # Anthropic refuses a turn with no text ("messages must have non-empty
            # content"); the correction alone says the answer was empty.
            return [{"role": "user", "content": text}]
        return [{"role": "assistant", "content": previous}, {"role": "user", "content": text}]
    call_id = tool.id or "call_0"
    if anthropic:
        tool_input = scrub(tool.arguments) if isinstance(tool.arguments, dict) else {}
        return [
            {
                "role": "assistant",
                "content": _with_thinking(
                    reply,
                    [{"type": "tool_use", "id": call_id, "name": tool.name, "input": tool_input}],
                ),
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": call_id,
                        "is_error": True,
                        "content": text,
                    }
                ],
            },
        ]
    arguments = tool.arguments if isinstance(tool.arguments, str) else attempt.text or "{}"
    requested = _requested(call_id, tool, valid_text(arguments), _extra(reply, 0))
    return [
        _chat_turn(reply, [requested]),
        {"role": "tool", "tool_call_id": call_id, "content": text},
    ]


def _chat_turn(reply: Reply | None, requested: list[dict[str, Any]]) -> dict[str, Any]:
    """The Chat Completions assistant turn of a tool re-ask: the calls with the text the
    model said beside them, and its reasoning: through LiteLLM, the thinking blocks it
    keeps of an Anthropic answer (``thinking_blocks``), which it sends back in front of
    the calls as Anthropic requires under extended thinking; else the
    ``reasoning_content`` an OpenAI-compatible server returned; and OpenRouter's
    ``reasoning_details``."""
    said = reply.text if reply is not None and reply.text and reply.text.strip() else None
    turn: dict[str, Any] = {
        "role": "assistant",
        "content": None if said is None else valid_text(said),
        "tool_calls": requested,
    }
    if reply is not None and reply.provider == "litellm" and reply.thinking:
        turn["thinking_blocks"] = [dict(block) for block in reply.thinking]
    elif reply is not None and reply.reasoning_content is not None:
        # DeepSeek's thinking mode answers a tool turn sent back without it with a 400.
        turn["reasoning_content"] = valid_text(reply.reasoning_content)
    if reply is not None and reply.reasoning_details:
        # OpenRouter asks for them back unchanged: Claude's signed thinking, Gemini's
        # and OpenAI's encrypted reasoning are refused when missing or altered.
        turn["reasoning_details"] = scrub(list(reply.reasoning_details))
    return turn


def _requested(call_id: str, call: ToolCall, arguments: str, extra: Any = None) -> dict[str, Any]:
    """A Chat Completions tool call as the assistant turn sends it back: a custom tool's
    call as one (with its ``input``), any other as a function call; with the
    ``extra_content`` the server attached to it (Gemini refuses a call sent back without
    its thought signature), and without the field when it had none."""
    if call.kind == "custom":
        made = {"id": call_id, "type": "custom", "custom": {"name": call.name, "input": arguments}}
    else:
        made = {
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": _as_sent(arguments)},
        }
    if extra is not None:
        made["extra_content"] = scrub(extra)
    return made


def _extra(reply: Reply | None, index: int) -> Any:
    """The ``extra_content`` of the reply's tool call ``index``, if it had one."""
    extras = reply.call_extras if reply is not None else ()
    return extras[index] if index < len(extras) else None


def _as_sent(arguments: str) -> str:
    """Arguments echoed in a re-ask as JSON: ones that are not (cut, or written half as
    XML) go inside an object. OpenAI takes any string, but the gateways that put an
    OpenAI face on Anthropic or Bedrock (LiteLLM, OpenRouter) parse it into a
    ``tool_use`` input and refuse the whole re-ask, on Chat Completions and the Responses
    API alike ("Responses function_call arguments are invalid JSON"); the correction
    quotes the text. A ``tool_use`` input is an object, so JSON of another type goes
    inside one too, and so does ``NaN``, which Python reads but JSON does not have;
    blank arguments go back as ``{}``, the empty object they were read as."""
    if not arguments.strip():
        return "{}"
    try:
        decoded = json.loads(arguments, parse_constant=_not_json)
    except (ValueError, RecursionError):
        decoded = None
    if isinstance(decoded, dict):
        return arguments
    return json.dumps({"invalid_json": arguments}, ensure_ascii=False)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_ITEM_PATH = re.compile(r"\$\[(\d+)\]")


def _per_call(
    errors: Sequence[FieldError], count: int, answer: int | None
) -> list[list[FieldError]]:
    """The errors about each of ``count`` tool calls.

    When call ``answer`` alone was read as the answer, every error is about it, paths
    unchanged (``$[0]`` is then inside its arguments). When the calls were read as the
    items of a list (``answer`` is ``None``), an error at ``$[i]...`` is about call
    ``i``, and is told with its path from that call's own arguments; one about the
    answer as a whole goes with the first call.
    """
    found: list[list[FieldError]] = [[] for _ in range(count)]
    if answer is not None:
        found[answer].extend(errors)
        return found
    for error in errors:
        match = _ITEM_PATH.match(error.path)
        index = int(match.group(1)) if match else -1
        if 0 <= index < count and match is not None:
            path = "$" + error.path[match.end() :]
            found[index].append(FieldError(path, error.message, error.value))
        else:
            found[0].append(error)
    return found


def _call_note(call: ToolCall, errors: list[FieldError]) -> str:
    if not errors:
        return (
            f"No error was found in the arguments of this call to {call.name}. "
            "Make all the calls again, with the others corrected."
        )
    return valid_text(
        f"The arguments of your call to {call.name} did not match the required schema:\n"
        f"{format_errors(tuple(errors))}\nMake all the calls again, with this one corrected."
    )


def _calls_turns(
    attempt: Attempt, calls: Sequence[ToolCall], answer: int | None
) -> list[dict[str, Any]]:
    """The re-ask of an answer given as several tool calls: the assistant turn with every
    call, and a result for each (both APIs require one per call), with its own errors."""
    reply = attempt.reply
    ids = [call.id or f"call_{index}" for index, call in enumerate(calls)]
    errors = _per_call(attempt.errors, len(calls), answer)
    notes = [_call_note(call, found) for call, found in zip(calls, errors, strict=True)]
    if reply is not None and reply.provider == "anthropic":
        uses = [
            {
                "type": "tool_use",
                "id": call_id,
                "name": call.name,
                "input": scrub(call.arguments) if isinstance(call.arguments, dict) else {},
            }
            for call_id, call in zip(ids, calls, strict=True)
        ]
        results = [
            {
                "type": "tool_result",
                "tool_use_id": call_id,
                "is_error": bool(found),
                "content": note,
            }
            for call_id, note, found in zip(ids, notes, errors, strict=True)
        ]
        turn = _with_thinking(reply, uses)
        return [{"role": "assistant", "content": turn}, {"role": "user", "content": results}]
    requested = [
        _requested(call_id, call, _arguments_text(call.arguments), _extra(reply, index))
        for index, (call_id, call) in enumerate(zip(ids, calls, strict=True))
    ]
    return [
        _chat_turn(reply, requested),
        *(
            {"role": "tool", "tool_call_id": call_id, "content": note}
            for call_id, note in zip(ids, notes, strict=True)
        ),
    ]


def _with_thinking(reply: Reply | None, uses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The re-ask's assistant turn: the ``tool_use`` blocks with the answer's thinking and
    text blocks where they stood (`Reply.turn`). With extended thinking on, Anthropic
    refuses a ``tool_result`` whose assistant turn does not hold the thinking that led to
    the call, and thinking blocks moved from their place ("cannot be modified"): a 400
    either way; and the text the model said before a call is part of its turn."""
    if reply is None:
        return uses
    given = _answered(reply.turn) if reply.turn else ()
    if given and sum(block.get("type") == "tool_use" for block in given) == len(uses):
        calls = iter(uses)
        return [
            next(calls) if block.get("type") == "tool_use" else _text_kept(block) for block in given
        ]
    # A Reply made by hand: its thinking blocks where thinking_after puts them, no text.
    if not reply.thinking:
        return uses
    after = reply.thinking_after or (0,) * len(reply.thinking)
    if len(after) != len(reply.thinking) or len(uses) != len(reply.tool_calls):
        after = (0,) * len(reply.thinking)  # a Reply made by hand: the blocks first
    turn: list[dict[str, Any]] = []
    placed = 0
    for block, calls_before in zip(reply.thinking, after, strict=True):
        turn += uses[placed:calls_before]
        placed = max(placed, calls_before)
        turn.append(dict(block))
    return [*turn, *uses[placed:]]


def _text_kept(block: dict[str, Any]) -> dict[str, Any]:
    """A block of `Reply.turn` as it goes back: thinking exactly as it came (a changed
    signature or text is refused), a text block made valid UTF-8, a server tool's block
    as it came with its text made valid."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": valid_text(block.get("text", ""))}
    if kind in _THINKING:
        return dict(block)
    kept: dict[str, Any] = scrub(dict(block))
    return kept


_THINKING = frozenset({"thinking", "redacted_thinking"})
# The blocks of `Reply.turn` a text re-ask can send as the answer's text alone.
_TEXT_TURN = frozenset({"text", "tool_use"} | _THINKING)


def _server_blocks(reply: Reply) -> bool:
    """Whether an Anthropic answer's turn holds blocks beside its text and thinking: a
    server tool's call and result (a web search...), which the re-ask sends back with the
    text, so the model corrects its answer without paying for the search again."""
    return any(block.get("type") not in _TEXT_TURN for block in _answered(reply.turn))


def _answered(turn: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``turn`` without the server tools' calls that have no result in it (a turn paused
    mid-search, ``pause_turn``): followed by the correction, such a call would be left
    without its result, which Anthropic refuses."""
    results = {block.get("tool_use_id") for block in turn if "tool_use_id" in block}
    return [block for block in turn if not _server_call(block) or block.get("id") in results]


def _server_call(block: dict[str, Any]) -> bool:
    """Whether a block is a server tool's call (``server_tool_use``, ``mcp_tool_use``)."""
    kind = block.get("type")
    return isinstance(kind, str) and kind.endswith("tool_use") and kind != "tool_use"


def _arguments_text(arguments: str | dict[str, object]) -> str:
    if isinstance(arguments, str):
        return valid_text(arguments)
    return json.dumps(snapshot(scrub(arguments)), ensure_ascii=False)
