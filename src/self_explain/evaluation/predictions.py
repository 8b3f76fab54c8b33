"""The per-row predictions ``self-explain evaluate`` writes (``predictions-<split>[-<who>].parquet``): the one
declaration of their columns, and how they are written and read.

Each row keeps what the explanation report shows: which dataset row it is, the explainer's question, its answer
beside the ground truth, whether the answer is right (the metric's per-row exact match, where the metric has one)
and the task's view of the row (:mod:`self_explain.tasks.row_view`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from datasets import Dataset, Features, Value

from ..tasks import ExplainerExamples, get_task
from ..tasks.row_view import ROW_VIEW
from ..utils.files import write_atomically

logger = logging.getLogger(__name__)

PREDICTION_FEATURES = Features(
    {
        "row": Value("int64"),  # the row's index in the dataset split (before any subsample)
        "question": Value("string"),  # what the explainer was asked
        "reference": Value("string"),  # the ground-truth answer
        "prediction": Value("string"),  # the explainer's answer
        "correct": Value("bool"),  # the metric's per-row exact match; None where the metric has none
        "row_score": Value("float64"),  # a graded per-row score (similarity, a scenario's r); None where none
        "view": ROW_VIEW,  # the task's view of the dataset row; empty segments when the task has no view
    }
)

# The per-row statistic (row_scores) that says a row is right, and those that grade it, first found first used.
CORRECT_COLUMN = "exact"
SCORE_COLUMNS = ("similarity", "scenario_r")
VALID_COLUMN = "valid"


def row_views(task_name: str, rows: Dataset) -> list[dict]:
    """The task's view of each dataset row (``Task.row_view``); empty views when the rows
    lack a column it reads (a warning says so: the view is for the report, and never stops an evaluation).

    Args:
        task_name (`str`): A registered task.
        rows (`datasets.Dataset`): The scored rows.

    Returns:
        `list[dict]`: One ``ROW_VIEW`` per row.
    """
    view = get_task(task_name).row_view
    empty = [{"segments": [], "details": [], "label": ""} for _ in range(len(rows))]
    try:
        return [view(row) for row in rows]
    except (KeyError, TypeError, ValueError, IndexError) as error:
        logger.warning(
            "the %s rows cannot be shown in the report (%s: %s): their views are left empty",
            task_name,
            type(error).__name__,
            error,
        )
        return empty


def prediction_table(
    examples: ExplainerExamples,
    predictions: list[str],
    statistics: dict | None = None,
    indices: list[int] | None = None,
    views: list[dict] | None = None,
) -> Dataset:
    """The predictions of one scored run as ``PREDICTION_FEATURES`` declares them.

    Args:
        examples (`ExplainerExamples`): The examples asked (their answers are the references).
        predictions (`list[str]`): One prediction per example.
        statistics (`dict`, *optional*): The run's per-row statistics (``row_scores.row_statistics``), which say
            whether each row is right and grade it; without them, ``correct`` and ``row_score`` are None.
        indices (`list[int]`, *optional*): Each example's row in the dataset split (default: 0, 1, ...).
        views (`list[dict]`, *optional*): Each row's view (``row_views``; default: empty views).

    Returns:
        `datasets.Dataset`: One row per prediction.

    Raises:
        ValueError: When the predictions, indices or views differ in number from the examples.
    """
    count = len(examples.questions)
    indices = list(range(count)) if indices is None else list(indices)
    views = [{"segments": [], "details": [], "label": ""}] * count if views is None else list(views)
    if not len(predictions) == len(indices) == len(views) == count:
        raise ValueError(
            f"{count} examples, but {len(predictions)} predictions, {len(indices)} row indices and "
            f"{len(views)} row views"
        )
    columns = (statistics or {}).get("columns") or {}
    correct = [bool(v) for v in columns[CORRECT_COLUMN]] if CORRECT_COLUMN in columns else [None] * count
    graded = next((name for name in SCORE_COLUMNS if name in columns), None)
    valid = columns.get(VALID_COLUMN, [1.0] * count)
    scores = [float(v) if graded and ok else None for v, ok in zip(columns.get(graded, [0.0] * count), valid)]
    return Dataset.from_dict(
        {
            "row": indices,
            "question": list(examples.questions),
            "reference": list(examples.answers),
            "prediction": list(predictions),
            "correct": correct,
            "row_score": scores,
            "view": views,
        },
        features=PREDICTION_FEATURES,
    )


def write_predictions(path: Path, table: Dataset) -> None:
    """Write a ``prediction_table`` as Parquet, atomically.

    Args:
        path (`Path`): The file, e.g. ``predictions-test.parquet``.
        table (`datasets.Dataset`): The table.
    """
    write_atomically(path, lambda tmp: table.to_parquet(tmp))


def read_predictions(path: Path) -> list[dict]:
    """The rows of a predictions file; a file written before the report's columns existed gets them empty.

    Args:
        path (`Path`): A ``predictions-*.parquet`` file.

    Returns:
        `list[dict]`: One dict per row with every ``PREDICTION_FEATURES`` column (``row`` None when not recorded).
    """
    import pyarrow.parquet as pq

    defaults = {"row": None, "correct": None, "row_score": None, "view": {"segments": [], "details": [], "label": ""}}
    return [{**defaults, **row} for row in pq.read_table(path).to_pylist()]
