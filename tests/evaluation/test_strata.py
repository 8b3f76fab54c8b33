from pathlib import Path

import evaluate
import pytest
import yaml

import self_explain
from self_explain.evaluation.experiment import ExperimentConfig
from self_explain.evaluation.strata import edit_strata, edit_stratum, stratified, stratum_split, with_strata
from self_explain.evaluation.summary_statistics import summarize
from self_explain.metrics.causal_match.rows import causal_match_rows
from self_explain.realworld.facts import Fact, FactTable, fact_table_for


def _fact(relation, subject, answer, **marks):
    return Fact(relation, subject, f"The {relation} of {subject} is", answer, answer, f" {answer}", **marks)


TABLE = FactTable(
    "m",
    (
        _fact("capital", "France", "Rome", edited=True, original_answer="Paris"),
        _fact("capital", "Peru", "Lima"),
        _fact("capital", "Chad", "Abuja", gained=True),
        _fact("currency", "France", "euro"),
    ),
    (),
    {},
    {},
)


@pytest.mark.parametrize(
    ("row", "stratum"),
    [
        ({"relation": "capital", "entity": "France"}, "edited"),
        ({"relation": "currency", "entity": "France"}, "other"),  # the subject's other relation was not edited
        ({"relation": "capital", "entity": "Chad"}, "gained"),
        ({"relation": "capital", "entity": "Peru"}, "other"),
        # a patching row: its counterfactual text reads the edited fact, its entity does not
        (
            {
                "relation": "capital",
                "entity": "Peru",
                "original_text": "The capital of Peru is",
                "counterfactual_text": "The capital of France is",
            },
            "edited",
        ),
        ({"relation": "capital", "entity": "Peru", "counterfactual_text": "The capital of Chad is"}, "gained"),
        ({"relation": "", "entity": ""}, "other"),
    ],
)
def test_edit_stratum_reads_the_row_s_facts(row, stratum):
    assert edit_stratum(row, TABLE) == stratum


def test_edit_strata_needs_a_table_with_edits():
    with pytest.raises(ValueError, match="--strata edits: the target 'toy-target' has no built-in fact table"):
        edit_strata("toy-target", [])
    with pytest.raises(ValueError, match="'smollm2-135m' has no built-in fact table with edited facts"):
        edit_strata("smollm2-135m", [])


def test_the_shipped_edited_table_gives_every_stratum():
    table = fact_table_for("smollm2-135m-edited")
    edited = next(f for f in table.facts if f.edited)
    gained = next(f for f in table.facts if f.gained)
    other = next(
        f
        for f in table.facts
        if not f.edited and not f.gained and not table.involves_edit(f.relation, f.subject, count_gained=True)
    )
    rows = [{"relation": f.relation, "entity": f.subject} for f in (edited, gained, other)]
    assert edit_strata("smollm2-135m-edited", rows) == ["edited", "gained", "other"]


PREDICTIONS = [
    "The most likely output would change to <<<Rome>>>.",
    "The output would remain unchanged from <<<x>>>.",
    "The most likely output would change to <<<Lima>>>.",
    "nonsense",
    "The output would remain unchanged from <<<euro>>>.",
    "The most likely output would change to <<<y>>>.",
]
REFERENCES = [
    "The most likely output would change to <<<Rome>>>.",
    "The most likely output would change to <<<z>>>.",
    "The output would remain unchanged from <<<Lima>>>.",
    "The output would remain unchanged from <<<q>>>.",
    "The output would remain unchanged from <<<euro>>>.",
    "The most likely output would change to <<<y>>>.",
]
STRATA = ["edited", "other", "edited", "other", "gained", "edited"]
CAUSAL_MATCH_KEYS = (
    "exact_match",
    "content_match",
    "valid_rate",
    "has_changed_f1",
    "has_changed_macro_f1",
    "changed_exact_match",
    "changed_content_match",
    "changed_valid_rate",
    "unchanged_exact_match",
    "unchanged_content_match",
    "unchanged_valid_rate",
    "has_unchanged_f1",
    "has_changed_precision",
    "has_changed_recall",
    "has_unchanged_precision",
    "has_unchanged_recall",
)


def _result(seed, predictions=PREDICTIONS, index=(3, 5, 8, 13, 21, 34)):
    statistics = causal_match_rows(predictions, REFERENCES)
    return {
        "who": "m",
        "size": 10,
        "seed": seed,
        "control": None,
        "kind": "explainer",
        "self": True,
        "splits": {
            "test": {
                "metrics": dict.fromkeys(CAUSAL_MATCH_KEYS, 0.5),
                "details": {},
                "rows": len(predictions),
                "per_row": {
                    "index": list(index),
                    "group": ["a", "a", "b", "b", "c", "c"],
                    "prediction": predictions,
                    "metric": "causal_match",
                    "statistics": statistics,
                },
            }
        },
    }


def test_a_stratum_s_metrics_equal_the_module_on_its_rows():
    by_index = dict(zip((3, 5, 8, 13, 21, 34), STRATA))
    result = with_strata(_result(0), "test", by_index)
    metric = evaluate.load(self_explain.metric_path("causal_match"))
    for stratum in ("edited", "gained", "other"):
        keep = [k for k, s in enumerate(STRATA) if s == stratum]
        expected = metric.compute(predictions=[PREDICTIONS[k] for k in keep], references=[REFERENCES[k] for k in keep])
        scored = result["splits"][stratum_split("test", stratum)]
        assert scored["rows"] == len(keep)
        assert scored["per_row"]["index"] == [(3, 5, 8, 13, 21, 34)[k] for k in keep]
        assert set(scored["metrics"]) == set(CAUSAL_MATCH_KEYS)
        for name, value in scored["metrics"].items():
            assert value == (None if expected[name] is None else pytest.approx(expected[name], abs=1e-4)), name
    assert result["splits"]["test"] == _result(0)["splits"]["test"]  # the split itself is left as it was


def test_strata_are_reported_as_splits_with_intervals():
    results = [_result(0), _result(1, predictions=list(reversed(PREDICTIONS)))]
    by_index = {"test": dict(zip((3, 5, 8, 13, 21, 34), STRATA))}
    results, splits = stratified(results, ["test"], by_index)
    assert splits == ["test", "test[edited]", "test[gained]", "test[other]"]
    rows = summarize(results, splits, ("content_match",), samples=200)
    edited = next(r for r in rows if r["split"] == "test[edited]")
    assert edited["interval"] == "bootstrap" and edited["ci_low"] <= edited["mean"] <= edited["ci_high"]
    assert edited["scored_rows"] == 3


def test_a_run_without_per_row_scores_is_left_unstratified():
    result = _result(0)
    result["splits"]["test"]["per_row"] = None
    assert with_strata(result, "test", {}) is result


@pytest.mark.parametrize(
    ("strata", "message"),
    [
        ("nosuch", "--strata 'nosuch' is not one of \\['edits'\\]"),
        ("edits", "--strata edits: the target 'toy-target' has no built-in fact table"),
    ],
)
def test_experiment_checks_strata_before_any_run(tmp_path, strata, message):
    with pytest.raises(ValueError, match=message):
        ExperimentConfig(
            task="patching", output_dir=str(tmp_path / "o"), target="toy-target", sizes=[10], seeds=1, strata=strata
        )
    assert not (tmp_path / "o").exists()


REPO = Path(__file__).parents[2]


@pytest.mark.parametrize("task", ["ablation", "patching"])
def test_the_edited_smollm2_recipes_stratify_by_edits_and_read_their_dataset_recipe(task):
    from self_explain.cli_options import parse_with_recipe as _parse_with_recipe

    path = REPO / "experiments" / "privileged-access" / "smollm2-135m-edited" / f"{task}.yaml"
    config, _ = _parse_with_recipe(ExperimentConfig, "experiment privileged-access", ["--config", str(path)])
    build_recipe = REPO / "dataset_builders" / f"self-explain-{task}" / "smollm2-135m-edited.yaml"
    build = yaml.safe_load(build_recipe.read_text())
    assert (config.task, config.target, config.strata) == (task, "smollm2-135m-edited", "edits")
    assert (config.dataset_name, config.dataset_config) == (build["output_dir"], build["config_name"])
    assert config.target == build["target"]
    # self and the base without the edits (Gemma, another family, over the part's budget: added by --explainers)
    assert config.explainers == ["smollm2-135m-edited", "smollm2-135m"]
    assert config.output_dir == f"out/experiments/smollm2-135m-edited/{task}"  # where the Makefile keeps it from
