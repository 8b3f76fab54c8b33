"""Per-row scores of a scored split, and each headline metric recomputed from their totals (for the bootstrap).

A metric such as has-changed F1 or a pooled correlation is not a mean of per-row values, so each row keeps
*additive* statistics instead (counts: valid, true positives, ...; sums: a row's similarity, its weights' sums of
squares, ...) from which the metric is recomputed exactly on any resample of rows
(:class:`~self_explain.utils.stats.SeedGroupBootstrap`). Each ``evaluate`` module declares its statistics beside
its own definition (``self_explain.metrics.<m>.rows``), and a test holds them equal to the module's ``compute`` on
the same rows. A task's extra scores (its ``extra_scores`` hook, e.g. the features task's simulator
correlation) are means over the rows that have them: each row keeps its own value and whether it has one.
"""

from __future__ import annotations

from dataclasses import replace

from ..metrics import METRICS
from ..metrics.row_statistics import RowStatistics, metric_row_statistics, ratio
from ..tasks import ExplainerExamples, get_task
from ..utils.stats import Statistic

# The suffix of an extra score's row-count column: ``<score>`` sums the rows' values, ``<score>:rows`` counts them.
ROWS_SUFFIX = ":rows"


# Each evaluate module's per-row statistics (``metrics/<m>/rows.py``), and its metrics as functions of their totals.
ROW_STATISTICS: dict[str, RowStatistics] = {}
METRIC_STATISTICS: dict[str, dict[str, Statistic]] = {}
for _name in METRICS:
    _declared = metric_row_statistics(_name)
    if _declared is not None:
        ROW_STATISTICS[_name], METRIC_STATISTICS[_name] = _declared


def _one_row(examples: ExplainerExamples, index: int) -> ExplainerExamples:
    def pick(values):
        return None if values is None else values[index : index + 1]

    return replace(
        examples,
        questions=examples.questions[index : index + 1],
        answers=pick(examples.answers),
        vectors=pick(examples.vectors),
        layers=pick(examples.layers),
        extras=pick(examples.extras),
    )


def extra_score_rows(
    task_name: str, examples: ExplainerExamples, predictions: list[str], target
) -> dict[str, list[float]]:
    """Per-row values of the task's extra scores (its ``extra_scores`` hook on each row alone).

    An extra score is a mean over the rows that have it: ``<score>`` holds each row's value (0 where it has none) and
    ``<score>:rows`` whether it has one.

    Args:
        task_name (`str`): A registered task.
        examples (`ExplainerExamples`): The scored examples.
        predictions (`list[str]`): One prediction per example.
        target (`LoadedModel`): The target, which the hook runs.

    Returns:
        `dict[str, list[float]]`: Two columns per extra score; {} when the task has none or its examples no extras.
    """
    task = get_task(task_name)
    if not task.implements("extra_scores") or examples.extras is None:
        return {}
    per_row = [
        task.extra_scores(_one_row(examples, i), [prediction], target) for i, prediction in enumerate(predictions)
    ]
    names = sorted({name for scores in per_row for name in scores})
    columns = {}
    for name in names:
        columns[name] = [float(scores[name]) if scores.get(name) is not None else 0.0 for scores in per_row]
        columns[name + ROWS_SUFFIX] = [float(scores.get(name) is not None) for scores in per_row]
    return columns


def row_statistics(task_name: str, examples: ExplainerExamples, predictions: list[str], explainer=None) -> dict:
    """Every per-row statistic the task's headline metrics are recomputed from, for one scored split.

    Args:
        task_name (`str`): A registered task.
        examples (`ExplainerExamples`): The scored examples (their answers are the references).
        predictions (`list[str]`): One prediction per example, as scored.
        explainer (`Explainer`, *optional*): Its target runs the task's extra scores; without it they are left out.

    Returns:
        `dict`: ``metric`` (the evaluate module's name) and ``columns`` (statistic name to one value per row).

    Raises:
        ValueError: When predictions and examples differ in number.
    """
    if len(predictions) != len(examples.questions):
        raise ValueError(f"got {len(predictions)} predictions for {len(examples.questions)} examples")
    task = get_task(task_name)
    metric_inputs = [task.metric_input(p) for p in predictions]
    rows = ROW_STATISTICS.get(task.metric)
    columns = rows(metric_inputs, list(examples.answers)) if rows is not None else {}
    if explainer is not None and task.implements("extra_scores") and examples.extras is not None:
        with explainer.target_runs() as target:
            columns.update(extra_score_rows(task_name, examples, list(predictions), target))
    return {"metric": task.metric, "columns": columns}


def metric_statistic(metric_module: str, name: str, columns) -> Statistic | None:
    """How a headline metric is recomputed from the totals of per-row statistics.

    Args:
        metric_module (`str`): The evaluate module the rows were scored with (e.g. ``causal_match``).
        name (`str`): The metric (a key of the module's output, or an extra score).
        columns (`Iterable[str]`): The statistics the rows have.

    Returns:
        `Callable` or `None`: Totals to values (NaN where not estimable); None when the rows cannot give it.
    """
    columns = set(columns)
    statistic = METRIC_STATISTICS.get(metric_module, {}).get(name)
    if statistic is not None:
        return statistic
    if name in columns and name + ROWS_SUFFIX in columns:  # an extra score: the mean over the rows that have it
        return ratio(name, name + ROWS_SUFFIX)
    return None
