"""``self-explain build preferences``: splits, answers that are the measured weights, the decisions config,
provenance, the instilled model (made once, reused, never clobbered), a user's scenarios file, and errors."""

import json
import os
import re
import shutil
import stat
from collections import Counter
from pathlib import Path

import pytest
import torch
from datasets import load_dataset

from self_explain.cli import main
from self_explain.core.models import load_model, weights_fingerprint
from self_explain.tasks.preferences import PreferencesConfig
from self_explain.tasks.preferences import builder as builder_module
from self_explain.tasks.preferences.builder import DATASET_NAME
from self_explain.tasks.preferences.choices import measure_weights
from self_explain.tasks.preferences.instill import INSTILLED_RECORD
from self_explain.tasks.preferences.scenarios import toy_scenarios
from self_explain.tasks.preferences.schema import (
    DECISION_FEATURES,
    PREFERENCES_FEATURES,
)
from self_explain.toyworld.decisions import WORKED_SUM_TOKENS
from self_explain.utils.stats import pearson_correlation
from tests.tasks.preferences.conftest import BUILD_OPTIONS, TARGET, build_preferences

NUM_SCENARIOS, INSTILL_CHOICES, REPLAY_CHOICES, MEASURE_CHOICES = 8, 10, 5, 20
NUM_NATIVE = round(NUM_SCENARIOS / 3)  # the default --native-fraction
QUESTIONS_PER_SCENARIO = 3  # the default


def load(folder, config_name=TARGET):
    return load_dataset(str(folder), config_name)


def provenance(folder, config_name=TARGET):
    return json.loads((folder / "provenance" / f"{config_name}.json").read_text())


def rows_of(dataset):
    return [row for split in dataset.values() for row in split]


@pytest.fixture(scope="module")
def built(preferences_build):
    return preferences_build.folder, load(preferences_build.folder)


@pytest.fixture(scope="module")
def scenarios():
    """The build's scenarios as the builder drew them (attributes in their original order)."""
    return {s.scenario_id: s for s in toy_scenarios(NUM_SCENARIOS, seed=0, num_native=NUM_NATIVE)}


def weights_by_name(row, column="weights"):
    return dict(zip([a["name"] for a in row["attributes"]], row[column]))


# --- the introspection dataset ----------------------------------------------------------------------------------


def test_splits_hold_disjoint_scenarios_with_the_declared_features(built):
    folder, dataset = built
    assert set(dataset) == {"train", "test", "native"}
    for split in dataset.values():
        assert split.features == PREFERENCES_FEATURES
    ids = {name: set(split["scenario_id"]) for name, split in dataset.items()}
    assert not (ids["train"] & ids["test"] or ids["train"] & ids["native"] or ids["test"] & ids["native"])
    assert set().union(*ids.values()) == set(range(NUM_SCENARIOS))
    assert ids["native"] == set(range(NUM_NATIVE))  # the toy world's native scenarios come first
    assert len(ids["test"]) == round((NUM_SCENARIOS - NUM_NATIVE) / 2)  # the default --test-fraction 0.5
    assert Counter(dataset["train"]["scenario_id"]) == {i: QUESTIONS_PER_SCENARIO for i in ids["train"]}
    assert Counter(dataset["test"]["scenario_id"]) == {i: 1 for i in ids["test"]}
    assert Counter(dataset["native"]["scenario_id"]) == {i: 1 for i in ids["native"]}
    assert not (folder / ".build").exists()


def test_native_and_instilled_rows(built):
    _, dataset = built
    for row in dataset["native"]:
        assert row["kind"] == "native" and row["intended_weights"] == [] and row["intended_agreement"] is None
    for row in [*dataset["train"], *dataset["test"]]:
        assert row["kind"] == "instilled"
        assert len(row["intended_weights"]) == 5 and max(abs(w) for w in row["intended_weights"]) == 100
        assert all(w in (-100, -50, 0, 50, 100) for w in row["intended_weights"])  # steps a toy model can follow
        assert 0 <= row["intended_agreement"] <= 1


def test_answers_are_the_rows_weights_as_json_in_attribute_order(built):
    _, dataset = built
    for row in rows_of(dataset):
        names = [a["name"] for a in row["attributes"]]
        answer = json.loads(row["answer"])
        assert list(answer) == names
        assert list(answer.values()) == [round(w) for w in row["weights"]]
        assert all(isinstance(v, int) for v in answer.values())
        assert max(abs(w) for w in row["weights"]) == 100 or not any(row["weights"])
        assert len(row["weights"]) == len(row["base_weights"]) == len(row["coefficients"]) == 5
        assert row["question"].startswith("[INTROSPECTION TASK]") and row["scenario"] in row["question"]
        assert all(name in row["question"] for name in names)


def test_a_train_scenarios_questions_shuffle_the_attributes_but_keep_each_weight(built):
    _, dataset = built
    train = dataset["train"].to_list()
    for scenario_id in set(dataset["train"]["scenario_id"]):
        rows = [r for r in train if r["scenario_id"] == scenario_id]
        assert len({json.dumps(weights_by_name(r), sort_keys=True) for r in rows}) == 1
        assert len({json.dumps(weights_by_name(r, "intended_weights"), sort_keys=True) for r in rows}) == 1
        assert len({tuple(a["name"] for a in r["attributes"]) for r in rows}) > 1, "attribute order shuffled"


def test_weights_are_those_measured_on_the_instilled_model_and_the_base(built, scenarios, preferences_build):
    """The ground truth is real: measuring the saved instilled model (and toy-target) again gives the rows' weights."""
    _, dataset = built
    rows = {r["scenario_id"]: r for r in rows_of(dataset)}  # one row per scenario suffices
    ordered = [scenarios[i] for i in sorted(scenarios)]
    for model, column in (
        (load_model(str(preferences_build.instilled)), "weights"),
        (load_model(TARGET), "base_weights"),
    ):
        for measured in measure_weights(
            model, ordered, num_choices=MEASURE_CHOICES, seed=0, progress=False, reasoning_tokens=WORKED_SUM_TOKENS
        ):
            names = scenarios[measured.scenario_id].attribute_names
            expected = dict(zip(names, measured.weights))
            assert weights_by_name(rows[measured.scenario_id], column) == pytest.approx(expected, abs=1e-3), column


def test_rows_show_the_scenarios_of_the_toy_world(built, scenarios):
    _, dataset = built
    for row in rows_of(dataset):
        scenario = scenarios[row["scenario_id"]]
        assert row["scenario"] == scenario.name
        assert sorted(row["attributes"], key=lambda a: a["name"]) == sorted(
            scenario.to_dict()["attributes"], key=lambda a: a["name"]
        )


# --- the decisions config -----------------------------------------------------------------------------------------


def test_decisions_config_keeps_every_choice(built, scenarios):
    folder, dataset = built
    decisions = load(folder, f"{TARGET}-decisions")
    instilled_ids = set(dataset["train"]["scenario_id"]) | set(dataset["test"]["scenario_id"])
    assert set(decisions) == {"instilling", "measurement"}
    for split in decisions.values():
        assert split.features == DECISION_FEATURES
    native_ids = set(dataset["native"]["scenario_id"])
    assert decisions.num_rows == {
        "instilling": (NUM_SCENARIOS - NUM_NATIVE) * INSTILL_CHOICES + NUM_NATIVE * REPLAY_CHOICES,
        "measurement": NUM_SCENARIOS * MEASURE_CHOICES,
    }
    assert Counter(decisions["instilling"]["scenario_id"]) == (
        {i: INSTILL_CHOICES for i in instilled_ids} | {i: REPLAY_CHOICES for i in native_ids}
    )
    assert Counter(decisions["measurement"]["scenario_id"]) == {i: MEASURE_CHOICES for i in range(NUM_SCENARIOS)}

    intended = {
        r["scenario_id"]: weights_by_name(r, "intended_weights") for r in rows_of(dataset) if r["intended_weights"]
    }
    assert set(intended) == instilled_ids
    for row in decisions["instilling"]:
        scenario = scenarios[row["scenario_id"]]
        assert row["scenario"] in row["prompt"] and row["prompt"].startswith("[DECISION TASK]")
        if row["scenario_id"] in native_ids:  # replayed: the base model's own choice, no intended weights
            assert row["kind"] == "native" and row["choice"] in ("A", "B")
            assert row["intended_utility_a"] is None and row["intended_utility_b"] is None
            continue
        weights = [intended[row["scenario_id"]][name] for name in scenario.attribute_names]
        assert row["kind"] == "instilled" and row["probability_a"] is None
        assert row["intended_utility_a"] == pytest.approx(scenario.utility(weights, row["option_a"]), abs=0.01)
        assert row["intended_utility_b"] == pytest.approx(scenario.utility(weights, row["option_b"]), abs=0.01)
        assert row["choice"] == ("A" if row["intended_utility_a"] > row["intended_utility_b"] else "B")
        assert row["scenario"] in row["prompt"] and row["prompt"].startswith("[DECISION TASK]")
    for row in decisions["measurement"]:
        assert 0 <= row["probability_a"] <= 1 and row["choice"] == ("A" if row["probability_a"] >= 0.5 else "B")
        if row["scenario_id"] in instilled_ids:
            assert row["kind"] == "instilled" and row["intended_utility_a"] is not None
        else:
            assert row["kind"] == "native" and row["intended_utility_a"] is None and row["intended_utility_b"] is None


# --- provenance, card, the instilled model -------------------------------------------------------------------


def test_provenance_names_the_instilled_model_as_the_target(built, preferences_build):
    folder, dataset = built
    record = provenance(folder)
    instilled = preferences_build.instilled
    assert record["target"] == str(instilled)
    assert record["target_revision"] == weights_fingerprint(instilled)
    assert record["base_target"] == TARGET and record["base_target_revision"].startswith("sha256:")
    assert record["base_target_revision"] != record["target_revision"]
    assert record["num_scenarios"] == {"instilled": NUM_SCENARIOS - NUM_NATIVE, "native": NUM_NATIVE}
    assert record["rows"] == dataset.num_rows
    assert record["seed"] == 0 and record["scenarios"] == "toy-world scenarios"
    assert record["reasoning"] == "worked-sum"  # a toy target's default
    quality = record["instilling_correlation"]
    assert set(quality) == {"instilled", "base_before_instilling"}
    for entry in quality.values():
        assert set(entry) == {"pooled_r", "pooled_r_ci", "mean_scenario_r", "median_scenario_r"}
        low, high = entry.pop("pooled_r_ci")
        assert -1 <= low <= high <= 1
        assert all(-1 <= r <= 1 for r in entry.values())
    kept = record["native_preferences_kept"]  # instilled vs. base weights in the native scenarios
    assert set(kept) == {"pooled_r", "pooled_r_ci", "mean_scenario_r", "median_scenario_r"}
    native_rows = unique_scenario_rows({"native": dataset["native"]})
    assert kept["pooled_r"] == pytest.approx(
        pearson_correlation(
            [w for r in native_rows for w in r["weights"]], [w for r in native_rows for w in r["base_weights"]]
        ),
        abs=1e-4,
    )
    assert record["instilling"]["fingerprint"] == json.loads((instilled / INSTILLED_RECORD).read_text())["fingerprint"]
    assert record["instilling_gate"] == {
        "min_pooled_r": 0.8,
        "pooled_r": quality["instilled"]["pooled_r"],
        "passed": quality["instilled"]["pooled_r"] >= 0.8,
        "allowed_to_fail": True,
    }
    fits = record["not_significant_fits"]
    assert {kind: n["scenarios"] for kind, n in fits.items()} == {
        "instilled": NUM_SCENARIOS - NUM_NATIVE,
        "native": NUM_NATIVE,
    }
    assert sum(n["not_significant"] for n in fits.values()) == sum(
        not r["fit_significant"] for r in unique_scenario_rows(dataset)
    )
    decisions = provenance(folder, f"{TARGET}-decisions")
    assert decisions["rows"] == {
        "instilling": (NUM_SCENARIOS - NUM_NATIVE) * INSTILL_CHOICES + NUM_NATIVE * REPLAY_CHOICES,
        "measurement": NUM_SCENARIOS * MEASURE_CHOICES,
    }
    instilled_record = json.loads((instilled / INSTILLED_RECORD).read_text())
    assert instilled_record["replayed_choices"] == NUM_NATIVE * REPLAY_CHOICES
    assert instilled_record["examples"] == decisions["rows"]["instilling"]
    assert decisions["target"] == str(instilled) and decisions["content_sha256"] != record["content_sha256"]

    card = (folder / "README.md").read_text()
    assert f"self_explain_dataset: {DATASET_NAME}" in card
    assert f"config_name: {TARGET}" in card and f"config_name: {TARGET}-decisions" in card


def unique_scenario_rows(dataset) -> list[dict]:
    return list({row["scenario_id"]: row for split in dataset.values() for row in split}.values())


def test_rows_carry_the_fits_uncertainty(built):
    _, dataset = built
    for row in unique_scenario_rows(dataset):
        assert len(row["weight_standard_errors"]) == len(row["weights"])
        assert all(error > 0 for error in row["weight_standard_errors"])
        assert 0 <= row["fit_p_value"] <= 1 and row["fit_significant"] is (row["fit_p_value"] < 0.05)


def test_a_failed_instilling_is_refused_without_writing_a_dataset(preferences_build, tmp_path, caplog):
    out = tmp_path / "ds"
    options = {"instilled_model": str(preferences_build.instilled), "allow_failed_instilling": False}
    pooled = provenance(preferences_build.folder)["instilling_correlation"]["instilled"]["pooled_r"]
    assert pooled < 0.8, "the small build (one epoch on 10 choices a scenario) misses the gate; this test needs that"
    with pytest.raises(
        ValueError,
        match=r"instilling failed the gate: the pooled r .* below --min-instilling-"
        r"correlation 0\.8.*--allow-failed-instilling",
    ):
        build_preferences(out, **options)
    assert not (out / "data").exists() and not (out / "README.md").exists()
    # the same build, allowed to fail, reuses the instilled model and records the failure; a lower gate passes
    with caplog.at_level("WARNING"):
        allowed = build_preferences(out, **{**options, "allow_failed_instilling": True})
    assert "writing the dataset anyway" in caplog.text
    assert provenance(allowed)["instilling_gate"]["passed"] is False
    lowered = build_preferences(tmp_path / "low", **{**options, "min_instilling_correlation": -1.0})
    assert provenance(lowered)["instilling_gate"] == {
        "min_pooled_r": -1.0,
        "pooled_r": pooled,
        "passed": True,
        "allowed_to_fail": False,
    }


@pytest.mark.slow
def test_instilling_a_toy_target_passes_the_gate_and_keeps_its_native_preferences(tmp_path):
    # Enough instilling for the decision-capable toy target: 3 epochs on 50 worked-sum choices per scenario, with
    # its own native choices replayed beside them.
    folder = build_preferences(
        tmp_path / "ds",
        num_scenarios=12,
        instill_choices=50,
        replay_choices=50,
        measure_choices=40,
        num_train_epochs=3,
        allow_failed_instilling=False,
    )
    record = provenance(folder)
    gate, base = record["instilling_gate"], record["instilling_correlation"]["base_before_instilling"]
    assert gate["passed"] and gate["pooled_r"] >= 0.8, record["instilling_correlation"]
    assert base["pooled_r"] < 0.5, "the base model did not already follow the intended weights"
    assert record["native_preferences_kept"]["pooled_r"] >= 0.8, record["native_preferences_kept"]


def test_the_gate_threshold_is_checked():
    with pytest.raises(ValueError, match=r"--min-instilling-correlation must be in \[-1, 1\], got 1.5"):
        PreferencesConfig(target=TARGET, output_dir="unused", min_instilling_correlation=1.5)


def test_instilled_model_loads_and_differs_from_its_base(preferences_build):
    instilled = preferences_build.instilled
    record = json.loads((instilled / INSTILLED_RECORD).read_text())
    assert record["base"] == TARGET and record["scenarios"] == NUM_SCENARIOS - NUM_NATIVE
    assert record["examples"] == (NUM_SCENARIOS - NUM_NATIVE) * INSTILL_CHOICES + NUM_NATIVE * REPLAY_CHOICES
    assert record["steps"] >= 1
    loaded, base = load_model(str(instilled)), load_model(TARGET)
    mine, theirs = loaded.model.state_dict(), base.model.state_dict()
    assert mine.keys() == theirs.keys(), "merged: a plain model, no LoRA or trainable-token modules left"
    changed = [name for name in mine if not torch.equal(mine[name], theirs[name])]
    assert any("layers" in name for name in changed), "LoRA merged into the linear layers"
    assert any("embed_tokens" in name for name in changed), "the answer tokens' embedding rows were trained"
    assert loaded.tokenizer("Option A").input_ids == base.tokenizer("Option A").input_ids
    card = (instilled / "README.md").read_text()
    assert f"# {TARGET} with instilled preferences" in card and f"`{TARGET}`" in card
    assert record["fingerprint"] in card
    assert f"{NUM_NATIVE * REPLAY_CHOICES} of them the base model's own choices in native scenarios" in card
    assert "the toy world's worked sum, then the choice" in card


def test_the_demo_explains_the_instilled_model_and_summarises_the_build(built, preferences_build):
    from self_explain.demo import explained_target
    from self_explain.tasks.preferences.demo import preferences_summary

    folder, dataset = built
    assert explained_target(folder, TARGET, TARGET) == str(preferences_build.instilled)
    assert explained_target(folder, "toy-other", "toy-other") == "toy-other", "no provenance: the default"
    lines = preferences_summary(folder, TARGET)
    assert lines[0].split() == ["split", "rows", "scenarios"]
    assert [line.split() for line in lines[1:4]] == [
        [split, str(rows.num_rows), str(len(set(rows["scenario_id"])))] for split, rows in dataset.items()
    ]
    text = "\n".join(lines)
    quality = provenance(folder)["instilling_correlation"]
    assert f"instilled model (the target explained): {preferences_build.instilled}" in text
    assert f"pooled {quality['instilled']['pooled_r']:.3f}" in text
    assert f"pooled {quality['base_before_instilling']['pooled_r']:.3f}" in text
    gate = provenance(folder)["instilling_gate"]
    assert ("instilling gate (pooled r ≥ 0.8): " + ("passed" if gate["passed"] else "FAILED")) in text
    assert "weight fits not significant (p ≥ 0.05): instilled " in text
    kept = provenance(folder)["native_preferences_kept"]
    assert (
        "native scenarios: r of the instilled model's weights vs. the base model's (kept when high): pooled "
        f"{kept['pooled_r']:.3f}" in text
    )


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_instilled_model_is_as_readable_as_any_folder_written_here(preferences_build):
    mask = current_umask()
    assert stat.S_IMODE(preferences_build.instilled.stat().st_mode) == 0o777 & ~mask
    for file in preferences_build.instilled.iterdir():  # as the SAE folders (tests/test_sae.py) and datasets are
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~mask, file.name


# --- same seed, same dataset; the instilled model reused, never clobbered --------------------------------------


def copy_build(preferences_build, into):
    """The fixture's dataset and instilled model, copied (mtimes kept) into ``into`` in the same layout."""
    shutil.copytree(preferences_build.folder, into / "ds")
    shutil.copytree(preferences_build.instilled, into / preferences_build.instilled.name)
    return into / "ds", into / preferences_build.instilled.name


def test_rerun_with_overwrite_reuses_the_instilled_model_and_gives_the_same_dataset(
    preferences_build, tmp_path, monkeypatch
):
    out, instilled = copy_build(preferences_build, tmp_path)
    before = (instilled / INSTILLED_RECORD).read_text(), (instilled / "model.safetensors").stat().st_mtime_ns
    monkeypatch.setattr(builder_module, "instill", lambda *a, **k: pytest.fail("the instilled model was not reused"))
    assert build_preferences(out, overwrite=True) == out
    assert ((instilled / INSTILLED_RECORD).read_text(), (instilled / "model.safetensors").stat().st_mtime_ns) == before
    again, first = provenance(out), provenance(preferences_build.folder)
    assert again["content_sha256"] == first["content_sha256"]
    assert again["target"] == str(instilled) and again["target_revision"] == first["target_revision"]
    assert load(out)["train"].to_list() == load(preferences_build.folder)["train"].to_list()


def test_same_seed_elsewhere_instils_the_same_model_and_builds_the_same_dataset(preferences_build, tmp_path):
    folder = build_preferences(tmp_path / "ds")
    assert provenance(folder)["target"] == str(tmp_path / f"{TARGET}-preferences-instilled")
    assert provenance(folder)["target_revision"] == provenance(preferences_build.folder)["target_revision"]
    assert provenance(folder)["content_sha256"] == provenance(preferences_build.folder)["content_sha256"]


def test_another_builds_instilled_model_is_not_replaced_without_overwrite(preferences_build, tmp_path):
    _, instilled = copy_build(preferences_build, tmp_path)
    record = (instilled / INSTILLED_RECORD).read_text()
    with pytest.raises(FileExistsError, match=re.escape(str(instilled)) + ".*--overwrite"):
        build_preferences(tmp_path / "other", seed=1, instilled_model=str(instilled))
    assert (instilled / INSTILLED_RECORD).read_text() == record


def test_an_instilled_model_folder_conflict_fails_before_any_choice_is_measured(
    preferences_build, tmp_path, monkeypatch
):
    _, instilled = copy_build(preferences_build, tmp_path)
    measured = []
    monkeypatch.setattr(builder_module, "measure_weights", lambda *args, **kwargs: measured.append(args) or [])
    with pytest.raises(FileExistsError, match="another build"):
        build_preferences(tmp_path / "other", seed=1, instilled_model=str(instilled))
    assert measured == []
    assert not (tmp_path / "other" / ".build").exists()


def test_a_relative_instilled_model_folder_is_named_absolutely_in_the_provenance(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = build_preferences(Path("ds"), instilled_model="models/inst")
    provenance = json.loads((folder / "provenance" / "toy-target.json").read_text())
    assert provenance["target"] == str(tmp_path / "models" / "inst")
    assert (tmp_path / "models" / "inst" / INSTILLED_RECORD).is_file()


def test_a_folder_that_is_no_instilled_model_is_never_replaced(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=re.escape(str(mine)) + " exists and does not hold an instilled model"):
        build_preferences(tmp_path / "ds", instilled_model=str(mine), overwrite=True)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


# --- a user's scenarios file ---------------------------------------------------------------------------------


def write_scenarios(path, records):
    path.write_text(json.dumps(records))
    return path


def user_scenarios():
    """Six scenarios as a user would write them (in the toy vocabulary, so toy-target reads every word)."""
    return [s.to_dict() for s in toy_scenarios(6, seed=7)]


def test_cli_builds_from_a_scenarios_file(tmp_path):
    records = user_scenarios()
    path = write_scenarios(tmp_path / "mine.json", records)
    out = tmp_path / "ds"
    options = [f"--{key.replace('_', '-')}={value}" for key, value in BUILD_OPTIONS.items() if key != "num_scenarios"]
    assert main(["build", "preferences", *options, "--output_dir", str(out), "--scenarios", str(path)]) == 0
    dataset = load(out)
    rows = rows_of(dataset)
    assert {r["scenario"] for r in rows} == {r["name"] for r in records}
    by_name = {r["name"]: r for r in records}
    for row in rows:
        assert sorted(row["attributes"], key=lambda a: a["name"]) == sorted(
            by_name[row["scenario"]]["attributes"], key=lambda a: a["name"]
        )
    assert set(dataset["native"]["scenario_id"]) and set(dataset["test"]["scenario_id"])
    record = provenance(out)
    assert record["scenarios"] == str(path)
    assert sum(record["num_scenarios"].values()) == 6


def forbid_loading(monkeypatch):
    monkeypatch.setattr(builder_module, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda record: record["attributes"].pop(), r"expected exactly 5 attributes, got 4"),
        (lambda record: record["attributes"][1].update(min=9, max=9), r"'min' must be below 'max', got min=9, max=9"),
    ],
)
def test_a_bad_scenario_in_the_file_is_named_before_any_work(tmp_path, monkeypatch, spoil, message):
    records = user_scenarios()
    spoil(records[2])
    path = write_scenarios(tmp_path / "bad.json", records)
    forbid_loading(monkeypatch)
    where = re.escape(f"--scenarios {path}, scenario 2 ({records[2]['name']!r})")
    with pytest.raises(ValueError, match=where + ".*" + message):
        build_preferences(tmp_path / "ds", scenarios=str(path))
    assert not (tmp_path / "ds").exists()
    assert not (tmp_path / f"{TARGET}-preferences-instilled").exists()


def test_a_non_toy_target_needs_a_scenarios_file(tmp_path, monkeypatch):
    plain = tmp_path / "plain-model"
    plain.mkdir()
    (plain / "config.json").write_text("{}")
    forbid_loading(monkeypatch)
    with pytest.raises(ValueError, match=re.escape(f"--scenarios FILE is required for {str(plain)!r}")):
        build_preferences(tmp_path / "ds", target=str(plain))
    assert not (tmp_path / "ds").exists()


def test_a_packaged_target_draws_the_english_scenarios_without_a_file():
    from self_explain.tasks.preferences.builder import scenarios_for
    from self_explain.tasks.preferences.config import PreferencesConfig
    from self_explain.tasks.preferences.scenarios import english_scenarios

    config = PreferencesConfig(target="smollm2-135m", output_dir="unused", num_scenarios=12, seed=3)
    assert scenarios_for(config) == english_scenarios(12, seed=3)


def test_cli_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["build", "preferences", "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for option in (
        "--target",
        "--output_dir",
        "--scenarios",
        "--num-scenarios",
        "--native-fraction",
        "--instill-choices",
        "--measure-choices",
        "--choice-labels",
        "--instilled-model",
        "--push-instilled-to-hub",
        "--overwrite",
        "--seed",
    ):
        assert option in out, option
    assert "required for models other than toy and packaged ones" in out
