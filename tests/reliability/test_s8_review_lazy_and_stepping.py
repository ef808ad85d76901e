"""Second review of today's fixes: lazy public names and stepped generators.

What held under attack, pinned so a later change cannot quietly undo it:

- the public classes, bound lazily and renamed to their public home, unpickle in a
  fresh interpreter (pickle finds them through the module ``__getattr__``);
- ``from llmguard import *`` in a fresh interpreter binds every listed name, and an
  unknown name is an `AttributeError` naming it;
- a decorated generator resumed in another thread, or in a copied context, keeps the
  parents of the spans it opens after a ``yield``; one abandoned half-read leaves the
  consumer's current span as it was.
"""

from __future__ import annotations

import contextvars
import gc
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator

import llmguard as lg
import llmguard.types as lg_types
from tests._helpers.reliability import unmeasured_env
from tests.conftest import ListSink

_LOAD_ALL = """
import pickle, sys
names = []
for data in pickle.load(sys.stdin.buffer):
    cls = pickle.loads(data)
    names.append(f"{cls.__module__}.{cls.__qualname__}")
print("\\n".join(names))
"""


def _public_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for module in (lg, lg_types):
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type):
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_public_class_unpickles_in_a_fresh_interpreter() -> None:
    classes = _public_classes()
    payload = pickle.dumps([pickle.dumps(cls) for cls in classes.values()])
    child = subprocess.run(
        [sys.executable, "-c", _LOAD_ALL],
        input=payload,
        capture_output=True,
        timeout=120,
        env=unmeasured_env(),
        check=False,
    )
    assert child.returncode == 0, child.stderr.decode()
    loaded = child.stdout.decode().split()
    assert loaded == [f"{cls.__module__}.{cls.__qualname__}" for cls in classes.values()]
    assert all(not name.startswith("llmguard._") for name in loaded)


_STAR = """
from llmguard import *
import llmguard
missing = [name for name in llmguard.__all__ if name not in globals()]
try:
    llmguard.__getattr__("no_such_name")
except AttributeError as exc:
    message = str(exc)
print(len(llmguard.__all__), missing, message)
"""


def test_star_import_in_a_fresh_interpreter_binds_every_name() -> None:
    child = subprocess.run(
        [sys.executable, "-c", _STAR],
        capture_output=True,
        text=True,
        timeout=120,
        env=unmeasured_env(),
        check=False,
    )
    assert child.returncode == 0, child.stderr
    count, rest = child.stdout.split(" ", 1)
    assert int(count) == len(lg.__all__)
    assert rest.strip() == "[] module 'llmguard' has no attribute 'no_such_name'"


@lg.trace
def _numbers() -> Iterator[int]:
    with lg.span("inner"):
        yield 1
        with lg.span("after"):
            pass
        yield 2


def _parents(records: list[lg.Record]) -> dict[str, str | None]:
    by_id = {record.span_id: record for record in records}
    return {
        record.name: (by_id[record.parent_id].name if record.parent_id in by_id else None)
        for record in records
        if record.kind == "span"
    }


def test_a_traced_generator_resumed_in_another_thread_keeps_its_parents(
    sink: ListSink,
) -> None:
    numbers = _numbers()
    assert next(numbers) == 1
    rest: list[int] = []
    worker = threading.Thread(target=lambda: rest.extend(numbers))
    worker.start()
    worker.join(10)
    assert rest == [2]
    lg.flush(timeout=10)
    assert _parents(sink.records) == {"after": "inner", "inner": "_numbers", "_numbers": None}


def test_a_traced_generator_resumed_in_a_copied_context_keeps_its_parents(
    sink: ListSink,
) -> None:
    numbers = _numbers()
    assert next(numbers) == 1
    assert contextvars.copy_context().run(list, numbers) == [2]
    lg.flush(timeout=10)
    assert _parents(sink.records) == {"after": "inner", "inner": "_numbers", "_numbers": None}


def test_an_abandoned_traced_generator_leaves_the_consumers_span(sink: ListSink) -> None:
    with lg.span("consumer") as consumer:
        numbers = _numbers()
        assert next(numbers) == 1
        assert lg.current_span() is consumer
        del numbers
        gc.collect()
        assert lg.current_span() is consumer
        with lg.span("later"):
            pass
    assert lg.current_span() is None
    lg.flush(timeout=10)
    parents = _parents(sink.records)
    assert parents["later"] == "consumer"
    assert parents["_numbers"] == "consumer"
    assert parents["inner"] == "_numbers"
