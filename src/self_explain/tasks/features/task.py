"""The features task: what does the direction ⟨v⟩ at layer ℓ encode?"""

from ..base import ExperimentSettings, Task, TaskCard
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


class FeaturesTask(Task):
    """SAE feature descriptions (:class:`~self_explain.tasks.Task` hooks backed by this folder's modules)."""

    name = "features"
    config_class = FeaturesConfig
    dataset_name = DATASET_NAME
    metric = "description_similarity"
    uses_vectors = True
    format_instructions = FORMAT_INSTRUCTIONS
    card = TaskCard(
        description="describes, in words, what a feature vector injected at a layer of the target encodes",
        metric_labels=METRIC_LABELS,
    )
    experiment = ExperimentSettings(
        headline_metrics=("similarity", "exact_match", "simulator_correlation"),
        headline_reason=(
            "Similarity of the explanation to the feature's reference description heads the table (the paper's "
            "LM-judge score; offline, MiniLM cosine); exact description accuracy is the strict form of it, and the "
            "simulator correlation asks whether the explanation predicts where the feature fires."
        ),
    )
    demo = DEMO

    def build(self, config, recipe=None):
        return build_features_dataset(config, recipe)

    def templates(self):
        return all_templates()

    def examples(self, dataset, target, seed=0):
        return features_examples(dataset, target, seed)

    def request(self, inputs, target):
        return features_request(inputs, target)

    def parse(self, explanation):
        return parse_features(explanation)

    def verify(self, inputs, target, parsed):
        return verify_features(inputs, target, parsed)

    def extra_scores(self, examples, predictions, target):
        return score_features(examples, predictions, target)

    def row_view(self, row):
        return features_row_view(row)
