"""The privileged-access experiment's statistics: means, 95 % bootstrap intervals and paired differences self − X.

Intervals resample seeds × held-out groups (:class:`~self_explain.utils.stats.SeedGroupBootstrap`) and recompute
each metric from the drawn rows' per-row statistics (:mod:`.row_scores`), so F1 and pooled correlations are
recomputed, not averaged. The same replicates give a difference's p-value and TOST p-value; each results table
of differences is a family, Holm-adjusted within it.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from numbers import Real

import numpy as np

from ..utils.significance import EQUIVALENCE_MARGIN, bootstrap_p_value, equivalence_p_value, holm_adjust
from ..utils.stats import BootstrapRun, SeedGroupBootstrap, percentile_interval
from .row_scores import METRIC_STATISTICS, ROWS_SUFFIX, metric_statistic

# The bootstrap behind every interval: resamples, and the coverage of the intervals.
BOOTSTRAP_SAMPLES = 2000
LEVEL = 0.95


def bootstrap_run(result: dict, split: str) -> BootstrapRun | None:
    """A cell's scored rows on a split as the bootstrap reads them, or None when it kept no per-row scores."""
    per_row = (result["splits"].get(split) or {}).get("per_row")
    if not per_row or not per_row.get("statistics"):
        return None
    return BootstrapRun(result["seed"], [_hashable(g) for g in per_row["group"]], per_row["statistics"])


def _hashable(group):
    return tuple(group) if isinstance(group, list) else group


def _statistic(results: list[dict], split: str, metric: str):
    """How ``metric`` is recomputed from the per-row statistics the cells kept on ``split``; None when it cannot be."""
    modules = {r["splits"][split]["per_row"].get("metric") for r in results}
    if len(modules) != 1:
        return None
    columns = set.intersection(*(set(r["splits"][split]["per_row"]["statistics"]) for r in results))
    statistic = metric_statistic(modules.pop(), metric, columns)
    if statistic is not None:
        try:
            statistic({name: np.zeros(1) for name in columns})
        except KeyError:  # rows scored before the metric's statistics existed lack its columns
            return None
    return statistic


def _bootstrap_over(results: list[dict], split: str, samples: int, seed: int) -> SeedGroupBootstrap:
    """The bootstrap over the seeds and groups of ``results`` on ``split`` (drawn once for every metric of a cell)."""
    seeds = tuple(dict.fromkeys(r["seed"] for r in results if r["seed"] is not None))
    groups = tuple(dict.fromkeys(_hashable(g) for r in results for g in r["splits"][split]["per_row"]["group"]))
    return _drawn_bootstrap(seeds, groups, samples, seed)


@lru_cache(maxsize=32)
def _drawn_bootstrap(seeds: tuple, groups: tuple, samples: int, seed: int) -> SeedGroupBootstrap:
    return SeedGroupBootstrap(seeds, groups, samples=samples, seed=seed)


def rounded(value: float | None) -> float | None:
    """A value rounded to 4 decimals for the results files; None stays None."""
    return None if value is None else round(value, 4)


def summarize(
    results: list[dict], splits: list[str], metrics: tuple[str, ...], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> list[dict]:
    """One row per (who, training size, split, metric): mean, 95 % bootstrap interval, and the per-seed values.

    A cell whose results kept no per-row scores gets the mean over seeds and no interval.

    Args:
        results (`list[dict]`): The cells' results (``runs/*/result.json``).
        splits (`list[str]`): The scored splits.
        metrics (`tuple[str, ...]`): The metrics summarised (e.g. the task's headline metrics).
        samples (`int`, *optional*, defaults to `BOOTSTRAP_SAMPLES`): Bootstrap resamples.
        seed (`int`, *optional*, defaults to 0): Seed of the bootstrap (the same seed gives the same intervals).

    Returns:
        `list[dict]`: Rows with ``who``, ``size``, ``split``, ``metric``, ``mean``, ``ci_low``, ``ci_high``,
        ``interval``, ``n`` (seeds), ``values``, ``scored_rows``, ``groups``, ``kind``, ``self``, ``train_rows`` and
        ``details``. A seed whose value is None is counted in ``not_estimable``; with no value, ``mean`` and the
        interval are None, never 0 with [0, 0].
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for result in results:
        for split in splits:
            scored = result["splits"].get(split)
            if scored is None:
                continue
            for metric in metrics:
                if metric in scored["metrics"]:
                    groups[(result["who"], result["size"], split, metric)].append(result)
    rows = []
    for key, cell_results in groups.items():
        who, size, split, metric = key
        values = [reported_value(r, split, metric) for r in cell_results]
        estimable = [v for v in values if v is not None]
        runs = [bootstrap_run(r, split) for r in cell_results]
        statistic = _statistic(cell_results, split, metric) if all(runs) else None
        if statistic is not None:
            bootstrap = _bootstrap_over(cell_results, split, samples, seed)
            mean, low, high = bootstrap.interval(runs, statistic, LEVEL)
            interval = "bootstrap"
        else:
            mean = sum(estimable) / len(estimable) if estimable else None
            low = high = interval = None
        last = cell_results[-1]
        scored = last["splits"][split]
        per_row = scored.get("per_row") or {}
        rows.append(
            {
                "who": who,
                "size": size,
                "split": split,
                "metric": metric,
                "mean": rounded(mean),
                "ci_low": rounded(low),
                "ci_high": rounded(high),
                "interval": interval,
                "n": len(values),
                "not_estimable": len(values) - len(estimable),
                "values": values,
                "scored_rows": scored.get("rows"),
                "groups": len(set(map(_hashable, per_row["group"]))) if per_row.get("group") else None,
                "kind": last["kind"],
                "self": last["self"],
                "train_rows": last.get("train_rows"),
                "details": scored.get("details") or {},
            }
        )
    return rows


def reported_value(result: dict, split: str, metric: str) -> float | None:
    """A run's reported value of a metric on a split; None when not estimable."""
    value = result["splits"][split]["metrics"][metric]
    return None if value is None else float(value)


def self_explainer(results: list[dict], target: str) -> str | None:
    """The ``who`` of the trained explainer whose base is the target (``self``); None when none ran."""
    selves = list(dict.fromkeys(r["who"] for r in results if r["kind"] == "explainer" and r["self"]))
    if target in selves:
        return target
    return selves[0] if selves else None


def paired_differences(
    results: list[dict],
    splits: list[str],
    metrics: tuple[str, ...],
    target: str,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
    margin: float = EQUIVALENCE_MARGIN,
) -> list[dict]:
    """For each training size of the self-explainer and each other explainer, control or baseline X: self − X.

    X is taken at the same size, paired seed by seed, or, for a baseline that does not train, as it is. Both members
    are recomputed in the same bootstrap resamples, which give the interval and the tests
    (:mod:`self_explain.utils.significance`).

    Args:
        results (`list[dict]`): The cells' results.
        splits (`list[str]`): The scored splits.
        metrics (`tuple[str, ...]`): The metrics compared.
        target (`str`): The target model (self is the explainer whose base it is).
        samples (`int`, *optional*, defaults to `BOOTSTRAP_SAMPLES`): Bootstrap resamples.
        seed (`int`, *optional*, defaults to 0): Seed of the bootstrap.
        margin (`float`, *optional*, defaults to `EQUIVALENCE_MARGIN`): The equivalence margin δ of the TOST.

    Returns:
        `list[dict]`: Rows with ``self``, ``other``, ``other_kind``, ``size``, ``other_size``, ``split``, ``metric``,
        ``seeds``, ``difference``, ``ci_low``, ``ci_high``, ``excludes_zero``, ``p_value`` (two-sided), ``p_holm``
        (Holm over its training size), ``p_holm_by_size`` (Holm over its split and metric) and ``p_equivalence``
        (TOST). Values are None where a side is not estimable; without per-row scores only the difference is given.
    """
    me = self_explainer(results, target)
    if me is None:
        return []
    by_cell: dict[tuple, list[dict]] = defaultdict(list)
    for result in results:
        by_cell[(result["who"], result["size"])].append(result)
    others = [w for w in dict.fromkeys(r["who"] for r in results if r["kind"] == "explainer") if w != me]
    others += [w for w in dict.fromkeys(r["who"] for r in results if r["kind"] == "baseline") if w != me]
    sizes = sorted({r["size"] for r in results if r["who"] == me and r["size"] is not None})
    differences = []
    for size in sizes:
        for other in others:
            other_size = size if (other, size) in by_cell else None
            if (other, other_size) not in by_cell:
                continue
            mine, theirs = by_cell[(me, size)], by_cell[(other, other_size)]
            if other_size is not None:  # paired seed by seed
                shared = {r["seed"] for r in mine} & {r["seed"] for r in theirs}
                mine = [r for r in mine if r["seed"] in shared]
                theirs = [r for r in theirs if r["seed"] in shared]
            if not mine or not theirs:
                continue
            for split in splits:
                for metric in metrics:
                    entry = _difference(mine, theirs, split, metric, samples, seed, margin)
                    if entry is not None:
                        differences.append(
                            {
                                "self": me,
                                "other": other,
                                "other_kind": theirs[0]["kind"],
                                "size": size,
                                "other_size": other_size,
                                "split": split,
                                "metric": metric,
                                "seeds": len({r["seed"] for r in mine}),
                                **entry,
                            }
                        )
    _adjust_within(differences, "p_holm", lambda d: d["size"])
    _adjust_within(differences, "p_holm_by_size", lambda d: (d["split"], d["metric"]))
    return differences


def _adjust_within(differences: list[dict], key: str, family) -> None:
    """Set each difference's ``key`` to its p-value Holm-adjusted within its family (those alike by ``family``)."""
    families: dict = defaultdict(list)
    for entry in differences:
        families[family(entry)].append(entry)
    for members in families.values():
        for entry, adjusted in zip(members, holm_adjust([d["p_value"] for d in members])):
            entry[key] = _rounded_p(adjusted)


def _rounded_p(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _difference(
    mine: list[dict], theirs: list[dict], split: str, metric: str, samples: int, seed: int, margin: float
) -> dict | None:
    """self − X of one metric on one split: the difference, its interval, and its p-values (unadjusted)."""
    both = mine + theirs
    if any(split not in r["splits"] or metric not in r["splits"][split]["metrics"] for r in both):
        return None
    runs_a, runs_b = [bootstrap_run(r, split) for r in mine], [bootstrap_run(r, split) for r in theirs]
    statistic = _statistic(both, split, metric) if all(runs_a) and all(runs_b) else None
    difference = low = high = p_value = p_equivalence = None
    if statistic is not None:  # as SeedGroupBootstrap.paired_difference, keeping the replicates for the tests
        bootstrap = _bootstrap_over(both, split, samples, seed)
        mine_value, their_value = bootstrap.estimate(runs_a, statistic), bootstrap.estimate(runs_b, statistic)
        if mine_value is not None and their_value is not None:
            replicates = bootstrap.paired_replicates(runs_a, runs_b, statistic)
            difference, (low, high) = mine_value - their_value, percentile_interval(replicates, LEVEL)
            p_value, p_equivalence = bootstrap_p_value(replicates), equivalence_p_value(replicates, margin)
    else:  # no per-row scores: the difference of the means over seeds, without interval
        means = []
        for cell in (mine, theirs):
            values = [v for v in (reported_value(r, split, metric) for r in cell) if v is not None]
            means.append(sum(values) / len(values) if values else None)
        difference = None if None in means else means[0] - means[1]
        low = high = None
    excludes = None if low is None or high is None else bool(low > 0 or high < 0)
    return {
        "difference": rounded(difference),
        "ci_low": rounded(low),
        "ci_high": rounded(high),
        "excludes_zero": excludes,
        "p_value": _rounded_p(p_value),
        "p_equivalence": _rounded_p(p_equivalence),
    }


def every_metric_name(results: list[dict], splits: list[str]) -> list[str]:
    """Every metric the cells can give: their statistics' keys (in order), then extra scores, then any other."""
    names: list[str] = []
    for result in results:
        for split in splits:
            scored = result["splits"].get(split)
            if scored is None:
                continue
            per_row = scored.get("per_row") or {}
            names += list(METRIC_STATISTICS.get(per_row.get("metric"), {}))
            columns = per_row.get("statistics") or {}
            names += sorted(c.removesuffix(ROWS_SUFFIX) for c in columns if c.endswith(ROWS_SUFFIX))
    for result in results:
        for split in splits:
            reported = (result["splits"].get(split) or {}).get("metrics") or {}
            names += [name for name, value in reported.items() if value is None or isinstance(value, Real)]
    return list(dict.fromkeys(names))


def every_metric(results: list[dict], splits: list[str], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> dict:
    """Summary rows of every metric at the explainers' largest training size: ``size``, ``metrics`` and ``rows``."""
    sizes = [r["size"] for r in results if r["kind"] == "explainer" and r["size"] is not None]
    largest = max(sizes) if sizes else None
    chosen = [r for r in results if r["size"] in (largest, None)]
    metrics = every_metric_name(chosen, splits)
    return {"size": largest, "metrics": metrics, "rows": summarize(chosen, splits, tuple(metrics), samples, seed)}


def group_kind(results: list[dict]) -> str | None:
    """What the bootstrap resampled as groups: ``"entity"``, ``"row"``, or None when no cell kept per-row scores."""
    kinds = set()
    for result in results:
        for scored in result["splits"].values():
            per_row = scored.get("per_row")
            if per_row and per_row.get("group") is not None:
                kinds.add("row" if list(per_row["group"]) == list(per_row.get("index", [])) else "entity")
    return "entity" if "entity" in kinds else ("row" if kinds else None)
