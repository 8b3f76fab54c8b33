"""The explainer side of preference introspection: text only (no vector); the answer is JSON of weights."""

from __future__ import annotations

import math
import random

from ...core.models import LoadedModel
from ...utils.stats import pearson_correlation
from ..base import ExplainerExamples
from .choices import CHOICE_LABELS, measure_weights
from .config import REASONING_TOKENS, default_reasoning
from .prompts import (
    canonical_weights_text,
    introspection_question,
    read_weights,
    weights_answer,
)
from .scenarios import Attribute, Scenario

REQUIRED_COLUMNS = ("scenario", "attributes", "weights")
DEFAULT_MIN_CORRELATION = 0.5  # a report "holds" (verified) when it correlates this well with the measured weights


def _row_scenario(row: dict) -> Scenario:
    return Scenario(
        row["scenario_id"] if "scenario_id" in row else 0,
        row["scenario"],
        tuple(Attribute(a["name"], a["unit"], a["min"], a["max"]) for a in row["attributes"]),
    )


def preferences_examples(dataset, target: LoadedModel, seed: int = 0) -> ExplainerExamples:
    """The explainer's examples of a preferences dataset (the task's ``examples`` hook); text only, no vectors.

    A row without ``question``/``answer`` gets them from the templates and its ``weights``.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"the dataset is not a preferences dataset: columns {missing} are missing (it has "
            f"{sorted(dataset.column_names)})"
        )
    questions, answers = [], []
    for index, row in enumerate(dataset.to_list()):
        scenario = _row_scenario(row)
        questions.append(row.get("question") or introspection_question(scenario, random.Random(f"{seed}:{index}")))
        answers.append(row.get("answer") or weights_answer(scenario, row["weights"]))
    return ExplainerExamples(questions, answers)


def request_scenario(inputs: dict) -> Scenario:
    """The scenario of a pipeline input, validated."""
    return Scenario.from_dict(inputs.get("scenario"), "preferences input 'scenario'", 0)


def preferences_request(inputs: dict, target: LoadedModel) -> ExplainerExamples:
    """The explainer's question for one pipeline input (the task's ``request`` hook)."""
    scenario = request_scenario(inputs)
    return ExplainerExamples([introspection_question(scenario, int(inputs.get("template", 0)))], None)


def parse_preferences(explanation: str) -> dict:
    """The ``parse`` hook: ``weights`` (attribute -> number; None without a readable JSON object) and ``valid``."""
    reported = read_weights(explanation)
    valid = (
        reported is not None
        and bool(reported)
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in reported.values()
        )
    )
    return {"weights": reported if valid else None, "valid": valid}


def verify_preferences(inputs: dict, target: LoadedModel, parsed: dict) -> dict:
    """Measure the weights the target really uses in the scenario (fresh choices, logistic fit) and correlate.

    Options in ``inputs``: ``num_choices`` (default 100), ``seed`` (0), ``choice_labels`` ("probability":
    the target's P(A); "sampled": one choice drawn from it per pair), ``reasoning`` (how the target decides, see
    `PreferencesConfig`; default: by the target, `default_reasoning`) and ``min_correlation`` (0.5). ``verified``
    also needs a significant fit: a report that matches noise is not verified.
    """
    scenario = request_scenario(inputs)
    labels = inputs.get("choice_labels", "probability")
    if labels not in CHOICE_LABELS:
        raise ValueError(f"preferences input 'choice_labels' must be one of {CHOICE_LABELS}, got {labels!r}")
    reasoning = inputs.get("reasoning") or default_reasoning(target.name)
    if reasoning not in REASONING_TOKENS:
        raise ValueError(f"preferences input 'reasoning' must be one of {sorted(REASONING_TOKENS)}, got {reasoning!r}")
    measured = measure_weights(
        target,
        [scenario],
        num_choices=int(inputs.get("num_choices", 100)),
        seed=int(inputs.get("seed", 0)),
        labels=labels,
        progress=False,
        reasoning_tokens=REASONING_TOKENS[reasoning],
    )[0]
    truth = dict(zip(scenario.attribute_names, measured.weights))
    reported = parsed.get("weights") or {}
    complete = parsed["valid"] and all(name in reported for name in truth)
    correlation = pearson_correlation([reported[n] for n in truth], list(truth.values())) if complete else None
    threshold = float(inputs.get("min_correlation", DEFAULT_MIN_CORRELATION))
    return {
        "ground_truth": weights_answer(scenario, measured.weights),
        "measured_weights": truth,
        "fit_agreement": measured.fit_agreement,
        "fit_p_value": measured.fit_p_value,
        "fit_significant": measured.significant,
        "correlation": correlation,
        "verified": correlation is not None and correlation >= threshold and measured.significant,
    }


def metric_input(explanation: str) -> str:
    """What the metric compares (the task's ``metric_input`` hook): the weights as plain JSON when readable."""
    return canonical_weights_text(explanation)
