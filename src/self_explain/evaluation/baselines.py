"""Baselines an explainer is compared with, each scored on the same examples and metrics as the explainer.

``untrained`` (the base, adapter off), ``zero-shot`` (plus the task's format instructions), ``selfie`` (Chen et
al. 2024, its scale chosen on a validation slice of the train split, never on scored rows), ``nearest-neighbor``
(the closest training row's answer) and ``majority`` (the most common training answer per question template).
The last two search training rows only.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field, replace

import torch

from ..core.placeholders import PLACEHOLDER_TOKENS
from ..explainer.modeling import Explainer
from ..tasks import ExplainerExamples, get_task

logger = logging.getLogger(__name__)

UNTRAINED, ZERO_SHOT, SELFIE, NEAREST_NEIGHBOR, MAJORITY = (
    "untrained",
    "zero-shot",
    "selfie",
    "nearest-neighbor",
    "majority",
)
BASELINES = (UNTRAINED, ZERO_SHOT, SELFIE, NEAREST_NEIGHBOR, MAJORITY)
TRAINING_BASELINES = (NEAREST_NEIGHBOR, MAJORITY)  # read the training rows: one run per training subsample
SELFIE_SCALES = (1.0, 5.0, 10.0, 25.0, 50.0)
SELFIE_VALIDATION_ROWS = 64  # rows of the train split SelfIE's scale is chosen on
SELFIE_WORD = PLACEHOLDER_TOKENS[1]  # one token whose input embedding becomes the vector
SELFIE_PROMPT = f"What is the meaning of the word '{SELFIE_WORD}'? The meaning of the word '{SELFIE_WORD}' is "


@dataclass
class BaselineResult:
    """What scoring the trained explainer or a baseline on a split gives: ``metrics``, ``predictions``, ``details``."""

    metrics: dict[str, float]
    predictions: list[str]
    details: dict = field(default_factory=dict)  # e.g. SelfIE's metrics at every scale and the scale kept


def applicable_baselines(task_name: str, examples: ExplainerExamples | None = None) -> list[str]:
    """The baselines that apply to a task, in ``BASELINES`` order: SelfIE needs vectors, zero-shot instructions."""
    task = get_task(task_name)
    has_vectors = examples.vectors is not None if examples is not None else task.uses_vectors
    applies = {
        UNTRAINED: True,
        ZERO_SHOT: bool(task.format_instructions),
        SELFIE: has_vectors,
        NEAREST_NEIGHBOR: True,
        MAJORITY: True,
    }
    return [name for name in BASELINES if applies[name]]


def check_baseline(name: str, task_name: str, examples: ExplainerExamples | None = None) -> None:
    """Refuse (ValueError, saying why) a baseline that is unknown or does not apply to the task."""
    if name not in BASELINES:
        raise ValueError(f"baseline {name!r} unknown; choose from {', '.join(BASELINES)}")
    if name not in applicable_baselines(task_name, examples):
        why = "its examples have no vectors" if name == SELFIE else "it has no format instructions"
        raise ValueError(f"baseline {name!r} does not apply to task {task_name!r}: {why}")


def zero_shot_examples(task_name: str, examples: ExplainerExamples) -> ExplainerExamples:
    """A copy of the examples with the task's format instructions appended to every question."""
    instructions = get_task(task_name).format_instructions
    return replace(examples, questions=[f"{q}\n\n{instructions}" for q in examples.questions])


def selfie_examples(examples: ExplainerExamples, scale: float) -> ExplainerExamples:
    """The SelfIE prompt of every example, its vector unit-normalised times ``scale`` at both X positions."""
    unit = examples.vectors / examples.vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    per_word = SELFIE_PROMPT.count(SELFIE_WORD)
    return replace(
        examples,
        questions=[SELFIE_PROMPT] * len(examples.questions),
        vectors=(unit * scale).repeat_interleave(per_word, dim=0),
        layers=examples.layers.repeat_interleave(per_word, dim=0),
    )


def selfie_description(continuation: str) -> str:
    """SelfIE's answer: the continuation up to its first line break or sentence end, without a final full stop."""
    first_line = continuation.strip().split("\n", 1)[0]
    return first_line.split(". ", 1)[0].rstrip(".").strip()


def nearest_neighbor_predictions(examples: ExplainerExamples, train: ExplainerExamples) -> list[str]:
    """The answer of each example's closest training row: by vector cosine, or by question embedding."""
    if not train.questions:
        raise ValueError("the nearest-neighbor baseline needs training rows; the training split is empty")
    if (examples.vectors is None) != (train.vectors is None):
        raise ValueError("the nearest-neighbor baseline needs vectors on both sides, or on neither")
    if examples.vectors is not None:
        queries = torch.nn.functional.normalize(examples.vectors.float(), dim=-1)
        keys = torch.nn.functional.normalize(train.vectors.float(), dim=-1)
    else:
        from ..core.embeddings import embed_texts

        queries, keys = embed_texts(examples.questions), embed_texts(train.questions)
    closest = (queries @ keys.T).argmax(dim=-1).tolist()
    return [train.answers[i] for i in closest]


def template_patterns(templates: list[str]) -> list[re.Pattern]:
    """Regular expressions of a task's templates (those with a field): each field matches anything.

    >>> patterns = template_patterns(["At layer {layer}, {vector} encodes "])
    >>> [bool(p.fullmatch("At layer 3, <v> encodes ")) for p in patterns]
    [True]
    """
    patterns = []
    for template in templates:
        parts = re.split(r"\{[^{}]*\}", template)
        if len(parts) > 1:
            patterns.append(re.compile("(?:.*?)".join(re.escape(part) for part in parts), re.DOTALL))
    return patterns


def question_template(question: str, patterns: list[re.Pattern]) -> int | None:
    """The index of the first template a question is asked with, or None when it fits none."""
    return next((i for i, pattern in enumerate(patterns) if pattern.fullmatch(question)), None)


def majority_predictions(examples: ExplainerExamples, train: ExplainerExamples, templates: list[str]) -> list[str]:
    """The most common training answer among the training rows asked with each example's question template.

    Questions fitting no template, or a template no training row has, get the overall majority; ties go to the first.
    """
    if not train.questions:
        raise ValueError("the majority baseline needs training rows; the training split is empty")
    patterns = template_patterns(templates)
    by_template: dict[int | None, Counter] = {}
    for question, answer in zip(train.questions, train.answers):
        by_template.setdefault(question_template(question, patterns), Counter())[answer] += 1
    overall = Counter(train.answers).most_common(1)[0][0]
    majority = {key: counts.most_common(1)[0][0] for key, counts in by_template.items() if key is not None}
    return [majority.get(question_template(q, patterns), overall) for q in examples.questions]


def _or_minus_infinity(value: float | None) -> float:
    return float("-inf") if value is None else value


def _best_scale(by_scale: dict[float, dict], headline: str) -> float:
    # A scale whose headline metric is missing or not estimable (None) comes last; ties go to the first scale.
    return max(by_scale, key=lambda s: _or_minus_infinity(by_scale[s].get(headline)))


def _untrained_generate(
    explainer: Explainer, asked: ExplainerExamples, batch_size: int, max_new_tokens: int, chat_template: bool = True
) -> list[str]:
    with explainer.untrained():
        return explainer.generate(
            asked, batch_size, max_new_tokens, progress=True, chat_template=chat_template, apply_control=False
        )


def _selfie_predictions(
    explainer: Explainer, asked: ExplainerExamples, scale: float, batch_size: int, max_new_tokens: int
) -> list[str]:
    # A raw continuation prompt, as SelfIE's: no chat template around it.
    continuations = _untrained_generate(
        explainer, selfie_examples(asked, scale), batch_size, max_new_tokens, chat_template=False
    )
    return [selfie_description(c) for c in continuations]


def choose_selfie_scale(
    explainer: Explainer,
    task_name: str,
    validation_examples: ExplainerExamples | None,
    validation_score,
    selfie_scales: tuple[float, ...] = SELFIE_SCALES,
    *,
    batch_size: int = 32,
    max_new_tokens: int = 48,
) -> dict:
    """SelfIE's scale, the best by the headline metric on a validation slice of the train split.

    Choosing it on the scored rows would make SelfIE's score an upper bound instead of a measurement.
    """
    if not selfie_scales:
        raise ValueError("selfie needs at least one scale")
    if len(selfie_scales) == 1:
        return {"scale": selfie_scales[0]}
    if validation_examples is None or validation_score is None:
        raise ValueError(
            "selfie with several scales needs a validation slice of the train split to choose one on "
            "(never the rows being scored)"
        )
    headline = get_task(task_name).experiment.headline_metrics[0]
    by_scale = {}
    for scale in selfie_scales:
        by_scale[scale] = validation_score(
            _selfie_predictions(explainer, validation_examples, scale, batch_size, max_new_tokens)
        )
        logger.info(
            "selfie scale %g on %d validation rows of train: %s",
            scale,
            len(validation_examples.questions),
            by_scale[scale],
        )
    return {
        "scale": _best_scale(by_scale, headline),
        "selected_by": headline,
        "selected_on": "train",
        "validation_rows": len(validation_examples.questions),
        "validation_metrics_by_scale": {str(s): m for s, m in by_scale.items()},
    }


def run_baseline(
    name: str,
    explainer: Explainer,
    task_name: str,
    examples: ExplainerExamples,
    score,
    *,
    train_examples: ExplainerExamples | None = None,
    validation_examples: ExplainerExamples | None = None,
    validation_score=None,
    selfie_choice: dict | None = None,
    selfie_scales: tuple[float, ...] = SELFIE_SCALES,
    batch_size: int = 32,
    max_new_tokens: int = 48,
) -> BaselineResult:
    """Predictions and metrics of one baseline; ``score(predictions) -> metrics`` is the task's scoring.

    Args:
        name (`str`): The baseline, one of ``BASELINES``.
        explainer (`Explainer`): The explainer whose base (adapter off) generates.
        task_name (`str`): A registered task.
        examples (`ExplainerExamples`): The examples to score.
        score (`Callable[[list[str]], dict]`): The task's scoring of predictions of ``examples``.
        train_examples (`ExplainerExamples`, *optional*): Training rows (of the train split only); needed by
            ``nearest-neighbor`` and ``majority``.
        validation_examples (`ExplainerExamples`, *optional*): A validation slice of the train split SelfIE's scale
            is chosen on when ``selfie_choice`` is not given.
        validation_score (`Callable[[list[str]], dict]`, *optional*): The task's scoring of predictions of
            ``validation_examples``.
        selfie_choice (`dict`, *optional*): SelfIE's scale chosen before (``choose_selfie_scale``).
        selfie_scales (`tuple[float, ...]`, *optional*, defaults to `SELFIE_SCALES`): SelfIE's scales.
        batch_size (`int`, *optional*, defaults to 32): Examples generated per batch.
        max_new_tokens (`int`, *optional*, defaults to 48): Longest generation.

    Returns:
        [`BaselineResult`]: The metrics and predictions (SelfIE's scale choice in ``details``).

    Raises:
        ValueError: For a baseline that does not apply or lacks what it needs (training rows, scales, a choice or
            validation slice).
    """
    check_baseline(name, task_name, examples)
    if name == UNTRAINED:
        predictions = _untrained_generate(explainer, examples, batch_size, max_new_tokens)
        return BaselineResult(score(predictions), predictions)
    if name == ZERO_SHOT:
        predictions = _untrained_generate(
            explainer, zero_shot_examples(task_name, examples), batch_size, max_new_tokens
        )
        return BaselineResult(score(predictions), predictions)
    if name in TRAINING_BASELINES:
        if train_examples is None:
            raise ValueError(f"the {name} baseline needs the training split's examples")
        if name == NEAREST_NEIGHBOR:
            predictions = nearest_neighbor_predictions(examples, train_examples)
        else:
            predictions = majority_predictions(examples, train_examples, get_task(task_name).templates())
        return BaselineResult(score(predictions), predictions, {"train_rows": len(train_examples.questions)})
    if selfie_choice is None:
        selfie_choice = choose_selfie_scale(
            explainer,
            task_name,
            validation_examples,
            validation_score,
            selfie_scales,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
        )
    predictions = _selfie_predictions(explainer, examples, selfie_choice["scale"], batch_size, max_new_tokens)
    return BaselineResult(score(predictions), predictions, dict(selfie_choice))
