"""The base :class:`Task` every task folder subclasses, the small dataclasses it holds (card text, experiment
settings, demo), and the :class:`ExplainerExamples` its hooks produce."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from ..core.models import LoadedModel
    from ..utils.recipes import Recipe


@dataclass
class ExplainerExamples:
    """What the explainer is asked, what it should answer, and the vectors injected at its placeholders.

    Args:
        questions (`list[str]`): The explainer's questions, one per example.
        answers (`list[str]`, *optional*): The reference answers, one per question; None for pipeline inputs.
        vectors (`torch.Tensor`, *optional*): (n, target hidden), injected at the vector placeholder; None: text only.
        layers (`torch.Tensor`, *optional*): (n,) the target layer each vector was read at.
        extras (`list[dict]`, *optional*): Per example, what the task's extra scorer needs (e.g. held-out exemplars).
    """

    questions: list[str]
    answers: list[str] | None
    vectors: torch.Tensor | None = None
    layers: torch.Tensor | None = None
    extras: list[dict] | None = None


@dataclass(frozen=True)
class TaskCard:
    """What the explainer card says about a task.

    Args:
        description (`str`, *optional*, defaults to `""`): What an explainer of this task does; also the build help.
        metric_labels (`dict[str, tuple[str, str]]`, *optional*): The metric keys' display names and meanings, in the
            order of the card's evaluation table.
    """

    description: str = ""
    metric_labels: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentSettings:
    """How evaluations and experiments report a task.

    Args:
        headline_metrics (`tuple[str, ...]`, *optional*, defaults to `("exact_match",)`): The metrics of tables and
            plots; the first is the headline, and picks SelfIE's scale.
        headline_reason (`str`, *optional*, defaults to `""`): Why these metrics head the results (in ``results.md``).
        needs_dataset (`str`, *optional*): Why the experiment cannot build this task's dataset itself; None: it can.
    """

    headline_metrics: tuple[str, ...] = ("exact_match",)
    headline_reason: str = ""
    needs_dataset: str | None = None


@dataclass(frozen=True)
class DemoSpec:
    """How ``self-explain demo`` runs a task on the toy world.

    Args:
        summary (`Callable[[Path, str], list[str]]`): ``summary(dataset_folder, config_name)``: the lines printed.
        build_options (`dict`): The demo build's config options besides ``target``, ``out``, ``seed``, ``overwrite``.
        explainer (`str`, *optional*): The shipped toy explainer to explain and evaluate with; None: only build.
        pipeline_input (`Callable[[dict], dict]`, *optional*): ``pipeline_input(row)``: a pipeline input about a row.
        splits (`tuple[str, ...]`): The splits the demo evaluates on.
        order (`int`): Position of the task in the demo (lowest first).
    """

    summary: Callable
    build_options: dict = field(default_factory=dict)
    explainer: str | None = None
    pipeline_input: Callable | None = None
    splits: tuple[str, ...] = ("test", "ood")
    order: int = 0


class Task:
    """An explanation task: how its dataset is built, what the explainer is asked, and how answers are scored.

    A task folder ``tasks/<name>/`` subclasses this, sets the class attributes, overrides the hooks and registers an
    instance with :func:`~self_explain.tasks.register_task`. Hooks that run the target take a ``LoadedModel``.

    Attributes:
        name (`str`): The task's name, e.g. ``"patching"`` (``self-explain build <name>``).
        config_class (`type`): The dataclass whose fields are the builder's command-line options.
        dataset_name (`str`): Hub repo name of the published dataset, e.g. ``"self-explain-patching"``.
        metric (`str`): The evaluate module scoring explanations (``self_explain.metric_path``).
        uses_vectors (`bool`): Whether questions carry a vector placeholder (SelfIE, nearest neighbour by vector).
        format_instructions (`str`, *optional*): Appended to questions by the zero-shot baseline.
        max_new_tokens (`int`): Longest explanation generated unless the caller says otherwise.
        card (`TaskCard`): The explainer card's text and metric labels.
        experiment (`ExperimentSettings`): Headline metrics and what the experiment needs.
        demo (`DemoSpec`, *optional*): How ``self-explain demo`` runs the task; None: not in the demo.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    dataset_name: ClassVar[str]
    metric: ClassVar[str]
    uses_vectors: ClassVar[bool] = False
    format_instructions: ClassVar[str | None] = None
    max_new_tokens: ClassVar[int] = 48
    card: ClassVar[TaskCard] = TaskCard()
    experiment: ClassVar[ExperimentSettings] = ExperimentSettings()
    demo: ClassVar[DemoSpec | None] = None

    def build(self, config, recipe: Recipe | None = None) -> Path:
        """Build the task's dataset; returns the written folder.

        Args:
            config: An instance of ``config_class``.
            recipe (`Recipe`, *optional*): The YAML recipe the config was read from (the provenance records it).
        """
        raise NotImplementedError(f"task {self.name!r} has no builder")

    def templates(self) -> list[str]:
        """Every explainer question/answer template, for vocabulary checks."""
        return []

    def examples(self, dataset, target: LoadedModel, seed: int = 0) -> ExplainerExamples:
        """The explainer's questions, answers and vectors, one example per dataset row.

        Args:
            dataset (`datasets.Dataset`): Rows of the task's dataset.
            target (`LoadedModel`): The target, which reads any vectors.
            seed (`int`, *optional*, defaults to 0): Seed of template choice.
        """
        raise NotImplementedError(f"task {self.name!r} cannot make explainer examples")

    def request(self, inputs: dict, target: LoadedModel) -> ExplainerExamples:
        """The explainer's question (one example, no answer) about one ``pipeline("self-explanation")`` input.

        Args:
            inputs (`dict`): The pipeline input (its ``task`` key names this task).
            target (`LoadedModel`): The target.
        """
        raise NotImplementedError(f"task {self.name!r} does not answer pipeline inputs")

    def parse(self, explanation: str) -> dict:
        """The fields an explanation states (e.g. ``changed``), for the pipeline's output; {} by default.

        Args:
            explanation (`str`): The explainer's answer.
        """
        return {}

    def verify(self, inputs: dict, target: LoadedModel, parsed: dict) -> dict:
        """The ground truth's fields of a pipeline input, and ``verified``: whether the explanation held.

        Args:
            inputs (`dict`): The pipeline input.
            target (`LoadedModel`): The target, which runs the intervention.
            parsed (`dict`): What :meth:`parse` read from the explanation.
        """
        raise NotImplementedError(f"task {self.name!r} cannot verify explanations")

    def metric_input(self, explanation: str) -> Any:
        """What ``metric`` takes as the prediction for one explanation (default: the explanation).

        Args:
            explanation (`str`): The explainer's answer.
        """
        return explanation

    def extra_scores(self, examples: ExplainerExamples, predictions: list[str], target: LoadedModel) -> dict:
        """Metrics beyond ``metric`` (e.g. a simulator's), from the examples' ``extras``; {} by default.

        Args:
            examples (`ExplainerExamples`): The scored examples.
            predictions (`list[str]`): One prediction per example.
            target (`LoadedModel`): The target, which the scorer may run.
        """
        return {}

    def row_view(self, row: dict) -> dict:
        """How the explanation report shows a dataset row (``tasks.row_view.ROW_VIEW``); default: the question.

        Args:
            row (`dict`): A row of the task's dataset.
        """
        return {"segments": [], "details": [], "label": ""}

    def implements(self, hook: str) -> bool:
        """Whether this task's class overrides a hook of :class:`Task` (e.g. ``"request"``).

        Args:
            hook (`str`): A method name, e.g. ``"examples"``.
        """
        return getattr(type(self), hook) is not getattr(Task, hook)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
