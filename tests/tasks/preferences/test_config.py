"""``PreferencesConfig``: how the target decides (``--reasoning``), by default from the target."""

import json

import pytest

from self_explain.tasks.preferences import PreferencesConfig
from self_explain.tasks.preferences.config import REASONING_TOKENS, default_reasoning
from self_explain.tasks.preferences.instill import INSTILLED_RECORD
from self_explain.toyworld.decisions import WORKED_SUM_TOKENS


def test_toy_models_and_models_instilled_from_them_write_a_worked_sum_by_default(tmp_path):
    assert default_reasoning("toy-target") == "worked-sum"
    assert default_reasoning("smollm2-135m") == default_reasoning("org/some-model") == "none"
    (tmp_path / INSTILLED_RECORD).write_text(json.dumps({"reasoning": "worked-sum"}))
    assert default_reasoning(str(tmp_path)) == "worked-sum"
    (tmp_path / INSTILLED_RECORD).write_text(json.dumps({"fingerprint": "an older record"}))
    assert default_reasoning(str(tmp_path)) == "none"
    assert REASONING_TOKENS == {"none": 0, "worked-sum": WORKED_SUM_TOKENS}


def test_reasoning_defaults_by_target_and_can_be_turned_off():
    assert PreferencesConfig(target="toy-target", output_dir="x").reasoning == "worked-sum"
    assert PreferencesConfig(target="smollm2-135m", output_dir="x").reasoning == "none"
    assert PreferencesConfig(target="toy-target", output_dir="x", reasoning="none").reasoning == "none"
    # A user's scenarios have values and weights a worked sum cannot write.
    assert PreferencesConfig(target="toy-target", output_dir="x", scenarios="mine.json").reasoning == "none"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            dict(target="toy-target", reasoning="chain-of-thought"),
            r"--reasoning must be one of \['none', 'worked-sum'\]",
        ),
        (
            dict(target="smollm2-135m", reasoning="worked-sum"),
            "--reasoning worked-sum is the toy world's decision format",
        ),
        (
            dict(target="toy-target", reasoning="worked-sum", scenarios="mine.json"),
            "needs a toy target and its built-in",
        ),
    ],
)
def test_bad_reasoning_is_named(options, message):
    with pytest.raises(ValueError, match=message):
        PreferencesConfig(output_dir="x", **options)


def test_replayed_native_choices_are_on_by_default_and_cannot_be_negative():
    assert PreferencesConfig(target="toy-target", output_dir="x").replay_choices == 50
    assert PreferencesConfig(target="toy-target", output_dir="x", replay_choices=0).replay_choices == 0
    with pytest.raises(ValueError, match="--replay-choices must be 0 or more, got -1"):
        PreferencesConfig(target="toy-target", output_dir="x", replay_choices=-1)


@pytest.mark.parametrize("target", ["toy-twin", "toy-large"])
def test_a_facts_only_toy_target_is_refused_before_any_work(target):
    with pytest.raises(
        ValueError, match=rf"--target {target} is a toy model of the facts-only world .* Use toy-target or toy-other"
    ):
        PreferencesConfig(target=target, output_dir="x")
