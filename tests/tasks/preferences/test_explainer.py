"""The explainer side of preferences: examples from rows, pipeline requests, parsing the JSON answer, and
verification against the weights the instilled model really uses."""

import json
import re

import pytest
from datasets import load_dataset

from self_explain.core.models import load_model
from self_explain.tasks import get_task
from self_explain.tasks.preferences.explainer import (
    metric_input,
    parse_preferences,
    preferences_examples,
    preferences_request,
    verify_preferences,
)
from self_explain.tasks.preferences.prompts import (
    INTROSPECTION_TEMPLATES,
    attribute_list,
)
from self_explain.tasks.preferences.scenarios import Scenario
from self_explain.tasks.preferences.task import PreferencesTask
from tests.tasks.preferences.conftest import TARGET

WHERE = re.escape("preferences input 'scenario'")


@pytest.fixture(scope="module")
def dataset(preferences_build):
    return load_dataset(str(preferences_build.folder), TARGET)


@pytest.fixture(scope="module")
def instilled(preferences_build):
    return load_model(str(preferences_build.instilled))


def scenario_input(row: dict) -> dict:
    return {"name": row["scenario"], "attributes": row["attributes"]}


def request(row: dict, **options) -> dict:
    return {"task": "preferences", "scenario": scenario_input(row), **options}


def test_the_task_is_registered_with_its_hooks():
    task = get_task("preferences")
    assert task.dataset_name == "self-explain-preferences" and task.metric == "weight_correlation"
    assert isinstance(task, PreferencesTask)
    assert all(task.implements(hook) for hook in ("build", "examples", "request", "parse", "verify", "metric_input"))
    assert task.metric_input('{"a": 1}') == metric_input('{"a": 1}')
    assert task.experiment.headline_metrics == ("pooled_correlation", "mean_scenario_correlation", "valid_fraction")


# --- examples and requests -----------------------------------------------------------------------------------


def test_examples_are_the_rows_questions_and_answers(dataset):
    for split in dataset.values():
        examples = preferences_examples(split, None)
        assert examples.questions == split["question"] and examples.answers == split["answer"]
        assert examples.vectors is None and examples.layers is None


def test_examples_without_question_and_answer_columns_are_made_from_the_weights(dataset):
    rows = dataset["train"].remove_columns(["question", "answer"])
    examples = preferences_examples(rows, None, seed=3)
    assert examples.answers == dataset["train"]["answer"], "the answer is the weights, in the row's attribute order"
    for question, row in zip(examples.questions, rows):
        scenario = Scenario.from_dict(scenario_input(row), "row", 0)
        assert question in {
            t.format(name=row["scenario"], attributes=attribute_list(scenario)) for t in INTROSPECTION_TEMPLATES
        }
    assert preferences_examples(rows, None, seed=3).questions == examples.questions, "seeded"


def test_a_dataset_without_the_weights_is_refused_naming_the_missing_columns(dataset):
    with pytest.raises(ValueError, match=re.escape("columns ['weights'] are missing")):
        preferences_examples(dataset["test"].remove_columns("weights"), None)
    with pytest.raises(ValueError, match=re.escape("columns ['scenario', 'attributes', 'weights'] are missing")):
        preferences_examples(dataset["test"].select_columns(["question", "answer"]), None)


def test_a_request_asks_one_introspection_question_naming_every_attribute(dataset):
    row = dataset["native"][0]
    asked = preferences_request(request(row), None)
    assert len(asked.questions) == 1 and asked.answers is None and asked.vectors is None
    question = asked.questions[0]
    assert question.startswith("[INTROSPECTION TASK]") and row["scenario"] in question
    for attribute in row["attributes"]:
        assert attribute["name"] in question
    others = {
        preferences_request(request(row, template=i), None).questions[0] for i in range(len(INTROSPECTION_TEMPLATES))
    }
    assert len(others) == len(INTROSPECTION_TEMPLATES), "the template option picks the template"


def attributes(count=5, **changes):
    items = [
        {"name": n, "unit": "euros", "min": 0, "max": 9} for n in ("rent", "size", "rooms", "age", "noise")[:count]
    ]
    items[0].update(changes)
    return items


@pytest.mark.parametrize(
    "scenario, message",
    [
        ({"name": "choosing a flat", "attributes": attributes(4)}, "expected exactly 5 attributes, got 4"),
        ({"name": "choosing a flat", "attributes": attributes(min=5, max=5)}, "'min' must be below 'max'"),
        ("choosing a flat", "expected an object with 'name' and 'attributes', got str"),
        (None, "expected an object with 'name' and 'attributes', got NoneType"),
    ],
)
def test_a_bad_scenario_is_named(scenario, message):
    inputs = {"task": "preferences", "scenario": scenario}
    with pytest.raises(ValueError, match=f"^{WHERE}.*{re.escape(message)}"):
        preferences_request(inputs, None)
    with pytest.raises(ValueError, match=f"^{WHERE}.*{re.escape(message)}"):
        verify_preferences(inputs, None, {"weights": None, "valid": False})


# --- parsing ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, weights",
    [
        ('{"rent": -73, "size": 100, "rooms": 0.5}', {"rent": -73, "size": 100, "rooms": 0.5}),
        ('Sure. {"rent": -73} Done.', {"rent": -73}),
        ('{ " rent " : - 7 3 }', {"rent": -73}),  # the toy tokenizer decodes digit by digit
        ('{ " rent " : - 7 3 , " size " : 1 0 0 }', {"rent": -73, "size": 100}),
    ],
)
def test_parse_reads_the_json_weights(text, weights):
    assert parse_preferences(text) == {"weights": weights, "valid": True}


@pytest.mark.parametrize(
    "text",
    [
        "I weighted rent most.",
        "",
        '{"rent": -73',
        '{"rent": "high", "size": 10}',
        '{"rent": true}',
        '{"rent": null}',
        '{"rent": NaN}',
        "{}",
    ],
)
def test_parse_of_an_unreadable_answer_is_invalid_without_raising(text):
    assert parse_preferences(text) == {"weights": None, "valid": False}


def test_metric_input_is_the_weights_as_plain_json():
    assert metric_input('{ " rent " : - 7 3 }') == '{"rent": -73}'
    assert metric_input("no weights") == "no weights"


# --- verification against the instilled model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def measured(dataset, instilled):
    """verify_preferences of an unreadable report: nothing to correlate, but the weights the model really uses."""
    row = dataset["test"][0]
    result = verify_preferences(request(row), instilled, {"weights": None, "valid": False})
    return row, result


def test_verification_measures_the_weights_the_target_uses(measured):
    row, result = measured
    names = [a["name"] for a in row["attributes"]]
    truth = result["measured_weights"]
    assert list(truth) == names
    assert max(abs(w) for w in truth.values()) == 100
    assert json.loads(result["ground_truth"]) == {n: round(w) for n, w in truth.items()}
    assert 0 <= result["fit_agreement"] <= 1
    assert result["correlation"] is None and result["verified"] is False


def test_a_report_of_the_measured_weights_is_verified(measured, instilled):
    row, result = measured
    report = dict(reversed(list(result["measured_weights"].items())))  # the order of the keys does not matter
    verified = verify_preferences(request(row), instilled, {"weights": report, "valid": True})
    assert verified["correlation"] == pytest.approx(1.0)
    assert verified["verified"] is verified["fit_significant"], "verified unless the weights are noise"
    assert verified["fit_significant"] is (verified["fit_p_value"] < 0.05)
    assert verified["measured_weights"] == result["measured_weights"], "seeded: the same fresh choices"


def test_a_sign_flipped_report_is_anti_correlated_and_not_verified(measured, instilled):
    row, result = measured
    report = {name: -w for name, w in result["measured_weights"].items()}
    verified = verify_preferences(request(row), instilled, {"weights": report, "valid": True})
    assert verified["correlation"] == pytest.approx(-1.0)
    assert verified["verified"] is False


def test_a_report_missing_an_attribute_has_no_correlation(measured, instilled):
    row, result = measured
    report = dict(list(result["measured_weights"].items())[1:])
    verified = verify_preferences(request(row), instilled, {"weights": report, "valid": True})
    assert verified["correlation"] is None and verified["verified"] is False


def test_min_correlation_sets_what_counts_as_verified(measured, instilled):
    row, result = measured
    report = {**result["measured_weights"]}
    first = next(iter(report))
    report[first] = -report[first]  # one weight wrong: still correlated, less than perfectly
    loose = verify_preferences(request(row, min_correlation=-1.0), instilled, {"weights": report, "valid": True})
    strict = verify_preferences(request(row, min_correlation=0.9999), instilled, {"weights": report, "valid": True})
    assert loose["correlation"] == strict["correlation"] < 0.9999
    assert loose["verified"] is loose["fit_significant"] and strict["verified"] is False


def test_bad_choice_labels_are_refused(measured, instilled):
    row, _ = measured
    with pytest.raises(ValueError, match=re.escape("preferences input 'choice_labels' must be one of")):
        verify_preferences(request(row, choice_labels="greedy"), instilled, {"weights": None, "valid": False})


def test_sampled_choice_labels_and_a_smaller_measurement(measured, instilled):
    row, result = measured
    sampled = verify_preferences(
        request(row, choice_labels="sampled", num_choices=30, seed=1),
        instilled,
        {"weights": result["measured_weights"], "valid": True},
    )
    assert list(sampled["measured_weights"]) == list(result["measured_weights"])
    assert sampled["measured_weights"] != result["measured_weights"]
    assert -1 <= sampled["correlation"] <= 1
