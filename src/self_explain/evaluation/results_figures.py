"""Tables and figures in Markdown pages (the README, docs) generated from committed results files.

A page marks what is generated with HTML comments, which Markdown renders as nothing:

- a **table block**, on lines of its own::

      <!-- table scaling ablation split=test metric=exact_match -->
      (generated)
      <!-- /table -->

- an **inline figure**, inside a sentence or a table cell::

      self − toy-other <!-- fig difference ablation other=toy-other size=30 -->+0.046 [+0.016, +0.082]<!-- /fig -->

A marker is a kind, then one or more sources, then ``key=value`` options (no spaces inside a value; ``,``
separates list items). A source is a JSON file: a path ending in ``.json`` (from the repository's root or from
``results/``), else a name under ``results/`` (``ablation`` is ``results/ablation/results.json``,
``smollm2-135m/patching-explainer-evaluation`` is ``results/smollm2-135m/patching-explainer-evaluation.json``).
What lies between a marker and its end is replaced by what the source gives; a figure the source does not hold is
an error naming the marker, and its place then says so.

Kinds on an experiment summary (a privileged-access ``results.json``), through the report's own tables
(:mod:`.report`); ``split`` defaults to the first split and ``metric`` to the first headline metric
(``metric=headline:2`` is the second, so that a table follows the task's headline metrics as they change):

- tables ``headline`` (``metrics=``), ``differences`` (``size=``, default the largest), ``scaling`` and
  ``difference-scaling``; ``without=a,b`` leaves those explainers or baselines out;
- table ``runs`` over every summary named (or, with none named, every ``results/**/results.json`` summary): sizes,
  seeds per size, runs and their summed time;
- table ``summary`` over the same summaries: one line each, the first headline metric on the first split at the
  largest size for self and the explainers ``others=`` names, and the paired difference self − ``versus=``;
- figures ``cell`` (``who=``, ``self`` for the self-explainer; ``size=``, ``largest`` or ``none`` for a baseline
  that does not train), ``difference`` (``other=``, ``size=``) and ``count`` (how many differences, or with
  ``in=rows`` rows, match ``field=value`` filters).

Kinds on an evaluation report (``self-explain evaluate``'s ``report.json``, or an explainer's ``self_explain.json``
with its ``eval_results``): table ``evaluation`` (``metrics=``, ``splits=``, ``baselines=``, ``versus=`` a baseline
whose paired difference gets a column, ``versus_metric=``); figures ``evaluation`` and ``evaluation-difference``
(``split=``, ``baseline=``, ``metric=``).

Table ``include`` copies a committed Markdown results file (a path ending in ``.md``) whole: for results a
script printed as Markdown from data that is not committed.

On any JSON file: figure ``value`` (``path=a.b.0.c``; ``interval=`` the path of a ``[low, high]`` pair;
``digits=``; ``percent=`` digits of a percentage; ``signed=yes``).

Every figure but ``value`` and ``count`` is shown with its interval, unless ``bare=yes`` (the value alone) or
``percent=<decimals>`` (the value alone as a percentage).
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
    """A parsed marker: ``kind``, ``sources`` (JSON files), ``options`` (``key=value``).

    Args:
        kind (`str`): What is generated (``scaling``, ``cell``, ...).
        sources (`list[Path]`): The JSON files it is generated from.
        options (`dict[str, str]`): The ``key=value`` options.
        text (`str`): The marker's text, for error messages.
        root (`Path`): The repository's root, where the sources are.
        page (`str`, *optional*, defaults to ``"README.md"``): The page the marker is on, from the root; its links
            are written relative to it (see `link_to`).
    """

    kind: str
    sources: list[Path]
    options: dict[str, str] = field(default_factory=dict)
    text: str = ""
    root: Path = Path(".")
    page: str = "README.md"

    def link_to(self, path: Path) -> str:
        """A relative link from the marker's page to a file of the repository.

        The docs site serves ``docs/`` at its root and ``results/`` beside it (``tools/mkdocs_results.py``), as the
        repository does for the README: a link is relative to the page's folder with ``docs/`` left out.

        Args:
            path (`Path`): The file (under ``root``).

        Returns:
            `str`: The link (``results/ablation/results.md`` from the README or ``docs/experiment.md``,
            ``ablation/results.md`` from ``docs/results/index.md``).
        """
        page = PurePosixPath(self.page)
        folder = page.parent.relative_to("docs") if page.parts[:1] == ("docs",) else page.parent
        return posixpath.relpath(path.relative_to(self.root).as_posix(), folder.as_posix() or ".")

    def option(self, key: str, default=None):
        """An option's value.

        Args:
            key (`str`): The option.
            default (*optional*): The value when the marker does not give it.

        Returns:
            The option as written, or ``default``.
        """
        return self.options.get(key, default)

    def listed(self, key: str) -> list[str]:
        """A comma-separated option as a list (empty when absent).

        Args:
            key (`str`): The option.

        Returns:
            `list[str]`: Its items.
        """
        value = self.options.get(key)
        return [item for item in value.split(",") if item] if value else []


def resolve_source(name: str, root: Path) -> Path:
    """The JSON file a marker's source names.

    Args:
        name (`str`): A path ending in ``.json`` or ``.md``, from ``root`` or from ``results/``; or a name under
            ``results/`` (a folder holding ``results.json``, or a JSON file without its ``.json``).
        root (`Path`): The repository's root.

    Returns:
        `Path`: The file.

    Raises:
        ResultsReferenceError: When no such file exists.
    """
    if name.endswith((".json", ".md")):
        candidates = [root / name, root / "results" / name]
    else:
        candidates = [root / "results" / name / "results.json", root / "results" / f"{name}.json"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ResultsReferenceError(f"no results file {' or '.join(str(c.relative_to(root)) for c in candidates)}")


def results_files(root: Path) -> list[Path]:
    """Every committed results file: ``results/**/*.json`` in path order, but not the single runs an experiment
    keeps under ``runs/`` (its summary holds what they say).

    Args:
        root (`Path`): The repository's root.

    Returns:
        `list[Path]`: The files.
    """
    folder = root / "results"
    return [path for path in sorted(folder.rglob("*.json")) if "runs" not in path.relative_to(folder).parts[:-1]]


def parse_marker(spec: str, root: Path, page: str = "README.md") -> Marker:
    """A marker's kind, sources and options.

    Args:
        spec (`str`): The marker's text after ``table`` or ``fig``.
        root (`Path`): The repository's root.
        page (`str`, *optional*, defaults to ``"README.md"``): The page the marker is on, from the root.

    Returns:
        [`Marker`]: The parsed marker.

    Raises:
        ResultsReferenceError: When it names no kind or a source that does not exist.
    """
    words = spec.split()
    if not words:
        raise ResultsReferenceError("a marker without a kind")
    options = dict(word.split("=", 1) for word in words[1:] if "=" in word)
    sources = [resolve_source(word, root) for word in words[1:] if "=" not in word]
    return Marker(words[0], sources, options, spec, root, page)


def read_json(path: Path) -> dict:
    """A results file's content, read once per version of the file (many markers read the same file).

    Args:
        path (`Path`): The JSON file.

    Returns:
        `dict`: Its content (shared between callers: not to be changed).
    """
    status = path.stat()
    return _parsed(path.resolve(), status.st_mtime_ns, status.st_size)


@lru_cache(maxsize=64)
def _parsed(path: Path, modified: int, size: int) -> dict:
    """The file parsed; ``modified`` and ``size`` make a changed file a new cache entry."""
    return json.loads(path.read_text(encoding="utf-8"))


def is_experiment_summary(document) -> bool:
    """Whether a JSON document is an experiment's summary (``write_report``'s ``results.json``).

    Args:
        document: A JSON document.

    Returns:
        `bool`: True when it has the summary's rows and headline metrics.
    """
    return isinstance(document, dict) and {"rows", "differences", "headline_metrics", "splits"} <= set(document)


def is_evaluation_report(document) -> bool:
    """Whether a JSON document is an evaluation report (``self-explain evaluate``'s ``report.json``).

    Args:
        document: A JSON document.

    Returns:
        `bool`: True when it has the report's explainer and results.
    """
    return isinstance(document, dict) and {"explainer", "task", "results"} <= set(document)


def summary_of(marker: Marker, source: Path) -> dict:
    """An experiment summary a marker reads.

    Args:
        marker (`Marker`): The marker (named in the error).
        source (`Path`): The summary's file.

    Returns:
        `dict`: The summary.

    Raises:
        ResultsReferenceError: When the file is not an experiment summary.
    """
    document = read_json(source)
    if not is_experiment_summary(document):
        raise ResultsReferenceError(f"{source.name} is not an experiment summary, which `{marker.kind}` needs")
    return document


def evaluation_results(marker: Marker, source: Path) -> list[dict]:
    """The scored results of an evaluation report, or of an explainer's recorded evaluation.

    Args:
        marker (`Marker`): The marker that reads them (named in the error).
        source (`Path`): A ``report.json`` or an explainer's ``self_explain.json``.

    Returns:
        `list[dict]`: One entry per split and explainer or baseline (``split``, ``baseline``, ``metrics``,
        ``intervals``, ...).

    Raises:
        ResultsReferenceError: When the file holds no evaluation.
    """
    document = read_json(source)
    if is_evaluation_report(document):
        return document["results"]
    if isinstance(document, dict) and isinstance(document.get("eval_results"), list):
        return document["eval_results"]
    raise ResultsReferenceError(f"{source.name} holds no evaluation results, which `{marker.kind}` needs")


def is_named(who: str | None, value: str) -> bool:
    """Whether a model or baseline ``who`` is the one a marker names, by its full or its short name.

    Args:
        who (`str` or None): The name in the results (``out/toy-target-preferences-instilled``, ``majority``).
        value (`str`): The name in the marker.

    Returns:
        `bool`: True when they are the same.
    """
    return who is not None and value in (who, short_model_name(who))


def size_option(marker: Marker, summary: dict, key: str = "size") -> int | None:
    """The training size a marker names: a number, ``largest`` (the default) or ``none`` (a baseline that does
    not train).

    Args:
        marker (`Marker`): The marker.
        summary (`dict`): The experiment summary.
        key (`str`, *optional*, defaults to ``"size"``): The option.

    Returns:
        `int` or `None`: The size.
    """
    value = marker.option(key, "largest")
    if value == "largest":
        return max(summary["sizes"]) if summary["sizes"] else None
    return None if value == "none" else int(value)


def split_and_metric(marker: Marker, summary: dict) -> tuple[str, str]:
    """The split and metric a marker names, by default the summary's first split and first headline metric;
    ``metric=headline:2`` is the second headline metric, whatever the results name it.

    Args:
        marker (`Marker`): The marker.
        summary (`dict`): The experiment summary.

    Returns:
        `tuple[str, str]`: The split and the metric.

    Raises:
        ResultsReferenceError: When the summary has fewer headline metrics than ``headline:N`` asks for.
    """
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
    """A figure as its marker asks: with its interval, or ``bare=yes`` without, or ``percent=<decimals>`` as a bare
    percentage."""
    if "percent" in marker.options:
        return NOT_ESTIMABLE if value is None else f"{100 * value:.{int(marker.option('percent'))}f} %"
    if marker.option("bare") == "yes":
        return with_interval(value, None, None, spec)
    return with_interval(value, low, high, spec)


def cell_figure(marker: Marker) -> str:
    """One explainer's or baseline's mean [95 % interval] from an experiment summary.

    Args:
        marker (`Marker`): ``cell`` with options ``who`` (``self`` for the self-explainer), ``size``, ``split``,
            ``metric``, ``bare``, ``percent``, and ``field`` (another count of the row: ``scored_rows``, ``groups``,
            ``n`` seeds).

    Returns:
        `str`: The figure.
    """
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
    """A paired difference self − X [95 % interval] from an experiment summary.

    Args:
        marker (`Marker`): ``difference`` with options ``other``, ``size`` (the self-explainer's), ``split``,
            ``metric`` and ``bare``.

    Returns:
        `str`: The figure.
    """
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
    """One metric of an evaluation report (or an explainer's recorded evaluation) with its interval.

    Args:
        marker (`Marker`): ``evaluation`` with options ``split``, ``baseline`` (default ``trained``), ``metric``
            and ``bare``.

    Returns:
        `str`: The figure.
    """
    result = _evaluation_result(marker)
    metric = marker.option("metric")
    if metric not in result["metrics"]:
        raise ResultsReferenceError(f"`{marker.text}`: no metric {metric!r} in the results")
    low, high = (result.get("intervals") or {}).get(metric) or (None, None)
    return _shown(marker, result["metrics"][metric], low, high, ".3f")


def evaluation_difference_figure(marker: Marker) -> str:
    """Trained − a baseline, paired, from an evaluation report.

    Args:
        marker (`Marker`): ``evaluation-difference`` with options ``split``, ``baseline``, ``metric`` and ``bare``.

    Returns:
        `str`: The figure.
    """
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
    """Any number in a JSON file, formatted.

    Args:
        marker (`Marker`): ``value`` with options ``path`` (dotted; list items by index), ``interval`` (the path
            of a ``[low, high]`` pair), ``digits`` (decimals, default 3; integers are shown whole), ``percent``
            (decimals of a percentage) and ``signed``.

    Returns:
        `str`: The figure.
    """
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
    """How many entries of an experiment summary's ``differences`` (or ``rows``) match the marker's filters.

    Args:
        marker (`Marker`): ``count`` with ``in=differences`` (the default) or ``in=rows``, and any field of those
            entries as a filter (``other_kind=explainer excludes_zero=true``; values compared as written, case
            aside).

    Returns:
        `str`: The count.
    """
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
