"""Public names that a module lists but imports only when they are first read.

``import llmguard`` loads the tracing core; the guard, agents, replay, pricing, stores
and the rest load when the application first reads one of their names (a module
``__getattr__``, PEP 562). An `Exports` table maps each public name to the module
that defines it. Reading a name imports that module, under Python's import lock, and
binds every name whose module is loaded by then, so later reads are plain attribute
reads and no half-initialized value is ever bound.

Loading a name also gives every loaded public class the module users import it from
(``llmguard.Guard``, not ``llmguard._guard.policy.Guard``) in reprs and tracebacks:
the tables of all public modules are refreshed together, because one import can load
the classes of several of them. A renamed class's annotations keep resolving in the
module that wrote them, so ``typing.get_type_hints`` (which pydantic, FastAPI and typer
call) still finds the names they use.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Mapping
from typing import Any, ClassVar, ForwardRef

__all__ = ["Exports", "show_public_homes"]


class Exports:
    """The public names of module ``home``, each with the module that defines it.

    A name that is a submodule of ``home`` (``"pricing"`` defined in
    ``"llmguard.pricing"``) stands for the module itself.
    """

    _tables: ClassVar[list[Exports]] = []

    def __init__(self, home: str, defined_in: Mapping[str, str]) -> None:
        self.home = home
        self.defined_in = dict(defined_in)
        Exports._tables.append(self)

    def __contains__(self, name: object) -> bool:
        return name in self.defined_in

    def load(self, name: str) -> Any:
        """Import the module that defines ``name`` and return the value.

        Raises:
            KeyError: ``name`` is not one of the table's names.
        """
        source = self.defined_in[name]
        module = importlib.import_module(source)
        value = module if source == f"{self.home}.{name}" else getattr(module, name)
        show_public_homes()
        return value

    def bind_loaded(self) -> None:
        """Bind the names whose modules are loaded, and set their classes' home module."""
        namespace = vars(sys.modules[self.home])
        for name, source in self.defined_in.items():
            module = sys.modules.get(source)
            if module is None or _initializing(module):
                continue
            value = module if source == f"{self.home}.{name}" else getattr(module, name)
            if isinstance(value, type) and value.__module__.startswith("llmguard._"):
                _pin_annotations(value)
                value.__module__ = self.home
            namespace[name] = value


def _pin_annotations(cls: type) -> None:
    """Tie ``cls``'s string annotations to the module that defines it.

    ``typing.get_type_hints`` evaluates a class's annotations in the module named by
    ``__module__``; once that is the public module, the names the annotations use
    (``Outcome``, ``RunState``) are not there. A `ForwardRef` carrying its module is
    evaluated in that module instead.
    """
    annotations = inspect.get_annotations(cls)
    if any(isinstance(annotation, str) for annotation in annotations.values()):
        cls.__annotations__ = {
            name: _pinned(annotation, cls.__module__) for name, annotation in annotations.items()
        }


def _pinned(annotation: object, module: str) -> object:
    if isinstance(annotation, str):
        return ForwardRef(annotation, is_argument=False, module=module, is_class=True)
    return annotation


def _initializing(module: object) -> bool:
    """Whether ``module`` is still being imported, in this thread or another.

    Its names are left to `Exports.load`, whose import waits for the other thread (or,
    in this thread, to the next refresh), so no half-initialized module's names are
    bound or renamed. ``_initializing`` is the flag importlib itself reads to tell.
    """
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def show_public_homes() -> None:
    """Refresh every public module's table: bind what is loaded, name its classes' homes."""
    for table in Exports._tables:
        if table.home in sys.modules:
            table.bind_loaded()
