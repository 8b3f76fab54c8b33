"""The experiment's scaling plot (``scaling.png``): each metric against training rows, with its 95 % interval."""

from __future__ import annotations

from pathlib import Path

from ..utils.files import write_atomically
from .results_markdown import NOT_ESTIMABLE, explainer_label, ordered_who

# Where a headline metric lives: the plot clips CI bands to it (the tables keep the intervals as computed).
METRIC_RANGES = {
    "simulator_correlation": (-1.0, 1.0),
    "pooled_correlation": (-1.0, 1.0),
    "mean_scenario_correlation": (-1.0, 1.0),
}


def plot_scaling(summary: dict, path: Path) -> None:
    """Metric vs. training rows (log x), a panel per split and headline metric, with 95 % CI bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits, metrics = summary["splits"], summary["headline_metrics"]
    figure, axes = plt.subplots(
        len(splits), len(metrics), figsize=(5 * len(metrics), 3.6 * len(splits)), squeeze=False
    )
    rows = summary["rows"]
    sizes = sorted({r["size"] for r in rows if r["size"] is not None})
    for i, split in enumerate(splits):
        for j, metric in enumerate(metrics):
            ax = axes[i][j]
            for who in ordered_who(rows):
                curve = sorted(
                    (
                        r
                        for r in rows
                        if r["who"] == who and r["split"] == split and r["metric"] == metric and r["mean"] is not None
                    ),  # not estimable: nothing to draw
                    key=lambda r: -1 if r["size"] is None else r["size"],
                )
                if not curve:
                    continue
                label = explainer_label(curve[0])
                if curve[0]["size"] is None:  # untrained, zero-shot, SelfIE: no training data
                    ax.axhline(curve[0]["mean"], linestyle=":", linewidth=1.2, label=label, color=f"C{len(ax.lines)}")
                    continue
                x = [r["size"] for r in curve]
                style = "--" if curve[0]["kind"] == "baseline" else "-"
                (line,) = ax.plot(x, [r["mean"] for r in curve], style, marker="o", label=label)
                if all(r["ci_low"] is not None for r in curve):
                    low, high = METRIC_RANGES.get(metric, (0.0, 1.0))
                    ax.fill_between(
                        x,
                        [max(r["ci_low"], low) for r in curve],
                        [min(r["ci_high"], high) for r in curve],
                        color=line.get_color(),
                        alpha=0.15,
                    )
            if not ax.lines and not ax.collections:  # no explainer could estimate the metric here
                ax.text(0.5, 0.5, NOT_ESTIMABLE, transform=ax.transAxes, ha="center", va="center", color="0.4")
            low, high = METRIC_RANGES.get(metric, (0.0, 1.0))
            bottom, top = ax.get_ylim()  # at least the metric's whole range: flat curves are not blown up
            ax.set_ylim(min(bottom, low - 0.05 * (high - low)), max(top, high + 0.05 * (high - low)))
            ax.set_xscale("log")
            if sizes:
                ax.set_xticks(sizes, [str(s) for s in sizes])
            ax.set_xlabel("training rows")
            ax.set_ylabel(metric)
            ax.set_title(f"{summary['task']}: {metric} on {split}")
            ax.grid(alpha=0.3)
    legend = {}  # every panel's curves, by label: a panel may be empty (a metric not estimable anywhere)
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    if legend:
        figure.legend(
            list(legend.values()),
            list(legend),
            loc="lower center",
            ncol=min(4, len(legend)),
            fontsize=8,
            frameon=False,
        )
    figure.tight_layout(rect=(0, 0.1 if len(splits) == 1 else 0.07, 1, 1))
    write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    plt.close(figure)
