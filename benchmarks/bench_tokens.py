"""``lg.count_tokens(messages)`` against raw tiktoken ``encode`` of the same strings.

Run: ``python benchmarks/bench_tokens.py``. The chat is a realistic ten-message exchange
(a system prompt, user questions, assistant answers of a few paragraphs). *raw* is what a
hand-written loop pays: ``len(enc.encode(s))`` for every string value of every message
(roles, names, contents). *count_tokens* does the same work plus OpenAI's per-message
overheads. All figures are the median over many runs of the time per chat; the target
is at most 1.2x. ``encode_ordinary`` (what llmguard calls: no special-token check) is
shown too, so the cost of the message walk itself is visible.

The encoding files are read from ``TIKTOKEN_CACHE_DIR``; when it is not set, this script
points it at the files the test suite ships in ``tests/data/tiktoken``. The three ways
of counting take turns batch by batch.
"""

from __future__ import annotations

import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import tiktoken
from _timing import interleaved_ns

import llmguard as lg

SHIPPED = Path(__file__).resolve().parents[1] / "tests" / "data" / "tiktoken"

RUNS = 2_000
REPEAT = 10

ANSWER = (
    "Good question. The short version is that the cache sits in front of the database and "
    "answers most reads from memory, so the database only sees a request when the cache "
    "does not have the value yet or the value has expired.\n\n"
    "There are two things to watch. First, invalidation: when a record changes, the cached "
    "copy must be dropped or updated, otherwise readers keep seeing the old value until it "
    "expires. Second, a cold start: right after a deploy the cache is empty and every "
    "request goes to the database at once, which can overload it.\n\n"
    "A common pattern is to write to the database first, then delete the cache key, and let "
    "the next read fill it again. Add a small random jitter to the expiry times so that "
    "keys written together do not all expire together."
)

MESSAGES: list[dict[str, str]] = [
    {
        "role": "system",
        "content": "You are a senior backend engineer. Answer clearly, with short examples, "
        "and say when something depends on the workload.",
    },
    {"role": "user", "content": "How does a read-through cache work in front of Postgres?"},
    {"role": "assistant", "content": ANSWER},
    {"role": "user", "name": "dana", "content": "What expiry would you pick for user profiles?"},
    {
        "role": "assistant",
        "content": "Profiles change rarely, so ten to thirty minutes is usually fine, "
        "as long as you delete the key when a user edits their profile.",
    },
    {"role": "user", "content": "And what happens if Redis goes down for a few minutes?"},
    {"role": "assistant", "content": ANSWER.replace("cache", "Redis cache")},
    {"role": "user", "content": "Can you show the write path in Python, with redis-py?"},
    {
        "role": "assistant",
        "content": "def save_profile(db, cache, profile):\n"
        "    db.execute(UPDATE_PROFILE, profile.as_row())\n"
        '    cache.delete(f"profile:{profile.user_id}")\n',
    },
    {"role": "user", "content": "Thanks! Last one: how do I measure the hit rate?"},
]


@dataclass(frozen=True)
class TokenResult:
    """Median ns per chat of each way of counting, for one model."""

    encoding: str
    text_tokens: int
    counted: int
    raw_ns: float
    ordinary_ns: float
    ours_ns: float

    @property
    def ratio(self) -> float:
        """``count_tokens`` over raw ``encode``: the target is at most 1.2."""
        return self.ours_ns / self.raw_ns


def use_shipped_encodings() -> None:
    """Point ``TIKTOKEN_CACHE_DIR`` at the test suite's files unless it is already set.

    For this benchmark process only; llmguard itself never touches the environment.
    """
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(SHIPPED))


def measure(
    runs: int = RUNS, repeat: int = REPEAT, models: tuple[str, ...] = ("gpt-4o", "gpt-4")
) -> dict[str, TokenResult]:
    """Time raw ``encode``, raw ``encode_ordinary`` and ``count_tokens``, interleaved.

    Raises:
        RuntimeError: tiktoken could not load an encoding, so there is nothing to compare.
    """
    strings = [value for message in MESSAGES for value in message.values()]
    results = {}
    for model in models:
        enc = tiktoken.encoding_for_model(model)
        counted = lg.count_tokens(MESSAGES, model=model)
        if counted.estimated:
            raise RuntimeError(f"the {enc.name} file is not in TIKTOKEN_CACHE_DIR")

        def raw(enc: tiktoken.Encoding = enc) -> int:
            return sum(len(enc.encode(s)) for s in strings)

        def ordinary(enc: tiktoken.Encoding = enc) -> int:
            return sum(len(enc.encode_ordinary(s)) for s in strings)

        def ours(model: str = model) -> int:
            return lg.count_tokens(MESSAGES, model=model)

        samples = interleaved_ns(
            [("raw", raw), ("ordinary", ordinary), ("ours", ours)], runs, repeat, repeat
        )
        medians = {name: statistics.median(times) for name, times in samples.items()}
        results[model] = TokenResult(
            enc.name, raw(), int(counted), medians["raw"], medians["ordinary"], medians["ours"]
        )
    return results


def main() -> None:
    use_shipped_encodings()
    try:
        results = measure()
    except RuntimeError as exc:
        sys.exit(f"{exc}; nothing to compare")
    for model, r in results.items():
        print(
            f"{model} ({r.encoding}), {len(MESSAGES)} messages, {r.text_tokens} text tokens, "
            f"{r.counted} with overheads:\n"
            f"  raw encode {r.raw_ns / 1000:.1f}µs, raw encode_ordinary "
            f"{r.ordinary_ns / 1000:.1f}µs, count_tokens {r.ours_ns / 1000:.1f}µs\n"
            f"  count_tokens / encode {r.ratio:.2f}x (target <= 1.2x), "
            f"/ encode_ordinary {r.ours_ns / r.ordinary_ns:.2f}x"
        )
    print(f"Python {sys.version.split()[0]}, tiktoken {tiktoken.__version__}")


if __name__ == "__main__":
    main()
