"""``configure()`` and ``reset()``: changing the settings, and the pipeline with them."""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from llmguard._core.sink import Sink
from llmguard._delivery.pipeline import settings_changed, warm
from llmguard._delivery.settings import (
    Approver,
    PriceFigures,
    Redactor,
    RequestCounter,
    Settings,
    Tokenizer,
    settings,
    swap,
)
from llmguard.exceptions import ConfigurationError

__all__ = ["configure", "reset"]

_UNSET: Any = object()

# One change of the settings at a time, from reading them to the pipeline following
# them: two threads configuring at once would each drop the other's options, and the
# pipeline could end with the sinks of the change that lost. Reentrant: a sink or a
# redactor running in strict mode may configure.
_changing = threading.RLock()


def _after_fork_in_child() -> None:
    # A thread of the parent may have held the lock at the fork; the child has only
    # the forking thread, and nobody there would ever release it.
    global _changing
    _changing = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def configure(
    *,
    sinks: Sequence[Sink] | None = _UNSET,
    service: str | None = _UNSET,
    capture_content: bool = _UNSET,
    redact: Redactor | Iterable[Redactor] = _UNSET,
    max_content_bytes: int = _UNSET,
    queue_size: int = _UNSET,
    max_queue_bytes: int = _UNSET,
    batch_size: int = _UNSET,
    exit_timeout: float = _UNSET,
    strict: bool = _UNSET,
    tokenizer: Tokenizer | None = _UNSET,
    count_tokens: RequestCounter | None = _UNSET,
    prices: Mapping[str, Any] | None = _UNSET,
    approver: Approver | None = _UNSET,
    sample_rate: float = _UNSET,
) -> Settings:
    """Set how llmguard records and delivers traces, for the whole process.

    Only the options given change; the others keep their current values. Call
    `reset` to return to the defaults.

    Args:
        sinks: Where records go. ``None`` (the default) reads the ``LLMGUARD_SINK``
            environment variable (``sqlite:///path.db`` or ``jsonl:///path.jsonl``,
            several separated by commas); an empty list sends records nowhere.
        service: Recorded on every record, to tell applications apart in one store.
        capture_content: Record inputs and outputs (after redaction). ``False`` keeps
            only metadata: names, timings, status, usage.
        redact: Callables ``record -> record`` run, in order, on every record before
            any sink sees it. A redactor that raises drops the record's content.
        max_content_bytes: Captured inputs and outputs, and attribute values, larger
            than this as JSON are shortened (staying valid JSON), and the full value's
            size and SHA-256 (as captured) recorded in ``truncated`` (under ``input``,
            ``output`` or ``metadata.<key>``). They are shortened before the redactors
            run, so that neither redaction nor serialization ever reads more than about
            this much of a value; the redactors see 4,096 characters past each cut, so
            that a secret the cut splits is recognized whole and never delivered in
            part.
        queue_size: Records waiting for delivery beyond this are dropped and counted:
            the bound of the queue, and of each sink's own backlog (default 10,000).
        max_queue_bytes: Bytes of memory the records waiting for delivery may hold, in
            all (default 64 MiB, at least 1 MiB): half for the queue, half shared
            equally by the sinks' backlogs, so a sink that stalls fills only its own
            share while the others keep receiving. What does not fit is dropped and
            counted. The queue weighs each record exactly as it is handed over: the
            characters of its captured text, a few bytes a value and 1 KB for the
            rest, so its half is never exceeded; a sink's backlog weighs a record by
            its content's JSON.
        batch_size: Records handed to a sink at once.
        exit_timeout: Seconds that flushing and closing the sinks at interpreter exit
            may take, whatever the sinks do: a sink still busy then is named in a
            warning and left behind. ``configure()`` replacing sinks closes the old
            ones in the background within this bound too (5 s at most), waiting for
            them a second at most.
        strict: For tests: deliver on the caller's thread and let failures of sinks
            and redactors raise instead of being counted.
        tokenizer: A callable ``text -> number of tokens`` that `count_tokens` uses for
            all text instead of tiktoken, e.g. a local model's own tokenizer; its counts
            are not marked estimated. ``None`` (the default) uses tiktoken.
        count_tokens: A callable counting a whole request's input tokens,
            ``(messages, *, model, tools, system) -> int`` (see `RequestCounter`),
            such as one calling Anthropic's ``messages.count_tokens`` endpoint. The
            guard's input cap, its trimming and the budgets' reservations use it
            instead of `count_tokens`; a prompt-only call is passed as one user
            message. Should it raise or return something other than a count, the
            local count is used, marked estimated, with one warning. ``None`` (the
            default) counts locally.
        prices: Prices of your own, ``{model: {"input": ..., "output": ...,
            "cached_input": ..., "cache_write": ...}}`` in US dollars per million
            tokens (``cached_input`` and ``cache_write`` optional; a
            `llmguard.pricing.Price` works too). They replace earlier ones given
            here, win over genai-prices' database and lose to
            `llmguard.pricing.set_price`. ``None`` or ``{}`` removes them.
        approver: Asked before every call of a tool with ``requires_approval=True``:
            a callable ``(tool_name, arguments) -> bool`` (async tools may use an async
            one). ``None`` (the default) denies every such call.
        sample_rate: The share of successful traces whose records are delivered, from
            0 to 1 (default 1: all). The decision is made once per trace, from its trace
            id, so all its spans agree, in every process. Records with status
            ``error`` or ``limit``, guarded calls that retried (and their attempts)
            and feedback are always delivered, even from a trace sampled out -- only
            its successful records are dropped. The other delivered records of a
            sampled trace carry ``sample_weight = 1 / sample_rate``, so that sums and
            counts can be re-weighted.

    Returns:
        The settings now in force.

    Raises:
        ConfigurationError: An option has a value llmguard cannot use.
    """
    changes: dict[str, Any] = {}
    if sinks is not _UNSET:
        changes["sinks"] = None if sinks is None else _check_sinks(sinks)
    if service is not _UNSET:
        if service is not None and not isinstance(service, str):
            raise ConfigurationError(f"service must be a string or None, not {service!r}")
        changes["service"] = service
    if capture_content is not _UNSET:
        changes["capture_content"] = _check_bool("capture_content", capture_content)
    if redact is not _UNSET:
        changes["redact"] = _check_redactors(redact)
    for name, value, least in (
        ("max_content_bytes", max_content_bytes, 256),
        ("queue_size", queue_size, 1),
        ("max_queue_bytes", max_queue_bytes, 1024 * 1024),
        ("batch_size", batch_size, 1),
    ):
        if value is not _UNSET:
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigurationError(f"{name} must be an integer >= {least}, not {value!r}")
            changes[name] = value
    if exit_timeout is not _UNSET:
        if (
            isinstance(exit_timeout, bool)
            or not isinstance(exit_timeout, (int, float))
            or not 0 <= exit_timeout < math.inf
        ):
            raise ConfigurationError(f"exit_timeout must be >= 0 seconds, not {exit_timeout!r}")
        changes["exit_timeout"] = float(exit_timeout)
    if strict is not _UNSET:
        changes["strict"] = _check_bool("strict", strict)
    if tokenizer is not _UNSET:
        if tokenizer is not None and not callable(tokenizer):
            raise ConfigurationError(
                f"tokenizer must be a callable text -> int or None, not {tokenizer!r}"
            )
        changes["tokenizer"] = tokenizer
    if count_tokens is not _UNSET:
        if count_tokens is not None and not callable(count_tokens):
            raise ConfigurationError(
                "count_tokens must be a callable (messages, *, model, tools, system) -> int "
                f"or None, not {count_tokens!r}"
            )
        changes["count_tokens"] = count_tokens
    if prices is not _UNSET:
        changes["prices"] = _check_prices(prices)
    if approver is not _UNSET:
        if approver is not None and not callable(approver):
            raise ConfigurationError(
                f"approver must be a callable (tool_name, arguments) -> bool, not {approver!r}"
            )
        changes["approver"] = approver
    if sample_rate is not _UNSET:
        if (
            isinstance(sample_rate, bool)
            or not isinstance(sample_rate, (int, float))
            or not 0 <= sample_rate <= 1
        ):
            raise ConfigurationError(f"sample_rate must be between 0 and 1, not {sample_rate!r}")
        changes["sample_rate"] = float(sample_rate)
    with _changing:
        read = settings()
        new = dataclasses.replace(read, **changes)
        if new.sinks:
            warm(new)  # now, rather than on the first record: see pipeline.warm
        if settings() is not read:
            # A signal handler on this thread configured meanwhile (the lock lets it
            # in): keep its change under this one.
            new = dataclasses.replace(settings(), **changes)
        wait_for_retired = settings_changed(swap(new), new, False)
    wait_for_retired()  # other threads may change the settings meanwhile
    return new


def reset() -> None:
    """Return to the default settings, after flushing and closing the configured sinks.

    Meant for tests: each test can start from a known state. ``LLMGUARD_SINK`` is read
    again when the next record is delivered.
    """
    _apply(Settings(), rebuild=True)


def _apply(new: Settings, rebuild: bool = False) -> None:
    with _changing:
        wait_for_retired = settings_changed(swap(new), new, rebuild)
    wait_for_retired()  # other threads may change the settings meanwhile


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, not {value!r}")
    return value


def _check_sinks(sinks: object) -> tuple[Sink, ...]:
    if isinstance(sinks, (str, bytes)) or not isinstance(sinks, Iterable):
        raise ConfigurationError(f"sinks must be a list of sinks, not {sinks!r}")
    checked = tuple(sinks)
    seen: set[int] = set()
    for sink in checked:
        if not isinstance(sink, Sink):
            raise ConfigurationError(
                f"sinks must contain only sinks, and {sink!r} is not one: "
                "a sink has emit(batch), flush(timeout) and close()"
            )
        if id(sink) in seen:
            # Two lanes would call it from two threads at once, each record twice.
            raise ConfigurationError(f"sink {sink!r} is listed twice in sinks")
        seen.add(id(sink))
    return checked


_PRICE_FIELDS = ("input", "output", "cached_input", "cache_write")


def _check_prices(prices: object) -> tuple[tuple[str, PriceFigures], ...]:
    if prices is None:
        return ()
    if not isinstance(prices, Mapping):
        raise ConfigurationError(f"prices must be a dict of model -> prices, not {prices!r}")
    checked: list[tuple[str, PriceFigures]] = []
    for model, entry in prices.items():
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError(f"a model name must be a non-empty string, not {model!r}")
        if isinstance(entry, Mapping):
            unknown = sorted(set(entry) - set(_PRICE_FIELDS), key=str)
            if unknown:
                raise ConfigurationError(
                    f"prices[{model!r}] has unknown field(s) {unknown}; it takes "
                    f"{', '.join(_PRICE_FIELDS)}"
                )
            given = {name: entry.get(name) for name in _PRICE_FIELDS}
        else:  # a Price, or anything with the same attributes
            given = {name: getattr(entry, name, None) for name in _PRICE_FIELDS}
        figures: list[float | None] = []
        for name in _PRICE_FIELDS:
            value = given[name]
            if value is None and name in ("cached_input", "cache_write"):
                figures.append(None)
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigurationError(
                    f"prices[{model!r}] {name} must be a non-negative number of dollars per "
                    f"million tokens, not {value!r}"
                )
            figures.append(float(value))
        inp, out, read, write = figures
        checked.append((model, (inp or 0.0, out or 0.0, read, write)))
    return tuple(checked)


def _check_redactors(redact: object) -> tuple[Redactor, ...]:
    if redact is None:
        return ()
    candidates = (redact,) if callable(redact) else redact
    if not isinstance(candidates, Iterable):
        raise ConfigurationError(f"redact must be a callable or a list of them, not {redact!r}")
    checked = tuple(candidates)
    for fn in checked:
        if not callable(fn):
            raise ConfigurationError(f"redactor {fn!r} is not callable")
    return checked
