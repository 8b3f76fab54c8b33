"""Baselines an explainer is compared with, each scored on the same examples and metrics as the explainer.

- ``untrained``: the explainer's base (adapter off), the same prompts.
- ``zero-shot``: the same base and prompts, with explicit format instructions appended (the task's
  ``format_instructions``), as the paper's zero-shot configurations.
- ``selfie``: untrained SelfIE (Chen et al. 2024). The vector, unit-normalised and scaled, replaces the
  word X in "What is the meaning of the word 'X'? The meaning of the word 'X' is "; the base continues.
  Every scale is scored and the best one kept, as in the paper (so it is an upper bound on SelfIE).
- ``nearest-neighbor``: no generation. The answer of the training row whose vector is closest by cosine
  (or, for text-only tasks, whose question is closest by sentence embedding).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import torch

from ..core.placeholders import PLACEHOLDER_TOKENS
from ..explainer.modeling import Explainer
from ..tasks import ExplainerExamples, get_task

logger = logging.getLogger(__name__)

UNTRAINED, ZERO_SHOT, SELFIE, NEAREST_NEIGHBOR = "untrained", "zero-shot", "selfie", "nearest-neighbor"
BASELINES = (UNTRAINED, ZERO_SHOT, SELFIE, NEAREST_NEIGHBOR)
SELFIE_SCALES = (1.0, 5.0, 10.0, 25.0, 50.0)
SELFIE_WORD = PLACEHOLDER_TOKENS[1]  # one token whose input embedding becomes the vector
SELFIE_PROMPT = f"What is the meaning of the word '{SELFIE_WORD}'? The meaning of the word '{SELFIE_WORD}' is "


@dataclass
class BaselineResult:
    """What scoring the trained explainer or a baseline on a split gives.

    Args:
        metrics (`dict[str, float]`): The task's metrics of the predictions.
        predictions (`list[str]`): One prediction per example.
        details (`dict`, *optional*): Extra information, e.g. SelfIE's metrics at every scale and the scale kept.
    """

    metrics: dict[str, float]
    predictions: list[str]
    details: dict = field(default_factory=dict)  # e.g. SelfIE's metrics at every scale and the scale kept


def applicable_baselines(task_name: str, examples: ExplainerExamples | None = None) -> list[str]:
    """The baselines that apply to a task: SelfIE needs vectors, zero-shot needs the task's format instructions.

    Args:
        task_name (`str`): A registered task.
        examples (`ExplainerExamples`, *optional*): The examples to score; whether they carry vectors decides
            SelfIE. When unset, whether the task uses vectors decides.

    Returns:
        `list[str]`: The applicable baseline names, in ``BASELINES`` order.
    """
    task = get_task(task_name)
    names = [UNTRAINED, NEAREST_NEIGHBOR]
    if task.format_instructions:
        names.insert(1, ZERO_SHOT)
    has_vectors = examples.vectors is not None if examples is not None else task.uses_vectors
    if has_vectors:
        names.insert(-1, SELFIE)
    return names


def check_baseline(name: str, task_name: str, examples: ExplainerExamples | None = None) -> None:
    """Refuse a baseline that is unknown or does not apply to the task.

    Args:
        name (`str`): The baseline's name.
        task_name (`str`): A registered task.
        examples (`ExplainerExamples`, *optional*): The examples to score (see ``applicable_baselines``).

    Raises:
        ValueError: For an unknown baseline, or one that does not apply, saying why.
    """
    if name not in BASELINES:
        raise ValueError(f"baseline {name!r} unknown; choose from {', '.join(BASELINES)}")
    if name not in applicable_baselines(task_name, examples):
        why = "its examples have no vectors" if name == SELFIE else "it has no format instructions"
        raise ValueError(f"baseline {name!r} does not apply to task {task_name!r}: {why}")


def zero_shot_examples(task_name: str, examples: ExplainerExamples) -> ExplainerExamples:
    """The examples with the task's format instructions appended to every question.

    Args:
        task_name (`str`): A registered task with ``format_instructions``.
        examples (`ExplainerExamples`): The examples.

    Returns:
        `ExplainerExamples`: A copy with the new questions.
    """
    instructions = get_task(task_name).format_instructions
    return replace(examples, questions=[f"{q}\n\n{instructions}" for q in examples.questions])


def selfie_examples(examples: ExplainerExamples, scale: float) -> ExplainerExamples:
    """The SelfIE prompt of every example, its vector unit-normalised times ``scale`` at both X positions.

    Args:
        examples (`ExplainerExamples`): Examples with vectors.
        scale (`float`): The norm the vectors are scaled to.

    Returns:
        `ExplainerExamples`: A copy with the SelfIE prompt as every question, and each vector (and its layer)
        repeated once per X position.
    """
    unit = examples.vectors / examples.vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    per_word = SELFIE_PROMPT.count(SELFIE_WORD)
    return replace(
        examples,
        questions=[SELFIE_PROMPT] * len(examples.questions),
        vectors=(unit * scale).repeat_interleave(per_word, dim=0),
        layers=examples.layers.repeat_interleave(per_word, dim=0),
    )


def selfie_description(continuation: str) -> str:
    """SelfIE's answer: the continuation up to its first line break or sentence end.

    Args:
        continuation (`str`): What the base generated after the SelfIE prompt.

    Returns:
        `str`: The description, without a final full stop.
    """
    first_line = continuation.strip().split("\n", 1)[0]
    return first_line.split(". ", 1)[0].rstrip(".").strip()


def nearest_neighbor_predictions(examples: ExplainerExamples, train: ExplainerExamples) -> list[str]:
    """The answer of each example's closest training row: by vector cosine, or by question embedding.

    Args:
        examples (`ExplainerExamples`): The examples to predict.
        train (`ExplainerExamples`): The training rows searched.

    Returns:
        `list[str]`: One training answer per example.

    Raises:
        ValueError: When ``train`` is empty, or only one side has vectors.
    """
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


def _or_minus_infinity(value: float | None) -> float:
    return float("-inf") if value is None else value


def run_baseline(
    name: str,
    explainer: Explainer,
    task_name: str,
    examples: ExplainerExamples,
    score,
    *,
    train_examples: ExplainerExamples | None = None,
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
        score (`Callable[[list[str]], dict]`): The task's scoring of predictions.
        train_examples (`ExplainerExamples`, *optional*): The training split's examples; needed by
            ``nearest-neighbor``.
        selfie_scales (`tuple[float, ...]`, *optional*, defaults to `SELFIE_SCALES`): SelfIE's scales; each is
            scored and the best by the task's headline metric kept.
        batch_size (`int`, *optional*, defaults to 32): Examples generated per batch.
        max_new_tokens (`int`, *optional*, defaults to 48): Longest generation.

    Returns:
        [`BaselineResult`]: The metrics and predictions (for SelfIE, of the best scale, with every scale's metrics
        in ``details``).

    Raises:
        ValueError: For a baseline that does not apply, ``nearest-neighbor`` without ``train_examples``, or
            ``selfie`` without scales.
    """
    check_baseline(name, task_name, examples)

    def generate(asked: ExplainerExamples, chat_template: bool = True) -> list[str]:
        with explainer.untrained():
            return explainer.generate(asked, batch_size, max_new_tokens, progress=True, chat_template=chat_template)

    if name == UNTRAINED:
        predictions = generate(examples)
        return BaselineResult(score(predictions), predictions)
    if name == ZERO_SHOT:
        predictions = generate(zero_shot_examples(task_name, examples))
        return BaselineResult(score(predictions), predictions)
    if name == NEAREST_NEIGHBOR:
        if train_examples is None:
            raise ValueError("the nearest-neighbor baseline needs the training split's examples")
        predictions = nearest_neighbor_predictions(examples, train_examples)
        return BaselineResult(score(predictions), predictions, {"train_rows": len(train_examples.questions)})
    if not selfie_scales:
        raise ValueError("selfie needs at least one scale")
    headline = get_task(task_name).headline_metrics[0]
    by_scale: dict[float, BaselineResult] = {}
    for scale in selfie_scales:
        # A raw continuation prompt, as SelfIE's: no chat template around it.
        continuations = generate(selfie_examples(examples, scale), chat_template=False)
        predictions = [selfie_description(c) for c in continuations]
        by_scale[scale] = BaselineResult(score(predictions), predictions)
        logger.info("selfie scale %g: %s", scale, by_scale[scale].metrics)
    # A scale whose headline metric is missing or not estimable (None) comes last.
    best = max(by_scale, key=lambda s: _or_minus_infinity(by_scale[s].metrics.get(headline)))
    details = {"scale": best, "selected_by": headline,
               "metrics_by_scale": {str(s): r.metrics for s, r in by_scale.items()}}
    return BaselineResult(by_scale[best].metrics, by_scale[best].predictions, details)
