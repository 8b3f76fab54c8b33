"""The docs site's sources: every API reference names a module that exists, and HF-style docstrings are read as
Google-style ones (``tools/hf_docstrings.py``). ``make docs`` builds the site itself, warnings as errors."""

import ast
import importlib
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


# The packages whose ``__all__`` is the public API (``self_explain`` itself re-exports names of these).
PUBLIC_PACKAGES = [
    "self_explain.utils",
    "self_explain.core",
    "self_explain.explainer",
    "self_explain.evaluation",
    "self_explain.hub",
    "self_explain.metrics",
    "self_explain.tasks",
    "self_explain.tasks.ablation",
    "self_explain.tasks.features",
    "self_explain.tasks.patching",
    "self_explain.tasks.preferences",
    "self_explain.toyworld",
    "self_explain.realworld",
]


def _defining_module(package, name: str) -> str:
    """The module that defines ``package.name``: the object's own for a class or function, else the import's."""
    obj = inspect.unwrap(getattr(package, name)) if callable(getattr(package, name)) else None
    if obj is not None and getattr(obj, "__module__", None):
        return obj.__module__
    if name in getattr(package, "_PUBLIC", {}):
        return importlib.import_module(package._PUBLIC[name], package.__name__).__name__
    for node in ast.parse(Path(package.__file__).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level and any(a.name == name for a in node.names):
            return importlib.import_module("." * node.level + (node.module or ""), package.__name__).__name__
    return package.__name__


def public_api() -> set[tuple[str, str]]:
    """``(defining module, name)`` of every name a public package exports in its ``__all__``."""
    pairs = set()
    for package_name in PUBLIC_PACKAGES:
        package = importlib.import_module(package_name)
        pairs |= {(_defining_module(package, name), name) for name in package.__all__}
    return pairs


def api_reference() -> set[tuple[str, str]]:
    """``(module, member)`` of every ``::: module`` block of docs/api/ with its ``members:`` list."""
    pairs = set()
    for page in sorted((ROOT / "docs" / "api").glob("*.md")):
        blocks = re.findall(
            r"^::: ([\w.]+)\n(?:    .*\n)*?      members: \[([^\]]*)\]", page.read_text(encoding="utf-8"), re.M
        )
        pairs |= {(module, member.strip()) for module, members in blocks for member in members.split(",")}
    return pairs


def test_every_api_reference_names_a_module_of_the_package():
    references = [
        name
        for page in sorted((ROOT / "docs" / "api").glob("*.md"))
        for name in re.findall(r"^::: ([\w.]+)$", page.read_text(encoding="utf-8"), re.M)
    ]
    assert len(references) > 20
    for name in references:
        path = ROOT / "src" / Path(*name.split("."))
        assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), f"docs/api: no module {name}"


def test_the_api_reference_renders_exactly_the_public_api():
    """Each page lists its modules' members: the public API's names, where they are defined, and nothing else."""
    reference = {pair for pair in api_reference() if pair[0] != "self_explain"}
    missing = sorted(public_api() - reference)
    extra = sorted(reference - public_api())
    assert not missing and not extra, f"docs/api lacks {missing}; lists beyond the public API {extra}"


def test_hf_style_items_roles_and_doctests_are_read_as_google_style():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("hf_docstrings", ROOT / "tools" / "hf_docstrings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = """Summary, see :func:`~self_explain.utils.stats.pearson_correlation` and [`~trl.SFTConfig`].

    >>> f([1])
    [1.0]

    Args:
        page (`str`, *optional*, defaults to ``"page"``): The page (``a (b): c``).
        rows (`list[dict]`): The rows,
            over two lines (`int`, not a type).

    Returns:
        `tuple[str, list[str]]`: The text, and the problems
        (one per marker).
    """
    rewritten = module.rewrite(text)
    assert "see `pearson_correlation` and `SFTConfig`." in rewritten
    assert "    ```pycon\n    >>> f([1])\n    [1.0]\n    ```\n" in rewritten
    assert "        page (str, optional): The page (``a (b): c``)." in rewritten
    assert "        rows (list[dict]): The rows,\n            over two lines (`int`, not a type)." in rewritten
    assert "        tuple[str, list[str]]: The text, and the problems\n        (one per marker)." in rewritten
    assert module.rewrite(rewritten) == rewritten
