"""Tables and figures in Markdown pages (the README, docs) generated from committed results files.

A page marks what is generated with HTML comments (rendered as nothing): a **table block** on lines of its own
(``<!-- table scaling ablation split=test metric=exact_match -->`` ... ``<!-- /table -->``), or an **inline
figure** (``<!-- fig difference ablation other=toy-other size=30 -->+0.046 [+0.016, +0.082]<!-- /fig -->``).
A marker is a kind, one or more sources, then ``key=value`` options (``,`` separates list items). A source is a
path ending in ``.json`` (from the root or ``results/``), else a name under ``results/`` (``ablation`` is
``results/ablation/results.json``). What lies between a marker and its end is replaced; a figure the source does
not hold is an error naming the marker.

On an experiment summary (``results.json``; ``split`` defaults to the first split, ``metric`` to the first
headline metric, ``metric=headline:2`` the second):

- tables ``headline`` (``metrics=``), ``differences`` (``size=``, default the largest), ``scaling``,
  ``difference-scaling`` (``without=a,b`` leaves those out); ``runs`` over every summary named (none: every
  ``results/**/results.json``): sizes, seeds, runs, time; ``summary``: one line per summary, the first headline
  metric at the largest size for self and ``others=``, and the difference self − ``versus=``;
- figures ``cell`` (``who=``, ``self``; ``size=``, ``largest`` or ``none``), ``difference`` (``other=``,
  ``size=``) and ``count`` (differences, or ``in=rows`` rows, matching ``field=value`` filters).

On an evaluation report (``report.json``, or an explainer's ``self_explain.json``): table ``evaluation``
(``metrics=``, ``splits=``, ``baselines=``, ``versus=``, ``versus_metric=``); figures ``evaluation`` and
``evaluation-difference`` (``split=``, ``baseline=``, ``metric=``). Table ``include`` copies a committed ``.md``
file whole. On any JSON file: figure ``value`` (``path=a.b.0.c``; ``interval=`` the path of a ``[low, high]``
pair; ``digits=``; ``percent=``; ``signed=yes``). Figures but ``value`` and ``count`` show their interval, unless
``bare=yes`` or ``percent=<decimals>``.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

from ..core.models import short_model_name
from .results_markdown import NOT_ESTIMABLE, with_interval

# A table block may be indented (inside a list item); its generated lines get the same indentation.
TABLE_BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)<!-- table (?P<spec>[^\n]*?) -->\n(?P<body>.*?)^(?P=indent)<!-- /table -->$",
    re.MULTILINE | re.DOTALL,
)
INLINE_FIGURE = re.compile(r"<!-- fig (?P<spec>[^\n]*?) -->(?P<body>[^\n]*?)<!-- /fig -->")

# What an unresolved marker's place shows, so that the page says where it is stale.
MISSING = "⚠ not in the results"


class ResultsReferenceError(ValueError):
    """A marker that names a source, kind or figure the committed results do not have."""


@dataclass
class Marker:
    """A parsed marker: ``kind``, ``sources`` (JSON files), ``options`` (``key=value``), its ``text`` and ``page``."""

    kind: str
    sources: list[Path]
    options: dict[str, str] = field(default_factory=dict)
    text: str = ""
    root: Path = Path(".")
    page: str = "README.md"

    def link_to(self, path: Path) -> str:
        """Link from the marker's page to a repository file, ``docs/`` left out (the site serves it at root)."""
        page = PurePosixPath(self.page)
        folder = page.parent.relative_to("docs") if page.parts[:1] == ("docs",) else page.parent
        return posixpath.relpath(path.relative_to(self.root).as_posix(), folder.as_posix() or ".")

    def option(self, key: str, default=None):
        """An option's value as written, or ``default``."""
        return self.options.get(key, default)

    def listed(self, key: str) -> list[str]:
        """A comma-separated option as a list (empty when absent)."""
        value = self.options.get(key)
        return [item for item in value.split(",") if item] if value else []


def resolve_source(name: str, root: Path) -> Path:
    """The JSON file a marker's source names; ResultsReferenceError when no such file exists."""
    if name.endswith((".json", ".md")):
        candidates = [root / name, root / "results" / name]
    else:
        candidates = [root / "results" / name / "results.json", root / "results" / f"{name}.json"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ResultsReferenceError(f"no results file {' or '.join(str(c.relative_to(root)) for c in candidates)}")


def results_files(root: Path) -> list[Path]:
    """Every committed ``results/**/*.json`` in path order, but not an experiment's single runs under ``runs/``."""
    folder = root / "results"
    return [path for path in sorted(folder.rglob("*.json")) if "runs" not in path.relative_to(folder).parts[:-1]]


def parse_marker(spec: str, root: Path, page: str = "README.md") -> Marker:
    """A marker's kind, sources and options; ResultsReferenceError on no kind or a missing source."""
    words = spec.split()
    if not words:
        raise ResultsReferenceError("a marker without a kind")
    options = dict(word.split("=", 1) for word in words[1:] if "=" in word)
    sources = [resolve_source(word, root) for word in words[1:] if "=" not in word]
    return Marker(words[0], sources, options, spec, root, page)


def read_json(path: Path) -> dict:
    """A results file's content, read once per version of the file (shared between callers: not to be changed)."""
    status = path.stat()
    return _parsed(path.resolve(), status.st_mtime_ns, status.st_size)


@lru_cache(maxsize=64)
def _parsed(path: Path, modified: int, size: int) -> dict:
    """The file parsed; ``modified`` and ``size`` make a changed file a new cache entry."""
    return json.loads(path.read_text(encoding="utf-8"))


def is_experiment_summary(document) -> bool:
    """Whether a JSON document is an experiment's summary (``write_report``'s ``results.json``)."""
    return isinstance(document, dict) and {"rows", "differences", "headline_metrics", "splits"} <= set(document)


def is_evaluation_report(document) -> bool:
    """Whether a JSON document is an evaluation report (``self-explain evaluate``'s ``report.json``)."""
    return isinstance(document, dict) and {"explainer", "task", "results"} <= set(document)


def summary_of(marker: Marker, source: Path) -> dict:
    """The experiment summary a marker reads; ResultsReferenceError when the file is not one."""
    document = read_json(source)
    if not is_experiment_summary(document):
        raise ResultsReferenceError(f"{source.name} is not an experiment summary, which `{marker.kind}` needs")
    return document


def evaluation_results(marker: Marker, source: Path) -> list[dict]:
    """Per split and explainer or baseline, the results of an evaluation report or an explainer's recorded one."""
    document = read_json(source)
    if is_evaluation_report(document):
        return document["results"]
    if isinstance(document, dict) and isinstance(document.get("eval_results"), list):
        return document["eval_results"]
    raise ResultsReferenceError(f"{source.name} holds no evaluation results, which `{marker.kind}` needs")


def is_named(who: str | None, value: str) -> bool:
    """Whether a model or baseline ``who`` is the one a marker names, by its full or its short name."""
    return who is not None and value in (who, short_model_name(who))


def size_option(marker: Marker, summary: dict, key: str = "size") -> int | None:
    """The training size a marker names: a number, ``largest`` (default) or ``none`` (an untrained baseline)."""
    value = marker.option(key, "largest")
    if value == "largest":
        return max(summary["sizes"]) if summary["sizes"] else None
    return None if value == "none" else int(value)


def split_and_metric(marker: Marker, summary: dict) -> tuple[str, str]:
    """The split and metric a marker names (default: the first split and first headline metric; ``headline:N``)."""
    metric = marker.option("metric", "headline:1")
    if metric.startswith("headline:"):
        position = int(metric.split(":", 1)[1])
        if not 1 <= position <= len(summary["headline_metrics"]):
            raise ResultsReferenceError(
                f"`{marker.text}`: the results have {len(summary['headline_metrics'])} headline metrics"
            )
        metric = summary["headline_metrics"][position - 1]
    return marker.option("split", summary["splits"][0]), metric


def _only_one(matches: list[dict], marker: Marker) -> dict:
    if len(matches) != 1:
        found = "nothing" if not matches else f"{len(matches)} entries"
        raise ResultsReferenceError(f"`{marker.text}` matches {found} in the results")
    return matches[0]


def _shown(marker: Marker, value: float | None, low: float | None, high: float | None, spec: str) -> str:
    """A figure with its interval, or bare (``bare=yes``), or as a bare percentage (``percent=<decimals>``)."""
    if "percent" in marker.options:
        return NOT_ESTIMABLE if value is None else f"{100 * value:.{int(marker.option('percent'))}f} %"
    if marker.option("bare") == "yes":
        return with_interval(value, None, None, spec)
    return with_interval(value, low, high, spec)


def cell_figure(marker: Marker) -> str:
    """One explainer's or baseline's mean [95 % interval] (or another ``field`` of its row) from a summary."""
    summary = summary_of(marker, marker.sources[0])
    split, metric = split_and_metric(marker, summary)
    who, size = marker.option("who", "self"), size_option(marker, summary)
    row = _only_one(
        [
            r
            for r in summary["rows"]
            if r["split"] == split
            and r["metric"] == metric
            and r["size"] == size
            and (is_named(r["who"], who) or (who == "self" and r["self"] and r["kind"] == "explainer"))
        ],
        marker,
    )
    if marker.option("field"):
        return f"{row[marker.option('field')]:,}"
    return _shown(marker, row["mean"], row["ci_low"], row["ci_high"], ".3f")


def difference_figure(marker: Marker) -> str:
    """A paired difference self − X [95 % interval] from an experiment summary."""
    summary = summary_of(marker, marker.sources[0])
    split, metric = split_and_metric(marker, summary)
    other, size = marker.option("other"), size_option(marker, summary)
    entry = _only_one(
        [
            d
            for d in summary["differences"]
            if d["split"] == split and d["metric"] == metric and d["size"] == size and is_named(d["other"], other)
        ],
        marker,
    )
    return _shown(marker, entry["difference"], entry["ci_low"], entry["ci_high"], "+.3f")


def _evaluation_result(marker: Marker) -> dict:
    results = evaluation_results(marker, marker.sources[0])
    split = marker.option("split", results[0]["split"])
    baseline = marker.option("baseline", "trained")
    return _only_one([r for r in results if r["split"] == split and (r["baseline"] or "trained") == baseline], marker)


def evaluation_figure(marker: Marker) -> str:
    """One metric of an evaluation report (or an explainer's recorded evaluation) with its interval."""
    result = _evaluation_result(marker)
    metric = marker.option("metric")
    if metric not in result["metrics"]:
        raise ResultsReferenceError(f"`{marker.text}`: no metric {metric!r} in the results")
    low, high = (result.get("intervals") or {}).get(metric) or (None, None)
    return _shown(marker, result["metrics"][metric], low, high, ".3f")


def evaluation_difference_figure(marker: Marker) -> str:
    """Trained − a baseline, paired, from an evaluation report."""
    result = _evaluation_result(marker)
    entry = (result.get("trained_minus_baseline") or {}).get(marker.option("metric"))
    if entry is None:
        raise ResultsReferenceError(f"`{marker.text}`: no paired difference in the results")
    return _shown(marker, *entry, "+.3f")


def _at_path(document, path: str, marker: Marker):
    value = document
    for key in path.split("."):
        try:
            value = value[int(key)] if isinstance(value, list) else value[key]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ResultsReferenceError(f"`{marker.text}`: no {path!r} in the results") from None
    return value


def value_figure(marker: Marker) -> str:
    """Any number in a JSON file, formatted (``digits`` decimals, default 3; integers whole)."""
    document = read_json(marker.sources[0])
    value = _at_path(document, marker.option("path", ""), marker)
    interval = _at_path(document, marker.option("interval"), marker) if marker.option("interval") else None
    sign = "+" if marker.option("signed") == "yes" else ""
    if isinstance(value, int) and not isinstance(value, bool) and "percent" not in marker.options:
        return f"{value:{sign},}"
    if "percent" in marker.options:
        spec = f"{sign}.{int(marker.option('percent'))}f"
        scaled = [None if v is None else 100 * v for v in [value, *(interval or [])]]
        text = f"{with_interval(scaled[0], None, None, spec)} %"
        return text + (f" [{scaled[1]:{spec}}, {scaled[2]:{spec}}]" if interval and value is not None else "")
    spec = f"{sign}.{int(marker.option('digits', 3))}f"
    return with_interval(value, *(interval or (None, None)), spec)


def count_figure(marker: Marker) -> str:
    """How many entries of a summary's ``differences`` (or ``rows``) match the filters (values compared case aside)."""
    summary = summary_of(marker, marker.sources[0])
    entries = summary[marker.option("in", "differences")]
    filters = {key: value for key, value in marker.options.items() if key != "in"}
    unknown = [key for key in filters if entries and key not in entries[0]]
    if unknown:
        raise ResultsReferenceError(f"`{marker.text}`: the entries have no field {', '.join(unknown)}")
    return str(
        sum(all(str(entry[key]).lower() == value.lower() for key, value in filters.items()) for entry in entries)
    )


FIGURES = {
    "cell": cell_figure,
    "count": count_figure,
    "difference": difference_figure,
    "value": value_figure,
    "evaluation": evaluation_figure,
    "evaluation-difference": evaluation_difference_figure,
}
