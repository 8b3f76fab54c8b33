"""Intervals of one evaluation: each metric's 95 % bootstrap interval over the scored rows' entities, and the paired
difference trained − baseline (or true − control vectors) with its interval, both recomputed in the same resamples of
the same rows.

``self-explain evaluate`` scores one trained explainer and its baselines on the same rows of a split; the rows of
one entity are not independent (the same subject under several layers or positions), so the bootstrap draws
entities, not rows, as the privileged-access experiment does (one seed here).
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
    """Each scored row's bootstrap group: its entity, else its own index.

    Args:
        column_names (`Sequence[str]`): The split's columns.
        entities (`Sequence`, *optional*): The ``entity`` column, when there is one.
        num_rows (`int`): The rows scored.

    Returns:
        `list`: One group per row.
    """
    if GROUP_COLUMN in column_names and entities is not None:
        return [entity or f"row {index}" for index, entity in enumerate(entities)]
    return list(range(num_rows))


def stratum_sizes(columns: Mapping[str, Sequence[float]], groups: Sequence) -> dict[str, dict[str, int]]:
    """Each ground-truth class's rows and entities, from the per-row statistics ``<class>_rows``.

    >>> stratum_sizes({"rows": [1, 1, 1], "changed_rows": [1, 0, 1], "unchanged_rows": [0, 1, 0]}, ["a", "b", "b"])
    {'changed': {'rows': 2, 'groups': 2}, 'unchanged': {'rows': 1, 'groups': 1}}

    Args:
        columns (`Mapping[str, Sequence[float]]`): One run's per-row statistics (``row_statistics``'s ``columns``).
        groups (`Sequence`): Each row's group (see `row_groups`).

    Returns:
        `dict[str, dict[str, int]]`: Per class (sorted), ``rows`` and ``groups`` (the entities with a row of it); {}
        for a metric without classes.
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
    """The intervals of every run scored on one split.

    Args:
        statistics (`Mapping`): Per run (None: the trained explainer; else the baseline's or the control's name), its
            per-row statistics as `row_statistics` gives them (``metric`` and ``columns``).
        metrics (`Mapping`): Per run, its reported metrics (their names are the ones given intervals).
        groups (`Sequence`): Each row's group (see `row_groups`); the same rows for every run.
        samples (`int`, *optional*, defaults to `BOOTSTRAP_SAMPLES`): Resamples.
        seed (`int`, *optional*, defaults to 0): Seed of the resamples.
        level (`float`, *optional*, defaults to `LEVEL`): Coverage.
        difference_key (`str`, *optional*, defaults to `"trained_minus_baseline"`): The key of the paired differences
            run None − run (``true_minus_control`` for vector controls).

    Returns:
        `dict`: Per run, ``{"groups": n, "intervals": {metric: [low, high]}, "strata": {class: {"rows", "groups"}}}``
        (strata: `stratum_sizes`, {} without classes), and for every other run when run None was scored,
        ``difference_key: {metric: [difference, low, high]}``. A metric the rows cannot give (no per-row statistic)
        is left out; a bound that is not estimable is None.
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
