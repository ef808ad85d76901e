"""Every public class answers `typing.get_type_hints`, on itself and its methods.

Public classes show the module users import them from (``llmguard.Attempt``), while
their annotations name things from the module that defines them. Pydantic, FastAPI
and typer call ``get_type_hints`` on the objects users hand them.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Iterator

import pytest

import llmguard

_PUBLIC_MODULES = (
    "llmguard",
    "llmguard.types",
    "llmguard.sinks",
    "llmguard.exceptions",
    "llmguard.pricing",
    "llmguard.redact",
)


def _public_classes() -> Iterator[tuple[str, type]]:
    for module_name in _PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type):
                yield f"{module_name}.{name}", value


def _public_methods(cls: type) -> Iterator[tuple[str, object]]:
    for name, member in vars(cls).items():
        if name.startswith("_") and name != "__init__":
            continue
        function = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
        if isinstance(function, property):
            function = function.fget
        if inspect.isfunction(function):
            yield name, function


_CLASSES = sorted(dict(_public_classes()).items())


def _public_functions() -> Iterator[tuple[str, object]]:
    for module_name in _PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isfunction(value) or inspect.isfunction(getattr(value, "__wrapped__", None)):
                yield f"{module_name}.{name}", value


_FUNCTIONS = sorted(dict(_public_functions()).items())


def test_the_public_classes_are_found() -> None:
    """The walk sees the classes users meet first, under their public names."""
    names = {name for name, _ in _CLASSES}
    expected = {"llmguard.Attempt", "llmguard.Record", "llmguard.Run", "llmguard.types.Settings"}
    assert expected <= names
    assert llmguard.Attempt.__module__ == "llmguard"


@pytest.mark.parametrize(("name", "cls"), _CLASSES, ids=[name for name, _ in _CLASSES])
def test_get_type_hints_resolves_the_class_and_its_methods(name: str, cls: type) -> None:
    """``get_type_hints`` answers on the class and on each of its public methods."""
    typing.get_type_hints(cls)
    for method_name, function in _public_methods(cls):
        try:
            typing.get_type_hints(function)
        except NameError as error:  # pragma: no cover - the failure message names the method
            pytest.fail(f"{name}.{method_name}: {error}")


def test_resolved_hints_are_the_real_types() -> None:
    """The hints are the objects the annotations name, not strings left unevaluated."""
    hints = typing.get_type_hints(llmguard.Attempt)
    assert all(not isinstance(hint, (str, typing.ForwardRef)) for hint in hints.values())
    assert typing.get_type_hints(llmguard.Record)["usage"] == llmguard.Usage | None


def test_the_public_functions_are_found() -> None:
    """The walk sees module-level functions of every public module."""
    names = {name for name, _ in _FUNCTIONS}
    expected = {"llmguard.pricing.cost", "llmguard.sinks.read_records", "llmguard.configure"}
    assert expected <= names


@pytest.mark.parametrize(("name", "function"), _FUNCTIONS, ids=[name for name, _ in _FUNCTIONS])
def test_get_type_hints_resolves_the_public_functions(name: str, function: object) -> None:
    """``get_type_hints`` answers on each public function (the pricing and reading helpers
    named their types only for type checkers)."""
    typing.get_type_hints(function)
