"""What a task declares: its :class:`TaskSpec` (builder, explainer hooks, metric, card text) and the
:class:`ExplainerExamples` its hooks produce."""

from __future__ import annotations

from dataclasses import dataclass
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


