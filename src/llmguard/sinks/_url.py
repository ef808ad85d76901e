"""Sinks from URLs, for configuration by environment variable."""

from __future__ import annotations

from collections.abc import Callable

from llmguard.exceptions import ConfigurationError
from llmguard.sinks._jsonl import JSONLSink
from llmguard.sinks._memory import MemorySink
from llmguard.sinks._protocol import Sink
from llmguard.sinks._sqlite import SQLiteSink

__all__ = ["sink_from_url"]

_FILE_SINKS: dict[str, Callable[[str], Sink]] = {"sqlite": SQLiteSink, "jsonl": JSONLSink}
_FORMS = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, "
    "jsonl:///relative/path.jsonl, jsonl:////absolute/path.jsonl or memory://"
)


def sink_from_url(url: str) -> Sink:
    """Make the sink a URL describes.

    As in SQLAlchemy, the path starts after the third slash: ``sqlite:///a.db`` is
    ``a.db`` relative to the working directory and ``sqlite:////tmp/a.db`` is
    ``/tmp/a.db``.

    Args:
        url: ``sqlite:///<path>``, ``jsonl:///<path>`` or ``memory://``.

    Returns:
        A new `SQLiteSink`, `JSONLSink` or `MemorySink`.

    Raises:
        ConfigurationError: ``url`` is none of the accepted forms, or names a path the
            sink cannot write to.
    """
    scheme, separator, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if separator:
        if scheme == "memory" and not rest:
            return MemorySink()
        path = rest[1:]
        # A "?" would be taken for options this function does not support, so it is
        # refused rather than becoming part of a file name.
        if rest.startswith("/") and path and "?" not in path and scheme in _FILE_SINKS:
            try:
                return _FILE_SINKS[scheme](path)
            except ConfigurationError as exc:
                raise ConfigurationError(f"cannot make a sink from {url!r}: {exc}") from None
    raise ConfigurationError(f"cannot make a sink from {url!r}: expected {_FORMS}")
