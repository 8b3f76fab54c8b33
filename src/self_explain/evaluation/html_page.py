"""The explanation report as one self-contained HTML file: its parts, and their rendering through a Jinja template.

Nothing is fetched when the page opens (inlined CSS and script, data-URI images, a strict Content-Security-Policy)
and every text is escaped: prompts and explanations are untrusted. The URL's fragment presets the row filters
(``report.html#split=test&verdict=wrong``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..utils.files import write_atomically

TEMPLATES = ("self_explain.evaluation", "templates")  # package data: the template, its CSS and script
TEMPLATE = "explanation_report.html.j2"
ASSETS = ("explanation_report.css", "explanation_report.js")


@dataclass
class BrowsedRow:
    """One row of the report: a dataset row and an explainer's answer (``verdict``: correct, wrong or "")."""

    split: str
    question: str
    reference: str
    view: dict
    index: int | None = None
    prediction: str | None = None
    verdict: str = ""
    score: float | None = None


@dataclass
class ReportTable:
    """A table of the report (e.g. metrics with their intervals), ``collapsed`` to show it folded."""

    caption: str
    header: list[str]
    rows: list[list[str]]
    collapsed: bool = False


@dataclass
class ReportSection:
    """A part of the report (an evaluation, dataset, experiment or demo task): notes, tables, images, links, rows."""

    title: str
    notes: list[str] = field(default_factory=list)
    preformatted: str | None = None
    tables: list[ReportTable] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    examples: list[dict] = field(default_factory=list)
    rows: list[BrowsedRow] = field(default_factory=list)


@dataclass
class ReportPage:
    """The whole report: a title, notes and sections."""

    title: str
    sections: list[ReportSection]
    notes: list[str] = field(default_factory=list)


def image_data_uri(path: str | Path) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI, to embed it in the page."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _filter_values(page: ReportPage) -> dict[str, list[str]]:
    """The values each filter offers: those the page's rows have, in order of appearance."""
    rows = [(index, row) for index, section in enumerate(page.sections) for row in section.rows]
    return {
        "section": list(dict.fromkeys(str(index) for index, _ in rows)),
        "split": list(dict.fromkeys(row.split for _, row in rows)),
        "label": [label for label in dict.fromkeys(row.view.get("label") or "" for _, row in rows) if label],
        "verdict": [v for v in ("correct", "wrong") if any(row.verdict == v for _, row in rows)],
    }


def render_page(page: ReportPage) -> str:
    """The page as HTML: the template with the CSS and the script inlined and every text escaped."""
    import jinja2

    folder = resources.files(TEMPLATES[0]).joinpath(TEMPLATES[1])
    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    template = environment.from_string(folder.joinpath(TEMPLATE).read_text(encoding="utf-8"))
    css, script = (folder.joinpath(name).read_text(encoding="utf-8") for name in ASSETS)
    return template.render(
        page=page,
        filters=_filter_values(page),
        css=css,
        script=script,
        total=sum(len(section.rows) for section in page.sections),
    )


def write_page(page: ReportPage, path: str | Path) -> Path:
    """Render the page and write it atomically (creating its folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = render_page(page)
    write_atomically(path, lambda tmp: Path(tmp).write_text(html, encoding="utf-8"))
    return path
