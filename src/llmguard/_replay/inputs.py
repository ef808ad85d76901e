"""From a recorded call to arguments: checking a record can be replayed and binding its input."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from llmguard._core.records import Record
from llmguard._core.wrap import unwrap_callable
from llmguard.exceptions import ReplayError
from llmguard.redact import METADATA_KEY

__all__ = ["check_record"]


def check_record(record: Record, *, allow_redacted: bool = False) -> None:
    """Check that ``record`` holds a guarded call's input, complete and unredacted.

    Raises:
        ReplayError: It does not; the message says why and what to do instead.
    """
    span_id = record.span_id
    if record.kind == "attempt":
        number = (record.attempt or {}).get("number", "?")
        raise ReplayError(
            span_id,
            f"span {span_id} is attempt {number} of a guarded call; replay the call "
            f"itself, span {record.parent_id}",
        )
    if record.kind != "llm":
        raise ReplayError(
            span_id,
            f"span {span_id} is a {record.kind} record; only the llm record of a "
            "guarded call can be replayed",
        )
    if record.input is None:
        why = (
            "a redactor failed, so its content was dropped"
            if "llmguard.redaction" in record.metadata
            else "content was not captured (capture_content=False)"
        )
        raise ReplayError(span_id, f"span {span_id} has no recorded input: {why}")
    digest = (record.truncated or {}).get("input")
    if digest is not None:
        raise ReplayError(
            span_id,
            f"span {span_id}'s input was cut to fit max_content_bytes (it had "
            f"{digest.bytes} bytes); only a complete input can be replayed",
        )
    redacted = record.metadata.get(METADATA_KEY)
    if redacted and not allow_redacted:
        kinds = ", ".join(sorted(redacted)) if isinstance(redacted, Mapping) else str(redacted)
        raise ReplayError(
            span_id,
            f"span {span_id}'s content was redacted ({kinds}), so its input may differ "
            "from what was sent; allow redacted records to replay it as recorded",
        )


def prepare(
    record: Record, fn: Callable[..., Any], allow_redacted: bool
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if not callable(fn):
        raise TypeError(f"replay needs a function to run, not {fn!r}")
    check_record(record, allow_redacted=allow_redacted)
    try:
        signature: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):
        signature = None
    value = copy.deepcopy(record.input)  # the function may change what it is given
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    if isinstance(value, list) and _is_messages(value, signature):
        args, kwargs = _messages_arguments(record, fn, value, signature)
    elif isinstance(value, list):
        args = tuple(value)
    elif isinstance(value, dict):
        kwargs = value
    else:
        raise ReplayError(
            record.span_id,
            f"span {record.span_id}'s input is a {type(value).__name__}, not the "
            "messages or the arguments of a call",
        )
    if signature is not None:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ReplayError(
                record.span_id,
                f"the input of span {record.span_id} does not fit "
                f"{function_name(fn)}{signature}: {exc}",
            ) from None
    return args, kwargs


def _is_messages(value: list[Any], signature: inspect.Signature | None) -> bool:
    # The guard records a call's messages list when it has one, else its arguments; a
    # list of chat turns can only be the former.
    if not value:
        return False
    if signature is not None and "messages" in signature.parameters:
        return True
    return all(isinstance(item, Mapping) and "role" in item for item in value)


def _messages_arguments(
    record: Record,
    fn: Callable[..., Any],
    messages: list[Any],
    signature: inspect.Signature | None,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if signature is None:
        return (), {"messages": messages}
    parameters = list(signature.parameters.values())
    param = signature.parameters.get("messages")
    if param is None:
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            return (), {"messages": messages}
        raise ReplayError(
            record.span_id,
            f"span {record.span_id} recorded a messages list, but {function_name(fn)} takes "
            "no `messages` parameter",
        )
    if param.kind is inspect.Parameter.POSITIONAL_ONLY:
        if parameters[0] is not param:
            raise ReplayError(
                record.span_id,
                f"{function_name(fn)} takes `messages` positionally after other arguments, "
                "which the record does not hold",
            )
        return (messages,), {}
    return (), {"messages": messages}


def function_name(fn: Any) -> str:
    """The qualified name messages use for ``fn`` (through any decorator)."""
    target = unwrap_callable(fn)
    return str(getattr(target, "__qualname__", None) or type(target).__qualname__)
