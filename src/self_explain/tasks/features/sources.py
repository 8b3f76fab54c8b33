"""What a feature-description build reads: the SAEs, the corpus, the describer and the simulator."""

from __future__ import annotations

import logging
from pathlib import Path

from ...core.models import LoadedModel, is_toy_model, shipped_path, short_model_name
from ...core.packaged_models import is_packaged_model
from ...core.sae import SparseAutoencoder, check_sae_fits, load_sae_release
from ...realworld import builtin_corpus_path
from ...toyworld import toy_world_for
from ...utils.files import read_jsonl_objects, read_user_text
from ..build import require_input
from .config import FeaturesConfig

logger = logging.getLogger(__name__)


def shipped_sae_folders(target: str) -> list[Path]:
    """The SAEs shipped for a toy or packaged target (``<models>/<target>-saes/layer_<ℓ>``), or []."""
    if not (is_toy_model(target) or is_packaged_model(target)):
        return []
    folder = shipped_path(f"{short_model_name(target)}-saes")
    return sorted(folder.glob("layer_*"), key=lambda path: int(path.name.split("_")[-1])) if folder else []


def load_saes(config: FeaturesConfig, target: LoadedModel) -> dict[int, SparseAutoencoder]:
    """The SAEs by layer, checked: from ``sae_release`` and ``sae_ids``, else ``saes``, else the shipped ones."""
    if config.sae_release:
        saes = [load_sae_release(config.sae_release, sae_id) for sae_id in config.sae_ids or []]
    else:
        sources = config.saes
        if not sources:
            shipped = shipped_sae_folders(config.target)
            require_input(
                config.target,
                sources,
                "--saes",
                "shipped SAEs; give SAE folders or Hub ids (SAELens format), or --sae-release with --sae-ids",
                has_builtin=bool(shipped),
            )
            # named as shipped, not by this machine's install path
            saes = [SparseAutoencoder.from_pretrained(f"{path.parent.name}/{path.name}") for path in shipped]
        else:
            saes = [SparseAutoencoder.from_pretrained(source) for source in sources]
    by_layer: dict[int, SparseAutoencoder] = {}
    for sae in saes:
        if sae.layer is None:
            raise ValueError(f"SAE {sae.name!r} does not say which layer it reads (cfg.json hook_name or layer)")
        if sae.layer in by_layer:
            raise ValueError(f"two SAEs read layer {sae.layer}: {by_layer[sae.layer].name!r} and {sae.name!r}")
        check_sae_fits(sae, target, sae.layer)
        by_layer[sae.layer] = sae
    return dict(sorted(by_layer.items()))


def read_corpus(config: FeaturesConfig) -> list[str]:
    """The texts to find exemplars in: ``corpus`` (.txt or .jsonl), else the shipped one or the toy world's."""
    builtin = None if config.corpus else builtin_corpus_path(config.target)
    if config.corpus is None and builtin is None:
        require_input(config.target, config.corpus, "--corpus FILE", "a built-in corpus")
        from ...toyworld.examples import toy_corpus

        return toy_corpus(toy_world_for(config.target), config.num_texts, config.seed)
    path = Path(config.corpus or builtin)
    if path.suffix == ".jsonl":
        expected = "an object with a string 'text'"
        texts = []
        for number, record in read_jsonl_objects(path, "--corpus", expected):
            if not isinstance(record.get("text"), str):
                raise ValueError(f"--corpus {path} line {number}: expected {expected}")
            texts.append(record["text"])
    elif path.is_file():
        texts = read_user_text(path, "--corpus").splitlines()
    else:
        raise FileNotFoundError(f"--corpus {path}: no such file")
    texts = [text for text in texts if text.strip()]
    if not texts:
        raise ValueError(f"--corpus {path} is empty: it holds no texts to find exemplars in")
    return texts


def _needs_toy(config: FeaturesConfig, what: str) -> None:
    if not is_toy_model(config.target):
        raise ValueError(
            f"--{what} concept needs a toy-world target (its tokens have known concept labels); for "
            f"{config.target!r} use --{what} lm"
        )


def make_describer(config: FeaturesConfig):
    """A describer: ``describe(feature) -> candidates``; None for --describer neuronpedia (imported instead)."""
    from .describers import (
        ConceptDescriber,
        LMDescriber,
        LMDescriberConfig,
        toy_labeler,
    )

    if config.describer == "concept":
        _needs_toy(config, "describer")
        return ConceptDescriber(toy_labeler(toy_world_for(config.target)), max_candidates=config.num_candidates)
    if config.describer == "lm":
        return LMDescriber(
            LMDescriberConfig(
                model=config.describer_model,
                base_url=config.describer_base_url,
                seed=config.seed,
                num_candidates=config.num_candidates,
                temperature=0.7 if config.num_candidates > 1 else 0.0,
            )
        )
    return None


def make_simulator(config: FeaturesConfig):
    """A simulator that scores descriptions: ``simulate(description, exemplars)``."""
    from .describers import toy_labeler
    from .scorers import ConceptSimulator, LMSimulator, LMSimulatorConfig

    if config.simulator == "concept":
        _needs_toy(config, "simulator")
        return ConceptSimulator(toy_labeler(toy_world_for(config.target)))
    return LMSimulator(
        LMSimulatorConfig(model=config.simulator_model, base_url=config.simulator_base_url, seed=config.seed)
    )
