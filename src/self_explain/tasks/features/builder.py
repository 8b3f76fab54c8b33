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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.models import LoadedModel
from ...realworld import BUILTIN_CORPUS_NAME, builtin_corpus_path
from ..build import DatasetBuilder, seeded_rng
from .config import FeaturesConfig
from .exemplars import FeatureExemplars, collect_exemplars, read_exemplars
from .prompts import features_answer, features_question
from .schema import FEATURE_DESCRIPTION_FEATURES
from .sources import load_saes, make_describer, make_simulator, read_corpus

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

UNKNOWN_SHARE_REFUSED = 0.5  # above this share of <unk> tokens a corpus says nothing the target can read
CHECKED_TEXTS = 2000


def check_known_words(texts: list[str], tokenizer, corpus: str | None) -> None:
    """Refuse a corpus that the target's tokenizer reads mostly as its unknown token; warn when some of it is."""
    unknown_id = getattr(tokenizer, "unk_token_id", None)
    if unknown_id is None or not texts:
        return
    ids = [i for text in texts[:CHECKED_TEXTS] for i in tokenizer(text, add_special_tokens=False)["input_ids"]]
    unknown = sum(i == unknown_id for i in ids)
    if not ids or not unknown:
        return
    share = unknown / len(ids)
    source = f"--corpus {corpus}" if corpus else "the corpus"
    if share > UNKNOWN_SHARE_REFUSED:
        raise ValueError(
            f"{source}: {share:.0%} of its tokens are unknown to the target's tokenizer "
            f"({tokenizer.unk_token}); give texts in the target's vocabulary (a toy target knows only "
            "its world's words: leave --corpus out to use them)"
        )
    logger.warning(
        "%s: %.1f%% of its tokens are unknown to the target's tokenizer (%s); features will see them as one token",
        source,
        100 * share,
        tokenizer.unk_token,
    )


DATASET_NAME = "self-explain-features"


@dataclass(frozen=True)
class FeatureItem:
    """One SAE feature of the build."""

    layer: int
    feature: int


def choose_features(config: FeaturesConfig, saes: dict) -> list[FeatureItem]:
    """The features of a build: every feature of each SAE, or ``--features-per-layer`` drawn (seeded) per layer."""
    items = []
    for layer, sae in saes.items():
        features = list(range(sae.d_sae))
        if config.features_per_layer is not None and config.features_per_layer < sae.d_sae:
            features = sorted(random.Random(f"{config.seed}:{layer}").sample(features, config.features_per_layer))
        items += [FeatureItem(layer, feature) for feature in features]
    return items


def split_exemplars(feature: FeatureExemplars) -> tuple[FeatureExemplars, FeatureExemplars]:
    """(shown, held out): every other exemplar of each kind (the strongest among them) to describe from, the rest."""
    shown, held_out = [], []
    for kind in ("top", "quantile", "random"):
        of_kind = [e for e in feature.exemplars if e.kind == kind]
        shown += of_kind[0::2]
        held_out += of_kind[1::2]
    return dataclasses.replace(feature, exemplars=shown), dataclasses.replace(feature, exemplars=held_out)


def description_summary(descriptions: dict[str, list[str]]) -> dict:
    """How varied the descriptions are: how many distinct ones, and how often the majority description is right.

    The majority description is the most common one of ``train`` (of every row when there is no train split; ties
    go to the first seen), the answer of the ``majority`` baseline; its share in a split is the exact match that
    always answering it scores there.

    >>> description_summary({"train": ["digits", "digits", "country names"], "test": ["country names", "digits"]})
    {'distinct_descriptions': 2, 'majority_description': 'digits', 'majority_share': {'train': 0.6667, 'test': 0.5}}
    """
    pooled = [text for texts in descriptions.values() for text in texts]
    if not pooled:
        return {"distinct_descriptions": 0, "majority_description": None, "majority_share": {}}
    counts = Counter(descriptions.get("train") or pooled)
    majority = counts.most_common(1)[0][0]
    shares = {split: round(texts.count(majority) / len(texts), 4) for split, texts in descriptions.items() if texts}
    return {"distinct_descriptions": len(set(pooled)), "majority_description": majority, "majority_share": shares}


def ood_layers(config: FeaturesConfig, layers: list[int]) -> set[int]:
    """The ood split's layers: ``--ood-layers`` (-1: none), else the last SAE layer when there are two or more."""
    if config.ood_layers is not None:
        unknown = sorted(set(config.ood_layers) - set(layers) - {-1})
        if unknown:
            raise ValueError(f"--ood-layers {unknown} have no SAE; SAE layers: {layers}")
        return set(config.ood_layers) - {-1}
    return {layers[-1]} if len(layers) >= 2 else set()


class FeaturesBuilder(DatasetBuilder):
    """``self-explain build features``: the build loop over SAE features.

    Corpus, describer and simulator come before the target's run, so that one that cannot work fails first.
    """

    dataset_name = DATASET_NAME
    features = FEATURE_DESCRIPTION_FEATURES
    pretty_name = "self-explain: SAE feature descriptions"
    key_columns = ("layer", "feature")
    split_stream = (1,)

    def prepare(self) -> None:
        """Read the corpus before the target is loaded (see `read_corpus`)."""
        self.texts = read_corpus(self.config)

    def setup(self) -> None:
        """Load the SAEs, decide the ood layers, make the describer (or import Neuronpedia's) and the simulator."""
        config = self.config
        check_known_words(self.texts, self.target.tokenizer, config.corpus)
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
        """The features of the build (see `choose_features`)."""
        return choose_features(self.config, self.saes)

    def before_shards(self, items: list[FeatureItem], fingerprint: str) -> None:
        """Collect the features' exemplars once per build, in the work folder (see `exemplars_for`)."""
        self.exemplars = exemplars_for(
            self.config,
            self.target,
            self.saes,
            items,
            self.texts,
            self.build.work / f"exemplars-{fingerprint}",
            self.state,
        )

    def build_shard(self, items: list[FeatureItem]) -> tuple[list[dict], int]:
        """The rows of a shard's features (see `rows_for`)."""
        return self.rows_for(items)

    def split_of(self, item: FeatureItem) -> str:
        """``ood`` for a feature of an ood layer, else drawn train/test."""
        return "ood" if item.layer in self.ood else super().split_of(item)

    def no_rows_message(self, items: list[FeatureItem], skipped: int) -> str:
        """The error of a build where no feature fired with a description scoring above ``--min-score``."""
        return (
            f"no rows were built: none of {len(items)} features fired on the corpus with a description scoring "
            f"above --min-score {self.config.min_score}"
        )

    def provenance_extras(self, items: list[FeatureItem], splits: dict, rows, skipped: int) -> dict:
        """The features provenance: SAEs, corpus, describer, simulator, features, rows, scores and their variety."""
        config = self.config
        scores = rows["score"]
        return {
            "saes": {str(layer): sae.name for layer, sae in self.saes.items()},
            "num_texts": len(self.texts),
            "corpus": config.corpus
            or (BUILTIN_CORPUS_NAME if builtin_corpus_path(config.target) else "toy-world texts"),
            "describer": config.describer_model or config.describer,
            "simulator": config.simulator_model or config.simulator,
            "features_considered": len(items),
            "features_skipped": skipped,
            "ood_layers": sorted(self.ood),
            "rows": {split: len(ds) for split, ds in splits.items()},
            "mean_score": round(sum(scores) / len(scores), 4),
            **description_summary({split: ds["description"] for split, ds in splits.items()}),
        }

    def candidates(self, item: FeatureItem, shown: FeatureExemplars) -> list[str]:
        """A feature's candidate descriptions: imported from Neuronpedia, or from the describer."""
        if self.imported is not None:
            return self.imported.get((item.layer, item.feature), [])
        return self.describer.describe(shown)

    def rows_for(self, items: list[FeatureItem]) -> tuple[list[dict], int]:
        """Describe and score each feature: its best description above ``--min-score`` makes its row, else none."""
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


build_features_dataset = FeaturesBuilder.build_dataset  # ``self-explain build features``: the task's build function


def exemplars_for(
    config: FeaturesConfig,
    loaded: LoadedModel,
    saes: dict,
    items: list[FeatureItem],
    texts: list[str],
    folder: Path,
    state,
) -> dict:
    """The exemplars of the chosen features, collected once per build (kept in the work folder for a resume).

    The main process collects them unless ``folder`` already holds a complete write; every process then reads them.
    """
    if state.is_main_process and not (folder / "exemplars.json").is_file():
        chosen: dict[int, list[int]] = {}
        for item in items:
            chosen.setdefault(item.layer, []).append(item.feature)
        collect_exemplars(
            loaded,
            saes,
            texts,
            chosen,
            top_k=config.top_k,
            num_quantile=config.num_quantile,
            num_random=config.num_random,
            context_window=config.context_window,
            batch_size=config.batch_size,
            seed=config.seed,
            write_to=folder,
        )
    state.wait_for_everyone()
    return read_exemplars(folder)
