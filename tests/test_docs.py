"""The docs site's sources: every API reference names a module that exists, and HF-style docstrings are read as
Google-style ones (``tools/hf_docstrings.py``). ``make docs`` builds the site itself, warnings as errors."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_every_api_reference_names_a_module_of_the_package():
    references = [
        name
        for page in sorted((ROOT / "docs" / "api").glob("*.md"))
        for name in re.findall(r"^::: ([\w.]+)$", page.read_text(encoding="utf-8"), re.M)
    ]
    assert len(references) > 30
    for name in references:
        path = ROOT / "src" / Path(*name.split("."))
        assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), f"docs/api: no module {name}"


def test_hf_style_items_roles_and_doctests_are_read_as_google_style():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("hf_docstrings", ROOT / "tools" / "hf_docstrings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = """Summary, see :func:`~self_explain.core.stats.pearson_correlation` and [`~trl.SFTConfig`].

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
