"""List options on the command line: ``--sizes 100,300`` as well as ``--sizes 100 300``, either spelling of the
option, and commas in other options' values left alone. Values are read as the commands read them
(``parse_with_recipe``); what a user sees of a refused value, through ``main``."""

import json

import pytest
from transformers import HfArgumentParser

from self_explain.cli import ExplainArgs, main
from self_explain.cli_options import parse_with_recipe
from self_explain.evaluation.evaluator import EvaluateConfig
from self_explain.evaluation.experiment import ExperimentConfig
from self_explain.utils.arguments import split_list_values


def parse(config_class, prog, argv):
    return parse_with_recipe(config_class, prog, argv)[0]


def split_values(config_class, argv):
    return split_list_values(HfArgumentParser(config_class), argv)


REQUIRED = ["--task", "patching", "--output_dir", "experiment"]


def parse_experiment(*argv):
    return parse(ExperimentConfig, "self-explain experiment privileged-access", [*REQUIRED, *argv])


def test_split_list_values_splits_only_the_values_of_list_options():
    argv = ["--sizes", "100,300", "--explainers", "a,b,c", "--dataset_name", "x,y", "--seeds", "2"]
    assert split_values(ExperimentConfig, argv) == [
        "--sizes",
        "100",
        "300",
        "--explainers",
        "a",
        "b",
        "c",
        "--dataset_name",
        "x,y",
        "--seeds",
        "2",
    ]


def test_split_list_values_knows_both_spellings_and_drops_empty_parts():
    assert split_values(ExperimentConfig, ["--selfie-scales", "1,,10,", "--selfie_scales", ",5"]) == [
        "--selfie-scales",
        "1",
        "10",
        "--selfie_scales",
        "5",
    ]


def test_split_list_values_keeps_space_separated_values_as_they_are():
    argv = ["--sizes", "100", "300", "--explainers", "a", "b"]
    assert split_values(ExperimentConfig, argv) == argv


def test_split_list_values_leaves_a_list_of_none_as_it_is():
    assert split_values(ExperimentConfig, ["--baselines", "none"]) == ["--baselines", "none"]


def test_comma_separated_sizes_and_explainers():
    config = parse_experiment("--sizes", "100,300", "--explainers", "toy-target,org/Other-1B")
    assert config.sizes == [100, 300]
    assert config.explainers == ["toy-target", "org/Other-1B"]


def test_space_separated_sizes():
    assert parse_experiment("--sizes", "100", "300").sizes == [100, 300]


def test_mixed_commas_and_spaces():
    assert parse_experiment("--sizes", "100,300", "1000", "--explainers", "a", "b,c").sizes == [100, 300, 1000]
    assert parse_experiment("--explainers", "a", "b,c").explainers == ["a", "b", "c"]


@pytest.mark.parametrize("option", ["--selfie-scales", "--selfie_scales"])
def test_both_spellings_of_a_list_option(option):
    assert parse_experiment(option, "1,10").selfie_scales == [1.0, 10.0]


@pytest.mark.parametrize("option", ["--eval-rows", "--eval_rows"])
def test_both_spellings_of_a_plain_option(option):
    assert parse_experiment(option, "12").eval_rows == 12


def test_baselines_and_splits_lists():
    config = parse_experiment("--baselines", "untrained,selfie", "--splits", "test,ood")
    assert config.baselines == ["untrained", "selfie"] and config.splits == ["test", "ood"]
    assert parse_experiment("--baselines", "none").baselines == []


def test_a_value_that_does_not_apply_is_still_refused_after_splitting(tmp_path, capsys):
    status = main(
        [
            "experiment",
            "privileged-access",
            "--task",
            "ablation",
            "--output_dir",
            str(tmp_path / "o"),
            "--baselines",
            "untrained,selfie",
        ]
    )
    assert status == 2
    assert "--baselines ['selfie'] do not apply to task 'ablation'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_refused_list_is_shown_split(tmp_path, capsys):
    assert (
        main(
            [
                "experiment",
                "privileged-access",
                "--task",
                "ablation",
                "--output_dir",
                str(tmp_path / "o"),
                "--sizes",
                "100,0",
            ]
        )
        == 2
    )
    assert "--sizes must be positive training row counts, got [100, 0]" in capsys.readouterr().err


def test_commas_in_other_options_are_left_alone():
    config = parse_experiment(
        "--sizes", "100,300", "--dataset_name", "data,with,commas", "--dataset-config", "a,b", "--target", "t,1"
    )
    assert config.dataset_name == "data,with,commas" and config.dataset_config == "a,b" and config.target == "t,1"
    assert config.sizes == [100, 300], "a list option before them is still split"


def test_an_option_after_a_list_ends_the_list():
    config = parse_experiment("--explainers", "a,b", "--dataset_name", "x,y", "--sizes", "5,6")
    assert config.explainers == ["a", "b"] and config.dataset_name == "x,y" and config.sizes == [5, 6]


def test_evaluate_splits_baselines_and_scales():
    config = parse(
        EvaluateConfig,
        "self-explain evaluate",
        [
            "--explainer",
            "e",
            "--dataset_name",
            "d,1",
            "--output_dir",
            "o",
            "--split",
            "test,ood",
            "--baseline",
            "untrained,nearest-neighbor",
            "--selfie-scales",
            "1,2.5",
        ],
    )
    assert config.split == ["test", "ood"] and config.baseline == ["untrained", "nearest-neighbor"]
    assert config.selfie_scales == [1.0, 2.5] and config.dataset_name == "d,1"


def test_an_unknown_baseline_in_a_comma_list_is_named(tmp_path, capsys):
    assert (
        main(
            [
                "evaluate",
                "--explainer",
                "e",
                "--dataset_name",
                "d",
                "--output_dir",
                str(tmp_path / "o"),
                "--baseline",
                "untrained,random",
            ]
        )
        == 2
    )
    assert "--baseline ['random'] unknown" in capsys.readouterr().err


def test_json_input_with_commas_is_not_split():
    payload = json.dumps([{"task": "patching", "text": "a, b, c"}, {"task": "ablation", "text": "d"}])
    args = parse(ExplainArgs, "self-explain explain", ["--json", payload, "--max-new-tokens", "5"])
    assert json.loads(args.json) == json.loads(payload) and args.max_new_tokens == 5


def test_a_list_value_that_does_not_parse_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "experiment",
                "privileged-access",
                "--task",
                "patching",
                "--output_dir",
                str(tmp_path / "o"),
                "--sizes",
                "100,many",
            ]
        )
    assert exited.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err


def test_comma_separated_values_after_an_equals_sign():
    assert parse_experiment("--sizes=100,300", "--explainers=a,b").sizes == [100, 300]
