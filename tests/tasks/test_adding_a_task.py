"""Adding a task is one folder: a task defined outside the package (``tests/tasks/example_task``) is registered, its
dataset built, an explainer trained on it and evaluated, through the public API only."""

import json

import pytest
import torch

import self_explain
from self_explain.evaluation.evaluator import EvaluateConfig, run_evaluation
from self_explain.explainer.trainer import ExplainerConfig, train_explainer
from tests.conftest import single_thread
from tests.tasks.example_task import TruncationConfig, TruncationTask


@pytest.fixture
def truncation():
    """The example task, registered for the test and removed after it."""
    self_explain.register_task(TruncationTask())
    yield self_explain.get_task("truncation")
    del self_explain.TASKS["truncation"]


def test_a_task_from_its_own_folder_builds_trains_and_evaluates(truncation, tmp_path):
    assert "truncation" in self_explain.TASKS and isinstance(truncation, TruncationTask)
    with single_thread(), torch.random.fork_rng():
        folder = truncation.build(TruncationConfig(target="toy-target", output_dir=str(tmp_path / "data")))
        assert self_explain.tasks.task_of_dataset(str(folder)) is truncation, "the card names the task"
        assert "Self-explain truncation" in (tmp_path / "data" / "README.md").read_text(), "the generic card"
        explainer = train_explainer(
            ExplainerConfig(
                dataset_name=str(folder),
                dataset_config="toy-target",
                target="toy-target",
                output_dir=str(tmp_path / "explainer"),
                max_steps=2,
                per_device_train_batch_size=4,
                learning_rate=1e-3,
            )
        )
        report = run_evaluation(
            EvaluateConfig(
                explainer=str(explainer),
                dataset_name=str(folder),
                output_dir=str(tmp_path / "report"),
                split=["test"],
                baseline=[],
                max_new_tokens=8,
                batch_size=8,
            )
        )
    assert report["task"] == "truncation" and report["target"] == "toy-target"
    (result,) = report["results"]
    assert result["split"] == "test" and result["rows"] == 8, "every fourth of the 32 prompts is a test row"
    assert set(truncation.experiment.headline_metrics) <= set(result["metrics"]), "scored by causal_match"
    assert json.loads((tmp_path / "report" / "report.json").read_text())["task"] == "truncation"


def test_a_task_class_can_be_registered_once_by_decorator(truncation):
    with pytest.raises(ValueError, match="task 'truncation' is registered twice"):
        self_explain.register_task(TruncationTask)
    with pytest.raises(TypeError, match="register_task takes a Task"):
        self_explain.register_task(object())
