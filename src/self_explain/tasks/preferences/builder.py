"""``self-explain build preferences``: instil decision weights, measure the weights really used, write the dataset.

Steps (Plunkett et al. 2025, with open weights): scenarios split into instilled and native ones, intended weights
drawn for the instilled; the base model's own weights measured (a control); a merged LoRA fine-tune on choices made
by the intended weights, saved as the *instilled model*, the target every later step explains; its weights measured
by a logistic fit on fresh choices (the ground truth); rows: instilled scenarios in ``train`` / ``test``, the others
in ``native``. A second config ``<config>-decisions`` keeps every choice behind them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
from datasets import Dataset

from ...core.models import LoadedModel, is_toy_model, load_model, weights_fingerprint
from ...core.packaged_models import is_packaged_model
from ...utils.stats import pearson_correlation, pooled_correlation_interval
from ..build import DatasetBuilder, require_input, seeded_rng
from ..shards import ShardedBuild
from .card import push_instilled_model, render_instilled_card
from .choices import MeasuredWeights, measure_weights
from .config import REASONING_TOKENS, PreferencesConfig
from .instill import (
    InstillingChoice,
    InstillSettings,
    instill,
    instilling_choices,
    read_instilled_record,
    replayed_choices,
    save_instilled,
)
from .prompts import introspection_question, weights_answer
from .scenarios import (
    Scenario,
    draw_weights,
    english_scenarios,
    read_scenarios,
    toy_intended_weights,
    toy_scenarios,
)
from .schema import DECISION_FEATURES, PREFERENCES_FEATURES

logger = logging.getLogger(__name__)

DATASET_NAME = "self-explain-preferences"
INSTILLED, NATIVE = "instilled", "native"
WEIGHTS_STREAM, SPLIT_STREAM, QUESTION_STREAM = 0, 3, 4


def scenarios_for(config: PreferencesConfig) -> list[Scenario]:
    """The scenarios of a build: ``--scenarios``, else the built-in ones (the toy world's, or English ones)."""
    if config.scenarios:
        return read_scenarios(config.scenarios)
    if is_packaged_model(config.target):
        return english_scenarios(config.num_scenarios, config.seed)
    require_input(config.target, config.scenarios, "--scenarios FILE", "built-in scenarios")
    return toy_scenarios(config.num_scenarios, config.seed, num_native=native_count(config))


def native_count(config: PreferencesConfig) -> int:
    """How many of the built-in scenarios are native: a ``native_fraction`` of ``num_scenarios``."""
    return round(config.native_fraction * config.num_scenarios)


def has_world_natives(config: PreferencesConfig) -> bool:
    """Whether the build's native scenarios are the toy world's own (a toy target with its built-in scenarios)."""
    return not config.scenarios and is_toy_model(config.target)


def assign_splits(scenarios: list[Scenario], config: PreferencesConfig) -> dict[int, str]:
    """Seeded: a ``native_fraction`` of scenarios is native; of the rest, ``test_fraction`` is test.

    A toy target's built-in native scenarios are the world's first ones, where the toy models have preferences of
    their own; otherwise they are drawn. Raises ValueError when no scenario is left for train or for test.
    """
    ids = [s.scenario_id for s in scenarios]
    num_native = round(config.native_fraction * len(ids))
    if has_world_natives(config):
        native, instilled = ids[:num_native], ids[num_native:]
        seeded_rng(config.seed, SPLIT_STREAM).shuffle(instilled)
    else:
        seeded_rng(config.seed, SPLIT_STREAM).shuffle(ids)
        native, instilled = ids[:num_native], ids[num_native:]
    num_test = round(config.test_fraction * len(instilled))
    if len(instilled) - num_test < 1 or num_test < 1:
        raise ValueError(
            f"{len(scenarios)} scenarios with --native-fraction {config.native_fraction:g} and --test-fraction "
            f"{config.test_fraction:g} leave no instilled scenario for train or for test; give more scenarios"
        )
    splits = {i: "native" for i in native}
    splits.update({i: "test" for i in instilled[:num_test]})
    splits.update({i: "train" for i in instilled[num_test:]})
    return splits


def instilled_folder(config: PreferencesConfig, config_name: str) -> Path:
    """The instilled model's folder: ``--instilled-model``, else ``<out's parent>/<config>-preferences-instilled``."""
    if config.instilled_model:
        return Path(config.instilled_model).resolve()  # the provenance names it: relative paths would not travel
    return Path(config.output_dir).resolve().parent / f"{config_name}-preferences-instilled"


def instilling_fingerprint(
    config: PreferencesConfig, base: LoadedModel, scenarios: list[Scenario], intended: dict[int, list[float]]
) -> str:
    """What the instilled model depends on: a folder holding another build's model is not reused."""
    fields = {
        "base": base.name,
        "base_revision": base.revision,
        "seed": config.seed,
        "instill_choices": config.instill_choices,
        "replay_choices": config.replay_choices,
        "reasoning": config.reasoning,
        "settings": asdict(instill_settings(config)),
        "scenarios": [s.to_dict() for s in scenarios if s.scenario_id in intended],
        "intended": {str(k): v for k, v in sorted(intended.items())},
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def instill_settings(config: PreferencesConfig) -> InstillSettings:
    """The instilling fine-tune's settings, from the build options."""
    return InstillSettings(
        config.lora_r,
        config.lora_alpha,
        config.learning_rate,
        config.num_train_epochs,
        config.per_device_train_batch_size,
        config.seed,
    )


def reusable_instilled_record(config: PreferencesConfig, folder: Path, fingerprint: str) -> dict | None:
    """The record of the instilled model in ``folder`` when this build made it; None when it must be (re)made.

    Checked before any measuring: FileExistsError for a folder holding something else (or, without ``overwrite``,
    another build's instilled model).
    """
    record = read_instilled_record(folder) if folder.is_dir() else None
    if record is not None and record.get("fingerprint") == fingerprint:
        return record
    if folder.exists() and record is None and any(folder.iterdir()):
        raise FileExistsError(
            f"{folder} exists and does not hold an instilled model; pass --instilled-model elsewhere"
        )
    if record is not None and not config.overwrite:
        raise FileExistsError(
            f"{folder} holds an instilled model of another build (fingerprint {record.get('fingerprint')}); pass "
            "--overwrite to replace it, or --instilled-model elsewhere"
        )
    return None


def make_instilled_model(
    config: PreferencesConfig,
    base: LoadedModel,
    choices: list[InstillingChoice],
    intended: dict[int, list[float]],
    folder: Path,
    work: Path,
    fingerprint: str,
    state,
) -> dict:
    """Fine-tune ``base`` on the intended choices (every process trains), merged and saved; returns its record."""
    replayed = sum(c.utility_a is None for c in choices)
    logger.info(
        "instilling %d scenarios with %d choices (%d of them replayed native ones)",
        len(intended),
        len(choices),
        replayed,
    )
    model, record = instill(base, choices, instill_settings(config), work)
    record = {
        **record,
        "fingerprint": fingerprint,
        "base": base.name,
        "base_revision": base.revision,
        "scenarios": len(intended),
        "replayed_choices": replayed,
        "settings": asdict(instill_settings(config)),
        "reasoning": config.reasoning,
    }
    if state.is_main_process:
        save_instilled(model, base.tokenizer, record, render_instilled_card(record), folder)
    state.wait_for_everyone()
    return record


def introspection_rows(
    scenario: Scenario,
    measured: MeasuredWeights,
    base: MeasuredWeights,
    kind: str,
    intended: list[float] | None,
    intended_agreement: float | None,
    count: int,
    seed: int,
) -> list[dict]:
    """``count`` rows of one scenario: templates drawn at random, attributes in a shuffled order after the first."""
    rows = []
    for index in range(count):
        rng = seeded_rng(seed, scenario.scenario_id, QUESTION_STREAM, index)
        order = list(range(len(scenario.attributes)))
        if index:
            rng.shuffle(order)
        shown = Scenario(scenario.scenario_id, scenario.name, tuple(scenario.attributes[i] for i in order))
        weights = [measured.weights[i] for i in order]
        rows.append(
            {
                "scenario_id": scenario.scenario_id,
                "scenario": scenario.name,
                "attributes": [asdict(a) for a in shown.attributes],
                "kind": kind,
                "intended_weights": [round(intended[i], 4) for i in order] if intended else [],
                "weights": weights,
                "weight_standard_errors": [measured.weight_standard_errors[i] for i in order],
                "fit_p_value": measured.fit_p_value,
                "fit_significant": measured.significant,
                "base_weights": [base.weights[i] for i in order],
                "coefficients": [measured.coefficients[i] for i in order],
                "intercept": measured.intercept,
                "fit_agreement": measured.fit_agreement,
                "intended_agreement": intended_agreement,
                "question": introspection_question(shown, rng),
                "answer": weights_answer(shown, weights),
            }
        )
    return rows


def not_significant_fits(
    scenarios: list[Scenario], kinds: dict[int, str], measured: dict[int, MeasuredWeights]
) -> dict:
    """How many scenarios' weight fits are not significant (`MeasuredWeights.significant`), by kind."""
    counts: dict[str, dict[str, int]] = {}
    for scenario in scenarios:
        count = counts.setdefault(kinds[scenario.scenario_id], {"not_significant": 0, "scenarios": 0})
        count["scenarios"] += 1
        count["not_significant"] += not measured[scenario.scenario_id].significant
    return counts


def intended_agreement(scenario: Scenario, measured: MeasuredWeights, intended: list[float]) -> float:
    """Share of the measured pairs where the model's likelier answer is the option the intended weights prefer."""
    agree = [
        (c.probability_a > 0.5) == (scenario.utility(intended, c.option_a) > scenario.utility(intended, c.option_b))
        for c in measured.choices
    ]
    return round(float(np.mean(agree)), 4)


def decision_rows(
    scenarios: list[Scenario],
    kinds: dict[int, str],
    intended: dict[int, list[float]],
    measured: dict[int, MeasuredWeights],
    choices,
) -> dict[str, list[dict]]:
    """The rows of the ``<config>-decisions`` config: every choice behind the dataset."""

    def utilities(scenario: Scenario, a, b) -> tuple[float | None, float | None]:
        if scenario.scenario_id not in intended:
            return None, None
        weights = intended[scenario.scenario_id]
        return round(scenario.utility(weights, a), 4), round(scenario.utility(weights, b), 4)

    by_id = {s.scenario_id: s for s in scenarios}
    instilling = [
        {
            "scenario_id": c.scenario_id,
            "scenario": by_id[c.scenario_id].name,
            "kind": kinds[c.scenario_id],
            "option_a": c.option_a,
            "option_b": c.option_b,
            "prompt": c.prompt,
            "choice": c.choice,
            "probability_a": None,
            "intended_utility_a": c.utility_a,
            "intended_utility_b": c.utility_b,
        }
        for c in choices
    ]
    measurement = []
    for scenario in scenarios:
        for c in measured[scenario.scenario_id].choices:
            utility_a, utility_b = utilities(scenario, c.option_a, c.option_b)
            measurement.append(
                {
                    "scenario_id": c.scenario_id,
                    "scenario": scenario.name,
                    "kind": kinds[scenario.scenario_id],
                    "option_a": c.option_a,
                    "option_b": c.option_b,
                    "prompt": c.prompt,
                    "choice": "A" if c.probability_a >= 0.5 else "B",
                    "probability_a": c.probability_a,
                    "intended_utility_a": utility_a,
                    "intended_utility_b": utility_b,
                }
            )
    return {"instilling": instilling, "measurement": measurement}


def instilling_quality(
    scenarios: list[Scenario],
    intended: dict[int, list[float]],
    measured: dict[int, MeasuredWeights],
    base: dict[int, MeasuredWeights],
) -> dict:
    """r of learned vs. intended weights (pooled with a 95 % bootstrap interval, and per scenario), and the base's as a
    control (≈ 0 when the base had no such preferences).
    """
    ids = [s.scenario_id for s in scenarios if s.scenario_id in intended]
    return {
        "instilled": weight_correlations([(measured[i].weights, intended[i]) for i in ids]),
        "base_before_instilling": weight_correlations([(base[i].weights, intended[i]) for i in ids]),
    }


def weight_correlations(pairs: list[tuple[list[float], list[float]]]) -> dict:
    """r between two sets of weights, one pair of weight lists per scenario."""
    per = [pearson_correlation(a, b) for a, b in pairs]
    pooled = pearson_correlation([w for a, _ in pairs for w in a], [w for _, b in pairs for w in b])
    low, high = pooled_correlation_interval(pairs)
    return {
        "pooled_r": round(pooled, 4),
        "pooled_r_ci": [round(low, 4), round(high, 4)],
        "mean_scenario_r": round(float(np.mean(per)), 4),
        "median_scenario_r": round(float(np.median(per)), 4),
    }


def native_preferences_kept(
    scenarios: list[Scenario],
    kinds: dict[int, str],
    measured: dict[int, MeasuredWeights],
    base: dict[int, MeasuredWeights],
) -> dict | None:
    """Whether instilling left the native preferences alone: r of the instilled vs. the base model's native weights."""
    ids = [s.scenario_id for s in scenarios if kinds[s.scenario_id] == NATIVE]
    if len(ids) < 2:
        return None
    return weight_correlations([(measured[i].weights, base[i].weights) for i in ids])


def instilling_gate(quality: dict, config: PreferencesConfig, folder: Path) -> dict:
    """The instilling gate: whether the instilled model follows its intended weights well enough to be explained.

    A miss raises ValueError unless failing is allowed; the instilled model stays, and a rerun of the build reuses it.
    """
    pooled, base = quality["instilled"]["pooled_r"], quality["base_before_instilling"]["pooled_r"]
    passed = pooled >= config.min_instilling_correlation
    record = {
        "min_pooled_r": config.min_instilling_correlation,
        "pooled_r": pooled,
        "passed": passed,
        "allowed_to_fail": config.allow_failed_instilling,
    }
    if passed:
        return record
    message = (
        f"instilling failed the gate: the pooled r of measured vs. intended weights is {pooled} (base model "
        f"before instilling: {base}), below --min-instilling-correlation {config.min_instilling_correlation}"
    )
    if not config.allow_failed_instilling:
        raise ValueError(
            f"{message}. An explanation dataset of weights the model does not follow would teach noise, so none "
            f"was written. Instil harder (--num-train-epochs, --learning-rate, --instill-choices) or use a model "
            f"that can weigh attributes; or pass --allow-failed-instilling to write it anyway (its provenance "
            f"records the failure). The instilled model stays in {folder} and a rerun of the same build reuses it."
        )
    logger.warning("%s; writing the dataset anyway (--allow-failed-instilling)", message)
    return record


class PreferencesBuilder(DatasetBuilder):
    """``self-explain build preferences``: the build loop over scenarios (one shard), the instilled model as target."""

    dataset_name = DATASET_NAME
    features = PREFERENCES_FEATURES
    pretty_name = "self-explain: preference introspection"
    key_columns = ("scenario_id",)
    split_names = ("train", "test", "native")

    def prepare(self) -> None:
        """Before any model: check the token and ``-decisions`` destination, read and split scenarios, draw weights."""
        config, build = self.config, self.build
        if config.push_instilled_to_hub:  # before any work, as --push-to-hub
            from ...hub.api import require_token

            require_token(f"--push-instilled-to-hub {config.push_instilled_to_hub}")
        self.decisions_build = ShardedBuild(
            DATASET_NAME,
            f"{build.config_name}-decisions",
            build.out,
            DECISION_FEATURES,
            overwrite=config.overwrite,
            push_to_hub=build.push_to_hub,
        )
        self.decisions_build.check_destination(self.state.is_main_process)
        self.scenarios = scenarios_for(config)
        self.splits_of = assign_splits(self.scenarios, config)
        self.kinds = {i: NATIVE if split == "native" else INSTILLED for i, split in self.splits_of.items()}
        # A toy model weighs in whole steps (see toyworld.decisions): intended weights it can follow.
        draw = toy_intended_weights if has_world_natives(config) else draw_weights
        self.intended = {
            s.scenario_id: draw(seeded_rng(config.seed, s.scenario_id, WEIGHTS_STREAM))
            for s in self.scenarios
            if self.kinds[s.scenario_id] == INSTILLED
        }
        self.measure = dict(
            num_choices=config.measure_choices,
            seed=config.seed,
            labels=config.choice_labels,
            batch_size=config.batch_size,
            progress=self.state.is_local_main_process,
            reasoning_tokens=REASONING_TOKENS[config.reasoning],
        )

    def load_target(self) -> LoadedModel:
        """The instilled model: the base measured (a control), then instilled, unless the folder holds this build's."""
        config, state = self.config, self.state
        base = load_model(config.target, revision=config.revision, trust_remote_code=config.trust_remote_code)
        self.base_revision = base.revision
        self.instilled_folder = folder = instilled_folder(config, self.build.config_name)
        fingerprint = instilling_fingerprint(config, base, self.scenarios, self.intended)
        record = reusable_instilled_record(config, folder, fingerprint)
        self.base_weights = {m.scenario_id: m for m in measure_weights(base, self.scenarios, **self.measure)}
        self.choices = instilling_choices(
            [s for s in self.scenarios if s.scenario_id in self.intended],
            self.intended,
            config.instill_choices,
            config.seed,
            config.reasoning,
        )
        # The base model's own native choices, rehearsed during instilling so that its native preferences stay.
        self.choices += replayed_choices(
            base,
            [s for s in self.scenarios if self.kinds[s.scenario_id] == NATIVE],
            config.replay_choices,
            config.seed,
            self.measure["reasoning_tokens"],
            config.batch_size,
            self.state.is_local_main_process,
        )
        if record is None:
            record = make_instilled_model(
                config, base, self.choices, self.intended, folder, self.build.work / "instill", fingerprint, state
            )
        else:
            logger.info("reusing the instilled model in %s", folder)
        self.record = record
        del base  # its weights were merged with the adapter in place: only the saved folder is the instilled model
        return load_model(str(folder))

    def setup(self) -> None:
        """Measure the instilled model's weights (the ground truth), and how often it agrees with the intended ones."""
        self.measured = {m.scenario_id: m for m in measure_weights(self.target, self.scenarios, **self.measure)}
        self.agreement = {
            s.scenario_id: intended_agreement(s, self.measured[s.scenario_id], self.intended[s.scenario_id])
            for s in self.scenarios
            if s.scenario_id in self.intended
        }
        self.quality = instilling_quality(self.scenarios, self.intended, self.measured, self.base_weights)
        self.gate = instilling_gate(self.quality, self.config, self.instilled_folder)

    def items(self) -> list[Scenario]:
        """The scenarios read by `prepare`."""
        return self.scenarios

    def shard_size(self, items: list[Scenario]) -> int:
        """One shard for every scenario: rows are cheap once the weights are measured."""
        return max(1, len(items))  # rows are cheap once the weights are measured

    def build_shard(self, scenarios: list[Scenario]) -> tuple[list[dict], int]:
        """The introspection rows: ``--questions-per-scenario`` per train scenario, one per other scenario."""
        rows = []
        for scenario in scenarios:
            i = scenario.scenario_id
            count = self.config.questions_per_scenario if self.splits_of[i] == "train" else 1
            rows += introspection_rows(
                scenario,
                self.measured[i],
                self.base_weights[i],
                self.kinds[i],
                self.intended.get(i),
                self.agreement.get(i),
                count,
                self.config.seed,
            )
        return rows, 0

    def split_of(self, item: Scenario) -> str:
        """The scenario's split, assigned by `assign_splits` in `prepare`."""
        return self.splits_of[item.scenario_id]

    def provenance_extras(self, items: list[Scenario], splits: dict, rows, skipped: int) -> dict:
        """The preferences provenance: target and base, scenarios, choices, instilling record and quality, rows."""
        config = self.config
        quality = self.quality
        logger.info("instilling: learned vs. intended weights %s", quality)
        record = self.record
        return {
            "target": config.push_instilled_to_hub or str(self.instilled_folder),  # what the explainer explains
            "target_revision": weights_fingerprint(self.instilled_folder),
            "base_target": config.target,
            "base_target_revision": self.base_revision,
            "scenarios": config.scenarios or "toy-world scenarios",
            "num_scenarios": {kind: sum(1 for k in self.kinds.values() if k == kind) for kind in (INSTILLED, NATIVE)},
            "instill_choices": config.instill_choices,
            "measure_choices": config.measure_choices,
            "choice_labels": config.choice_labels,
            "reasoning": config.reasoning,
            "instilling": {
                key: record[key] for key in ("train_loss", "steps", "examples", "fingerprint") if key in record
            },
            "instilling_correlation": quality,
            "instilling_gate": self.gate,
            "native_preferences_kept": native_preferences_kept(
                self.scenarios, self.kinds, self.measured, self.base_weights
            ),
            "mean_fit_agreement": round(float(np.mean([m.fit_agreement for m in self.measured.values()])), 4),
            "not_significant_fits": not_significant_fits(self.scenarios, self.kinds, self.measured),
            "mean_intended_agreement": round(float(np.mean(list(self.agreement.values()))), 4),
            "rows": {split: len(ds) for split, ds in splits.items()},
        }

    def publish(self, splits: dict, provenance: dict) -> Path:
        """The instilled model pushed when asked, then this config and its ``-decisions`` config."""
        if self.config.push_instilled_to_hub:
            push_instilled_model(self.instilled_folder, self.config.push_instilled_to_hub)
        published = super().publish(splits, provenance)
        decisions = decision_rows(self.scenarios, self.kinds, self.intended, self.measured, self.choices)
        self.decisions_build.work.mkdir(parents=True, exist_ok=True)  # publish removes it
        self.decisions_build.publish(
            {split: Dataset.from_list(r, features=DECISION_FEATURES) for split, r in decisions.items() if r},
            {**provenance, "rows": {split: len(r) for split, r in decisions.items()}},
            pretty_name=self.pretty_name,
        )
        return published


build_preferences_dataset = (
    PreferencesBuilder.build_dataset
)  # ``self-explain build preferences``: the task's build function
