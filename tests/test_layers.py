"""The layering contract: imports go down, no circles, no borrowed private names."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "llmguard"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(project / ".importlinter"), "--no-cache"],
        cwd=project,
        env={"PYTHONPATH": str(project / "src"), "PATH": str(LINT_IMPORTS.parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(SRC, project / "src" / "llmguard", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", project / ".importlinter")
    return project


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    """llmguard's import graph, with the imports under ``if TYPE_CHECKING:`` counted."""
    return grimp.build_graph("llmguard", cache_dir=None)


def test_the_contract_holds_on_the_source() -> None:
    """lint-imports keeps every contract in .importlinter on the real source tree."""
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # the core reaching up into the guard
        ("_core/records.py", "from llmguard._guard import flow", "Layers"),
        # a sink importing the agents, even only for a type annotation
        (
            "sinks/_memory.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from llmguard._agents.runs import Run",
            "Layers",
        ),
    ],
)
def test_the_contract_breaks_on_a_bad_import(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    """An upward import, or one of another package's private modules, fails lint-imports."""
    project = _copy_project(tmp_path)
    target = project / "src" / "llmguard" / module
    target.write_text(target.read_text() + "\n" + line + "\n")
    result = _lint_imports(project)
    assert result.returncode != 0, result.stdout
    assert broken in result.stdout.split("Broken contracts", 1)[1]


def test_no_module_is_in_an_import_cycle(graph: grimp.ImportGraph) -> None:
    """No module reaches itself through imports, type-only ones included."""
    modules = sorted(graph.modules)
    index = {name: i for i, name in enumerate(modules)}
    edges = [[index[m] for m in graph.find_modules_directly_imported_by(name)] for name in modules]
    order: list[int] = []
    seen = [False] * len(modules)
    for start in range(len(modules)):  # iterative DFS: finishing order
        if seen[start]:
            continue
        seen[start] = True
        stack = [(start, iter(edges[start]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                order.append(node)
                stack.pop()
            elif not seen[child]:
                seen[child] = True
                stack.append((child, iter(edges[child])))
    reverse: list[list[int]] = [[] for _ in modules]
    for node, children in enumerate(edges):
        for child in children:
            reverse[child].append(node)
    component = [-1] * len(modules)
    cycles = []
    for root in reversed(order):  # Kosaraju: strongly connected components
        if component[root] != -1:
            continue
        members, todo = [], [root]
        component[root] = root
        while todo:
            node = todo.pop()
            members.append(modules[node])
            for parent in reverse[node]:
                if component[parent] == -1:
                    component[parent] = root
                    todo.append(parent)
        if len(members) > 1:
            cycles.append(sorted(members))
    assert cycles == []


def _edges(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    return [
        (importer, imported)
        for imported in graph.modules
        for importer in graph.find_modules_that_directly_import(imported)
    ]


def _private_module_imports(edges: list[tuple[str, str]]) -> list[str]:
    """Imports of a private module (a ``_name`` part) from outside that part's package.

    import-linter's own ``private_modules`` contract needs Python 3.11, so the rule is
    checked here, on the same graph.
    """
    found = set()
    for importer, imported in edges:
        parts = imported.split(".")
        for depth, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__"):
                package = ".".join(parts[:depth])
                if importer != package and not importer.startswith(package + "."):
                    found.add(f"{importer} -> {imported}")
                break
    return sorted(found)


def test_no_module_imports_another_packages_private_module(graph: grimp.ImportGraph) -> None:
    """A module whose name starts with ``_`` is imported only from inside its package."""
    assert _private_module_imports(_edges(graph)) == []


def test_the_private_module_rule_catches_a_borrowed_module(tmp_path: Path) -> None:
    """The cli importing the sinks' private JSONL module breaks the private-module rule."""
    project = _copy_project(tmp_path)
    target = project / "src" / "llmguard" / "cli" / "_format.py"
    target.write_text(target.read_text() + "\nimport llmguard.sinks._jsonl\n")
    script = (
        "import grimp, json; g = grimp.build_graph('llmguard', cache_dir=None); "
        "print(json.dumps([[a, b] for b in g.modules "
        "for a in g.find_modules_that_directly_import(b)]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(project / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    edges = [(a, b) for a, b in json.loads(result.stdout)]
    assert _private_module_imports(edges) == ["llmguard.cli._format -> llmguard.sinks._jsonl"]


def _private_names_taken() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("llmguard"):
                for alias in node.names:
                    name = alias.name
                    submodule = SRC.parent.joinpath(*f"{node.module}.{name}".split("."))
                    is_module = submodule.with_suffix(".py").exists() or submodule.is_dir()
                    if name.startswith("_") and not name.startswith("__") and not is_module:
                        found.append(f"{path.relative_to(SRC)}: {node.module}.{name}")
    return found


def test_no_module_takes_another_modules_private_names() -> None:
    """``from llmguard.x import _name`` is nowhere: a shared name is public in its module.

    Importing a private *module* of one's own package is the private-modules contract's
    business, checked by lint-imports.
    """
    assert _private_names_taken() == []
