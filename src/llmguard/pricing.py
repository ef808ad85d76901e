"""Prices of models, in US dollars per million tokens, and the cost of a call.

llmguard ships a dated table of the list prices of common OpenAI and Anthropic models
(standard tier: no batch, flex or priority discounts). `set` adds a model or overrides
a built-in price; `table_version` names the table in use -- the date the built-in
prices were checked, plus a digest of your own entries -- and goes on every record that
has a cost, so a cost can always be traced back to the prices that produced it::

    import llmguard as lg

    lg.pricing.set("my-finetune", input=3.0, output=12.0)
    lg.pricing.cost(lg.Usage(input=1200, output=300), "my-finetune")  # 0.0072

A model is found by its exact name or as a dated snapshot of a name in the table
(``gpt-4.1-nano-2025-04-14``, ``claude-sonnet-4-5-20250929``, ``...-latest``), the
longest matching name winning. Anything else -- a new model, a fine-tune, a variant
with another price -- is unknown: it costs ``None``, never 0, and is reported once. A
stream of responses naming a new model each time (a router's per-request names, say)
costs bounded memory and log space: lookups are cached for 1,024 names, the first 100
unknown models are named in a warning each, and the calls of any others are counted, the
count logged as it reaches each power of ten.

Cost follows llmguard's `Usage` convention (the adapters normalize every provider to
it): ``input`` counts every input token billed, ``cached_input`` of them were read from
a prompt cache and are charged at the cached price, and ``output`` includes the
reasoning (thinking) tokens -- OpenAI's completion tokens and Anthropic's output tokens
both contain them -- so ``reasoning`` is never charged a second time. Anthropic's cache
*writes* are counted as ordinary input: `Usage` does not tell them apart, so a call
that writes a large cache is priced somewhat low.

All functions are thread-safe.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import math
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmguard.exceptions import ConfigurationError

if TYPE_CHECKING:
    from llmguard._core.records import Usage

__all__ = ["VERSION", "Price", "cost", "price", "reset", "set", "table", "table_version"]

VERSION = "2026-11-24"
"""The date the built-in prices were checked against the providers' pages."""

# Model names whose lookup is cached; past it, the oldest entry makes room.
_MAX_CACHED = 1024
# Unknown models named in a warning each; the calls of any others are only counted.
_MAX_NAMED = 100

_logger = logging.getLogger("llmguard")
# A model name longer than this is not cached, and is shortened wherever it is kept.
_LONG_NAME = 200


@dataclass(frozen=True, slots=True)
class Price:
    """List prices of one model, in US dollars per million tokens.

    Attributes:
        input: Input tokens not read from a cache.
        output: Output tokens, reasoning tokens included.
        cached_input: Input tokens read from a prompt cache; ``None`` when the model
            has no cache discount, so cached tokens cost ``input``.
    """

    input: float
    output: float
    cached_input: float | None = None


def _p(input: float, output: float, cached_input: float | None = None) -> Price:
    return Price(input=input, output=output, cached_input=cached_input)


# Built-in list prices, standard tier, checked on VERSION's date. Only figures read on
# the providers' own pages are here; a model whose price could not be confirmed there
# is left out (add it with `set`) rather than guessed.
_BUILTIN: dict[str, Price] = {
    # OpenAI: the "Pricing / Text tokens" section of each model's page,
    # https://developers.openai.com/api/docs/models/<model>.
    "gpt-5-codex": _p(1.25, 10.00, 0.125),
    # OpenAI: https://platform.openai.com/docs/pricing, standard tier, as published in
    # 2025 (the lead engineer's reading; check against the page when it changes).
    "gpt-5": _p(1.25, 10.00, 0.125),
    "gpt-4.1": _p(2.00, 8.00, 0.50),
    "gpt-4.1-mini": _p(0.40, 1.60, 0.10),
    "gpt-4o": _p(2.50, 10.00, 1.25),
    "gpt-4o-mini": _p(0.15, 0.60, 0.075),
    "o1": _p(15.00, 60.00, 7.50),
    "o3": _p(2.00, 8.00, 0.50),
    "o3-mini": _p(1.10, 4.40, 0.55),
    "o4-mini": _p(1.10, 4.40, 0.275),
    "gpt-5-mini": _p(0.25, 2.00, 0.025),
    "gpt-5-nano": _p(0.05, 0.40, 0.005),
    "gpt-4.1-nano": _p(0.10, 0.40, 0.025),
    "gpt-4-turbo": _p(10.00, 30.00),
    "gpt-4": _p(30.00, 60.00),
    # Anthropic: the "Model pricing" table of
    # https://platform.claude.com/docs/en/about-claude/pricing (base input, cache hits
    # and refreshes, output); Claude 3.x and Sonnet 4 rows from the same table as
    # published at https://docs.anthropic.com/en/docs/about-claude/pricing.
    "claude-opus-4-8": _p(5.00, 25.00, 0.50),
    "claude-opus-4-7": _p(5.00, 25.00, 0.50),
    "claude-opus-4-6": _p(5.00, 25.00, 0.50),
    "claude-opus-4-5": _p(5.00, 25.00, 0.50),
    "claude-opus-4-1": _p(15.00, 75.00, 1.50),
    "claude-opus-4": _p(15.00, 75.00, 1.50),
    "claude-opus-4-0": _p(15.00, 75.00, 1.50),
    "claude-sonnet-4": _p(3.00, 15.00, 0.30),
    "claude-sonnet-4-0": _p(3.00, 15.00, 0.30),
    "claude-3-7-sonnet": _p(3.00, 15.00, 0.30),
    "claude-3-5-sonnet": _p(3.00, 15.00, 0.30),
    "claude-3-5-haiku": _p(0.80, 4.00, 0.08),
    # Anthropic: input and output from each model's overview page,
    # https://platform.claude.com/docs/en/models/<model>/overview; the cache-hit price
    # is the pricing page's stated rule, 0.1 times the base input price.
    "claude-sonnet-4-6": _p(3.00, 15.00, 0.30),
    "claude-sonnet-4-5": _p(3.00, 15.00, 0.30),
    "claude-haiku-4-5": _p(1.00, 5.00, 0.10),
}

# What may follow a table name in a snapshot's name: a date (2024-08-06 or 20250929),
# an OpenAI four-digit snapshot (0613) or Anthropic's "latest" alias.
_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest)")
# Routers name models with the provider in front; the price is the provider's.
_PROVIDER_PREFIXES = ("openai/", "anthropic/")
_NO_MODEL = "<no model name>"

_lock = threading.Lock()
_custom: dict[str, Price] = {}
_resolved: dict[str, Price | None] = {}
_warned: builtins.set[str] = builtins.set()
_unnamed = 0  # calls of unknown models past _MAX_NAMED
_version = VERSION


def _normalize(model: str) -> str:
    name = model.strip().lower()
    for prefix in _PROVIDER_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _resolve(name: str) -> Price | None:
    # Called with _lock held; user entries shadow built-in ones of the same name.
    if name in _custom:
        return _custom[name]
    if name in _BUILTIN:
        return _BUILTIN[name]
    best: str | None = None
    for key in (*_custom, *_BUILTIN):
        if (
            name.startswith(key)
            and (best is None or len(key) > len(best))
            and _SNAPSHOT.fullmatch(name, len(key))
        ):
            best = key
    if best is None:
        return None
    return _custom[best] if best in _custom else _BUILTIN[best]


def price(model: str) -> Price | None:
    """The price of ``model``, or ``None`` if the table does not know it.

    The name matches exactly (case-insensitive, an ``openai/`` or ``anthropic/``
    prefix ignored) or as a dated snapshot of a name in the table; entries made with
    `set` win over built-in ones.
    """
    name = _normalize(model)
    if name in _resolved:  # dict reads need no lock; a stale miss only resolves again
        return _resolved.get(name)
    with _lock:
        found = _resolve(name)
        if len(name) <= _LONG_NAME:
            if len(_resolved) >= _MAX_CACHED:
                del _resolved[next(iter(_resolved))]  # the oldest entry
            _resolved[name] = found
        return found


def _check_amount(what: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ConfigurationError(f"{what} must be a non-negative number of dollars, not {value!r}")
    return float(value)


def set(model: str, *, input: float, output: float, cached_input: float | None = None) -> None:
    """Add a model to the price table, or override a built-in price.

    Prices are US dollars per million tokens. The entry also prices the model's dated
    snapshots, and the table's version gains a digest of your entries (see
    `table_version`).

    Args:
        model: The model's name, as the provider reports it.
        input: Price of input tokens not read from a cache.
        output: Price of output tokens (reasoning tokens included).
        cached_input: Price of input tokens read from a prompt cache; ``None`` when
            there is no cache discount.

    Raises:
        ConfigurationError: The name is empty or a price is negative or not a number.
    """
    if not isinstance(model, str) or not model.strip():
        raise ConfigurationError(f"a model name must be a non-empty string, not {model!r}")
    entry = Price(
        input=_check_amount("input", input),
        output=_check_amount("output", output),
        cached_input=None if cached_input is None else _check_amount("cached_input", cached_input),
    )
    global _version
    with _lock:
        _custom[_normalize(model)] = entry
        _resolved.clear()
        _version = _versioned(_custom)


def _versioned(custom: dict[str, Price]) -> str:
    listing = repr(sorted((name, p.input, p.output, p.cached_input) for name, p in custom.items()))
    return f"{VERSION}+custom.{hashlib.sha256(listing.encode()).hexdigest()[:8]}"


def reset() -> None:
    """Forget the entries made with `set` and the models already reported (for tests)."""
    global _unnamed, _version
    with _lock:
        _custom.clear()
        _resolved.clear()
        _warned.clear()
        _unnamed = 0
        _version = VERSION


def table_version() -> str:
    """The version of the table in use, recorded beside every cost.

    `VERSION` while only built-in prices are in use; ``VERSION + "+custom.<digest>"``
    once `set` was called, the digest changing with the entries.
    """
    return _version  # rebound whole under the lock, so read without it


def table() -> dict[str, Price]:
    """A copy of the table in use: built-in entries overlaid with those made by `set`."""
    with _lock:
        return {**_BUILTIN, **_custom}


def cost(usage: Usage, model: str | None) -> float | None:
    """What a call cost, in US dollars, from its normalized usage.

    Cached input is charged at the cached price, the rest of the input at the input
    price, and the output -- which includes reasoning tokens -- at the output price.

    Returns:
        The cost; ``None`` when the model is unknown (reported once per model, as a
        warning on the ``llmguard`` logger) or when the usage lacks input or output
        counts. Never a guessed 0.
    """
    found = None if model is None else price(model)
    if found is None:
        _report_unknown(_NO_MODEL if model is None else model)
        return None
    if usage.input is None or usage.output is None:
        return None
    cached = min(max(usage.cached_input or 0, 0), usage.input)
    cached_price = found.input if found.cached_input is None else found.cached_input
    total = (usage.input - cached) * found.input + cached * cached_price
    return (total + usage.output * found.output) / 1_000_000


def _report_unknown(model: str) -> None:
    global _unnamed
    if len(model) > _LONG_NAME:
        model = f"{model[:_LONG_NAME]}... ({len(model)} characters)"
    with _lock:
        if model in _warned:
            return
        if len(_warned) >= _MAX_NAMED:
            _unnamed += 1
            unnamed = _unnamed
        else:
            _warned.add(model)
            unnamed = 0
    if unnamed:
        if unnamed == 1:
            _logger.warning(
                "llmguard has named %d models it has no price for; from now on the calls "
                "of other such models are counted, not named (their cost is recorded as "
                "unknown)",
                _MAX_NAMED,
            )
        elif _is_power_of_ten(unnamed):
            _logger.warning(
                "llmguard could not price %d more calls of models it no longer names", unnamed
            )
        return
    if model == _NO_MODEL:
        _logger.warning(
            "llmguard cannot price a call that names no model; its cost is recorded as "
            "unknown (pass model=... to the guard)"
        )
    else:
        _logger.warning(
            "llmguard has no price for model %r; its cost is recorded as unknown. "
            "Add it with llmguard.pricing.set(%r, input=..., output=...)",
            model,
            model,
        )


def _is_power_of_ten(number: int) -> bool:
    while number % 10 == 0:
        number //= 10
    return number == 1
