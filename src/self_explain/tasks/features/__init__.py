"""SAE feature descriptions: what does the direction ⟨v⟩ at layer ℓ encode?"""

from ..registry import register_task
from ..spec import TaskSpec
from .builder import DATASET_NAME, build_features_dataset
from .config import FeaturesConfig
from .demo import DEMO
from .explainer import (
    METRIC_LABELS,
    features_examples,
    features_request,
    parse_features,
    score_features,
    verify_features,
)
from .prompts import FORMAT_INSTRUCTIONS, all_templates
from .view import features_row_view

register_task(
    TaskSpec(
        name="features",
        config_class=FeaturesConfig,
        build=build_features_dataset,
        dataset_name=DATASET_NAME,
        templates=all_templates,
        examples=features_examples,
        request=features_request,
        parse=parse_features,
        verify=verify_features,
        metric="description_similarity",
        extra_scores=score_features,
        uses_vectors=True,
        format_instructions=FORMAT_INSTRUCTIONS,
        headline_metrics=("similarity", "exact_match", "simulator_correlation"),
        headline_reason=(
            "Similarity of the explanation to the feature's reference description heads the table (the paper's "
            "LM-judge score; offline, MiniLM cosine); exact description accuracy is the strict form of it, and the "
            "simulator correlation asks whether the explanation predicts where the feature fires."
        ),
        metric_labels=METRIC_LABELS,
        description="describes, in words, what a feature vector injected at a layer of the target encodes",
        demo=DEMO,
        row_view=features_row_view,
    )
)
