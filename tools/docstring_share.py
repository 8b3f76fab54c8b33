"""The share of docstring lines in the package's source; the target is at most 20 % (`tests/test_docstring_share.py`).

What counts: the physical lines of every ``.py`` file under ``src/self_explain/`` (blank lines and comments
included), except in the shipped model folders (``toyworld/models/``), which hold weights, not code. A docstring's
lines are the physical lines of its string literal, from the opening to the closing quotes, for module, class and
function (and method) docstrings alike. Prints the overall share, the share per subpackage (a top-level module is
its own entry) and the files with most docstring lines; ``--max-share`` makes a share above it exit 1.

    python tools/docstring_share.py [--max-share 0.20] [--top 20]
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "self_explain"
EXCLUDED = ("toyworld/models/",)


def docstring_lines(source: str) -> int:
    """The number of physical lines taken by the module, class and function docstrings of ``source``.

    Args:
        source (`str`): The text of a Python module.

    Returns:
        `int`: The docstring lines (a one-line docstring is 1).
    """
    count = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                count += first.end_lineno - first.lineno + 1
    return count


def count_files(package: Path = PACKAGE) -> dict[str, tuple[int, int]]:
    """``(docstring lines, source lines)`` of every counted ``.py`` file, by its path relative to ``package``.

    Args:
        package (`Path`): The package folder.

    Returns:
        `dict[str, tuple[int, int]]`: Sorted by path.
    """
    counts = {}
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith(EXCLUDED):
            continue
        source = path.read_text(encoding="utf-8")
        counts[relative] = (docstring_lines(source), len(source.splitlines()))
    return counts


def _share(docs: int, lines: int) -> str:
    return f"{docs / lines:6.1%} ({docs:5d} / {lines:5d})" if lines else "   n/a"


def main(argv: list[str] | None = None) -> int:
    """Prints the shares; returns 1 when the overall share is above ``--max-share``.

    Args:
        argv (`list[str]`, *optional*): The arguments, by default the command line's.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-share", type=float, default=None, help="exit 1 when the overall share is above this")
    parser.add_argument("--top", type=int, default=20, help="how many files with most docstring lines to list")
    args = parser.parse_args(argv)
    counts = count_files()
    docs, lines = sum(d for d, _ in counts.values()), sum(n for _, n in counts.values())
    print(f"docstring lines / source lines, src/self_explain ({len(counts)} files): {_share(docs, lines)}")
    groups = defaultdict(lambda: [0, 0])
    for relative, (d, n) in counts.items():
        group = groups[relative.split("/")[0] if "/" in relative else relative]
        group[0], group[1] = group[0] + d, group[1] + n
    print("\nper subpackage:")
    for name, (d, n) in sorted(groups.items()):
        print(f"  {name:<24} {_share(d, n)}")
    print(f"\n{args.top} files with most docstring lines:")
    for relative, (d, n) in sorted(counts.items(), key=lambda item: -item[1][0])[: args.top]:
        print(f"  {relative:<44} {_share(d, n)}")
    if args.max_share is not None and lines and docs / lines > args.max_share:
        print(f"\ndocstring share {docs / lines:.1%} is above {args.max_share:.0%}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
