"""Activation patching: would writing a counterfactual activation here change the model's output?"""

from ..causal_answers import CAUSAL_FORMAT_INSTRUCTIONS, CAUSAL_METRIC_LABELS
from ..registry import register_task
from ..spec import TaskSpec
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

register_task(
    TaskSpec(
        name="patching",
        config_class=PatchingConfig,
        build=build_patching_dataset,
        dataset_name=DATASET_NAME,
        templates=all_templates,
        examples=patching_examples,
        request=patching_request,
        parse=parse_patching,
        verify=verify_patching,
        metric="causal_match",
        uses_vectors=True,
        format_instructions=CAUSAL_FORMAT_INSTRUCTIONS,
        headline_metrics=("changed_content_match", "unchanged_exact_match", "exact_match"),
        headline_reason=(
            "Content match on the changed rows heads the table: on those rows the patch moved the target's output, "
            "and only the patched vector says where to, so an explainer that ignores the vector is at chance there. "
            "The unchanged rows (most of the split) name the target's own output on the text, which an explainer "
            "can answer without the vector: their exact match is shown apart, and the overall exact match (the "
            "paper's headline, a mix of both) for comparison with the paper."
        ),
        description=("predicts how the target's next-token output changes when the residual stream at a layer "
                     "window and token is patched with the activation from a counterfactual input"),
        demo=DEMO,
        row_view=patching_row_view,
        metric_labels=CAUSAL_METRIC_LABELS,
    )
)
