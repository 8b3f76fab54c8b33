"""The patching task: would writing a counterfactual activation here change the model's output?"""

from ..base import ExperimentSettings, Task, TaskCard
from ..causal_answers import CAUSAL_FORMAT_INSTRUCTIONS, CAUSAL_METRIC_LABELS
from .builder import DATASET_NAME, build_patching_dataset
from .config import PatchingConfig
from .demo import DEMO
from .explainer import (
    parse_patching,
    patching_examples,
    patching_request,
    verify_patching,
)
from .prompts import all_templates
from .view import patching_row_view


class PatchingTask(Task):
    """Activation patching (:class:`~self_explain.tasks.Task` hooks backed by this folder's modules)."""

    name = "patching"
    config_class = PatchingConfig
    dataset_name = DATASET_NAME
    metric = "causal_match"
    uses_vectors = True
    format_instructions = CAUSAL_FORMAT_INSTRUCTIONS
    card = TaskCard(
        description=(
            "predicts how the target's next-token output changes when the residual stream at a layer "
            "window and token is patched with the activation from a counterfactual input"
        ),
        metric_labels=CAUSAL_METRIC_LABELS,
    )
    experiment = ExperimentSettings(
        headline_metrics=("changed_content_match", "unchanged_exact_match", "exact_match"),
        headline_reason=(
            "Content match on the changed rows heads the table: on those rows the patch moved the target's output, "
            "and only the patched vector says where to, so an explainer that ignores the vector is at chance there. "
            "The unchanged rows (most of the split) name the target's own output on the text, which an explainer "
            "can answer without the vector: their exact match is shown apart, and the overall exact match (the "
            "paper's headline, a mix of both) for comparison with the paper."
        ),
    )
    demo = DEMO

    def build(self, config, recipe=None):
        return build_patching_dataset(config, recipe)

    def templates(self):
        return all_templates()

    def examples(self, dataset, target, seed=0):
        return patching_examples(dataset, target, seed)

    def request(self, inputs, target):
        return patching_request(inputs, target)

    def parse(self, explanation):
        return parse_patching(explanation)

    def verify(self, inputs, target, parsed):
        return verify_patching(inputs, target, parsed)

    def row_view(self, row):
        return patching_row_view(row)
