"""llmguard.pricing: genai-prices behind llmguard's API, overrides, history, bounded lookups."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard import pricing
from llmguard._core.records import Record
from llmguard.pricing import Price


@pytest.fixture(autouse=True)
def _fresh_prices(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test prices from the bundled database (no cached update), with no entry
    of its own and no model reported yet."""
    monkeypatch.setenv("LLMGUARD_PRICES_FILE", str(tmp_path / "none.json"))
    pricing.reload()
    pricing.reset()
    yield
    pricing.reset()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "llmguard"]


def database(model: str, **tokens: int) -> float:
    """What genai-prices itself charges for these tokens of ``model`` (resolved as
    LiteLLM names models, so that ``azure/...`` and ``bedrock/...`` are understood)."""
    usage = genai_prices.Usage(**tokens)  # type: ignore[arg-type]
    found = genai_prices.calc_price(usage, model, provider_id="litellm")
    return float(found.total_price)


# -- the database's figures --------------------------------------------------------------

MILLION = 1_000_000

# Input, output and cached-input prices per million tokens, as genai-prices 0.2.5 (and
# 0.1.13, Python 3.10's) has them; ``None``: the model has no cache discount.
NAMED = [
    # OpenAI
    ("gpt-4o", 2.5, 10.0, 1.25),
    ("gpt-4o-2024-05-13", 5.0, 15.0, None),
    ("gpt-4o-mini", 0.15, 0.6, 0.075),
    ("gpt-4.1", 2.0, 8.0, 0.5),
    ("gpt-3.5-turbo", 0.5, 1.5, None),
    ("gpt-4-32k", 60.0, 120.0, None),
    ("gpt-4-1106-preview", 10.0, 30.0, None),
    ("gpt-4-vision-preview", 10.0, 30.0, None),
    ("o3-mini", 1.1, 4.4, 0.55),
    # Anthropic
    ("claude-sonnet-4-5-20250929", 3.0, 15.0, 0.3),
    ("claude-3-5-haiku-20241022", 0.8, 4.0, 0.08),
    ("claude-opus-4-1-20250805", 15.0, 75.0, 1.5),
    # Google, directly and through Vertex AI
    ("gemini-2.5-pro", 1.25, 10.0, 0.125),
    ("gemini-2.5-flash", 0.3, 2.5, 0.03),
    ("vertex_ai/gemini-2.0-flash", 0.1, 0.4, 0.025),
    # Mistral
    ("mistral-large-latest", 2.0, 6.0, None),
    ("mistral/codestral-latest", 0.3, 0.9, None),
    # Azure OpenAI
    ("azure/gpt-4o", 2.5, 10.0, 1.25),
    ("azure/gpt-4o-mini", 0.15, 0.6, 0.075),
    # Amazon Bedrock
    ("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", 3.0, 15.0, 0.3),
    ("bedrock/amazon.nova-pro-v1:0", 0.8, 3.2, 0.2),
    ("bedrock/meta.llama3-70b-instruct-v1:0", 2.65, 3.5, None),
]


def test_twenty_named_models_are_priced() -> None:
    """The list below covers at least 20 models of the six families the issue names."""
    assert len(NAMED) >= 20
    prefixes = {m.split("/")[0] for m, *_ in NAMED if "/" in m}
    assert {"azure", "bedrock", "vertex_ai", "mistral"} <= prefixes


@pytest.mark.parametrize(("model", "inp", "out", "cached"), NAMED)
def test_named_models_cost_what_the_database_says(
    model: str, inp: float, out: float, cached: float | None
) -> None:
    """Each model's input, output and cached-input prices are the figures written here,
    and equal to what genai-prices charges for the tokens of each."""
    found = pricing.price(model)
    assert found is not None
    assert (found.input, found.output, found.cached_input) == (inp, out, cached)
    # 100k tokens (below every tier) cost a tenth of the price per million
    tokens = MILLION // 10
    assert found.input == pytest.approx(10 * database(model, input_tokens=tokens))
    assert found.output == pytest.approx(10 * database(model, output_tokens=tokens))
    cached_cost = 10 * database(model, input_tokens=tokens, cache_read_tokens=tokens)
    assert (found.cached_input or found.input) == pytest.approx(cached_cost)
    assert found.source.startswith(pricing.VERSION + ": ")


def test_gpt_4o_2024_05_13_is_priced_as_itself() -> None:
    """The first gpt-4o snapshot cost $5 / $15, not gpt-4o's $2.50 / $10."""
    assert pricing.price("gpt-4o-2024-05-13") == Price(input=5.0, output=15.0)
    usage = lg.Usage(input=MILLION, output=MILLION)
    assert pricing.cost(usage, "gpt-4o-2024-05-13") == pytest.approx(20.0)
    assert pricing.cost(usage, "gpt-4o") == pytest.approx(12.5)


def test_the_source_names_the_database_its_version_and_the_match() -> None:
    """Price.source says which provider and model of which database priced a name."""
    version = pricing.VERSION  # genai-prices 0.2.5 here
    assert pricing.source("azure/gpt-4o") == f"{version}: azure/gpt-4o"
    assert pricing.source("claude-3-5-haiku-20241022") == (
        f"{version}: anthropic/claude-3-5-haiku-latest"
    )
    assert pricing.source("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0") == (
        f"{version}: aws/regional.anthropic.claude-3-5-sonnet-20240620-v1:0"
    )
    assert pricing.source("house-model") is None


def test_version_is_the_database_and_its_release() -> None:
    """VERSION names genai-prices and its version; it is the version in use by default."""
    assert f"genai-prices {genai_prices.__version__}" == pricing.VERSION
    assert pricing.table_version() == pricing.VERSION


def test_lookup_ignores_case_and_spaces() -> None:
    """' GPT-4o-Mini ' is gpt-4o-mini."""
    assert pricing.price(" GPT-4o-Mini ") == pricing.price("gpt-4o-mini")


@pytest.mark.parametrize(
    "model",
    ["my-finetune", "", "text-to-nowhere", "azure/", "bedrock/not-a-model", "gpt-" + "x" * 300],
)
def test_names_the_database_does_not_know_are_unpriced(model: str) -> None:
    """Unknown names -- and names too long to be a model's -- have no price."""
    assert pricing.price(model) is None


def test_the_table_lists_the_database_and_your_entries() -> None:
    """table() names every priced model provider/model; your entries are in it too."""
    pricing.set_price("house-model", input=1.0, output=2.0)
    listing = pricing.table()
    assert len(listing) > 1500
    assert listing["openai/gpt-4o-2024-05-13"] == Price(input=5.0, output=15.0)
    assert listing["house-model"] == Price(input=1.0, output=2.0)


# -- costs as the providers bill them -----------------------------------------------------

TIERED = "gemini-2.5-pro"  # above 200k input tokens the whole call costs more


@settings(max_examples=200, deadline=None)
@given(
    model=st.sampled_from([m for m, *_ in NAMED]),
    inp=st.integers(0, 400_000),
    cached_share=st.floats(0, 1),
    out=st.integers(0, 100_000),
)
def test_cost_equals_the_databases_for_any_usage(
    model: str, inp: int, cached_share: float, out: int
) -> None:
    """For any usage, llmguard's cost is genai-prices' to the nano-dollar: cache reads,
    tiers and all (llmguard's input counts cache reads, like the database's)."""
    cached = int(inp * cached_share)
    usage = lg.Usage(input=inp, output=out, cached_input=cached)
    expected = database(model, input_tokens=inp, output_tokens=out, cache_read_tokens=cached)
    assert pricing.cost(usage, model) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    inp=st.integers(0, 400_000),
    shares=st.tuples(st.floats(0, 0.5), st.floats(0, 0.5)),
    out=st.integers(0, 50_000),
)
def test_cache_writes_cost_what_the_database_says(
    inp: int, shares: tuple[float, float], out: int
) -> None:
    """Anthropic's cache writes cost 1.25 times the input price, tiers included."""
    read, written = int(inp * shares[0]), int(inp * shares[1])
    found = pricing.price("claude-sonnet-4-5")
    assert found is not None
    expected = database(
        "claude-sonnet-4-5",
        input_tokens=inp,
        output_tokens=out,
        cache_read_tokens=read,
        cache_write_tokens=written,
    )
    assert found.charge(inp, out, read, written) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_a_tier_prices_the_whole_call() -> None:
    """Past 200k input tokens every token of a gemini-2.5-pro call costs the tier price."""
    below = pricing.cost(lg.Usage(input=200_000, output=1_000), TIERED)
    above = pricing.cost(lg.Usage(input=200_001, output=1_000), TIERED)
    assert below == pytest.approx((200_000 * 1.25 + 1_000 * 10.0) / MILLION)
    assert above == pytest.approx((200_001 * 2.5 + 1_000 * 15.0) / MILLION)


def test_reasoning_tokens_are_output_tokens() -> None:
    """OpenAI's and Anthropic's reasoning tokens are inside output: reporting them changes
    nothing where the database gives reasoning no price of its own."""
    with_reasoning = lg.Usage(input=1000, output=500, cached_input=400, reasoning=300)
    without = lg.Usage(input=1000, output=500, cached_input=400)
    expected = (600 * 0.15 + 400 * 0.075 + 500 * 0.6) / MILLION
    assert pricing.cost(with_reasoning, "gpt-4o-mini") == pytest.approx(expected)
    assert pricing.cost(without, "gpt-4o-mini") == pricing.cost(with_reasoning, "gpt-4o-mini")


def test_reasoning_priced_apart_when_a_price_says_so() -> None:
    """A price with its own reasoning figure charges reasoning tokens at it."""
    rates = Price(input=1.0, output=2.0, reasoning=5.0)
    assert rates.charge(0, 1000, reasoning=400) == pytest.approx((600 * 2.0 + 400 * 5.0) / MILLION)


def test_cost_through_the_adapters() -> None:
    """Usage the adapters read from an Anthropic response (cache reads added back into
    input) is priced as the database prices it."""
    reply = lg.adapters.adapt(
        {
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "hi"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 200, "cache_read_input_tokens": 3000, "output_tokens": 800},
        }
    )
    assert reply is not None
    assert reply.usage is not None
    expected = database(
        "claude-sonnet-4-5-20250929",
        input_tokens=3200,
        cache_read_tokens=3000,
        output_tokens=800,
    )
    assert pricing.cost(reply.usage, reply.model) == pytest.approx(expected)
    assert expected == pytest.approx((200 * 3.0 + 3000 * 0.3 + 800 * 15.0) / MILLION)


def test_cached_count_is_clamped_to_the_input() -> None:
    """A cached count above the input count (a provider bug) never makes cost negative."""
    usage = lg.Usage(input=100, output=0, cached_input=500)
    assert pricing.cost(usage, "gpt-4o-mini") == pytest.approx(100 * 0.075 / MILLION)


def test_zero_usage_costs_zero_on_a_known_model() -> None:
    """A priced call that used nothing costs exactly 0.0 -- not None."""
    assert pricing.cost(lg.Usage(input=0, output=0), "gpt-4o-mini") == 0.0


@pytest.mark.parametrize(
    "usage",
    [lg.Usage(), lg.Usage(input=10), lg.Usage(output=10), lg.Usage(cached_input=3)],
)
def test_usage_without_counts_costs_none(usage: lg.Usage) -> None:
    """Missing input or output counts make the cost unknown rather than partial."""
    assert pricing.cost(usage, "gpt-4o-mini") is None


def test_worst_cost_takes_no_discount() -> None:
    """The most a call can cost: input at the (tiered) input price, no cache discount."""
    assert pricing.worst_cost("gpt-4o", 1000, 500) == pytest.approx((1000 * 2.5 + 500 * 10) / 1e6)
    assert pricing.worst_cost(TIERED, 300_000, 10) == pytest.approx(
        (300_000 * 2.5 + 10 * 15.0) / 1e6
    )
    assert pricing.worst_cost("house-model", 1, 1) is None
    assert pricing.worst_cost(None, 1, 1) is None


# -- your own prices -----------------------------------------------------------------------


def test_an_override_wins_over_the_database() -> None:
    """set_price() on a database model wins, for the name and its dated snapshots; the
    version in use gains a digest; the source says so."""
    pricing.set_price("gpt-4o", input=1.0, output=2.0, cached_input=0.5)
    assert pricing.price("gpt-4o") == Price(input=1.0, output=2.0, cached_input=0.5)
    assert pricing.price("gpt-4o-2024-08-06") == pricing.price("gpt-4o")
    assert pricing.price("azure/gpt-4o") == pricing.price("gpt-4o")
    assert pricing.source("gpt-4o") == "set_price"
    assert pricing.cost(lg.Usage(input=MILLION, output=MILLION), "gpt-4o") == pytest.approx(3.0)
    assert pricing.table_version().startswith(pricing.VERSION + "+custom.")


def test_set_is_set_price() -> None:
    """DESIGN.md's name, lg.pricing.set, is the same function."""
    assert pricing.set is pricing.set_price
    lg.pricing.set("house-model", input=3, output=15)
    assert pricing.price("house-model-2026-01-01") == Price(input=3.0, output=15.0)


def test_configured_prices_win_over_the_database_and_lose_to_set_price() -> None:
    """configure(prices=...) overrides the database; set_price overrides both; reset()
    of the settings removes them."""
    lg.configure(
        prices={
            "gpt-4o": {"input": 2.0, "output": 4.0},
            "house-model": Price(input=1.0, output=1.0, cache_write=1.5),
        }
    )
    assert pricing.price("gpt-4o") == Price(input=2.0, output=4.0)
    assert pricing.source("gpt-4o") == "configure(prices=...)"
    assert pricing.price("house-model") == Price(input=1.0, output=1.0, cache_write=1.5)
    configured = pricing.table_version()
    pricing.set_price("gpt-4o", input=9.0, output=9.0)
    assert pricing.price("gpt-4o") == Price(input=9.0, output=9.0)
    assert pricing.table_version() != configured
    pricing.reset()
    lg.reset()
    assert pricing.price("gpt-4o") == Price(input=2.5, output=10.0, cached_input=1.25)
    assert pricing.table_version() == pricing.VERSION


def test_the_digest_follows_the_entries() -> None:
    """The same entries give the same version; other entries another one."""
    pricing.set_price("house-model", input=1.0, output=2.0)
    first = pricing.table_version()
    pricing.set_price("house-model", input=1.0, output=3.0)
    assert pricing.table_version() not in (first, pricing.VERSION)
    pricing.set_price("house-model", input=1.0, output=2.0)
    assert pricing.table_version() == first


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("", {"input": 1.0, "output": 1.0}),
        ("  ", {"input": 1.0, "output": 1.0}),
        (None, {"input": 1.0, "output": 1.0}),
        ("m", {"input": -1.0, "output": 1.0}),
        ("m", {"input": 1.0, "output": float("nan")}),
        ("m", {"input": 1.0, "output": float("inf")}),
        ("m", {"input": "1", "output": 1.0}),
        ("m", {"input": True, "output": 1.0}),
        ("m", {"input": 1.0, "output": 1.0, "cached_input": -0.1}),
        ("m", {"input": 1.0, "output": 1.0, "cache_write": float("nan")}),
    ],
)
def test_set_price_rejects_bad_names_and_prices(model: object, kwargs: dict[str, object]) -> None:
    """A bad name or a negative, infinite or non-numeric price is a ConfigurationError."""
    with pytest.raises(lg.ConfigurationError):
        pricing.set_price(model, **kwargs)  # type: ignore[arg-type]
    assert pricing.table_version() == pricing.VERSION


@pytest.mark.parametrize(
    "prices",
    [
        ["gpt-4o"],
        {"": {"input": 1, "output": 1}},
        {"m": {"input": 1}},
        {"m": {"input": 1, "output": -2}},
        {"m": {"input": 1, "output": 2, "batch": 0.5}},
        {"m": "cheap"},
    ],
)
def test_configure_rejects_bad_prices(prices: object) -> None:
    """configure(prices=...) checks every entry when it is called."""
    with pytest.raises(lg.ConfigurationError):
        lg.configure(prices=prices)  # type: ignore[arg-type]


# -- prices of the past --------------------------------------------------------------------

# mistral-medium-latest cost $0.40 / $2 until 2026-06-16, then $1.50 / $7.50.
CHANGED = "mistral-medium-latest"


def test_the_price_in_force_at_a_time_is_chosen() -> None:
    """at= picks the price in force then: a datetime (naive is UTC) or an ISO string."""
    before = pricing.price(CHANGED, at=datetime(2026, 6, 15, 23, 59))
    after = pricing.price(CHANGED, at="2026-06-16T00:00:00Z")
    assert (before.input, before.output) == (0.4, 2.0)  # type: ignore[union-attr]
    assert (after.input, after.output) == (1.5, 7.5)  # type: ignore[union-attr]
    aware = datetime(2026, 6, 16, 1, 0, tzinfo=timezone.utc)
    assert pricing.price(CHANGED, at=aware) == after
    assert pricing.price(CHANGED) == after  # today
    expected = float(
        genai_prices.calc_price(
            genai_prices.Usage(input_tokens=MILLION),
            CHANGED,
            genai_request_timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc),
        ).total_price
    )
    assert before.input == expected  # type: ignore[union-attr]


def test_a_record_is_priced_at_its_own_time() -> None:
    """record_cost prices an old record with the price of the day it was made."""
    usage = lg.Usage(input=MILLION, output=MILLION)
    old = Record(
        trace_id="0" * 32,
        span_id="0" * 16,
        name="ask",
        start="2026-01-10T12:00:00.000000Z",
        end="2026-01-10T12:00:01.000000Z",
        duration_ms=1000.0,
        kind="llm",
        model=CHANGED,
        usage=usage,
    )
    assert pricing.record_cost(old) == pytest.approx(0.4 + 2.0)
    assert pricing.cost(usage, CHANGED) == pytest.approx(1.5 + 7.5)
    # a record with no usage, or a start that is no time, has no cost to give
    assert pricing.record_cost(dataclasses.replace(old, usage=None)) is None
    assert pricing.record_cost(dataclasses.replace(old, start="yesterday")) is None


def test_a_price_with_several_changes_is_found_at_each() -> None:
    """mistral-large-4 changed twice in ten days of October 2026."""
    release = tuple(int(part) for part in genai_prices.__version__.split(".")[:2])
    if release < (0, 2) or pricing.source("mistral-large-4") != (
        f"{pricing.VERSION}: mistral/mistral-large-4"
    ):
        pytest.skip("genai-prices 0.1 (Python 3.10's release) has no price history for it")
    figures = [
        (pricing.price("mistral-large-4", at=day) or Price(0, 0)).input
        for day in ("2026-10-19", "2026-10-20", "2026-10-28", "2026-10-29", "2026-12-01")
    ]
    assert figures == [0.68, 1.36, 1.36, 0.7, 0.7]


@pytest.mark.parametrize("at", ["not a time", 12, "2026-13-01"])
def test_a_time_that_is_no_time_is_a_configuration_error(at: object) -> None:
    """at= that is neither a datetime nor an ISO 8601 string is refused clearly."""
    with pytest.raises(lg.ConfigurationError):
        pricing.price("gpt-4o", at=at)  # type: ignore[arg-type]


# -- unknown models: reported once, bounded ----------------------------------------------


def test_an_unknown_model_costs_none_and_is_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unknown model: None (never 0), and one warning per model on the llmguard logger."""
    usage = lg.Usage(input=10, output=10)
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        assert pricing.cost(usage, "mystery-model") is None
        assert pricing.cost(usage, "mystery-model") is None
        assert pricing.cost(usage, "other-model") is None
    messages = warnings_of(caplog)
    assert len(messages) == 2
    assert "mystery-model" in messages[0]
    assert "llmguard.pricing.set_price" in messages[0]
    assert "other-model" in messages[1]


def test_a_call_with_no_model_name_costs_none_and_is_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """model=None is unknown too, reported once."""
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        assert pricing.cost(lg.Usage(input=1, output=1), None) is None
        assert pricing.cost(lg.Usage(input=1, output=1), None) is None
    messages = warnings_of(caplog)
    assert len(messages) == 1
    assert "names no model" in messages[0]


def test_past_max_named_unknown_models_are_counted_not_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first 100 unknown models get a warning each; then calls are counted."""
    usage = lg.Usage(input=1, output=1)
    named = 100
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        for i in range(named + 100):
            assert pricing.cost(usage, f"model-{i}") is None
        pricing.cost(usage, "model-0")  # named already: nothing more
    messages = warnings_of(caplog)
    assert len(messages) == named + 3
    assert all(f"'model-{i}'" in messages[i] for i in range(named))
    assert "counted, not named" in messages[named]
    assert "could not price 10 more calls" in messages[-2]
    assert "could not price 100 more calls" in messages[-1]


def test_lookups_stay_right_past_the_cache_bound() -> None:
    """Past 1,024 names, the oldest lookups are dropped and found again when asked."""
    pricing.set_price("my-model", input=1.0, output=2.0)
    assert pricing.price("my-model") == Price(input=1.0, output=2.0)
    for i in range(3_000):
        pricing.price(f"other-{i}")
    assert pricing.price("my-model") == Price(input=1.0, output=2.0)
    assert pricing.price("gpt-4o-mini-2024-07-18") == pricing.price("gpt-4o-mini")


def test_unknown_names_leave_nothing_behind_in_the_database() -> None:
    """llmguard does its own bounded lookups: the database's unbounded caches stay empty."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    before = len(snapshot._provider_misses) + len(snapshot._lookup_cache)
    for i in range(500):
        pricing.price(f"claude-unheard-of-{i}")
    assert len(snapshot._provider_misses) + len(snapshot._lookup_cache) == before


def test_reset_reports_unknown_models_again(caplog: pytest.LogCaptureFixture) -> None:
    """After reset(), an unknown model is reported again (test isolation)."""
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        pricing.cost(lg.Usage(input=1, output=1), "mystery-model")
        pricing.reset()
        pricing.cost(lg.Usage(input=1, output=1), "mystery-model")
    assert len(warnings_of(caplog)) == 2


def test_a_model_priced_after_being_reported_is_priced() -> None:
    """set_price() after an unknown-model warning makes the next cost known."""
    usage = lg.Usage(input=MILLION, output=0)
    assert pricing.cost(usage, "late-model") is None
    pricing.set_price("late-model", input=4.0, output=8.0)
    assert pricing.cost(usage, "late-model") == pytest.approx(4.0)


def test_concurrent_lookups_and_overrides_are_consistent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Threads reading and writing prices at once see only whole entries, and an
    unknown model is still reported exactly once."""
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(200):
                pricing.set_price(f"m{n}", input=float(i), output=float(i))
                found = pricing.price(f"m{n}-2026-01-01")
                assert found is not None
                assert found.input == found.output
                assert pricing.cost(lg.Usage(input=1, output=1), "nowhere") is None
                assert pricing.price("azure/gpt-4o") is not None
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with caplog.at_level(logging.WARNING, logger="llmguard"):
        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert len([m for m in warnings_of(caplog) if "nowhere" in m]) == 1


def test_decimal_figures_are_read_exactly() -> None:
    """The database's Decimal prices become the floats written in its data."""
    found = pricing.price("gpt-4o-mini")
    assert found is not None
    assert Decimal(str(found.cached_input)) == Decimal("0.075")


# -- the database failing never reaches the application's call ---------------------------


def test_a_database_that_cannot_load_leaves_calls_unpriced(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken genai-prices install: one warning, every call unpriced, nothing raised."""
    from genai_prices import data_snapshot

    def broken() -> None:
        raise RuntimeError("data.py is corrupt")

    monkeypatch.setattr(data_snapshot, "get_snapshot", broken)
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        pricing.reload()
        assert pricing.cost(lg.Usage(input=1, output=1), "gpt-4o") is None
    assert pricing.table_version() == "genai-prices unavailable"
    assert any("could not be loaded" in m for m in warnings_of(caplog))
    monkeypatch.undo()
    pricing.reload()
    assert pricing.price("gpt-4o") is not None


def test_a_lookup_that_fails_is_an_unpriced_model(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception from the database's matching is reported once; the model is unpriced."""

    def failing(name: str) -> None:
        raise ValueError("bad pattern")

    monkeypatch.setattr(pricing, "_lookup", failing)
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        assert pricing.cost(lg.Usage(input=1, output=1), "strange-model") is None
        assert pricing.cost(lg.Usage(input=1, output=1), "strange-model") is None
    messages = warnings_of(caplog)
    assert len(messages) == 1
    assert "could not look model 'strange-model' up" in messages[0]


# -- any model name a response can carry ---------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=300), at=st.none() | st.datetimes())
def test_any_name_is_priced_or_not_never_an_error(name: str, at: datetime | None) -> None:
    """Whatever a response names as its model: a Price or None, never an exception."""
    found = pricing.price(name, at=at)
    assert found is None or isinstance(found, Price)
    cost = pricing.cost(lg.Usage(input=5, output=5), name, at=at)
    assert (cost is None) == (found is None)


@pytest.mark.parametrize(
    "name",
    [
        "gpt-" + "-2024-01-01" * 19,  # a snapshot suffix repeated up to the length bound
        "claude" + "-" * 194,
        "bedrock/" + "anthropic." * 19,
        "azure/" + "/" * 194,
        "gemini-" + "9" * 193,
    ],
)
def test_adversarial_names_are_looked_up_quickly(name: str) -> None:
    """Names built to make matching work hard are resolved like any other: 200 new
    lookups take well under a second (about a millisecond each)."""
    import time

    start = time.perf_counter()
    for i in range(200):
        pricing.price(f"{i:03d}{name}"[:200])
        pricing.price(f"{name}{i:03d}"[:200])
    assert time.perf_counter() - start < 2.0
