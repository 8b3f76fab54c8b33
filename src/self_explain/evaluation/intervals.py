"""Intervals of one evaluation: each metric's 95 % bootstrap interval over the scored rows' entities, and the paired
difference trained − baseline with its interval (both recomputed in the same resamples of the same rows).

``self-explain evaluate`` scores one trained explainer and its baselines on the same rows of a split; the rows of
one entity are not independent (the same subject under several layers or positions), so the bootstrap draws
entities, not rows, as the privileged-access experiment does (one seed here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..core.stats import BootstrapRun, SeedGroupBootstrap
from .report import BOOTSTRAP_SAMPLES, LEVEL
from .row_scores import metric_statistic

GROUP_COLUMN = "entity"  # what the intervals resample: a row's entity, or the row itself when there is no such column


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


def split_intervals(statistics: Mapping[str | None, dict], metrics: Mapping[str | None, Mapping[str, float | None]],
                    groups: Sequence, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0, level: float = LEVEL
                    ) -> dict[str | None, dict]:
    """The intervals of every run scored on one split.

    Args:
        statistics (`Mapping`): Per run (None: the trained explainer; else the baseline's name), its per-row
            statistics as `row_statistics` gives them (``metric`` and ``columns``).
        metrics (`Mapping`): Per run, its reported metrics (their names are the ones given intervals).
        groups (`Sequence`): Each row's group (see `row_groups`); the same rows for every run.
        samples (`int`, *optional*, defaults to `BOOTSTRAP_SAMPLES`): Resamples.
        seed (`int`, *optional*, defaults to 0): Seed of the resamples.
        level (`float`, *optional*, defaults to `LEVEL`): Coverage.

    Returns:
        `dict`: Per run, ``{"groups": n, "intervals": {metric: [low, high]}}``, and for a baseline when the trained
        explainer was scored, ``"trained_minus_baseline": {metric: [difference, low, high]}``. A metric the rows
        cannot give (no per-row statistic) is left out; a bound that is not estimable is None.
    """
    if not groups:  # nothing scored: no interval to give
        return {who: {"groups": 0, "intervals": {}} for who in statistics}
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
            intervals[name] = [_rounded(low), _rounded(high)]
            if who is not None and None in runs:
                difference = bootstrap.paired_difference([runs[None]], [runs[who]], statistic, level)
                differences[name] = [_rounded(value) for value in difference]
        found[who] = {"groups": len(bootstrap.group_index), "intervals": intervals}
        if who is not None and None in runs:
            found[who]["trained_minus_baseline"] = differences
    return found


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
