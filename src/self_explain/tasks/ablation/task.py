"""The ablation task: would removing a span of the prompt (e.g. a hint) change the model's answer?"""

from ..base import ExperimentSettings, Task, TaskCard
from ..causal_answers import CAUSAL_FORMAT_INSTRUCTIONS, CAUSAL_METRIC_LABELS
from .builder import DATASET_NAME, build_ablation_dataset
from .config import AblationConfig
from .demo import DEMO
from .explainer import (
    ablation_examples,
    ablation_request,
    parse_ablation,
    verify_ablation,
)
from .prompts import all_templates
from .view import ablation_row_view


class AblationTask(Task):
    """Input ablation (:class:`~self_explain.tasks.Task` hooks backed by this folder's modules)."""

    name = "ablation"
    config_class = AblationConfig
    dataset_name = DATASET_NAME
    metric = "causal_match"
    format_instructions = CAUSAL_FORMAT_INSTRUCTIONS
    card = TaskCard(
        description="predicts how the target's answer changes when a span of the input (e.g. a hint) is removed",
        metric_labels=CAUSAL_METRIC_LABELS,
    )
    experiment = ExperimentSettings(
        headline_metrics=("exact_match", "has_changed_macro_f1"),
        headline_reason=(
            "Exact match heads the table: it needs both the verdict (does removing the hint change the answer?) "
            "and the option chosen. Whether the answer changes rests on whether the target knows the fact, which "
            "the text does not say, so the verdict is the part only the target's own knowledge answers; the macro "
            "F1 of that verdict weighs both classes alike and counts an unparseable answer as wrong, so answering "
            "one class everywhere, or rarely answering, does not score."
        ),
    )
    demo = DEMO

    def build(self, config, recipe=None):
        return build_ablation_dataset(config, recipe)

    def templates(self):
        return all_templates()

    def examples(self, dataset, target, seed=0):
        return ablation_examples(dataset, target, seed)

    def request(self, inputs, target):
        return ablation_request(inputs, target)

    def parse(self, explanation):
        return parse_ablation(explanation)

    def verify(self, inputs, target, parsed):
        return verify_ablation(inputs, target, parsed)

    def row_view(self, row):
        return ablation_row_view(row)
