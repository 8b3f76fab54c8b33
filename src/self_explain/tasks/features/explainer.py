"""The explainer side of feature descriptions: ⟨v⟩ is the feature's decoder direction × its max activation."""

from __future__ import annotations

import math
import random

import torch

from ...core.models import LoadedModel, is_toy_model
from ...toyworld import toy_world_for
from ..base import ExplainerExamples
from .exemplars import Exemplar
from .prompts import features_answer, features_question, parse_description

REQUIRED_COLUMNS = ("layer", "vector", "description")
# The metric keys of the task (``description_similarity`` and `score_features`): display name and meaning, for cards.
METRIC_LABELS = {
    "similarity": (
        "Similarity",
        "cosine similarity of the sentence embeddings (all-MiniLM-L6-v2) of explanation and reference description",
    ),
    "exact_match": (
        "Exact Match",
        "the description equals the reference (lowercased, whitespace collapsed, end periods stripped)",
    ),
    "simulator_correlation": (
        "Simulator r",
        "Pearson r of the activations the description predicts with the true "
        "ones on held-out exemplars (toy targets: the concept simulator)",
    ),
    "judge_similarity": ("Judge Similarity", "an LM judge's 1-5 similarity rating s, as (s - 1) / 4"),
    "judge_invalid_rate": ("Judge invalid rate", "the share of judge answers that are not a rating in 1-5"),
}
VERIFY_TEXTS = 600  # fresh toy-world texts whose exemplars score an explanation in verify
VERIFY_MARGIN = 0.05  # an explanation this close to the best concept's simulator score holds


def features_examples(dataset, target: LoadedModel, seed: int = 0) -> ExplainerExamples:
    """The explainer's examples of a features dataset (the task's ``examples`` hook).

    A row without ``question``/``answer`` gets them from the templates; its held-out exemplars go to ``extras``
    for the simulator score (`score_features`).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"the dataset is not a features dataset: columns {missing} are missing (it has "
            f"{sorted(dataset.column_names)})"
        )
    rows = dataset.to_list()
    hidden = target.model.config.hidden_size
    questions, answers, extras = [], [], []
    for index, row in enumerate(rows):
        if len(row["vector"]) != hidden:
            raise ValueError(
                f"row {index}: vector has {len(row['vector'])} values, the target's hidden size is {hidden}"
            )
        if not all(math.isfinite(value) for value in row["vector"]):
            raise ValueError(f"row {index}: vector holds NaN or infinite values; rebuild or drop the row")
        questions.append(row.get("question") or features_question(row["layer"], random.Random(f"{seed}:{index}")))
        answers.append(row.get("answer") or features_answer(row["description"]))
        held_out = [e for e in row.get("exemplars") or [] if e["held_out"]]
        extras.append({"exemplars": [Exemplar(e["tokens"], e["activations"], e["kind"], -1) for e in held_out]})
    vectors = torch.tensor([row["vector"] for row in rows], dtype=torch.float32)
    layers = torch.tensor([row["layer"] for row in rows], dtype=torch.long)
    return ExplainerExamples(questions, answers, vectors, layers, extras=extras)


def _layer(inputs: dict, target: LoadedModel) -> int:
    layer = inputs.get("layer")
    num_layers = len(target.adapter.layers(target.model))
    if not isinstance(layer, int) or not 0 <= layer < num_layers:
        raise ValueError(f"features input needs 'layer': an integer in 0..{num_layers - 1}; got {layer!r}")
    return layer


def _sae_feature(inputs: dict, target: LoadedModel, layer: int):
    from ...core.sae import SparseAutoencoder, check_sae_fits

    sae = inputs["sae"]
    if not isinstance(sae, SparseAutoencoder):
        if not isinstance(sae, str) or not sae:
            raise ValueError(f"features input 'sae' must be an SAE folder or Hub id (a string); got {_shown(sae)}")
        try:
            sae = SparseAutoencoder.from_pretrained(sae)
        except FileNotFoundError:
            raise
        except OSError as error:  # a Hub id that cannot be downloaded (offline, no such repo)
            raise ValueError(f"features input 'sae' {sae!r}: {error}") from error
    check_sae_fits(sae, target, layer)
    feature = inputs.get("feature")
    if not isinstance(feature, int) or not 0 <= feature < sae.d_sae:
        raise ValueError(f"features input 'feature' must be an integer in 0..{sae.d_sae - 1}; got {feature!r}")
    return sae, feature


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _input_vector(inputs: dict, target: LoadedModel) -> torch.Tensor:
    given = inputs["vector"]
    hidden = target.model.config.hidden_size
    if isinstance(given, (str, bytes)):
        raise ValueError(f"features input 'vector' must be a list of {hidden} numbers; got a string {_shown(given)}")
    try:
        vector = torch.as_tensor(given, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"features input 'vector' must be a list of {hidden} numbers (the target's hidden size); got "
            f"{_shown(given)}"
        ) from error
    if vector.shape != (hidden,):
        raise ValueError(
            f"features input 'vector' must have the target's hidden size {hidden}; got shape {tuple(vector.shape)}"
        )
    bad = int((~torch.isfinite(vector)).sum())
    if bad:
        raise ValueError(f"features input 'vector' holds {bad} NaN or infinite values; give {hidden} finite numbers")
    return vector


def _check_direction_given(inputs: dict) -> None:
    if "vector" not in inputs and "sae" not in inputs:
        raise ValueError("features input needs 'vector' (with 'layer') or 'sae' and 'feature' (with 'layer')")


_last_fresh: dict = {}  # the one most recent result: a pipeline call's request and verify read the same feature


def _fresh_exemplars(inputs: dict, target: LoadedModel, layer: int) -> tuple[list[Exemplar], float]:
    """Exemplars of the input's direction on fresh texts (its SAE feature, or the vector as a linear probe)."""
    texts = inputs.get("texts")
    sae = inputs.get("sae")
    key = None
    if isinstance(sae, str) and (texts is None or isinstance(texts, (list, tuple))):
        key = (
            target.name,
            target.revision,
            layer,
            sae,
            inputs.get("feature"),
            inputs.get("seed", 1),
            None if texts is None else tuple(texts),
        )
    if key is not None and key in _last_fresh:
        return _last_fresh[key]
    result = _collect_fresh_exemplars(inputs, target, layer)
    if key is not None:
        _last_fresh.clear()
        _last_fresh[key] = result
    return result


def _collect_fresh_exemplars(inputs: dict, target: LoadedModel, layer: int) -> tuple[list[Exemplar], float]:
    from ...core.sae import SAEConfig, SparseAutoencoder
    from ...toyworld.examples import toy_corpus
    from .exemplars import collect_exemplars

    texts = inputs.get("texts")
    if texts is None:
        if not is_toy_model(target.name):
            raise ValueError("features input needs 'texts' (a list of strings) to find exemplars in for this target")
        texts = toy_corpus(toy_world_for(target.name), VERIFY_TEXTS, seed=int(inputs.get("seed", 1)))
    _check_direction_given(inputs)
    if "sae" in inputs:
        sae, feature = _sae_feature(inputs, target, layer)
    else:
        direction = _input_vector(inputs, target)
        direction = direction / direction.norm().clamp_min(1e-12)
        config = SAEConfig(architecture="standard", d_in=direction.numel(), d_sae=1, layer=layer)
        sae = SparseAutoencoder(config)
        with torch.no_grad():
            sae.W_enc.copy_(direction[:, None])
            sae.W_dec.copy_(direction[None])
            sae.b_enc.zero_()
            sae.b_dec.zero_()
        feature = 0
    found = collect_exemplars(target, {layer: sae}, texts, {layer: [feature]}, seed=int(inputs.get("seed", 1)))
    result = found[(layer, feature)]
    return result.exemplars, result.max_activation


def _check_activation_and_texts(inputs: dict) -> None:
    """Refuse an ``activation`` that is no finite number and ``texts`` that are no non-empty list of strings."""
    scale = inputs.get("activation")
    if scale is not None and (
        isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale)
    ):
        raise ValueError(
            f"features input 'activation' must be a finite number (the scale of the decoder "
            f"direction), or left out; got {scale!r}"
        )
    texts = inputs.get("texts")
    if texts is not None and (
        not isinstance(texts, (list, tuple))
        or not texts
        or not all(isinstance(text, str) and text.strip() for text in texts)
    ):
        raise ValueError(
            f"features input 'texts' must be a non-empty list of texts to find exemplars in, or left "
            f"out; got {texts!r}"[:300]
        )


def features_request(inputs: dict, target: LoadedModel) -> ExplainerExamples:
    """The explainer's question and vector for one pipeline input (the task's ``request`` hook).

    The input gives ``layer`` and ``vector``, or ``sae`` and ``feature``: ``activation`` scales the decoder row
    (default: the feature's max on fresh exemplars, from ``texts``, which a non-toy target needs).
    """
    layer = _layer(inputs, target)
    _check_direction_given(inputs)
    _check_activation_and_texts(inputs)
    if "vector" in inputs:
        vector = _input_vector(inputs, target)
    else:
        sae, feature = _sae_feature(inputs, target, layer)
        scale = inputs.get("activation")
        if scale is None:
            _, scale = _fresh_exemplars(inputs, target, layer)
        vector = sae.decoder_directions[feature].float() * float(scale)
    question = features_question(layer, int(inputs.get("template", 0)))
    return ExplainerExamples([question], None, vector[None], torch.tensor([layer]))


def parse_features(explanation: str) -> dict:
    """Parse a feature explanation (the task's ``parse`` hook)."""
    description = parse_description(explanation)
    return {"description": description, "valid": bool(description)}


def _simulator_for(target: LoadedModel):
    from .describers import toy_labeler
    from .scorers import ConceptSimulator

    if is_toy_model(target.name):
        return ConceptSimulator(toy_labeler(toy_world_for(target.name)))
    return None


def verify_features(inputs: dict, target: LoadedModel, parsed: dict) -> dict:
    """Score the explanation with the simulator on fresh exemplars of the feature, beside the best concept's score.

    Toy targets only (the concept simulator): ``verified`` when the explanation scores within ``VERIFY_MARGIN`` of the
    best concept description (``ground_truth``) on the same exemplars.
    """
    from .describers import ConceptDescriber, toy_labeler
    from .exemplars import FeatureExemplars
    from .scorers import score_candidates, simulator_correlation_score

    simulator = _simulator_for(target)
    if simulator is None:
        raise ValueError(
            "verify for features needs a toy-world target (concept simulator); score with the LM simulator instead"
        )
    layer = _layer(inputs, target)
    exemplars, max_activation = _fresh_exemplars(inputs, target, layer)
    if max_activation <= 0:
        raise ValueError(
            "the feature never fires on the verification texts, so no description can be checked; give 'texts' "
            "where it fires"
        )
    correlation = simulator_correlation_score(simulator, parsed["description"], exemplars)
    feature = FeatureExemplars(layer, int(inputs.get("feature", -1)), max_activation, 0.0, exemplars)
    candidates = ConceptDescriber(toy_labeler(toy_world_for(target.name))).describe(feature)
    best, best_score = score_candidates(simulator, candidates, exemplars)[0]
    return {
        "simulator_correlation": correlation,
        "ground_truth": best,
        "ground_truth_correlation": best_score,
        "max_activation": max_activation,
        "verified": bool(parsed["valid"] and correlation >= best_score - VERIFY_MARGIN),
    }


def score_features(examples: ExplainerExamples, predictions: list[str], target: LoadedModel) -> dict:
    """The ``extra_scores`` hook: mean simulator r of the predictions on the rows' held-out exemplars (toy targets)."""
    from .scorers import simulator_correlation_score

    simulator = _simulator_for(target)
    if simulator is None or not examples.extras:
        return {}
    scores = [
        simulator_correlation_score(simulator, parse_description(prediction), extra["exemplars"])
        for prediction, extra in zip(predictions, examples.extras)
        if extra["exemplars"]
    ]
    return {"simulator_correlation": sum(scores) / len(scores)} if scores else {}
