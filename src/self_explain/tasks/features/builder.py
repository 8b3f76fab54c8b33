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
from typing import TYPE_CHECKING

from ...core.models import LoadedModel
from ..build import DatasetBuilder, seeded_rng
from .config import FeaturesConfig
from .exemplars import FeatureExemplars, collect_exemplars, read_exemplars
from .features import FEATURE_DESCRIPTION_FEATURES
from .prompts import features_answer, features_question
from .sources import load_saes, make_describer, make_simulator, read_corpus

if TYPE_CHECKING:
    from ...core.recipes import Recipe

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


class FeaturesBuilder(DatasetBuilder):
    """``self-explain build features``: the build loop of :class:`~self_explain.tasks.build.DatasetBuilder` over
    SAE features. The corpus is read before the target is loaded; the describer and simulator are made before
    the corpus is run through the target, so that one that cannot work fails first; the exemplars are collected
    once per build (kept in the work folder for a resume), then each shard describes and scores its features."""

    dataset_name = DATASET_NAME
    features = FEATURE_DESCRIPTION_FEATURES
    pretty_name = "self-explain: SAE feature descriptions"
    key_columns = ("layer", "feature")
    split_stream = (1,)

    def prepare(self) -> None:
        self.texts = read_corpus(self.config)

    def setup(self) -> None:
        config = self.config
        self.saes = load_saes(config, self.target)
        self.ood = ood_layers(config, list(self.saes))
        self.exemplars: dict = {}
        self.describer = make_describer(config)
        self.simulator = make_simulator(config)
        self.imported = None
        if config.describer == "neuronpedia":
            from .describers import import_neuronpedia

            self.imported = import_neuronpedia(config.neuronpedia)

    def items(self) -> list[FeatureItem]:
        return choose_features(self.config, self.saes)

    def before_shards(self, items: list[FeatureItem], fingerprint: str) -> None:
        self.exemplars = exemplars_for(self.config, self.target, self.saes, items, self.texts,
                                       self.build.work / f"exemplars-{fingerprint}", self.state)

    def build_shard(self, items: list[FeatureItem]) -> tuple[list[dict], int]:
        return self.rows_for(items)

    def split_of(self, item: FeatureItem) -> str:
        return "ood" if item.layer in self.ood else super().split_of(item)

    def no_rows_message(self, items: list[FeatureItem], skipped: int) -> str:
        return (f"no rows were built: none of {len(items)} features fired on the corpus with a description scoring "
                f"above --min-score {self.config.min_score}")

    def provenance_extras(self, items: list[FeatureItem], splits: dict, rows, skipped: int) -> dict:
        config = self.config
        scores = rows["score"]
        return {
            "saes": {str(layer): sae.name for layer, sae in self.saes.items()},
            "num_texts": len(self.texts),
            "corpus": config.corpus or "toy-world texts",
            "describer": config.describer_model or config.describer,
            "simulator": config.simulator_model or config.simulator,
            "features_considered": len(items),
            "features_skipped": skipped,
            "ood_layers": sorted(self.ood),
            "rows": {split: len(ds) for split, ds in splits.items()},
            "mean_score": round(sum(scores) / len(scores), 4),
        }

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


def build_features_dataset(config: FeaturesConfig, recipe: Recipe | None = None) -> Path:
    """Build the feature-description dataset of ``config`` (see :class:`FeaturesBuilder`); returns its folder.

    Args:
        config (`FeaturesConfig`): The options of ``self-explain build features``.
        recipe (`Recipe`, *optional*): The YAML recipe the options came from (the provenance records it).

    Returns:
        `Path`: The dataset folder.
    """
    return FeaturesBuilder(config, recipe).run()


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
