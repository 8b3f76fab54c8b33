"""An evaluation folder as ``self-explain evaluate`` writes it, made without a model, as the report's input."""

import json

import pytest
from datasets import load_dataset

from self_explain.evaluation.predictions import prediction_table, row_views, write_predictions
from self_explain.metrics.causal_match.rows import causal_match_rows
from self_explain.tasks import ExplainerExamples

# A prediction that would run script if the page did not escape it.
HOSTILE = "The most likely output would change to <<<</p><script>window.pwned = 1</script>>>>."


def _wrong(answer: str) -> str:
    return (
        "The most likely output would change to <<<nothing>>>."
        if "remain unchanged" in answer
        else "The output would remain unchanged from <<<nothing>>>."
    )


@pytest.fixture(scope="session")
def evaluation_folder(patching_dataset_dir, random_toy_model_dir, tmp_path_factory):
    """``report.json`` and ``predictions-{test,ood}.parquet`` of a patching evaluation: every other row right, the
    first wrong row's answer hostile HTML, every third row labelled changed. ``expected`` holds each split's rows,
    right rows and changed rows."""
    folder = tmp_path_factory.mktemp("evaluation") / "evaluate-patching"
    folder.mkdir()
    config = random_toy_model_dir.name
    results, expected = [], {}
    for split in ("test", "ood"):
        rows = load_dataset(str(patching_dataset_dir), config, split=split)
        answers = rows["answer"]
        predictions = [answer if index % 2 == 0 else _wrong(answer) for index, answer in enumerate(answers)]
        predictions[1] = HOSTILE
        statistics = {"columns": causal_match_rows(predictions, answers)}
        views = row_views("patching", rows)
        for view in views[::3]:  # the random model's patches change nothing: give the class filter two classes
            view["label"] = "changed"
        table = prediction_table(
            ExplainerExamples(rows["question"], answers), predictions, statistics, list(range(len(rows))), views
        )
        write_predictions(folder / f"predictions-{split}.parquet", table)
        right = sum(table["correct"])
        expected[split] = {"rows": len(rows), "correct": right, "changed": len(views[::3])}
        metrics = {"changed_content_match": 0.25, "unchanged_exact_match": None, "exact_match": right / len(rows)}
        results.append(
            {
                "split": split,
                "baseline": None,
                "rows": len(rows),
                "metrics": metrics,
                "intervals": {"changed_content_match": [0.125, 0.5], "exact_match": [0.1, 0.9]},
            }
        )
        results.append(
            {
                "split": split,
                "baseline": "majority",
                "rows": len(rows),
                "metrics": {"exact_match": 0.0},
                "intervals": {"exact_match": [0.0, 0.0]},
            }
        )
    report = {
        "explainer": "toy-random-patching-explainer",
        "task": "patching",
        "target": str(random_toy_model_dir),
        "dataset": str(patching_dataset_dir),
        "dataset_config": config,
        "command": "self-explain evaluate --max_rows 40",
        "results": results,
    }
    (folder / "report.json").write_text(json.dumps(report))
    return folder, expected
