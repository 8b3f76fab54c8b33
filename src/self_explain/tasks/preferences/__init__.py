"""Preference introspection (Plunkett et al. 2025): instil decision weights, measure them, report them as JSON."""

from ..registry import register_task
from ..spec import TaskSpec
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

register_task(
    TaskSpec(
        name="preferences",
        config_class=PreferencesConfig,
        build=build_preferences_dataset,
        dataset_name=DATASET_NAME,
        templates=all_templates,
        examples=preferences_examples,
        request=preferences_request,
        parse=parse_preferences,
        verify=verify_preferences,
        metric="weight_correlation",
        metric_input=metric_input,
        format_instructions=FORMAT_INSTRUCTIONS,
        headline_metrics=("pooled_correlation", "mean_scenario_correlation", "valid_fraction"),
        headline_reason=(
            "The Pearson r between the reported weights and the weights the model's choices reveal, pooled over "
            "every attribute of every scenario, heads the table (Plunkett et al.'s measure); the mean of each "
            "scenario's own r, and the share of answers that are valid JSON with every attribute, are shown beside it."
        ),
        max_new_tokens=128,  # a JSON object of five names and numbers
        description="reports, as JSON, how heavily the target weights each attribute when it chooses between options",
        demo=DEMO,
        row_view=preferences_row_view,
        experiment_needs_dataset=(
            "its builder makes a new target (the instilled model): build it with `self-explain build "
            "preferences`, and pass the instilled model it names (provenance 'target') as --target"
        ),
    )
)
