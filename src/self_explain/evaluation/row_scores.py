"""Per-row scores of a scored split, and each headline metric recomputed from their totals (for the bootstrap).

F1 or a pooled correlation is not a mean of per-row values, so each row keeps *additive* statistics (counts,
sums) from which the metric is recomputed exactly on any resample; each ``evaluate`` module declares them in
``self_explain.metrics.<m>.rows`` (a test holds them equal to its ``compute``). A task's extra scores are means
over the rows that have them.
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
    """Per row, each extra score's value (``<score>``, 0 where none) and whether it has one (``<score>:rows``)."""
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
    """``metric`` and ``columns``: every per-row statistic the task's headline metrics are recomputed from."""
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
    """Totals of per-row statistics to a metric's value (NaN if not estimable); None when the rows cannot give it."""
    columns = set(columns)
    statistic = METRIC_STATISTICS.get(metric_module, {}).get(name)
    if statistic is not None:
        return statistic
    if name in columns and name + ROWS_SUFFIX in columns:  # an extra score: the mean over the rows that have it
        return ratio(name, name + ROWS_SUFFIX)
    return None
