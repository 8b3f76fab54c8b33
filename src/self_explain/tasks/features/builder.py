"""``self-explain build features``: SAE features with scored descriptions, as a Hub dataset folder.

The corpus is run through the target once and each SAE's features keep their exemplars (top,
quantile and random contexts). Every other exemplar of each kind is shown to the describer, the rest
are held out: each candidate description is scored by a simulator's correlation with the true
activations on the held-out exemplars, and the best one is the feature's description (all candidates
are kept with their scores). Features are then built shard by shard like every dataset.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import dataclass
from pathlib import Path

from ...core.models import LoadedModel, load_model
from ..build import (
    base_provenance,
    build_fingerprint,
    seeded_rng,
    split_by_item,
    start_build,
)
from .config import FeaturesConfig
from .exemplars import FeatureExemplars, collect_exemplars, read_exemplars
from .features import FEATURE_DESCRIPTION_FEATURES
from .prompts import features_answer, features_question
from .sources import load_saes, make_describer, make_simulator, read_corpus

logger = logging.getLogger(__name__)

DATASET_NAME = "self-explain-features"


@dataclass(frozen=True)
class FeatureItem:
    layer: int
    feature: int


def choose_features(config: FeaturesConfig, saes: dict) -> list[FeatureItem]:
    items = []
    for layer, sae in saes.items():
        features = list(range(sae.d_sae))
        if config.features_per_layer is not None and config.features_per_layer < sae.d_sae:
            features = sorted(random.Random(f"{config.seed}:{layer}").sample(features, config.features_per_layer))
        items += [FeatureItem(layer, feature) for feature in features]
    return items


def split_exemplars(feature: FeatureExemplars) -> tuple[FeatureExemplars, FeatureExemplars]:
    """Every other exemplar of each kind to describe from (the first, strongest, of each kind among them);
    the rest held out to score descriptions on."""
    shown, held_out = [], []
    for kind in ("top", "quantile", "random"):
        of_kind = [e for e in feature.exemplars if e.kind == kind]
        shown += of_kind[0::2]
        held_out += of_kind[1::2]
    return dataclasses.replace(feature, exemplars=shown), dataclasses.replace(feature, exemplars=held_out)


def ood_layers(config: FeaturesConfig, layers: list[int]) -> set[int]:
    if config.ood_layers is not None:
        unknown = sorted(set(config.ood_layers) - set(layers) - {-1})
        if unknown:
            raise ValueError(f"--ood-layers {unknown} have no SAE; SAE layers: {layers}")
        return set(config.ood_layers) - {-1}
    return {layers[-1]} if len(layers) >= 2 else set()


class FeaturesBuilder:
    """Made before the corpus is read, so that a describer or simulator that cannot work fails first."""

    def __init__(self, config: FeaturesConfig, saes: dict):
        self.config = config
        self.saes = saes
        self.exemplars: dict = {}
        self.describer = make_describer(config)
        self.simulator = make_simulator(config)
        self.imported = None
        if config.describer == "neuronpedia":
            from .describers import import_neuronpedia

            self.imported = import_neuronpedia(config.neuronpedia)

    def candidates(self, item: FeatureItem, shown: FeatureExemplars) -> list[str]:
        if self.imported is not None:
            return self.imported.get((item.layer, item.feature), [])
        return self.describer.describe(shown)

    def rows_for(self, items: list[FeatureItem]) -> tuple[list[dict], int]:
        from .scorers import score_candidates

        rows, skipped = [], 0
        for item in items:
            feature = self.exemplars.get((item.layer, item.feature))
            if feature is None or feature.max_activation <= 0:
                skipped += 1  # never fired on the corpus
                continue
            shown, held_out = split_exemplars(feature)
            candidates = self.candidates(item, shown)
            scored = score_candidates(self.simulator, candidates, held_out.exemplars) if candidates else []
            if not scored or scored[0][1] <= self.config.min_score:
                skipped += 1
                continue
            description, score = scored[0]
            sae = self.saes[item.layer]
            vector = sae.decoder_directions[item.feature].float() * feature.max_activation
            rng = seeded_rng(self.config.seed, item.layer, item.feature)
            rows.append(
                {
                    "layer": item.layer,
                    "feature": item.feature,
                    "sae": sae.name,
                    "vector": vector.tolist(),
                    "max_activation": feature.max_activation,
                    "activation_frequency": feature.activation_frequency,
                    "description": description,
                    "score": score,
                    "candidates": [{"description": d, "score": s} for d, s in scored],
                    "describer": self.config.describer_model or self.config.describer,
                    "simulator": self.config.simulator_model or self.config.simulator,
                    "exemplars": [
                        {"tokens": e.tokens, "activations": e.activations, "kind": e.kind, "held_out": held}
                        for group, held in ((shown, False), (held_out, True))
                        for e in group.exemplars
                    ],
                    "question": features_question(item.layer, rng),
                    "answer": features_answer(description),
                }
            )
        return rows, skipped


def assign_split(item: FeatureItem, config: FeaturesConfig, ood: set[int]) -> str:
    if item.layer in ood:
        return "ood"
    return "test" if seeded_rng(config.seed, item.layer, item.feature, 1).random() < config.test_fraction else "train"


def build_features_dataset(config: FeaturesConfig) -> Path:
    build, state = start_build(config, DATASET_NAME, FEATURE_DESCRIPTION_FEATURES)
    texts = read_corpus(config)
    loaded = load_model(config.target, revision=config.revision, trust_remote_code=config.trust_remote_code)
    saes = load_saes(config, loaded)
    ood = ood_layers(config, list(saes))
    items = choose_features(config, saes)
    fingerprint = build_fingerprint(config, loaded.revision, items)
    builder = FeaturesBuilder(config, saes)
    builder.exemplars = exemplars_for(config, loaded, saes, items, texts, build.work / f"exemplars-{fingerprint}", state)
    num_shards = build.build_shards(items, config.shard_size, fingerprint, builder.rows_for, state)
    if not state.is_main_process:
        return build.out
    rows, skipped = build.read_shards(num_shards)
    split_of = {(i.layer, i.feature): assign_split(i, config, ood) for i in items}
    splits = split_by_item(rows, list(zip(rows["layer"], rows["feature"])), split_of)
    if not splits:
        raise ValueError(
            f"no rows were built: none of {len(items)} features fired on the corpus with a description scoring above "
            f"--min-score {config.min_score}"
        )
    scores = rows["score"]
    provenance = base_provenance(
        loaded,
        config.seed,
        saes={str(layer): sae.name for layer, sae in saes.items()},
        num_texts=len(texts),
        corpus=config.corpus or "toy-world texts",
        describer=config.describer_model or config.describer,
        simulator=config.simulator_model or config.simulator,
        features_considered=len(items),
        features_skipped=skipped,
        ood_layers=sorted(ood),
        rows={split: len(ds) for split, ds in splits.items()},
        mean_score=round(sum(scores) / len(scores), 4),
    )
    return build.publish(splits, provenance, pretty_name="self-explain: SAE feature descriptions")


def exemplars_for(config: FeaturesConfig, loaded: LoadedModel, saes: dict, items: list[FeatureItem], texts: list[str],
                  folder: Path, state) -> dict:
    """The exemplars of the chosen features, collected once per build (kept in the work folder for a resume)."""
    if state.is_main_process and not (folder / "exemplars.json").is_file():
        chosen: dict[int, list[int]] = {}
        for item in items:
            chosen.setdefault(item.layer, []).append(item.feature)
        collect_exemplars(
            loaded, saes, texts, chosen, top_k=config.top_k, num_quantile=config.num_quantile,
            num_random=config.num_random, context_window=config.context_window, batch_size=config.batch_size,
            seed=config.seed, write_to=folder,
        )
    state.wait_for_everyone()
    return read_exemplars(folder)
