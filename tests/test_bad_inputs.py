"""Bad inputs through the command line: each is refused with exit code 2 and a one-line message that names the
input and says what to do, before any model is loaded or any file is written."""

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
    err = _refused(capsys, ["build", task, "--target", "toy-target", "--out", str(out), option, value])
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
    err = _refused(capsys, ["train", "--dataset", str(tmp_path / "ds"), "--out", str(out), option, value])
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
    argv = ["evaluate", "--explainer", "toy-target-patching-explainer", "--dataset", str(tmp_path / "ds"),
            "--out", str(out), option, value]
    assert message in _refused(capsys, argv)
    assert not out.exists()


def test_explain_refuses_a_bad_number(capsys):
    err = _refused(capsys, ["explain", "--json", "{}", "--max-new-tokens", "0"])
    assert "--max-new-tokens must be a positive integer, got 0" in err
