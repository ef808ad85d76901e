"""Replays price a recorded call at its own time, and the new run at today's prices.

mistral-medium-latest is a model whose price changed in the database: $0.40 / $2 per
million tokens until 2026-06-16, $1.50 / $7.50 from then on.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmguard as lg
from llmguard import pricing
from llmguard._replay.replay import _totals, replay
from llmguard.sinks import SQLiteSink, SQLiteStore
from llmguard.testing import FakeLLM
from tests._helpers.replay import GOOD, MESSAGES, Ticket, recorded_call

CHANGED = "mistral-medium-latest"
MILLION = 1_000_000
JANUARY = "2026-01-10T12:00:00.000000Z"  # before the change
JULY = "2026-07-10T12:00:00.000000Z"  # after it


@pytest.fixture(autouse=True)
def _fresh_prices(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("LLMGUARD_PRICES_FILE", str(tmp_path / "none.json"))
    pricing.reload()
    pricing.reset()
    yield
    pricing.reset()


def triage(fake: FakeLLM) -> Any:
    @lg.guard(schema=Ticket, retries=0, model=CHANGED)
    def triage(messages: list[dict[str, str]]) -> Any:
        return fake(model=CHANGED, messages=messages)

    return triage


def old_record(**changes: Any) -> lg.Record:
    """A recorded call of January 2026 with a million tokens each way and no cost, as a
    store written before the model had a price holds it."""
    record = recorded_call(triage(FakeLLM([GOOD], model=CHANGED)), MESSAGES)
    values: dict[str, Any] = {
        "start": JANUARY,
        "end": "2026-01-10T12:00:01.000000Z",
        "usage": lg.Usage(input=MILLION, output=MILLION),
        "cost_usd": None,
        "price_table": None,
        "price_source": None,
    }
    values.update(changes)
    return dataclasses.replace(record, **values)


def test_the_recorded_call_is_priced_at_its_own_time() -> None:
    """Its usage is priced at January's $0.40 / $2, the new run at today's $1.50 / $7.50."""
    result = replay(old_record(), triage(FakeLLM([GOOD], model=CHANGED)))
    assert result.old.cost_usd == pytest.approx(0.4 + 2.0)
    assert pricing.cost(lg.Usage(input=MILLION, output=MILLION), CHANGED) == pytest.approx(9.0)
    new = result.new
    assert new.usage is not None
    assert new.usage.input is not None
    assert new.usage.output is not None
    assert new.cost_usd == pytest.approx((new.usage.input * 1.5 + new.usage.output * 7.5) / MILLION)
    assert result.as_dict()["old"]["cost_usd"] == pytest.approx(2.4)


def test_a_recorded_cost_is_kept_as_it_was() -> None:
    """A record that holds a cost keeps it: that is what the call was charged."""
    record = old_record(cost_usd=1.25, price_table="genai-prices 0.2.5")
    result = replay(record, triage(FakeLLM([GOOD], model=CHANGED)))
    assert result.old.cost_usd == 1.25


def test_a_record_read_back_from_a_store_is_priced_at_its_time(tmp_path: Path) -> None:
    """The same through SQLite, as `llmguard replay` reads it."""
    path = tmp_path / "llmguard.db"
    sink = SQLiteSink(path)
    sink.emit([old_record()])
    sink.close()
    with SQLiteStore(path) as store:
        (record,) = list(store.records(kind="llm"))
    assert record.cost_usd is None
    result = replay(record, triage(FakeLLM([GOOD], model=CHANGED)))
    assert result.old.cost_usd == pytest.approx(2.4)


def test_an_unpriced_or_timeless_record_stays_without_a_cost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No guessed cost: a model without a price, or a start that is no time, gives None."""
    caplog.set_level(logging.WARNING, "llmguard")
    fn = triage(FakeLLM([GOOD], model=CHANGED))
    assert replay(old_record(model="house-model-7b"), fn).old.cost_usd is None
    fn = triage(FakeLLM([GOOD], model=CHANGED))
    assert replay(old_record(start="sometime"), fn).old.cost_usd is None


def test_totals_price_each_call_at_its_time_and_model() -> None:
    """Calls without a cost are each priced with their own model at their own start;
    two models no longer leave the total unpriced."""
    january = old_record()
    july = old_record(start=JULY, end="2026-07-10T12:00:01.000000Z")
    haiku = old_record(model="claude-haiku-4-5")  # $1 / $5
    totals = _totals([january, july, haiku])
    assert totals["cost_usd"] == pytest.approx((0.4 + 2.0) + (1.5 + 7.5) + (1.0 + 5.0))
    assert totals["model"] is None  # two models
    assert totals["usage"] == lg.Usage(input=3 * MILLION, output=3 * MILLION)
    priced = old_record(cost_usd=0.5)
    assert _totals([priced, july])["cost_usd"] == pytest.approx(0.5 + 9.0)
