"""The privileged-access experiment's summary (mean and CI over seeds, paired differences and their tests: bootstrap
p-values, Holm within each table, TOST; every metric at the largest size; tables, plot, report files) and the
experiment's bookkeeping: training sizes, steps, resumability, and its config's validation."""

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from self_explain.evaluation.experiment import (
    Cell,
    ExperimentConfig,
    check_resumable,
    effective_sizes,
    train_steps,
)
from self_explain.evaluation.report import without_per_row, write_report
from self_explain.evaluation.results_markdown import (
    counted,
    difference_scaling_table,
    difference_table,
    format_metric,
    headline_table,
    metrics_table,
    report_markdown,
    scaling_table,
)
from self_explain.evaluation.row_scores import METRIC_STATISTICS
from self_explain.evaluation.scaling_plot import plot_scaling
from self_explain.evaluation.summary_statistics import (
    every_metric,
    every_metric_name,
    group_kind,
    paired_differences,
    summarize,
)
from self_explain.metrics.causal_match.rows import causal_match_rows
from self_explain.tasks import get_task
from self_explain.utils.significance import holm_adjust

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPLITS = ["test", "ood"]
METRICS = ("exact_match", "has_changed_f1")
# What write_report summarises: the headline metrics of the task the hand-made results are of.
HEADLINE = get_task("patching").experiment.headline_metrics


# ----------------------------------------------------------------------------------------------
# Hand-made results, as run_training_cell and run_baseline_cells write them
# ----------------------------------------------------------------------------------------------


def scored(test=None, ood=None, details=None):
    splits = {}
    for split, metrics in (("test", test), ("ood", ood)):
        if metrics is not None:
            splits[split] = {"metrics": metrics, "details": details or {}, "rows": 10}
    return splits


def explainer_result(who, size, seed, test, ood=None, self_=False):
    return {
        "who": who,
        "size": size,
        "seed": seed,
        "kind": "explainer",
        "self": self_,
        "train_rows": size,
        "train_loss": 0.1,
        "train_steps": 100,
        "splits": scored(test, ood),
    }


def baseline_result(who, test, ood=None, size=None, seed=None, details=None):
    return {
        "who": who,
        "size": size,
        "seed": seed,
        "kind": "baseline",
        "self": False,
        "train_rows": size,
        "splits": scored(test, ood, details),
    }


def em(value, f1=None):
    return {
        "exact_match": value,
        "has_changed_f1": value if f1 is None else f1,
        "valid_rate": 1.0,
        "changed_content_match": value / 2,
        "unchanged_exact_match": value,
    }


RESULTS = [
    # The target explaining itself: three seeds at 100 and at 300 rows, both splits.
    *[
        explainer_result("toy-target", 100, seed, em(v), em(v / 2), self_=True)
        for seed, v in zip((0, 1, 2), (0.1, 0.2, 0.3))
    ],
    *[
        explainer_result("toy-target", 300, seed, em(v), em(v / 2), self_=True)
        for seed, v in zip((0, 1, 2), (0.5, 0.6, 0.7))
    ],
    # Another model (given as a path): two seeds at each size, and no ood split at 100 rows.
    *[explainer_result("/models/toy-other", 100, seed, em(v)) for seed, v in zip((0, 1), (0.05, 0.15))],
    *[explainer_result("/models/toy-other", 300, seed, em(v), em(v)) for seed, v in zip((0, 1), (0.3, 0.4))],
    baseline_result("untrained", em(0.0), em(0.0)),
    baseline_result(
        "selfie",
        em(0.02),
        em(0.01),
        details={"scale": 10.0, "selected_by": "exact_match", "metrics_by_scale": {"10.0": em(0.02)}},
    ),
    *[
        baseline_result("nearest-neighbor", em(v), em(v), size=size, seed=seed)
        for size, seed, v in ((100, 0, 0.11), (100, 1, 0.13), (300, 0, 0.21), (300, 1, 0.23))
    ],
]


@pytest.fixture(scope="module")
def rows():
    return summarize(RESULTS, SPLITS, METRICS)


def find(rows, who, size, split="test", metric="exact_match"):
    matches = [r for r in rows if (r["who"], r["size"], r["split"], r["metric"]) == (who, size, split, metric)]
    assert len(matches) <= 1, matches
    return matches[0] if matches else None


def test_summarize_groups_the_seeds_of_each_cell(rows):
    row = find(rows, "toy-target", 100)
    assert row["n"] == 3 and row["values"] == [0.1, 0.2, 0.3]
    # These hand-made results kept no per-row scores: the mean over seeds, and no interval to resample.
    assert row["mean"] == 0.2 and (row["ci_low"], row["ci_high"], row["interval"]) == (None, None, None)
    assert (row["kind"], row["self"], row["train_rows"]) == ("explainer", True, 100)

    row = find(rows, "toy-target", 300, "ood")
    assert row["values"] == [0.25, 0.3, 0.35] and row["mean"] == pytest.approx(0.3)

    row = find(rows, "/models/toy-other", 300)
    assert row["n"] == 2 and row["mean"] == pytest.approx(0.35) and row["self"] is False

    row = find(rows, "nearest-neighbor", 100)
    assert row["values"] == [0.11, 0.13] and row["kind"] == "baseline" and row["train_rows"] == 100


def test_summarize_keeps_one_value_baselines_without_interval(rows):
    row = find(rows, "untrained", None)
    assert (row["n"], row["mean"], row["ci_low"], row["ci_high"]) == (1, 0.0, None, None)
    assert find(rows, "selfie", None)["details"]["scale"] == 10.0


def test_summarize_skips_missing_splits_and_metrics_not_asked_for(rows):
    assert find(rows, "/models/toy-other", 100, "ood") is None, "those runs had no ood split"
    assert not [r for r in rows if r["metric"] == "valid_rate"], "only the metrics asked for"
    # toy-target: 2 sizes x 2 splits x 2 metrics; toy-other: 3 (size, split) cells x 2; untrained, selfie: 2 x 2 each;
    # nearest neighbour: 2 sizes x 2 splits x 2 metrics.
    assert len(rows) == 8 + 6 + 4 + 4 + 8


def test_summarize_of_a_subset_of_splits(rows):
    only_ood = summarize(RESULTS, ["ood"], ("has_changed_f1",))
    assert {r["split"] for r in only_ood} == {"ood"} and {r["metric"] for r in only_ood} == {"has_changed_f1"}
    assert find(only_ood, "toy-target", 100, "ood", "has_changed_f1")["values"] == [0.05, 0.1, 0.15]


def table_rows(lines):
    """{label: [cells]} of a markdown table's body."""
    body = {}
    for line in lines[2:]:
        label, *cells = [c.strip() for c in line.strip("|").split("|")]
        body[label] = cells
    return body


def test_headline_table_shows_the_largest_size_and_the_baselines_that_do_not_train(rows):
    lines = headline_table(rows, SPLITS, METRICS, "toy-target")
    assert lines[0] == "| explainer | test exact_match | test has_changed_f1 | ood exact_match | ood has_changed_f1 |"
    assert lines[1] == "|---|---|---|---|---|"
    body = table_rows(lines)
    assert list(body) == [
        "toy-target (self)",
        "toy-other",
        "baseline: untrained",
        "baseline: selfie (scale 10)",
        "baseline: nearest-neighbor",
    ], "explainers first, then baselines, in order of appearance"
    assert body["toy-target (self)"][0] == "0.600", (
        "the largest size (300 rows), not 100; no per-row scores, no interval"
    )
    assert body["toy-other"][0] == "0.350"
    assert body["baseline: untrained"] == ["0.000"] * 4
    assert body["baseline: selfie (scale 10)"][0] == "0.020"
    assert body["baseline: nearest-neighbor"][0] == "0.220", "nearest neighbour at the largest size"


def test_headline_table_marks_missing_cells(rows):
    without_big_other_ood = [r for r in rows if not (r["who"] == "/models/toy-other" and r["split"] == "ood")]
    body = table_rows(headline_table(without_big_other_ood, SPLITS, METRICS, "toy-target"))
    assert body["toy-other"][2:] == ["–", "–"]


def test_scaling_table_repeats_a_baseline_that_does_not_train_at_every_size(rows):
    lines = scaling_table(rows, "test", "exact_match", "toy-target")
    assert lines[0] == "| explainer | n=100 | n=300 |"
    body = table_rows(lines)
    assert body["baseline: untrained"] == ["0.000", "0.000"]
    assert body["baseline: selfie (scale 10)"] == ["0.020", "0.020"]
    assert [c.split(" ")[0] for c in body["toy-target (self)"]] == ["0.200", "0.600"]
    assert [c.split(" ")[0] for c in body["baseline: nearest-neighbor"]] == ["0.120", "0.220"]

    ood = table_rows(scaling_table(rows, "ood", "exact_match", "toy-target"))
    assert ood["toy-other"][0] == "–" and ood["toy-other"][1].startswith("0.350")


def make_summary(rows, **overrides):
    return {
        "experiment": "privileged-access",
        "task": "patching",
        "target": "toy-target",
        "explainers": ["toy-target", "/models/toy-other"],
        "dataset": "some/dataset",
        "dataset_config": "toy-target",
        "sizes": [100, 300],
        "seeds": 3,
        "splits": SPLITS,
        "headline_metrics": list(METRICS),
        "rows": rows,
        **overrides,
    }


def test_report_markdown_has_the_title_and_a_table_per_split_and_metric(rows):
    summary = make_summary(rows)
    text = report_markdown(summary)
    lines = text.splitlines()
    assert lines[0] == "# Privileged access: task `patching`, target `toy-target`"
    assert "Dataset `some/dataset` config `toy-target`; 3 seeds per cell" in text
    assert "Largest training size: 300 rows." in text
    assert "## Self vs. other explainers vs. baselines (largest training size)" in lines
    headers = [line for line in lines if line.startswith("## ") and "by training rows" in line]
    assert headers == [f"## {m} on {s} by training rows" for s in SPLITS for m in METRICS]
    assert "\n".join(headline_table(rows, SPLITS, METRICS, "toy-target")) in text
    assert "\n".join(scaling_table(rows, "ood", "has_changed_f1", "toy-target")) in text
    assert text.endswith("\n")


@pytest.mark.parametrize("count, expected", [(0, "0 seeds"), (1, "1 seed"), (2, "2 seeds")])
def test_counted_says_seed_or_seeds(count, expected):
    assert counted(count, "seed") == expected
    assert counted(count, "query", "queries") == expected.replace("seeds", "queries").replace("seed", "query")


def test_report_markdown_of_one_seed_is_singular(rows):
    text = report_markdown(make_summary(rows, seeds=1))
    assert "config `toy-target`; 1 seed per cell" in text
    assert "seed(s)" not in text and "1 seeds" not in text


def test_plot_scaling_writes_a_png_and_no_temporary_file(rows, tmp_path):
    plot_scaling(make_summary(rows), tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in tmp_path.iterdir()] == ["scaling.png"]


def test_plot_scaling_with_only_single_seed_explainers(tmp_path):
    results = [explainer_result("toy-target", 50, 0, em(0.3)), baseline_result("untrained", em(0.1))]
    rows = summarize(results, ["test"], ("exact_match",))
    plot_scaling(make_summary(rows, splits=["test"], headline_metrics=["exact_match"], sizes=[50]), tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG_MAGIC


def test_write_report_writes_results_json_md_and_png(tmp_path):
    out = tmp_path / "experiment"
    out.mkdir()
    config = SimpleNamespace(
        task="patching",
        target="toy-target",
        explainers=["toy-target", "/models/toy-other"],
        seeds=3,
        splits=SPLITS,
        output_dir=str(out),
        config_name="toy-target",
    )
    summary = write_report(config, "some/dataset", RESULTS)

    assert summary["sizes"] == [100, 300], "the explainers' sizes (a baseline's None is not one)"
    assert summary["headline_metrics"] == list(HEADLINE) and "changed_content_match" in HEADLINE
    assert summary["headline_reason"] == get_task("patching").experiment.headline_reason != ""
    assert summary["rows"] == summarize(RESULTS, SPLITS, HEADLINE)
    assert {r["metric"] for r in summary["rows"]} == {"changed_content_match", "unchanged_exact_match", "exact_match"}
    assert summary["runs"] == RESULTS
    assert (summary["task"], summary["target"], summary["dataset"], summary["dataset_config"]) == (
        "patching",
        "toy-target",
        "some/dataset",
        "toy-target",
    )
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(summary))
    text = (out / "results.md").read_text()
    assert text == report_markdown(summary)
    assert "**Headline metric:** `changed_content_match` (then `unchanged_exact_match`, `exact_match`). " in text
    assert get_task("patching").experiment.headline_reason in text
    assert (out / "scaling.png").read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in out.iterdir()) == ["results.json", "results.md", "scaling.png"], "no temporary files"


# ----------------------------------------------------------------------------------------------
# experiment.py: sizes, steps, cells, resumability, config validation
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sizes, train_rows, expected",
    [
        ([100, 300, 1000, 3000], 5000, [100, 300, 1000, 3000]),
        ([100, 300, 1000, 3000], 500, [100, 300, 500]),
        ([1000, 3000], 500, [500]),
        ([300, 100, 100], 5000, [100, 300]),
        ([100, 500], 500, [100, 500]),
        ([500, 600, 700], 500, [500]),
    ],
)
def test_effective_sizes_collapse_sizes_above_the_train_split_into_one_all_rows_size(sizes, train_rows, expected):
    assert effective_sizes(sizes, train_rows) == expected


def test_effective_sizes_warn_about_the_sizes_that_run_on_all_rows(caplog):
    with caplog.at_level("WARNING", logger="self_explain.evaluation.experiment"):
        effective_sizes([100, 1000, 3000], 500)
    assert "the train split has 500 rows: sizes [1000, 3000] run on all of them" in caplog.text


def config(tmp_path, **overrides):
    return ExperimentConfig(**{"task": "patching", "output_dir": str(tmp_path / "experiment"), **overrides})


def test_train_steps_are_epochs_over_the_rows_but_at_least_min_steps(tmp_path):
    c = config(tmp_path, num_train_epochs=5.0, per_device_train_batch_size=32, min_steps=100)
    assert train_steps(c, 3000) == math.ceil(5 * 3000 / 32) == 469
    assert train_steps(c, 100) == 100, "16 steps of epochs, raised to min_steps"
    assert train_steps(config(tmp_path, num_train_epochs=1.5, per_device_train_batch_size=4, min_steps=1), 10) == 4


def test_cell_folders():
    assert Cell("/models/toy-other", 300, 2).folder == "toy-other/n300-seed2"
    assert Cell("selfie", None, None).folder == "selfie"
    assert Cell("nearest-neighbor", 100, 0).folder == "nearest-neighbor/n100-seed0"


def test_check_resumable_records_the_settings_then_accepts_the_same(tmp_path):
    first = config(tmp_path)
    Path(first.output_dir).mkdir()
    check_resumable(first)
    recorded = json.loads((Path(first.output_dir) / "experiment.json").read_text())
    assert recorded["task"] == "patching" and recorded["learning_rate"] == first.learning_rate
    assert recorded["splits"] == ["test", "ood"] and recorded["selfie_scales"] == [1.0, 5.0, 10.0, 25.0, 50.0]
    assert "explainers" not in recorded and "sizes" not in recorded and "seeds" not in recorded

    check_resumable(config(tmp_path))
    # More explainers, sizes, seeds or other baselines add runs without changing what the finished ones mean.
    check_resumable(
        config(
            tmp_path,
            explainers=["toy-target"],
            sizes=[50, 5000],
            seeds=5,
            baselines=["untrained"],
            batch_size=3,
            keep_explainers=True,
        )
    )
    record = Path(first.output_dir) / "experiment.json"
    assert json.loads(record.read_text()) == recorded, "the record is not rewritten"
    assert not [p.name for p in Path(first.output_dir).iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"learning_rate": 1e-4}, "learning_rate"),
        ({"lora_r": 8, "seed": 1}, "lora_r, seed"),
        ({"splits": ["test"]}, "splits"),
        ({"selfie_scales": [1.0, 10.0]}, "selfie_scales"),
        ({"eval_rows": None}, "eval_rows"),
        ({"target": "toy-other"}, "target"),
    ],
)
def test_check_resumable_refuses_changed_settings_and_names_them(tmp_path, changes, named):
    Path(tmp_path / "experiment").mkdir()
    check_resumable(config(tmp_path))
    with pytest.raises(ValueError, match=rf"holds runs made with other settings \({named}\)"):
        check_resumable(config(tmp_path, **changes))


def test_experiment_config_defaults_and_none_baselines(tmp_path):
    c = config(tmp_path)
    assert c.baselines is None and c.config_name == "toy-target"
    assert config(tmp_path, baselines=["none"]).baselines == []
    assert config(tmp_path, baselines=["selfie", "untrained"]).baselines == ["selfie", "untrained"]
    assert config(tmp_path, target="/models/Llama-3.1-8B/").config_name == "Llama-3.1-8B"
    assert config(tmp_path, dataset_config="mine").config_name == "mine"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"task": "nope"}, "unknown task 'nope'"),
        ({"explainers": []}, "--explainers needs at least one model"),
        ({"sizes": []}, r"--sizes must be positive training row counts, got \[\]"),
        ({"sizes": [100, 0]}, r"--sizes must be positive training row counts, got \[100, 0\]"),
        ({"sizes": [-5]}, "--sizes must be positive"),
        ({"seeds": 0}, "--seeds must be at least 1, got 0"),
        ({"task": "ablation", "baselines": ["selfie"]}, r"--baselines \['selfie'\] do not apply to task 'ablation'"),
        ({"baselines": ["untrained", "random"]}, r"--baselines \['random'\] do not apply to task 'patching'"),
        ({"baselines": ["none", "untrained"]}, r"--baselines \['none'\] do not apply"),
    ],
)
def test_experiment_config_refuses_bad_settings(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        config(tmp_path, **overrides)


# ----------------------------------------------------------------------------------------------
# A metric a seed could not estimate (None, e.g. causal_match's has_changed_f1 with no valid answer)
# ----------------------------------------------------------------------------------------------


def em_f1(value, f1):
    return {"exact_match": value, "has_changed_f1": f1, "valid_rate": 1.0}


NOT_ESTIMABLE_RESULTS = [
    # Three seeds, one with no valid answer: its F1 is left out of the mean.
    *[explainer_result("toy-target", 100, seed, em_f1(0.5, f1)) for seed, f1 in zip((0, 1, 2), (0.4, None, 0.6))],
    # No seed has a valid answer: nothing to average.
    *[explainer_result("/models/toy-other", 100, seed, em_f1(0.0, None)) for seed in (0, 1)],
    baseline_result("untrained", em_f1(0.0, None)),
]


def test_summarize_leaves_not_estimable_seeds_out_of_the_mean():
    rows = summarize(NOT_ESTIMABLE_RESULTS, ["test"], METRICS)
    row = find(rows, "toy-target", 100, "test", "has_changed_f1")
    assert row["values"] == [0.4, None, 0.6] and row["n"] == 3 and row["not_estimable"] == 1
    assert (row["mean"], row["ci_low"], row["ci_high"]) == (pytest.approx(0.5), None, None)
    row = find(rows, "/models/toy-other", 100, "test", "has_changed_f1")
    assert (row["mean"], row["ci_low"], row["ci_high"], row["not_estimable"]) == (None, None, None, 2)
    assert find(rows, "toy-target", 100, "test", "exact_match")["not_estimable"] == 0


def test_tables_show_not_estimable_cells():
    rows = summarize(NOT_ESTIMABLE_RESULTS, ["test"], METRICS)
    body = table_rows(headline_table(rows, ["test"], METRICS, "toy-target"))
    assert body["toy-target"][1] == "0.500 (2 of 3 seeds)"
    assert body["toy-other"] == ["0.000", "not estimable"]
    assert body["baseline: untrained"] == ["0.000", "not estimable"]
    scaling = table_rows(scaling_table(rows, "test", "has_changed_f1", "toy-target"))
    assert scaling["toy-other"] == ["not estimable"]


def test_report_files_with_not_estimable_cells(tmp_path):
    config = SimpleNamespace(
        task="patching",
        target="toy-target",
        explainers=["toy-target", "/models/toy-other"],
        seeds=3,
        splits=["test"],
        output_dir=str(tmp_path),
        config_name="toy-target",
    )
    summary = write_report(config, "some/dataset", NOT_ESTIMABLE_RESULTS)
    assert "not estimable" in (tmp_path / "results.md").read_text()
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == summary["rows"]
    assert (tmp_path / "scaling.png").read_bytes()[:8] == PNG_MAGIC


def test_format_metric():
    assert [format_metric(v) for v in (0.12345, 1, None)] == ["0.123", "1.000", "not estimable"]


# ----------------------------------------------------------------------------------------------------------------
# Per-row scores: bootstrap intervals over seeds × entities, and paired differences self − X
# ----------------------------------------------------------------------------------------------------------------

CHANGED = "The most likely output would change to <<<{}>>>."
UNCHANGED = "The output would remain unchanged from <<<{}>>>."
ENTITIES = 10  # three scored rows each
REFERENCES = [(CHANGED if i % 3 else UNCHANGED).format(f"w{i}") for i in range(3 * ENTITIES)]


def predictions_of(right: list[bool], invalid: bool = False) -> list[str]:
    """Right answers where asked; wrong ones elsewhere (the other verdict); or no valid answer at all."""
    if invalid:
        return ["I do not know."] * len(REFERENCES)
    flipped = [UNCHANGED.format(f"w{i}") if i % 3 else CHANGED.format(f"w{i}") for i in range(len(REFERENCES))]
    return [ref if ok else wrong for ref, wrong, ok in zip(REFERENCES, flipped, right)]


def per_row_split(predictions: list[str]) -> dict:
    """A split as score_cell writes it: the metrics and the per-row scores they are recomputed from."""
    columns = causal_match_rows(predictions, REFERENCES)
    totals = {name: np.array([sum(values)]) for name, values in columns.items()}
    metrics = {}
    for name, statistic in METRIC_STATISTICS["causal_match"].items():
        value = float(statistic(totals)[0])
        metrics[name] = None if np.isnan(value) else round(value, 4)
    return {
        "metrics": metrics,
        "details": {},
        "rows": len(REFERENCES),
        "per_row": {
            "index": list(range(len(REFERENCES))),
            "group": [f"e{i // 3}" for i in range(len(REFERENCES))],
            "prediction": predictions,
            "metric": "causal_match",
            "statistics": columns,
        },
    }


def right_share(share: float, seed: int) -> list[bool]:
    rng = np.random.default_rng(seed)
    return list(rng.random(len(REFERENCES)) < share)


def cell(who, size, seed, predictions, kind="explainer", self_=False):
    return {
        "who": who,
        "size": size,
        "seed": seed,
        "kind": kind,
        "self": self_,
        "train_rows": size,
        "splits": {"test": per_row_split(predictions)},
    }


PER_ROW_RESULTS = [
    *[cell("toy-target", 100, seed, predictions_of(right_share(0.9, seed)), self_=True) for seed in (0, 1, 2)],
    *[cell("toy-other", 100, seed, predictions_of(right_share(0.3, 10 + seed))) for seed in (0, 1, 2)],
    # The twin answers exactly as the target: a difference of 0 in every resample.
    *[cell("toy-twin", 100, seed, predictions_of(right_share(0.9, seed))) for seed in (0, 1, 2)],
    # Only two seeds of nearest neighbour finished: compared on those.
    *[
        cell("nearest-neighbor", 100, seed, predictions_of(right_share(0.5, 20 + seed)), kind="baseline")
        for seed in (0, 1)
    ],
    cell("untrained", None, None, predictions_of([], invalid=True), kind="baseline"),
]
METRICS_PER_ROW = ("exact_match", "has_changed_f1")


@pytest.fixture(scope="module")
def per_row_rows():
    return summarize(PER_ROW_RESULTS, ["test"], METRICS_PER_ROW, samples=400, seed=0)


@pytest.fixture(scope="module")
def differences():
    return paired_differences(PER_ROW_RESULTS, ["test"], METRICS_PER_ROW, "toy-target", samples=400, seed=0)


def difference(differences, other, metric="exact_match"):
    (entry,) = [d for d in differences if d["other"] == other and d["metric"] == metric]
    return entry


def test_cells_with_per_row_scores_get_bootstrap_intervals(per_row_rows):
    for who in ("toy-target", "toy-other", "toy-twin", "nearest-neighbor"):
        for metric in METRICS_PER_ROW:
            row = find(per_row_rows, who, 100, "test", metric)
            assert row["interval"] == "bootstrap" and row["scored_rows"] == 30 and row["groups"] == ENTITIES
            mean_of_seeds = sum(row["values"]) / len(row["values"])
            assert row["mean"] == pytest.approx(mean_of_seeds, abs=1e-4), "the mean of what the runs reported"
            assert row["ci_low"] <= row["mean"] <= row["ci_high"] and row["ci_low"] < row["ci_high"]


def test_a_metric_with_no_valid_answer_is_not_estimable_not_zero(per_row_rows):
    row = find(per_row_rows, "untrained", None, "test", "has_changed_f1")
    assert (row["mean"], row["ci_low"], row["ci_high"]) == (None, None, None)
    exact = find(per_row_rows, "untrained", None, "test", "exact_match")
    assert (exact["mean"], exact["ci_low"], exact["ci_high"]) == (0.0, 0.0, 0.0), "0 of 30 right: estimable, and 0"


def test_the_same_seed_gives_the_same_intervals(per_row_rows):
    assert summarize(PER_ROW_RESULTS, ["test"], METRICS_PER_ROW, samples=400, seed=0) == per_row_rows
    other = summarize(PER_ROW_RESULTS, ["test"], METRICS_PER_ROW, samples=400, seed=1)
    assert [r["ci_low"] for r in other] != [r["ci_low"] for r in per_row_rows]


def test_paired_differences_of_self_against_every_other(differences):
    assert {d["other"] for d in differences} == {"toy-other", "toy-twin", "nearest-neighbor", "untrained"}
    assert {d["self"] for d in differences} == {"toy-target"} and {d["size"] for d in differences} == {100}

    other = difference(differences, "toy-other")
    means = [
        sum(r["splits"]["test"]["metrics"]["exact_match"] for r in PER_ROW_RESULTS if r["who"] == w) / 3
        for w in ("toy-target", "toy-other")
    ]
    assert other["difference"] == pytest.approx(means[0] - means[1], abs=1e-4)
    assert other["ci_low"] > 0 and other["excludes_zero"] is True and other["seeds"] == 3
    assert (other["other_kind"], other["other_size"]) == ("explainer", 100)

    twin = difference(differences, "toy-twin")
    assert (twin["difference"], twin["ci_low"], twin["ci_high"], twin["excludes_zero"]) == (0.0, 0.0, 0.0, False)

    neighbour = difference(differences, "nearest-neighbor")
    assert neighbour["seeds"] == 2, "paired on the seeds both have"
    mine = [
        r["splits"]["test"]["metrics"]["exact_match"]
        for r in PER_ROW_RESULTS
        if r["who"] == "toy-target" and r["seed"] in (0, 1)
    ]
    theirs = [r["splits"]["test"]["metrics"]["exact_match"] for r in PER_ROW_RESULTS if r["who"] == "nearest-neighbor"]
    assert neighbour["difference"] == pytest.approx(sum(mine) / 2 - sum(theirs) / 2, abs=1e-4)

    untrained = difference(differences, "untrained")
    assert untrained["other_size"] is None and untrained["seeds"] == 3 and untrained["excludes_zero"] is True
    not_estimable = difference(differences, "untrained", "has_changed_f1")
    assert (not_estimable["difference"], not_estimable["ci_low"], not_estimable["excludes_zero"]) == (None, None, None)


def test_paired_differences_without_a_self_explainer_are_none():
    others = [r for r in PER_ROW_RESULTS if r["who"] != "toy-target"]
    assert paired_differences(others, ["test"], METRICS_PER_ROW, "toy-target", samples=50) == []


def test_paired_differences_of_cells_without_per_row_scores_have_no_interval():
    entries = paired_differences(RESULTS, SPLITS, METRICS, "toy-target", samples=50)
    entry = next(
        d
        for d in entries
        if (d["other"], d["size"], d["split"], d["metric"]) == ("/models/toy-other", 300, "test", "exact_match")
    )
    assert entry["difference"] == pytest.approx(0.55 - 0.35, abs=1e-4), "on the seeds both have (0, 1), not 0.6 − 0.35"
    assert entry["seeds"] == 2
    assert (entry["ci_low"], entry["ci_high"], entry["excludes_zero"]) == (None, None, None)


def test_difference_tables_mark_different_and_level_differences(per_row_rows, differences):
    body = table_rows(difference_table(differences, per_row_rows, ["test"], METRICS_PER_ROW, "toy-target"))
    assert list(body) == ["toy-other", "toy-twin", "baseline: nearest-neighbor", "baseline: untrained"]
    other = difference(differences, "toy-other")
    assert body["toy-other"][0] == f"{other['difference']:+.3f} [{other['ci_low']:+.3f}, {other['ci_high']:+.3f}] *"
    assert body["toy-twin"][0] == "+0.000 [+0.000, +0.000] ≈", "no star, but level: 0 in every resample"
    assert body["baseline: untrained"][1] == "not estimable"
    scaling = table_rows(difference_scaling_table(differences, per_row_rows, "test", "exact_match", "toy-target"))
    assert scaling["toy-other"] == [body["toy-other"][0]]


def test_report_files_with_per_row_scores(tmp_path):
    config = SimpleNamespace(
        task="patching",
        target="toy-target",
        explainers=["toy-target", "toy-other", "toy-twin"],
        seeds=3,
        splits=["test"],
        output_dir=str(tmp_path),
        config_name="toy-target",
        seed=0,
    )
    summary = write_report(config, "some/dataset", PER_ROW_RESULTS)
    assert summary["bootstrap"]["groups"] == "entity" and summary["bootstrap"]["level"] == 0.95
    assert summary["differences"] and all("per_row" not in s for r in summary["runs"] for s in r["splits"].values())
    assert summary["runs"] == [without_per_row(r) for r in PER_ROW_RESULTS]
    assert json.loads((tmp_path / "results.json").read_text()) == json.loads(json.dumps(summary))
    text = (tmp_path / "results.md").read_text()
    assert text == report_markdown(summary)
    assert "bootstrap over seeds × held-out entities" in text
    assert "## Paired differences self − X (self: toy-target; largest training size)" in text
    assert "### self − X: exact_match on test by training rows" in text
    headline = tuple(summary["headline_metrics"])
    table = difference_table(summary["differences"], summary["rows"], ["test"], headline, "toy-target")
    assert "\n".join(table) in text


def test_group_kind_says_what_was_resampled():
    assert group_kind(PER_ROW_RESULTS) == "entity"
    by_row = [
        {
            **r,
            "splits": {
                "test": {
                    **r["splits"]["test"],
                    "per_row": {**r["splits"]["test"]["per_row"], "group": list(range(30))},
                }
            },
        }
        for r in PER_ROW_RESULTS
    ]
    assert group_kind(by_row) == "row"
    assert group_kind(RESULTS) is None


# ----------------------------------------------------------------------------------------------------------------
# The tests behind the marks: bootstrap p-values, Holm within each table, TOST at the equivalence margin
# ----------------------------------------------------------------------------------------------------------------


def flip_one(right: list[bool], index: int) -> list[bool]:
    return [not ok if i == index else ok for i, ok in enumerate(right)]


def compared_cells(size: int) -> list[dict]:
    """Self against an X level with it, an X different from it, and an X neither shown level nor different."""
    return [
        *[cell("toy-target", size, seed, predictions_of(right_share(0.9, seed)), self_=True) for seed in (0, 1, 2)],
        # As self, but one row of one seed answered the other way: a difference of 1 row in 90.
        *[
            cell(
                "near-twin",
                size,
                seed,
                predictions_of(flip_one(right_share(0.9, seed), 3) if seed == 0 else right_share(0.9, seed)),
            )
            for seed in (0, 1, 2)
        ],
        *[cell("toy-other", size, seed, predictions_of(right_share(0.3, 10 + seed))) for seed in (0, 1, 2)],
        # Right about as often as self, on other rows: too noisy to tell either way from 10 entities.
        *[cell("noisy", size, seed, predictions_of(right_share(0.85, 30 + seed))) for seed in (0, 1, 2)],
    ]


TESTED_RESULTS = [
    *compared_cells(100),
    *compared_cells(300),
    cell("untrained", None, None, predictions_of([], invalid=True), kind="baseline"),
]


@pytest.fixture(scope="module")
def tested():
    return paired_differences(TESTED_RESULTS, ["test"], METRICS_PER_ROW, "toy-target", samples=400, seed=0)


def test_a_difference_is_shown_level_different_or_neither(tested):
    near = next(d for d in tested if (d["other"], d["size"], d["metric"]) == ("near-twin", 300, "exact_match"))
    assert near["difference"] == pytest.approx(1 / 90, abs=1e-4) and near["ci_high"] < 0.05
    assert near["p_equivalence"] <= 0.05 and near["p_holm"] > 0.05, "level within ±0.05, not shown different"

    other = next(d for d in tested if (d["other"], d["size"], d["metric"]) == ("toy-other", 300, "exact_match"))
    assert other["p_holm"] <= 0.05 and other["p_equivalence"] == 1.0, "different, and far from level"

    noisy = next(d for d in tested if (d["other"], d["size"], d["metric"]) == ("noisy", 300, "exact_match"))
    assert noisy["ci_low"] < 0 < noisy["ci_high"], "an interval that includes 0..."
    assert noisy["p_value"] > 0.05 and noisy["p_equivalence"] > 0.05, "...shows neither a difference nor a level"

    for entry in tested:  # the p-value is read off the resamples that give the 95 % interval
        if entry["p_value"] is not None and abs(entry["p_value"] - 0.05) > 0.01:
            assert entry["excludes_zero"] == (entry["p_value"] < 0.05), entry


def test_the_equivalence_margin_decides_what_is_level():
    narrow = paired_differences(
        TESTED_RESULTS, ["test"], ("exact_match",), "toy-target", samples=400, seed=0, margin=0.02
    )
    near = next(d for d in narrow if (d["other"], d["size"]) == ("near-twin", 300))
    assert near["ci_high"] > 0.02 and near["p_equivalence"] > 0.05, "not level within ±0.02"


def test_holm_adjusts_within_each_table(tested):
    for size in (100, 300):  # the paired-differences table of one size: every X, split and metric
        family = [d for d in tested if d["size"] == size]
        assert len(family) == 4 * len(METRICS_PER_ROW)
        expected = holm_adjust([d["p_value"] for d in family])
        assert [d["p_holm"] for d in family] == pytest.approx(expected, abs=1e-6)
    for metric in METRICS_PER_ROW:  # the by-size table of one split and metric: every X and size
        family = [d for d in tested if d["metric"] == metric]
        expected = holm_adjust([d["p_value"] for d in family])
        assert [d["p_holm_by_size"] for d in family] == pytest.approx(expected, abs=1e-6)
    untested = next(d for d in tested if (d["other"], d["size"], d["metric"]) == ("untrained", 300, "has_changed_f1"))
    assert untested["difference"] is None and (untested["p_value"], untested["p_holm"]) == (None, None)
    assert all(d["p_holm"] >= d["p_value"] for d in tested if d["p_value"] is not None), "adjusting never lowers p"


def test_paired_differences_without_per_row_scores_have_no_tests():
    entry = next(
        d
        for d in paired_differences(RESULTS, SPLITS, METRICS, "toy-target", samples=50)
        if d["difference"] is not None
    )
    assert (entry["p_value"], entry["p_holm"], entry["p_holm_by_size"], entry["p_equivalence"]) == (None,) * 4


def test_report_files_record_and_mark_the_tests(tmp_path):
    config = SimpleNamespace(
        task="patching",
        target="toy-target",
        explainers=["toy-target"],
        seeds=3,
        splits=["test"],
        output_dir=str(tmp_path),
        config_name="toy-target",
        seed=0,
        equivalence_margin=0.03,
    )
    summary = write_report(config, "some/dataset", TESTED_RESULTS)
    assert summary["tests"]["equivalence_margin"] == 0.03 and summary["tests"]["alpha"] == 0.05
    assert set(summary["tests"]["families"]) == {"p_holm", "p_holm_by_size"}
    assert all({"p_value", "p_holm", "p_holm_by_size", "p_equivalence"} <= set(d) for d in summary["differences"])
    text = (tmp_path / "results.md").read_text()
    assert "equivalent within ±0.03 by TOST at 0.05" in text and "Holm-adjusted over this table's" in text
    body = table_rows(difference_table(summary["differences"], summary["rows"], ["test"], HEADLINE, "toy-target"))
    assert body["toy-other"][-1].endswith(" *") and body["noisy"][-1].endswith("]"), "overall exact match"


# ----------------------------------------------------------------------------------------------------------------
# Every metric the rows give, at the largest training size
# ----------------------------------------------------------------------------------------------------------------


def test_every_metric_name_is_the_metrics_keys_then_extra_scores_then_what_runs_reported():
    with_extra = [
        {
            **r,
            "splits": {
                "test": {
                    **r["splits"]["test"],
                    "metrics": {**r["splits"]["test"]["metrics"], "judge": 0.5, "note": "text"},
                    "per_row": {
                        **r["splits"]["test"]["per_row"],
                        "statistics": {
                            **r["splits"]["test"]["per_row"]["statistics"],
                            "simulator_correlation": [0.0] * 30,
                            "simulator_correlation:rows": [1.0] * 30,
                        },
                    },
                }
            },
        }
        for r in PER_ROW_RESULTS[:1]
    ]
    names = every_metric_name(with_extra, ["test"])
    assert names == [*METRIC_STATISTICS["causal_match"], "simulator_correlation", "judge"], "not the text 'note'"
    assert every_metric_name(RESULTS, ["ood"]) == [
        "exact_match",
        "has_changed_f1",
        "valid_rate",
        "changed_content_match",
        "unchanged_exact_match",
    ]


def test_every_metric_at_the_largest_size_shows_each_stratum_with_its_interval():
    every = every_metric(TESTED_RESULTS, ["test"], samples=200, seed=0)
    assert every["size"] == 300 and every["metrics"] == list(METRIC_STATISTICS["causal_match"])
    assert {r["size"] for r in every["rows"]} == {300, None}
    for metric in ("changed_exact_match", "unchanged_exact_match", "changed_valid_rate", "has_unchanged_precision"):
        row = find(every["rows"], "toy-other", 300, "test", metric)
        reported = [
            r["splits"]["test"]["metrics"][metric]
            for r in TESTED_RESULTS
            if (r["who"], r["size"]) == ("toy-other", 300)
        ]
        assert row["mean"] == pytest.approx(sum(reported) / 3, abs=1e-4)
        assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    untrained = find(every["rows"], "untrained", None, "test", "unchanged_valid_rate")
    assert (untrained["mean"], untrained["ci_high"]) == (0.0, 0.0)
    assert find(every["rows"], "untrained", None, "test", "has_unchanged_f1")["mean"] is None, "no valid answer"
    table = table_rows(metrics_table(every["rows"], "test", every["metrics"], "toy-target"))
    assert list(table) == every["metrics"]
    assert table["changed_content_match"][0] == _cell_text(
        find(every["rows"], "toy-target", 300, "test", "changed_content_match")
    )


def _cell_text(row):
    return f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def test_report_files_show_every_metric(tmp_path):
    config = SimpleNamespace(
        task="patching",
        target="toy-target",
        explainers=["toy-target"],
        seeds=3,
        splits=["test"],
        output_dir=str(tmp_path),
        config_name="toy-target",
        seed=0,
    )
    summary = write_report(config, "some/dataset", TESTED_RESULTS)
    assert summary["all_metrics"]["size"] == 300 and "changed_exact_match" in summary["all_metrics"]["metrics"]
    text = (tmp_path / "results.md").read_text()
    assert "## Every metric at the largest training size (300 rows)" in text
    assert (
        "\n".join(
            metrics_table(summary["all_metrics"]["rows"], "test", summary["all_metrics"]["metrics"], "toy-target")
        )
        in text
    )


def test_plot_scaling_with_a_metric_not_estimable_anywhere_or_somewhere(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    results = [
        *[cell("toy-target", size, 0, predictions_of([], invalid=True), self_=True) for size in (100, 300)],
        cell("toy-other", 100, 0, predictions_of(right_share(0.5, 1))),
        cell("toy-other", 300, 0, predictions_of([], invalid=True)),
        cell("untrained", None, None, predictions_of([], invalid=True), kind="baseline"),
    ]
    metrics = ("has_changed_f1", "changed_content_match")
    rows = summarize(results, ["test"], metrics, samples=50)
    assert find(rows, "toy-other", 300, "test", "has_changed_f1")["mean"] is None
    closed = []
    monkeypatch.setattr(plt, "close", closed.append)
    plot_scaling(make_summary(rows, splits=["test"], headline_metrics=list(metrics)), tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG_MAGIC
    (figure,) = closed
    f1_panel, content_panel = figure.axes
    assert [len(line.get_xdata()) for line in f1_panel.lines] == [1], "toy-other's one estimable size"
    assert [t.get_text() for t in content_panel.texts] == [], "content match is estimable (0 on invalid rows)"
    plt.close(figure)

    never = summarize(results[:2], ["test"], ("has_changed_f1",), samples=50)
    closed.clear()
    plot_scaling(make_summary(never, splits=["test"], headline_metrics=["has_changed_f1"]), tmp_path / "q.png")
    assert [t.get_text() for t in closed[0].axes[0].texts] == ["not estimable"] and not closed[0].axes[0].lines
    plt.close(closed[0])
