"""Imports put off until needed: a callback when a module is imported, and a package's lazy public names.

``import self_explain`` registers its pipeline with transformers only once ``transformers.pipelines`` is imported,
since that import loads torch and every pipeline's dependencies.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
from collections.abc import Callable
from types import ModuleType


class _CallbackLoader(importlib.abc.Loader):
    """Delegates to the module's own loader, then runs the callback on the executed module."""

    def __init__(self, loader: importlib.abc.Loader, callback: Callable[[ModuleType], None]):
        self._loader = loader
        self._callback = callback

    def create_module(self, spec):
        """The module object, made by the module's own loader."""
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        """Execute the module with its own loader, then run the callback."""
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        self._callback(module)

    def __getattr__(self, name: str):
        return getattr(self._loader, name)


class _AfterImportFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for the watched module, wraps the loader the other finders return."""

    def __init__(self, name: str, callback: Callable[[ModuleType], None]):
        self.name = name
        self.callback = callback

    def find_spec(self, fullname, path, target=None):
        """The other finders' spec of the watched module, its loader wrapped; None for any other module."""
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once: a module imported again (after a reload) is not watched
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _CallbackLoader(spec.loader, self.callback)
                return spec
        return None


def after_import(name: str, callback: Callable[[ModuleType], None]) -> None:
    """Run ``callback(module)`` once the module ``name`` is imported; at once when it already is."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    if not any(isinstance(f, _AfterImportFinder) and f.name == name and f.callback == callback for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImportFinder(name, callback))


def lazy_exports(package: str, public: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` that import each public name (``_PUBLIC = {name: ".module"}``) from
    its module on first use.

    So importing a package loads none of those modules (``self-explain --help`` must not import torch).
    """

    def __getattr__(name: str) -> object:
        if name not in public:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(public[name], package), name)

    def __dir__() -> list[str]:
        return sorted(set(public) | set(vars(sys.modules[package])))

    return __getattr__, __dir__
