"""Simulator scorers: how well a description predicts a feature's activations on held-out exemplars.

A simulator predicts the activation at every token from the description; the score is the Pearson r between
predicted and true activations, pooled over all tokens (OpenAI's "explain, simulate, score", delphi's simulation
scoring). :class:`ConceptSimulator` is the toy world's exact simulator, :class:`LMSimulator` a language model.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

from ...core.generation import pad_token_id
from ...core.lm_backend import LanguageModelBackend, LMConfig
from ...toyworld.vocabulary import CONTEXT_CONCEPTS, WORD_CONCEPTS
from ...utils.checks import check_positive
from ...utils.progress import progress_bar
from ...utils.stats import pearson_correlation
from .describers import (
    CONCEPT_DESCRIPTIONS,
    DESCRIPTION_CONCEPTS,
    Labeler,
    exemplar_labels,
    resolve_labeler,
    token_text,
)

if TYPE_CHECKING:
    from ...toyworld.world import ToyWorld
    from .exemplars import Exemplar

logger = logging.getLogger(__name__)


@runtime_checkable
class Simulator(Protocol):
    """Anything with ``simulate(description, exemplars) -> predicted activation per token, per exemplar``."""

    def simulate(self, description: str, exemplars: list[Exemplar]) -> list[list[float]]:
        """Predict a feature's activations from its description."""
        ...


# ----------------------------------------------------------------------------------------------
# Concept simulator (toy world)
# ----------------------------------------------------------------------------------------------

# Phrases naming concepts, matched longest first on the description's lower-cased words (letters and digits).
CATEGORY_PHRASES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("hint", "givers"): ("hint_giver",),
    ("hint", "giver"): ("hint_giver",),
    ("givers",): ("hint_giver",),
    ("giver",): ("hint_giver",),
    ("country",): ("country",),
    ("countries",): ("country",),
    ("colour",): ("colour",),
    ("colours",): ("colour",),
    ("color",): ("colour",),
    ("colors",): ("colour",),
    ("profession",): ("profession",),
    ("professions",): ("profession",),
    ("job",): ("profession",),
    ("jobs",): ("profession",),
    ("digit",): ("digit",),
    ("digits",): ("digit",),
    ("number",): ("digit",),
    ("numbers",): ("digit",),
    ("pet",): ("animal",),
    ("pets",): ("animal",),
    ("animal",): ("animal",),
    ("animals",): ("animal",),
    ("option",): ("option_letter",),
    ("options",): ("option_letter",),
    ("letter",): ("option_letter",),
    ("letters",): ("option_letter",),
    ("punctuation",): ("punctuation",),
    ("chat",): ("chat_marker",),
    ("markers",): ("chat_marker",),
    ("marker",): ("chat_marker",),
    ("start", "and", "end", "of", "sequence"): ("special",),
    ("sequence",): ("special",),
    ("entity",): ("entity",),
    ("entities",): ("entity",),
    ("invented",): ("entity",),
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[a-z0-9]+", text.lower()))


def _fine_phrases() -> dict[tuple[str, ...], tuple[str, ...]]:
    """Each per-word and context description without its leading "the", and each word alone (not an option letter)."""
    phrases: dict[tuple[str, ...], tuple[str, ...]] = {}
    for concept in [*WORD_CONCEPTS, *CONTEXT_CONCEPTS]:
        words = _words(CONCEPT_DESCRIPTIONS[concept])
        phrases[words[1:] if words[0] == "the" else words] = (concept,)
    for concept in WORD_CONCEPTS:
        category, word = concept.split(":", 1)
        if category != "option_letter":
            phrases[_words(word)] = (concept,)
        else:
            phrases[("letter", word.lower())] = phrases[("option", word.lower())] = (concept,)
    return phrases


CONCEPT_PHRASES: dict[tuple[str, ...], tuple[str, ...]] = {**CATEGORY_PHRASES, **_fine_phrases()}
_LONGEST_PHRASE = max(len(phrase) for phrase in CONCEPT_PHRASES)
_EXACT_DESCRIPTIONS: dict[str, str] = {text.lower(): concept for text, concept in DESCRIPTION_CONCEPTS.items()}


def concepts_in_description(description: str) -> list[str]:
    """The toy concepts a description names: its exact :data:`CONCEPT_DESCRIPTIONS` text (any case), else phrases.

    >>> concepts_in_description("country names")
    ['country']
    >>> concepts_in_description("The country Peru.")
    ['country:Peru']
    >>> concepts_in_description("Names of countries, and the hint givers.")
    ['country', 'hint_giver']
    >>> concepts_in_description("Peru or Chile, and the number 7")
    ['country:Peru', 'country:Chile', 'digit:7']
    >>> concepts_in_description("closing brackets")
    []
    """
    text = " ".join(description.strip().lower().rstrip(".").split())
    if text in _EXACT_DESCRIPTIONS:
        return [_EXACT_DESCRIPTIONS[text]]
    words = _words(text)
    found: list[str] = []
    position = 0
    while position < len(words):
        for length in range(min(_LONGEST_PHRASE, len(words) - position), 0, -1):
            concepts = CONCEPT_PHRASES.get(tuple(words[position : position + length]))
            if concepts is not None:
                found += [c for c in concepts if c not in found]
                position += length
                break
        else:
            position += 1
    return found


class ConceptSimulator:
    """Predicts 1 on tokens labelled with a concept the description names, 0 elsewhere.

    A description naming no known concept predicts zeros everywhere (scored 0.0 by
    :func:`simulator_correlation_score`).

    Args:
        labeler (`Labeler`, `ToyWorld` or `None`, *optional*):
            ``tokens -> labels per token``, or a toy world; None: the default toy world.
    """

    def __init__(self, labeler: Labeler | ToyWorld | None = None):
        self.labeler = resolve_labeler(labeler)

    def simulate(self, description: str, exemplars: list[Exemplar]) -> list[list[float]]:
        """Per exemplar and token, 1.0 on a concept the description names (`concepts_in_description`), else 0.0.

        Args:
            description (`str`): The feature's description.
            exemplars (`list[Exemplar]`): The contexts to predict on.

        Raises:
            ValueError: When the labeler does not give one label list per token.
        """
        concepts = set(concepts_in_description(description))
        if not concepts:
            logger.debug(
                "description %r names none of the %d toy concepts; predicting zeros",
                description,
                len(CONCEPT_DESCRIPTIONS),
            )
        return [
            [1.0 if concepts.intersection(labels) else 0.0 for labels in exemplar_labels(self.labeler, exemplar)]
            for exemplar in exemplars
        ]


# ----------------------------------------------------------------------------------------------
# Language-model simulator
# ----------------------------------------------------------------------------------------------

SIMULATOR_HEADER = (
    "We are studying a feature of a language model. It is described as: {description}\n"
    "Below, each token of a text is followed by the feature's activation on it, from 0 (none) to {top} (strongest).\n"
)
SIMULATOR_REQUEST = (
    "A feature of a language model is described as: {description}\n"
    "Predict its activation on each token of the text below, as integers from 0 (none) to 10 (strongest).\n"
    "Tokens (JSON list): {tokens}\n"
    "Reply with only a JSON list of {n} integers, one per token, in order."
)
_JSON_LIST = re.compile(r"\[[^\[\]]*\]")


@dataclass
class LMSimulatorConfig(LMConfig):
    """The language model of an `LMSimulator`.

    Besides the fields of `LMConfig` (``model``, ``base_url``, ``api_key``, ``backend``, ``temperature``, ``seed``,
    ``timeout``, ``max_retries``):

    Args:
        max_new_tokens (`int`, *optional*, defaults to 512):
            Longest endpoint answer (the JSON list), in tokens.
        placeholder (`str`, *optional*, defaults to `"unknown"`):
            Local backend: text standing where each activation would be written.
        batch_size (`int`, *optional*, defaults to 8):
            Local backend: exemplars per forward pass (right-padded, similar lengths together).
    """

    max_new_tokens: int = field(default=512, metadata={"help": "Longest endpoint answer (the JSON list), in tokens."})
    placeholder: str = field(
        default="unknown", metadata={"help": "Local backend: text standing where each activation would be written."}
    )
    batch_size: int = field(default=8, metadata={"help": "Local backend: exemplars per forward pass."})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("batch_size", self.batch_size)


class LMSimulator(LanguageModelBackend):
    """Simulates activations with a language model.

    Local causal LM: one line per token (``token<TAB>placeholder``); the prediction is the expected digit (0–9) of the
    next-token distribution restricted to "0".."9". OpenAI-compatible endpoint: a JSON list of integers 0–10 per
    exemplar; a reply that is not one predicts zeros and is counted in ``malformed_responses``.

    Args:
        config (`LMSimulatorConfig`): The model to ask.
        model (`PreTrainedModel`, *optional*): An already loaded local model.
        tokenizer (`PreTrainedTokenizerBase`, *optional*): Its tokenizer.
    """

    config: LMSimulatorConfig

    def __init__(self, config: LMSimulatorConfig, model: Any | None = None, tokenizer: Any | None = None):
        super().__init__(config, model=model, tokenizer=tokenizer)
        self.malformed_responses = 0
        self._digit_ids: list[int] | None = None

    def simulate(self, description: str, exemplars: list[Exemplar]) -> list[list[float]]:
        """Per exemplar, the model's predicted activation at each token (local: 0–9, endpoint: 0–10).

        Args:
            description (`str`): The feature's description.
            exemplars (`list[Exemplar]`): The contexts to predict on.

        Raises:
            ValueError: For a local model, when an exemplar's prompt exceeds its positions or its tokenizer splits
                a digit.
        """
        if self.backend != "openai":
            return self._simulate_local(description, exemplars)
        progress = progress_bar(exemplars, desc="simulating", unit="exemplar", leave=False, disable=len(exemplars) < 8)
        return [self._simulate_endpoint(description, exemplar) for exemplar in progress]

    def digit_ids(self) -> list[int]:
        """The local tokenizer's ten ids of the digits "0".."9", in digit order (read once, then cached).

        Raises:
            ValueError: When the tokenizer splits a digit into several tokens.
        """
        if self._digit_ids is None:
            ids = []
            for digit in "0123456789":
                encoded = self.tokenizer.encode(digit, add_special_tokens=False)
                if len(encoded) != 1:
                    raise ValueError(
                        f"the tokenizer of {self.config.model!r} splits the digit {digit!r} into {len(encoded)} "
                        "tokens; the local LM simulator needs single-token digits"
                    )
                ids.append(encoded[0])
            self._digit_ids = ids
        return self._digit_ids

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _simulator_prompt(self, description: str, exemplar: Exemplar) -> tuple[list[int], list[int]]:
        """The prompt's token ids, and the positions whose next-token distribution is each token's activation."""
        ids = self.tokenizer(SIMULATOR_HEADER.format(description=description, top=9))["input_ids"]
        read_at: list[int] = []
        placeholder = self._encode(f"{self.config.placeholder}\n")
        for token in exemplar.tokens:
            ids += self._encode(f"{token_text(token)}\t")
            read_at.append(len(ids) - 1)
            ids += placeholder
        limit = self.max_positions()
        if limit is not None and len(ids) > limit:
            raise ValueError(
                f"the simulator prompt of exemplar {exemplar.text_index} ({len(exemplar.tokens)} tokens) is "
                f"{len(ids)} tokens long, more than the {limit} positions of {self.config.model!r}"
            )
        return ids, read_at

    def _simulate_local(self, description: str, exemplars: list[Exemplar]) -> list[list[float]]:
        # Prompts of similar length share a right-padded batch (causal attention: padding on the right never
        # reaches a real position), and the vocabulary projection runs only at the positions read.
        prompts = [self._simulator_prompt(description, exemplar) for exemplar in exemplars]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i][0]))
        device = next(self.model.parameters()).device
        digits = torch.tensor(self.digit_ids(), device=device)
        scale = torch.arange(10, dtype=torch.float32, device=device)
        pad = pad_token_id(self.tokenizer, self.model)
        predicted: list[list[float]] = [[] for _ in prompts]
        batches = [
            order[start : start + self.config.batch_size] for start in range(0, len(order), self.config.batch_size)
        ]
        for batch in progress_bar(batches, desc="simulating", unit="batch", leave=False, disable=len(batches) < 4):
            width = max(len(prompts[i][0]) for i in batch)
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long, device=device)
            attention_mask = torch.zeros_like(input_ids)
            for row, i in enumerate(batch):
                ids = prompts[i][0]
                input_ids[row, : len(ids)] = torch.tensor(ids, device=device)
                attention_mask[row, : len(ids)] = 1
            kept = sorted({position for i in batch for position in prompts[i][1]})
            column = {position: index for index, position in enumerate(kept)}
            with torch.inference_mode():
                logits = self.model(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    logits_to_keep=torch.tensor(kept, device=device),
                ).logits
            for row, i in enumerate(batch):
                columns = torch.tensor([column[position] for position in prompts[i][1]], device=device)
                probabilities = logits[row, columns][:, digits].float().softmax(dim=-1)
                predicted[i] = (probabilities @ scale).tolist()
        return predicted

    def _simulate_endpoint(self, description: str, exemplar: Exemplar) -> list[float]:
        n = len(exemplar.tokens)
        prompt = SIMULATOR_REQUEST.format(
            description=description, tokens=json.dumps([token_text(t) for t in exemplar.tokens]), n=n
        )
        reply = self.chat([{"role": "user", "content": prompt}], seed=self.config.seed)
        values = parse_activation_list(reply, n)
        if values is None:
            self.malformed_responses += 1
            logger.warning(
                "simulator reply for exemplar %d is not a JSON list of %d integers (%r); predicting zeros",
                exemplar.text_index,
                n,
                reply[:80],
            )
            return [0.0] * n
        return values


def parse_activation_list(reply: str, n: int) -> list[float] | None:
    """The first JSON list of ``n`` numbers in a reply, clipped to [0, 10]; ``None`` when there is none.

    >>> parse_activation_list("Sure: [0, 3, 10]", 3)
    [0.0, 3.0, 10.0]
    >>> parse_activation_list("[1, 2]", 3) is None
    True
    """
    for match in _JSON_LIST.finditer(reply):
        try:
            values = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if len(values) == n and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return [min(10.0, max(0.0, float(v))) for v in values]
    return None


# ----------------------------------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------------------------------


def simulator_correlation_score(simulator: Simulator, description: str, exemplars: list[Exemplar]) -> float:
    """Pearson r between simulated and true activations, pooled over every token of ``exemplars``.

    0.0 when either side is constant (a description the simulator cannot use, or a feature that never fires).

    Args:
        simulator (`Simulator`): Predicts activations from the description.
        description (`str`): The description scored.
        exemplars (`list[Exemplar]`): Held-out exemplars of the feature.

    Returns:
        `float`: r in [-1, 1].

    Raises:
        ValueError: When there are no exemplars, or the simulator does not predict one value per token of each.
    """
    if not exemplars:
        raise ValueError("no exemplars to score a description on; expected held-out exemplars of the feature")
    simulated = simulator.simulate(description, exemplars)
    if len(simulated) != len(exemplars):
        raise ValueError(f"simulator returned {len(simulated)} predictions for {len(exemplars)} exemplars")
    predicted: list[float] = []
    actual: list[float] = []
    for exemplar, values in zip(exemplars, simulated):
        if len(values) != len(exemplar.activations):
            raise ValueError(
                f"simulator predicted {len(values)} activations for exemplar {exemplar.text_index} of "
                f"{len(exemplar.activations)} tokens; expected one per token"
            )
        predicted += [float(v) for v in values]
        actual += [float(a) for a in exemplar.activations]
    return pearson_correlation(predicted, actual)


def score_candidates(
    simulator: Simulator, candidates: list[str], exemplars: list[Exemplar]
) -> list[tuple[str, float]]:
    """``(description, score)`` of each distinct candidate, best first; ties keep the describer's order."""
    unique = list(dict.fromkeys(candidates))
    progress = progress_bar(
        unique, desc="scoring descriptions", unit="description", leave=False, disable=len(unique) < 4
    )
    scored = [(candidate, simulator_correlation_score(simulator, candidate, exemplars)) for candidate in progress]
    return sorted(scored, key=lambda item: -item[1])
