"""The per-row predictions ``self-explain evaluate`` writes (``predictions-<split>[-<who>].parquet``): the one
declaration of their columns, and how they are written and read.
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
    """The task's view of each dataset row; empty views (a warning, never an error) when the rows lack a column."""
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
    """One scored run's predictions as ``PREDICTION_FEATURES`` declares them; ``correct`` None without statistics."""
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
    """Write a ``prediction_table`` as Parquet, atomically."""
    write_atomically(path, lambda tmp: table.to_parquet(tmp))


def read_predictions(path: Path) -> list[dict]:
    """The rows of a predictions file; columns an older file lacks are empty (``row`` None)."""
    import pyarrow.parquet as pq

    defaults = {"row": None, "correct": None, "row_score": None, "view": {"segments": [], "details": [], "label": ""}}
    return [{**defaults, **row} for row in pq.read_table(path).to_pylist()]
