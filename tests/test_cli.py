import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from datasets import load_dataset

from self_explain.cli import main


def test_help_of_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["build", "patching", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--target", "--num-prompts", "--layers", "--window", "--seed", "--push_to_hub", "--overwrite"):
        assert option in out
    with pytest.raises(SystemExit):
        main(["toyworld", "train", "--help"])
    assert "--hidden-size" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["build", "--help"])
    assert exit_info.value.code == 0
    assert "patching" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train-sae", "--help"])
    assert "--corpus" in capsys.readouterr().out


def test_train_sae_without_corpus_names_the_option(capsys):
    assert main(["train-sae", "--target", "org/some-llama", "--output_dir", "unused"]) == 2
    assert "--corpus FILE is required for 'org/some-llama'" in capsys.readouterr().err


def test_errors_are_reported_with_the_input_named(random_toy_model_dir, tmp_path, capsys):
    code = main(
        ["build", "patching", "--target", str(random_toy_model_dir), "--output_dir", str(tmp_path), "--layers", "9"]
    )
    assert code == 2
    assert "--layers 9 out of range" in capsys.readouterr().err
    assert main(["build", "nonsense"]) == 2
    assert "unknown task 'nonsense'" in capsys.readouterr().err


def test_build_and_push_through_the_cli(random_toy_model_dir, tmp_path, capsys):
    out = tmp_path / "ds"
    with mock.patch("self_explain.hub.api.HfApi") as api_class:
        api = api_class.return_value
        api.hf_hub_download.side_effect = __import__("huggingface_hub").errors.EntryNotFoundError("no card")
        api.upload_folder.return_value = "https://hub/commit/1"
        code = main(
            [
                "build",
                "patching",
                "--target",
                str(random_toy_model_dir),
                "--output_dir",
                str(out),
                "--num-prompts",
                "12",
                "--push_to_hub",
                "--repo_id",
                "org/self-explain-patching",
            ]
        )
    assert code == 0
    name = random_toy_model_dir.name
    assert load_dataset(str(out), name)["train"].num_rows > 0
    api.create_repo.assert_called_once()
    kwargs = api.upload_folder.call_args.kwargs
    assert kwargs["repo_id"] == "org/self-explain-patching"
    assert kwargs["repo_type"] == "dataset"
    assert f"data/{name}/*" in kwargs["allow_patterns"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_accelerate_launch_two_processes_gives_the_single_process_dataset(random_toy_model_dir, tmp_path):
    args = ["build", "patching", "--target", str(random_toy_model_dir), "--num-prompts", "40", "--shard-size", "10"]
    assert main([*args, "--output_dir", str(tmp_path / "single")]) == 0
    launcher = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [
            str(launcher),
            "launch",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--cpu",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "--main_process_port",
            str(_free_port()),
            "-m",
            "self_explain.cli",
            *args,
            "--output_dir",
            str(tmp_path / "multi"),
        ],
        check=True,
        env=env,
        timeout=600,
    )
    name = random_toy_model_dir.name
    single = json.loads((tmp_path / "single" / "provenance" / f"{name}.json").read_text())
    multi = json.loads((tmp_path / "multi" / "provenance" / f"{name}.json").read_text())
    assert multi["content_sha256"] == single["content_sha256"]
    assert multi["rows"] == single["rows"]


def test_push_to_a_hub_config_that_exists_fails_before_building(random_toy_model_dir, tmp_path, capsys):
    name = random_toy_model_dir.name
    remote_card = tmp_path / "remote.md"
    remote_card.write_text(
        f"---\nconfigs:\n- config_name: {name}\n  data_files: data/{name}/*.parquet\n---\n# remote\n"
    )
    out = tmp_path / "ds"
    with mock.patch("self_explain.hub.api.HfApi") as api_class:
        api_class.return_value.hf_hub_download.return_value = str(remote_card)
        code = main(
            [
                "build",
                "patching",
                "--target",
                str(random_toy_model_dir),
                "--output_dir",
                str(out),
                "--push_to_hub",
                "--repo_id",
                "org/self-explain-patching",
            ]
        )
        api_class.return_value.upload_folder.assert_not_called()
    assert code == 2
    assert "already has config" in capsys.readouterr().err
    assert not out.exists()
