"""Objects built on blanks of the same slots (`Usage`, the Chat Completions `Reply`,
records, whose constructors are generated at the first record).

An object made by filling a blank and changing its class must be indistinguishable
from one made by the frozen dataclass's ``__init__``: equality both ways, hashing,
``repr``, pickling, copying, `dataclasses.replace`, frozenness. The first record made
by many threads at once must be a good record in every thread.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmguard import adapters
from llmguard._core.records import Record, Usage, replaced, usage_of
from llmguard._core.reply import Reply
from tests._helpers.sdk_mocks import chat_completion, openai_client

_COUNT = st.none() | st.integers(min_value=0, max_value=2**63)


def _same_in_every_way(built: object, normal: object) -> None:
    """``built`` behaves as ``normal`` under every generic operation on dataclasses."""
    assert type(built) is type(normal)
    assert built == normal
    assert normal == built
    assert (built != normal) is False
    hashable = _hash(normal) is not None  # a record holds dicts: unhashable either way
    assert _hash(built) == _hash(normal)
    assert repr(built) == repr(normal)
    assert dataclasses.asdict(built) == dataclasses.asdict(normal)  # type: ignore[call-overload]
    for clone in (
        pickle.loads(pickle.dumps(built)),
        copy.copy(built),
        copy.deepcopy(built),
        dataclasses.replace(built),  # type: ignore[type-var]
    ):
        assert type(clone) is type(normal)
        assert clone == normal
        assert _hash(clone) == _hash(normal)
    first = dataclasses.fields(normal)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, first, None)
    with pytest.raises(AttributeError):
        built.__dict__  # noqa: B018 - slots only, as the normal one
    if hashable:
        assert {built: 1}[normal] == 1


def _hash(value: object) -> int | None:
    try:
        return hash(value)
    except TypeError:
        return None


@settings(max_examples=60, deadline=None)
@given(_COUNT, _COUNT, _COUNT, _COUNT, _COUNT, _COUNT)
def test_usage_of_is_a_usage_in_every_way(
    input: int | None,
    output: int | None,
    cached: int | None,
    write: int | None,
    reasoning: int | None,
    total: int | None,
) -> None:
    built = usage_of(input, output, cached, write, reasoning, total)
    normal = Usage(
        input=input,
        output=output,
        cached_input=cached,
        cache_write=write,
        reasoning=reasoning,
        total=total,
    )
    _same_in_every_way(built, normal)
    assert built.estimated is False
    assert dataclasses.replace(built, estimated=True) == dataclasses.replace(normal, estimated=True)


@pytest.mark.parametrize(
    "body",
    [
        chat_completion("hello", cached=3, reasoning=2),
        chat_completion(None, refusal="no", finish_reason="stop", usage=None),
        chat_completion(
            None,
            tool_calls=[
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "f", "arguments": '{"a": 1}'},
                }
            ],
            finish_reason="tool_calls",
        ),
    ],
)
def test_a_chat_reply_read_from_the_sdk_is_a_reply_in_every_way(body: dict[str, object]) -> None:
    """The Reply the adapter builds on a blank from a real openai SDK response equals,
    hashes, pickles and copies as the Reply built by its ``__init__`` from its fields."""
    client, sent = openai_client([body])
    response = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert sent[0].json["model"] == "gpt-4o-mini"
    built = adapters.adapt(response)
    assert built is not None
    fields = {f.name: getattr(built, f.name) for f in dataclasses.fields(Reply)}
    normal = Reply(**fields)
    _same_in_every_way(built, normal)
    if built.usage is not None:
        usage = {f.name: getattr(built.usage, f.name) for f in dataclasses.fields(Usage)}
        _same_in_every_way(built.usage, Usage(**usage))


def test_records_built_by_the_generated_constructors_are_records_in_every_way() -> None:
    fields = {
        "trace_id": "t" * 32,
        "span_id": "s" * 16,
        "name": "call",
        "start": "2026-01-01T00:00:00.000000Z",
        "end": "2026-01-01T00:00:01.000000Z",
        "duration_ms": 1.0,
        "usage": usage_of(1, 2, None, None, None, 3),
        "tags": ("a",),
    }
    built = Record(**fields)  # type: ignore[arg-type]
    normal = replaced(built, name="call")
    _same_in_every_way(built, normal)
    assert replaced(built, name="other") == dataclasses.replace(built, name="other")
    assert Record.from_dict(built.to_dict()) == built


_FIRST_USE = textwrap.dedent(
    """
    import sys, threading
    sys.setswitchinterval(1e-6)
    from llmguard._core import records
    from llmguard._core.records import Record, replaced
    assert records._made is None, "generated before the first record"
    barrier = threading.Barrier(24)
    found, errors = [], []

    def make(n):
        try:
            barrier.wait()
            r = Record(trace_id="t" * 32, span_id=f"{n:016x}", name="c",
                       start="2026-01-01T00:00:00.000000Z",
                       end="2026-01-01T00:00:01.000000Z", duration_ms=float(n))
            s = records.build_span_record(*(getattr(r, f) for f in records.SPAN_FIELDS))
            t = replaced(r, name="d")
            found.append((type(r), type(s), type(t), r.to_json(), s == r, t.name, r.span_id))
        except BaseException as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=make, args=(n,)) for n in range(24)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert not errors, errors
    assert len(found) == 24
    for r_type, s_type, t_type, json, same, name, span in found:
        assert r_type is s_type is t_type is Record
        assert same and name == "d"
        assert json.decode().count(span) == 1
    print("ok")
    """
)


def test_many_threads_making_the_first_record_at_once_all_get_records() -> None:
    """24 threads released together at the first record of a fresh interpreter (the
    constructors and the JSON builder not yet generated): every one gets a Record, the
    same fields back, and its JSON."""
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", _FIRST_USE],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "ok"
