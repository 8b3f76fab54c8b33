"""The package's layers import in one direction only, and no import cycle exists (docs/layout.md).

Imports are read with ``ast`` from the source, not executed: every ``import``/``from … import`` of a
``self_explain`` module counts, wherever it is written (a function-level import too, since it runs
sooner or later), except under ``if TYPE_CHECKING:``. Package ``__init__`` modules count as modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "self_explain"

# Lowest first: a module may import from its own layer and the layers below it, never above.
LAYERS = {
    "utils": 0,  # files, checks, recipes, progress, statistics: no model in them
    "core": 1,
    "hub": 2,
    "toyworld": 3,
    "realworld": 3,  # the real models' built-in data (checked fact tables)
    "tasks": 4,
    "metrics": 5,
    "explainer": 6,
    "evaluation": 7,
    "cli": 8,
    "cli_options": 8,  # the command line's options, checked from source before the command runs
    "demo": 8,
    "": 8,  # the package root registers the tasks and the pipeline
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    assert top in LAYERS, f"{module} is in no layer: add its sub-package to LAYERS (and to docs/layout.md)"
    return LAYERS[top]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The ``self_explain`` modules ``path`` imports (a name imported from a package that is itself a module
    counts as that module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skipped = _type_checking_nodes(tree)
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "self_explain":
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "self_explain")
    return {module for module in found if module in modules and module != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {module: imports_of(path, set(paths)) for module, path in paths.items()}


def test_every_module_is_in_a_layer(graph):
    for module in graph:
        layer_of(module)


def test_no_import_goes_up_a_layer(graph):
    upward = sorted(
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_no_import_cycle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checker_sees_cycles_and_upward_imports(tmp_path):
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from self_explain.cli import main\n"
        "def f():\n    from self_explain.core import models\n"
    )
    source_in_package = PACKAGE / "core" / "probe.py"  # read as if it lived in the core
    assert imports_of_text(source.read_text(), source_in_package) == {"self_explain.core.models"}


def imports_of_text(text: str, path: Path) -> set[str]:
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    fake = path.with_name("_layer_probe.py")
    fake.write_text(text, encoding="utf-8")
    try:
        return imports_of(fake, modules)
    finally:
        fake.unlink()


def test_nothing_outside_a_task_folder_names_a_task():
    """A task is one folder plus one registration: no module outside ``tasks/<name>/`` tests a task's name."""
    import self_explain

    names = sorted(self_explain.TASKS)
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "tasks" and relative.parts[1] in names:
            continue
        if relative == Path("__init__.py"):  # the root imports the built-in task folders, which registers them
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names:
                offenders.append(f"{relative}:{node.lineno} names {node.value!r}")
    assert not offenders, "task names outside their folders:\n" + "\n".join(sorted(offenders))
