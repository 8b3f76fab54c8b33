"""run_evaluation: report files, the untrained baseline (adapter off), writing results into the card."""

import json
import shutil
from unittest import mock

import pandas as pd
import pytest
from datasets import load_dataset
from huggingface_hub import ModelCard
from peft.tuners.tuners_utils import BaseTunerLayer

from self_explain.evaluation.evaluator import (
    EvaluateConfig,
    report_markdown,
    run_evaluation,
    score,
    update_card,
)
from self_explain.explainer.card import render_explainer_card
from self_explain.explainer.config import CHECKPOINTS
from self_explain.explainer.modeling import (
    EXPLAINER_METADATA,
    Explainer,
    load_explainer,
)
from self_explain.explainer.upload import with_published_dataset
from self_explain.tasks.patching.explainer import patching_examples

ROWS = 12
SPLITS = ["test", "ood"]
METRICS = {"exact_match", "content_match", "has_changed_f1", "has_changed_macro_f1", "valid_rate"}
STRATIFIED = {
    f"{cls}_{metric}" for cls in ("changed", "unchanged") for metric in ("exact_match", "content_match", "valid_rate")
}
STRATIFIED |= {
    "has_unchanged_f1",
    *(f"has_{cls}_{m}" for cls in ("changed", "unchanged") for m in ("precision", "recall")),
}


def adapter_on(model) -> bool:
    layers = [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
    assert layers, "an adapter explainer has tuner layers"
    return not any(layer.disable_adapters for layer in layers)


def evaluate(explainer, dataset, out, **options):
    options = {
        "split": SPLITS,
        "baseline": ["untrained"],
        "max_rows": ROWS,
        "max_new_tokens": 6,
        "batch_size": 8,
        **options,
    }
    return run_evaluation(
        EvaluateConfig(explainer=str(explainer), dataset_name=str(dataset), output_dir=str(out), **options)
    )


@pytest.fixture(scope="module")
def evaluation(trained_explainer_dir, patching_dataset_dir, tmp_path_factory):
    """One evaluation with the untrained baseline; ``adapter`` records whether the adapter was on at each generate."""
    out = tmp_path_factory.mktemp("evaluation") / "report"
    adapter = []
    original = Explainer.generate

    def spy(self, examples, *args, **kwargs):
        adapter.append(adapter_on(self.model))
        return original(self, examples, *args, **kwargs)

    with mock.patch.object(Explainer, "generate", spy):
        report = evaluate(trained_explainer_dir, patching_dataset_dir, out)
    return report, out, adapter


@pytest.fixture(scope="module")
def subsample(patching_dataset_dir, random_toy_model_dir):
    """The rows each split was scored on: a seeded subsample, as run_evaluation draws it."""
    dataset = load_dataset(str(patching_dataset_dir), random_toy_model_dir.name)
    return {split: dataset[split].shuffle(seed=0).select(range(ROWS)) for split in SPLITS}


def test_report_json_holds_trained_and_untrained_results(evaluation, trained_explainer_dir, random_toy_model_dir):
    report, out, _ = evaluation
    assert json.loads((out / "report.json").read_text()) == json.loads(json.dumps(report))
    assert report["task"] == "patching"
    assert report["explainer"] == str(trained_explainer_dir)
    assert report["target"] == str(random_toy_model_dir) and report["target_revision"].startswith("sha256:")
    assert report["dataset_config"] == random_toy_model_dir.name, "the config defaults to the explainer's"
    assert [(r["split"], r["baseline"], r["rows"]) for r in report["results"]] == [
        ("test", None, ROWS),
        ("test", "untrained", ROWS),
        ("ood", None, ROWS),
        ("ood", "untrained", ROWS),
    ]
    for result in report["results"]:
        metrics = result["metrics"]
        assert set(metrics) >= METRICS | STRATIFIED, "the reference's stratified keys too"
        assert all(value is None or 0 <= value <= 1 for value in metrics.values())
        # has_changed_f1 is None (not estimable) when no explanation is valid, as an untrained one's may be
        assert (metrics["has_changed_f1"] is None) == (metrics["valid_rate"] == 0)
        strata = result["strata"]
        assert set(strata) == {"changed", "unchanged"}
        assert strata["changed"]["rows"] + strata["unchanged"]["rows"] == ROWS
        for cls in ("changed", "unchanged"):  # a class with no rows is not estimable
            assert (metrics[f"{cls}_exact_match"] is None) == (strata[cls]["rows"] == 0)
            assert 0 < strata[cls]["groups"] <= strata[cls]["rows"] or strata[cls]["rows"] == 0


def test_strata_count_the_rows_and_entities_of_each_class(evaluation, subsample):
    report, _, _ = evaluation
    for result in report["results"]:
        rows = subsample[result["split"]]
        changed = [entity for entity, answer in zip(rows["entity"], rows["answer"]) if "would change to" in answer]
        unchanged = [entity for entity, answer in zip(rows["entity"], rows["answer"]) if "unchanged" in answer]
        assert result["strata"] == {
            "changed": {"rows": len(changed), "groups": len(set(changed))},
            "unchanged": {"rows": len(unchanged), "groups": len(set(unchanged))},
        }


def test_report_md_is_a_table_of_every_result(evaluation):
    report, out, _ = evaluation
    text = (out / "report.md").read_text()
    assert text == report_markdown(report)
    overall = ["content_match", "exact_match", "has_changed_macro_f1", "valid_rate"]
    assert "| explainer | split | rows | entities | " + " | ".join(overall) + " |" in text
    by_class = ["content_match", "exact_match", "valid_rate", "f1", "precision", "recall"]
    assert "| explainer | split | class | rows | entities | " + " | ".join(by_class) + " |" in text
    results, differences = text.split("Trained − baseline, paired")
    lines = results.splitlines()
    assert sum(line.startswith("| trained |") for line in lines) == 2 + 2 * 2, "overall, and each class, per split"
    assert sum(line.startswith("| baseline: untrained |") for line in lines) == 2 + 2 * 2
    assert sum(line.startswith("| baseline: untrained |") for line in differences.splitlines()) == 2 + 2 * 2
    assert f"| trained | ood | {ROWS} |" in text
    for result in report["results"]:
        if result["baseline"] is None:
            changed = result["strata"]["changed"]
            assert f"| trained | {result['split']} | changed | {changed['rows']} | {changed['groups']} |" in text
    assert not any(line.count("|") > 12 for line in text.splitlines()), "no table wider than the class table"


def test_predictions_files_have_a_row_per_evaluated_row(evaluation, subsample):
    _, out, _ = evaluation
    names = {p.name for p in out.iterdir()}
    assert names >= {
        "predictions-ood-untrained.parquet",
        "predictions-ood.parquet",
        "report.json",
        "report.md",
        "predictions-test-untrained.parquet",
        "predictions-test.parquet",
    }
    assert not [name for name in names if name.startswith(".")], "no temporary files left"
    for split in SPLITS:
        trained = pd.read_parquet(out / f"predictions-{split}.parquet")
        untrained = pd.read_parquet(out / f"predictions-{split}-untrained.parquet")
        assert {"question", "reference", "prediction"} <= set(trained.columns)
        assert len(trained) == len(untrained) == ROWS
        assert list(trained["question"]) == subsample[split]["question"]
        assert list(trained["reference"]) == list(untrained["reference"]) == subsample[split]["answer"]


def test_predictions_say_which_row_each_is_whether_it_is_right_and_how_the_report_shows_it(
    evaluation, patching_dataset_dir, random_toy_model_dir
):
    from self_explain.evaluation.predictions import read_predictions
    from self_explain.metrics.causal_match.causal_match import normalize_answer

    _, out, _ = evaluation
    dataset = load_dataset(str(patching_dataset_dir), random_toy_model_dir.name)
    for split in SPLITS:
        rows = read_predictions(out / f"predictions-{split}.parquet")
        for row in rows:
            source = dataset[split][row["row"]]
            assert row["question"] == source["question"] and row["reference"] == source["answer"]
            assert row["correct"] == (normalize_answer(row["prediction"]) == normalize_answer(row["reference"]))
            assert row["view"]["label"] == ("changed" if source["is_different"] else "unchanged")
            marked = [s["text"] for s in row["view"]["segments"] if s["marked"]]
            assert marked == [source["patch_position"]["orig_text_token"]]


def test_untrained_baseline_runs_with_the_adapter_off(evaluation, trained_explainer_dir, subsample):
    _, out, adapter = evaluation
    assert adapter == [True, False, True, False], "trained, untrained, per split"

    explainer = load_explainer(str(trained_explainer_dir))
    with explainer.target_runs() as target:
        examples = patching_examples(subsample["test"], target, seed=0)
    trained = explainer.generate(examples, max_new_tokens=6)
    with explainer.untrained():
        untrained = explainer.generate(examples, max_new_tokens=6)
    assert list(pd.read_parquet(out / "predictions-test.parquet")["prediction"]) == trained
    assert list(pd.read_parquet(out / "predictions-test-untrained.parquet")["prediction"]) == untrained
    assert trained != untrained, "five steps at a large rate change what the explainer says"


def test_update_card_writes_eval_results_and_a_model_index(trained_explainer_dir, patching_dataset_dir, tmp_path):
    folder = tmp_path / "explainer"
    shutil.copytree(trained_explainer_dir, folder, ignore=shutil.ignore_patterns(CHECKPOINTS))
    report = evaluate(
        folder,
        patching_dataset_dir,
        tmp_path / "report",
        split=["test"],
        max_rows=4,
        max_new_tokens=2,
        update_card=True,
    )

    metadata = json.loads((folder / EXPLAINER_METADATA).read_text())
    trained, untrained = report["results"]
    assert metadata["eval_results"] == [
        {
            "split": "test",
            "dataset": str(patching_dataset_dir),
            "dataset_repo_id": None,
            "dataset_config": report["dataset_config"],
            "metrics": result["metrics"],
            "baseline": result["baseline"],
            "rows": 4,
            "intervals": result["intervals"],
            "groups": result["groups"],
            "strata": result["strata"],
        }
        for result in (trained, untrained)
    ]
    assert "vector_control_results" not in metadata, "no vector controls asked for"
    card = ModelCard.load(folder / "README.md")
    assert "model-index" not in card.data.to_dict(), "a local dataset has no Hub id for the model-index to name"
    (model_index,) = render_explainer_card(with_published_dataset(metadata, "org/d")).data.to_dict()["model-index"]
    (result,) = model_index["results"]
    assert result["dataset"]["split"] == "test" and result["dataset"]["config"] == report["dataset_config"]
    # a not estimable (None) metric has no model-index entry
    estimable = {key: value for key, value in trained["metrics"].items() if value is not None}
    assert {m["type"]: m["value"] for m in result["metrics"]} == estimable
    assert "baseline: untrained" in card.text
    assert not list(folder.glob(".*")), "written atomically, no temporary files left"
    assert load_explainer(str(folder)).metadata["eval_results"] == metadata["eval_results"]


def test_update_card_needs_a_local_explainer_folder(tmp_path):
    with pytest.raises(ValueError, match="--update-card needs a local explainer folder with self_explain.json"):
        update_card(str(tmp_path), {"results": [], "dataset": "d", "dataset_config": None})


def test_unknown_baseline_is_refused(trained_explainer_dir, patching_dataset_dir, tmp_path):
    with pytest.raises(ValueError, match=r"--baseline \['random'\] unknown; choose from untrained"):
        EvaluateConfig(
            explainer=str(trained_explainer_dir),
            dataset_name=str(patching_dataset_dir),
            output_dir=str(tmp_path),
            baseline=["untrained", "random"],
        )


@pytest.mark.slow
def test_the_shipped_toy_self_explainer_beats_its_untrained_base(tmp_path):
    """On fresh prompt pairs (another seed than its training data), the shipped explainer's exact match is far
    above the untrained base's, which never answers in the paper's form."""
    from self_explain.tasks.patching.builder import build_patching_dataset
    from self_explain.tasks.patching.config import PatchingConfig

    dataset = build_patching_dataset(
        PatchingConfig(target="toy-target", output_dir=str(tmp_path / "ds"), num_prompts=60, seed=7, overwrite=True)
    )
    report = run_evaluation(
        EvaluateConfig(
            explainer="toy-target-patching-explainer",
            dataset_name=str(dataset),
            dataset_config="toy-target",
            split=["train"],
            baseline=["untrained"],
            max_rows=120,
            output_dir=str(tmp_path / "eval"),
        )
    )
    trained, untrained = (r["metrics"] for r in report["results"])
    assert trained["valid_rate"] > 0.9
    assert trained["exact_match"] > untrained["exact_match"] + 0.25, (trained, untrained)


def test_score_keeps_a_not_estimable_metric_as_none():
    references = [
        "The most likely output would change to <<<Rome>>>.",
        "The output would remain unchanged from <<<a>>>.",
    ]
    metrics = score("patching", ["no idea", "It would change, I think: <<<Rome>>>"], references)
    assert metrics["has_changed_f1"] is None, "no valid answer: nothing to compute the F1 over"
    assert metrics["valid_rate"] == 0.0 and metrics["has_changed_macro_f1"] == 0.0


def test_report_md_shows_a_not_estimable_metric():
    report = {
        "explainer": "x",
        "task": "patching",
        "target": "toy-target",
        "dataset": "d",
        "dataset_config": "c",
        "results": [
            {
                "split": "test",
                "baseline": "untrained",
                "rows": 2,
                "details": {},
                "metrics": {"exact_match": 0.0, "has_changed_f1": None},
            }
        ],
    }
    assert "| baseline: untrained | test | 2 |  | 0.000 | not estimable |" in report_markdown(report)


def test_every_result_has_intervals_over_entities_and_baselines_a_paired_difference(evaluation, subsample):
    report, _, _ = evaluation
    for result in report["results"]:
        entities = set(subsample[result["split"]]["entity"])
        assert result["groups"] == len(entities)
        for name in ("exact_match", "content_match", "valid_rate"):
            low, high = result["intervals"][name]
            assert low <= result["metrics"][name] <= high, (name, result)
        if result["baseline"] is None:
            assert "trained_minus_baseline" not in result
            continue
        trained = next(r for r in report["results"] if r["split"] == result["split"] and r["baseline"] is None)
        difference, low, high = result["trained_minus_baseline"]["exact_match"]
        assert difference == pytest.approx(
            trained["metrics"]["exact_match"] - result["metrics"]["exact_match"], abs=1e-3
        )
        assert low <= difference <= high


def test_report_md_marks_a_difference_whose_interval_excludes_zero():
    report = {
        "explainer": "x",
        "task": "patching",
        "target": "toy-target",
        "dataset": "d",
        "dataset_config": "c",
        "results": [
            {
                "split": "test",
                "baseline": None,
                "rows": 4,
                "details": {},
                "groups": 2,
                "metrics": {"exact_match": 0.75},
                "intervals": {"exact_match": [0.5, 1.0]},
            },
            {
                "split": "test",
                "baseline": "majority",
                "rows": 4,
                "details": {},
                "groups": 2,
                "metrics": {"exact_match": 0.25},
                "intervals": {"exact_match": [0.0, 0.5]},
                "trained_minus_baseline": {"exact_match": [0.5, 0.25, 0.75]},
            },
            {
                "split": "ood",
                "baseline": "majority",
                "rows": 4,
                "details": {},
                "groups": 2,
                "metrics": {"exact_match": 0.25},
                "trained_minus_baseline": {"exact_match": [0.0, -0.25, 0.25]},
            },
        ],
    }
    text = report_markdown(report)
    assert "| trained | test | 4 | 2 | 0.750 [0.500, 1.000] |" in text
    assert "| baseline: majority | test | +0.500 [+0.250, +0.750]* |" in text
    assert "| baseline: majority | ood | +0.000 [-0.250, +0.250] |" in text
