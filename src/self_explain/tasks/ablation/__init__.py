"""Input ablation: would removing a span of the prompt (e.g. a hint) change the model's answer?"""

from ..causal_answers import CAUSAL_FORMAT_INSTRUCTIONS, CAUSAL_METRIC_LABELS
from ..registry import register_task
from ..spec import TaskSpec
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

register_task(
    TaskSpec(
        name="ablation",
        config_class=AblationConfig,
        build=build_ablation_dataset,
        dataset_name=DATASET_NAME,
        templates=all_templates,
        examples=ablation_examples,
        request=ablation_request,
        parse=parse_ablation,
        verify=verify_ablation,
        metric="causal_match",
        format_instructions=CAUSAL_FORMAT_INSTRUCTIONS,
        headline_metrics=("exact_match", "has_changed_macro_f1"),
        headline_reason=(
            "Exact match heads the table: it needs both the verdict (does removing the hint change the answer?) "
            "and the option chosen. Whether the answer changes rests on whether the target knows the fact, which "
            "the text does not say, so the verdict is the part only the target's own knowledge answers; the macro "
            "F1 of that verdict weighs both classes alike and counts an unparseable answer as wrong, so answering "
            "one class everywhere, or rarely answering, does not score."
        ),
        description="predicts how the target's answer changes when a span of the input (e.g. a hint) is removed",
        demo=DEMO,
        row_view=ablation_row_view,
        metric_labels=CAUSAL_METRIC_LABELS,
    )
)
