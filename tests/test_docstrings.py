"""Docstrings: Hugging Face style (``Args:`` / ``Returns:``) on the public API, one line enough elsewhere.

Read with ``ast`` from the source. The public API is what a package's ``__init__`` exports: the names of its
``__all__`` (where the ``__init__`` defines or imports them) and of its ``_PUBLIC`` map (name -> defining module),
with their public methods, plus every dataclass named ``*Config`` or ``*Args`` (the options of the command line and
the recipes). A public function or method there that takes parameters (besides ``self``/``cls``) lists them under
``Args:``; a config dataclass lists its fields under ``Args:``. Every other definition without a leading underscore
has a docstring, and one line is enough. Left out: dunder methods, property getters/setters, and a method that
overrides a documented method of a package class it derives from (it inherits that docstring, as ``inspect.getdoc``
and the API docs read it). An ``evaluate`` metric class gets its docstring from ``add_start_docstrings``. The share
of docstring lines in the source is held at ``MAX_DOCSTRING_SHARE`` (``tests/test_docstring_share.py``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "self_explain"

# Every sub-package and top-level module (paths under src/self_explain): nothing is exempt.
DOCUMENTED = tuple(
    sorted(
        path.name
        for path in PACKAGE.iterdir()
        if (path.is_dir() and (path / "__init__.py").is_file()) or path.suffix == ".py"
    )
)


def _is_property(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for decorator in function.decorator_list:
        name = ast.unparse(decorator)
        if name in ("property", "cached_property", "functools.cached_property") or name.endswith(
            (".setter", ".getter")
        ):
            return True
    return False


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    arguments = function.args
    names = [a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]
    names += [a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None]
    return [name for name in names if name not in ("self", "cls")]


def _is_dataclass(node: ast.ClassDef) -> bool:
    return any("dataclass" in ast.unparse(decorator) for decorator in node.decorator_list)


def _documented_methods() -> dict[str, set[str]]:
    """Each package class's methods that carry a docstring, by class name."""
    methods: dict[str, set[str]] = {}
    for module in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                methods.setdefault(node.name, set()).update(
                    member.name
                    for member in node.body
                    if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(member)
                )
    return methods


DOCUMENTED_METHODS = _documented_methods()


def _inherits_docstring(node: ast.ClassDef, method: str) -> bool:
    bases = [ast.unparse(base).split(".")[-1] for base in node.bases]
    return any(method in DOCUMENTED_METHODS.get(base, ()) for base in bases)


def _public_api() -> dict[Path, set[str]]:
    """The public API's names by defining module, from every ``__init__``'s ``__all__`` and ``_PUBLIC``."""
    api: dict[Path, set[str]] = {}
    for init in PACKAGE.rglob("__init__.py"):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        imported = {
            alias.asname or alias.name: _module_path(init.parent, node.level, node.module)
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.level
            for alias in node.names
        }
        for node in tree.body:
            if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
                continue
            if node.targets[0].id == "_PUBLIC":
                for key, value in zip(node.value.keys, node.value.values):
                    module = _module_path(init.parent, 1, value.value.lstrip("."))
                    api.setdefault(module, set()).add(key.value)
            elif node.targets[0].id == "__all__":
                listed = node.value.left if isinstance(node.value, ast.BinOp) else node.value
                for element in getattr(listed, "elts", []):
                    api.setdefault(imported.get(element.value, init), set()).add(element.value)
    return api


def _module_path(folder: Path, level: int, module: str | None) -> Path:
    for _ in range(level - 1):
        folder = folder.parent
    target = folder.joinpath(*module.split(".")) if module else folder
    return target.with_suffix(".py") if target.with_suffix(".py").is_file() else target / "__init__.py"


PUBLIC_API = _public_api()


def undocumented(path: Path, public: set[str] | None = None) -> list[str]:
    """What a module lacks: ``name: problem`` for each definition without the docstring it needs.

    Args:
        path (`Path`): The module.
        public (`set[str]`, *optional*): Its names in the public API (default: read from the package's ``__init__``s).
    """
    public = PUBLIC_API.get(path, set()) if public is None else public
    problems = []

    def check_function(function, name: str, hf_style: bool) -> None:
        doc = ast.get_docstring(function)
        if not doc:
            problems.append(f"{name}: no docstring")
        elif hf_style and _parameters(function) and "Args:" not in doc:
            problems.append(f"{name}: no Args: section for {', '.join(_parameters(function))}")

    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            check_function(node, node.name, node.name in public)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            doc = ast.get_docstring(node)
            if not doc and not any("add_start_docstrings" in ast.unparse(d) for d in node.decorator_list):
                problems.append(f"{node.name}: no docstring")
            elif _is_dataclass(node) and node.name.endswith(("Config", "Args")) and "Args:" not in doc:
                problems.append(f"{node.name}: a config dataclass without an Args: section for its fields")
            if node.name not in public:
                continue
            for member in node.body:
                if (
                    isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and not member.name.startswith("_")
                    and not _is_property(member)
                    and not _inherits_docstring(node, member.name)
                ):
                    check_function(member, f"{node.name}.{member.name}", True)
    return problems


def _modules(documented: str) -> list[Path]:
    path = PACKAGE / documented
    return [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))


@pytest.mark.parametrize("documented", DOCUMENTED)
def test_every_public_definition_is_documented(documented):
    assert _modules(documented), f"no modules under {documented}"
    problems = [
        f"{path.relative_to(PACKAGE)}: {problem}" for path in _modules(documented) for problem in undocumented(path)
    ]
    assert not problems, "undocumented:\n" + "\n".join(problems)


def test_the_check_sees_what_is_missing(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "from dataclasses import dataclass\n"
        "def bare(x):\n    return x\n"
        "def no_args(x):\n    '''Summary only.'''\n"
        "def helper(x):\n    '''Summary only is enough outside the public API.'''\n"
        "def fine(x):\n    '''Summary.\n\n    Args:\n        x (`int`): a number.\n    '''\n"
        "def no_parameters():\n    '''Summary only is enough.'''\n"
        "def _private(x):\n    return x\n"
        "@dataclass\nclass SomeConfig:\n    '''Summary only.'''\n    x: int = 0\n"
        "class Public:\n    '''A class.'''\n"
        "    def __init__(self, x):\n        pass\n"
        "    @property\n    def value(self):\n        return 1\n"
        "    def method(self, y):\n        return y\n"
        "class Internal:\n    '''A class outside the public API.'''\n"
        "    def method(self, y):\n        return y\n"
        "class _Private:\n    def method(self, y):\n        return y\n"
    )
    assert undocumented(module, public={"no_args", "fine", "no_parameters", "Public"}) == [
        "bare: no docstring",
        "no_args: no Args: section for x",
        "SomeConfig: a config dataclass without an Args: section for its fields",
        "Public.method: no docstring",
    ]


def test_the_public_api_is_read_from_the_packages_inits():
    engine = PACKAGE / "core" / "engine.py"
    assert {"patch_sweep", "ablation_sweep"} <= PUBLIC_API[engine], "core's _PUBLIC"
    assert "Task" in PUBLIC_API[PACKAGE / "tasks" / "base.py"], "tasks' __all__, imported from .base"
    assert "metric_path" in PUBLIC_API[PACKAGE / "metrics" / "__init__.py"], "defined in the __init__"
    assert "FeaturesConfig" in PUBLIC_API[PACKAGE / "tasks" / "features" / "config.py"]
    assert "LMDescriber" in PUBLIC_API[PACKAGE / "tasks" / "features" / "describers.py"]
