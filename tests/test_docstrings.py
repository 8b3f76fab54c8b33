"""Public functions, methods and classes are documented in the Hugging Face style (``Args:`` / ``Returns:``).

Read with ``ast`` from the source. Public means no leading underscore; methods of private classes, dunder
methods and property getters/setters are left out, and so is a method that overrides a documented method of a
package class it derives from (it inherits that docstring, as ``inspect.getdoc`` and the API docs read it). Every
public function or method that takes parameters
(besides ``self``/``cls``) lists them under ``Args:``; a dataclass named ``*Config`` or ``*Args`` lists its
fields under ``Args:``. An ``evaluate`` metric class gets its docstring from ``add_start_docstrings``.
Enforced for the whole package: every sub-package and top-level module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "self_explain"

# Every sub-package and top-level module (paths under src/self_explain): nothing is exempt.
DOCUMENTED = tuple(sorted(path.name for path in PACKAGE.iterdir()
                          if (path.is_dir() and (path / "__init__.py").is_file()) or path.suffix == ".py"))


def _is_property(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for decorator in function.decorator_list:
        name = ast.unparse(decorator)
        if name in ("property", "cached_property", "functools.cached_property") or name.endswith((".setter", ".getter")):
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
                    member.name for member in node.body
                    if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(member))
    return methods


DOCUMENTED_METHODS = _documented_methods()


def _inherits_docstring(node: ast.ClassDef, method: str) -> bool:
    bases = [ast.unparse(base).split(".")[-1] for base in node.bases]
    return any(method in DOCUMENTED_METHODS.get(base, ()) for base in bases)


def undocumented(path: Path) -> list[str]:
    """What a module lacks: ``name: problem`` for each public definition without the docstring it needs."""
    problems = []

    def check_function(function, name: str) -> None:
        doc = ast.get_docstring(function)
        if not doc:
            problems.append(f"{name}: no docstring")
        elif _parameters(function) and "Args:" not in doc:
            problems.append(f"{name}: no Args: section for {', '.join(_parameters(function))}")

    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            check_function(node, node.name)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            doc = ast.get_docstring(node)
            if not doc and not any("add_start_docstrings" in ast.unparse(d) for d in node.decorator_list):
                problems.append(f"{node.name}: no docstring")
            elif _is_dataclass(node) and node.name.endswith(("Config", "Args")) and "Args:" not in doc:
                problems.append(f"{node.name}: a config dataclass without an Args: section for its fields")
            for member in node.body:
                if (isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)) and not member.name.startswith("_")
                        and not _is_property(member) and not _inherits_docstring(node, member.name)):
                    check_function(member, f"{node.name}.{member.name}")
    return problems


def _modules(documented: str) -> list[Path]:
    path = PACKAGE / documented
    return [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))


@pytest.mark.parametrize("documented", DOCUMENTED)
def test_every_public_definition_is_documented(documented):
    assert _modules(documented), f"no modules under {documented}"
    problems = [f"{path.relative_to(PACKAGE)}: {problem}" for path in _modules(documented) for problem in undocumented(path)]
    assert not problems, "undocumented:\n" + "\n".join(problems)


def test_the_check_sees_what_is_missing(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "from dataclasses import dataclass\n"
        "def bare(x):\n    return x\n"
        "def no_args(x):\n    '''Summary only.'''\n"
        "def fine(x):\n    '''Summary.\n\n    Args:\n        x (`int`): a number.\n    '''\n"
        "def no_parameters():\n    '''Summary only is enough.'''\n"
        "def _private(x):\n    return x\n"
        "@dataclass\nclass SomeConfig:\n    '''Summary only.'''\n    x: int = 0\n"
        "class Public:\n    '''A class.'''\n"
        "    def __init__(self, x):\n        pass\n"
        "    @property\n    def value(self):\n        return 1\n"
        "    def method(self, y):\n        return y\n"
        "class _Private:\n    def method(self, y):\n        return y\n"
    )
    assert undocumented(module) == [
        "bare: no docstring",
        "no_args: no Args: section for x",
        "SomeConfig: a config dataclass without an Args: section for its fields",
        "Public.method: no docstring",
    ]
