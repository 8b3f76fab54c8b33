"""The privileged-access experiment's report files: ``results.json`` (runs, summary, provenance), ``results.md`` and
``scaling.png``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from ..core.models import short_model_name
from ..tasks import get_task
from ..utils.files import write_atomically
from ..utils.significance import ALPHA, EQUIVALENCE_MARGIN
from ..utils.version import command_line, machine_description
from .results_markdown import report_markdown
from .scaling_plot import plot_scaling
from .summary_statistics import BOOTSTRAP_SAMPLES, LEVEL, every_metric, group_kind, paired_differences, summarize


def without_per_row(result: dict) -> dict:
    """A cell's result without its per-row scores (they stay in ``runs/*/result.json``; results.json stays small)."""
    splits = {split: {k: v for k, v in scored.items() if k != "per_row"} for split, scored in result["splits"].items()}
    return {**result, "splits": splits}


def run_provenance(results: list[dict]) -> dict:
    """How the results were made: the command, the machine, the models' revisions and the runs' summed compute time.

    A resumed experiment spans several sittings, so the time sums the runs' own times, not one wall-clock interval.
    """
    timed = [r["seconds"] for r in results if "seconds" in r]
    return {
        "command": command_line(),
        "machine": machine_description(),
        "run_seconds": round(sum(timed), 1),
        "timed_runs": len(timed),
        "model_revisions": _model_revisions(results),
        "package": {
            "versions": sorted({r["package_version"] for r in results if r.get("package_version")}),
            "commits": sorted({r["package_commit"] for r in results if r.get("package_commit")}),
        },
    }


def _model_revisions(results: list[dict]) -> dict[str, list[str]]:
    """The revisions each model ran with, by name: ``target``, and each trained explainer's base (controls: target)."""
    found: dict[str, set[str]] = defaultdict(set)
    for result in results:
        if result.get("target_revision"):
            found["target"].add(result["target_revision"])
        if result.get("kind") == "explainer" and result.get("explainer_base_revision"):
            base = "target" if result.get("control") or result.get("self") else short_model_name(result["who"])
            found[base].add(result["explainer_base_revision"])
    return {name: sorted(revisions) for name, revisions in sorted(found.items())}


def tests_record(margin: float, alpha: float = ALPHA) -> dict:
    """What ``results.json`` records of the tests behind the differences' marks: level, definitions, families."""
    return {
        "alpha": alpha,
        "p_value": "two-sided bootstrap p of self - X = 0 from the interval's resamples: min(1, 2 min(share <= 0, "
        "share >= 0)), at least 1 / (resamples + 1)",
        "multiplicity": "Holm, within each results table of differences; a difference survives when its adjusted "
        "p <= alpha",
        "families": {
            "p_holm": "the differences of one training size (every X, split and metric): the paired differences table",
            "p_holm_by_size": "the differences of one split and metric (every X and training size): its "
            "table by training rows",
        },
        "equivalence_margin": margin,
        "equivalence": "TOST within +/- equivalence_margin from the same resamples: p = max(share <= -margin, share "
        ">= +margin), at least 1 / (resamples + 1); level when p <= alpha (the 90 % interval inside "
        "the margin); not adjusted for multiplicity",
    }


def write_report(
    config, dataset: str, results: list[dict], planned_runs: int | None = None, splits: list[str] | None = None
) -> dict:
    """Write results.json, results.md and scaling.png in the experiment's folder; returns the summary."""
    out = Path(config.output_dir)
    finished_runs = sum(r["kind"] == "explainer" for r in results)
    task = get_task(config.task)
    metrics = task.experiment.headline_metrics
    seed = getattr(config, "seed", 0)
    margin = getattr(config, "equivalence_margin", EQUIVALENCE_MARGIN)
    splits = list(config.splits) if splits is None else list(splits)
    summary = {
        "experiment": "privileged-access",
        "task": config.task,
        "target": config.target,
        "explainers": list(config.explainers),
        "dataset": dataset,
        "dataset_config": config.config_name,
        "sizes": sorted({r["size"] for r in results if r["kind"] == "explainer"}),
        "seeds": config.seeds,
        "splits": splits,
        "headline_metrics": list(metrics),
        "headline_reason": task.experiment.headline_reason,
        "bootstrap": {
            "samples": BOOTSTRAP_SAMPLES,
            "seed": seed,
            "level": LEVEL,
            "groups": group_kind(results),
            "resampled": "seeds and groups with replacement, crossed (one draw of groups for every seed)",
        },
        "tests": tests_record(margin),
        "rows": summarize(results, splits, metrics, BOOTSTRAP_SAMPLES, seed),
        "differences": paired_differences(results, splits, metrics, config.target, BOOTSTRAP_SAMPLES, seed, margin),
        "all_metrics": every_metric(results, splits, BOOTSTRAP_SAMPLES, seed),
        "runs": [without_per_row(r) for r in results],
        "provenance": run_provenance(results),
        "completed_runs": {
            "finished": finished_runs,
            "planned": finished_runs if planned_runs is None else planned_runs,
        },
    }
    write_atomically(out / "results.json", lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2) + "\n"))
    write_atomically(out / "results.md", lambda tmp: Path(tmp).write_text(report_markdown(summary)))
    plot_scaling(summary, out / "scaling.png")
    return summary
