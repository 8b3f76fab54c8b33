"""``make results``: every page generated from the committed results files, and the check that they are current.

Writes each ``results/**/*.json`` summary's ``results.md`` and ``scaling.png`` and each evaluation report's
``<name>.md`` beside it, then regenerates the marked tables and figures of ``README.md`` and ``docs/**/*.md``
(:mod:`.results_figures`). A test holds the committed Markdown equal to what this writes (plots are not compared).

    python -m self_explain.evaluation.results_pages [--root .] [--check] [--no_plots]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from ..utils.files import write_atomically
from .results_figures import (
    FIGURES,
    INLINE_FIGURE,
    MISSING,
    TABLE_BLOCK,
    ResultsReferenceError,
    is_evaluation_report,
    is_experiment_summary,
    parse_marker,
    read_json,
    results_files,
)
from .results_markdown import report_markdown
from .results_tables import TABLES
from .scaling_plot import plot_scaling

logger = logging.getLogger(__name__)

# The pages whose marked blocks are generated, besides each results file's own page.
MARKED_PAGES = ("README.md", "docs/**/*.md")


def experiment_page(summary: dict) -> str:
    """An experiment's ``results.md``: the report's Markdown, with the summary's ``notes`` under the title."""
    markdown = report_markdown(summary)
    notes = summary.get("notes") or []
    if not notes:
        return markdown
    title, rest = markdown.split("\n", 1)
    quoted = "".join(f"> {note}\n\n" for note in notes)
    return f"{title}\n\n{quoted}{rest.lstrip(chr(10))}"


def evaluation_page(report: dict) -> str:
    """An evaluation report's Markdown, as ``self-explain evaluate`` writes it."""
    # Imported here: the evaluator loads the whole evaluation stack, which the experiment pages do not need.
    from .evaluator import report_markdown as evaluation_markdown

    return evaluation_markdown(report)


def results_pages(root: Path) -> dict[Path, str]:
    """Each results file's Markdown page, by the path it is written to (the JSON file's, with ``.md``)."""
    pages = {}
    for path in results_files(root):
        document = read_json(path)
        if is_experiment_summary(document):
            pages[path.with_suffix(".md")] = experiment_page(document)
        elif is_evaluation_report(document):
            pages[path.with_suffix(".md")] = evaluation_page(document)
    return pages


def render_marked(
    text: str, root: Path, page: str = "README.md", changes: list[str] | None = None
) -> tuple[str, list[str]]:
    """A page with every marked block regenerated, and a problem per marker that could not be.

    ``changes`` gets a line per inline figure whose value changed: the sentence around it may need rereading.
    """
    problems = []

    def line_of(match) -> int:
        return match.string.count("\n", 0, match.start()) + 1

    def table(match) -> str:
        try:
            marker = parse_marker(match["spec"], root, page)
            if marker.kind not in TABLES:
                raise ResultsReferenceError(f"no table kind {marker.kind!r} (kinds: {', '.join(TABLES)})")
            lines = TABLES[marker.kind](marker)
        except (ResultsReferenceError, KeyError, ValueError) as error:
            problems.append((line_of(match), f"table `{match['spec']}`: {error}"))
            lines = [MISSING]
        indent = match["indent"]
        body = "".join(f"{indent}{line}\n" if line else "\n" for line in lines)
        return f"{indent}<!-- table {match['spec']} -->\n{body}{indent}<!-- /table -->"

    def figure(match) -> str:
        if not match.string[match.string.rfind("\n", 0, match.start()) + 1 : match.start()].strip():
            problems.append(
                (
                    line_of(match),
                    f"figure `{match['spec']}` begins its line, where Markdown reads a "
                    "comment as the start of an HTML block: put words before it",
                )
            )
        try:
            marker = parse_marker(match["spec"], root, page)
            if marker.kind not in FIGURES:
                raise ResultsReferenceError(f"no figure kind {marker.kind!r} (kinds: {', '.join(FIGURES)})")
            body = FIGURES[marker.kind](marker)
        except (ResultsReferenceError, KeyError, ValueError) as error:
            problems.append((line_of(match), f"figure `{match['spec']}`: {error}"))
            body = MISSING
        if changes is not None and match["body"] and match["body"] != body:
            changes.append(f"{page}:{line_of(match)}: `{match['spec']}` {match['body']} → {body}")
        return f"<!-- fig {match['spec']} -->{body}<!-- /fig -->"

    # Figures first: each stays on its one line, so the tables' line numbers are the page's too.
    rendered = TABLE_BLOCK.sub(table, INLINE_FIGURE.sub(figure, text))
    return rendered, [f"{page}:{line}: {problem}" for line, problem in sorted(problems)]


def marked_pages(root: Path) -> list[Path]:
    """The pages with generated blocks: ``README.md`` and ``docs/**/*.md``, those that exist."""
    return sorted({path for pattern in MARKED_PAGES for path in root.glob(pattern) if path.is_file()})


def generated_markdown(root: Path, changes: list[str] | None = None) -> tuple[dict[Path, str], list[str]]:
    """Every generated Markdown file as ``make results`` writes it, and the markers' problems."""
    files, problems = results_pages(root), []
    for page in marked_pages(root):
        text, page_problems = render_marked(
            page.read_text(encoding="utf-8"), root, page.relative_to(root).as_posix(), changes
        )
        files[page] = text
        problems += page_problems
    return files, problems


def stale_markdown(root: Path, changes: list[str] | None = None) -> tuple[list[Path], list[str]]:
    """The committed Markdown files missing or differing from what ``make results`` writes, and markers' problems."""
    files, problems = generated_markdown(root, changes)
    stale = [path for path, text in files.items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
    return stale, problems


def _write_if_changed(path: Path, text: str) -> bool:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_atomically(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))
    return True


def write_plots(root: Path) -> list[Path]:
    """Each experiment summary's scaling plot, replaced only when its bytes change."""
    written = []
    for path in results_files(root):
        summary = read_json(path)
        if not is_experiment_summary(summary):
            continue
        plot = path.parent / ("scaling.png" if path.stem == "results" else f"{path.stem}-scaling.png")
        with tempfile.TemporaryDirectory() as folder:
            drawn = Path(folder) / plot.name
            plot_scaling(summary, drawn)
            image = drawn.read_bytes()
            if not plot.is_file() or plot.read_bytes() != image:
                write_atomically(plot, lambda temporary, image=image: Path(temporary).write_bytes(image))
                written.append(plot)
    return written


def write_results(root: Path, plots: bool = True, changes: list[str] | None = None) -> tuple[list[Path], list[str]]:
    """Write every generated page and block that is not current; returns the files written and markers' problems."""
    files, problems = generated_markdown(root, changes)
    written = [path for path, text in files.items() if _write_if_changed(path, text)]
    if plots:
        written += write_plots(root)
    return written, problems


def main(argv: list[str] | None = None) -> int:
    """Write the generated pages, or with ``--check`` only say which are stale; 0 when all is current, else 1."""
    parser = argparse.ArgumentParser(
        prog="python -m self_explain.evaluation.results_pages",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--root", default=".", help="The repository's root (default: the current folder).")
    parser.add_argument("--check", action="store_true", help="Write nothing; exit 1 when a page is stale.")
    parser.add_argument("--no_plots", action="store_true", help="Leave the scaling plots alone.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = Path(args.root).resolve()
    changes: list[str] = []
    if args.check:
        stale, problems = stale_markdown(root, changes)
        for path in stale:
            logger.error("stale: %s (run `make results`)", path.relative_to(root))
    else:
        written, problems = write_results(root, plots=not args.no_plots, changes=changes)
        stale = []
        for path in written:
            logger.info("wrote %s", path.relative_to(root))
        logger.info("%d files written, the rest already current", len(written))
    for change in changes:
        logger.warning("figure changed, reread its sentence: %s", change)
    for problem in problems:
        logger.error(problem)
    return 1 if stale or problems else 0


if __name__ == "__main__":
    sys.exit(main())
