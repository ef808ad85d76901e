"""``adapt()``: registered adapters first, the most recent first, then the built-in ones."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TypeAlias

from llmguard._core.reply import Adapter, Matcher, Reply, checked_usage
from llmguard.adapters._providers import builtin_adapter

__all__ = ["OnError", "adapt", "register"]

#: Receives the exception a matcher or an adapter raised, to count and report it.
OnError: TypeAlias = Callable[[Exception], None]

# Copy-on-write: adapt() reads the tuple without a lock; only writers take it.
_registered: tuple[tuple[Matcher, Adapter], ...] = ()
_lock = threading.Lock()


def register(matcher: Matcher, adapter: Adapter) -> Callable[[], None]:
    """Teach ``adapt`` another response shape.

    Registered adapters are consulted before the built-in ones (plain text included), the
    most recent first.

    Args:
        matcher: Says whether a response is of this shape. If it raises, it did not match.
        adapter: Reads a matching response into a ``Reply``.

    Returns:
        A function that removes this registration again (handy in tests).
    """
    global _registered
    entry = (matcher, adapter)
    with _lock:
        _registered = (entry, *_registered)

    def unregister() -> None:
        global _registered
        with _lock:
            _registered = tuple(e for e in _registered if e is not entry)

    return unregister


def _report(on_error: OnError | None, exc: Exception) -> None:
    if on_error is not None:
        # Reporting must never turn a soft failure into a hard one.
        with contextlib.suppress(Exception):
            on_error(exc)


def adapt(response: object, *, on_error: OnError | None = None) -> Reply | None:
    """Read a model response into a ``Reply``.

    Never raises. A matcher that raises counts as not matching; an adapter that raises on
    a malformed response, or returns something else than a ``Reply``, gives ``None``,
    as an unknown shape does. Either way the exception goes to ``on_error``.

    Args:
        response: Whatever the guarded function returned.
        on_error: Called with any exception a matcher or an adapter raised.

    Returns:
        The normalized reply, or ``None`` when the shape is unknown or malformed (the
        caller then records the usage as unknown).
    """
    for matches, registered in _registered:
        try:
            matched = matches(response)
        except Exception as exc:
            _report(on_error, exc)
            continue
        if matched:
            reply = _run(registered, response, on_error)
            # An application's adapter may put anything in a Usage; the built-in ones
            # read every count with token_count.
            return None if reply is None else checked_usage(reply)
    try:
        adapter = builtin_adapter(response)
    except Exception as exc:
        _report(on_error, exc)
        return None
    return None if adapter is None else _run(adapter, response, on_error)


def _run(adapter: Adapter, response: object, on_error: OnError | None) -> Reply | None:
    try:
        reply: object = adapter(response)
    except Exception as exc:
        _report(on_error, exc)
        return None
    if isinstance(reply, Reply):
        return reply
    _report(on_error, TypeError(f"adapter returned {type(reply).__name__}, not a Reply"))
    return None
