"""What a task declares: its :class:`TaskSpec` (builder, explainer hooks, metric, card text) and the
:class:`ExplainerExamples` its hooks produce."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch


@dataclass
class ExplainerExamples:
    """What the explainer is asked, what it should answer, and the vectors injected at its placeholders.

    Args:
        questions (`list[str]`):
            The explainer's questions, one per example.
        answers (`list[str]`, *optional*):
            The reference answers, one per question; None for pipeline inputs (nothing to compare with).
        vectors (`torch.Tensor`, *optional*):
            (n, target hidden), one per question, injected at the vector placeholder; None for text-only tasks.
        layers (`torch.Tensor`, *optional*):
            (n,) the target layer each vector was read at.
        extras (`list[dict]`, *optional*):
            Per example, what the task's extra scorer needs (e.g. held-out exemplars).
    """

    questions: list[str]
    answers: list[str] | None
    vectors: torch.Tensor | None = None  # (n, target hidden), one per question; None for text-only tasks
    layers: torch.Tensor | None = None  # (n,) the target layer each vector was read at
    extras: list[dict] | None = None  # per example, what the task's extra scorer needs (e.g. held-out exemplars)


@dataclass(frozen=True)
class DemoSpec:
    """How ``self-explain demo`` runs a task on the toy world.

    Args:
        summary (`Callable[[Path, str], list[str]]`):
            ``summary(dataset_folder, config_name)``: the lines the demo prints about the built dataset.
        build_options (`dict`):
            Options of the task's config for the demo build, besides ``target``, ``out``, ``seed`` and ``overwrite``.
        explainer (`str`, *optional*):
            The shipped explainer the demo explains and evaluates with (a toy name); None: the demo only builds.
        pipeline_input (`Callable[[dict], dict]`, *optional*):
            ``pipeline_input(row)``: the ``pipeline("self-explanation")`` input that asks about a dataset row.
        splits (`tuple[str, ...]`):
            The splits the demo evaluates on.
        order (`int`):
            Position of the task in the demo (lowest first).
    """

    summary: Callable
    build_options: dict = field(default_factory=dict)
    explainer: str | None = None
    pipeline_input: Callable | None = None
    splits: tuple[str, ...] = ("test", "ood")
    order: int = 0


@dataclass(frozen=True)
class TaskSpec:
    """What a task declares: its builder, its explainer hooks, its metric and its card text.

    Every explainer hook takes the target as a ``models.LoadedModel``.

    Args:
        name (`str`):
            The task's name, e.g. ``"patching"`` (``self-explain build <name>``).
        config_class (`type`):
            The dataclass whose fields are the builder's command-line options.
        build (`Callable`):
            ``build(config)`` -> the path of the written dataset folder.
        dataset_name (`str`):
            Hub repo name of the published dataset, e.g. ``"self-explain-patching"``.
        templates (`Callable[[], list[str]]`):
            Every explainer question/answer template, for vocabulary checks.
        examples (`Callable`, *optional*):
            ``examples(dataset, target, seed)`` -> `ExplainerExamples`, from dataset rows.
        request (`Callable`, *optional*):
            ``request(inputs: dict, target)`` -> `ExplainerExamples` of one pipeline input.
        parse (`Callable`, *optional*):
            ``parse(explanation: str)`` -> dict of parsed fields.
        verify (`Callable`, *optional*):
            ``verify(inputs: dict, target, parsed: dict)`` -> dict: the ground truth and whether the explanation held.
        metric (`str`, *optional*):
            The evaluate module scoring explanations (``self_explain.metric_path``).
        metric_input (`Callable`, *optional*):
            ``metric_input(explanation)`` -> what the metric compares (default: the explanation as is).
        extra_scores (`Callable`, *optional*):
            ``extra_scores(examples, predictions, target)`` -> dict of metrics beyond ``metric`` (e.g. a simulator's).
        uses_vectors (`bool`, *optional*, defaults to `False`):
            Whether questions carry a vector placeholder (SelfIE, nearest neighbour by vector).
        format_instructions (`str`, *optional*):
            Appended to questions by the zero-shot baseline.
        headline_metrics (`tuple[str, ...]`, *optional*, defaults to `("exact_match",)`):
            The metrics of experiments' tables and plots; the first is the headline, and picks SelfIE's scale.
        headline_reason (`str`, *optional*, defaults to `""`):
            Why these metrics head the experiment's results (stated in ``results.md``).
        max_new_tokens (`int`, *optional*, defaults to 48):
            Longest explanation generated unless the caller says otherwise.
        description (`str`, *optional*, defaults to `""`):
            Card text: what an explainer of this task does ("this explainer …").
        metric_labels (`dict[str, tuple[str, str]]`, *optional*):
            The metric keys' display names and meanings, in the order of the card's evaluation table.
        demo (`DemoSpec`, *optional*):
            How ``self-explain demo`` runs the task; None: not in the demo.
        row_view (`Callable[[dict], dict]`, *optional*):
            ``row_view(row)``: how the explanation report shows a dataset row (``tasks.row_view.ROW_VIEW``: the
            prompt's segments with the intervened one marked, details, the ground truth's class); None: the
            question alone.
        experiment_needs_dataset (`str`, *optional*):
            Why the experiment cannot build this task's dataset itself; None: it builds one with the task's defaults.
    """

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
    headline_reason: str = ""  # why these metrics head the experiment's results (stated in results.md)
    max_new_tokens: int = 48  # longest explanation generated unless the caller says otherwise
    # Card text: what an explainer of this task does ("this explainer …"), and the metric keys' display names and
    # meanings, in the order of the card's evaluation table.
    description: str = ""
    metric_labels: dict[str, tuple[str, str]] = field(default_factory=dict)
    demo: DemoSpec | None = None  # how ``self-explain demo`` runs the task; None: not in the demo
    row_view: Callable | None = None  # row_view(row) -> tasks.row_view.ROW_VIEW: a row in the explanation report
    # Why the experiment cannot build this task's dataset itself (None: it builds one with the task's defaults)
    experiment_needs_dataset: str | None = None


