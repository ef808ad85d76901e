"""`import llmguard` loads the tracing core only; the rest loads, and works, on first use.

Each check runs in a fresh interpreter, since this test process has long imported
everything. Nothing here is timed: the cost is in `benchmarks/bench_import.py`.
"""

from __future__ import annotations

import ast
import importlib.machinery
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import llmguard
import llmguard.types
from llmguard._core.exports import Exports, show_public_homes
from tests._helpers.reliability import unmeasured_env

SRC = Path(llmguard.__file__).parent

# Modules `import llmguard` used to load, left to the first use of what needs them.
DEFERRED = [
    "asyncio",
    "email",
    "genai_prices",
    "importlib.metadata",
    "llmguard._agents",
    "llmguard._guard",
    "llmguard._replay",
    "llmguard._spend",
    "llmguard.adapters",
    "llmguard.pricing",
    "llmguard.sinks",
    "llmguard.stores",
    "llmguard.testing",
    "pathlib",
    "pydantic",
    "pydantic_core",
    "sqlite3",
    "ssl",
    "subprocess",
    "tempfile",
    "uuid",
    "wrapt",
]


def run_fresh(code: str) -> str:
    """Run ``code`` in a new interpreter and return what it printed; fail on an error."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=unmeasured_env(),  # coverage, measuring a child, loads modules of its own
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_leaves_the_heavy_modules_unloaded() -> None:
    """After `import llmguard`, none of the deferred modules is in sys.modules."""
    out = run_fresh(
        f"""
        import sys
        import llmguard
        print(sorted(m for m in {DEFERRED!r} if m in sys.modules))
        """
    )
    assert out.strip() == "[]"


def test_every_public_name_is_listed_before_it_is_loaded() -> None:
    """dir() lists every name of __all__ while the deferred modules are still unloaded."""
    out = run_fresh(
        """
        import sys
        import llmguard, llmguard.types
        missing = set(llmguard.__all__) - set(dir(llmguard))
        missing |= set(llmguard.types.__all__) - set(dir(llmguard.types))
        print(sorted(missing), "llmguard._guard" in sys.modules)
        """
    )
    assert out.strip() == "[] False"


def test_trace_loads_wrapt_at_the_first_decoration_and_records() -> None:
    """@lg.trace imports wrapt when it decorates, and the traced call is recorded."""
    out = run_fresh(
        """
        import sys
        import llmguard as lg
        from llmguard.testing import capture

        before = "wrapt" in sys.modules

        @lg.trace
        def double(x: int) -> int:
            return 2 * x

        with capture() as records:
            result = double(21)
        print(before, "wrapt" in sys.modules, result, [r.name for r in records])
        """
    )
    assert out.split() == ["False", "True", "42", "['double']"]


def test_each_deferred_feature_works_after_a_plain_import() -> None:
    """Guard, agent, tool, budget, rate limit, tokens, pricing, sinks, stores: all work."""
    out = run_fresh(
        """
        import asyncio
        import llmguard as lg
        from llmguard.testing import FakeLLM, capture

        llm = FakeLLM(['{"a": 1}'], model="gpt-4o")

        @lg.guard(schema=dict)
        def ask(messages: list[dict[str, str]]) -> object:
            return llm(messages=messages)

        with capture() as records:
            print(ask([{"role": "user", "content": "hi"}]))
        print(sorted({r.kind for r in records}))

        @lg.tool
        def add(a: int, b: int) -> int:
            return a + b

        print(isinstance(add, lg.Tool), lg.call_tool([add], "add", {"a": 2, "b": 3}))

        with lg.agent("helper", max_steps=1) as run:
            run.step()
        print(isinstance(run, lg.Run), run.steps)

        with lg.budget(max_cost_usd=1.0) as budget:
            print(type(budget).__name__)
        print(type(lg.rate_limit(requests_per_minute=10)).__name__)
        print(lg.count_tokens("hello world", model="gpt-4o") > 0)
        print(lg.pricing.cost(lg.Usage(input=1000, output=0), "gpt-4o") > 0)
        sink = lg.sinks.MemorySink()
        print(type(sink).__name__, lg.stores.BudgetStore.__name__)
        print(asyncio.run(lg.acall_tool({"add": add}, "add", '{"a": 1, "b": 1}')))
        """
    )
    assert out.splitlines() == [
        "{'a': 1}",
        "['attempt', 'llm']",
        "True 5",
        "True 1",
        "Budget",
        "RateLimit",
        "True",
        "True",
        "MemorySink BudgetStore",
        "2",
    ]


def test_classes_loaded_on_first_use_show_their_public_home() -> None:
    """Classes loaded by a first use read as llmguard.X before anyone reads lg.X."""
    out = run_fresh(
        """
        import sys
        import llmguard as lg

        lg.guard  # loads the guard and, behind it, Failure, Call, Budget, RateLimit
        flow = sys.modules["llmguard._guard.flow"]
        policy = sys.modules["llmguard._guard.policy"]
        print(flow.Failure.__module__, policy.NoSchema.__module__)
        print(repr(lg.Guard), repr(lg.types.Attempts))
        """
    )
    assert out.splitlines() == [
        "llmguard llmguard.types",
        "<class 'llmguard.Guard'> <class 'llmguard.types.Attempts'>",
    ]


def test_threads_racing_for_the_first_read_get_the_same_objects() -> None:
    """Sixteen threads reading deferred names at once all get the same, complete objects."""
    out = run_fresh(
        """
        import threading
        import llmguard as lg

        names = ["guard", "Guard", "Tool", "agent", "replay", "pricing", "stores", "Failure"]
        start = threading.Barrier(16)
        seen = []

        def read() -> None:
            start.wait()
            seen.append(tuple(id(getattr(lg, name)) for name in names))

        threads = [threading.Thread(target=read) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(len(seen), len(set(seen)), callable(lg.guard), lg.pricing.cost.__name__)
        """
    )
    assert out.split() == ["16", "1", "True", "cost"]


@pytest.mark.parametrize("module", [llmguard, llmguard.types])
def test_the_table_of_homes_matches_the_type_checkers_imports(module: object) -> None:
    """Each public name's table entry is the module the file imports it from."""
    path = Path(module.__file__)  # type: ignore[attr-defined]
    imported: dict[str, str] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("llmguard"):
            for alias in node.names:
                home = node.module
                if home == "llmguard":  # `from llmguard import pricing`: a submodule
                    home = f"llmguard.{alias.name}"
                imported[alias.asname or alias.name] = home
    table = module._EXPORTS.defined_in  # type: ignore[attr-defined]
    assert set(table) == set(module.__all__)  # type: ignore[attr-defined]
    assert {name: imported[name] for name in table} == table


def test_a_module_still_being_imported_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names of a half-imported module are neither bound nor renamed until it is done."""
    home = types.ModuleType("llmguard_test_home")
    source = types.ModuleType("llmguard._test_source")
    source.__spec__ = importlib.machinery.ModuleSpec(source.__name__, None)
    source.Thing = type("Thing", (), {"__module__": source.__name__})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, home.__name__, home)
    monkeypatch.setitem(sys.modules, source.__name__, source)
    monkeypatch.setattr(Exports, "_tables", [])
    Exports(home.__name__, {"Thing": source.__name__})

    source.__spec__._initializing = True  # type: ignore[attr-defined]  # as importlib marks it
    show_public_homes()
    assert not hasattr(home, "Thing")
    assert source.Thing.__module__ == "llmguard._test_source"

    source.__spec__._initializing = False  # type: ignore[attr-defined]
    show_public_homes()
    assert home.Thing is source.Thing
    assert source.Thing.__module__ == "llmguard_test_home"
