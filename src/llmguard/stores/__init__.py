"""Stores that share budgets and rate limits between processes.

A `llmguard.Budget` keeps its accounts in its own process unless it is given a store;
``lg.budget(max_cost_usd=50, store=RedisBudgetStore(url, key="support-bot"))`` keeps
them in Redis, so that every worker using the same key is held to one cap. The same
store shares a rate limit: ``lg.rate_limit(tokens_per_minute=..., store=...)``.

`RedisBudgetStore` needs the ``redis`` extra (``pip install 'llmguard[redis]'``);
redis-py is imported only when a store is created.
"""

from __future__ import annotations

from llmguard.stores._protocol import BudgetSnapshot, BudgetStore, Grant, RateStore, RateTake
from llmguard.stores._redis import RedisBudgetStore, Window

__all__ = [
    "BudgetSnapshot",
    "BudgetStore",
    "Grant",
    "RateStore",
    "RateTake",
    "RedisBudgetStore",
    "Window",
]
