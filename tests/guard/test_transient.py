"""Tests for llmguard._guard.transient: which errors are transient, and how long to wait."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import openai
import pytest
import tenacity

from llmguard._guard.transient import Backoff, is_transient, retry_after, status_code
from llmguard.testing import FakeAPIError
from tests._helpers.sdk_mocks import anthropic_client, error_response, http, openai_client

USER: Any = [{"role": "user", "content": "hi"}]


def openai_error(answer: Any) -> BaseException:
    client, _ = openai_client([answer])
    with pytest.raises(openai.OpenAIError) as excinfo:
        client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    return excinfo.value


def anthropic_error(answer: Any) -> BaseException:
    client, _ = anthropic_client([answer])
    with pytest.raises(anthropic.AnthropicError) as excinfo:
        client.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=USER)
    return excinfo.value


class WithResponse(Exception):
    def __init__(self, response: Any) -> None:
        super().__init__("with a response")
        self.response = response


class Headers:
    def __init__(self, **headers: str) -> None:
        self.headers = headers
        self.status_code = 429


# -- is_transient -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
def test_retryable_statuses_are_transient(status: int) -> None:
    """Timeouts, conflicts, rate limits and every 5xx are worth retrying unchanged."""
    assert is_transient(FakeAPIError(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_not_transient(status: int) -> None:
    """A request the server rejected will be rejected again."""
    assert not is_transient(FakeAPIError(status))


def test_real_sdk_errors_are_classified_by_their_status() -> None:
    """The SDKs' own exceptions: 429 and 529 are transient, 400 is not."""
    assert is_transient(openai_error(error_response(429)))
    assert is_transient(anthropic_error(error_response(529, "Overloaded")))
    assert not is_transient(openai_error(error_response(400)))
    assert not is_transient(anthropic_error(error_response(400)))


def test_sdk_timeouts_and_connection_errors_are_transient() -> None:
    """APITimeoutError and APIConnectionError carry no status but are retried."""
    timeout = openai_error(http.ReadTimeout("slow"))
    dropped = anthropic_error(http.ConnectError("refused"))
    assert isinstance(timeout, openai.APITimeoutError)
    assert isinstance(dropped, anthropic.APIConnectionError)
    assert is_transient(timeout)
    assert is_transient(dropped)
    assert is_transient(http.ReadTimeout("raw httpx timeout"))


def test_builtin_timeouts_are_transient() -> None:
    """TimeoutError (and asyncio's, an alias of it) is transient."""
    assert is_transient(TimeoutError())
    assert is_transient(asyncio.TimeoutError())


def test_retry_on_adds_exception_types() -> None:
    """Types listed in retry_on are transient; others stay as they were."""

    class Overloaded(Exception):
        pass

    assert not is_transient(Overloaded())
    assert is_transient(Overloaded(), (Overloaded,))
    assert not is_transient(ValueError(), (Overloaded,))


def test_ordinary_exceptions_are_not_transient() -> None:
    """A bug in the caller's code is never retried."""
    assert not is_transient(ValueError("bug"))
    assert not is_transient(KeyError("x"))


def test_status_code_is_read_from_the_error_or_its_response() -> None:
    """status_code() looks on the exception, then on its response; bools are not codes."""
    assert status_code(FakeAPIError(503)) == 503
    assert status_code(WithResponse(Headers())) == 429
    flagged = FakeAPIError(0)
    flagged.status_code = True  # type: ignore[assignment]
    assert status_code(flagged) is None
    assert status_code(ValueError()) is None


# -- Retry-After -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("3600", 60.0), ("soon", None)],
)
def test_retry_after_is_read_and_bounded(header: str, seconds: float | None) -> None:
    """Retry-After in seconds is honoured, never negative and at most a minute."""
    assert retry_after(WithResponse(Headers(**{"retry-after": header}))) == seconds


def test_retry_after_is_none_without_a_header_or_a_response() -> None:
    """No response, no headers or no Retry-After: nothing asked."""
    assert retry_after(ValueError()) is None
    assert retry_after(WithResponse(object())) is None
    assert retry_after(WithResponse(Headers())) is None


def test_retry_after_from_a_real_sdk_error() -> None:
    """The header of a real 429 response is found through the SDK error's response."""
    error = openai_error(error_response(429, headers={"retry-after": "4"}))
    assert retry_after(error) == 4.0


def test_broken_headers_are_ignored() -> None:
    """Headers that raise on lookup do not break the retry."""

    class Broken:
        def get(self, name: str) -> str:
            raise RuntimeError("broken")

    response = Headers()
    response.headers = Broken()  # type: ignore[assignment]
    assert retry_after(WithResponse(response)) is None


# -- Backoff -----------------------------------------------------------------------------


def test_default_backoff_is_exponential_with_up_to_a_second_of_jitter() -> None:
    """0.5 s, 1 s, 2 s, 4 s ... plus jitter in [0, 1], capped at 30 s (+ jitter)."""
    backoff = Backoff()
    error = FakeAPIError(429)
    for number, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 30.0)]:
        for _ in range(20):
            assert base <= backoff(number, error) <= base + 1


def test_backoff_never_waits_less_than_retry_after() -> None:
    """A Retry-After longer than the backoff wins; a shorter one does not shorten it."""
    backoff = Backoff(tenacity.wait_fixed(2))
    assert backoff(1, WithResponse(Headers(**{"retry-after": "9"}))) == 9.0
    assert backoff(1, WithResponse(Headers(**{"retry-after": "1"}))) == 2.0


def test_custom_wait_gets_tenacity_retry_state() -> None:
    """A custom wait sees the retry number and the failed outcome, as in tenacity."""
    seen: list[tuple[int, BaseException | None]] = []
    error = FakeAPIError(503)

    def wait(state: tenacity.RetryCallState) -> float:
        assert state.outcome is not None
        seen.append((state.attempt_number, state.outcome.exception()))
        return 0.25 * state.attempt_number

    assert Backoff(wait)(3, error) == 0.75
    assert seen == [(3, error)]


def test_tenacity_strategies_combine() -> None:
    """Strategies combined with + work as backoff=."""
    backoff = Backoff(tenacity.wait_fixed(1) + tenacity.wait_fixed(2))
    assert backoff(1, FakeAPIError(500)) == 3.0
