"""Bad inputs through the command line: each is refused with exit code 2 and a one-line message that names the
input and says what to do, before any model is loaded or any file is written."""

from pathlib import Path

import pytest

from self_explain.cli import main


def _refused(capsys, argv: list[str]) -> str:
    """Run the CLI, assert it refused the input (exit code 2), and return its stderr."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"self-explain {argv[0]}: error: ")
    return err


@pytest.mark.parametrize(
    ("task", "option", "value", "message"),
    [
        ("patching", "--shard-size", "0", "--shard-size must be a positive integer, got 0"),
        ("patching", "--batch-prompts", "0", "--batch-prompts must be a positive integer, got 0"),
        ("patching", "--seed", "-1", "--seed must be a non-negative integer, got -1"),
        ("ablation", "--shard-size", "0", "--shard-size must be a positive integer, got 0"),
        ("ablation", "--batch-size", "-2", "--batch-size must be a positive integer, got -2"),
        ("features", "--shard-size", "0", "--shard-size must be a positive integer, got 0"),
        ("features", "--batch-size", "0", "--batch-size must be a positive integer, got 0"),
        ("features", "--num-texts", "0", "--num-texts must be a positive integer, got 0"),
        ("features", "--num-quantile", "-1", "--num-quantile must be a non-negative integer, got -1"),
        ("features", "--context-window", "-3", "--context-window must be a non-negative integer, got -3"),
        ("features", "--num-candidates", "0", "--num-candidates must be a positive integer, got 0"),
        ("preferences", "--batch-size", "0", "--batch-size must be a positive integer, got 0"),
        ("preferences", "--per-device-train-batch-size", "0", "--per-device-train-batch-size must be a positive"),
        ("preferences", "--learning-rate", "0", "--learning-rate must be a number above 0, got 0.0"),
    ],
)
def test_build_refuses_a_bad_number_before_writing_anything(task, option, value, message, tmp_path, capsys):
    out = tmp_path / "ds"
    err = _refused(capsys, ["build", task, "--target", "toy-target", "--output_dir", str(out), option, value])
    assert message in err
    assert not out.exists()  # no .build manifest left behind to block the next build


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--per-device-train-batch-size", "0", "--per-device-train-batch-size must be a positive integer, got 0"),
        ("--gradient-accumulation-steps", "0", "--gradient-accumulation-steps must be a positive integer, got 0"),
        ("--save-steps", "0", "--save-steps must be a number above 0, got 0.0"),
        ("--max-steps", "0", "--max-steps must be a positive integer, or -1 to train --num-train-epochs; got 0"),
        ("--learning-rate", "-0.1", "--learning-rate must be a number above 0, got -0.1"),
        ("--num-train-epochs", "nan", "--num-train-epochs must be a number above 0, got nan"),
        ("--seed", "-5", "--seed must be a non-negative integer, got -5"),
    ],
)
def test_train_refuses_a_bad_number(option, value, message, tmp_path, capsys):
    out = tmp_path / "explainer"
    err = _refused(capsys, ["train", "--dataset_name", str(tmp_path / "ds"), "--output_dir", str(out), option, value])
    assert message in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--batch-size", "0", "--batch-size must be a positive integer, got 0"),
        ("--max-rows", "0", "--max-rows must be a positive integer, got 0"),
        ("--neighbor-rows", "-1", "--neighbor-rows must be a positive integer, got -1"),
        ("--max-new-tokens", "0", "--max-new-tokens must be a positive integer, got 0"),
    ],
)
def test_evaluate_refuses_a_bad_number(option, value, message, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = [
        "evaluate",
        "--explainer",
        "toy-target-patching-explainer",
        "--dataset_name",
        str(tmp_path / "ds"),
        "--output_dir",
        str(out),
        option,
        value,
    ]
    assert message in _refused(capsys, argv)
    assert not out.exists()


def test_explain_refuses_a_bad_number(capsys):
    err = _refused(capsys, ["explain", "--json", "{}", "--max-new-tokens", "0"])
    assert "--max-new-tokens must be a positive integer, got 0" in err


# ----------------------------------------------------------------------------------------------
# Datasets and explainers that do not exist, are damaged, or belong to another model
# ----------------------------------------------------------------------------------------------


def test_train_names_a_dataset_folder_that_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "no-such-dataset"
    err = _refused(capsys, ["train", "--dataset_name", str(missing), "--output_dir", str(tmp_path / "explainer")])
    assert f"--dataset_name {missing}: no such folder, and not a Hub dataset id (org/name)" in err
    assert "Repo id must be in the form" not in err


def test_train_names_a_config_the_dataset_does_not_have(patching_dataset_dir, random_toy_model_dir, tmp_path, capsys):
    err = _refused(
        capsys,
        [
            "train",
            "--dataset_name",
            str(patching_dataset_dir),
            "--dataset_config",
            "nope",
            "--output_dir",
            str(tmp_path / "explainer"),
        ],
    )
    assert (
        f"--dataset_config 'nope': dataset {patching_dataset_dir} has no such config; it has "
        f"{random_toy_model_dir.name}"
    ) in err
    assert "--target is required" not in err


def test_evaluate_names_a_dataset_folder_that_does_not_exist(trained_explainer_dir, tmp_path, capsys):
    missing = tmp_path / "no-such-dataset"
    err = _refused(
        capsys,
        [
            "evaluate",
            "--explainer",
            str(trained_explainer_dir),
            "--dataset_name",
            str(missing),
            "--output_dir",
            str(tmp_path / "eval"),
        ],
    )
    assert f"--dataset_name {missing}: no such folder, and not a Hub dataset id" in err


@pytest.fixture
def explainer_copy(trained_explainer_dir, tmp_path):
    import shutil

    return Path(shutil.copytree(trained_explainer_dir, tmp_path / "explainer"))


def test_evaluate_an_adapter_without_its_weights_is_refused_without_the_hub(
    explainer_copy, patching_dataset_dir, tmp_path, capsys
):
    (explainer_copy / "adapter_model.safetensors").unlink()
    err = _refused(
        capsys,
        [
            "evaluate",
            "--explainer",
            str(explainer_copy),
            "--dataset_name",
            str(patching_dataset_dir),
            "--output_dir",
            str(tmp_path / "eval"),
        ],
    )
    assert "has adapter_config.json but no adapter_model.safetensors" in err
    assert "train the explainer again" in err


def test_evaluate_an_adapter_with_damaged_weights_is_refused(explainer_copy, patching_dataset_dir, tmp_path, capsys):
    weights = explainer_copy / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    err = _refused(
        capsys,
        [
            "evaluate",
            "--explainer",
            str(explainer_copy),
            "--dataset_name",
            str(patching_dataset_dir),
            "--output_dir",
            str(tmp_path / "eval"),
        ],
    )
    assert f"adapter '{explainer_copy}': its weights file cannot be read" in err
    assert "the file is damaged" in err


@pytest.fixture(scope="module")
def other_toy_target(random_toy_model_dir, other_toy_model_dir, tmp_path_factory):
    """``other_toy_model_dir`` marked as a toy-world model, so the toy world's prompts can be built on it."""
    import shutil

    folder = Path(shutil.copytree(other_toy_model_dir, tmp_path_factory.mktemp("other") / "toy-other-random"))
    shutil.copy(random_toy_model_dir / "toyworld.json", folder / "toyworld.json")
    return folder


@pytest.fixture(scope="module")
def two_target_dataset(patching_dataset_dir, other_toy_target, tmp_path_factory):
    """The session's patching dataset plus a config built on another model (``other_toy_target``)."""
    import shutil

    from self_explain.tasks.patching.builder import build_patching_dataset
    from self_explain.tasks.patching.config import PatchingConfig
    from tests.conftest import single_thread

    folder = Path(shutil.copytree(patching_dataset_dir, tmp_path_factory.mktemp("two-targets") / "dataset"))
    with single_thread():
        build_patching_dataset(PatchingConfig(target=str(other_toy_target), output_dir=str(folder), num_prompts=12))
    return folder


def test_evaluate_refuses_the_config_of_another_model_unless_allowed(
    two_target_dataset, trained_explainer_dir, other_toy_target, tmp_path, capsys
):
    other = other_toy_target.name
    argv = [
        "evaluate",
        "--explainer",
        str(trained_explainer_dir),
        "--dataset_name",
        str(two_target_dataset),
        "--dataset_config",
        other,
        "--split",
        "train",
        "--output_dir",
        str(tmp_path / "eval"),
        "--max-rows",
        "2",
        "--max-new-tokens",
        "2",
    ]
    err = _refused(capsys, argv)
    assert (
        f"--dataset_config '{other}' of dataset {two_target_dataset} holds the ground truth of '{other_toy_target}'"
    ) in err
    assert "--allow-other-target to score it against another model anyway" in err
    assert not (tmp_path / "eval" / "report.json").exists()
    assert main([*argv, "--allow-other-target"]) == 0
    assert (tmp_path / "eval" / "report.json").is_file()


# ----------------------------------------------------------------------------------------------
# Pushing without a token, or without a network: said before any work, local outputs kept
# ----------------------------------------------------------------------------------------------

NO_TOKEN = "no Hugging Face token: run `hf auth login` or set HF_TOKEN"


@pytest.fixture
def no_token(monkeypatch):
    import huggingface_hub

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)


@pytest.fixture
def hub_unreachable():
    """A patched HfApi whose every network call fails as a machine without network does."""
    from unittest import mock

    import httpx2

    error = httpx2.ConnectError("[Errno -2] Name or service not known")
    with mock.patch("self_explain.hub.api.HfApi") as api_class:
        api = api_class.return_value
        api.hf_hub_download.side_effect = error
        api.create_repo.side_effect = error
        api.upload_folder.side_effect = error
        yield api


def test_build_with_push_and_no_token_is_refused_before_any_work(no_token, tmp_path, capsys):
    out = tmp_path / "ds"
    err = _refused(
        capsys,
        [
            "build",
            "patching",
            "--target",
            "toy-target",
            "--output_dir",
            str(out),
            "--num-prompts",
            "4",
            "--push_to_hub",
            "--repo_id",
            "org/self-explain-patching",
        ],
    )
    assert f"--push_to_hub --repo_id org/self-explain-patching: {NO_TOKEN}" in err
    assert not out.exists()


def test_train_with_push_and_no_token_is_refused_before_training(no_token, patching_dataset_dir, tmp_path, capsys):
    out = tmp_path / "explainer"
    err = _refused(
        capsys,
        [
            "train",
            "--dataset_name",
            str(patching_dataset_dir),
            "--output_dir",
            str(out),
            "--push_to_hub",
            "--hub_model_id",
            "org/explainer",
        ],
    )
    assert f"--push_to_hub --hub_model_id org/explainer: {NO_TOKEN}" in err
    assert not out.exists()


def test_push_with_no_token_is_refused(no_token, trained_explainer_dir, capsys):
    err = _refused(capsys, ["push", str(trained_explainer_dir), "org/explainer"])
    assert f"push to org/explainer: {NO_TOKEN}" in err


def test_the_token_is_never_shown(trained_explainer_dir, hub_unreachable, capsys):
    main(["push", str(trained_explainer_dir), "org/explainer"])
    captured = capsys.readouterr()
    assert "hf_fake_token_for_tests" not in captured.err + captured.out


def test_build_with_push_and_no_network_is_refused_before_any_work(
    hub_unreachable, random_toy_model_dir, tmp_path, capsys
):
    out = tmp_path / "ds"
    err = _refused(
        capsys,
        [
            "build",
            "patching",
            "--target",
            str(random_toy_model_dir),
            "--output_dir",
            str(out),
            "--num-prompts",
            "4",
            "--push_to_hub",
            "--repo_id",
            "org/self-explain-patching",
        ],
    )
    assert (
        "cannot reach the Hugging Face Hub to read the card of dataset repo org/self-explain-patching "
        "(ConnectError: [Errno -2] Name or service not known); check the network connection"
    ) in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("options", "pushed"),
    [
        ([], "the base model to org/toy-random0"),  # a local base is uploaded first, beside the explainer
        (["--base_repo_id", "org/base"], "the explainer to org/explainer"),
    ],
)
def test_push_with_no_network_says_so_and_keeps_the_folder(
    hub_unreachable, trained_explainer_dir, capsys, options, pushed
):
    err = _refused(capsys, ["push", str(trained_explainer_dir), "org/explainer", *options])
    assert f"cannot reach the Hugging Face Hub to push {pushed} (ConnectError" in err
    assert "the local files in " in err and " are kept" in err
    assert (trained_explainer_dir / "adapter_model.safetensors").is_file()


def test_dataset_push_with_no_network_keeps_the_built_folder(patching_dataset_dir, hub_unreachable):
    from self_explain.hub.api import HubUnreachableError
    from self_explain.hub.datasets import push_dataset

    name = Path(patching_dataset_dir).name
    config = next((Path(patching_dataset_dir) / "data").iterdir()).name
    with pytest.raises(
        HubUnreachableError,
        match=rf"to push config '{config}' to org/ds .*the local files in .*{name} "
        r"are kept",
    ):
        push_dataset(patching_dataset_dir, "org/ds", config)
    assert any((Path(patching_dataset_dir) / "data" / config).glob("*.parquet"))
