"""The built-in adapters: OpenAI Chat Completions and Responses, Anthropic, LiteLLM.

Each reads the provider's objects and their dict form alike, through ``get``. Usage is
normalized so that ``input`` is every input token billed, of which ``cached_input`` were
read from a prompt cache and ``cache_write`` written to one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmguard._core.records import blank_twin, usage_of
from llmguard._core.reply import (
    MAX_TOKENS,
    Adapter,
    Reply,
    ReportedError,
    ToolCall,
    Usage,
    arguments,
    as_int,
    as_list,
    as_str,
    from_litellm,
    get,
    get_rare,
    read_by_attribute,
    token_count,
)

__all__ = [
    "CHAT_USAGE",
    "THINKING_FIELDS",
    "anthropic_reply",
    "builtin_adapter",
    "call_extras",
    "chat_error",
    "chat_finish",
    "litellm_cache_writes",
    "litellm_thinking",
    "openai_chat",
    "other_block",
    "openai_responses",
    "openai_usage",
    "reasoning_details",
    "reported_error",
    "responses_tool_call",
    "TOOL_USE_PLACE",
    "text_block",
    "thinking_block",
]

CHAT_USAGE = (
    "prompt_tokens",
    "completion_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
)
_RESPONSES_USAGE = (
    "input_tokens",
    "output_tokens",
    "input_tokens_details",
    "output_tokens_details",
)


def openai_usage(
    usage: object, names: tuple[str, str, str, str], problems: list[str]
) -> Usage | None:
    """Chat or Responses usage; OpenAI's input count already includes the tokens read
    from and written to its prompt cache (``cached_tokens``, ``cache_write_tokens``).

    A count that is not a count is unknown, and said so in ``problems``.
    """
    inp, out, inp_details, out_details = names
    input_ = token_count(get(usage, inp), inp, problems)
    output = token_count(get(usage, out), out, problems)
    if input_ is None and output is None and not problems:
        return None
    total = token_count(get(usage, "total_tokens"), "total_tokens", problems)
    if total is None and input_ is not None and output is not None:
        total = input_ + output
    details = get(usage, inp_details)
    reasoning = get(get(usage, out_details), "reasoning_tokens")
    cached = get(details, "cached_tokens")
    return _usage(input_, output, total, cached, _cache_writes(details), reasoning, problems)


def _usage(
    input_: int | None,
    output: int | None,
    total: int | None,
    cached: object,
    written: object,
    reasoning: object,
    problems: list[str],
) -> Usage:
    """The `Usage` of counts already read, the details' counts checked here."""
    return usage_of(
        input_,
        output,
        None if cached is None else token_count(cached, "cached_tokens", problems),
        None if written is None else token_count(written, "cache_write_tokens", problems),
        None if reasoning is None else token_count(reasoning, "reasoning_tokens", problems),
        total,
    )


# Whether a details class can hold cache_write_tokens: openai releases before 2.44 have
# no such field, and probing a pydantic model for a field it lacks costs microseconds,
# so each class is looked at once (a dict, or a class that is no pydantic model, always
# can).
_HOLDS_CACHE_WRITES: dict[type, bool] = {}


def _cache_writes(details: object) -> object:
    cls = type(details)
    holds = _HOLDS_CACHE_WRITES.get(cls)
    if holds is False:
        return None
    if holds is None and len(_HOLDS_CACHE_WRITES) < 64:
        declared = getattr(cls, "model_fields", None)
        holds = not isinstance(declared, dict) or "cache_write_tokens" in declared
        _HOLDS_CACHE_WRITES[cls] = holds
        if not holds:
            return None
    return get(details, "cache_write_tokens")


def _anthropic_usage(usage: object, problems: list[str]) -> Usage | None:
    """Anthropic usage: ``input_tokens`` excludes cache reads and writes, so add them back.

    A count that is not a count is unknown, and said so in ``problems``.
    """
    fresh = token_count(get(usage, "input_tokens"), "input_tokens", problems)
    output = token_count(get(usage, "output_tokens"), "output_tokens", problems)
    if fresh is None and output is None and not problems:
        return None
    seen = len(problems)
    read = token_count(get(usage, "cache_read_input_tokens"), "cache_read_input_tokens", problems)
    written = token_count(
        get(usage, "cache_creation_input_tokens"), "cache_creation_input_tokens", problems
    )
    # A cache count that is not a count leaves the whole input unknown.
    input_ = None if fresh is None or len(problems) > seen else fresh + (read or 0) + (written or 0)
    thinking = get(get_rare(usage, "output_tokens_details"), "thinking_tokens")
    return Usage(
        input=input_,
        output=output,
        cached_input=read,
        cache_write=written,
        reasoning=token_count(thinking, "thinking_tokens", problems),
        total=None if input_ is None or output is None else input_ + output,
    )


# -- OpenAI Chat Completions (and LiteLLM) ------------------------------------------------


def _chat_tool_call(call: object) -> ToolCall:
    if get(call, "type") == "custom":
        custom = get(call, "custom")
        name = as_str(get(custom, "name")) or ""
        return ToolCall(as_str(get(call, "id")), name, arguments(get(custom, "input")), "custom")
    function = get(call, "function")
    name = as_str(get(function, "name")) or ""
    return ToolCall(as_str(get(call, "id")), name, arguments(get(function, "arguments")))


def call_extras(calls: Sequence[object]) -> tuple[Any, ...]:
    """The ``extra_content`` of each Chat Completions tool call (Gemini's thought
    signature, which it refuses a later turn without), ``None`` for a call without it;
    ``()`` when no call has any."""
    extras: list[Any] | None = None
    for index, call in enumerate(calls):
        if (extra := get_rare(call, "extra_content")) is not None:
            if extras is None:
                extras = [None] * len(calls)
            extras[index] = extra
    return () if extras is None else tuple(extras)


def chat_finish(raw: str | None, refusal: str | None) -> str | None:
    """Normalize a Chat Completions ``finish_reason``."""
    # OpenAI ends a refusal with "stop"; say "refusal" so callers need to check one field.
    if refusal is not None and raw in (None, "stop"):
        return "refusal"
    return "tool_calls" if raw == "function_call" else raw


def _text_of(content: object) -> str | None:
    if isinstance(content, str) or content is None:
        return content
    # Some OpenAI-compatible servers answer with a list of content parts.
    parts = (as_str(get(part, "text")) for part in as_list(content))
    return "".join(p for p in parts if p is not None)


def openai_chat(response: object, provider: str = "openai") -> Reply:
    """Read a Chat Completions response; the first choice is the answer."""
    read = _chat_objects(response, provider) if read_by_attribute(response) else None
    return read if read is not None else _chat_any(response, provider)


def _chat_objects(response: object, provider: str) -> Reply | None:
    """`_chat_any` for a response made of the SDK's objects, the common case, reading
    their fields with ``getattr`` directly: what `get` reads, in a fraction of the time.

    ``None`` at the first thing that is not plain -- a dict, a class not met before, an
    index that is no int, a missing first choice -- for `_chat_any` to read it all
    again; so both give the same `Reply`, errors included.
    """
    choices = getattr(response, "choices", None)
    if type(choices) is not list:
        return None
    choice: object = None
    for item in choices:
        if not read_by_attribute(item):
            return None
        index = getattr(item, "index", None)
        if index is None or (type(index) is int and index == 0):
            choice = item
            break
        if type(index) is not int:
            return None
    if choice is None:
        return None
    message = getattr(choice, "message", None)
    if not read_by_attribute(message):
        return None
    found = getattr(message, "tool_calls", None)
    extras: tuple[Any, ...] = ()
    if found is None:
        calls = []
    elif type(found) is list:
        calls = [_chat_tool_call(call) for call in found]
        extras = call_extras(found)
    else:
        return None
    legacy = getattr(message, "function_call", None)
    if legacy is not None:
        calls.append(_chat_tool_call({"function": legacy}))
    refusal = getattr(message, "refusal", None)
    if refusal is not None and not isinstance(refusal, str):
        refusal = None
    content = getattr(message, "content", None)
    text = content if content is None or type(content) is str else _text_of(content)
    problems: list[str] = []
    usage = getattr(response, "usage", None)
    model = getattr(response, "model", None)
    finish = getattr(choice, "finish_reason", None)
    response_id = getattr(response, "id", None)
    thinking = litellm_thinking(message) if provider == "litellm" else ()
    # Only a tool re-ask sends it back: a text answer's is never read.
    reasoning = get_rare(message, "reasoning_content") if calls else None
    counted = _chat_usage(usage, problems)
    if provider == "litellm":
        counted = litellm_cache_writes(usage, counted, problems)
    finish = finish if type(finish) is str else as_str(finish)
    return _reply(
        text,
        tuple(calls),
        counted,
        model if type(model) is str else as_str(model),
        chat_finish(finish, refusal),
        refusal,
        response_id if type(response_id) is str else as_str(response_id),
        provider,
        tuple(problems),
        thinking,
        (),
        (),
        reasoning if type(reasoning) is str else None,
        None if finish in _ANSWERED else chat_error(get_rare(response, "error")),
        extras,
        reasoning_details(message) if calls else (),
    )


_BlankReply = blank_twin(Reply)  # replies are built as records are


def _reply(
    text: str | None,
    tool_calls: tuple[ToolCall, ...],
    usage: Usage | None,
    model: str | None,
    finish_reason: str | None,
    refusal: str | None,
    response_id: str | None,
    provider: str,
    problems: tuple[str, ...],
    thinking: tuple[dict[str, str], ...] = (),
    thinking_after: tuple[int, ...] = (),
    turn: tuple[dict[str, Any], ...] = (),
    reasoning_content: str | None = None,
    error: ReportedError | None = None,
    call_extras: tuple[Any, ...] = (),
    reasoning_details: tuple[Any, ...] = (),
) -> Reply:
    """``Reply(...)`` of every field, a fifth of the frozen dataclass's cost (0.25 against
    1.3 µs); read on every guarded call, beside an SDK call, where it costs more."""
    if _BlankReply is None:
        return Reply(
            text=text,
            tool_calls=tool_calls,
            usage=usage,
            model=model,
            finish_reason=finish_reason,
            refusal=refusal,
            response_id=response_id,
            provider=provider,
            problems=problems,
            thinking=thinking,
            thinking_after=thinking_after,
            turn=turn,
            reasoning_content=reasoning_content,
            error=error,
            call_extras=call_extras,
            reasoning_details=reasoning_details,
        )
    reply: Any = object.__new__(_BlankReply)
    reply.text = text
    reply.tool_calls = tool_calls
    reply.usage = usage
    reply.model = model
    reply.finish_reason = finish_reason
    reply.refusal = refusal
    reply.response_id = response_id
    reply.provider = provider
    reply.problems = problems
    reply.thinking = thinking
    reply.thinking_after = thinking_after
    reply.turn = turn
    reply.reasoning_content = reasoning_content
    reply.error = error
    reply.call_extras = call_extras
    reply.reasoning_details = reasoning_details
    reply.__class__ = Reply
    made: Reply = reply
    return made


def _chat_usage(usage: object, problems: list[str]) -> Usage | None:
    """`openai_usage` of Chat Completions usage, read directly when it is the SDK's
    object holding plain counts (else by `openai_usage`, which reads the same)."""
    if usage is None or not read_by_attribute(usage):
        return openai_usage(usage, CHAT_USAGE, problems)
    input_ = getattr(usage, "prompt_tokens", None)
    output = getattr(usage, "completion_tokens", None)
    total = getattr(usage, "total_tokens", None)
    details = getattr(usage, "prompt_tokens_details", None)
    out_details = getattr(usage, "completion_tokens_details", None)
    if (
        type(input_) is not int
        or type(output) is not int
        or not (0 <= input_ <= MAX_TOKENS and 0 <= output <= MAX_TOKENS)
        or not (total is None or (type(total) is int and 0 <= total <= MAX_TOKENS))
        or not (details is None or read_by_attribute(details))
        or not (out_details is None or read_by_attribute(out_details))
    ):
        return openai_usage(usage, CHAT_USAGE, problems)
    cached = None if details is None else getattr(details, "cached_tokens", None)
    written = None if details is None else _cache_writes(details)
    reasoning = None if out_details is None else getattr(out_details, "reasoning_tokens", None)
    total = input_ + output if total is None else total
    return _usage(input_, output, total, cached, written, reasoning, problems)


def _chat_any(response: object, provider: str) -> Reply:
    """`openai_chat` for any shape: the SDK's objects, their dict form, or a mix."""
    choices = as_list(get(response, "choices"))
    choice = next((c for c in choices if as_int(get(c, "index")) in (0, None)), None)
    message = get(choice, "message")
    found = as_list(get(message, "tool_calls"))
    calls = [_chat_tool_call(call) for call in found]
    legacy = get(message, "function_call")  # deprecated, still sent by some servers
    if legacy is not None:
        calls.append(_chat_tool_call({"function": legacy}))
    refusal = as_str(get(message, "refusal"))
    problems: list[str] = []
    usage = get(response, "usage")
    counted = openai_usage(usage, CHAT_USAGE, problems)
    if provider == "litellm":
        counted = litellm_cache_writes(usage, counted, problems)
    finish = as_str(get(choice, "finish_reason"))
    return Reply(
        text=_text_of(get(message, "content")),
        tool_calls=tuple(calls),
        usage=counted,
        model=as_str(get(response, "model")),
        finish_reason=chat_finish(finish, refusal),
        refusal=refusal,
        response_id=as_str(get(response, "id")),
        provider=provider,
        problems=tuple(problems),
        thinking=litellm_thinking(message) if provider == "litellm" else (),
        reasoning_content=as_str(get_rare(message, "reasoning_content")) if calls else None,
        error=None if finish in _ANSWERED else chat_error(get_rare(response, "error")),
        call_extras=call_extras(found),
        reasoning_details=reasoning_details(message) if calls else (),
    )


def reasoning_details(message: object) -> tuple[Any, ...]:
    """OpenRouter's ``reasoning_details`` on a message, each detail as it came (a dict
    copied, so the frozen reply does not share the SDK's); ``()`` for none, or for a
    value that is not a list."""
    found = get_rare(message, "reasoning_details")
    if not isinstance(found, (list, tuple)):
        return ()
    return tuple(dict(detail) if isinstance(detail, dict) else detail for detail in found)


# How a choice that is an answer finishes: whatever else its body says, it was answered.
_ANSWERED = frozenset({"stop", "length", "tool_calls", "function_call", "content_filter"})


def chat_error(error: object) -> ReportedError | None:
    """The failure a gateway reports in the 200 body of a Chat Completions response
    (OpenRouter's ``{"error": {"code": 502, "message": ...}}``, beside no choice or one
    finished with ``"error"``), which the OpenAI SDK returns without raising; ``None``
    for none, or an empty or false one. A bare string is its message."""
    if error is None or error is False or (isinstance(error, (str, list, dict)) and not error):
        return None
    if isinstance(error, str):
        return ReportedError(None, None, error)
    return reported_error({"error": error})


def litellm_cache_writes(usage: object, counted: Usage | None, problems: list[str]) -> Usage | None:
    """LiteLLM's usage with the prompt-cache writes it reports its own way: Anthropic's
    (and Bedrock's, Vertex's) ``cache_creation_input_tokens`` on the usage, or
    ``cache_creation_tokens`` in its ``prompt_tokens_details``. Its ``prompt_tokens``
    already holds them, as llmguard's ``input`` does; unread, they were billed as plain
    input."""
    if counted is None or counted.cache_write is not None:
        return counted
    written = get(get_rare(usage, "prompt_tokens_details"), "cache_creation_tokens")
    if written is None:
        written = get_rare(usage, "cache_creation_input_tokens")
    if written is None:
        return counted
    found = token_count(written, "cache_creation_input_tokens", problems)
    if not found:  # zero (LiteLLM's default) or not a count: nothing more to say
        return counted
    return usage_of(
        counted.input,
        counted.output,
        counted.cached_input,
        found,
        counted.reasoning,
        counted.total,
    )


def litellm_thinking(message: object) -> tuple[dict[str, str], ...]:
    """The thinking blocks LiteLLM keeps of an Anthropic (or Bedrock, Vertex) answer in
    the message's ``thinking_blocks``, as a re-ask sends them back; LiteLLM turns them
    into the assistant turn's thinking blocks again. A block that is not whole is left
    out."""
    found: list[dict[str, str]] = []
    for block in as_list(get_rare(message, "thinking_blocks")):
        kind = get(block, "type")
        if isinstance(kind, str) and kind in THINKING_FIELDS:
            values = {name: get(block, name) for name in THINKING_FIELDS[kind]}
            if (whole := thinking_block(kind, values)) is not None:
                found.append(whole)
    return tuple(found)


def _litellm(response: object) -> Reply:
    return openai_chat(response, provider="litellm")


# -- OpenAI Responses API -----------------------------------------------------------------

_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def responses_tool_call(item: object) -> ToolCall | None:
    """A ``function_call`` or ``custom_tool_call`` output item as a tool call, else ``None``."""
    kind = get(item, "type")
    if kind not in ("function_call", "custom_tool_call"):
        return None
    call_id, name = as_str(get(item, "call_id")), as_str(get(item, "name")) or ""
    if kind == "custom_tool_call":
        return ToolCall(call_id, name, arguments(get(item, "input")), "custom")
    return ToolCall(call_id, name, arguments(get(item, "arguments")))


def reported_error(error: object) -> ReportedError:
    """A failure the provider reported in a response: a Responses API ``error`` event or
    a failed response's ``error`` (``code`` and ``message``), or an error object nested
    under ``error`` as gateways and Anthropic write it (its ``type`` too). A numeric
    code is read as its digits."""
    inner = get(error, "error")
    named = inner if inner is not None else error
    kind = as_str(get(inner, "type")) if inner is not None else None
    code = get(named, "code")
    if as_int(code) is not None:  # an HTTP status, as OpenRouter gives it
        code = str(code)
    return ReportedError(kind, as_str(code), as_str(get(named, "message")))


def openai_responses(response: object) -> Reply:
    """Read a Responses API response: message items and function calls."""
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[ToolCall] = []
    for item in as_list(get(response, "output")):
        if get(item, "type") == "message":
            for part in as_list(get(item, "content")):
                kind = get(part, "type")
                if kind == "output_text":
                    texts.append(as_str(get(part, "text")) or "")
                elif kind == "refusal":
                    refusals.append(as_str(get(part, "refusal")) or "")
        elif (call := responses_tool_call(item)) is not None:
            calls.append(call)
    refusal = "".join(refusals) if refusals else None
    status = as_str(get(response, "status"))
    finish = status  # failed, cancelled, in_progress, queued: kept as they are
    if refusal is not None:
        finish = "refusal"
    elif status == "completed":
        finish = "tool_calls" if calls else "stop"
    elif status == "incomplete":
        # The two documented reasons are told apart; an incomplete answer without one,
        # or for a reason not known yet, is still unfinished: "incomplete" says so.
        reason = as_str(get(get(response, "incomplete_details"), "reason")) or ""
        finish = _INCOMPLETE.get(reason, status)
    problems: list[str] = []
    usage = openai_usage(get(response, "usage"), _RESPONSES_USAGE, problems)
    # A failed response is the server's failure, not an answer (its error says which).
    failure = reported_error(get(response, "error")) if status == "failed" else None
    return _reply(
        "".join(texts) if texts else None,
        tuple(calls),
        usage,
        as_str(get(response, "model")),
        finish,
        refusal,
        as_str(get(response, "id")),
        "openai",
        tuple(problems),
        error=failure,
    )


# -- Anthropic Messages -------------------------------------------------------------------

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    # the context window, not max_tokens, cut the answer short: still a truncation
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "refusal",
}


def anthropic_reply(
    message: object,
    texts: list[str],
    calls: list[ToolCall],
    usage: object,
    stop: object,
    thinking: tuple[dict[str, str], ...] = (),
    thinking_after: tuple[int, ...] = (),
    turn: tuple[dict[str, Any], ...] = (),
    error: ReportedError | None = None,
) -> Reply:
    """The Reply of a whole message or a stream.

    Args:
        message: Gives ``id`` and ``model``.
        texts: The text blocks, in order.
        calls: The ``tool_use`` blocks, in order.
        usage: Anthropic-shaped usage.
        stop: Gives ``stop_reason`` and ``stop_details`` (the message, or a stream's delta).
        thinking: The thinking blocks, in order (`thinking_block`).
        thinking_after: How many of ``calls`` came before each thinking block.
        turn: The blocks a re-ask sends back, in their order.
        error: The failure a stream reported instead of its end (an ``error`` event).
    """
    text = "".join(texts) if texts else None
    stop_reason = as_str(get(stop, "stop_reason"))
    refusal = None
    if stop_reason == "refusal":
        refusal = as_str(get(get(stop, "stop_details"), "explanation")) or text or ""
    problems: list[str] = []
    counted = _anthropic_usage(usage, problems)
    return _reply(
        text,
        tuple(calls),
        counted,
        as_str(get(message, "model")),
        _STOP_REASONS.get(stop_reason or "", stop_reason),
        refusal,
        as_str(get(message, "id")),
        "anthropic",
        tuple(problems),
        thinking,
        # Where the blocks stood among the calls, kept only when some came after a call.
        thinking_after if any(thinking_after) else (),
        turn,
        error=error,
    )


# The fields of Anthropic's thinking blocks, which a re-ask sends back exactly as they came.
THINKING_FIELDS = {"thinking": ("thinking", "signature"), "redacted_thinking": ("data",)}


def thinking_block(kind: str, values: Mapping[str, object]) -> dict[str, str] | None:
    """A thinking block of type ``kind`` as it goes back to Anthropic, from the values of
    its fields; ``None`` when a field is missing or not a string, or a thinking block's
    signature is empty (a stream cut before it, a gateway that drops it)."""
    fields = THINKING_FIELDS[kind]
    block = {"type": kind}
    for name in fields:
        value = values.get(name)
        if not isinstance(value, str):
            return None
        block[name] = value
    if kind == "thinking" and not block["signature"]:
        return None  # Anthropic refuses a thinking block sent back without its signature
    return block


# A tool_use block's place in `Reply.turn`; the call itself is in `Reply.tool_calls`.
TOOL_USE_PLACE = {"type": "tool_use"}


def text_block(text: str) -> dict[str, str] | None:
    """A text block as a re-ask sends it back; ``None`` for a blank one, which Anthropic
    refuses ("text content blocks must contain non-whitespace text")."""
    return {"type": "text", "text": text} if text.strip() else None


def other_block(block: object) -> dict[str, Any] | None:
    """A content block the adapter does not read -- a server tool's call
    (``server_tool_use``) or result (``web_search_tool_result``...), or a type not known
    yet -- as a re-ask sends it back: its fields as they came, unset ones left out;
    ``None`` when it has no type."""
    if not isinstance(get(block, "type"), str):
        return None
    dump = getattr(block, "model_dump", None)
    fields = dump(mode="json", exclude_none=True) if callable(dump) else block
    if not isinstance(fields, Mapping):
        return None
    return {str(name): value for name, value in fields.items() if value is not None}


def _anthropic(message: object) -> Reply:
    texts: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[dict[str, str]] = []
    after: list[int] = []  # how many calls came before each thinking block
    turn: list[dict[str, Any]] = []
    for block in as_list(get(message, "content")):
        kind = get(block, "type")
        if kind == "text":
            texts.append(as_str(get(block, "text")) or "")
            if (said := text_block(texts[-1])) is not None:
                turn.append(said)
        elif kind == "tool_use":
            name = as_str(get(block, "name")) or ""
            calls.append(ToolCall(as_str(get(block, "id")), name, arguments(get(block, "input"))))
            turn.append(TOOL_USE_PLACE)
        elif isinstance(kind, str) and kind in THINKING_FIELDS:
            values = {name: get(block, name) for name in THINKING_FIELDS[kind]}
            if (found := thinking_block(kind, values)) is not None:
                thinking.append(found)
                after.append(len(calls))
                turn.append(found)
        elif (other := other_block(block)) is not None:
            turn.append(other)  # part of the turn: Anthropic wants it back where it stood
    usage = get(message, "usage")
    return anthropic_reply(
        message, texts, calls, usage, message, tuple(thinking), tuple(after), tuple(turn)
    )


def _text(response: object) -> Reply:
    return Reply(text=str(response))


# Types no provider answers with, turned away before any field is probed.
_NOT_REPLIES = frozenset({int, float, bool, bytes, type(None), list, tuple})


def builtin_adapter(response: object) -> Adapter | None:
    """The built-in adapter for a response, picked by its discriminating fields.

    ``object`` is read first and only once: probing a field a pydantic model lacks costs
    over a microsecond, and this runs on every guarded call.
    """
    if isinstance(response, str):
        return _text
    if type(response) in _NOT_REPLIES:
        return None
    if type(response).__name__ == "ModelResponse" and from_litellm(response):
        return _litellm  # before chat, whose shape it has
    kind = get_rare(response, "object")  # Anthropic's messages have no such field
    if kind == "chat.completion":
        return openai_chat
    if kind == "response":
        return openai_responses
    if get(response, "type") == "message" and get(response, "content") is not None:
        return _anthropic
    if kind is None and get(response, "choices") is not None:
        return openai_chat  # OpenAI-compatible servers that leave out "object"
    if type(response).__name__ == "ChatCompletion" and get_rare(response, "error") is not None:
        return openai_chat  # the SDK's object of a 200 body that holds only an error
    return None
