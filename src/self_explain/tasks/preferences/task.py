"""The preferences task (Plunkett et al. 2025): instil decision weights, measure them, report them as JSON."""

from ..base import ExperimentSettings, Task, TaskCard
from .builder import DATASET_NAME, build_preferences_dataset
from .config import PreferencesConfig
from .demo import DEMO
from .explainer import (
    metric_input,
    parse_preferences,
    preferences_examples,
    preferences_request,
    verify_preferences,
)
from .prompts import FORMAT_INSTRUCTIONS, all_templates
from .view import preferences_row_view


class PreferencesTask(Task):
    """Preference introspection (:class:`~self_explain.tasks.Task` hooks backed by this folder's modules)."""

    name = "preferences"
    config_class = PreferencesConfig
    dataset_name = DATASET_NAME
    metric = "weight_correlation"
    format_instructions = FORMAT_INSTRUCTIONS
    max_new_tokens = 128  # a JSON object of five names and numbers
    card = TaskCard(
        description="reports, as JSON, how heavily the target weights each attribute when it chooses between options",
    )
    experiment = ExperimentSettings(
        headline_metrics=("pooled_correlation", "mean_scenario_correlation", "valid_fraction"),
        headline_reason=(
            "The Pearson r between the reported weights and the weights the model's choices reveal, pooled over "
            "every attribute of every scenario, heads the table (Plunkett et al.'s measure); the mean of each "
            "scenario's own r, and the share of answers that are valid JSON with every attribute, are shown beside it."
        ),
        needs_dataset=(
            "its builder makes a new target (the instilled model): build it with `self-explain build "
            "preferences`, and pass the instilled model it names (provenance 'target') as --target"
        ),
    )
    demo = DEMO

    def build(self, config, recipe=None):
        return build_preferences_dataset(config, recipe)

    def templates(self):
        return all_templates()

    def examples(self, dataset, target, seed=0):
        return preferences_examples(dataset, target, seed)

    def request(self, inputs, target):
        return preferences_request(inputs, target)

    def parse(self, explanation):
        return parse_preferences(explanation)

    def verify(self, inputs, target, parsed):
        return verify_preferences(inputs, target, parsed)

    def metric_input(self, explanation):
        return metric_input(explanation)

    def row_view(self, row):
        return preferences_row_view(row)
