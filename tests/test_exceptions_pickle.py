"""llmguard's errors cross process boundaries: a worker of a ``ProcessPoolExecutor``
that raises one hands its parent the same error, with its message and attributes."""

from __future__ import annotations

import concurrent.futures
import pickle
from typing import Any

import pytest

import llmguard as lg
from llmguard.types import FieldError

ERRORS: list[Any] = [
    lg.ConfigurationError("retries must be an int, not 'x'"),
    lg.BadReturn("ask", "None", "return the SDK's response"),
    lg.ReplayError("00f067aa0ba902b7", "input was not captured"),
    lg.PartiallyDelivered(delivered=3),
    lg.SchemaViolation((), None),
    lg.OutputTruncated((), None),
    lg.ProviderError((), None, code="server_error", message="The server had an error"),
    lg.BudgetExceeded("over", limit="max_tokens", maximum=10, used=12, requested=5),
    lg.TokenLimitExceeded("long", limit="max_input_tokens", maximum=100, used=0, requested=150),
    lg.StepLimitExceeded("steps", limit="max_steps", maximum=3, used=3, requested=1),
    lg.LoopDetected(
        "loop",
        tool="search",
        arguments={"q": "x"},
        count=3,
        limit="max_repeats",
        maximum=2,
        used=2,
        requested=1,
    ),
    lg.ToolInputError("search", (FieldError("$.q", "Field required", ""),)),
]


def _raise(error: BaseException) -> None:
    raise error


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: type(error).__name__)
def test_an_error_pickles_with_its_message_and_attributes(error: Exception) -> None:
    copied = pickle.loads(pickle.dumps(error))
    assert type(copied) is type(error)
    assert str(copied) == str(error)
    assert copied.args == error.args
    assert vars(copied) == vars(error)


def test_an_error_raised_in_a_worker_process_reaches_the_parent() -> None:
    """A budget refused in a worker: the parent gets the BudgetExceeded (a keyword-only
    constructor made unpickling fail, and the parent saw a BrokenProcessPool)."""
    error = lg.BudgetExceeded("over", limit="max_tokens", maximum=10, used=12, requested=5)
    with concurrent.futures.ProcessPoolExecutor(1) as pool:
        future = pool.submit(_raise, error)
        with pytest.raises(lg.BudgetExceeded, match="over") as raised:
            future.result(timeout=60)
    assert (raised.value.limit, raised.value.used, raised.value.requested) == ("max_tokens", 12, 5)
