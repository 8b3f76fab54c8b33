"""Each task's view of a dataset row for the explanation report (``Task.row_view``), and the shared helpers."""

import doctest

import pytest

import self_explain  # noqa: F401  (registers the tasks)
from self_explain.tasks import TASKS, row_view
from self_explain.tasks.ablation.view import ablation_row_view
from self_explain.tasks.features.view import features_row_view
from self_explain.tasks.patching.view import patching_row_view
from self_explain.tasks.preferences.view import preferences_row_view
from self_explain.tasks.row_view import layer_window


def test_the_helpers_examples_hold():
    assert doctest.testmod(row_view).failed == 0


def test_a_window_of_layers_reads_as_a_range_only_when_consecutive():
    assert layer_window([3]) == "3"
    assert layer_window([3, 4, 5]) == "3–5"
    assert layer_window([3, 5]) == "3, 5"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_registers_a_row_view(name):
    assert TASKS[name].implements("row_view")


def details(view):
    return {d["name"]: d["value"] for d in view["details"]}


def test_patching_marks_the_patched_token_and_names_the_window():
    row = {
        "input_tokens": ["<bos>", "The", " pet", " of", " Vilvak", " is"],
        "layers": [2, 3, 4],
        "patch_position": {
            "orig_pos": 4,
            "orig_text_token": " Vilvak",
            "counterfact_pos": 4,
            "counterfact_text_token": " Fenvak",
        },
        "counterfactual_text": "The pet of Fenvak is",
        "token_type": "subject",
        "original_continuation": " cat",
        "ablated_continuation": " dog",
        "is_different": True,
    }
    view = patching_row_view(row)
    assert [s["text"] for s in view["segments"] if s["marked"]] == [" Vilvak"]
    assert "".join(s["text"] for s in view["segments"]) == "<bos>The pet of Vilvak is"
    assert details(view)["layers"] == "2–4"
    assert details(view)["patched token"] == "' Vilvak' at position 4", "repr: whitespace is visible"
    assert view["label"] == "changed"
    assert patching_row_view({**row, "is_different": False})["label"] == "unchanged"
    reference = {k: v for k, v in row.items() if k not in ("layers", "token_type")}  # the reference's layout
    view = patching_row_view({**reference, "layer": [2, 3, 4]})
    assert details(view)["layers"] == "2–4" and details(view)["token type"] == "-"
    assert details(patching_row_view({**reference, "layer": 3}))["layers"] == "3"


def test_ablation_marks_the_removed_span_and_keeps_the_text_whole():
    text = "Hint from the expert: the answer is 8. Question: Which number? (A) 5 (B) 8"
    row = {
        "text": text,
        "span": {"text": text[:39], "start": 0, "end": 39},
        "choices": ["5", "8"],
        "hint_answer": "8",
        "original_choice": "8",
        "ablated_choice": "5",
        "correct_answer": "5",
        "is_different": True,
    }
    view = ablation_row_view(row)
    assert "".join(s["text"] for s in view["segments"]) == text
    assert [s["text"] for s in view["segments"] if s["marked"]] == [text[:39]]
    assert details(view)["answer without it"] == "5" and view["label"] == "changed"
    bare = ablation_row_view(
        {"text": text, "original_prediction": "8", "ablated_prediction": "5", "is_different": True}
    )
    assert bare["segments"] == [{"text": text, "marked": False}] and details(bare)["answer without it"] == "5"


def test_features_marks_the_most_active_token_of_the_first_top_exemplar():
    exemplars = [
        {"tokens": ["a", "b"], "activations": [9.0, 0.0], "kind": "random", "held_out": False},
        {"tokens": ["I", "keep", "a", "dog"], "activations": [0.0, 1.0, 0.5, 7.0], "kind": "top", "held_out": False},
    ]
    row = {
        "exemplars": exemplars,
        "layer": 2,
        "feature": 11,
        "sae": "saes/layer_2",
        "score": 0.5,
        "activation_frequency": 0.01,
    }
    view = features_row_view(row)
    assert [s["text"] for s in view["segments"] if s["marked"]] == ["dog"]
    assert details(view)["feature"] == "11" and view["label"] == ""
    assert features_row_view({**row, "exemplars": []})["segments"] == []


def test_preferences_shows_the_scenario_and_labels_its_kind():
    row = {
        "scenario": "choosing a flat in Peru",
        "kind": "instilled",
        "fit_p_value": 0.002,
        "fit_agreement": 0.9,
        "attributes": [{"name": "rent", "unit": "euros", "min": 0.0, "max": 4.0}],
    }
    view = preferences_row_view(row)
    assert view["segments"] == [{"text": "choosing a flat in Peru", "marked": False}]
    assert details(view)["attributes"] == "rent (euros, 0 to 4)" and view["label"] == "instilled"
