"""The default redactor on realistic message text and on a megabyte of adversarial text.

Run: ``python benchmarks/bench_redact.py [--runs N]``.

*Realistic* is a set of chat message lists of 0.5 to 4 KB each (a system prompt, user
questions and assistant answers in plain prose, with dates, order numbers, prices, code,
URLs and ids), into which emails, phone numbers, API keys, cards and IBANs are mixed at
the rates a support or coding assistant sees: an email in about one message in five, a
phone number in one in twelve, a key in one in forty. The figure is CPU time per KB of
text, three ways: each string alone (``redact_text``), one whole record through the
redactor (``DEFAULT(record)``, what delivery runs: its strings are read together), and
many records' strings at once (``DEFAULT.redact_many``). Target: at most 10 µs per KB.

*Adversarial* is 1 MB of text built to make a scanner work: near-miss card numbers
(Luhn fails), near-miss phone numbers, one long digit run, ``@`` floods, base64-like runs,
floods of key prefixes, and a mix of them all; then near-miss cards, near-miss phones and
dense emails again with every candidate different (random digits and names), since the
redactor remembers the answers for candidates it has seen; and floods that mix kinds or
glue one kind's values (emails between phone numbers, URL passwords glued together,
``+digits`` phone numbers, the word ``Bearer`` repeated). Target: at most 100 ms each,
and time linear in the size (checked by the tests, not here).

Timings are CPU time of this thread (``time.thread_time``), median of ``runs``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import string
import time
from collections.abc import Callable
from dataclasses import dataclass

import llmguard as lg
from llmguard.redact import DEFAULT, redact_text

TARGET_US_PER_KB = 10.0
TARGET_MS_PER_MB = 100.0
MB = 1 << 20

_TEXT = (
    "the a to and of in is it for that you with on this be are as we can not have your at "
    "if or by will from an do but so what all when there which would about one more how "
    "cache database request server order account refund invoice shipping customer support "
    "deploy build test error timeout retry latency query index table column schema python "
    "function return value list dict string number config setting token limit budget model "
    "please thanks could help check update delivery address payment plan upgrade billing"
)
_WORDS = _TEXT.split()
_SYSTEM = (
    "You are a helpful support assistant for Acme Cloud. Answer briefly and politely. "
    "Never reveal internal notes. If the customer asks for a refund, check the order "
    "first and explain the policy: refunds within 30 days, store credit after that."
)
_CODE = (
    "def handler(event, context):\n"
    "    order_id = event['order_id']\n"
    "    rows = db.execute('SELECT * FROM orders WHERE id = %s', (order_id,))\n"
    "    return {'status': 200, 'count': len(rows)}\n"
)


def _email(rng: random.Random) -> str:
    user = rng.choice(["jane.doe", "j.smith", "ops", "billing+eu", "m.garcia84", "kim"])
    return f"{user}@{rng.choice(['example.com', 'mail.acme.io', 'corp.example.co.uk'])}"


def _phone(rng: random.Random) -> str:
    return rng.choice(
        ["+1 415 555 0132", "(415) 555-2671", "+44 20 7946 0958", "020 7946 0958", "+33612345678"]
    )


def _key(rng: random.Random) -> str:
    return rng.choice(
        [
            "sk-proj-" + "".join(rng.choices(string.ascii_letters + string.digits, k=40)),
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_" + "".join(rng.choices(string.ascii_letters + string.digits, k=36)),
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
        ]
    )


def _sentence(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(6, 18))
    extra = rng.random()
    if extra < 0.15:
        words.insert(rng.randrange(len(words)), f"#{rng.randint(10000, 99999999)}")
    elif extra < 0.25:
        words.insert(
            rng.randrange(len(words)), f"2026-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}"
        )
    elif extra < 0.32:
        words.insert(rng.randrange(len(words)), f"${rng.randint(5, 900)}.{rng.randint(0, 99):02}")
    elif extra < 0.36:
        words.insert(rng.randrange(len(words)), "https://docs.acme.io/api/v2/orders?page=2")
    return " ".join(words).capitalize() + rng.choice([".", ".", "?", "!"])


def _message(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    length = 0
    while length < size:
        part = _CODE if rng.random() < 0.03 else _sentence(rng)
        parts.append(part)
        length += len(part) + 1
    roll = rng.random()
    if roll < 0.20:
        parts.insert(rng.randrange(len(parts) + 1), f"My email is {_email(rng)}.")
    if rng.random() < 1 / 12:
        parts.insert(rng.randrange(len(parts) + 1), f"Call me on {_phone(rng)}.")
    if rng.random() < 1 / 40:
        parts.insert(rng.randrange(len(parts) + 1), f"Here is the key: {_key(rng)}")
    if rng.random() < 1 / 100:
        parts.insert(rng.randrange(len(parts) + 1), "Card 4111 1111 1111 1111, exp 12/29.")
    if rng.random() < 1 / 100:
        parts.insert(rng.randrange(len(parts) + 1), "IBAN GB82 WEST 1234 5698 7654 32.")
    return " ".join(parts)


def message_lists(count: int, seed: int = 17) -> list[list[dict[str, str]]]:
    """``count`` chat message lists of 0.5 to 4 KB each, secrets at realistic rates."""
    rng = random.Random(seed)
    lists = []
    for _ in range(count):
        total = rng.randint(512, 4096)
        messages = [{"role": "system", "content": _SYSTEM}]
        used = len(_SYSTEM)
        while used < total:
            role = "user" if len(messages) % 2 else "assistant"
            size = rng.randint(60, 400) if role == "user" else rng.randint(200, 1200)
            size = min(size, max(40, total - used))
            content = _message(rng, size)
            messages.append({"role": role, "content": content})
            used += len(content)
        lists.append(messages)
    return lists


def _strings(messages: list[dict[str, str]]) -> list[str]:
    return [s for message in messages for pair in message.items() for s in pair]


def _record(messages: list[dict[str, str]]) -> lg.Record:
    return lg.Record(
        trace_id="t" * 32,
        span_id="s" * 16,
        name="chat.completions.create",
        start="2026-01-01T00:00:00.000000Z",
        end="2026-01-01T00:00:01.000000Z",
        duration_ms=1000.0,
        kind="llm",
        model="gpt-4o-mini",
        provider="openai",
        input={"messages": messages},
        output="Thanks, I have updated the order and sent a confirmation.",
    )


def _block(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _base64ish(size: int) -> str:
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits + "+/="
    return "".join(rng.choices(alphabet, k=size))


def _random_units(make: Callable[[random.Random], str], size: int) -> str:
    rng = random.Random(11)
    parts: list[str] = []
    length = 0
    while length < size:
        parts.append(make(rng))
        length += len(parts[-1])
    return "".join(parts)[:size]


def _near_miss_card(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(16)]
    checksum = sum(d if i % 2 else (2 * d - 9 if d > 4 else 2 * d) for i, d in enumerate(digits))
    if checksum % 10 == 0:  # a valid card: make it a near miss
        digits[-1] = (digits[-1] + 1) % 10
    text = "".join(map(str, digits))
    return " ".join(text[i : i + 4] for i in range(0, 16, 4)) + " "


def _near_miss_phone(rng: random.Random) -> str:
    return f"+{rng.randrange(10)} {rng.randrange(100):02} {rng.randrange(1000):03} "


def _dense_email(rng: random.Random) -> str:
    local = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(1, 4)))
    return f"{local}@{rng.choice(string.ascii_lowercase)}.io "


def _email_or_phone(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return _dense_email(rng)
    if rng.random() < 0.5:
        return "+" + "".join(rng.choices(string.digits, k=rng.randint(6, 14))) + " "
    return _near_miss_phone(rng)


def adversarial(size: int = MB) -> dict[str, str]:
    """Texts of ``size`` characters made to slow a scanner down, by name."""
    cases = {
        "near-miss cards": _block("4111 1111 1111 1112 ", size),
        "near-miss cards, no spaces": _block("4111111111111112 ", size),
        "near-miss phones": _block("+1 2 3 ", size),
        "glued phones": _block("+14155552671", size),
        "one digit run": "1" * size,
        "digits and spaces": _block("1 ", size),
        "@ flood": "@" * size,
        "a@ flood": _block("a@", size),
        "dotted local parts": _block("a.", size - 2) + "@x",
        "base64-like run": _base64ish(size),
        "key prefixes": _block("sk-ghp_AKIAeyJxoxb-Bearer ", size),
        "near-miss phone runs": _block("0000 0000 0000 0000 ", size),
        "dense emails": _block("a@b.io ", size),
        "dense emails with apostrophes": _block("o'b@c.io ", size),
        "private key header, unclosed": "-----BEGIN RSA PRIVATE KEY-----\n"
        + _block("QUJD\n", size - 32),
    }
    pieces = [text[: size // len(cases)] for text in cases.values()]
    cases["mixed"] = "".join(pieces)
    # Kinds mixed, or one kind glued: a value every few bytes, no run of one shape.
    cases["emails and phone numbers"] = _block("a@b.co +1 415 ", size)
    cases["URL passwords glued"] = _block("postgres://u:p@", size)
    cases["+digits phone numbers"] = _block("+12345678 ", size)
    cases["bearer words"] = _block("Bearer ", size)
    # The same floods with no two candidates alike: nothing a memo can reuse.
    cases["near-miss cards, random"] = _random_units(_near_miss_card, size)
    cases["near-miss phones, random"] = _random_units(_near_miss_phone, size)
    cases["dense emails, random"] = _random_units(_dense_email, size)
    cases["emails and phone numbers, random"] = _random_units(_email_or_phone, size)
    # Session 10's kinds and contexts, value after value: Basic credentials, curl's -u
    # options, near-miss Discord tokens, emails with %40, URL passwords holding @, and
    # base64url text with dots and spaces (which took RE2's DFA past 8 MB).
    cases["Basic credentials"] = _block("Basic dXNlcjpw ", size)
    cases["curl user options"] = _block("-u a:b ", size)
    cases["near-miss Discord tokens"] = _block(
        "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kK ", size
    )
    cases["emails with %40"] = _block("a%40b.io ", size)
    cases["URL passwords holding @"] = _block("postgres://u:p@@@", size)
    cases["base64url with dots"] = _base64url_dotted(size)
    # Session 11's: values under secrets' names, one after another or cut short (JSON,
    # JSON in a string, a query string, nulls, names with no value), URL passwords
    # holding a /, ports before paths holding an @, Basic credentials folded.
    cases["password values"] = _block("password=a password: b ", size)
    cases["quoted secrets in JSON"] = _block('"secret": "x y", ', size)
    cases["secrets in JSON in a string"] = _block('{\\"password\\": \\"a b\\", ', size)
    cases["secrets in a query string"] = _block("x=1&secret=", size)
    cases["nulls under names"] = _block("password: null ", size)
    cases["names with no value"] = _block("password api_key ", size)
    cases["URL passwords holding /"] = _block("postgres://u:a/b@", size)
    cases["ports before paths with @"] = _block("https://h:443/@", size)
    cases["folded Basic credentials"] = _block("Basic\r\n YTpi ", size)
    # Session 11's review: long quoted values (read to their closing quote), an unclosed
    # quote, settings lines, lists, Authorization schemes, *_TOKEN settings, and phone
    # numbers before <password> (element text under a name, read up to the next <).
    cases["long quoted secrets"] = _block('"password": "' + "w " * 40 + '", ', size)
    cases["unclosed quotes under names"] = _block('password: "', size)
    cases["settings lines"] = _block("password: a b c\n", size)
    cases["lists under names"] = _block('"passwords": ["a", "b"], ', size)
    cases["phone numbers before <password>"] = _block("+14155552671(<password>", size)
    cases["Authorization: token"] = _block("Authorization: token abc ", size)
    cases["uppercase _TOKEN settings"] = _block("GITHUB_TOKEN=x\n", size)
    # Session 12's: element text under names, emails ending where a name starts (which
    # made the split search read the names' part again and again), pairs of two name
    # kinds, and base64 after a few such emails (the split's fallback).
    cases["element text under names"] = _block("<password>a b <", size)
    cases["emails ending in names"] = _block("a@b.pass=", size)
    cases["two name kinds alternating"] = _block("password=a api_key: b ", size)
    cases["base64 after emails ending in names"] = "a@b.pass=" * 4 + _base64url_dotted(size - 36)
    return cases


def _base64url_dotted(size: int) -> str:
    rng = random.Random(3)
    return "".join(rng.choices(string.ascii_letters + string.digits + "-_./ ", k=size))


BATCH = 100  # records per `redact_records` call, as a delivery thread might hand over


@dataclass(frozen=True)
class RedactResult:
    """µs per KB of realistic text (each way, one figure per run), ms per adversarial MB."""

    per_string_us_kb: list[float]
    per_record_us_kb: list[float]
    batch_us_kb: list[float]
    many_us_kb: list[float]
    adversarial_ms: dict[str, list[float]]
    kb: float


def _cpu(fn: Callable[[], object]) -> float:
    started = time.thread_time()
    fn()
    return time.thread_time() - started


def measure(records: int = 400, runs: int = 5, size: int = MB) -> RedactResult:
    """CPU time of each way over ``runs`` runs (taking turns), on ``records`` message lists.

    The adversarial texts are ``size`` characters long; their figures are scaled to 1 MB.
    """
    lists = message_lists(records)
    strings = [s for messages in lists for s in _strings(messages)]
    packed = json.dumps(lists)
    kb = sum(len(s.encode()) for s in strings) / 1024
    # The record ways read records made anew before each run (untimed), from strings
    # decoded afresh, as delivery makes them from the captured JSON: the same objects
    # read run after run would sit warm in the caches.
    fresh: list[lg.Record] = []

    def renew() -> None:
        fresh[:] = [_record(messages) for messages in json.loads(packed)]

    def each() -> None:
        for text in strings:
            redact_text(text)

    def one_by_one() -> None:
        for record in fresh:
            DEFAULT(record)

    def batched() -> None:
        records = fresh
        for i in range(0, len(records), BATCH):
            DEFAULT.redact_records(records[i : i + BATCH])

    def many() -> None:
        DEFAULT.redact_many(strings)

    ways = {"each": each, "record": one_by_one, "batch": batched, "many": many}
    for fn in ways.values():
        renew()
        fn()  # compile, and let RE2 build the states of its automaton
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(runs):
        for name, fn in ways.items():
            renew()
            samples[name].append(_cpu(fn) / kb * 1e6)
    adversarial_ms: dict[str, list[float]] = {}
    for name, text in adversarial(size).items():
        redact_text(text[:1000])

        def run(text: str = text) -> None:
            redact_text(text)

        adversarial_ms[name] = [_cpu(run) * 1000 * MB / max(size, 1) for _ in range(runs)]
    return RedactResult(
        samples["each"], samples["record"], samples["batch"], samples["many"], adversarial_ms, kb
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--records", type=int, default=400)
    args = parser.parse_args()
    result = measure(args.records, args.runs)

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):7.2f} ({min(values):.2f}-{max(values):.2f})"

    print(f"realistic text: {result.kb:,.0f} KB in {args.records} message lists, µs per KB")
    print(f"  each string alone (redact_text)        {spread(result.per_string_us_kb)}")
    print(f"  record by record (DEFAULT(record))     {spread(result.per_record_us_kb)}")
    print(f"  {BATCH} records a call (redact_records)    {spread(result.batch_us_kb)}")
    print(f"  every string in one call (redact_many) {spread(result.many_us_kb)}")
    print(f"  target: at most {TARGET_US_PER_KB} µs per KB")
    print(f"adversarial, ms per MB (target: at most {TARGET_MS_PER_MB})")
    for name, values in result.adversarial_ms.items():
        print(f"  {name:32} {spread(values)}")


if __name__ == "__main__":
    main()
