"""Intervals of one evaluation: 95 % bootstrap intervals over entities, and paired differences in the same resamples.

The rows of one entity are not independent (one subject under several layers or positions), so the bootstrap
draws entities, not rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..utils.stats import BootstrapRun, SeedGroupBootstrap
from .row_scores import metric_statistic
from .summary_statistics import BOOTSTRAP_SAMPLES, LEVEL, rounded

GROUP_COLUMN = "entity"  # what the intervals resample: a row's entity, or the row itself when there is no such column
# A per-row statistic ``<class>_rows`` marks the rows of one ground-truth class (causal_match: changed, unchanged).
STRATUM_ROWS_SUFFIX = "_rows"


def row_groups(column_names: Sequence[str], entities: Sequence | None, num_rows: int) -> list:
    """Each scored row's bootstrap group: its entity, else its own index."""
    if GROUP_COLUMN in column_names and entities is not None:
        return [entity or f"row {index}" for index, entity in enumerate(entities)]
    return list(range(num_rows))


def stratum_sizes(columns: Mapping[str, Sequence[float]], groups: Sequence) -> dict[str, dict[str, int]]:
    """Per ground-truth class (sorted), its ``rows`` and ``groups``, from the per-row statistics ``<class>_rows``.

    >>> stratum_sizes({"rows": [1, 1, 1], "changed_rows": [1, 0, 1], "unchanged_rows": [0, 1, 0]}, ["a", "b", "b"])
    {'changed': {'rows': 2, 'groups': 2}, 'unchanged': {'rows': 1, 'groups': 1}}
    """
    sizes = {}
    for name in sorted(columns):
        if not name.endswith(STRATUM_ROWS_SUFFIX):
            continue
        members = [group for group, value in zip(groups, columns[name], strict=True) if value]
        sizes[name[: -len(STRATUM_ROWS_SUFFIX)]] = {"rows": len(members), "groups": len(set(members))}
    return sizes


def split_intervals(
    statistics: Mapping[str | None, dict],
    metrics: Mapping[str | None, Mapping[str, float | None]],
    groups: Sequence,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
    level: float = LEVEL,
    difference_key: str = "trained_minus_baseline",
) -> dict[str | None, dict]:
    """Per run scored on a split (None: the trained explainer), its groups, intervals and strata; and differences.

    Each other run gets ``difference_key: {metric: [difference, low, high]}`` (run None − run) if run None was scored.
    A metric without per-row statistics is left out; a bound that is not estimable is None.
    """
    if not groups:  # nothing scored: no interval to give
        return {who: {"groups": 0, "intervals": {}, "strata": {}} for who in statistics}
    bootstrap = SeedGroupBootstrap([], list(dict.fromkeys(groups)), samples=samples, seed=seed)
    runs = {who: BootstrapRun(None, list(groups), stats["columns"]) for who, stats in statistics.items()}
    found: dict[str | None, dict] = {}
    for who, stats in statistics.items():
        intervals, differences = {}, {}
        for name in metrics[who]:
            statistic = metric_statistic(stats["metric"], name, stats["columns"])
            if statistic is None:
                continue
            _, low, high = bootstrap.interval([runs[who]], statistic, level)
            intervals[name] = [rounded(low), rounded(high)]
            if who is not None and None in runs:
                difference = bootstrap.paired_difference([runs[None]], [runs[who]], statistic, level)
                differences[name] = [rounded(value) for value in difference]
        found[who] = {
            "groups": len(bootstrap.group_index),
            "intervals": intervals,
            "strata": stratum_sizes(stats["columns"], groups),
        }
        if who is not None and None in runs:
            found[who][difference_key] = differences
    return found
