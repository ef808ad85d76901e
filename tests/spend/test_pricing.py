"""llmguard.pricing: the dated price table, overrides, and the cost of normalized usage."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator

import pytest

import llmguard as lg
from llmguard import pricing
from llmguard.pricing import Price


@pytest.fixture(autouse=True)
def _fresh_prices() -> Iterator[None]:
    """Every test starts from the built-in table, with no model reported yet."""
    pricing.reset()
    yield
    pricing.reset()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "llmguard"]


# -- the table ---------------------------------------------------------------------------


def test_version_is_the_date_the_prices_were_checked() -> None:
    """VERSION is an ISO date and is the table version while nothing is overridden."""
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", pricing.VERSION)
    assert pricing.table_version() == pricing.VERSION


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-5-mini", Price(input=0.25, output=2.0, cached_input=0.025)),
        ("gpt-5-nano", Price(input=0.05, output=0.4, cached_input=0.005)),
        ("gpt-4.1-nano", Price(input=0.10, output=0.40, cached_input=0.025)),
        ("gpt-4", Price(input=30.0, output=60.0)),
        ("claude-sonnet-4-5", Price(input=3.0, output=15.0, cached_input=0.30)),
        ("claude-opus-4-1", Price(input=15.0, output=75.0, cached_input=1.50)),
        ("claude-opus-4-5", Price(input=5.0, output=25.0, cached_input=0.50)),
        ("claude-haiku-4-5", Price(input=1.0, output=5.0, cached_input=0.10)),
        ("claude-3-5-haiku", Price(input=0.80, output=4.0, cached_input=0.08)),
    ],
)
def test_exact_names_find_their_prices(model: str, expected: Price) -> None:
    """A model named exactly as in the table gets its built-in price."""
    assert pricing.price(model) == expected


@pytest.mark.parametrize(
    ("snapshot", "base"),
    [
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("gpt-4-0613", "gpt-4"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-3-7-sonnet-20250219", "claude-3-7-sonnet"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
    ],
)
def test_dated_snapshots_find_their_model(snapshot: str, base: str) -> None:
    """A dated snapshot (or -latest alias) is priced as the model it is a snapshot of."""
    assert pricing.price(snapshot) == pricing.price(base)
    assert pricing.price(snapshot) is not None


def test_the_longest_matching_name_wins() -> None:
    """claude-opus-4-1-... is Opus 4.1, not Opus 4, though both names are prefixes."""
    opus_4 = pricing.price("claude-opus-4-20250514")
    opus_41 = pricing.price("claude-opus-4-1-20250805")
    assert opus_4 == Price(input=15.0, output=75.0, cached_input=1.5)
    assert opus_41 is not None
    pricing.set("claude-opus-4-1", input=1.0, output=2.0)
    assert pricing.price("claude-opus-4-1-20250805") == Price(input=1.0, output=2.0)
    assert pricing.price("claude-opus-4-20250514") == opus_4


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4-32k",  # a variant with its own price, not a snapshot of gpt-4
        "gpt-5-nano-pro",
        "claude-sonnet-4-5-fast",
        "claude-sonnet-4-7",  # a newer model must not be priced as claude-sonnet-4
        "gpt-5-mini-20250",
        "my-finetune",
        "",
    ],
)
def test_a_name_that_is_only_a_prefix_match_is_unknown(model: str) -> None:
    """Only dates and -latest may follow a known name; other suffixes are other models."""
    assert pricing.price(model) is None


def test_lookup_ignores_case_spaces_and_a_provider_prefix() -> None:
    """' OpenAI/GPT-5-Mini ' and 'anthropic/claude-haiku-4-5' are found."""
    assert pricing.price(" OpenAI/GPT-5-Mini ") == pricing.price("gpt-5-mini")
    assert pricing.price("anthropic/claude-haiku-4-5-20251001") == pricing.price("claude-haiku-4-5")


def test_table_lists_builtin_and_custom_entries() -> None:
    """table() is a copy of the table in use, user entries included."""
    pricing.set("house-model", input=1.0, output=2.0)
    listing = pricing.table()
    assert listing["house-model"] == Price(input=1.0, output=2.0)
    assert listing["gpt-5-mini"] == pricing.price("gpt-5-mini")
    listing.clear()
    assert pricing.price("house-model") is not None


# -- overrides ---------------------------------------------------------------------------


def test_set_adds_a_model_and_its_snapshots() -> None:
    """A model added with set() is priced, and so are its dated snapshots."""
    pricing.set("gpt-4o", input=2.5, output=10.0, cached_input=1.25)
    assert pricing.price("gpt-4o") == Price(input=2.5, output=10.0, cached_input=1.25)
    assert pricing.price("gpt-4o-2024-08-06") == pricing.price("gpt-4o")


def test_user_entries_win_over_builtin_ones() -> None:
    """set() on a built-in model overrides it, for the name and its snapshots."""
    pricing.set("GPT-5-mini", input=9.0, output=9.0)
    assert pricing.price("gpt-5-mini") == Price(input=9.0, output=9.0)
    assert pricing.price("gpt-5-mini-2025-08-07") == Price(input=9.0, output=9.0)


def test_a_custom_entry_changes_the_version() -> None:
    """The version gains a digest of the entries, which changes with them."""
    pricing.set("house-model", input=1.0, output=2.0)
    first = pricing.table_version()
    assert first.startswith(pricing.VERSION + "+custom.")
    pricing.set("house-model", input=1.0, output=3.0)
    second = pricing.table_version()
    assert second.startswith(pricing.VERSION + "+custom.")
    assert second != first
    pricing.set("house-model", input=1.0, output=2.0)
    assert pricing.table_version() == first


def test_reset_forgets_custom_entries() -> None:
    """reset() restores the built-in table and its version."""
    pricing.set("gpt-5-mini", input=9.0, output=9.0)
    pricing.reset()
    assert pricing.price("gpt-5-mini") == Price(input=0.25, output=2.0, cached_input=0.025)
    assert pricing.table_version() == pricing.VERSION


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
    ],
)
def test_set_rejects_bad_names_and_prices(model: object, kwargs: dict[str, object]) -> None:
    """A bad name or a negative, infinite or non-numeric price is a ConfigurationError."""
    with pytest.raises(lg.ConfigurationError):
        pricing.set(model, **kwargs)  # type: ignore[arg-type]
    assert pricing.table_version() == pricing.VERSION


def test_set_accepts_integer_prices() -> None:
    """Whole-dollar prices may be given as ints; they are stored as floats."""
    pricing.set("m", input=3, output=15, cached_input=0)
    assert pricing.price("m") == Price(input=3.0, output=15.0, cached_input=0.0)


# -- cost --------------------------------------------------------------------------------


def test_cost_of_plain_input_and_output() -> None:
    """Input and output are charged at their prices per million tokens."""
    usage = lg.Usage(input=1_000_000, output=1_000_000)
    assert pricing.cost(usage, "claude-sonnet-4-5") == pytest.approx(3.0 + 15.0)


def test_cost_of_openai_usage_with_cached_and_reasoning_tokens() -> None:
    """OpenAI-style usage: input includes the cached tokens, output includes reasoning.

    1,000 input of which 400 cached, 500 output of which 300 reasoning, on gpt-5-mini:
    600 x 0.25 + 400 x 0.025 + 500 x 2.00, per million.
    """
    usage = lg.Usage(input=1000, output=500, cached_input=400, reasoning=300, total=1500)
    expected = (600 * 0.25 + 400 * 0.025 + 500 * 2.00) / 1e6
    assert pricing.cost(usage, "gpt-5-mini") == pytest.approx(expected)
    # Reasoning tokens are inside output: reporting them changes nothing.
    without = lg.Usage(input=1000, output=500, cached_input=400)
    assert pricing.cost(without, "gpt-5-mini") == pricing.cost(usage, "gpt-5-mini")


def test_cost_of_anthropic_normalized_usage() -> None:
    """Anthropic usage as the adapters normalize it: cache reads added back into input.

    The API's input_tokens=200, cache_read_input_tokens=3000, output_tokens=800 (with
    thinking inside) become input=3200, cached_input=3000, output=800.
    """
    usage = lg.Usage(input=3200, output=800, cached_input=3000, reasoning=500)
    expected = (200 * 3.00 + 3000 * 0.30 + 800 * 15.00) / 1e6
    assert pricing.cost(usage, "claude-sonnet-4-5-20250929") == pytest.approx(expected)


def test_cost_through_the_adapters_matches_the_hand_computation() -> None:
    """Usage read by the real adapters from provider-shaped dicts is priced as expected."""
    openai = lg.adapters.adapt(
        {
            "object": "chat.completion",
            "model": "gpt-5-mini-2025-08-07",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hi"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 1000,
                "completion_tokens": 500,
                "total_tokens": 1500,
                "prompt_tokens_details": {"cached_tokens": 400},
                "completion_tokens_details": {"reasoning_tokens": 300},
            },
        }
    )
    anthropic = lg.adapters.adapt(
        {
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": "hi"}],
            "stop_reason": "end_turn",
            "usage": {
                "input_tokens": 200,
                "cache_read_input_tokens": 3000,
                "output_tokens": 800,
            },
        }
    )
    assert openai is not None
    assert anthropic is not None
    assert openai.usage is not None
    assert anthropic.usage is not None
    assert pricing.cost(openai.usage, openai.model) == pytest.approx(
        (600 * 0.25 + 400 * 0.025 + 500 * 2.00) / 1e6
    )
    assert pricing.cost(anthropic.usage, anthropic.model) == pytest.approx(
        (200 * 3.00 + 3000 * 0.30 + 800 * 15.00) / 1e6
    )


def test_cached_tokens_cost_the_input_price_without_a_cache_discount() -> None:
    """A model with no cached price charges cached tokens as ordinary input."""
    usage = lg.Usage(input=1000, output=0, cached_input=600)
    assert pricing.cost(usage, "gpt-4") == pytest.approx(1000 * 30.0 / 1e6)


def test_cached_count_is_clamped_to_the_input() -> None:
    """A cached count above the input count (a provider bug) never makes cost negative."""
    usage = lg.Usage(input=100, output=0, cached_input=500)
    assert pricing.cost(usage, "gpt-5-mini") == pytest.approx(100 * 0.025 / 1e6)


def test_cost_uses_the_overridden_price() -> None:
    """cost() follows set()."""
    pricing.set("house-model", input=1.0, output=2.0, cached_input=0.5)
    usage = lg.Usage(input=2_000_000, output=1_000_000, cached_input=1_000_000)
    assert pricing.cost(usage, "house-model-2026-01-01") == pytest.approx(1.0 + 0.5 + 2.0)


def test_zero_usage_costs_zero_on_a_known_model() -> None:
    """A priced call that used nothing costs exactly 0.0 -- not None."""
    assert pricing.cost(lg.Usage(input=0, output=0), "gpt-5-nano") == 0.0


@pytest.mark.parametrize(
    "usage",
    [lg.Usage(), lg.Usage(input=10), lg.Usage(output=10), lg.Usage(cached_input=3)],
)
def test_usage_without_counts_costs_none(usage: lg.Usage) -> None:
    """Missing input or output counts make the cost unknown rather than partial."""
    assert pricing.cost(usage, "gpt-5-mini") is None


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
    assert "llmguard.pricing.set" in messages[0]
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
    pricing.set("my-model", input=1.0, output=2.0)
    assert pricing.price("my-model") == Price(input=1.0, output=2.0)
    for i in range(3_000):
        pricing.price(f"other-{i}")
    assert pricing.price("my-model") == Price(input=1.0, output=2.0)
    assert pricing.price("gpt-4o-mini-2024-07-18") == pricing.price("gpt-4o-mini")


def test_reset_reports_unknown_models_again(caplog: pytest.LogCaptureFixture) -> None:
    """After reset(), an unknown model is reported again (test isolation)."""
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        pricing.cost(lg.Usage(input=1, output=1), "mystery-model")
        pricing.reset()
        pricing.cost(lg.Usage(input=1, output=1), "mystery-model")
    assert len(warnings_of(caplog)) == 2


def test_a_model_priced_after_being_reported_is_priced() -> None:
    """set() after an unknown-model warning makes the next cost known."""
    usage = lg.Usage(input=1_000_000, output=0)
    assert pricing.cost(usage, "late-model") is None
    pricing.set("late-model", input=4.0, output=8.0)
    assert pricing.cost(usage, "late-model") == pytest.approx(4.0)


def test_concurrent_lookups_and_overrides_are_consistent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Threads reading and writing the table at once see only whole entries, and an
    unknown model is still reported exactly once."""
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(200):
                pricing.set(f"m{n}", input=float(i), output=float(i))
                found = pricing.price(f"m{n}-2026-01-01")
                assert found is not None
                assert found.input == found.output
                assert pricing.cost(lg.Usage(input=1, output=1), "nowhere") is None
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
