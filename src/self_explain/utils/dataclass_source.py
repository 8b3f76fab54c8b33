"""A dataclass's fields read from its source with ``ast``, without importing its module.

``--help`` and argument errors are answered this way: the config classes live in modules that import torch. Bases are
followed through each module's imports (TRL's and transformers' too, whose ``__init__`` imports every public class
under ``TYPE_CHECKING``). A default, help or choice built from literals, module constants and a few builtins is
evaluated; anything else is :data:`UNEVALUATED` (the real parser reads it when the command runs).
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import sys
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any


class _Unevaluated:
    """A value the source does not give as constants (a call, a class attribute)."""

    def __repr__(self) -> str:
        return "<unevaluated>"


UNEVALUATED = _Unevaluated()

_BUILTINS = {
    name: getattr(builtins, name)
    for name in (
        "list",
        "tuple",
        "dict",
        "set",
        "frozenset",
        "sorted",
        "str",
        "int",
        "float",
        "bool",
        "len",
        "range",
        "min",
        "max",
        "sum",
        "repr",
        "abs",
        "round",
        "any",
        "all",
        "zip",
        "reversed",
    )
}


@dataclass(frozen=True)
class SourceField:
    """One dataclass field as its source declares it."""

    name: str
    annotation: ast.expr
    module: str
    default: Any = MISSING
    has_default_factory: bool = False
    metadata: dict = field(default_factory=dict)
    init: bool = True
    declared_in: str = ""


def module_file(name: str) -> Path:
    """The source file of module ``name``, found without importing it or its packages."""
    top, *parts = name.split(".")
    loaded = sys.modules.get(top)
    if loaded is not None and getattr(loaded, "__file__", None):
        origin = Path(loaded.__file__)
    else:
        spec = importlib.util.find_spec(top)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            raise ModuleNotFoundError(f"no source of module {name!r}")
        origin = Path(spec.origin)
    path = origin
    for part in parts:
        folder = path.parent
        path = folder / part / "__init__.py" if (folder / part / "__init__.py").is_file() else folder / f"{part}.py"
    if not path.is_file():
        raise ModuleNotFoundError(f"no source of module {name!r} (looked for {path})")
    return path


class _Module:
    """One module's top-level names: classes, constant assignments and imports (``TYPE_CHECKING`` ones too)."""

    def __init__(self, name: str):
        self.name = name
        path = module_file(name)
        self.package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        self.tree = ast.parse(path.read_text(encoding="utf-8"))
        self.classes: dict[str, ast.ClassDef] = {}
        self.assigned: dict[str, ast.expr] = {}
        self.imported: dict[str, tuple[str, str | None]] = {}  # local name -> (module, attribute or None)
        self._read(self.tree.body)

    def _read(self, statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.assigned[node.targets[0].id] = node.value
            elif (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Tuple)
                and isinstance(node.value, ast.Tuple)
                and len(node.targets[0].elts) == len(node.value.elts)
            ):
                for target, value in zip(node.targets[0].elts, node.value.elts):  # A, B = "a", "b"
                    if isinstance(target, ast.Name):
                        self.assigned[target.id] = value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                self.assigned[node.target.id] = node.value
            elif isinstance(node, ast.ImportFrom):
                source = self._absolute(node)
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = (source, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imported[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0],
                        None,
                    )
            elif isinstance(node, ast.If):  # if TYPE_CHECKING: / version switches: both branches
                self._read(node.body)
                self._read(node.orelse)
            elif isinstance(node, ast.Try):
                self._read(node.body)

    def _absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = self.package.split(".")
        base = base[: len(base) - node.level + 1]
        return ".".join(base + ([node.module] if node.module else []))


@cache
def _module(name: str) -> _Module:
    """The module's source, parsed once."""
    return _Module(name)


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module with a source file."""
    try:
        module_file(name)
    except (ModuleNotFoundError, ValueError):
        return False
    return True


def _resolve(module: str, name: str, seen: frozenset = frozenset()) -> tuple[str, str]:
    """Where ``name`` of ``module`` is defined: (module, name), following imports and re-exports."""
    if (module, name) in seen:
        raise LookupError(f"import cycle resolving {module}.{name}")
    seen = seen | {(module, name)}
    source = _module(module)
    if name in source.classes or name in source.assigned:
        return module, name
    if name in source.imported:
        target, attribute = source.imported[name]
        if attribute is None:
            raise LookupError(f"{module}.{name} is a module")
        if _is_module(f"{target}.{attribute}") and attribute not in _module(target).classes:
            raise LookupError(f"{target}.{attribute} is a module")
        return _resolve(target, attribute, seen)
    raise LookupError(f"{name!r} is not defined at the top of {module}")


class _Names(Mapping):
    """The names an expression of a module may use: its constants, read from source on demand."""

    def __init__(self, module: str, seen: frozenset):
        self.module = module
        self.seen = seen

    def __getitem__(self, name: str):
        try:
            where = _resolve(self.module, name)
        except (LookupError, ModuleNotFoundError, SyntaxError, OSError):
            raise KeyError(name) from None
        if where in self.seen or where[1] not in _module(where[0]).assigned:
            raise KeyError(name)
        value = evaluate(_module(where[0]).assigned[where[1]], where[0], self.seen | {where})
        if value is UNEVALUATED:
            raise KeyError(name)
        return value

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0


def evaluate(node: ast.expr, module: str, seen: frozenset = frozenset()) -> Any:
    """The value of an expression of ``module``'s source, or :data:`UNEVALUATED`."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    try:
        code = compile(ast.Expression(node), f"<{module}>", "eval")
        return eval(code, {"__builtins__": _BUILTINS}, _Names(module, seen))  # noqa: S307 (names: constants only)
    except Exception:
        return UNEVALUATED


def enum_values(module: str, name: str) -> list | None:
    """The member values of an ``Enum`` class written as ``MEMBER = "value"`` lines; None when it is not one."""
    try:
        where = _resolve(module, name)
    except (LookupError, ModuleNotFoundError, SyntaxError, OSError):
        return None
    node = _module(where[0]).classes.get(where[1])
    if node is None or not any(ast.unparse(base).endswith("Enum") for base in node.bases):
        return None
    values = [
        statement.value.value
        for statement in node.body
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant)
    ]
    return values or None


def read_constant(module: str, name: str) -> Any:
    """A module-level constant of ``module``, read from source."""
    try:
        return _Names(module, frozenset())[name]
    except KeyError:
        return UNEVALUATED


def _is_dataclass_decorator(node: ast.expr) -> bool:
    """Whether a decorator is ``@dataclass`` or ``@dataclass(...)``."""
    target = node.func if isinstance(node, ast.Call) else node
    return ast.unparse(target).split(".")[-1] == "dataclass"


def _field_call(node: ast.expr | None) -> ast.Call | None:
    """The ``field(...)`` call assigned to a field, if it is one."""
    if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == "field":
        return node
    return None


def _factory_value(node: ast.expr, module: str) -> Any:
    """What a ``default_factory`` makes: a ``lambda: <constants>`` or an empty builtin container."""
    if isinstance(node, ast.Lambda) and not node.args.args:
        return evaluate(node.body, module)
    if isinstance(node, ast.Name) and node.id in ("list", "dict", "set", "tuple"):
        return _BUILTINS[node.id]()
    return UNEVALUATED


def _own_fields(node: ast.ClassDef, module: str, qualified: str) -> list[SourceField]:
    """The fields a class body declares itself."""
    found = []
    for statement in node.body:
        if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
            continue
        if "ClassVar" in ast.unparse(statement.annotation) or "InitVar" in ast.unparse(statement.annotation):
            continue
        default, factory, metadata, init = MISSING, False, {}, True
        call = _field_call(statement.value)
        if call is None:
            if statement.value is not None:
                default = evaluate(statement.value, module)
        else:
            for keyword in call.keywords:
                if keyword.arg == "default":
                    default = evaluate(keyword.value, module)
                elif keyword.arg == "default_factory":
                    default, factory = _factory_value(keyword.value, module), True
                elif keyword.arg == "init":
                    init = evaluate(keyword.value, module) is not False
                elif keyword.arg == "metadata":
                    metadata = _metadata(keyword.value, module)
        found.append(
            SourceField(statement.target.id, statement.annotation, module, default, factory, metadata, init, qualified)
        )
    return found


def _metadata(node: ast.expr, module: str) -> dict:
    """A field's metadata dict, the entries that evaluate."""
    if not isinstance(node, ast.Dict):
        value = evaluate(node, module)
        return value if isinstance(value, dict) else {}
    metadata = {}
    for key, value in zip(node.keys, node.values):
        if key is None:
            continue
        key_value, item = evaluate(key, module), evaluate(value, module)
        if isinstance(key_value, str) and item is not UNEVALUATED:
            metadata[key_value] = item
    return metadata


@cache
def _class_fields(module: str, name: str) -> tuple[SourceField, ...]:
    """The fields of ``name`` in ``module``, its bases' first; () for a class that is no dataclass."""
    where = _resolve(module, name)
    node = _module(where[0]).classes.get(where[1])
    if node is None:
        raise LookupError(f"{module}.{name} is not a class")
    fields: dict[str, SourceField] = {}
    is_dataclass = any(_is_dataclass_decorator(d) for d in node.decorator_list)
    for base in reversed(node.bases):  # as dataclasses does: the bases' fields first, later bases' before
        base_name = ast.unparse(base)
        if "." in base_name or base_name in ("object", "Generic"):
            continue
        try:
            inherited = _class_fields(where[0], base_name)
        except (LookupError, ModuleNotFoundError):
            continue  # a base that is not a class read from source (e.g. a builtin): no fields
        fields.update((f.name, f) for f in inherited)
        is_dataclass = is_dataclass or bool(inherited)
    if not is_dataclass:
        return ()
    qualified = f"{where[0]}.{where[1]}"
    for own in _own_fields(node, where[0], qualified):
        first = fields[own.name].declared_in if own.name in fields else qualified
        fields[own.name] = SourceField(
            own.name, own.annotation, own.module, own.default, own.has_default_factory, own.metadata, own.init, first
        )
    return tuple(fields.values())


def read_dataclass_fields(module: str, name: str) -> list[SourceField]:
    """The fields of dataclass ``module.name``, in ``dataclasses.fields`` order, read from source."""
    return list(_class_fields(module, name))


def resolve_name(module: str, name: str) -> tuple[str, str]:
    """Where a name used in ``module`` is defined, following imports (for a class: then read its fields)."""
    return _resolve(module, name)
