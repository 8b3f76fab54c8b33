"""``self-explain evaluate --vector_controls``: does the explainer read the vector?

A vector explainer is scored on the same rows with true, shuffled (a seeded derangement) and zero vectors, with
the paired differences true − control recomputed in the same resamples. Where only the vector can answer, an
explainer that reads it loses under both controls; one answering from the question text does not.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from ..core.models import resolve_model_id
from ..explainer.controls import SCORING_CONTROLS, apply_vector_control, check_scoring_controls
from ..explainer.modeling import read_metadata
from ..tasks import TASKS, ExplainerExamples, get_task
from .intervals import split_intervals

logger = logging.getLogger(__name__)

TRUE_VECTORS = "true"  # the explainer's own scoring, with the rows' vectors (``vectors`` of a result)
DIFFERENCE_KEY = "true_minus_control"  # paired differences true − control, per metric: [difference, low, high]
OPTION = "--vector_controls"


def check_vector_controls(explainer: str, task: str | None = None, revision: str | None = None) -> str:
    """Refuse ``--vector_controls`` where it cannot apply, from the explainer's metadata alone; returns the task."""
    metadata = read_metadata(resolve_model_id(explainer), revision)
    task = task or metadata.get("task")
    if task is None:
        raise ValueError(f"--task is required: explainer {explainer!r} does not say which task it explains")
    if not get_task(task).uses_vectors:
        vector_tasks = ", ".join(sorted(name for name, spec in TASKS.items() if spec.uses_vectors))
        raise ValueError(
            f"{OPTION} scores an explainer with true, shuffled and zero vectors, but task {task!r} (explainer "
            f"{explainer!r}) is text-only: its questions carry no vector. It applies to the vector tasks "
            f"({vector_tasks}); evaluate this explainer without {OPTION}"
        )
    check_scoring_controls(explainer, metadata.get("vector_control"))
    return task


def controlled_examples(examples: ExplainerExamples, seed: int) -> dict[str, ExplainerExamples]:
    """The scored examples under each scoring control (``SCORING_CONTROLS``), the questions and answers unchanged."""
    return {control: apply_vector_control(examples, control, seed) for control in SCORING_CONTROLS}


def control_results(
    split: str,
    rows: int,
    runs: Mapping[str, tuple[Mapping, dict]],
    groups: Sequence,
    seed: int = 0,
) -> list[dict]:
    """The report entries of one split's vector controls, with the paired differences true − control.

    Args:
        split (`str`): The split.
        rows (`int`): The rows scored (the same for every run).
        runs (`Mapping[str, tuple]`): Per run (``TRUE_VECTORS`` and each control), its metrics and its per-row
            statistics (``row_statistics``).
        groups (`Sequence`): Each row's bootstrap group (``row_groups``).
        seed (`int`, *optional*, defaults to 0): Seed of the resamples.

    Returns:
        `list[dict]`: One entry per run, true first: ``split``, ``vectors``, ``rows``, ``metrics``, ``groups``,
        ``strata``, ``intervals``; a control's also ``true_minus_control`` (metric to [difference, low, high]).
    """
    names = [TRUE_VECTORS, *(name for name in runs if name != TRUE_VECTORS)]
    who = {name: None if name == TRUE_VECTORS else name for name in names}
    intervals = split_intervals(
        {who[n]: runs[n][1] for n in names},
        {who[n]: runs[n][0] for n in names},
        groups,
        seed=seed,
        difference_key=DIFFERENCE_KEY,
    )
    return [
        {"split": split, "vectors": name, "rows": rows, "metrics": dict(runs[name][0]), **intervals[who[name]]}
        for name in names
    ]


def difference_label(entry: Mapping) -> str:
    """How a control's paired difference is named in tables: ``true − shuffled``."""
    return f"{TRUE_VECTORS} − {entry['vectors']}"
