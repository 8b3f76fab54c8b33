"""The explainer commands of the CLI: train, evaluate, explain, push."""

import json
import shutil
from unittest import mock

import pytest

from self_explain.cli import main
from self_explain.explainer.config import CHECKPOINTS
from self_explain.explainer.modeling import EXPLAINER_METADATA


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (
            "train",
            {
                "--dataset_name": "Explanation dataset",
                "--output_dir": "Folder of the trained explainer",
                "--explainer_base": "Base model of the explainer",
                "--projection": "Vector projection",
                "--resume_from_checkpoint": "'latest'",
                "--overwrite": "Replace an explainer",
                "--max-steps": "Stop after this many",
            },
        ),
        (
            "evaluate",
            {
                "--explainer": "Trained explainer",
                "--baseline": "Baselines to score too",
                "--split": "Splits to evaluate",
                "--update_card": "model card",
                "--max-rows": "subsample",
            },
        ),
        (
            "explain",
            {
                "--json": "a JSON object with a 'task' key",
                "--explainer": "shipped toy explainer",
                "--target": "Target model",
                "--verify": "Re-run the intervention",
            },
        ),
        ("push", {"--folder": "A trained explainer folder", "--repo_id": "Hub model repo", "--private": "private"}),
    ],
)
def test_help_lists_every_option_with_its_help(command, options, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps help text
    assert f"usage: self-explain {command}" in out
    for option, help_text in options.items():
        assert option in out and help_text in out, (option, help_text)


def test_top_level_help_lists_the_explainer_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "evaluate", "explain", "push"):
        assert command in out


def test_train_push_then_refuse_to_overwrite(patching_dataset_dir, random_toy_model_dir, tmp_path, capsys):
    out = tmp_path / "explainer"
    argv = [
        "train",
        "--dataset_name",
        str(patching_dataset_dir),
        "--dataset_config",
        random_toy_model_dir.name,
        "--target",
        str(random_toy_model_dir),
        "--output_dir",
        str(out),
        "--max-steps",
        "2",
        "--per-device-train-batch-size",
        "8",
        "--warmup-steps",
        "0",
        "--lora-r",
        "4",
        "--max-rows",
        "16",
    ]
    with mock.patch("self_explain.hub.api.HfApi") as api_class:
        assert main([*argv, "--push_to_hub", "--hub_model_id", "org/x", "--hub-private"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"wrote {out}")
    metadata = json.loads((out / EXPLAINER_METADATA).read_text())
    assert metadata["training_args"]["max_steps"] == 2 and metadata["training_args"]["lora_r"] == 4
    assert metadata["train_rows"] == 16
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 4
    api = api_class.return_value
    assert api.create_repo.call_args_list == [  # the local base first, so that the adapter's base resolves
        mock.call(f"org/{random_toy_model_dir.name}", repo_type="model", exist_ok=True, private=True),
        mock.call("org/x", repo_type="model", exist_ok=True, private=True),
    ]
    assert "adapter_model.safetensors" in api.upload_folder.call_args.kwargs["allow_patterns"]

    assert main(argv) == 2
    assert "self-explain train: error: --out" in capsys.readouterr().err


def test_evaluate_prints_the_report_table(trained_explainer_dir, patching_dataset_dir, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(
        [
            "evaluate",
            "--explainer",
            str(trained_explainer_dir),
            "--dataset_name",
            str(patching_dataset_dir),
            "--output_dir",
            str(out),
            "--max-rows",
            "4",
            "--max-new-tokens",
            "3",
            "--baseline",
            "untrained",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| trained | test | 4 |" in printed and "| baseline: untrained | test | 4 |" in printed
    report = json.loads((out / "report.json").read_text())
    assert [r["baseline"] for r in report["results"]] == [None, "untrained"]
    assert (out / "predictions-test-untrained.parquet").is_file()


def test_evaluate_unknown_baseline_is_an_error(trained_explainer_dir, patching_dataset_dir, tmp_path, capsys):
    code = main(
        [
            "evaluate",
            "--explainer",
            str(trained_explainer_dir),
            "--dataset_name",
            str(patching_dataset_dir),
            "--output_dir",
            str(tmp_path),
            "--baseline",
            "random",
        ]
    )
    assert code == 2
    assert "--baseline ['random'] unknown" in capsys.readouterr().err


def test_explain_prints_json(trained_explainer_dir, random_toy_model_dir, capsys):
    item = {
        "task": "patching",
        "text": "Krabun works as a",
        "counterfactual": "Revgal works as a",
        "layers": [0],
        "token": 1,
    }
    base = [
        "explain",
        "--explainer",
        str(trained_explainer_dir),
        "--target",
        str(random_toy_model_dir),
        "--max-new-tokens",
        "4",
    ]
    assert main([*base, "--json", json.dumps(item)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"explanation", "changed", "prediction", "valid"}

    assert main([*base, "--verify", "--json", json.dumps([item, item])]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 2 and results[0] == results[1]
    assert results[0]["ground_truth"] == "The output would remain unchanged from <<<a>>>."
    assert isinstance(results[0]["verified"], bool)

    assert main([*base, "--json", json.dumps({**item, "token": 42})]) == 2
    assert "self-explain explain: error: patching input needs 'token'" in capsys.readouterr().err


def test_explain_with_invalid_json_is_an_error(capsys):
    assert main(["explain", "--json", "not json"]) == 2
    captured = capsys.readouterr()
    assert "self-explain explain: error: --json is not valid JSON" in captured.err
    assert captured.out == ""


def test_push_uploads_the_explainer_files(trained_explainer_dir, tmp_path, capsys):
    folder = tmp_path / "explainer"
    shutil.copytree(trained_explainer_dir, folder)
    with mock.patch("self_explain.hub.api.HfApi") as api_class:
        api = api_class.return_value
        api.upload_folder.return_value = "https://huggingface.co/org/x/commit/1"
        assert main(["push", str(folder), "org/x", "--private"]) == 0

    assert capsys.readouterr().out.strip() == "https://huggingface.co/org/x/commit/1"
    api.create_repo.assert_called_with("org/x", repo_type="model", exist_ok=True, private=True)
    kwargs = api.upload_folder.call_args.kwargs
    assert kwargs["repo_id"] == "org/x" and kwargs["repo_type"] == "model"
    uploaded = kwargs["allow_patterns"]
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        EXPLAINER_METADATA,
        "README.md",
    ):
        assert name in uploaded
    assert not any(CHECKPOINTS in name for name in uploaded), "checkpoints stay local"
    assert "org/x" in (folder / "README.md").read_text(), "the card names the repo it is pushed to"


def test_push_of_a_folder_without_explainer_is_an_error(tmp_path, capsys):
    with mock.patch("self_explain.hub.api.HfApi") as api_class:
        assert main(["push", str(tmp_path), "org/x"]) == 2
    api_class.assert_not_called()
    assert "self-explain push: error:" in capsys.readouterr().err
