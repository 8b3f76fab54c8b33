"""``evaluate --vector_controls``: the same rows with true, shuffled and zero vectors, the paired differences, the
refusals (text-only tasks, an explainer trained under shuffled), an explainer trained under rotated, and the card."""

import json
import shutil
from unittest import mock

import pandas as pd
import pytest
import torch
from huggingface_hub import ModelCard

from self_explain.core.injection import VectorInjector
from self_explain.evaluation import evaluator
from self_explain.evaluation.evaluator import EvaluateConfig, report_markdown, run_evaluation
from self_explain.evaluation.results_markdown import interval_cell, interval_difference_cell
from self_explain.evaluation.vector_controls import check_vector_controls, control_results
from self_explain.explainer.config import CHECKPOINTS
from self_explain.explainer.controls import ROTATED, SCORING_CONTROLS, derangement, random_rotation
from self_explain.explainer.modeling import EXPLAINER_METADATA, load_explainer
from self_explain.metrics.causal_match.rows import causal_match_rows
from self_explain.tasks import load_split
from self_explain.tasks.patching.explainer import patching_examples

ROWS = 12
CHANGED = "The most likely output would change to <<<{}>>>."
SAME = "The output would remain unchanged from <<<{}>>>."


def copy_explainer(source, folder, **metadata):
    """A copy of an explainer folder, its metadata updated with ``metadata``."""
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns(CHECKPOINTS))
    path = folder / EXPLAINER_METADATA
    path.write_text(json.dumps({**json.loads(path.read_text()), **metadata}))
    return folder


def run_with_injections(explainer, dataset, out, **options):
    """run_evaluation with --vector_controls on ``ROWS`` test rows; also the vectors injected in each generate call."""
    injected = []
    original = VectorInjector.inject

    def record(self, vectors, layers=None):
        injected.append(vectors.detach().clone())
        return original(self, vectors, layers)

    config = EvaluateConfig(
        explainer=str(explainer),
        dataset_name=str(dataset),
        output_dir=str(out),
        split=["test"],
        max_rows=ROWS,
        max_new_tokens=4,
        batch_size=ROWS,
        vector_controls=True,
        **options,
    )
    with mock.patch.object(VectorInjector, "inject", record):
        report = run_evaluation(config)
    return report, injected


def true_vectors(explainer_dir, dataset_dir, config_name):
    """The vectors of the rows the evaluation scores (its seeded subsample), as the task reads them."""
    explainer = load_explainer(str(explainer_dir))
    rows = load_split(str(dataset_dir), config_name, "test", None, ROWS, 0)
    with explainer.target_runs() as target:
        return patching_examples(rows, target, seed=0).vectors


@pytest.fixture(scope="module")
def controlled(trained_explainer_dir, patching_dataset_dir, tmp_path_factory):
    """One evaluation with --vector_controls and --update_card of a copy of the trained explainer."""
    folder = copy_explainer(trained_explainer_dir, tmp_path_factory.mktemp("controlled") / "explainer")
    out = folder.parent / "report"
    report, injected = run_with_injections(folder, patching_dataset_dir, out, update_card=True)
    return report, injected, out, folder


def test_the_same_rows_are_scored_with_true_shuffled_and_zero_vectors(
    controlled, trained_explainer_dir, patching_dataset_dir, random_toy_model_dir
):
    _, injected, out, _ = controlled
    true, shuffled, zero = injected
    assert torch.allclose(true, true_vectors(trained_explainer_dir, patching_dataset_dir, random_toy_model_dir.name))
    assert torch.equal(shuffled, true[derangement(ROWS, 0)]), "each row gets another row's vector, seeded by --seed"
    assert not any(torch.equal(shuffled[i], true[i]) for i in range(ROWS))
    assert torch.equal(zero, torch.zeros_like(true))
    scored = {
        name: pd.read_parquet(out / f"predictions-test{suffix}.parquet")
        for name, suffix in [("true", ""), *((c, f"-vectors-{c}") for c in SCORING_CONTROLS)]
    }
    for table in scored.values():
        assert list(table["question"]) == list(scored["true"]["question"])
        assert list(table["reference"]) == list(scored["true"]["reference"])


def test_the_report_gives_each_run_and_the_paired_differences(controlled):
    report, _, out, _ = controlled
    section = report["vector_controls"]
    assert section["controls"] == list(SCORING_CONTROLS) == ["shuffled", "zero"]
    assert section["seed"] == 0 and section["explainer_vector_control"] is None
    (trained,) = report["results"]
    runs = {entry["vectors"]: entry for entry in section["results"]}
    assert [entry["vectors"] for entry in section["results"]] == ["true", "shuffled", "zero"]
    true = runs["true"]
    for key in ("metrics", "intervals", "groups", "strata", "rows"):
        assert true[key] == trained[key], f"true vectors: the explainer's own scoring ({key})"
    assert "true_minus_control" not in true
    for control in SCORING_CONTROLS:
        entry = runs[control]
        assert entry["rows"] == ROWS and entry["groups"] == true["groups"] and entry["strata"] == true["strata"]
        assert set(entry["metrics"]) >= {"changed_content_match", "unchanged_exact_match", "has_changed_f1"}
        for name, (difference, low, high) in entry["true_minus_control"].items():
            if difference is None:
                assert None in (true["metrics"][name], entry["metrics"][name])
                continue
            assert difference == pytest.approx(true["metrics"][name] - entry["metrics"][name], abs=1e-3)
            assert low <= difference + 1e-9 and difference <= high + 1e-9
    text = (out / "report.md").read_text()
    assert text == report_markdown(report)
    controls_part = text.split("## Vector controls")[1]
    assert f"| true | test | {ROWS} | {true['groups']} |" in controls_part
    assert "| true − shuffled | test |" in controls_part and "| true − zero | test |" in controls_part
    assert "| true − zero | test | changed |" in controls_part, "the differences by ground-truth class"
    headline = "changed_content_match"  # patching's first headline metric
    summary = next(line for line in controls_part.splitlines() if line.startswith("- test: "))
    assert summary.startswith(
        f"- test: true {interval_cell(true['metrics'][headline], true['intervals'][headline])}, shuffled "
    )
    shuffled, zero = (runs[control]["true_minus_control"][headline] for control in ("shuffled", "zero"))
    assert (
        f"; true − shuffled {interval_difference_cell(shuffled, separator='')}, "
        f"true − zero {interval_difference_cell(zero, separator='')}" in summary
    )


def test_update_card_writes_the_controls_into_the_card(controlled, patching_dataset_dir):
    report, _, _, folder = controlled
    metadata = json.loads((folder / EXPLAINER_METADATA).read_text())
    recorded = metadata["vector_control_results"]
    assert recorded["results"] == report["vector_controls"]["results"]
    assert recorded["dataset"] == str(patching_dataset_dir) and recorded["seed"] == 0
    card = ModelCard.load(folder / "README.md")
    section = card.text.split("## Does it read the vector?")[1].split("## Training")[0]
    assert f"| true | test | {ROWS} |" in section and "| shuffled | test |" in section and "| zero | test |" in section
    assert "| true − shuffled | test |" in section and "| true − zero | test | changed |" in section
    assert "seed\n0" in section or "seed 0" in section
    assert "model-index" not in card.data.to_dict(), "a local dataset is named by no Hub id, nor are the controls"


def test_a_later_evaluation_without_controls_replaces_them_in_the_card(controlled, patching_dataset_dir, tmp_path):
    _, _, _, folder = controlled
    copy = shutil.copytree(folder, tmp_path / "explainer")
    run_evaluation(
        EvaluateConfig(
            explainer=str(copy),
            dataset_name=str(patching_dataset_dir),
            output_dir=str(tmp_path / "r"),
            split=["test"],
            max_rows=4,
            max_new_tokens=2,
            update_card=True,
        )
    )
    assert "vector_control_results" not in json.loads((copy / EXPLAINER_METADATA).read_text())
    assert "## Does it read the vector?" not in (copy / "README.md").read_text()


def test_controls_on_an_explainer_trained_under_rotated_come_before_its_rotation(
    trained_explainer_dir, patching_dataset_dir, random_toy_model_dir, tmp_path
):
    folder = copy_explainer(trained_explainer_dir, tmp_path / "rotated", vector_control={"name": ROTATED, "seed": 3})
    report, (true, shuffled, zero) = run_with_injections(folder, patching_dataset_dir, tmp_path / "report")
    plain = true_vectors(trained_explainer_dir, patching_dataset_dir, random_toy_model_dir.name)
    rotation = random_rotation(plain.shape[-1], 3)
    assert torch.allclose(true, plain @ rotation, atol=1e-5), "its own scoring: the true vectors, rotated"
    assert torch.allclose(shuffled, (plain @ rotation)[derangement(ROWS, 0)], atol=1e-5)
    assert torch.equal(zero, torch.zeros_like(zero)), "the rotation keeps zero"
    assert report["vector_controls"]["explainer_vector_control"] == {"name": ROTATED, "seed": 3}
    assert "trained under the rotated vector control (seed 3)" in report_markdown(report)


def test_an_explainer_trained_under_shuffled_is_refused_before_loading(
    trained_explainer_dir, patching_dataset_dir, tmp_path
):
    folder = copy_explainer(
        trained_explainer_dir, tmp_path / "shuffled", vector_control={"name": "shuffled", "seed": 1}
    )
    config = EvaluateConfig(
        explainer=str(folder),
        dataset_name=str(patching_dataset_dir),
        output_dir=str(tmp_path / "r"),
        vector_controls=True,
    )
    with (
        mock.patch.object(evaluator, "load_explainer", side_effect=AssertionError("a model was loaded")),
        pytest.raises(ValueError, match="trained under the shuffled vector control.*without --vector_controls"),
    ):
        run_evaluation(config)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("explainer", "task"), [("toy-target-ablation-explainer", None), (None, "preferences")])
def test_a_text_only_task_is_refused_before_loading(
    explainer, task, trained_explainer_dir, patching_dataset_dir, tmp_path
):
    config = EvaluateConfig(
        explainer=explainer or str(trained_explainer_dir),
        dataset_name=str(patching_dataset_dir),
        output_dir=str(tmp_path / "r"),
        task=task,
        vector_controls=True,
    )
    name = task or "ablation"
    with (
        mock.patch.object(evaluator, "load_explainer", side_effect=AssertionError("a model was loaded")),
        pytest.raises(ValueError, match=rf"--vector_controls .* task '{name}' .* text-only.*features, patching"),
    ):
        run_evaluation(config)


def test_an_explainer_that_names_no_task_needs_one(tmp_path):
    with pytest.raises(ValueError, match="--task is required"):
        check_vector_controls(str(tmp_path))  # a folder without metadata: no task


def test_paired_differences_of_a_perfect_and_a_wrong_reader():
    references = [CHANGED.format(f"w{i}") if i % 2 else SAME.format(f"w{i}") for i in range(40)]
    wrong = [CHANGED.format("x") if i % 2 else SAME.format("x") for i in range(40)]  # right verdict, wrong content
    runs = {
        "true": (
            {"exact_match": 1.0, "changed_content_match": 1.0, "has_changed_f1": 1.0},
            {"metric": "causal_match", "columns": causal_match_rows(references, references)},
        ),
        "shuffled": (
            {"exact_match": 0.0, "changed_content_match": 0.0, "has_changed_f1": 1.0},
            {"metric": "causal_match", "columns": causal_match_rows(wrong, references)},
        ),
    }
    true, shuffled = control_results("test", 40, runs, groups=[f"e{i // 4}" for i in range(40)])
    assert true["vectors"] == "true" and "true_minus_control" not in true
    assert shuffled["vectors"] == "shuffled" and shuffled["groups"] == 10
    assert shuffled["strata"] == {"changed": {"rows": 20, "groups": 10}, "unchanged": {"rows": 20, "groups": 10}}
    assert shuffled["true_minus_control"]["exact_match"] == [1.0, 1.0, 1.0]
    assert shuffled["true_minus_control"]["changed_content_match"] == [1.0, 1.0, 1.0]
    assert shuffled["true_minus_control"]["has_changed_f1"] == [0.0, 0.0, 0.0], "the verdicts are all right"
