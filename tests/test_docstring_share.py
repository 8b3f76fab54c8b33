"""``tools/docstring_share.py`` counts the physical lines of module, class and function docstrings."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("docstring_share", ROOT / "tools" / "docstring_share.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOURCE = '''"""Module: one line."""

X = "not a docstring"


class A:
    """Class: three
    lines
    here."""

    def method(self):
        """Method: two
        lines."""
        "a second string is not a docstring"
        return 1


async def f():
    # a comment, no docstring
    return 2


def g():
    def inner():
        """Nested: one line."""
    return inner
'''


def test_docstring_lines_of_a_synthetic_module():
    tool = _tool()
    assert tool.docstring_lines(SOURCE) == 1 + 3 + 2 + 1
    assert tool.docstring_lines("x = 1\n") == 0


def test_count_files_skips_the_shipped_model_folders(tmp_path):
    tool = _tool()
    (tmp_path / "toyworld" / "models" / "toy").mkdir(parents=True)
    (tmp_path / "toyworld" / "models" / "toy" / "m.py").write_text('"""Skipped."""\n')
    (tmp_path / "toyworld" / "a.py").write_text(SOURCE)
    (tmp_path / "b.py").write_text('"""One."""\nx = 1\n')
    assert tool.count_files(tmp_path) == {"b.py": (1, 2), "toyworld/a.py": (7, len(SOURCE.splitlines()))}


MAX_DOCSTRING_SHARE = 0.20  # HF style on the public API, one line elsewhere (docs/building-the-docs.md)


def test_docstrings_are_at_most_a_fifth_of_the_packages_lines():
    counts = _tool().count_files().values()
    docs, lines = sum(d for d, _ in counts), sum(n for _, n in counts)
    assert docs / lines <= MAX_DOCSTRING_SHARE, f"docstrings are {docs / lines:.1%} of {lines} lines"
