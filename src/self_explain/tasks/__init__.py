"""Explanation tasks. Each task is one folder registered with :func:`register_task` when imported."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch


@dataclass
class ExplainerExamples:
    """What the explainer is asked, what it should answer, and the vectors injected at its placeholders."""

    questions: list[str]
    answers: list[str] | None
    vectors: torch.Tensor | None = None  # (n, target hidden), one per question; None for text-only tasks
    layers: torch.Tensor | None = None  # (n,) the target layer each vector was read at
    extras: list[dict] | None = None  # per example, what the task's extra scorer needs (e.g. held-out exemplars)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    config_class: type  # dataclass whose fields are the builder's command-line options
    build: Callable  # build(config) -> path of the written dataset folder
    dataset_name: str  # Hub repo name of the published dataset, e.g. "self-explain-patching"
    templates: Callable[[], list[str]]  # every explainer question/answer template, for vocabulary checks
    # The explainer side; every hook takes the target as a ``models.LoadedModel``.
    examples: Callable | None = None  # examples(dataset, target, seed) -> ExplainerExamples, from dataset rows
    request: Callable | None = None  # request(inputs: dict, target) -> ExplainerExamples of one pipeline input
    parse: Callable | None = None  # parse(explanation: str) -> dict of parsed fields
    verify: Callable | None = None  # verify(inputs: dict, target, parsed: dict) -> dict: ground truth, held
    metric: str | None = None  # the evaluate module scoring explanations (self_explain.metric_path)
    metric_input: Callable | None = None  # metric_input(explanation) -> what the metric compares (default: as is)
    # extra_scores(examples, predictions, target) -> dict of metrics beyond ``metric`` (e.g. a simulator's)
    extra_scores: Callable | None = None
    uses_vectors: bool = False  # whether questions carry a vector placeholder (SelfIE, nearest neighbour by vector)
    format_instructions: str | None = None  # appended to questions by the zero-shot baseline
    headline_metrics: tuple[str, ...] = ("exact_match",)  # tables and plots of experiments; the first picks SelfIE's scale
    max_new_tokens: int = 48  # longest explanation generated unless the caller says otherwise


TASKS: dict[str, TaskSpec] = {}


def load_split(dataset: str, config: str | None, split: str, revision: str | None = None,
               max_rows: int | None = None, seed: int = 0):
    """One split of an explanation dataset (Hub id or folder), or a seeded subsample of ``max_rows`` rows."""
    from datasets import load_dataset

    try:
        rows = load_dataset(dataset, config, split=split, revision=revision)
    except ValueError as error:
        raise ValueError(f"cannot read split {split!r} of dataset {dataset!r} config {config!r}: {error}") from error
    if max_rows is not None and max_rows < len(rows):
        rows = rows.shuffle(seed=seed).select(range(max_rows))
    if len(rows) == 0:
        raise ValueError(f"dataset {dataset!r} split {split!r} has no rows")
    return rows


def register_task(spec: TaskSpec) -> None:
    if spec.name in TASKS:
        raise ValueError(f"task {spec.name!r} is registered twice")
    TASKS[spec.name] = spec


def get_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]


def read_provenance(dataset: str | Path, config: str | None) -> dict | None:
    """A local dataset folder's provenance of ``config`` (what built it, and the model it explains), or None."""
    import json

    path = Path(dataset) / "provenance" / f"{config}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def task_of_dataset(dataset: str, revision: str | None = None) -> TaskSpec:
    """The task whose builder made ``dataset`` (a folder or Hub id), read from the card's marker."""
    from huggingface_hub import DatasetCard

    from ..hub import DATASET_MARKER_KEY

    try:
        readme = Path(dataset) / "README.md"
        if Path(dataset).is_dir() and not readme.is_file():
            raise FileNotFoundError("the folder has no README.md card")
        if not readme.is_file():
            from huggingface_hub import hf_hub_download

            readme = hf_hub_download(dataset, "README.md", repo_type="dataset", revision=revision)
        card = DatasetCard.load(readme)
        marker = card.data.to_dict().get(DATASET_MARKER_KEY)
    except Exception as error:  # a missing card, or a Hub id that cannot be reached
        raise ValueError(f"cannot tell the task of dataset {dataset!r} from its card ({error}); pass --task") from error
    for spec in TASKS.values():
        if spec.dataset_name == marker:
            return spec
    raise ValueError(f"dataset {dataset!r} was not made by a self-explain builder (card marker {marker!r}); pass --task")


def load_builtin_tasks() -> None:
    """Import the task folders, which register themselves."""
    from . import ablation, features, patching, preferences  # noqa: F401
