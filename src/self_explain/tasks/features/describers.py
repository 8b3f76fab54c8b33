"""Describers: candidate descriptions of an SAE feature from its exemplars, best first (delphi-style, pluggable).

A simulator scorer (``scorers.py``) then picks among them. Sources: :class:`ConceptDescriber` (the toy world's exact
answer), :class:`LMDescriber` (a language model shown the exemplars, firing tokens ``<<marked>>``) and
:func:`import_neuronpedia` (Neuronpedia's auto-interp). Toy concept descriptions use only words of the toy
tokenizer's closed vocabulary, since the explainer of a toy target has to say them.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ...core.lm_backend import LanguageModelBackend, LMConfig, openai_client  # noqa: F401  (re-exported)
from ...toyworld.vocabulary import CONTEXT_CONCEPTS, WORD_CONCEPTS
from ...utils.stats import pearson_correlation

if TYPE_CHECKING:
    from ...toyworld.world import ToyWorld
    from .exemplars import Exemplar, FeatureExemplars

logger = logging.getLogger(__name__)

# tokens -> the concept labels of each token (``toyworld.vocabulary.concept_labels`` for the toy world)
Labeler = Callable[[list[str]], list[list[str]]]

# Every toy concept and the words that describe it, in toy words only. Categories first
# (``toyworld.vocabulary.CONCEPTS`` plus "entity"): on a tie the broader description wins. Then one description per
# word (``WORD_CONCEPTS``): a feature specific to one country, colour, job, number, pet, hint giver or option letter.
# Then where a token stands (``CONTEXT_CONCEPTS``). A finer description wins only when it explains the activations
# better (see ConceptDescriber).
CATEGORY_DESCRIPTIONS: dict[str, str] = {
    "country": "country names",
    "colour": "colour words",
    "profession": "profession words",
    "digit": "digits",
    "animal": "pet words",
    "option_letter": "option letters",
    "hint_giver": "hint givers",
    "punctuation": "punctuation",
    "chat_marker": "chat markers",
    "special": "start and end of sequence",
    "entity": "invented entity names",
}
WORD_DESCRIPTION_TEMPLATES: dict[str, str] = {
    "country": "the country {word}",
    "colour": "the colour {word}",
    "profession": "the job {word}",
    "digit": "the number {word}",
    "animal": "the pet {word}",
    "hint_giver": "the hint giver {word}",
    "option_letter": "the option letter {word}",
}
CONTEXT_DESCRIPTIONS: dict[str, str] = {
    "hint_answer": "the answer in a hint",
    "assistant_answer": "the assistant answer",
    "option_value": "the options of a question",
    "question_entity": "the entity of a question",
    "answer_position": "the token that predicts the answer",
}


def word_description(concept: str) -> str:
    """The description of a per-word concept.

    >>> word_description("country:Peru")
    'the country Peru'
    """
    category, word = concept.split(":", 1)
    return WORD_DESCRIPTION_TEMPLATES[category].format(word=word)


CONCEPT_DESCRIPTIONS: dict[str, str] = {
    **CATEGORY_DESCRIPTIONS,
    **{concept: word_description(concept) for concept in WORD_CONCEPTS},
    **{concept: CONTEXT_DESCRIPTIONS[concept] for concept in CONTEXT_CONCEPTS},
}
DESCRIPTION_CONCEPTS: dict[str, str] = {text: concept for concept, text in CONCEPT_DESCRIPTIONS.items()}


def toy_labeler(world: ToyWorld | None = None) -> Labeler:
    """The concept labeler of a toy world (default: the world every shipped toy model was trained on)."""
    from ...toyworld.vocabulary import concept_labels
    from ...toyworld.world import ToyWorld

    world = world if world is not None else ToyWorld.generate(0)

    def label(tokens: list[str]) -> list[list[str]]:
        return concept_labels(tokens, world, fine=True)

    return label


def resolve_labeler(labeler: Labeler | ToyWorld | None) -> Labeler:
    """A labeler from a callable, a ``ToyWorld``, or ``None`` (the default toy world)."""
    if labeler is None:
        return toy_labeler()
    if hasattr(labeler, "entities") and hasattr(labeler, "facts"):
        return toy_labeler(labeler)  # type: ignore[arg-type]
    if callable(labeler):
        return labeler
    raise TypeError(
        f"labeler must be a callable tokens -> labels per token, or a ToyWorld; got {type(labeler).__name__}"
    )


def exemplar_labels(labeler: Labeler, exemplar: Exemplar) -> list[list[str]]:
    """The labels of one exemplar's tokens, checked to be one list per token."""
    labels = labeler(list(exemplar.tokens))
    if len(labels) != len(exemplar.tokens):
        raise ValueError(
            f"labeler returned {len(labels)} label lists for exemplar {exemplar.text_index} of "
            f"{len(exemplar.tokens)} tokens; expected one list per token"
        )
    return labels


@runtime_checkable
class Describer(Protocol):
    """Anything with ``describe(feature) -> candidate descriptions, best first``."""

    def describe(self, feature: FeatureExemplars) -> list[str]:
        """Candidate descriptions of a feature."""
        ...


def _check_feature(feature: FeatureExemplars) -> None:
    if not feature.exemplars:
        raise ValueError(f"feature {feature.feature} of layer {feature.layer} has no exemplars to describe")
    for exemplar in feature.exemplars:
        if len(exemplar.tokens) != len(exemplar.activations):
            raise ValueError(
                f"exemplar {exemplar.text_index} of feature {feature.feature} (layer {feature.layer}) has "
                f"{len(exemplar.tokens)} tokens but {len(exemplar.activations)} activations; expected one per token"
            )


class ConceptDescriber:
    """Describes a toy feature by the concept whose indicator best explains its activations.

    Each concept's indicator over every exemplar token (all kinds pooled, so that broad concepts are penalised) is
    correlated with the activations (Pearson r; 0 for an absent concept). A binary indicator's r rewards precision and
    recall together: a feature firing on every country is "country names", one firing only on Peru "the country
    Peru". The ``max_candidates`` best are returned, ties in :data:`CONCEPT_DESCRIPTIONS` order, even when r ≤ 0.

    Args:
        labeler (`Labeler`, `ToyWorld` or `None`, *optional*):
            ``tokens -> labels per token``, or a toy world; None: the default toy world.
        max_candidates (`int`, *optional*, defaults to 3):
            How many descriptions ``describe`` returns.

    Raises:
        ValueError: When ``max_candidates`` is below 1.
    """

    def __init__(self, labeler: Labeler | ToyWorld | None = None, max_candidates: int = 3):
        if max_candidates < 1:
            raise ValueError(f"max_candidates must be at least 1, got {max_candidates}")
        self.labeler = resolve_labeler(labeler)
        self.max_candidates = max_candidates

    def concept_correlations(self, feature: FeatureExemplars) -> list[tuple[str, float]]:
        """``(concept, r)`` for every concept of ``CONCEPT_DESCRIPTIONS``, best first (ties keep the concept order).

        Args:
            feature (`FeatureExemplars`): The feature and its exemplars (all kinds pooled).

        Raises:
            ValueError: When the feature has no exemplars, or an exemplar's tokens and activations differ in number.
        """
        _check_feature(feature)
        activations: list[float] = []
        labels: list[set[str]] = []
        for exemplar in feature.exemplars:
            activations += [float(a) for a in exemplar.activations]
            labels += [set(token_labels) for token_labels in exemplar_labels(self.labeler, exemplar)]
        present = set().union(*labels)
        scores = []
        for concept in CONCEPT_DESCRIPTIONS:
            if concept not in present:  # a constant indicator: r = 0
                scores.append((concept, 0.0))
                continue
            indicator = [1.0 if concept in token_labels else 0.0 for token_labels in labels]
            scores.append((concept, pearson_correlation(indicator, activations)))
        return sorted(scores, key=lambda item: -item[1])  # stable: ties keep the concept order

    def describe(self, feature: FeatureExemplars) -> list[str]:
        """The descriptions of the ``max_candidates`` best-correlated concepts, best first.

        Args:
            feature (`FeatureExemplars`): The feature and its exemplars.

        Raises:
            ValueError: As for `concept_correlations`.
        """
        ranked = self.concept_correlations(feature)
        logger.debug("feature %d@%d concept correlations: %s", feature.feature, feature.layer, ranked[:3])
        return [CONCEPT_DESCRIPTIONS[concept] for concept, _ in ranked[: self.max_candidates]]


# ----------------------------------------------------------------------------------------------
# Language-model describer
# ----------------------------------------------------------------------------------------------

EXPLAINER_INSTRUCTIONS = (
    "You are an interpretability researcher studying one feature of a language model. Below are text "
    "excerpts where the feature is active; the tokens on which it is most active are marked like "
    "<<this>>. Find what the marked tokens have in common, using the surrounding text only as context. "
    "Answer with a short description of a few words (for example: country names, colour words, "
    "closing brackets) and nothing else."
)


@dataclass
class LMDescriberConfig(LMConfig):
    """The language model of an `LMDescriber`, and what it is shown.

    Besides the fields of `LMConfig` (``model``, ``base_url``, ``api_key``, ``backend``, ``temperature``, ``seed``,
    ``max_new_tokens``, ``timeout``, ``max_retries``):

    Args:
        num_candidates (`int`, *optional*, defaults to 1):
            Descriptions generated per feature (more than one needs ``temperature`` > 0).
        max_exemplars (`int`, *optional*, defaults to 10):
            Top exemplars shown to the model.
        context_tokens (`int`, *optional*, defaults to 24):
            Tokens shown around each exemplar's most active token (None: all).
        highlight_fraction (`float`, *optional*, defaults to 0.3):
            Tokens at or above this fraction of the feature's maximum are marked <<…>>.

    Raises:
        ValueError: When ``num_candidates`` is below 1, above 1 with greedy decoding, or ``highlight_fraction`` is
            outside [0, 1] (and on the checks of `LMConfig`).
    """

    num_candidates: int = field(default=1, metadata={"help": "Descriptions generated per feature."})
    max_exemplars: int = field(default=10, metadata={"help": "Top exemplars shown to the model."})
    context_tokens: int | None = field(
        default=24, metadata={"help": "Tokens shown around each exemplar's most active token (None: all)."}
    )
    highlight_fraction: float = field(
        default=0.3, metadata={"help": "Tokens at or above this fraction of the feature's maximum are marked <<…>>."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_candidates < 1:
            raise ValueError(f"num_candidates must be at least 1, got {self.num_candidates}")
        if self.num_candidates > 1 and self.temperature == 0:
            raise ValueError(
                f"num_candidates={self.num_candidates} needs temperature > 0: greedy decoding gives one answer"
            )
        if not 0 <= self.highlight_fraction <= 1:
            raise ValueError(f"highlight_fraction must be in [0, 1], got {self.highlight_fraction}")


# Byte-level BPE and SentencePiece spell spaces and line breaks with these (convert_ids_to_tokens strings).
_TOKEN_MARKERS = str.maketrans({"Ġ": " ", "▁": " ", "Ċ": "\\n", "ĉ": "\\t", "\n": "\\n", "\t": "\\t"})


def token_text(token: str) -> str:
    """A token string for a one-line prompt: BPE space markers as spaces, line breaks and tabs as ``\\n``/``\\t``."""
    return token.translate(_TOKEN_MARKERS)


def highlight_exemplar(tokens: list[str], activations: list[float], threshold: float) -> str:
    """The exemplar's text with runs of tokens whose activation is ≥ threshold (and > 0) in ``<<…>>``.

    Tokens that carry their own spaces (BPE) are concatenated, others (word-level) joined by spaces.
    """
    tokens = [token_text(token) for token in tokens]
    separator = "" if any(token[:1].isspace() for token in tokens[1:]) else " "
    pieces: list[str] = []
    run: list[str] = []
    for token, activation in [*zip(tokens, activations), (None, 0.0)]:
        if token is not None and activation > 0 and activation >= threshold:
            run.append(token)
            continue
        if run:
            text = separator.join(run)
            stripped = text.lstrip()
            pieces.append(text[: len(text) - len(stripped)] + "<<" + stripped + ">>")
            run = []
        if token is not None:
            pieces.append(token)
    return separator.join(pieces)


def _exemplar_window(exemplar: Exemplar, context_tokens: int | None) -> tuple[list[str], list[float]]:
    tokens, activations = list(exemplar.tokens), [float(a) for a in exemplar.activations]
    if context_tokens is None or len(tokens) <= context_tokens:
        return tokens, activations
    peak = max(range(len(activations)), key=activations.__getitem__)
    start = max(0, min(peak - context_tokens // 2, len(tokens) - context_tokens))
    return tokens[start : start + context_tokens], activations[start : start + context_tokens]


def clean_description(text: str) -> str:
    """The first non-empty line of a model's answer, without a label prefix, quotes or final period."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[0] if lines else ""
    line = re.sub(r"^\s*(\[?explanation\]?|description|answer)\s*:\s*", "", line, flags=re.IGNORECASE)
    return line.strip().strip("\"'`").rstrip(".").strip()


class LMDescriber(LanguageModelBackend):
    """Asks a language model to describe a feature from its top exemplars, ``<<marked>>`` where it fires.

    ``config.model`` is a local causal LM (Hub id, folder or toy name) run with its chat template, or, with
    ``config.base_url`` (or ``backend="openai"``), the model name at an OpenAI-compatible endpoint.

    Args:
        config (`LMDescriberConfig`): The model and what it is shown.
        model (`PreTrainedModel`, *optional*): An already loaded local model.
        tokenizer (`PreTrainedTokenizerBase`, *optional*): Its tokenizer.
    """

    config: LMDescriberConfig

    def __init__(self, config: LMDescriberConfig, model: Any | None = None, tokenizer: Any | None = None):
        super().__init__(config, model=model, tokenizer=tokenizer)

    def shown_exemplars(self, feature: FeatureExemplars) -> list[str]:
        """Up to ``max_exemplars`` exemplars that fire ("top" first, most active first), windowed and ``<<marked>>``.

        Args:
            feature (`FeatureExemplars`): The feature and its exemplars.

        Raises:
            ValueError: When the feature has no exemplars, an exemplar is malformed, or none of them fires.
        """
        _check_feature(feature)
        firing = [e for e in feature.exemplars if max(e.activations, default=0.0) > 0]
        tops = sorted(firing, key=lambda e: (e.kind != "top", -max(e.activations)))[: self.config.max_exemplars]
        if not tops:
            raise ValueError(f"feature {feature.feature} of layer {feature.layer} never activates in its exemplars")
        maximum = feature.max_activation if feature.max_activation > 0 else max(max(e.activations) for e in tops)
        threshold = self.config.highlight_fraction * maximum
        return [highlight_exemplar(*_exemplar_window(e, self.config.context_tokens), threshold) for e in tops]

    def messages(self, shown: list[str]) -> list[dict[str, str]]:
        """The chat messages asking for a description: the instructions, then the numbered examples.

        Args:
            shown (`list[str]`): The highlighted exemplar texts.
        """
        examples = "\n".join(f"Example {i + 1}: {text}" for i, text in enumerate(shown))
        return [{"role": "system", "content": EXPLAINER_INSTRUCTIONS}, {"role": "user", "content": examples}]

    def describe(self, feature: FeatureExemplars) -> list[str]:
        """``num_candidates`` cleaned descriptions (`clean_description`, some may be empty) from the model.

        A local model drops the least active exemplars until the prompt and the answer fit its context.

        Args:
            feature (`FeatureExemplars`): The feature and its exemplars.

        Raises:
            ValueError: As for `shown_exemplars`, or when even one exemplar does not fit a local model's context.
        """
        shown = self.shown_exemplars(feature)
        n = self.config.num_candidates
        if self.backend == "openai":
            answers = [self.chat(self.messages(shown), seed=self.config.seed + i) for i in range(n)]
        else:
            answers = self._generate_local(shown, n)
        descriptions = [clean_description(answer) for answer in answers]
        if not any(descriptions):
            logger.warning(
                "the describer model gave only empty descriptions for feature %d of layer %d",
                feature.feature,
                feature.layer,
            )
        return descriptions

    def _generate_local(self, shown: list[str], n: int) -> list[str]:
        limit = self.max_positions()
        while True:  # drop the least active exemplars until the prompt and the answer fit the context
            ids = self.prompt_ids(self.messages(shown))
            if limit is None or len(ids) + self.config.max_new_tokens <= limit or len(shown) == 1:
                break
            shown = shown[:-1]
        if limit is not None and len(ids) + self.config.max_new_tokens > limit:
            raise ValueError(
                f"one exemplar makes a prompt of {len(ids)} tokens, which with max_new_tokens="
                f"{self.config.max_new_tokens} exceeds the {limit} positions of {self.config.model!r}; "
                "lower context_tokens or max_new_tokens"
            )
        return self.generate(ids, n)


# ----------------------------------------------------------------------------------------------
# Neuronpedia explanations
# ----------------------------------------------------------------------------------------------

_LAYER = re.compile(r"^\s*(\d+)(?:-|$)")


def _read_records(path: Path) -> list[Any]:
    """JSON (a list of records, ``{"explanations": [...]}`` or one record) or JSON lines, optionally gzipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read Neuronpedia export {path}: {error}") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if data is None:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"Neuronpedia export {path} is neither JSON nor JSON lines (line {number}: {error.msg})"
                ) from error
        return records
    if isinstance(data, dict):
        data = data.get("explanations", [data])
    if not isinstance(data, list):
        raise ValueError(f"Neuronpedia export {path} holds a JSON {type(data).__name__}; expected a list of records")
    return data


def _parse_layer(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _LAYER.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{where}: layer {value!r} does not start with a layer number; expected e.g. '6-res-jb'")
    return int(match.group(1))


def import_neuronpedia(path: str | Path, model_id: str | None = None) -> dict[tuple[int, int], list[str]]:
    """Descriptions from a Neuronpedia explanations export, keyed by ``(layer, feature index)``.

    ``path`` is a file from ``/api/explanation/export`` (a JSON list of records), a bulk-export
    ``batch-N.jsonl.gz`` (one record a line), or a folder of such files. Each record needs
    ``layer`` (e.g. ``"6-res-jb"``; its leading number is the layer), ``index`` and
    ``description``; ``modelId`` is checked against ``model_id`` when given. A feature with several
    explanations keeps them all, in file order, without repeats.

    Args:
        path (`str` or `Path`): An export file or a folder of them.
        model_id (`str`, *optional*): Keep only records whose ``modelId`` is this.

    Returns:
        `dict[tuple[int, int], list[str]]`: The non-empty descriptions of each ``(layer, feature index)``.

    Raises:
        FileNotFoundError: When ``path`` does not exist.
        ValueError: When a folder has no export files, a file cannot be read or parsed, or a record is not an
            object, lacks ``layer``, ``index`` or ``description``, or has a malformed one.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz")))
        if not files:
            raise ValueError(f"folder {path} has no .json, .jsonl or .jsonl.gz Neuronpedia export files")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"Neuronpedia export {path} does not exist")
    descriptions: dict[tuple[int, int], list[str]] = {}
    for file in files:
        for number, record in enumerate(_read_records(file), start=1):
            where = f"{file} record {number}"
            if not isinstance(record, dict):
                raise ValueError(f"{where} is a {type(record).__name__}; expected an object")
            missing = [key for key in ("layer", "index", "description") if key not in record]
            if missing:
                raise ValueError(f"{where} lacks {', '.join(missing)}; expected layer, index and description")
            if model_id is not None and record.get("modelId") != model_id:
                continue
            try:
                index = int(record["index"])
            except (TypeError, ValueError):
                raise ValueError(f"{where}: index {record['index']!r} is not a feature number") from None
            description = record["description"]
            if not isinstance(description, str):
                raise ValueError(f"{where}: description is a {type(description).__name__}; expected text")
            key = (_parse_layer(record["layer"], where), index)
            found = descriptions.setdefault(key, [])
            if description.strip() and description.strip() not in found:
                found.append(description.strip())
    logger.info("read descriptions of %d features from %s", len(descriptions), path)
    return descriptions
