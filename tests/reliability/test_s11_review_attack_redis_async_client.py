"""RedisBudgetStore given a redis.asyncio client.

Session 11 refused a client= without register_script. An asyncio client has one, so it
was taken; its scripts answer coroutines, never awaited: every guarded call was then
refused with BudgetUnavailable ("an answer llmguard cannot read") and a RuntimeWarning,
long after the misuse. It is a ConfigurationError at construction.
"""

from __future__ import annotations

import pytest
import redis.asyncio

from llmguard.exceptions import ConfigurationError
from llmguard.stores import RedisBudgetStore


def test_an_asyncio_client_is_refused_at_construction() -> None:
    """The error names the client and says which one to give."""
    client = redis.asyncio.Redis(host="127.0.0.1", port=1)
    with pytest.raises(ConfigurationError, match=r"redis\.Redis"):
        RedisBudgetStore(client=client, key="aio")
