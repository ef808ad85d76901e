"""Prices of models, in US dollars per million tokens, and the cost of a call.

The prices come from `genai-prices <https://github.com/pydantic/genai-prices>`_,
Pydantic's maintained price database (47 providers, about 2,300 models, each price
dated). llmguard reads it behind this small API and adds what an application needs
around it::

    import llmguard as lg

    lg.pricing.price("gpt-4o-2024-05-13")           # Price(input=5.0, output=15.0, ...)
    lg.pricing.cost(lg.Usage(input=1200, output=300), "azure/gpt-4o")
    lg.pricing.set_price("my-finetune", input=3.0, output=12.0)   # wins over the database

**Finding a model.** A name resolves as the database resolves it: a provider prefix
(``azure/``, ``bedrock/``, ``vertex_ai/``, ``openrouter/``, ``mistral/``, ...) picks
the provider and the rest names its model; otherwise the name picks the provider
(``claude`` is Anthropic's, ``gemini`` Google's) and that provider's match rules pick
the model, dated snapshots included. A name the database does not know is unpriced:
it costs ``None``, never 0, and is reported once. A stream of responses naming a new
model each time costs bounded memory and log space: lookups are cached for 1,024
names, names longer than 200 characters are never looked up, the first 100 unknown
models are named in a warning each, and the calls of any others are counted, the
count logged as it reaches each power of ten.

**Your own prices win.** `set_price` (also spelled `set`) and
``lg.configure(prices={...})`` price a model the database lacks or override its
figures; the entry also prices the model's dated snapshots (``my-model-2026-01-01``).
Entries made with `set_price` win over those given to `configure`.

**What a cost is made of.** Cost follows llmguard's `Usage` convention (the adapters
normalize every provider to it): ``input`` counts every input token billed,
``cached_input`` of them were read from a prompt cache and are charged at the
cache-read price, cache writes (a ``cache_write`` count, where a usage has one) at the
cache-write price, and ``output`` includes the reasoning (thinking) tokens, charged at
the output price unless the database gives reasoning a price of its own. Tiered prices
(Gemini and Claude above 200k input tokens, for instance) apply to the whole call once
its input crosses the tier, as the providers bill them. Per-request, search, audio and
image charges are not counted: llmguard's usage has no such counts.

**Prices change.** Each price in the database is dated; `price` and `cost` take
``at=`` (a `datetime` or an ISO 8601 string such as a record's ``start``) to use the
price in force then, and `record_cost` prices a stored record at its own time.
`table_version` names the data in use -- ``genai-prices 0.2.5``, or the date of the
data fetched by `update` -- plus a digest of your own entries, and goes on every record
that has a cost. `Price.source` says where one figure came from.

**Newer data without a release.** llmguard never reaches the network on its own.
`update` (or ``llmguard prices update``) fetches the database's newest data, checks
it, caches it in a file, and uses it from then on; later processes find the cached
file at their first priced call. Where the network is not allowed, the bundled data
stays in use.

The database is loaded at the first priced call (about 0.2 s, once), never at
``import llmguard``; `load` does it ahead of time. All functions are thread-safe.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import math
import os
import re
import threading
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmguard._core.records import Record, Usage
from llmguard._delivery.settings import PriceFigures, settings
from llmguard.exceptions import ConfigurationError, LLMGuardError

__all__ = [
    "DEFAULT_UPDATE_URL",
    "VERSION",
    "Price",
    "PriceUpdateError",
    "Tier",
    "cost",
    "data_file",
    "load",
    "price",
    "record_cost",
    "reload",
    "reset",
    "set",
    "set_price",
    "source",
    "table",
    "table_version",
    "update",
    "worst_cost",
]

DEFAULT_UPDATE_URL = (
    "https://raw.githubusercontent.com/pydantic/genai-prices/refs/heads/main/"
    "prices/new_data/v2/data.json"
)
"""Where `update` fetches the newest data from: the database's own published file."""

ENV_PRICES_FILE = "LLMGUARD_PRICES_FILE"

# Model names whose lookup is cached; past it, the oldest entry makes room.
_MAX_CACHED = 1024
# Unknown models named in a warning each; the calls of any others are only counted.
_MAX_NAMED = 100
# A model name longer than this is never looked up, and is shortened wherever it is kept.
_LONG_NAME = 200
# The most `update` reads: the whole database is a few megabytes.
_MAX_UPDATE_BYTES = 64 * 1024 * 1024
_DAY = 86_400

_logger = logging.getLogger("llmguard")


class PriceUpdateError(LLMGuardError):
    """`update` could not fetch, read or cache newer price data; the prices in use
    are unchanged."""


@dataclass(frozen=True, slots=True)
class Tier:
    """Prices that apply to a whole call once its input passes ``above`` tokens.

    Attributes:
        above: The input tokens (cached ones included) a call must exceed.
        input, output, cached_input, cache_write, reasoning: As in `Price`.
    """

    above: int
    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None


@dataclass(frozen=True, slots=True)
class Price:
    """Prices of one model, in US dollars per million tokens.

    Attributes:
        input: Input tokens neither read from nor written to a prompt cache.
        output: Output tokens, reasoning tokens included.
        cached_input: Input tokens read from a prompt cache; ``None`` when the model
            has no cache discount, so they cost ``input``.
        cache_write: Input tokens written to a prompt cache (Anthropic, Bedrock);
            ``None`` when writing costs ``input``.
        reasoning: Reasoning tokens, for the rare model that bills them apart;
            ``None`` when they cost ``output``.
        tiers: Prices for calls with more input, lowest threshold first.
        source: Where the figures came from: the database, its version and the
            provider and model it matched (``genai-prices 0.2.5: openai/gpt-4o``), or
            ``set_price`` / ``configure(prices=...)``. Not compared.
    """

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None
    tiers: tuple[Tier, ...] = ()
    source: str = field(default="", compare=False)

    def charge(
        self,
        input_tokens: int,
        output_tokens: int,
        cached_input: int = 0,
        cache_write: int = 0,
        reasoning: int = 0,
    ) -> float:
        """What these counts cost, in US dollars (counts as in `Usage`: input and
        output include their cached, written and reasoning parts)."""
        rates: Price | Tier = self
        for tier in reversed(self.tiers):
            if input_tokens > tier.above:
                rates = tier
                break
        read = min(max(cached_input, 0), input_tokens)
        written = min(max(cache_write, 0), input_tokens - read)
        thinking = min(max(reasoning, 0), output_tokens)
        price_in = rates.input
        total = (input_tokens - read - written) * price_in
        total += read * (price_in if rates.cached_input is None else rates.cached_input)
        total += written * (price_in if rates.cache_write is None else rates.cache_write)
        if rates.reasoning is None:
            total += output_tokens * rates.output
        else:
            total += (output_tokens - thinking) * rates.output + thinking * rates.reasoning
        return total / 1_000_000


# -- the database, loaded at the first priced call --------------------------------------


@dataclass(frozen=True, slots=True)
class _Database:
    providers: list[Any]
    version: str


@dataclass(frozen=True, slots=True)
class _Dated:
    """A database model's prices over time: ``prices[i]`` from day ``days[i-1]`` on."""

    days: tuple[int, ...]
    prices: tuple[Price | None, ...]
    info: Any = None  # the model itself, when its prices change with the time of day
    source: str = ""

    def at(self, moment: float | None) -> Price | None:
        if self.info is not None:
            return _hourly(self.info, moment, self.source)
        if not self.days:
            return self.prices[0]
        day = (time.time() if moment is None else moment) // _DAY
        return self.prices[bisect_right(self.days, day)]


_MISSING = _Dated((), (None,), source="<not looked up>")  # a sentinel of the cache's type
_lock = threading.RLock()
_db: _Database | None = None
_custom: dict[str, Price] = {}
_configured: dict[str, Price] = {}
_configured_from: tuple[tuple[str, PriceFigures], ...] = ()
_resolved: dict[str, Price | _Dated | None] = {}
_hourly_prices: dict[int, tuple[Any, Price | None]] = {}
_warned: builtins.set[str] = builtins.set()
_unnamed = 0  # calls of unknown models past _MAX_NAMED
_digest = ""


VERSION: str
"""The version of the bundled database, ``genai-prices <version>`` (read on first use,
so that importing llmguard does not read package metadata)."""

if not TYPE_CHECKING:

    def __getattr__(name: str) -> str:
        if name == "VERSION":
            version = globals()["VERSION"] = _bundled_version()  # read once
            return version
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _bundled_version() -> str:
    from importlib.metadata import version

    return f"genai-prices {version('genai-prices')}"


def data_file() -> Path:
    """Where `update` caches the data it fetches, and where it is read from.

    ``$LLMGUARD_PRICES_FILE`` when set, else ``llmguard/genai-prices.json`` in the
    user's cache directory (``$XDG_CACHE_HOME``, by default ``~/.cache``).
    """
    from pathlib import Path  # pathlib and tempfile load only when price files are used

    chosen = os.environ.get(ENV_PRICES_FILE)
    if chosen:
        return Path(chosen)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "llmguard" / "genai-prices.json"


def load() -> str:
    """Load the price data now rather than at the first priced call; returns its version.

    The data is the file `update` cached, if there is one and it can be read, else the
    data bundled with genai-prices.
    """
    return _database().version


def reload() -> str:
    """Read the price data again (after another process ran `update`); returns its
    version."""
    global _db
    with _lock:
        _db = None
        _resolved.clear()
        _hourly_prices.clear()
    return load()


def _database() -> _Database:
    global _db
    db = _db
    if db is None:
        with _lock:
            db = _db
            if db is None:
                db = _db = _read_database()
    return db


def _read_database() -> _Database:
    path = data_file()
    if path.is_file():
        try:
            return _cached_database(path.read_bytes())
        except Exception as exc:
            _logger.warning(
                "llmguard: the cached price data in %s could not be used (%s); using the "
                "prices bundled with genai-prices. Run `llmguard prices update` to fetch "
                "it again.",
                path,
                exc,
            )
    try:
        from genai_prices import data_snapshot

        snapshot = data_snapshot.get_snapshot()
        version = _bundled_version()
        if snapshot.from_auto_update:  # the application runs genai-prices' own updater
            version = f"genai-prices data fetched {_when(snapshot.timestamp)}"
        return _Database(list(snapshot.providers), version)
    except Exception as exc:  # a broken install must not break the application's calls
        _logger.warning(
            "llmguard: the genai-prices database could not be loaded (%r); every call is "
            "unpriced until it can be (llmguard.pricing.reload())",
            exc,
        )
        return _Database([], "genai-prices unavailable")


def _cached_database(data: bytes) -> _Database:
    document = json.loads(data)
    if not isinstance(document, dict) or not isinstance(document.get("providers"), list):
        raise ValueError("not a file written by llmguard.pricing.update")
    return _Database(_parse_providers(document["providers"]), str(document["version"]))


def _parse_providers(raw: Any) -> list[Any]:
    from genai_prices.types import _providers_from_raw  # the database's own reader

    providers = _providers_from_raw(raw)
    if not providers or not any(p.models for p in providers):
        raise ValueError("the data holds no model")
    return list(providers)


def _when(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- finding a model ---------------------------------------------------------------------

# What may follow the name of one of your entries in a snapshot's name: a date
# (2024-08-06 or 20250929), an OpenAI four-digit snapshot (0613) or "latest".
_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest)")
_NO_MODEL = "<no model name>"


def _normalize(model: str) -> str:
    return model.strip().lower()


def _own_entry(name: str) -> Price | None:
    # Called with _lock held. An entry prices its name and its dated snapshots, under
    # any provider prefix; the longest name wins, set_price entries over configured.
    for candidate in (name, name.rsplit("/", 1)[-1]) if "/" in name else (name,):
        for entries in (_custom, _configured):
            if candidate in entries:
                return entries[candidate]
        best: str | None = None
        for key in (*_custom, *_configured):
            if (
                candidate.startswith(key)
                and (best is None or len(key) > len(best))
                and _SNAPSHOT.fullmatch(candidate, len(key))
            ):
                best = key
        if best is not None:
            return _custom[best] if best in _custom else _configured[best]
    return None


def _lookup(name: str) -> _Dated | None:
    """The database's model for ``name``, found as genai-prices finds it."""
    if len(name) > _LONG_NAME:
        return None
    db = _database()
    providers = db.providers
    from genai_prices.data_snapshot import find_provider_by_id

    if "/" in name:  # a router's provider/model name, as LiteLLM writes them
        head, rest = name.split("/", 1)
        provider = find_provider_by_id(providers, head) if head else None
        if provider is not None:
            return _dated(db, provider, provider.find_model(rest, all_providers=providers))
    for provider in providers:
        if provider.model_match is not None and provider.model_match.is_match(name):
            return _dated(db, provider, provider.find_model(name, all_providers=providers))
    return None


def _dated(db: _Database, provider: Any, model: Any) -> _Dated | None:
    if model is None:
        return None
    from genai_prices.types import ModelPrice, TimeOfDateConstraint

    source = f"{db.version}: {provider.id}/{model.id}"
    prices = model.prices
    if isinstance(prices, ModelPrice):
        return _Dated((), (_converted(prices, source),), source=source)
    if any(isinstance(p.constraint, TimeOfDateConstraint) for p in prices):
        return _Dated((), (), info=model, source=source)
    starts = sorted({p.constraint.start_date for p in prices if p.constraint is not None})
    epoch = date(1970, 1, 1)
    days = tuple((start - epoch).days for start in starts)
    moments = [datetime(1970, 1, 1, tzinfo=timezone.utc)]
    moments += [datetime(s.year, s.month, s.day, tzinfo=timezone.utc) for s in starts]
    dated = tuple(_converted(model.get_prices(moment), source) for moment in moments)
    return _Dated(days, dated, None, source)


def _hourly(model: Any, moment: float | None, source: str) -> Price | None:
    when = datetime.fromtimestamp(time.time() if moment is None else moment, timezone.utc)
    prices = model.get_prices(when)
    kept = _hourly_prices.get(id(prices))
    if kept is None or kept[0] is not prices:
        if len(_hourly_prices) >= _MAX_CACHED:
            _hourly_prices.clear()
        kept = _hourly_prices[id(prices)] = (prices, _converted(prices, source))
    return kept[1]


_PRICE_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
_REASONING_KEY = "output_reasoning_mtok"


def _converted(prices: Any, source: str) -> Price | None:
    """A database price as a `Price`; ``None`` when it has no token price at all."""
    from genai_prices.types import TieredPrices

    values = [getattr(prices, key, None) for key in (*_PRICE_KEYS, _REASONING_KEY)]
    if values[0] is None and values[1] is None:
        return None  # priced by the character, the image or the second: not by token
    starts = sorted({t.start for v in values if isinstance(v, TieredPrices) for t in v.tiers})

    def at(value: Any, threshold: int | None) -> float | None:
        if value is None:
            return None
        if isinstance(value, TieredPrices):
            chosen = value.base
            for tier in value.tiers:  # ascending; the tier applies past its start
                if threshold is not None and tier.start <= threshold:
                    chosen = tier.price
            return float(chosen)
        return float(value)

    Figures = tuple[float, float, float | None, float | None, float | None]

    def figures(threshold: int | None) -> Figures:
        inp, out, read, write, reasoning = (at(v, threshold) for v in values)
        return inp or 0.0, out or 0.0, read, write, reasoning

    tiers = tuple(Tier(start, *figures(start)) for start in starts)
    return Price(*figures(None), tiers=tiers, source=source)


# -- your own prices ---------------------------------------------------------------------


def _check_amount(what: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ConfigurationError(f"{what} must be a non-negative number of dollars, not {value!r}")
    return float(value)


def set_price(
    model: str,
    *,
    input: float,
    output: float,
    cached_input: float | None = None,
    cache_write: float | None = None,
) -> None:
    """Price a model the database lacks, or override the database's price for it.

    Prices are US dollars per million tokens. The entry also prices the model's dated
    snapshots and the model under any provider prefix, and the version of the prices
    in use gains a digest of your entries (see `table_version`).

    Args:
        model: The model's name, as the provider reports it.
        input: Price of input tokens not read from or written to a cache.
        output: Price of output tokens (reasoning tokens included).
        cached_input: Price of input tokens read from a prompt cache; ``None`` when
            there is no cache discount.
        cache_write: Price of input tokens written to a prompt cache; ``None`` when
            writing costs ``input``.

    Raises:
        ConfigurationError: The name is empty or a price is negative or not a number.
    """
    if not isinstance(model, str) or not model.strip():
        raise ConfigurationError(f"a model name must be a non-empty string, not {model!r}")
    entry = Price(
        input=_check_amount("input", input),
        output=_check_amount("output", output),
        cached_input=None if cached_input is None else _check_amount("cached_input", cached_input),
        cache_write=None if cache_write is None else _check_amount("cache_write", cache_write),
        source="set_price",
    )
    with _lock:
        _custom[_normalize(model)] = entry
        _changed_entries()


set = set_price
"""The name DESIGN.md gives `set_price`; both work."""


def _changed_entries() -> None:
    # Called with _lock held.
    global _digest
    _resolved.clear()
    if not _custom and not _configured:
        _digest = ""
        return
    listing = repr(
        [
            sorted((name, p.input, p.output, p.cached_input, p.cache_write) for name, p in layer)
            for layer in (_custom.items(), _configured.items())
        ]
    )
    _digest = f"+custom.{hashlib.sha256(listing.encode()).hexdigest()[:8]}"


def _sync_configured(figures: tuple[tuple[str, PriceFigures], ...]) -> None:
    global _configured_from
    with _lock:
        if figures is _configured_from:
            return
        _configured.clear()
        for model, (inp, out, read, write) in figures:
            _configured[_normalize(model)] = Price(
                inp, out, read, write, source="configure(prices=...)"
            )
        _configured_from = figures
        _changed_entries()


def reset() -> None:
    """Forget the entries made with `set_price` and the models already reported (for
    tests). The data in use stays loaded; see `reload`."""
    global _unnamed
    with _lock:
        _custom.clear()
        _warned.clear()
        _unnamed = 0
        _changed_entries()


# -- prices and costs --------------------------------------------------------------------


def _moment(at: datetime | str | None) -> float | None:
    if at is None:
        return None
    if isinstance(at, str):
        text = at.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            raise ConfigurationError(f"at must be an ISO 8601 time, not {at!r}") from None
    if not isinstance(at, datetime):
        raise ConfigurationError(f"at must be a datetime or an ISO 8601 string, not {at!r}")
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)  # a naive time is UTC, as in the records
    return at.timestamp()


def _find(name: str) -> Price | _Dated | None:
    cached = _resolved.get(name, _MISSING)  # dict reads need no lock
    if cached is not _MISSING:
        return cached
    with _lock:
        found: Price | _Dated | None = _own_entry(name)
        if found is None:
            try:
                found = _lookup(name)
            except Exception as exc:  # the database's matching failed: unpriced, said once
                _report_unknown(name, exc)
        if len(name) <= _LONG_NAME:
            if len(_resolved) >= _MAX_CACHED:
                del _resolved[next(iter(_resolved))]  # the oldest entry
            _resolved[name] = found
        return found


def price(model: str, *, at: datetime | str | None = None) -> Price | None:
    """The price of ``model``, or ``None`` if neither your entries nor the database
    know it.

    Args:
        model: The model's name as the provider or router reports it (case and
            surrounding spaces ignored): ``gpt-4o-2024-05-13``, ``azure/gpt-4o``,
            ``bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0``.
        at: When the call was made (a `datetime`, naive meaning UTC, or an ISO 8601
            string): the price in force then. ``None`` means now.

    Raises:
        ConfigurationError: ``at`` is not a time.
    """
    figures = settings().prices
    if figures is not _configured_from:
        _sync_configured(figures)
    found = _find(_normalize(model))
    if found is None or type(found) is Price:
        return found
    return found.at(_moment(at))  # type: ignore[union-attr]


def source(model: str, *, at: datetime | str | None = None) -> str | None:
    """Where ``model``'s price comes from (see `Price.source`); ``None`` if unpriced."""
    found = price(model, at=at)
    return None if found is None else found.source


def cost(usage: Usage, model: str | None, *, at: datetime | str | None = None) -> float | None:
    """What a call cost, in US dollars, from its normalized usage.

    Cached input is charged at the cache-read price, cache writes at the cache-write
    price, the rest of the input at the input price, and the output -- which includes
    reasoning tokens -- at the output price (or reasoning at its own, where the
    database has one). A tier applies to the whole call once its input crosses it.

    Args:
        usage: The call's usage.
        model: The model that answered.
        at: When the call was made; ``None`` means now. See `price`.

    Returns:
        The cost; ``None`` when the model is unknown (reported once per model, as a
        warning on the ``llmguard`` logger) or when the usage lacks input or output
        counts. Never a guessed 0.
    """
    found = None if model is None else price(model, at=at)
    if found is None:
        _report_unknown(_NO_MODEL if model is None else model)
        return None
    inp, out = usage.input, usage.output
    if inp is None or out is None:
        return None
    write = getattr(usage, "cache_write", None)  # a count llmguard's Usage may carry
    return found.charge(
        inp,
        out,
        usage.cached_input or 0,
        write if isinstance(write, int) else 0,
        usage.reasoning or 0,
    )


def worst_cost(model: str | None, input_tokens: int, output_tokens: int) -> float | None:
    """The most a call of ``model`` with this input and output cap can cost now.

    No cache discount is assumed; every output token is charged at the higher of the
    output and reasoning prices. ``None`` when the model has no price.
    """
    found = None if model is None else price(model)
    if found is None:
        return None
    thinking = output_tokens if (found.reasoning or 0.0) > found.output else 0
    return found.charge(input_tokens, output_tokens, reasoning=thinking)


def record_cost(record: Record) -> float | None:
    """A record's cost priced at the time it started, from its usage and model.

    For reports and replays over old stores: a price that changed since is the one in
    force when the call was made. ``None`` when the record has no usage or its model
    has no price (or ``record.start`` is not a time).
    """
    if record.usage is None or record.model is None:
        return None
    try:
        moment: datetime | str | None = record.start
        _moment(moment)
    except ConfigurationError:
        return None
    return cost(record.usage, record.model, at=moment)


def table_version() -> str:
    """The version of the prices in use, recorded beside every cost.

    ``genai-prices <version>`` for the data bundled with genai-prices (`VERSION`),
    ``genai-prices data fetched <time>`` after `update`, followed by
    ``+custom.<digest>`` once your own entries are in use, the digest changing with
    them.
    """
    figures = settings().prices
    if figures is not _configured_from:
        _sync_configured(figures)
    return _database().version + _digest


def table(*, at: datetime | str | None = None) -> dict[str, Price]:
    """Every price in use: the database's, named ``provider/model``, then your entries
    (which win when a name is the same).

    Args:
        at: The time the prices were in force; ``None`` means now.
    """
    moment = _moment(at)
    db = _database()
    listing: dict[str, Price] = {}
    for provider in db.providers:
        for model in provider.models:
            dated = _dated(db, provider, model)
            found = None if dated is None else dated.at(moment)
            if found is not None:
                listing[f"{provider.id}/{model.id}"] = found
    price("")  # brings the configured entries up to date
    with _lock:
        return {**listing, **_configured, **_custom}


# -- keeping the data current ------------------------------------------------------------


def _check_timeout(timeout: float) -> None:
    """Refuse a timeout `update` cannot wait with: ``ConfigurationError`` naming it."""
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 < timeout < math.inf
    ):
        raise ConfigurationError(f"timeout must be a number of seconds above 0, not {timeout!r}")


def _check_url(url: str) -> None:
    """Refuse what is not an http(s) URL: ``ConfigurationError`` naming it."""
    import httpx2

    try:
        scheme = httpx2.URL(url).scheme if isinstance(url, str) else None
    except (httpx2.InvalidURL, ValueError, TypeError) as exc:
        raise ConfigurationError(f"url {url!r} is not a URL ({exc})") from None
    if scheme not in ("http", "https"):
        raise ConfigurationError(f"url must be an http or https URL, not {url!r}")


def update(
    *,
    url: str = DEFAULT_UPDATE_URL,
    timeout: float = 30.0,
    path: str | os.PathLike[str] | None = None,
    transport: Any = None,
) -> str:
    """Fetch the database's newest data, cache it in a file, and use it from now on.

    This is the only place llmguard reaches the network for prices, and only when
    called. The data is checked with genai-prices' own reader before it replaces
    anything; the file is replaced in one step, so a process reading it never sees
    half of it.

    Args:
        url: Where to fetch the data (genai-prices' published file by default).
        timeout: Seconds the request may take.
        path: Where to cache it; `data_file` by default.
        transport: An ``httpx2`` transport to fetch through (a proxy's, or a mock one
            in tests); the default one when ``None``.

    Returns:
        The version of the data now in use (`table_version` without your entries).

    Raises:
        ConfigurationError: ``timeout`` is not a finite number of seconds above 0, or
            ``url`` is not an http(s) URL; nothing was fetched.
        PriceUpdateError: The data could not be fetched (offline, say), was not price
            data, or could not be written; the prices in use are unchanged.
    """
    import httpx2

    _check_timeout(timeout)  # before anything is fetched
    _check_url(url)
    try:
        with (
            httpx2.Client(transport=transport, timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            response.raise_for_status()
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > _MAX_UPDATE_BYTES:
                    raise PriceUpdateError(
                        f"{url} sent more than {_MAX_UPDATE_BYTES} bytes; not price data"
                    )
    except httpx2.HTTPError as exc:
        raise PriceUpdateError(
            f"could not fetch price data from {url} ({type(exc).__name__}: {exc}); the "
            "prices in use are unchanged"
        ) from exc
    try:
        raw = json.loads(bytes(body))
        if not isinstance(raw, list):
            raise ValueError("expected a list of providers")
        providers = _parse_providers(raw)
    except Exception as exc:
        raise PriceUpdateError(
            f"{url} did not send price data genai-prices can read ({exc}); the prices in "
            "use are unchanged"
        ) from exc
    digest = hashlib.sha256(body).hexdigest()[:8]
    version = f"genai-prices data fetched {_when(datetime.now(timezone.utc))} ({digest})"
    import tempfile
    from pathlib import Path

    target = Path(path) if path is not None else data_file()
    document = json.dumps({"version": version, "url": url, "providers": raw})
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".prices-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(document)
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as exc:
        raise PriceUpdateError(
            f"could not cache the price data in {target}: {exc}; the prices in use are unchanged"
        ) from exc
    global _db
    with _lock:
        _db = _Database(providers, version)
        _resolved.clear()
        _hourly_prices.clear()
    return version


# -- reporting unpriced calls ------------------------------------------------------------


def _report_unknown(model: str, error: Exception | None = None) -> None:
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
    elif error is not None:
        _logger.warning(
            "llmguard could not look model %r up in the price database (%r); its cost is "
            "recorded as unknown",
            model,
            error,
        )
    else:
        _logger.warning(
            "llmguard has no price for model %r (genai-prices does not know it); its cost "
            "is recorded as unknown. Add it with llmguard.pricing.set_price(%r, input=..., "
            "output=...)",
            model,
            model,
        )


def _is_power_of_ten(number: int) -> bool:
    while number % 10 == 0:
        number //= 10
    return number == 1
